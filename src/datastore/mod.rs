//! The `Datastore` trait: the only door to etcd or the Kubernetes API.
//!
//! Backends store and fetch *canonical* v3 objects (see `model::schema`) and IPAM objects; they
//! know key layouts and encodings, nothing about tables or commands. Client-side rules that
//! calicoctl applies regardless of backend (defaults, validation, uid/creationTimestamp on
//! create) live one level up in [`client`].

pub mod certcheck;
pub mod client;
pub mod etcd;
pub mod kdd;

use async_trait::async_trait;
use serde_json::Value;

use crate::model::ipam::{IpamKv, IpamList};
use crate::model::kinds::KindInfo;

/// Which backend a datastore is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Etcd,
    Kubernetes,
}

/// Typed datastore failures. Texts follow libcalico-go's, which scripts match on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DatastoreError {
    #[error("resource does not exist: {id} with error: {inner}")]
    NotFound { id: String, inner: String },
    #[error("resource already exists: {id} with error: {inner}")]
    AlreadyExists { id: String, inner: String },
    #[error("update conflict: {id}")]
    Conflict { id: String },
    #[error("operation {operation} is not supported on {id}{reason}")]
    Unsupported {
        operation: String,
        id: String,
        /// Empty, or `: <why>`.
        reason: String,
    },
    /// Could not reach or talk to the datastore (refused, TLS, timeout…): names the endpoint.
    #[error("{0}")]
    Connection(String),
    /// The server refused for lack of permission (Kubernetes 401/403).
    #[error("{0}")]
    Unauthorized(String),
    /// A stored value could not be decoded.
    #[error("{0}")]
    Corrupt(String),
    /// Client-side validation failed (libcalico's `ErrorValidation`).
    #[error("{0}")]
    Validation(crate::model::validate::ValidationError),
    /// A Kubernetes object that does not convert to or from its Calico form.
    #[error("{0}")]
    Convert(#[from] kdd::convert::ConvertError),
    #[error("{0}")]
    Other(String),
}

/// Whether an error text is one of the etcd backend's connection failures. They name the
/// endpoints, not a resource, so a batch that failed for that reason repeats the same text for
/// every object.
pub fn is_connection_failure(text: &str) -> bool {
    text.starts_with("error connecting to etcd at ")
        || (text.starts_with("etcd at ") && text.contains(" did not answer within "))
}

impl DatastoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, DatastoreError::NotFound { .. })
    }
    pub fn is_already_exists(&self) -> bool {
        matches!(self, DatastoreError::AlreadyExists { .. })
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, DatastoreError::Conflict { .. })
    }
    pub fn is_unsupported(&self) -> bool {
        matches!(self, DatastoreError::Unsupported { .. })
    }
    /// A NotFound for a resource on etcd (whose inner error Go prints as `<nil>`).
    pub fn not_found(id: String) -> Self {
        DatastoreError::NotFound {
            id,
            inner: "<nil>".to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, DatastoreError>;

/// Why a datastore client could not be built; the texts are libcalico-go's (etcd settings)
/// and client-go's (Kubernetes configuration).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "multiple discovery or bootstrap options specified, use either \"etcdEndpoints\" or \"etcdDiscoverySrv\""
    )]
    EndpointsAndDiscovery,
    #[error("no etcd endpoints specified")]
    NoEndpoints,
    #[error("Cannot mix inline certificate-key and certificate / key files")]
    MixedCertificates,
    #[error(
        "failed to discover etcd endpoints through SRV discovery: SRV discovery of {0} is not supported by this build; set etcdEndpoints"
    )]
    SrvDiscovery(String),
    #[error("could not initialize etcdv3 client: {0}")]
    Etcd(DatastoreError),
    #[error(transparent)]
    Kubernetes(#[from] kdd::KubeConfigError),
    #[error("unknown datastore type: {0}")]
    UnknownType(String),
}

