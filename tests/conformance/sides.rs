//! One side of a differential run: a calicoctl binary (ours or the reference) with its own
//! datastore, wiped to empty before every case, seeded and dumped without either binary.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::case::StoreKind;
use crate::harness::{self, CrdMode, Etcd, KubeApiServer};

/// The datastore behind a side.
pub enum Backend {
    Etcd(Etcd),
    Kdd(Kube),
}

pub struct Side {
    #[allow(dead_code)]
    pub label: &'static str,
    pub program: PathBuf,
    pub backend: Backend,
}

/// A real kube-apiserver with the Calico CRDs, and the dump of it when empty (what the
/// apiserver makes for itself). The datastore of KDD sides; etcd cases that read Kubernetes
/// objects (`ipam check` lists Services in etcd mode) borrow one from a [`KubePool`].
pub struct Kube {
    pub server: KubeApiServer,
    baseline: String,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    String::from_utf8_lossy(
        &base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_default(),
    )
    .into_owned()
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut b = prefix.as_bytes().to_vec();
    while let Some(last) = b.pop() {
        if last < 0xff {
            b.push(last + 1);
            return String::from_utf8_lossy(&b).into_owned();
        }
    }
    "\0".into()
}

/// A request to etcd's JSON gateway (`/v3/kv/...`): plain HTTP on the client port.
fn etcd_http(port: u16, path: &str, body: &Value) -> Value {
    let payload = body.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect etcd");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read etcd reply");
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "etcd {path}: {head}\n{body}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("etcd {path}: {e}: {body}"))
}

fn etcd_put(port: u16, key: &str, value: &str) {
    etcd_http(
        port,
        "/v3/kv/put",
        &json!({"key": b64(key), "value": b64(value)}),
    );
}

fn etcd_delete_prefix(port: u16, prefix: &str) {
    let end = if prefix.is_empty() {
        "\0".to_string()
    } else {
        prefix_end(prefix)
    };
    etcd_http(
        port,
        "/v3/kv/deleterange",
        &json!({"key": b64(if prefix.is_empty() { "\0" } else { prefix }), "range_end": b64(&end)}),
    );
}

fn etcd_range(port: u16, prefix: &str) -> BTreeMap<String, String> {
    let v = etcd_http(
        port,
        "/v3/kv/range",
        &json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix))}),
    );
    let mut m = BTreeMap::new();
    for kv in v["kvs"].as_array().into_iter().flatten() {
        m.insert(
            unb64(kv["key"].as_str().unwrap_or_default()),
            unb64(kv["value"].as_str().unwrap_or_default()),
        );
    }
    m
}

/// The API server orders managedFields by operation, then by their time in whole seconds,
/// then by manager: entries written within the same second on one side and across a second
/// boundary on the other would swap. Times are normalised away, so order by the rest only.
fn sort_managed_fields(o: &mut Value) {
    if let Some(Value::Array(entries)) = o.pointer_mut("/metadata/managedFields") {
        let key = |e: &Value| {
            ["operation", "manager", "subresource", "apiVersion"]
                .map(|f| e[f].as_str().unwrap_or_default().to_string())
        };
        entries.sort_by_key(key);
    }
}

/// Calico's CRD plurals of a layout (from the vendored CRD file names), with their scope.
fn crd_plurals(k: &KubeApiServer) -> Vec<(String, bool)> {
    let (dir, prefix) = match k.mode {
        CrdMode::V1 => ("crd.projectcalico.org_v1", "crd.projectcalico.org_"),
        CrdMode::V3 => ("projectcalico.org_v3", "projectcalico.org_"),
    };
    let mut v: Vec<(String, bool)> = std::fs::read_dir(harness::crds_dir().join(dir))
        .expect("vendored CRDs")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let plural = n.strip_prefix(prefix)?.strip_suffix(".yaml")?.to_string();
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((plural, text.contains("scope: Namespaced")))
        })
        .collect();
    v.sort();
    v
}

/// Namespaces and other objects the kube-apiserver makes for itself; kept across wipes.
const KUBE_BUILTIN: &[&str] = &[
    "/registry/namespaces/default",
    "/registry/namespaces/kube-system",
    "/registry/namespaces/kube-public",
    "/registry/namespaces/kube-node-lease",
    "/registry/services/specs/default/kubernetes",
];

/// The same objects as dump ids.
const KUBE_OWN_OBJECTS: &[&str] = &[
    "namespaces default",
    "namespaces kube-system",
    "namespaces kube-public",
    "namespaces kube-node-lease",
    "services default/kubernetes",
];

/// Core object lists that calicoctl reads or writes in KDD mode.
const KUBE_CORE: &[(&str, &str)] = &[
    ("nodes", "/api/v1/nodes"),
    ("namespaces", "/api/v1/namespaces"),
    ("pods", "/api/v1/pods"),
    ("services", "/api/v1/services"),
    ("serviceaccounts", "/api/v1/serviceaccounts"),
    (
        "networkpolicies.networking.k8s.io",
        "/apis/networking.k8s.io/v1/networkpolicies",
    ),
];

