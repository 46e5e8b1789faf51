//! Test harness: real etcd servers on free loopback ports, a hermetic runner for the built
//! binary, etcdctl read-back, openssl-made certificates and golden files.
//!
//! Every process started here is killed by PID when its guard drops.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_calicoctl"))
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("calicoctl-test-")
        .tempdir()
        .expect("tempdir")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// True when running in CI, where missing components are failures, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Kills a child by PID on drop (SIGTERM, then SIGKILL after 5 s).
pub struct ProcessGuard {
    pub child: Option<Child>,
    pub name: String,
}

impl ProcessGuard {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Stops the process now and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => return,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = c.kill();
                        let _ = c.wait();
                        return;
                    }
                }
            }
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Client TLS material for etcd / etcdctl.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A real single-member etcd.
pub struct Etcd {
    pub guard: ProcessGuard,
    pub endpoint: String,
    pub client_port: u16,
    pub dir: tempfile::TempDir,
    pub tls: Option<TlsFiles>,
}

/// Certificates made with openssl for one test: a CA, a server cert for 127.0.0.1/localhost
/// and a client cert, plus a second, unrelated CA.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// `key_kind`: "rsa" or "ec".
    pub fn new(key_kind: &str) -> Certs {
        let dir = tempdir();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=test-etcd-ca",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "other-ca.key",
                "-out",
                "other-ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=other-ca",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=etcd-server",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        match key_kind {
            "ec" => openssl(
                d,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    "client.key",
                ],
            ),
            _ => openssl(d, &["genrsa", "-out", "client.key", "2048"]),
        }
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "client.key",
                "-out",
                "client.csr",
                "-subj",
                "/CN=calicoctl",
            ],
        );
        std::fs::write(
            d.join("client.ext"),
            "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "client.crt",
                "-days",
                "2",
                "-extfile",
                "client.ext",
            ],
        );
        Certs { dir }
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    pub fn client(&self) -> TlsFiles {
        TlsFiles {
            ca: self.path("ca.crt"),
            cert: self.path("client.crt"),
            key: self.path("client.key"),
        }
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_millis(200),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    Some(buf)
}

impl Etcd {
    /// Starts a plain-HTTP etcd with short raft timers and waits until it is healthy.
    pub fn start() -> Etcd {
        Self::start_inner(None)
    }

    /// Starts an etcd that requires client certificates signed by `certs`' CA.
    pub fn start_tls(certs: &Certs) -> Etcd {
        Self::start_inner(Some(certs))
    }

    fn start_inner(certs: Option<&Certs>) -> Etcd {
        let mut last_err = String::new();
        for _attempt in 0..4 {
            let dir = tempdir();
            let cport = free_port();
            let pport = free_port();
            let scheme = if certs.is_some() { "https" } else { "http" };
            let client_url = format!("{scheme}://127.0.0.1:{cport}");
            let peer_url = format!("http://127.0.0.1:{pport}");
            let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
            let mut cmd = Command::new("etcd");
            cmd.args([
                "--name",
                "t",
                "--data-dir",
                &dir.path().join("data").to_string_lossy(),
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("t={peer_url}"),
                "--initial-cluster-state",
                "new",
                "--heartbeat-interval=10",
                "--election-timeout=50",
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
            ]);
            if let Some(c) = certs {
                cmd.args([
                    "--cert-file",
                    &c.path("server.crt").to_string_lossy(),
                    "--key-file",
                    &c.path("server.key").to_string_lossy(),
                    "--client-cert-auth",
                    "--trusted-ca-file",
                    &c.path("ca.crt").to_string_lossy(),
                ]);
            }
            cmd.env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            let child = cmd
                .spawn()
                .expect("etcd is installed (apt-get install etcd-server)");
            let mut etcd = Etcd {
                guard: ProcessGuard {
                    child: Some(child),
                    name: "etcd".into(),
                },
                endpoint: client_url,
                client_port: cport,
                dir,
                tls: certs.map(Certs::client),
            };
            if etcd.wait_healthy(Duration::from_secs(10)) {
                return etcd;
            }
            last_err =
                std::fs::read_to_string(etcd.dir.path().join("etcd.log")).unwrap_or_default();
            etcd.guard.stop();
        }
        panic!("etcd did not become healthy:\n{last_err}");
    }