/// Builds a client for the configured datastore, either backend, with calicoctl's texts for
/// invalid etcd settings.
pub async fn connect(
    spec: &crate::config::Spec,
    timeout: std::time::Duration,
) -> std::result::Result<client::Client, ConnectError> {
    match spec.datastore_type.as_str() {
        "etcdv3" => {
            if !spec.etcd_endpoints.is_empty() && !spec.etcd_discovery_srv.is_empty() {
                return Err(ConnectError::EndpointsAndDiscovery);
            }
            if spec.etcd_endpoints.is_empty() && spec.etcd_discovery_srv.is_empty() {
                return Err(ConnectError::NoEndpoints);
            }
            let inline = !spec.etcd_key.is_empty()
                || !spec.etcd_cert.is_empty()
                || !spec.etcd_ca_cert.is_empty();
            let files = !spec.etcd_key_file.is_empty()
                || !spec.etcd_cert_file.is_empty()
                || !spec.etcd_ca_cert_file.is_empty();
            if inline && files {
                return Err(ConnectError::MixedCertificates);
            }
            if !spec.etcd_discovery_srv.is_empty() {
                return Err(ConnectError::SrvDiscovery(spec.etcd_discovery_srv.clone()));
            }
            let settings = etcd::EtcdSettings {
                endpoints: spec
                    .etcd_endpoints
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                username: spec.etcd_username.clone(),
                password: spec.etcd_password.clone(),
                ca_file: spec.etcd_ca_cert_file.clone(),
                cert_file: spec.etcd_cert_file.clone(),
                key_file: spec.etcd_key_file.clone(),
                ca_pem: spec.etcd_ca_cert.clone(),
                cert_pem: spec.etcd_cert.clone(),
                key_pem: spec.etcd_key.clone(),
                timeout,
            };
            let ds = etcd::EtcdDatastore::connect(&settings)
                .await
                .map_err(ConnectError::Etcd)?;
            Ok(client::Client::new(std::sync::Arc::new(ds)))
        }
        "kubernetes" => Ok(connect_kubernetes(spec, timeout).await?),
        other => Err(ConnectError::UnknownType(other.to_string())),
    }
}

/// Builds a client for the Kubernetes datastore.
pub async fn connect_kubernetes(
    spec: &crate::config::Spec,
    timeout: std::time::Duration,
) -> std::result::Result<client::Client, kdd::KubeConfigError> {
    // kube's TLS stack needs a process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ds = kdd::KddDatastore::connect(spec, timeout).await?;
    Ok(client::Client::new(std::sync::Arc::new(ds)))
}

/// Hands a whole list to a `scan_pages` visitor as its only page (lists that are not paged,
/// or kinds synthesised in memory). Returns the list revision.
pub fn one_page(
    l: ObjectList,
    f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
) -> Result<String> {
    f(&l.revision, l.items)?;
    Ok(l.revision)
}

/// `Kind(name)` or `Kind(namespace/name)` as libcalico prints resource identifiers.
pub fn resource_id(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind}({name})")
    } else {
        format!("{kind}({namespace}/{name})")
    }
}

/// A JSON string decoded without a copy unless it has escapes (for typed, borrowed decoding
/// of stored values).
pub struct JsonStr<'a>(pub std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = JsonStr<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<JsonStr<'a>, E> {
                Ok(JsonStr(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<JsonStr<'a>, E> {
                Ok(JsonStr(s.to_string().into()))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// The fields of a stored WorkloadEndpoint that whole-store scans read (`ipam check`'s owners,
/// the policy loader's peer picking), decoded borrowed from the stored bytes.
#[derive(serde::Deserialize)]
pub struct StoredWep<'a> {
    #[serde(borrow, default)]
    pub spec: Option<StoredWepSpec<'a>>,
}

#[derive(serde::Deserialize)]
pub struct StoredWepSpec<'a> {
    #[serde(borrow, default)]
    pub pod: Option<JsonStr<'a>>,
    #[serde(borrow, default, rename = "ipNetworks")]
    pub ip_networks: Option<Vec<JsonStr<'a>>>,
}

/// A listed set of objects plus the store revision they were read at.
#[derive(Debug, Clone, Default)]
pub struct ObjectList {
    pub items: Vec<Value>,
    pub revision: String,
}

/// Which objects of a kind to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `None` = all namespaces (or a cluster-scoped kind).
    pub namespace: Option<String>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
}

/// Felix's status report of one host (etcd only), for stale-node evidence.
#[derive(Debug, Clone)]
pub struct FelixReport {
    pub host: String,
    pub key: String,
    /// The `time` field as written by Felix.
    pub time: String,
}

/// The storage operations every backend implements.
#[async_trait]
pub trait Datastore: Send + Sync {
    fn backend(&self) -> Backend;

    // ---- capabilities: what differs between backends, asked instead of naming the backend ----