impl Kube {
    pub fn start() -> Kube {
        let server = KubeApiServer::start(
            &harness::kube_apiserver_binary().expect("kube-apiserver"),
            CrdMode::V1,
        );
        let mut k = Kube {
            server,
            baseline: String::new(),
        };
        k.wipe_store();
        k.baseline = k.dump();
        k
    }

    /// Deletes every Calico CR and the core objects cases make, and waits until the
    /// apiserver's watch cache (which follows etcd) shows it.
    pub fn wipe(&self) {
        self.wipe_store();
        for _ in 0..250 {
            if self.dump() == self.baseline {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the kube-apiserver still lists objects after the wipe");
    }

    fn wipe_store(&self) {
        let port = self.server.etcd.client_port;
        // Services go through the API: that frees their cluster IPs and node ports, which
        // the next case may ask for again.
        for key in etcd_range(port, "/registry/services/specs/").into_keys() {
            if let Some(ns_name) = key.strip_prefix("/registry/services/specs/")
                && !KUBE_BUILTIN.contains(&key.as_str())
                && let Some((ns, name)) = ns_name.split_once('/')
            {
                let path = format!("/api/v1/namespaces/{ns}/services/{name}");
                let (code, reply) = self.server.curl("DELETE", &path, None);
                assert!(code == 200 || code == 404, "DELETE {path}: {code} {reply}");
            }
        }
        let mut prefixes = vec![
            "/registry/crd.projectcalico.org/".to_string(),
            "/registry/projectcalico.org/".to_string(),
            "/registry/minions/".to_string(),
            "/registry/pods/".to_string(),
            "/registry/serviceaccounts/".to_string(),
            "/registry/networkpolicies/".to_string(),
            "/registry/secrets/".to_string(),
            "/registry/configmaps/".to_string(),
        ];
        for key in etcd_range(port, "/registry/namespaces/")
            .into_keys()
            .chain(etcd_range(port, "/registry/services/specs/").into_keys())
        {
            if !KUBE_BUILTIN.contains(&key.as_str()) {
                prefixes.push(key);
            }
        }
        for p in prefixes {
            etcd_delete_prefix(port, &p);
        }
    }

    /// A REST request (`kube METHOD PATH`); the body may be YAML or JSON.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Result<(), String> {
        let body = if body.trim().is_empty() {
            None
        } else {
            Some(
                calicoctl::model::yaml_in::yaml_to_json(body)
                    .map_err(|e| format!("kube body: {e}"))?
                    .ok_or("kube body is empty")?,
            )
        };
        let (code, reply) = self.server.curl(method, path, body.as_ref());
        if (200..300).contains(&code) {
            Ok(())
        } else {
            Err(format!("kube {method} {path}: {code} {reply}"))
        }
    }

    /// Every list of the Kubernetes objects the dump covers, fetched with one curl.
    fn lists(&self) -> Vec<(String, Vec<Value>)> {
        let k = &self.server;
        let group = match k.mode {
            CrdMode::V1 => "crd.projectcalico.org/v1",
            CrdMode::V3 => "projectcalico.org/v3",
        };
        let mut targets: Vec<(String, String)> = crd_plurals(k)
            .into_iter()
            .map(|(p, _)| (p.clone(), format!("/apis/{group}/{p}")))
            .collect();
        targets.extend(
            KUBE_CORE
                .iter()
                .map(|(n, p)| (n.to_string(), p.to_string())),
        );
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "--max-time", "20", "-H"])
            .arg(format!("Authorization: Bearer {}", k.token))
            .args(["-w", "\n@@END %{http_code}@@\n"]);
        for (_, p) in &targets {
            cmd.arg(format!("{}{}", k.url, p));
        }
        let out = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("curl is installed");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut bodies = text.split("\n@@END ");
        let mut res = Vec::new();
        let mut first = bodies.next().unwrap_or_default().to_string();
        for (name, path) in targets {
            let next = bodies.next().unwrap_or_default();
            let (code, rest) = next.split_once("@@\n").unwrap_or((next, ""));
            assert_eq!(code, "200", "GET {path}: {first}");
            let v: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
            res.push((name, v["items"].as_array().cloned().unwrap_or_default()));
            first = rest.to_string();
        }
        res
    }

    /// Every Calico CR and core object, one JSON document per object.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (name, items) in self.lists() {
            for mut o in items {
                sort_managed_fields(&mut o);
                let ns = o["metadata"]["namespace"]
                    .as_str()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                let id = format!(
                    "{name} {ns}{}",
                    o["metadata"]["name"].as_str().unwrap_or_default()
                );
                // The apiserver's own objects hold its port and are never touched.
                if !KUBE_OWN_OBJECTS.contains(&id.as_str()) {
                    out.push_str(&format!(
                        "{id}\n{}\n",
                        serde_json::to_string_pretty(&o).unwrap()
                    ));
                }
            }
        }
        out
    }
}

