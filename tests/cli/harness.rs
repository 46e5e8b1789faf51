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

/// Skips the calling test because its real component cannot run here. Under CI=true this is a
/// failure; otherwise it prints `SKIPPED: <test>: <reason>` and appends `<test>\t<reason>` to
/// the skip log that `make test` summarises, so a skip is never a silent pass.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    assert!(
        !in_ci(),
        "{test}: cannot be skipped under CI=true: {reason}"
    );
    // Straight to fd 2: libtest captures eprintln! of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
    let log = skip_log();
    let line = format!("{test}\t{reason}\n");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = appended {
        eprintln!("SKIPPED (not logged to {}: {e})", log.display());
    }
}

/// Where skips are logged: `$CALICOCTL_SKIP_LOG`, else `test-skips.txt` in the target dir
/// (the test binary lives in `<target>/<profile>/deps/`).
pub fn skip_log() -> PathBuf {
    if let Some(p) = std::env::var_os("CALICOCTL_SKIP_LOG") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .unwrap_or(Path::new("."))
        .join("test-skips.txt")
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

    /// Starts a TLS etcd whose own certificate clients will refuse (e.g. expired): ready once
    /// its client port accepts connections, since no health request can succeed.
    pub fn start_tls_unverifiable(certs: &Certs) -> Etcd {
        Self::start_with(Some(certs), false)
    }

    fn start_inner(certs: Option<&Certs>) -> Etcd {
        Self::start_with(certs, true)
    }

    fn start_with(certs: Option<&Certs>, check_health: bool) -> Etcd {
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
            let ready = if check_health {
                etcd.wait_healthy(Duration::from_secs(10))
            } else {
                etcd.wait_listening(Duration::from_secs(10))
            };
            if ready {
                return etcd;
            }
            last_err =
                std::fs::read_to_string(etcd.dir.path().join("etcd.log")).unwrap_or_default();
            etcd.guard.stop();
        }
        panic!("etcd did not become healthy:\n{last_err}");
    }

    fn wait_listening(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let addr = format!("127.0.0.1:{}", self.client_port).parse().unwrap();
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.guard.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
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
    /// The exit status, or -1 when a signal ended the process.
    pub code: i32,
    /// The signal that ended the process.
    pub signal: Option<i32>,
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

    /// The run without the API server's warnings on stderr (with v1 CRDs every write prints
    /// one per default tier, whose `status` the CRD does not know).
    pub fn without_kube_warnings(&self) -> Out {
        let mut o = self.clone();
        o.stderr = self
            .stderr
            .lines()
            .filter(|l| !l.contains("warnings.go:107] \"Warning: "))
            .map(|l| format!("{l}\n"))
            .collect();
        o
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
    /// The tarball path `node diags` printed.
    pub fn diags_bundle(&self) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Diags saved to "))
            .expect("bundle path")
            .to_string()
    }

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
    reader_gone: Option<Stream>,
}

/// A standard output stream of the binary.
#[derive(Clone, Copy, PartialEq)]
pub enum Stream {
    Stdout,
    Stderr,
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
        reader_gone: None,
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

    /// Connects `stream` to a pipe whose reader has already gone (`calicoctl … | head` after
    /// head exited); that stream then reads as empty.
    pub fn reader_gone(mut self, stream: Stream) -> Self {
        self.reader_gone = Some(stream);
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
        if let Some(stream) = self.reader_gone {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            match stream {
                Stream::Stdout => cmd.stdout(writer),
                Stream::Stderr => cmd.stderr(writer),
            };
        }
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
        let so = child.stdout.take();
        let se = child.stderr.take();
        let t_out = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(mut so) = so {
                let _ = so.read_to_end(&mut b);
            }
            b
        });
        let t_err = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(mut se) = se {
                let _ = se.read_to_end(&mut b);
            }
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
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
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

// ---- kube-apiserver ---------------------------------------------------------------------

/// Which Calico CRD layout to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdMode {
    V1,
    V3,
}

/// A real kube-apiserver (built by .ci/build-kube-apiserver.sh) with its own etcd and the
/// Calico CRDs installed.
pub struct KubeApiServer {
    pub etcd: Etcd,
    pub guard: ProcessGuard,
    pub url: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub mode: CrdMode,
}

/// The kube-apiserver binary, if it has been built.
pub fn kube_apiserver_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CALICOCTL_KUBE_APISERVER") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var("CALICOCTL_CI_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/calicoctl-ci")))
        .ok()?;
    let rd = std::fs::read_dir(&cache).ok()?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("kube-apiserver"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// The upstream Calico v3.32.1 CRDs of both API groups, vendored in the repository (crds/).
pub fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crds")
}

/// The kube-apiserver binary, or a skip of the test (`None`) when none is built.
pub fn kube_apiserver_or_skip() -> Option<PathBuf> {
    let b = kube_apiserver_binary();
    if b.is_none() {
        skip("no kube-apiserver binary (run .ci/build-kube-apiserver.sh; needs Go)");
    }
    b
}

