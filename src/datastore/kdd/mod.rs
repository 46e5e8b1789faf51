//! The Kubernetes datastore (KDD): Calico CRDs (`crd.projectcalico.org/v1` with libcalico's
//! metadata annotation, or `projectcalico.org/v3`), plus Node/Pod/Namespace/ServiceAccount
//! mappings and the IPAM CRs — behind the same `Datastore` trait as etcd.

pub mod convert;
mod proto;
mod stream;

use std::time::Duration;

use async_trait::async_trait;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use super::{Backend, Datastore, DatastoreError, ListOptions, ObjectList, Result, resource_id};
use crate::config::Spec;
use crate::model::ipam::*;
use crate::model::kinds::{KddMapping, KindId, KindInfo, str_at};
use crate::model::meta;
use convert::*;

/// Page size of every list (client-go's pager default).
pub const PAGE: usize = 500;

/// Page size of the streamed lists (`scan_pages`), chosen by measurement (bench/kdd.sh):
/// items are decoded while they arrive, so a page costs memory only for what is in flight.
pub const LIST_PAGE: usize = 500;

/// `LIST_PAGE`, or `CALICOCTL_KDD_PAGE` when set (for measuring other sizes; 0 = no limit).
fn list_page() -> usize {
    std::env::var("CALICOCTL_KDD_PAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LIST_PAGE)
}

/// Whether streamed lists of core kinds ask for protobuf: yes, unless `CALICOCTL_KDD_PROTOBUF`
/// is `0` (for measuring the JSON path against it).
fn ask_protobuf() -> bool {
    std::env::var("CALICOCTL_KDD_PROTOBUF").map_or(true, |v| v != "0")
}

/// The `Accept` header of a list that may come back in protobuf (client-go's for core kinds).
const ACCEPT_PROTOBUF: &str = "application/vnd.kubernetes.protobuf,application/json";

/// Which CRD layout the cluster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    V1,
    V3,
}

/// The KDD backend.
pub struct KddDatastore {
    client: kube::Client,
    mode: Mode,
    server: String,
    timeout: Duration,
}

/// An error from the API server: status code, reason and message.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: String,
    message: String,
}

/// The error of a non-2xx answer: the Status object's reason and message, else the body.
fn status_error(code: u16, v: &Value, bytes: &[u8]) -> ApiError {
    let m = str_at(v, &["message"]);
    ApiError {
        code,
        reason: str_at(v, &["reason"]),
        message: if m.is_empty() {
            String::from_utf8_lossy(bytes).trim().to_string()
        } else {
            m
        },
    }
}

/// Why the Kubernetes client configuration could not be built; the texts are client-go's
/// where calicoctl prints client-go's.
#[derive(Debug, thiserror::Error)]
pub enum KubeConfigError {
    #[error("invalid inline kubeconfig: {0}")]
    Inline(kube::config::KubeconfigError),
    #[error("invalid configuration: {0}")]
    Kubeconfig(kube::config::KubeconfigError),
    #[error("{0}")]
    Merge(kube::config::KubeconfigError),
    /// None of the `:`-separated kubeconfig paths exists.
    #[error("stat {0}: no such file or directory")]
    NoKubeconfig(String),
    #[error(
        "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
    )]
    NoConfiguration,
    #[error("context \"{0}\" does not exist")]
    NoSuchContext(String),
    #[error(
        "invalid configuration: [context was not found for specified context: {0}, cluster has no server defined]"
    )]
    ContextNotFound(String),
    #[error("invalid configuration: cluster has no server defined")]
    NoServer,
    #[error("invalid k8sAPIEndpoint {endpoint}: {source}")]
    Endpoint {
        endpoint: String,
        source: http::uri::InvalidUri,
    },
    #[error("cannot read {path}: {source}")]
    CaRead {
        path: String,
        source: std::io::Error,
    },
    #[error("bad PEM in {path}: {source}")]
    CaPem {
        path: String,
        source: base64::DecodeError,
    },
    #[error("no certificate found in {0}")]
    NoCertificate(String),
    #[error("invalid configuration: {0}")]
    Client(kube::Error),
    #[error("unknown calicoAPIGroup {0:?}: use crd.projectcalico.org/v1 or projectcalico.org/v3")]
    ApiGroup(String),
}

/// Why a raw GET ([`KddDatastore::get_bytes`]) failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("{0}")]
    Request(#[from] http::Error),
    /// The request could not be sent or its body read (described as for other requests).
    #[error("{0}")]
    Transport(String),
    /// A non-2xx answer: the server's message, else its body.
    #[error("{status}: {message}")]
    Status { status: u16, message: String },
    #[error("no answer within {}s", .0.as_secs_f64())]
    Timeout(Duration),
}

fn read_pem_certs(path: &str) -> std::result::Result<Vec<Vec<u8>>, KubeConfigError> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).map_err(|source| KubeConfigError::CaRead {
        path: path.to_string(),
        source,
    })?;
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN") {
            cur = Some(String::new());
        } else if line.starts_with("-----END") {
            if let Some(b) = cur.take() {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .map_err(|source| KubeConfigError::CaPem {
                            path: path.to_string(),
                            source,
                        })?,
                );
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line.trim());
        }
    }
    if out.is_empty() {
        return Err(KubeConfigError::NoCertificate(path.to_string()));
    }
    Ok(out)
}

/// Builds the kube client configuration the way calicoctl does: only the explicit kubeconfig
/// path(s) plus overrides (context, server, cert, key, CA, token, insecure).
pub async fn kube_config(
    spec: &Spec,
    timeout: Duration,
) -> std::result::Result<kube::Config, KubeConfigError> {
    let opts = KubeConfigOptions {
        context: (!spec.k8s_current_context.is_empty()).then(|| spec.k8s_current_context.clone()),
        cluster: None,
        user: None,
    };
    let kc: Option<Kubeconfig> = if !spec.kubeconfig_inline.is_empty() {
        Some(Kubeconfig::from_yaml(&spec.kubeconfig_inline).map_err(KubeConfigError::Inline)?)
    } else if !spec.kubeconfig.is_empty() {
        // A `:` list is merged like kubectl: the first file to set a value wins.
        let mut merged: Option<Kubeconfig> = None;
        for p in spec.kubeconfig.split(':').filter(|p| !p.is_empty()) {
            if !std::path::Path::new(p).exists() {
                continue;
            }
            let k = Kubeconfig::read_from(p).map_err(KubeConfigError::Kubeconfig)?;
            merged = Some(match merged {
                None => k,
                Some(m) => m.merge(k).map_err(KubeConfigError::Merge)?,
            });
        }
        if merged.is_none() {
            return Err(KubeConfigError::NoKubeconfig(spec.kubeconfig.clone()));
        }
        merged
    } else {
        None
    };
    if let Some(k) = &kc
        && spec.k8s_api_endpoint.is_empty()
    {
        check_kubeconfig(k, opts.context.as_deref())?;
    }
    let mut cfg = match kc {
        Some(k) => kube::Config::from_custom_kubeconfig(k, &opts)
            .await
            .map_err(KubeConfigError::Kubeconfig)?,
        None if !spec.k8s_api_endpoint.is_empty() => {
            kube::Config::new(spec.k8s_api_endpoint.parse().map_err(|source| {
                KubeConfigError::Endpoint {
                    endpoint: spec.k8s_api_endpoint.clone(),
                    source,
                }
            })?)
        }
        None => kube::Config::incluster().map_err(|_| KubeConfigError::NoConfiguration)?,
    };
    if !spec.k8s_api_endpoint.is_empty() {
        cfg.cluster_url =
            spec.k8s_api_endpoint
                .parse()
                .map_err(|source| KubeConfigError::Endpoint {
                    endpoint: spec.k8s_api_endpoint.clone(),
                    source,
                })?;
    }
    if !spec.k8s_ca_file.is_empty() {
        cfg.root_cert = Some(read_pem_certs(&spec.k8s_ca_file)?);
    }
    if !spec.k8s_cert_file.is_empty() {
        cfg.auth_info.client_certificate = Some(spec.k8s_cert_file.clone());
    }
    if !spec.k8s_key_file.is_empty() {
        cfg.auth_info.client_key = Some(spec.k8s_key_file.clone());
    }
    if !spec.k8s_api_token.is_empty() {
        cfg.auth_info.token = Some(spec.k8s_api_token.clone().into());
    }
    if spec.k8s_insecure_skip_tls_verify {
        cfg.accept_invalid_certs = true;
    }
    cfg.connect_timeout = Some(timeout);
    cfg.read_timeout = Some(timeout);
    cfg.write_timeout = Some(timeout);
    Ok(cfg)
}