/// The kube-apiservers that etcd cases borrow, one for each side of a pair: started the
/// first time a case needs them, wiped before each case that borrows them, stopped when the
/// pool is dropped. At most `cap` pairs exist; a case waits for a free one.
pub struct KubePool {
    state: Mutex<(Vec<(Kube, Kube)>, usize)>,
    freed: Condvar,
    cap: usize,
}

/// A borrowed pair of kube-apiservers (ours, reference), returned to the pool on drop.
pub struct KubeLease<'a> {
    pool: &'a KubePool,
    pair: Option<(Kube, Kube)>,
}

impl KubeLease<'_> {
    pub fn ours(&self) -> &Kube {
        &self.pair.as_ref().unwrap().0
    }

    pub fn reference(&self) -> &Kube {
        &self.pair.as_ref().unwrap().1
    }
}

impl Drop for KubeLease<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.pair.take() {
            self.pool.state.lock().unwrap().0.push(p);
            self.pool.freed.notify_one();
        }
    }
}

impl KubePool {
    pub fn new(cap: usize) -> KubePool {
        KubePool {
            state: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
            cap: cap.max(1),
        }
    }

    /// A free pair, wiped; started if fewer than `cap` exist, else the next one freed.
    pub fn take(&self) -> KubeLease<'_> {
        let mut st = self.state.lock().unwrap();
        let pair = loop {
            if let Some(p) = st.0.pop() {
                break Some(p);
            }
            if st.1 < self.cap {
                st.1 += 1;
                break None;
            }
            st = self.freed.wait(st).unwrap();
        };
        drop(st);
        let pair = match pair {
            Some(p) => {
                std::thread::scope(|s| {
                    let a = s.spawn(|| p.0.wipe());
                    p.1.wipe();
                    a.join().unwrap();
                });
                p
            }
            None => std::thread::scope(|s| {
                let a = s.spawn(Kube::start);
                let b = Kube::start();
                (a.join().unwrap(), b)
            }),
        };
        KubeLease {
            pool: self,
            pair: Some(pair),
        }
    }
}

impl Side {
    pub fn start(label: &'static str, program: PathBuf, store: StoreKind) -> Side {
        let backend = match store {
            StoreKind::Etcd => Backend::Etcd(Etcd::start()),
            StoreKind::Kdd => Backend::Kdd(Kube::start()),
        };
        let side = Side {
            label,
            program,
            backend,
        };
        side.wipe();
        side
    }

    /// Empties the datastore (etcd: every key; KDD: every Calico CR and the core objects
    /// cases make) so that each case starts from a fresh datastore.
    pub fn wipe(&self) {
        match &self.backend {
            Backend::Etcd(e) => etcd_delete_prefix(e.client_port, ""),
            Backend::Kdd(k) => k.wipe(),
        }
    }

    /// The kube-apiserver that is this side's datastore (KDD).
    pub fn kube(&self) -> Option<&Kube> {
        match &self.backend {
            Backend::Etcd(_) => None,
            Backend::Kdd(k) => Some(k),
        }
    }

    /// The environment that points calicoctl at this side's datastore.
    pub fn base_env(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        match &self.backend {
            Backend::Etcd(e) => {
                m.insert("DATASTORE_TYPE".into(), "etcdv3".into());
                m.insert("ETCD_ENDPOINTS".into(), e.endpoint.clone());
            }
            Backend::Kdd(k) => {
                m.insert("DATASTORE_TYPE".into(), "kubernetes".into());
                m.insert(
                    "KUBECONFIG".into(),
                    k.server.kubeconfig.display().to_string(),
                );
            }
        }
        m
    }

    /// `(placeholder, value)` pairs: substituted into inputs, and put back into outputs.
    /// `kube` is the kube-apiserver of the case (KDD: the datastore; etcd: a borrowed one).
    pub fn placeholders(&self, dir: &Path, kube: Option<&Kube>) -> Vec<(&'static str, String)> {
        let mut v = vec![("${DIR}", dir.display().to_string())];
        if let Backend::Etcd(e) = &self.backend {
            v.push(("${ENDPOINT}", e.endpoint.clone()));
        }
        if let Some(k) = kube {
            v.push(("${KUBECONFIG}", k.server.kubeconfig.display().to_string()));
            v.push(("${APISERVER}", k.server.url.clone()));
            if let Backend::Kdd(_) = &self.backend {
                v.push(("${ENDPOINT}", k.server.url.clone()));
            }
        }
        v
    }

    pub fn etcd_put(&self, key: &str, value: &str) {
        match &self.backend {
            Backend::Etcd(e) => etcd_put(e.client_port, key, value),
            Backend::Kdd(_) => panic!("etcd-put in a KDD case"),
        }
    }

    /// The datastore's whole state as text: etcd keys and values under /calico, or every
    /// Calico CR and the core objects, one JSON document per object.
    pub fn dump(&self) -> String {
        match &self.backend {
            Backend::Etcd(e) => {
                let mut out = String::new();
                for (k, v) in etcd_range(e.client_port, "/calico") {
                    out.push_str(&k);
                    out.push('\n');
                    out.push_str(&v);
                    out.push('\n');
                }
                out
            }
            Backend::Kdd(k) => k.dump(),
        }
    }
}