/// Starts a kube-apiserver, or skips the test (`None`) when none is built.
pub fn kube_or_skip(mode: CrdMode) -> Option<KubeApiServer> {
    kube_apiserver_or_skip().map(|b| KubeApiServer::start(&b, mode))
}

impl KubeApiServer {
    pub fn start(binary: &Path, mode: CrdMode) -> KubeApiServer {
        let etcd = Etcd::start();
        let dir = tempdir();
        let d = dir.path();
        openssl(d, &["genrsa", "-out", "sa.key", "2048"]);
        openssl(d, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
        let token = "calicoctl-test-admin-token".to_string();
        std::fs::write(
            d.join("tokens.csv"),
            format!("{token},admin,admin-uid,system:masters\nlimited-token,bob,bob-uid\n"),
        )
        .unwrap();
        std::fs::create_dir_all(d.join("certs")).unwrap();
        let port = free_port();
        let log = std::fs::File::create(d.join("kube-apiserver.log")).unwrap();
        let child = Command::new(binary)
            .args([
                &format!("--etcd-servers={}", etcd.endpoint),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={port}"),
                &format!("--cert-dir={}", d.join("certs").display()),
                &format!("--token-auth-file={}", d.join("tokens.csv").display()),
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                &format!("--service-account-key-file={}", d.join("sa.pub").display()),
                &format!(
                    "--service-account-signing-key-file={}",
                    d.join("sa.key").display()
                ),
                "--service-cluster-ip-range=10.96.0.0/12",
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start kube-apiserver");
        let url = format!("https://127.0.0.1:{port}");
        let mut k = KubeApiServer {
            etcd,
            guard: ProcessGuard {
                child: Some(child),
                name: "kube-apiserver".into(),
            },
            url,
            token: token.clone(),
            kubeconfig: d.join("kubeconfig"),
            dir,
            mode,
        };
        if !k.wait_ready(Duration::from_secs(60)) {
            let log = std::fs::read_to_string(k.dir.path().join("kube-apiserver.log"))
                .unwrap_or_default();
            panic!(
                "kube-apiserver did not become ready:\n{}",
                log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
            );
        }
        std::fs::write(
            &k.kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\ncurrent-context: test\n",
                k.url, k.token
            ),
        )
        .unwrap();
        k.install_crds();
        k
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.guard.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            let (code, _) = self.curl("GET", "/readyz", None);
            if code == 200 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A raw request with curl (independent of the code under test): (status, body).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.curl_as(&self.token, method, path, body)
    }

    pub fn curl_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .args(["-H", "Content-Type: application/json", "--max-time", "20"])
            .arg(format!("{}{}", self.url, path));
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("curl is installed");
        if let Some(b) = body {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(serde_json::to_string(b).unwrap().as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn install_crds(&self) {
        let dir = match self.mode {
            CrdMode::V1 => "crd.projectcalico.org_v1",
            CrdMode::V3 => "projectcalico.org_v3",
        };
        let root = crds_dir().join(dir);
        let mut names = Vec::new();
        for e in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let crd = calicoctl::model::yaml_in::yaml_to_json(&text)
                .unwrap()
                .unwrap();
            let (code, body) = self.curl(
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                Some(&crd),
            );
            assert!(
                code == 201 || code == 409,
                "CRD {} not installed ({code}): {body}",
                p.display()
            );
            names.push(crd["metadata"]["name"].as_str().unwrap().to_string());
        }
        // Wait until every CRD is Established.
        let deadline = Instant::now() + Duration::from_secs(60);
        for n in names {
            loop {
                let (_, v) = self.curl(
                    "GET",
                    &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}"),
                    None,
                );
                let ok = v["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|x| x["type"] == "Established" && x["status"] == "True")
                });
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "CRD {n} not established");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The CR of a Calico resource, read with plain REST.
    pub fn cr(&self, plural: &str, ns: Option<&str>, name: &str) -> Option<serde_json::Value> {
        let group = match self.mode {
            CrdMode::V1 => "crd.projectcalico.org/v1",
            CrdMode::V3 => "projectcalico.org/v3",
        };
        let path = match ns {
            Some(n) => format!("/apis/{group}/namespaces/{n}/{plural}/{name}"),
            None => format!("/apis/{group}/{plural}/{name}"),
        };
        let (code, v) = self.curl("GET", &path, None);
        (code == 200).then_some(v)
    }
}

/// One datastore under test: etcd or a kube-apiserver with Calico CRDs.
pub enum Store {
    Etcd(Env),
    Kdd(KubeApiServer, tempfile::TempDir, PathBuf),
}

impl Store {
    pub fn etcd() -> Option<Store> {
        Some(Store::Etcd(Env::new()))
    }

    pub fn kdd(mode: CrdMode) -> Option<Store> {
        let k = kube_or_skip(mode)?;
        let dir = tempdir();
        let cfg = dir.path().join("calicoctl.cfg");
        std::fs::write(
            &cfg,
            format!(
                "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n  datastoreType: kubernetes\n  kubeconfig: {}\n",
                k.kubeconfig.display()
            ),
        )
        .unwrap();
        Some(Store::Kdd(k, dir, cfg))
    }

    fn cfg(&self) -> &Path {
        match self {
            Store::Etcd(e) => &e.cfg,
            Store::Kdd(_, _, c) => c,
        }
    }

    fn dir(&self) -> &Path {
        match self {
            Store::Etcd(e) => e.dir.path(),
            Store::Kdd(_, d, _) => d.path(),
        }
    }

    pub fn is_kdd(&self) -> bool {
        matches!(self, Store::Kdd(..))
    }

    /// `calicoctl -c <cfg> ARGS`.
    pub fn ctl<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let mut a: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
        a.push("-c".into());
        a.push(self.cfg().to_string_lossy().to_string());
        calicoctl(&a)
    }

    pub fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().to_string()
    }

    pub fn apply(&self, manifest: &str) -> Out {
        let f = self.file("apply-input.yaml", manifest);
        let out = self.ctl(&["apply", "-f", &f]).run();
        out.ok();
        out
    }

    /// Kubernetes needs namespaces to exist; etcd does not care.
    pub fn ensure_namespace(&self, ns: &str) {
        if let Store::Kdd(k, ..) = self {
            let (code, body) = k.curl("POST", "/api/v1/namespaces", Some(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})));
            assert!(code == 201 || code == 409, "namespace {ns}: {code} {body}");
        }
    }

    /// The inner error text of a NotFound for `plural/name`.
    pub fn not_found(&self, plural: &str, name: &str) -> String {
        match self {
            Store::Etcd(_) => "<nil>".into(),
            Store::Kdd(k, ..) => {
                let group = match k.mode {
                    CrdMode::V1 => "crd.projectcalico.org",
                    CrdMode::V3 => "projectcalico.org",
                };
                format!("{plural}.{group} \"{name}\" not found")
            }
        }
    }
}