    fn wait_healthy(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.guard.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            let ok = if self.tls.is_some() {
                self.etcdctl(&["endpoint", "health"]).status.success()
            } else {
                http_get(self.client_port, "/health")
                    .is_some_and(|b| b.contains("\"health\":\"true\""))
            };
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Runs etcdctl (API v3) against this server — the independent read-back path.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("etcdctl");
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--command-timeout=5s");
        if let Some(t) = &self.tls {
            cmd.arg(format!("--cacert={}", t.ca.display()))
                .arg(format!("--cert={}", t.cert.display()))
                .arg(format!("--key={}", t.key.display()));
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .expect("etcdctl is installed")
    }

    /// The value at a key, via etcdctl.
    pub fn get(&self, key: &str) -> Option<String> {
        let out = self.etcdctl(&["get", "--print-value-only", key]);
        assert!(
            out.status.success(),
            "etcdctl get failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        if s.is_empty() {
            None
        } else {
            Some(s.strip_suffix('\n').unwrap_or(&s).to_string())
        }
    }

    /// The value at a key parsed as JSON.
    pub fn get_json(&self, key: &str) -> serde_json::Value {
        let v = self.get(key).unwrap_or_else(|| panic!("no etcd key {key}"));
        serde_json::from_str(&v).unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {v}"))
    }

    pub fn put(&self, key: &str, value: &str) {
        let out = self.etcdctl(&["put", key, value]);
        assert!(
            out.status.success(),
            "etcdctl put failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every key/value under /calico (the whole keyspace we care about).
    pub fn dump(&self) -> BTreeMap<String, String> {
        let out = self.etcdctl(&["get", "--prefix", "/", "-w", "json"]);
        assert!(
            out.status.success(),
            "etcdctl get failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("etcdctl json");
        let mut m = BTreeMap::new();
        if let Some(kvs) = v.get("kvs").and_then(|k| k.as_array()) {
            for kv in kvs {
                let k = b64(kv["key"].as_str().unwrap_or_default());
                let val = b64(kv.get("value").and_then(|x| x.as_str()).unwrap_or_default());
                m.insert(k, val);
            }
        }
        m
    }

    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.dump()
            .into_keys()
            .filter(|k| k.starts_with(prefix))
            .collect()
    }

    /// A CalicoAPIConfig file for this etcd in `dir`.
    pub fn write_config(&self, dir: &Path) -> PathBuf {
        let mut spec = format!(
            "  datastoreType: etcdv3\n  etcdEndpoints: {}\n",
            self.endpoint
        );
        if let Some(t) = &self.tls {
            spec.push_str(&format!(
                "  etcdCACertFile: {}\n  etcdCertFile: {}\n  etcdKeyFile: {}\n",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            ));
        }
        let p = dir.join("calicoctl.cfg");
        std::fs::write(
            &p,
            format!(
                "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n{spec}"
            ),
        )
        .unwrap();
        p
    }
}

/// Decodes base64 (etcdctl's JSON output).
pub fn b64(s: &str) -> String {
    use base64::Engine;
    String::from_utf8_lossy(
        &base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_default(),
    )
    .to_string()
}

/// What one run of the binary produced.
#[derive(Debug, Clone)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Out {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, s: &str) -> &Self {
        assert_eq!(self.stdout, s, "stdout differs (stderr: {})", self.stderr);
        self
    }

    #[track_caller]
    pub fn stderr_is(&self, s: &str) -> &Self {
        assert_eq!(self.stderr, s, "stderr differs (stdout: {})", self.stdout);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// A builder for one hermetic run of the binary.
pub struct Run {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    cwd: Option<PathBuf>,
    argv0: Option<PathBuf>,
    timeout: Duration,
}

/// Starts building a run of `calicoctl ARGS`.
pub fn calicoctl<S: AsRef<str>>(args: &[S]) -> Run {
    Run {
        args: args.iter().map(|a| a.as_ref().to_string()).collect(),
        env: Vec::new(),
        stdin: None,
        cwd: None,
        argv0: None,
        timeout: Duration::from_secs(60),
    }
}

impl Run {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.into());
        self
    }

    pub fn cwd(mut self, p: &Path) -> Self {
        self.cwd = Some(p.into());
        self
    }

    /// Runs the binary through a symlink with this name (plugin mode tests).
    pub fn argv0(mut self, p: &Path) -> Self {
        self.argv0 = Some(p.into());
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// Runs with the environment cleared except PATH/HOME/LANG (no CALICO_*, ETCD_*,
    /// DATASTORE_TYPE, KUBECONFIG, K8S_* leak in), with a hard timeout.
    pub fn run(self) -> Out {
        let home = tempdir();
        let program = self.argv0.clone().unwrap_or_else(bin);
        let mut cmd = Command::new(&program);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", home.path())
            .env("LANG", "C.UTF-8")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(c) = &self.cwd {
            cmd.current_dir(c);
        }
        let mut child = cmd.spawn().expect("spawn calicoctl");
        if let Some(input) = self.stdin {
            let mut sin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = sin.write_all(input.as_bytes());
            });
        }
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = so.read_to_end(&mut b);
            b
        });
        let t_err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = se.read_to_end(&mut b);
            b
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait().expect("wait") {
                Some(s) => break s,
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("calicoctl {:?} hung for {:?}", self.args, self.timeout);
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        Out {
            stdout: String::from_utf8_lossy(&t_out.join().unwrap()).to_string(),
            stderr: String::from_utf8_lossy(&t_err.join().unwrap()).to_string(),
            code: status.code().unwrap_or(-1),
        }
    }
}