    /// The store is a Kubernetes API server: its nodes, pods, services and network policies
    /// are at hand.
    fn is_kubernetes_api(&self) -> bool {
        self.backend() == Backend::Kubernetes
    }
    /// Calico Nodes and WorkloadEndpoints are stored objects of their own (not views of
    /// Kubernetes nodes and pods): calicoctl deletes them, with libcalico's node cleanup.
    fn owns_nodes_and_workloads(&self) -> bool {
        self.backend() == Backend::Etcd
    }
    /// Many creates go in one multi-object transaction, so batching them pays off.
    fn batches_creates(&self) -> bool {
        self.backend() == Backend::Etcd
    }
    /// Felix writes its status reports here.
    fn keeps_felix_reports(&self) -> bool {
        self.backend() == Backend::Etcd
    }
    /// Several IPAM objects can be read and compare-and-swapped in one transaction.
    fn has_ipam_transactions(&self) -> bool {
        self.backend() == Backend::Etcd
    }

    /// One object; `namespace` is empty for cluster-scoped kinds.
    async fn get(&self, kind: &'static KindInfo, namespace: &str, name: &str) -> Result<Value>;
    /// All objects of a kind (optionally one namespace / a name prefix).
    async fn list(&self, kind: &'static KindInfo, opts: &ListOptions) -> Result<ObjectList>;
    /// Visits the objects `list` would return, one at a time; backends read page by page so a
    /// caller keeping a digest holds one page, not the whole kind. Returns the list revision.
    async fn scan(
        &self,
        kind: &'static KindInfo,
        opts: &ListOptions,
        f: &mut (dyn FnMut(Value) -> Result<()> + Send),
    ) -> Result<String> {
        self.scan_pages(kind, opts, &mut |_, page| {
            for o in page {
                f(o)?;
            }
            Ok(())
        })
        .await
    }
    /// The objects of `list` one page at a time, each page with the list revision (the same
    /// for every page, known before the first item — streamed output prints it first). A page
    /// may be empty. Returns the list revision.
    async fn scan_pages(
        &self,
        kind: &'static KindInfo,
        opts: &ListOptions,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> Result<String> {
        one_page(self.list(kind, opts).await?, f)
    }
    /// The stored JSON of every object of a kind, with the namespace and name its key gives,
    /// for readers that decode the few fields they need themselves (`ipam check` reads every
    /// WorkloadEndpoint). Values that are not JSON are passed on too: the reader skips what it
    /// cannot decode, as `scan` does. `Ok(false)`, having visited nothing, when the backend
    /// keeps no such form: the caller then uses `scan`.
    async fn scan_stored(
        &self,
        kind: &'static KindInfo,
        f: &mut (dyn for<'r> FnMut(&'r str, &'r str, &'r [u8]) -> Result<()> + Send),
    ) -> Result<bool> {
        let _ = (kind, f);
        Ok(false)
    }
    /// Creates a canonical object (must not carry a resourceVersion); returns it as stored.
    async fn create(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value>;
    /// Compare-and-swap update on `metadata.resourceVersion`.
    async fn update(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value>;
    /// Deletes one object, optionally only at a given revision; returns the deleted object.
    async fn delete(
        &self,
        kind: &'static KindInfo,
        namespace: &str,
        name: &str,
        revision: Option<&str>,
    ) -> Result<Value>;

    /// Several creates; each result in input order. Backends may batch them (etcd: one txn
    /// per chunk of independent keys) — the default does them one by one.
    async fn create_many(&self, kind_objs: &[(&'static KindInfo, Value)]) -> Vec<Result<Value>> {
        let mut out = Vec::with_capacity(kind_objs.len());
        for (k, o) in kind_objs {
            out.push(self.create(k, o).await);
        }
        out
    }

    /// Several gets (kind, namespace, name); each result in input order. Backends may answer
    /// in few requests (etcd: a read-only transaction per chunk) — the default reads one by one.
    async fn get_many(&self, ids: &[(&'static KindInfo, String, String)]) -> Vec<Result<Value>> {
        let mut out = Vec::with_capacity(ids.len());
        for (k, ns, name) in ids {
            out.push(self.get(k, ns, name).await);
        }
        out
    }

    /// Several compare-and-swap updates; each result in input order, as `update` would give
    /// it. Backends may batch them (etcd: one transaction per chunk when none conflicts) — the
    /// default does them one by one.
    async fn update_many(&self, kind_objs: &[(&'static KindInfo, Value)]) -> Vec<Result<Value>> {
        let mut out = Vec::with_capacity(kind_objs.len());
        for (k, o) in kind_objs {
            out.push(self.update(k, o).await);
        }
        out
    }

    async fn ipam_get(&self, key: &crate::model::ipam::IpamKey) -> Result<IpamKv>;
    async fn ipam_list(&self, list: &IpamList) -> Result<Vec<IpamKv>>;
    /// Several gets; `None` for absent keys. Backends may answer in one request (etcd: a
    /// read-only transaction per 120 keys, all at one revision).
    async fn ipam_get_many(
        &self,
        keys: &[crate::model::ipam::IpamKey],
    ) -> Result<Vec<Option<IpamKv>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            match self.ipam_get(k).await {
                Ok(kv) => out.push(Some(kv)),
                Err(e) if e.is_not_found() => out.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
    /// Visits the same objects as `ipam_list` one at a time, so callers that only need a digest
    /// keep memory proportional to their output; backends read page by page and drop each page.
    async fn ipam_scan(
        &self,
        list: &IpamList,
        f: &mut (dyn FnMut(IpamKv) -> Result<()> + Send),
    ) -> Result<()> {
        for kv in self.ipam_list(list).await? {
            f(kv)?;
        }
        Ok(())
    }
    /// Create-if-absent.
    async fn ipam_create(&self, kv: &IpamKv) -> Result<IpamKv>;
    /// CAS on `kv.revision`.
    async fn ipam_update(&self, kv: &IpamKv) -> Result<IpamKv>;
    /// CAS delete on `kv.revision` (Kubernetes: soft delete + UID precondition).
    async fn ipam_delete(&self, kv: &IpamKv) -> Result<()>;
    /// All-or-nothing: every `deletes` and `updates` entry is compare-and-swapped on its
    /// revision in one transaction. `Ok(false)` when any revision moved (nothing written).
    /// Backends without multi-key transactions return `Unsupported`; callers then fall back to
    /// one CAS per object.
    async fn ipam_txn(&self, deletes: &[IpamKv], updates: &[IpamKv]) -> Result<bool> {
        let _ = (deletes, updates);
        Err(DatastoreError::Unsupported {
            operation: "ipam_txn".into(),
            id: "this datastore".into(),
            reason: String::new(),
        })
    }
    /// Unconditional write (IPAM config is written this way upstream).
    async fn ipam_put(&self, kv: &IpamKv) -> Result<IpamKv>;

    /// Every Kubernetes Service of the cluster (`ipam check` counts the LoadBalancer addresses
    /// Calico assigned). Only the Kubernetes backend has them.
    async fn kube_services(&self) -> Result<Vec<Value>> {
        Err(DatastoreError::Unsupported {
            operation: "list Services".into(),
            id: "this datastore".into(),
            reason: String::new(),
        })
    }

    /// Every Kubernetes `networking.k8s.io/v1` NetworkPolicy (Felix sees them as
    /// `KubernetesNetworkPolicy` in KDD mode). Only the Kubernetes backend has them.
    async fn kube_network_policies(&self) -> Result<Vec<Value>> {
        Err(DatastoreError::Unsupported {
            operation: "list NetworkPolicies".into(),
            id: "this datastore".into(),
            reason: String::new(),
        })
    }

    /// Every Kubernetes `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy (Felix sees
    /// them as `KubernetesClusterNetworkPolicy` in tiers kube-admin / kube-baseline). Only the
    /// Kubernetes backend has them.
    async fn kube_cluster_network_policies(&self) -> Result<Vec<Value>> {
        Err(DatastoreError::Unsupported {
            operation: "list ClusterNetworkPolicies".into(),
            id: "this datastore".into(),
            reason: String::new(),
        })
    }

    /// Felix status reports; backends without them return an empty list.
    async fn felix_reports(&self) -> Result<Vec<FelixReport>> {
        Ok(Vec::new())
    }

    /// Writes a Felix status report for `host` (etcd only; for data generation and tests).
    async fn put_felix_report(&self, host: &str, time: &str) -> Result<()> {
        let _ = (host, time);
        Err(DatastoreError::Unsupported {
            operation: "put_felix_report".into(),
            id: "this datastore".into(),
            reason: String::new(),
        })
    }

    /// Deletes every Felix status key of `host` (etcd only); returns how many keys went.
    /// `known` are keys of that host already read (e.g. its status reports): their host
    /// directories are deleted without reading the Felix keyspace again.
    async fn delete_felix_keys(&self, host: &str, known: &[String]) -> Result<usize> {
        let _ = (host, known);
        Ok(0)
    }
}