// ---- a three-member etcd cluster --------------------------------------------------------

/// Three etcd members on loopback with short raft timers, for fault tests.
pub struct EtcdCluster {
    pub members: Vec<ProcessGuard>,
    pub endpoints: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl EtcdCluster {
    pub fn start3() -> EtcdCluster {
        let dir = tempdir();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect();
        let mut members = Vec::new();
        let mut endpoints = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate() {
            let client_url = format!("http://127.0.0.1:{c}");
            let peer_url = format!("http://127.0.0.1:{p}");
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).unwrap();
            let child = Command::new("etcd")
                .args([
                    "--name",
                    &format!("m{i}"),
                    "--data-dir",
                    &dir.path().join(format!("m{i}")).to_string_lossy(),
                    "--listen-client-urls",
                    &client_url,
                    "--advertise-client-urls",
                    &client_url,
                    "--listen-peer-urls",
                    &peer_url,
                    "--initial-advertise-peer-urls",
                    &peer_url,
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-state",
                    "new",
                    "--heartbeat-interval=20",
                    "--election-timeout=200",
                ])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("etcd is installed");
            members.push(ProcessGuard {
                child: Some(child),
                name: format!("etcd m{i}"),
            });
            endpoints.push(client_url);
        }
        let cluster = EtcdCluster {
            members,
            endpoints,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for (c, _) in &ports {
            while !http_get(*c, "/health").is_some_and(|b| b.contains("\"health\":\"true\"")) {
                assert!(
                    Instant::now() < deadline,
                    "etcd cluster did not become healthy"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// The calicoctl config naming every member.
    pub fn write_config(&self, dir: &Path) -> PathBuf {
        let p = dir.join("calicoctl.cfg");
        std::fs::write(
            &p,
            format!(
                "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: {}\n",
                self.endpoints.join(",")
            ),
        )
        .unwrap();
        p
    }

    /// etcdctl against the members still running.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let live: Vec<&str> = self
            .endpoints
            .iter()
            .zip(&self.members)
            .filter(|(_, m)| m.child.is_some())
            .map(|(e, _)| e.as_str())
            .collect();
        Command::new("etcdctl")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", live.join(",")))
            .arg("--command-timeout=10s")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("etcdctl is installed")
    }

    /// Keys under a prefix, read from the surviving members.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.etcdctl(&["get", "--prefix", prefix, "--keys-only"]);
        assert!(
            out.status.success(),
            "etcdctl get: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Index of the current raft leader.
    pub fn leader(&self) -> usize {
        let out = self.etcdctl(&["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
        for s in v.as_array().into_iter().flatten() {
            if s["Status"]["header"]["member_id"] == s["Status"]["leader"] {
                let ep = s["Endpoint"].as_str().unwrap_or_default();
                if let Some(i) = self.endpoints.iter().position(|e| e == ep) {
                    return i;
                }
            }
        }
        panic!("no leader in {v}");
    }

    /// SIGKILLs member `i` (no graceful leadership transfer).
    pub fn kill(&mut self, i: usize) {
        self.members[i].signal("KILL");
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.wait();
        }
    }
}