/// client-go's checks of the context a kubeconfig selects, with its messages.
fn check_kubeconfig(
    k: &Kubeconfig,
    context: Option<&str>,
) -> std::result::Result<(), KubeConfigError> {
    if let Some(c) = context
        && !k.contexts.iter().any(|x| x.name == c)
    {
        return Err(KubeConfigError::NoSuchContext(c.to_string()));
    }
    let name = context.or(k.current_context.as_deref()).unwrap_or_default();
    if name.is_empty() {
        return Err(KubeConfigError::NoConfiguration);
    }
    let Some(ctx) = k
        .contexts
        .iter()
        .find(|x| x.name == name)
        .and_then(|x| x.context.as_ref())
    else {
        return Err(KubeConfigError::ContextNotFound(name.to_string()));
    };
    let has_cluster = k.clusters.iter().any(|c| c.name == ctx.cluster);
    let has_user = ctx
        .user
        .as_deref()
        .is_some_and(|u| k.auth_infos.iter().any(|a| a.name == u));
    match (has_cluster, has_user) {
        (false, false) => Err(KubeConfigError::NoConfiguration),
        (false, true) => Err(KubeConfigError::NoServer),
        _ => Ok(()),
    }
}

impl KddDatastore {
    /// Connects and picks the CRD layout (calicoAPIGroup, else discovery as upstream does).
    pub async fn connect(
        spec: &Spec,
        timeout: Duration,
    ) -> std::result::Result<Self, KubeConfigError> {
        let cfg = kube_config(spec, timeout).await?;
        let server = cfg.cluster_url.to_string();
        let client = kube::Client::try_from(cfg).map_err(KubeConfigError::Client)?;
        let mut ds = KddDatastore {
            client,
            mode: Mode::V1,
            server,
            timeout,
        };
        ds.mode = match spec.calico_api_group.as_str() {
            "projectcalico.org/v3" => Mode::V3,
            "crd.projectcalico.org/v1" => Mode::V1,
            "" => {
                // A discovery that fails leaves the default layout: the first real request
                // then reports the problem, as calicoctl does.
                let groups = ds
                    .call(http::Method::GET, "/apis", None)
                    .await
                    .unwrap_or(Value::Null);
                let names: Vec<String> = groups
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|g| str_at(g, &["name"])).collect())
                    .unwrap_or_default();
                let has = |n: &str| names.iter().any(|x| x == n);
                if has("projectcalico.org") && !has("crd.projectcalico.org") {
                    Mode::V3
                } else {
                    Mode::V1
                }
            }
            other => {
                return Err(KubeConfigError::ApiGroup(other.to_string()));
            }
        };
        Ok(ds)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// GET of any API path as raw bytes (JSON documents, or text such as pod logs), with the
    /// request timeout; errors as one line with the status and the server's message.
    pub async fn get_bytes(&self, path: &str) -> std::result::Result<Vec<u8>, GetError> {
        let req = http::Request::builder()
            .method(http::Method::GET)
            .uri(path)
            .header(http::header::USER_AGENT, user_agent(path))
            .body(Vec::new())?;
        let fut = async {
            let resp = self
                .client
                .send(req.map(kube::client::Body::from))
                .await
                .map_err(|e| GetError::Transport(describe_kube_error(&e)))?;
            let status = resp.status().as_u16();
            print_warnings(resp.headers());
            let bytes = resp
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| GetError::Transport(e.to_string()))?;
            if (200..300).contains(&status) {
                Ok(bytes.to_vec())
            } else {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let m = str_at(&v, &["message"]);
                Err(GetError::Status {
                    status,
                    message: if m.is_empty() {
                        String::from_utf8_lossy(&bytes).trim().to_string()
                    } else {
                        m
                    },
                })
            }
        };
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), fut).await {
            Ok(r) => r,
            Err(_) => Err(GetError::Timeout(self.timeout)),
        }
    }

    async fn raw(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<Value, ApiError> {
        self.raw_as(method, path, body, "application/json").await
    }

    /// `raw` with another body content type (patches).
    async fn raw_as(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> std::result::Result<Value, ApiError> {
        let fut = async {
            let resp = self.send(method, path, body, content_type).await?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| ApiError {
                    code: 0,
                    reason: "Connection".into(),
                    message: e.to_string(),
                })?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                Ok(v)
            } else {
                Err(status_error(status, &v, &bytes))
            }
        };
        self.within_timeout(fut).await
    }

    /// `fut` cut off at the request timeout (plus a little for the server's own).
    async fn within_timeout<T>(
        &self,
        fut: impl std::future::Future<Output = std::result::Result<T, ApiError>>,
    ) -> std::result::Result<T, ApiError> {
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), fut).await {
            Ok(r) => r,
            Err(_) => Err(ApiError {
                code: 0,
                reason: "Timeout".into(),
                message: format!("no answer within {}s", self.timeout.as_secs_f64()),
            }),
        }
    }

    /// Sends one request; the response's warnings are printed, its body is left unread.
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> std::result::Result<http::Response<kube::client::Body>, ApiError> {
        self.request(method, path, body, content_type, "application/json")
            .await
    }

    /// `send` as a future that owns what it needs (it can run as its own task), asking for
    /// the answer in `accept`.
    fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
        accept: &str,
    ) -> impl std::future::Future<
        Output = std::result::Result<http::Response<kube::client::Body>, ApiError>,
    > + Send
    + 'static {
        let op = go_method(&method);
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::USER_AGENT, user_agent(path))
            .header("Accept", accept)
            .header("Content-Type", content_type)
            .body(
                body.map(|b| serde_json::to_vec(b).unwrap_or_default())
                    .unwrap_or_default(),
            );
        let client = self.client.clone();
        let (server, path) = (self.server.clone(), path.to_string());
        async move {
            let req = req.map_err(|e| ApiError {
                code: 0,
                reason: "Request".into(),
                message: e.to_string(),
            })?;
            let resp = client
                .send(req.map(kube::client::Body::from))
                .await
                .map_err(|e| ApiError {
                    code: 0,
                    reason: "Connection".into(),
                    message: go_url_error(op, &server, &path, &e),
                })?;
            print_warnings(resp.headers());
            Ok(resp)
        }
    }

    /// GET of one object; failures name `id` (the Calico resource it backs).
    async fn get_object(&self, path: &str, id: &str) -> Result<Value> {
        self.raw(http::Method::GET, path, None)
            .await
            .map_err(|e| self.map_err(e, Some(id)))
    }

    /// A request whose failures become typed datastore errors.
    async fn call(&self, method: http::Method, path: &str, body: Option<&Value>) -> Result<Value> {
        self.raw(method, path, body)
            .await
            .map_err(|e| self.map_err(e, None))
    }

    fn map_err(&self, e: ApiError, id: Option<&str>) -> DatastoreError {
        let id = id.unwrap_or("").to_string();
        match e.code {
            404 => DatastoreError::NotFound {
                id,
                inner: e.message,
            },
            409 if e.reason == "AlreadyExists" => DatastoreError::AlreadyExists {
                id,
                inner: e.message,
            },
            409 => DatastoreError::Conflict { id },
            401 => DatastoreError::Unauthorized(format!(
                "the Kubernetes API server at {} rejected the credentials (401 Unauthorized): check the token or client certificate of the kubeconfig user",
                self.server
            )),
            403 => DatastoreError::Unauthorized(format!(
                "access denied by Kubernetes RBAC: {}",
                e.message
            )),
            0 => DatastoreError::Connection(e.message),
            _ => DatastoreError::Other(format!("Kubernetes API error ({}): {}", e.code, e.message)),
        }
    }

    fn crd_base(&self) -> &'static str {
        match self.mode {
            Mode::V1 => "/apis/crd.projectcalico.org/v1",
            Mode::V3 => "/apis/projectcalico.org/v3",
        }
    }

    /// The path of a Calico CRD collection (or object) in this cluster's API group.
    pub fn crd_path(&self, plural: &str, ns: Option<&str>, name: Option<&str>) -> String {
        let mut p = self.crd_base().to_string();
        if let Some(ns) = ns.filter(|n| !n.is_empty()) {
            p.push_str(&format!("/namespaces/{ns}"));
        }
        p.push('/');
        p.push_str(plural);
        if let Some(n) = name {
            p.push('/');
            p.push_str(n);
        }
        p
    }

    /// Lists a collection page by page (`limit`/`continue`), keeping only decoded items.
    async fn list_all(&self, path: &str, selector: Option<&str>) -> Result<(Vec<Value>, String)> {
        let mut items = Vec::new();
        let rv = self
            .list_pages(path, selector, &mut |_, page| {
                items.extend(page);
                Ok(())
            })
            .await?;
        Ok((items, rv))
    }

    /// Hands each page of a collection (`limit`/`continue`) to `f` with the list's
    /// resourceVersion, holding one page at a time. Returns that resourceVersion.
    async fn list_pages(
        &self,
        path: &str,
        selector: Option<&str>,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> Result<String> {
        let mut cont = String::new();
        let mut first_rv = String::new();
        loop {
            let mut q = format!("{path}?limit={PAGE}");
            if let Some(s) = selector {
                q.push_str(&format!("&labelSelector={}", urlencode(s)));
            }
            if !cont.is_empty() {
                q.push_str(&format!("&continue={}", urlencode(&cont)));
            }
            let mut page = self.call(http::Method::GET, &q, None).await?;
            if first_rv.is_empty() {
                first_rv = str_at(&page, &["metadata", "resourceVersion"]);
            }
            cont = str_at(&page, &["metadata", "continue"]);
            let items = match page.get_mut("items").map(Value::take) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            drop(page);
            f(&first_rv, items)?;
            if cont.is_empty() {
                return Ok(first_rv);
            }
        }
    }

    /// Hands each page of a collection to `f` as `list_pages` does, but streamed: the items
    /// are cut out of the body as it arrives and converted by `convert` on a decoder thread
    /// (read as `items` says), while this task goes on reading the wire. Memory holds about
    /// one batch of converted objects and the bytes of the item being read.
    async fn stream_pages(
        &self,
        path: &str,
        items: Items,
        convert: Convert,
        keep: Keep,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> Result<String> {
        let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<Chunk>(64);
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Decoded>();
        let worker =
            std::thread::spawn(move || decode_items(chunk_rx, out_tx, items, convert, keep));
        let accept = if items.proto.is_some() && ask_protobuf() {
            ACCEPT_PROTOBUF
        } else {
            "application/json"
        };
        let mut first_rv: Option<String> = None;
        let mut cont = String::new();
        let page_size = list_page();
        let page_query = |cont: &str| {
            let mut q = format!("{path}?limit={page_size}");
            if !cont.is_empty() {
                q.push_str(&format!("&continue={}", urlencode(cont)));
            }
            q
        };
        // The next page is requested as soon as this one's continue token is read (the first
        // bytes of its body), so the API server prepares it while this one is decoded.
        let mut next = None;
        let result = loop {
            let pending = match next.take() {
                Some(h) => h,
                None => tokio::spawn(self.request(
                    http::Method::GET,
                    &page_query(&cont),
                    None,
                    "application/json",
                    accept,
                )),
            };
            let page = self.within_timeout(async {
                let resp = pending.await.map_err(|e| ApiError {
                    code: 0,
                    reason: "Connection".into(),
                    message: e.to_string(),
                })??;
                let status = resp.status().as_u16();
                // The API server answers protobuf only where it can: the content type tells.
                let protobuf = resp
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(proto::MEDIA_TYPE));
                let mut body = resp.into_body();
                if !(200..300).contains(&status) {
                    let bytes = body.collect_bytes().await.unwrap_or_default();
                    let v = if protobuf {
                        proto::status(&bytes)
                    } else {
                        serde_json::from_slice(&bytes).ok()
                    };
                    return Err(status_error(status, &v.unwrap_or(Value::Null), &bytes));
                }
                // Ok(Some(error)) = the list was read but `f` or the decoder failed.
                let mut st = PageState {
                    rv: &mut first_rv,
                    cont: &mut cont,
                    failed: None,
                };
                st.cont.clear();
                if chunk_tx.send(Chunk::Begin { protobuf }).await.is_err() {
                    return st.stopped(&mut out_rx, f).await;
                }
                while let Some(frame) = std::future::poll_fn(|cx| {
                    http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)
                })
                .await
                {
                    let frame = frame.map_err(|e| ApiError {
                        code: 0,
                        reason: "Connection".into(),
                        message: e.to_string(),
                    })?;
                    let sent = match frame.into_data() {
                        Ok(data) => chunk_tx.send(Chunk::Data(data)).await.is_ok(),
                        Err(_) => true,
                    };
                    while let Ok(d) = out_rx.try_recv() {
                        st.handle(d, f);
                    }
                    if next.is_none() && !st.cont.is_empty() && st.failed.is_none() {
                        next = Some(tokio::spawn(self.request(
                            http::Method::GET,
                            &page_query(st.cont),
                            None,
                            "application/json",
                            accept,
                        )));
                    }
                    if !sent {
                        return st.stopped(&mut out_rx, f).await;
                    }
                    if st.failed.is_some() {
                        return Ok(st.failed);
                    }
                }
                if chunk_tx.send(Chunk::End).await.is_err() {
                    return st.stopped(&mut out_rx, f).await;
                }
                loop {
                    match out_rx.recv().await.ok_or_else(decoder_lost)? {
                        Decoded::PageDone => return Ok(st.failed),
                        d => st.handle(d, f),
                    }
                }
            });
            match page.await {
                Err(e) => break Err(self.map_err(e, None)),
                Ok(Some(e)) => break Err(e),
                Ok(None) if cont.is_empty() => break Ok(first_rv.unwrap_or_default()),
                Ok(None) => {}
            }
        };
        if let Some(h) = next {
            h.abort();
        }
        drop(chunk_tx);
        if result.is_ok() {
            let _ = worker.join();
        }
        result
    }

    fn decode_cr(&self, kind: &KindInfo, cr: &Value) -> Value {
        decode_cr_in(self.mode, kind, cr)
    }

    /// The CRD plural of a kind: v1 CRDs hold the v3 IPAMConfiguration as `ipamconfigs`.
    fn plural(&self, kind: &KindInfo) -> &'static str {
        match (self.mode, kind.hooks.kdd) {
            (Mode::V1, KddMapping::CrdRenamedInV1 { plural, .. }) => plural,
            _ => kind.plural,
        }
    }

    fn to_cr(&self, kind: &KindInfo, obj: &Value) -> Value {
        match self.mode {
            Mode::V1 => {
                let mut cr = to_v1_cr(kind, obj);
                if let KddMapping::CrdRenamedInV1 { kind: k, .. } = kind.hooks.kdd {
                    cr["kind"] = json!(k);
                }
                cr
            }
            Mode::V3 => {
                let mut o = obj.clone();
                o["apiVersion"] = json!("projectcalico.org/v3");
                o
            }
        }
    }

    /// IPAM CR location: (plural, name).
    fn ipam_location(&self, key: &IpamKey) -> (&'static str, String) {
        match key {
            IpamKey::Block(c) => ("ipamblocks", block_name(c)),
            IpamKey::Affinity { host, cidr, .. } => ("blockaffinities", affinity_name(host, cidr)),
            IpamKey::Handle(h) => ("ipamhandles", h.to_lowercase()),
            IpamKey::Config => (
                if self.mode == Mode::V3 {
                    "ipamconfigurations"
                } else {
                    "ipamconfigs"
                },
                "default".into(),
            ),
        }
    }

    fn ipam_kind(key: &IpamKey) -> &'static str {
        match key {
            IpamKey::Block(_) => "IPAMBlock",
            IpamKey::Affinity { .. } => "BlockAffinity",
            IpamKey::Handle(_) => "IPAMHandle",
            IpamKey::Config => "IPAMConfig",
        }
    }

    fn ipam_cr(&self, kv: &IpamKv) -> Value {
        let (_, name) = self.ipam_location(&kv.key);
        let mut labels = serde_json::Map::new();
        if let IpamKey::Affinity {
            host,
            affinity_type,
            cidr,
        } = &kv.key
        {
            labels.insert(
                "projectcalico.org/affinity-type".into(),
                json!(affinity_type.as_str()),
            );
            labels.insert(
                "projectcalico.org/hostname-hash".into(),
                json!(hostname_hash(host)),
            );
            labels.insert(
                "projectcalico.org/ip-version".into(),
                json!(if cidr.addr().is_ipv4() { "4" } else { "6" }),
            );
        }
        let kind = if self.mode == Mode::V3 && kv.key == IpamKey::Config {
            "IPAMConfiguration"
        } else {
            Self::ipam_kind(&kv.key)
        };
        let mut metadata = json!({"name": name});
        if !labels.is_empty() {
            metadata["labels"] = Value::Object(labels.clone());
        }
        if self.mode == Mode::V1 {
            // The v3 ObjectMeta of an IPAM object has no creation time: Go marshals it null.
            let mut ann = json!({"creationTimestamp": null});
            if !labels.is_empty() {
                ann["labels"] = Value::Object(labels.clone());
            }
            metadata["annotations"] =
                json!({METADATA_ANNOTATION: crate::gocompat::json::to_go_json(&ann)});
        }
        if !kv.revision.is_empty() {
            metadata["resourceVersion"] = json!(kv.revision);
        }
        if let Some(u) = &kv.uid {
            metadata["uid"] = json!(u);
        }
        json!({
            "apiVersion": if self.mode == Mode::V3 { "projectcalico.org/v3" } else { CRD_GROUP_V1 },
            "kind": kind,
            "metadata": metadata,
            "spec": ipam_spec(&kv.key, &kv.value, self.mode == Mode::V3),
        })
    }

    fn ipam_from_cr(&self, key: IpamKey, cr: &Value) -> Result<IpamKv> {
        let value = ipam_value(&key, cr.get("spec").unwrap_or(&Value::Null)).map_err(|e| {
            DatastoreError::Corrupt(format!(
                "corrupt {} {}: {e}",
                Self::ipam_kind(&key),
                str_at(cr, &["metadata", "name"])
            ))
        })?;
        Ok(IpamKv {
            key,
            value,
            revision: str_at(cr, &["metadata", "resourceVersion"]),
            uid: Some(str_at(cr, &["metadata", "uid"])),
        })
    }

    fn key_from_cr(&self, plural: &str, cr: &Value) -> Option<IpamKey> {
        let spec = cr.get("spec")?;
        Some(match plural {
            "ipamblocks" => IpamKey::Block(str_at(spec, &["cidr"]).parse().ok()?),
            "blockaffinities" => IpamKey::Affinity {
                host: str_at(spec, &["node"]),
                affinity_type: if str_at(spec, &["type"]) == "virtual" {
                    AffinityType::Virtual
                } else {
                    AffinityType::Host
                },
                cidr: str_at(spec, &["cidr"]).parse().ok()?,
            },
            "ipamhandles" => IpamKey::Handle(str_at(spec, &["handleID"])),
            _ => IpamKey::Config,
        })
    }

    fn is_soft_deleted(v: &IpamValue) -> bool {
        match v {
            IpamValue::Block(b) => b.deleted,
            IpamValue::Affinity(a) => a.deleted,
            IpamValue::Handle(h) => h.deleted,
            IpamValue::Config(_) => false,
        }
    }

    fn mark_deleted(v: &mut IpamValue) {
        match v {
            IpamValue::Block(b) => b.deleted = true,
            IpamValue::Affinity(a) => a.deleted = true,
            IpamValue::Handle(h) => h.deleted = true,
            IpamValue::Config(_) => {}
        }
    }

    /// The UID-precondition DELETE that completes a soft delete.
    async fn finish_delete(&self, plural: &str, name: &str, uid: Option<&str>) -> Result<()> {
        let body = uid.filter(|u| !u.is_empty()).map(
            |u| json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": u}}),
        );
        match self
            .call(
                http::Method::DELETE,
                &self.crd_path(plural, None, Some(name)),
                body.as_ref(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.is_conflict() => Err(DatastoreError::NotFound {
                id: name.into(),
                inner: "already deleted".into(),
            }),
            Err(e) => Err(e),
        }
    }

    // ---- core-object kinds ----

    /// A WorkloadEndpoint is its pod: deleting it clears the pod's Calico IP annotations
    /// (a strategic-merge patch of the pod's status subresource), as the CNI plugin does.
    async fn delete_wep(&self, ns: &str, name: &str) -> Result<Value> {
        let id = resource_id(KindId::WorkloadEndpoint.name(), ns, name);
        let Some(pod_name) = wep_pod_name(name)? else {
            return Err(DatastoreError::Other(format!(
                "insufficient identifiers, missing '{name}'"
            )));
        };
        let path = format!("/api/v1/namespaces/{ns}/pods/{pod_name}");
        let pod = self.get_object(&path, &id).await?;
        let patch = json!({"metadata": {"annotations": {
            "cni.projectcalico.org/podIP": "",
            "cni.projectcalico.org/podIPs": "",
        }}});
        self.raw_as(
            http::Method::PATCH,
            &format!("{path}/status"),
            Some(&patch),
            "application/strategic-merge-patch+json",
        )
        .await
        .map_err(|e| self.map_err(e, Some(&id)))?;
        // The patched pod is converted back, which an unscheduled pod fails (after the patch).
        if str_at(&pod, &["spec", "nodeName"]).is_empty() {
            return Err(DatastoreError::Other(
                "error with field node (field should be assigned)".into(),
            ));
        }
        Ok(pod_to_wep(&pod)?.unwrap_or(Value::Null))
    }

    async fn list_profiles(&self, name_prefix: Option<&str>) -> Result<ObjectList> {
        let mut items = vec![default_allow()];
        let lists: [(&str, ReadProto, Convert); 2] = [
            (
                "/api/v1/namespaces",
                |b| Ok(Some(namespace_profile(&proto::metadata_only(b)?))),
                Box::new(|n| Some(namespace_profile(&n))),
            ),
            (
                "/api/v1/serviceaccounts",
                |b| Ok(Some(serviceaccount_profile(&proto::metadata_only(b)?))),
                Box::new(|sa| Some(serviceaccount_profile(&sa))),
            ),
        ];
        let mut revs = Vec::new();
        for (path, read, convert) in lists {
            let items_of = Items {
                mask: Some(&stream::METADATA),
                proto: Some(read),
            };
            let keep: Keep = Box::new(|_| true);
            let rv = self
                .stream_pages(path, items_of, convert, keep, &mut |_, page| {
                    items.extend(page);
                    Ok(())
                })
                .await?;
            revs.push(rv);
        }
        // The composite revision of the two lists, as for single profiles.
        let rv = revs.join("/");
        if let Some(p) = name_prefix {
            items.retain(|o| meta::name(o).starts_with(p));
        }
        Ok(ObjectList {
            items,
            revision: rv,
        })
    }
}