/// Compares with a golden file under tests/cli/golden; `UPDATE_GOLDEN=1` rewrites it (only do
/// that after checking the new output against the reference by hand).
#[track_caller]
pub fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    assert_eq!(
        actual,
        want,
        "output differs from golden {}",
        path.display()
    );
}

/// Replaces the uid/creationTimestamp a test cannot predict.
pub fn scrub(v: &mut serde_json::Value) {
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        if m.contains_key("uid") {
            m.insert("uid".into(), "UID".into());
        }
        if m.contains_key("creationTimestamp") {
            m.insert("creationTimestamp".into(), "TIME".into());
        }
    }
}

/// A test environment: one etcd, a temp dir and a config file pointing at it.
pub struct Env {
    pub etcd: Etcd,
    pub dir: tempfile::TempDir,
    pub cfg: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let etcd = Etcd::start();
        let dir = tempdir();
        let cfg = etcd.write_config(dir.path());
        Env { etcd, dir, cfg }
    }

    pub fn tls(certs: &Certs) -> Env {
        let etcd = Etcd::start_tls(certs);
        let dir = tempdir();
        let cfg = etcd.write_config(dir.path());
        Env { etcd, dir, cfg }
    }

    /// `calicoctl -c <cfg> ARGS`.
    pub fn ctl<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let mut a: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
        a.push("-c".into());
        a.push(self.cfg.to_string_lossy().to_string());
        calicoctl(&a)
    }

    /// Writes a file in the temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().to_string()
    }

    /// `calicoctl apply -f` of a manifest; asserts success.
    pub fn apply(&self, manifest: &str) -> Out {
        let f = self.file("apply-input.yaml", manifest);
        let out = self.ctl(&["apply", "-f", &f]).run();
        out.ok();
        out
    }
}
