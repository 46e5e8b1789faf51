//! A minimal read-only Kubernetes API for etcd cases: `calicoctl ipam check` in etcd mode
//! lists Services through a kubeconfig. `kube POST <collection> <<EOF` stores an object here;
//! GETs of a collection (namespaced or across namespaces) or of one object answer from it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The objects, each with the collection path it was posted to.
type Store = Arc<Mutex<Vec<(String, Value)>>>;

pub struct FakeKube {
    pub url: String,
    pub kubeconfig: PathBuf,
    objects: Store,
    _dir: tempfile::TempDir,
}

impl FakeKube {
    pub fn start() -> FakeKube {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake kube");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let objects: Store = Arc::default();
        let served = objects.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let store = served.clone();
                std::thread::spawn(move || serve(conn, &store));
            }
        });
        let dir = crate::harness::tempdir();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n"
            ),
        )
        .unwrap();
        FakeKube {
            url,
            kubeconfig,
            objects,
            _dir: dir,
        }
    }

    pub fn wipe(&self) {
        self.objects.lock().unwrap().clear();
    }

    /// Stores `obj` (JSON) as posted to the collection `path`, e.g.
    /// `/api/v1/namespaces/default/services`.
    pub fn post(&self, path: &str, mut obj: Value) -> Result<(), String> {
        let Some((_, ns, _, None)) = parse_path(path) else {
            return Err(format!("fake kube: not a collection path: {path}"));
        };
        if let (Some(ns), Some(m)) = (ns, obj.get_mut("metadata").and_then(Value::as_object_mut)) {
            m.entry("namespace").or_insert(Value::String(ns));
        }
        self.objects
            .lock()
            .unwrap()
            .push((path.trim_end_matches('/').to_string(), obj));
        Ok(())
    }
}

/// A request path split into (prefix `/api/v1` or `/apis/G/V`, namespace, resource, name).
fn parse_path(path: &str) -> Option<(String, Option<String>, String, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let base = match segs.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => return None,
    };
    let prefix = format!("/{}", segs.get(..base)?.join("/"));
    let rest = &segs[base..];
    let s = |i: usize| rest.get(i).map(|x| x.to_string());
    match rest.len() {
        3 | 4 if rest[0] == "namespaces" => Some((prefix, s(1), s(2)?, s(3))),
        1 | 2 => Some((prefix, None, s(0)?, s(1))),
        _ => None,
    }
}

fn list_kind(resource: &str) -> String {
    let singular = resource.strip_suffix('s').unwrap_or(resource);
    let mut c = singular.chars();
    match c.next() {
        Some(f) => format!("{}{}List", f.to_ascii_uppercase(), c.as_str()),
        None => "List".into(),
    }
}

/// What a GET of `path` returns: (status, body).
fn answer(path: &str, store: &Store) -> (u16, Value) {
    let path = path.split('?').next().unwrap_or(path);
    let Some((prefix, ns, res, name)) = parse_path(path) else {
        return (
            404,
            not_found("the server could not find the requested resource"),
        );
    };
    let objects = store.lock().unwrap();
    let matching = objects.iter().filter_map(|(coll, o)| {
        let (p, ons, r, _) = parse_path(coll)?;
        let same_ns = ns.is_none() || ns == ons;
        (p == prefix && r == res && same_ns).then_some(o)
    });
    match name {
        None => (
            200,
            json!({
                "kind": list_kind(&res),
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": matching.cloned().collect::<Vec<_>>(),
            }),
        ),
        Some(name) => {
            let found = matching
                .filter(|o| ns.is_some() || o["metadata"]["namespace"].is_null())
                .find(|o| o["metadata"]["name"] == name.as_str());
            match found {
                Some(o) => (200, o.clone()),
                None => (404, not_found(&format!("{res} \"{name}\" not found"))),
            }
        }
    }
}

fn not_found(message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "NotFound", "code": 404})
}

fn serve(mut conn: TcpStream, store: &Store) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let (code, body) = if method == "GET" {
        answer(path, store)
    } else {
        (
            405,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "the fake Kubernetes API is read-only", "reason": "MethodNotAllowed",
                "code": 405}),
        )
    };
    let body = body.to_string();
    let _ = write!(
        conn,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