/// A CR of the given layout as the canonical v3 object.
fn decode_cr_in(mode: Mode, kind: &KindInfo, cr: &Value) -> Value {
    match mode {
        Mode::V1 => from_v1_cr(kind, cr),
        Mode::V3 => from_v3_cr(kind, cr),
    }
}

/// Turns one list item (as decoded from JSON) into the object a scan hands out, if any.
type Convert = Box<dyn Fn(Value) -> Option<Value> + Send>;

/// Whether a converted object is handed out (the name prefix of the listing).
type Keep = Box<dyn Fn(&Value) -> bool + Send>;

/// How the items of a streamed list are read.
#[derive(Clone, Copy)]
struct Items {
    /// The JSON fields kept (`None`: the whole item).
    mask: Option<&'static stream::Mask>,
    /// For core kinds: the reader of one protobuf item, converting it straight from its
    /// bytes (what `Convert` does for a JSON item).
    proto: Option<ReadProto>,
}

/// Reads and converts one protobuf list item (`None`: left out of the list).
type ReadProto = fn(&[u8]) -> std::result::Result<Option<Value>, proto::ProtoError>;

/// Why the decoder thread could not read a listed page.
#[derive(Debug, thiserror::Error)]
enum ListDecodeError {
    #[error(transparent)]
    Proto(#[from] proto::ProtoError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot decode a listed object: {0}")]
    Item(ItemError),
    /// The reading task has gone: nothing is reported.
    #[error("")]
    Closed,
}

/// Why one listed object could not be decoded.
#[derive(Debug, thiserror::Error)]
enum ItemError {
    #[error(transparent)]
    Proto(#[from] proto::ProtoError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What the reading task sends the decoder thread.
enum Chunk {
    /// A page's body starts, in protobuf or JSON.
    Begin {
        protobuf: bool,
    },
    Data(bytes::Bytes),
    /// The page's body has ended.
    End,
}

/// A page's splitter, for its encoding.
enum Split {
    Json(stream::Splitter),
    Proto(proto::Splitter),
}

/// What the decoder thread reports to the reading task.
enum Decoded {
    /// The list's resourceVersion and continue token.
    Meta {
        rv: String,
        cont: String,
    },
    Batch(Vec<Value>),
    /// The page's bytes are all decoded (after its last batch).
    PageDone,
    Failed(ListDecodeError),
}

/// A streamed page being read: the list's revision (from its first page), the continue
/// token, and the first failure of the visitor or the decoder.
struct PageState<'a> {
    rv: &'a mut Option<String>,
    cont: &'a mut String,
    failed: Option<DatastoreError>,
}

/// The error of a decoder thread that ended without saying why.
fn decoder_lost() -> ApiError {
    ApiError {
        code: 0,
        reason: "Decode".into(),
        message: "the list decoder stopped".into(),
    }
}

impl PageState<'_> {
    /// The decoder stopped taking bytes: hands on what it sent before, then its failure.
    async fn stopped(
        &mut self,
        out: &mut tokio::sync::mpsc::UnboundedReceiver<Decoded>,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> std::result::Result<Option<DatastoreError>, ApiError> {
        while let Some(d) = out.recv().await {
            self.handle(d, f);
        }
        self.failed.take().map(Some).ok_or_else(decoder_lost)
    }

    fn handle(
        &mut self,
        d: Decoded,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) {
        match d {
            Decoded::Meta { rv, cont } => {
                self.rv.get_or_insert(rv);
                *self.cont = cont;
            }
            Decoded::Batch(items) => {
                if self.failed.is_none()
                    && let Err(e) = f(self.rv.as_deref().unwrap_or_default(), items)
                {
                    self.failed = Some(e);
                }
            }
            Decoded::Failed(e) => {
                self.failed
                    .get_or_insert(DatastoreError::Other(e.to_string()));
            }
            Decoded::PageDone => {}
        }
    }
}

/// Converted objects handed over at a time.
const BATCH: usize = 250;

/// The decoder thread: splits each page's bytes into items, decodes and converts them, and
/// reports batches; stops when either channel closes.
fn decode_items(
    mut chunks: tokio::sync::mpsc::Receiver<Chunk>,
    out: tokio::sync::mpsc::UnboundedSender<Decoded>,
    items: Items,
    convert: Convert,
    keep: Keep,
) {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct ListMeta {
        resource_version: String,
        #[serde(rename = "continue")]
        cont: String,
    }
    let mut splitter = Split::Json(stream::Splitter::default());
    let mut batch = Vec::new();
    while let Some(msg) = chunks.blocking_recv() {
        let chunk = match msg {
            Chunk::Begin { protobuf } => {
                splitter = if protobuf && items.proto.is_some() {
                    Split::Proto(proto::Splitter::default())
                } else {
                    Split::Json(stream::Splitter::default())
                };
                continue;
            }
            Chunk::End => {
                let done = std::mem::take(&mut batch);
                if out.send(Decoded::Batch(done)).is_err() || out.send(Decoded::PageDone).is_err() {
                    return;
                }
                continue;
            }
            Chunk::Data(chunk) => chunk,
        };
        let protobuf = matches!(splitter, Split::Proto(_));
        let mut sink = |part: stream::Part<'_>| -> std::result::Result<(), ListDecodeError> {
            match part {
                stream::Part::Metadata(b) => {
                    let (rv, cont) = if protobuf {
                        proto::list_meta(b)?
                    } else {
                        let m: ListMeta = serde_json::from_slice(b)?;
                        (m.resource_version, m.cont)
                    };
                    out.send(Decoded::Meta { rv, cont })
                        .map_err(|_| ListDecodeError::Closed)?;
                }
                stream::Part::Item(b) => {
                    let decoded = match (protobuf, items.proto, items.mask) {
                        (true, Some(read), _) => read(b).map_err(ItemError::from),
                        (_, _, Some(m)) => {
                            stream::decode(b, m).map(&convert).map_err(ItemError::from)
                        }
                        _ => serde_json::from_slice(b)
                            .map(&convert)
                            .map_err(ItemError::from),
                    }
                    .map_err(ListDecodeError::Item)?;
                    if let Some(o) = decoded.filter(|o| keep(o)) {
                        batch.push(o);
                    }
                    if batch.len() >= BATCH {
                        out.send(Decoded::Batch(std::mem::take(&mut batch)))
                            .map_err(|_| ListDecodeError::Closed)?;
                    }
                }
            }
            Ok(())
        };
        let r = match &mut splitter {
            Split::Json(s) => s.feed(&chunk, &mut sink),
            Split::Proto(s) => s.feed(&chunk, &mut sink),
        };
        if let Err(e) = r {
            let _ = out.send(Decoded::Failed(e));
            return;
        }
    }
}

fn default_allow() -> Value {
    let raw = json!({"kind": "Profile", "apiVersion": crate::model::kinds::API_VERSION,
        "metadata": {"name": "projectcalico-default-allow", "resourceVersion": "1"},
        "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}});
    crate::model::schema::schema()
        .decode("v3.Profile", &raw, false)
        .unwrap_or(raw)
}

/// The User-Agent of calicoctl's two Kubernetes clients; the API server records its first word
/// as the field manager of each write. The Calico CRD client sets none, so Go's default goes
/// out; the core client (Nodes) sends client-go's default, named after the program.
fn user_agent(path: &str) -> String {
    if path.starts_with("/apis/crd.projectcalico.org/")
        || path.starts_with("/apis/projectcalico.org/")
    {
        return "Go-http-client/2.0".into();
    }
    let program = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!(
        "{program}/v0.0.0 ({}/{arch}) kubernetes/$Format",
        std::env::consts::OS
    )
}

/// The text of a `Warning` header (`299 - "text"`), as client-go parses it; other codes and
/// malformed values give nothing.
fn warning_text(h: &str) -> Option<String> {
    let rest = h.strip_prefix("299 ")?;
    let (_agent, quoted) = rest.split_once(' ')?;
    let mut chars = quoted.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
}

/// Prints the API server's warnings as client-go's default handler does: one klog info line
/// per warning on stderr.
fn print_warnings(headers: &http::HeaderMap) {
    for h in headers.get_all(http::header::WARNING) {
        if let Some(t) = h.to_str().ok().and_then(warning_text) {
            crate::log::klog_info("warnings.go:107", &format!("Warning: {t}"));
        }
    }
}

/// A query value with everything but RFC 3986's unreserved characters percent-encoded.
fn urlencode(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const QUERY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, QUERY).to_string()
}

/// Go's `url.Error` operation name of an HTTP method (`Get`, `Post`, ...).
fn go_method(m: &http::Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_lowercase());
    out
}

/// A transport failure as Go's HTTP client reports it: `Get "<url>": <cause>`, the cause in
/// Go's words for the common cases (refused connection, unknown certificate authority).
fn go_url_error(op: String, server: &str, path: &str, e: &kube::Error) -> String {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let l = error_chain(e).to_lowercase();
    let cause = if l.contains("connection refused") {
        let authority = url
            .split_once("://")
            .map(|(_, r)| r.split('/').next().unwrap_or_default())
            .unwrap_or_default();
        format!("dial tcp {authority}: connect: connection refused")
    } else if l.contains("unknownissuer") || l.contains("unknown issuer") {
        "tls: failed to verify certificate: x509: certificate signed by unknown authority".into()
    } else {
        describe_kube_error(e)
    };
    format!("{op} {url:?}: {cause}")
}

/// An error and its sources, `: `-joined.
fn error_chain(e: &kube::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

fn describe_kube_error(e: &kube::Error) -> String {
    let s = error_chain(e);
    let l = s.to_lowercase();
    if l.contains("unknownissuer") || l.contains("unknown issuer") {
        "TLS: the server certificate is not signed by the configured CA (check k8sCAFile / the kubeconfig certificate-authority)".into()
    } else if l.contains("connection refused") {
        "connection refused".into()
    } else {
        s
    }
}

fn unsupported(op: &str, kind: &KindInfo, ns: &str, name: &str) -> DatastoreError {
    DatastoreError::Unsupported {
        operation: op.into(),
        id: resource_id(kind.kind, ns, name),
        // Workload endpoints are written only by the CNI plugin, in its patch mode.
        reason: if kind.hooks.kdd == KddMapping::Pod {
            ": unsupported PatchMode: patchModeUnspecified".into()
        } else {
            String::new()
        },
    }
}

#[async_trait]
impl Datastore for KddDatastore {
    fn backend(&self) -> Backend {
        Backend::Kubernetes
    }

    async fn get(&self, kind: &'static KindInfo, ns: &str, name: &str) -> Result<Value> {
        let id = resource_id(kind.kind, ns, name);
        match kind.hooks.kdd {
            KddMapping::K8sNode => {
                let n = self
                    .get_object(&format!("/api/v1/nodes/{name}"), &id)
                    .await?;
                Ok(k8s_node_to_calico(&n))
            }
            KddMapping::Pod => {
                // The name says which pod to read; the pod must then give back that name.
                let pod_name = wep_pod_name(name)?;
                let Some(pod_name) = pod_name else {
                    return Err(DatastoreError::NotFound {
                        id,
                        inner: "malformed WorkloadEndpoint name - unable to determine Pod name"
                            .into(),
                    });
                };
                let pod = self
                    .get_object(&format!("/api/v1/namespaces/{ns}/pods/{pod_name}"), &id)
                    .await?;
                pod_to_wep(&pod)?
                    .filter(|w| meta::name(w) == name)
                    .ok_or_else(|| DatastoreError::not_found(id))
            }
            KddMapping::NamespaceOrServiceAccount => {
                if name == "projectcalico-default-allow" {
                    return Ok(default_allow());
                }
                // The name decides which Kubernetes object backs the profile.
                let empty = || DatastoreError::Other("resource name may not be empty".into());
                if let Some(n) = name.strip_prefix("kns.") {
                    if n.is_empty() {
                        return Err(empty());
                    }
                    let ns_obj = self
                        .get_object(&format!("/api/v1/namespaces/{n}"), &id)
                        .await?;
                    return Ok(namespace_profile(&ns_obj));
                }
                if let Some(rest) = name.strip_prefix("ksa.") {
                    let Some((n, sa)) = rest.split_once('.') else {
                        return Err(DatastoreError::Other(format!(
                            "Profile {name} is not formatted correctly"
                        )));
                    };
                    if n.is_empty() || sa.is_empty() {
                        return Err(empty());
                    }
                    let o = self
                        .get_object(&format!("/api/v1/namespaces/{n}/serviceaccounts/{sa}"), &id)
                        .await?;
                    return Ok(serviceaccount_profile(&o));
                }
                Err(DatastoreError::Other(format!("Invalid name {name}")))
            }
            KddMapping::Crd | KddMapping::CrdRenamedInV1 { .. } => {
                let path =
                    self.crd_path(self.plural(kind), kind.namespaced.then_some(ns), Some(name));
                let cr = self.get_object(&path, &id).await?;
                Ok(self.decode_cr(kind, &cr))
            }
        }
    }

    async fn scan_pages(
        &self,
        kind: &'static KindInfo,
        opts: &ListOptions,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> Result<String> {
        let path = match kind.hooks.kdd {
            KddMapping::NamespaceOrServiceAccount => {
                // Synthesised from namespaces and service accounts; few, listed whole.
                return super::one_page(self.list(kind, opts).await?, f);
            }
            KddMapping::K8sNode => "/api/v1/nodes".to_string(),
            KddMapping::Pod => match opts.namespace.as_deref() {
                Some(n) => format!("/api/v1/namespaces/{n}/pods"),
                None => "/api/v1/pods".to_string(),
            },
            KddMapping::Crd | KddMapping::CrdRenamedInV1 { .. } => self.crd_path(
                self.plural(kind),
                opts.namespace.as_deref().filter(|_| kind.namespaced),
                None,
            ),
        };
        let prefix = opts.name_prefix.clone();
        let keep: Keep = Box::new(move |o: &Value| match &prefix {
            Some(p) => meta::name(o).starts_with(p.as_str()),
            None => true,
        });
        let mode = self.mode;
        let (items, convert): (_, Convert) = match kind.hooks.kdd {
            KddMapping::K8sNode => (
                Items {
                    mask: Some(&stream::NODE),
                    proto: Some(|b| Ok(Some(k8s_node_to_calico(&proto::node(b)?)))),
                },
                Box::new(|n| Some(k8s_node_to_calico(&n))),
            ),
            // As in calicoctl, a list leaves out the pods the converter cannot read (getting
            // one of them by name is an error).
            KddMapping::Pod => (
                Items {
                    mask: Some(&stream::POD),
                    proto: Some(|b| Ok(pod_view_to_wep(&proto::pod_view(b)?).ok().flatten())),
                },
                Box::new(|p| pod_to_wep(&p).ok().flatten()),
            ),
            KddMapping::Crd
            | KddMapping::CrdRenamedInV1 { .. }
            | KddMapping::NamespaceOrServiceAccount => (
                Items {
                    mask: None,
                    proto: None,
                },
                Box::new(move |c| Some(decode_cr_in(mode, kind, &c))),
            ),
        };
        self.stream_pages(&path, items, convert, keep, f).await
    }

    async fn list(&self, kind: &'static KindInfo, opts: &ListOptions) -> Result<ObjectList> {
        if kind.hooks.kdd == KddMapping::NamespaceOrServiceAccount {
            return self.list_profiles(opts.name_prefix.as_deref()).await;
        }
        // The API server lists namespaced objects by namespace then name; calicoctl prints the
        // same order, so nothing to sort.
        let mut items = Vec::new();
        let revision = self
            .scan_pages(kind, opts, &mut |_, page| {
                items.extend(page);
                Ok(())
            })
            .await?;
        Ok(ObjectList { items, revision })
    }

    async fn create(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let (ns, name) = (meta::namespace(obj), meta::name(obj));
        if !kind.hooks.kdd.is_crd() {
            return Err(unsupported("Create", kind, &ns, &name));
        }
        let mut cr = self.to_cr(kind, obj);
        if let Some(m) = cr.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("uid");
        }
        let path = self.crd_path(
            self.plural(kind),
            kind.namespaced.then_some(ns.as_str()),
            None,
        );
        let out = self
            .raw(http::Method::POST, &path, Some(&cr))
            .await
            .map_err(|e| self.map_err(e, Some(&resource_id(kind.kind, &ns, &name))))?;
        Ok(self.decode_cr(kind, &out))
    }

    async fn update(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let (ns, name) = (meta::namespace(obj), meta::name(obj));
        let id = resource_id(kind.kind, &ns, &name);
        match kind.hooks.kdd {
            KddMapping::K8sNode => {
                let cur = self
                    .get_object(&format!("/api/v1/nodes/{name}"), &id)
                    .await?;
                let updated = apply_calico_node(&cur, obj)?;
                // The status subresource, which calico-node's RBAC allows; metadata still
                // changes through it.
                let out = self
                    .raw(
                        http::Method::PUT,
                        &format!("/api/v1/nodes/{name}/status"),
                        Some(&updated),
                    )
                    .await
                    .map_err(|e| self.map_err(e, Some(&id)))?;
                Ok(k8s_node_to_calico(&out))
            }
            KddMapping::Pod | KddMapping::NamespaceOrServiceAccount => {
                Err(unsupported("Update", kind, &ns, &name))
            }
            KddMapping::Crd | KddMapping::CrdRenamedInV1 { .. } => {
                let cr = self.to_cr(kind, obj);
                let path = self.crd_path(
                    self.plural(kind),
                    kind.namespaced.then_some(ns.as_str()),
                    Some(&name),
                );
                let out = self
                    .raw(http::Method::PUT, &path, Some(&cr))
                    .await
                    .map_err(|e| self.map_err(e, Some(&id)))?;
                Ok(self.decode_cr(kind, &out))
            }
        }
    }

    async fn delete(
        &self,
        kind: &'static KindInfo,
        ns: &str,
        name: &str,
        _revision: Option<&str>,
    ) -> Result<Value> {
        match kind.hooks.kdd {
            // libcalico's node delete starts by listing the node's workload endpoints by the
            // name prefix `<node>-*`, which the Kubernetes workload endpoint client cannot
            // parse: on this datastore it always fails so, before touching anything.
            KddMapping::K8sNode => {
                return Err(DatastoreError::NotFound {
                    id: format!("WorkloadEndpoint({}-*)", escape_component(name)),
                    inner: "malformed WorkloadEndpoint name - unable to determine Pod name".into(),
                });
            }
            KddMapping::Pod => return self.delete_wep(ns, name).await,
            KddMapping::NamespaceOrServiceAccount => {
                return Err(unsupported("Delete", kind, ns, name));
            }
            KddMapping::Crd | KddMapping::CrdRenamedInV1 { .. } => {}
        }
        let cur = self.get(kind, ns, name).await?;
        let path = self.crd_path(self.plural(kind), kind.namespaced.then_some(ns), Some(name));
        self.raw(http::Method::DELETE, &path, None)
            .await
            .map_err(|e| self.map_err(e, Some(&resource_id(kind.kind, ns, name))))?;
        Ok(cur)
    }

    async fn ipam_get(&self, key: &IpamKey) -> Result<IpamKv> {
        let (plural, name) = self.ipam_location(key);
        let id = format!("{}({name})", Self::ipam_kind(key));
        let cr = self
            .get_object(&self.crd_path(plural, None, Some(&name)), &id)
            .await?;
        let kv = self.ipam_from_cr(key.clone(), &cr)?;
        if Self::is_soft_deleted(&kv.value) {
            // Another writer began deleting it: finish the job and report it gone.
            let _ = self.finish_delete(plural, &name, kv.uid.as_deref()).await;
            return Err(DatastoreError::NotFound {
                id,
                inner: "being deleted".into(),
            });
        }
        Ok(kv)
    }

    async fn ipam_list(&self, list: &IpamList) -> Result<Vec<IpamKv>> {
        let (plural, selector) = match list {
            IpamList::Blocks { .. } => ("ipamblocks", None),
            IpamList::Affinities { host, .. } => (
                "blockaffinities",
                host.as_ref()
                    .map(|h| format!("projectcalico.org/hostname-hash={}", hostname_hash(h))),
            ),
            IpamList::Handles => ("ipamhandles", None),
        };
        let (items, _) = self
            .list_all(&self.crd_path(plural, None, None), selector.as_deref())
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for cr in &items {
            let Some(key) = self.key_from_cr(plural, cr) else {
                continue;
            };
            let wanted = match (list, &key) {
                (IpamList::Blocks { version }, IpamKey::Block(c)) => {
                    version.is_none_or(|v| (v == 4) == c.addr().is_ipv4())
                }
                (
                    IpamList::Affinities { host, version },
                    IpamKey::Affinity { host: h, cidr, .. },
                ) => {
                    host.as_ref().is_none_or(|x| x == h)
                        && version.is_none_or(|v| (v == 4) == cidr.addr().is_ipv4())
                }
                (IpamList::Handles, IpamKey::Handle(_)) => true,
                _ => false,
            };
            if !wanted {
                continue;
            }
            let kv = self.ipam_from_cr(key, cr)?;
            if !Self::is_soft_deleted(&kv.value) {
                out.push(kv);
            }
        }
        Ok(out)
    }

    async fn ipam_create(&self, kv: &IpamKv) -> Result<IpamKv> {
        let (plural, name) = self.ipam_location(&kv.key);
        let mut cr = self.ipam_cr(kv);
        if let Some(m) = cr.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("uid");
        }
        let out = self
            .raw(
                http::Method::POST,
                &self.crd_path(plural, None, None),
                Some(&cr),
            )
            .await
            .map_err(|e| self.map_err(e, Some(&format!("{}({name})", Self::ipam_kind(&kv.key)))))?;
        self.ipam_from_cr(kv.key.clone(), &out)
    }

    async fn ipam_update(&self, kv: &IpamKv) -> Result<IpamKv> {
        let (plural, name) = self.ipam_location(&kv.key);
        let cr = self.ipam_cr(kv);
        let out = self
            .raw(
                http::Method::PUT,
                &self.crd_path(plural, None, Some(&name)),
                Some(&cr),
            )
            .await
            .map_err(|e| self.map_err(e, Some(&format!("{}({name})", Self::ipam_kind(&kv.key)))))?;
        self.ipam_from_cr(kv.key.clone(), &out)
    }

    async fn ipam_delete(&self, kv: &IpamKv) -> Result<()> {
        let (plural, name) = self.ipam_location(&kv.key);
        if kv.key == IpamKey::Config {
            return self
                .call(
                    http::Method::DELETE,
                    &self.crd_path(plural, None, Some(&name)),
                    None,
                )
                .await
                .map(|_| ());
        }
        // Soft delete: the CAS is the PUT with deleted=true; then delete with a UID precondition.
        let mut marked = kv.clone();
        Self::mark_deleted(&mut marked.value);
        let updated = self.ipam_update(&marked).await?;
        match self
            .finish_delete(plural, &name, updated.uid.as_deref())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn kube_services(&self) -> Result<Vec<Value>> {
        Ok(self.list_all("/api/v1/services", None).await?.0)
    }

    async fn kube_network_policies(&self) -> Result<Vec<Value>> {
        Ok(self
            .list_all("/apis/networking.k8s.io/v1/networkpolicies", None)
            .await?
            .0)
    }

    async fn kube_cluster_network_policies(&self) -> Result<Vec<Value>> {
        Ok(self
            .list_all(
                "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
                None,
            )
            .await?
            .0)
    }

    async fn ipam_put(&self, kv: &IpamKv) -> Result<IpamKv> {
        match self.ipam_get(&kv.key).await {
            Ok(cur) => {
                self.ipam_update(&IpamKv {
                    revision: cur.revision,
                    uid: cur.uid,
                    ..kv.clone()
                })
                .await
            }
            Err(e) if e.is_not_found() => self.ipam_create(kv).await,
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_keep_only_unreserved_characters() {
        assert_eq!(
            super::urlencode("app in (a b),x!=y/é~-_."),
            "app%20in%20%28a%20b%29%2Cx%21%3Dy%2F%C3%A9~-_."
        );
    }
}
