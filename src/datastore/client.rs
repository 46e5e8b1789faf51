//! The libcalico-go "clientv3" layer: what every write goes through regardless of backend —
//! defaults, validation, uid/creationTimestamp on create, cross-object checks (pool overlap,
//! tier existence) and `EnsureInitialized`.

use std::sync::Arc;

use ipnet::IpNet;
use serde_json::{Value, json};

use super::etcd::{DEFAULT_ALLOW_PROFILE, is_default_allow};
use super::{Backend, Datastore, DatastoreError, ListOptions, ObjectList, Result, resource_id};
use crate::model::kinds::{API_VERSION, ClientRule, KindId, KindInfo, TIERED_POLICY_KINDS, str_at};
use crate::model::meta;
use crate::model::schema::schema;
use crate::model::validate::{
    FieldError, ValidationError, apply_defaults, apply_defaults_with, assign_wep_name,
    default_and_validate, wep_storage_labels,
};

/// The built-in tiers and their orders (v3.32).
pub const DEFAULT_TIERS: &[(&str, f64, Option<&str>)] = &[
    ("default", 1_000_000.0, None),
    ("kube-admin", 1_000.0, Some("Pass")),
    ("kube-baseline", 10_000_000.0, Some("Pass")),
];

/// A datastore plus libcalico's client-side semantics.
#[derive(Clone)]
pub struct Client {
    ds: Arc<dyn Datastore>,
}

fn invalid(name: &str, value: &str, reason: &str) -> DatastoreError {
    DatastoreError::Validation(ValidationError(vec![FieldError {
        name: name.to_string(),
        value: Some(value.to_string()),
        reason: reason.to_string(),
    }]))
}

fn default_allow_unsupported(operation: &str, done: &str) -> DatastoreError {
    DatastoreError::Unsupported {
        operation: operation.into(),
        id: DEFAULT_ALLOW_PROFILE.into(),
        reason: format!(
            ": The profile \"{DEFAULT_ALLOW_PROFILE}\" is a default provided by Calico and cannot be {done}"
        ),
    }
}

impl Client {
    pub fn new(ds: Arc<dyn Datastore>) -> Self {
        Client { ds }
    }

    /// The backend, for the layers that work on storage itself (IPAM, node cleanup, policy
    /// evaluation, migration's verbatim copies) and for its capabilities; CRUD with libcalico's
    /// rules goes through the client's own methods.
    pub fn datastore(&self) -> &Arc<dyn Datastore> {
        &self.ds
    }

    /// Stores objects already through [`Client::prepare_create`], in the backend's batches
    /// (etcd: transactions of independent keys); each result in input order.
    pub async fn create_prepared_many(
        &self,
        kind_objs: &[(&'static KindInfo, Value)],
    ) -> Vec<Result<Value>> {
        self.ds.create_many(kind_objs).await
    }

    /// Compare-and-swap updates of objects already through [`Client::prepare_update`], in the
    /// backend's batches; each result in input order.
    pub async fn update_prepared_many(
        &self,
        kind_objs: &[(&'static KindInfo, Value)],
    ) -> Vec<Result<Value>> {
        self.ds.update_many(kind_objs).await
    }

    /// Whether writes get the v3 CRD schema defaults and rules: calicoctl applies them itself
    /// only in etcd mode (on Kubernetes the API server owns them), for every kind.
    fn crd_checks(&self) -> bool {
        self.ds.backend() != Backend::Kubernetes
    }

    pub async fn get(&self, kind: &'static KindInfo, ns: &str, name: &str) -> Result<Value> {
        let mut v = self.ds.get(kind, ns, name).await?;
        read_defaults(kind, &mut v);
        Ok(v)
    }

    /// Several `get`s, batched by the backend.
    pub async fn get_many(
        &self,
        ids: &[(&'static KindInfo, String, String)],
    ) -> Vec<Result<Value>> {
        let mut out = self.ds.get_many(ids).await;
        for ((kind, _, _), r) in ids.iter().zip(&mut out) {
            if let Ok(v) = r {
                read_defaults(kind, v);
            }
        }
        out
    }

    pub async fn list(&self, kind: &'static KindInfo, opts: &ListOptions) -> Result<ObjectList> {
        let mut l = self.ds.list(kind, opts).await?;
        for v in &mut l.items {
            read_defaults(kind, v);
        }
        if kind.hooks.client == ClientRule::Tier {
            // calicoctl lists tiers by order, nil orders last (stable).
            l.items.sort_by(|a, b| {
                let oa = a
                    .get("spec")
                    .and_then(|s| s.get("order"))
                    .and_then(Value::as_f64);
                let ob = b
                    .get("spec")
                    .and_then(|s| s.get("order"))
                    .and_then(Value::as_f64);
                match (oa, ob) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            });
        }
        Ok(l)
    }

    /// Whether `scan_pages` yields objects in `list`'s order (Tiers are sorted after reading).
    pub fn streams_in_order(kind: &KindInfo) -> bool {
        kind.hooks.client != ClientRule::Tier
    }

    /// `list` one page at a time with read defaults applied (see `Datastore::scan_pages`);
    /// callers check [`Client::streams_in_order`] when order matters.
    pub async fn scan_pages(
        &self,
        kind: &'static KindInfo,
        opts: &ListOptions,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> Result<String> {
        self.ds
            .scan_pages(kind, opts, &mut |rv, mut page| {
                for v in &mut page {
                    read_defaults(kind, v);
                }
                f(rv, page)
            })
            .await
    }

    /// Defaults + validation + identity, without writing (used by create and dry runs).
    pub async fn prepare_create(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        // libcalico looks for a policy's tier before anything else.
        if kind.is_tiered() {
            self.check_tier_exists(obj).await?;
        }
        if kind.hooks.client == ClientRule::BgpPeer {
            self.check_filters_exist(obj).await?;
        }
        let rv = meta::resource_version(obj);
        if !rv.is_empty() {
            return Err(invalid(
                "Metadata.ResourceVersion",
                &rv,
                "field must not be set for a Create request",
            ));
        }
        let mut o = obj.clone();
        if kind.hooks.client == ClientRule::IpPool {
            self.check_pool(kind, &mut o, None).await?;
        }
        self.write_rules(kind, &mut o, None)?;
        if meta::meta_str(&o, "uid").is_empty() {
            meta::set_meta_str(&mut o, "uid", Some(&uuid::Uuid::new_v4().to_string()));
        }
        if meta::meta_str(&o, "creationTimestamp").is_empty() {
            meta::set_meta_str(
                &mut o,
                "creationTimestamp",
                Some(&crate::model::gotypes::now_rfc3339()),
            );
        }
        Ok(o)
    }

    pub async fn create(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let o = self.prepare_create(kind, obj).await?;
        if is_default_allow(kind, &meta::name(&o)) {
            let name = DEFAULT_ALLOW_PROFILE;
            return Err(DatastoreError::AlreadyExists {
                id: name.into(),
                inner: format!(
                    "{name} already exists. The profile \"{name}\" is default provided by Calico"
                ),
            });
        }
        if kind.hooks.client == ClientRule::Node {
            self.ensure_initialized().await;
        }
        self.ds.create(kind, &o).await
    }

    /// The per-object rules of a create or update: defaults and validation, then what
    /// libcalico adds for storage. `old` is the stored object an update replaces.
    fn write_rules(&self, kind: &KindInfo, o: &mut Value, old: Option<&Value>) -> Result<()> {
        let etcd = self.crd_checks();
        if etcd && kind.hooks.client == ClientRule::WorkloadEndpoint {
            assign_wep_name(o).map_err(DatastoreError::Validation)?;
        }
        default_and_validate(kind, o, etcd, old).map_err(DatastoreError::Validation)?;
        check_singleton(kind, o)?;
        if etcd && kind.hooks.client == ClientRule::WorkloadEndpoint {
            wep_storage_labels(o);
        }
        Ok(())
    }

    /// Defaults + validation for an update, without writing.
    pub async fn prepare_update(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let mut o = obj.clone();
        // The CRDs' transition rules compare with the stored object (only IPPool has any).
        let old = if kind.hooks.client == ClientRule::IpPool {
            match self
                .ds
                .get(kind, &meta::namespace(&o), &meta::name(&o))
                .await
            {
                Ok(cur) => Some(cur),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        if kind.hooks.client == ClientRule::IpPool {
            self.check_pool(kind, &mut o, old.as_ref()).await?;
        }
        if kind.hooks.client == ClientRule::BgpPeer {
            self.check_filters_exist(&o).await?;
        }
        self.write_rules(kind, &mut o, old.as_ref())?;
        let rv = meta::resource_version(&o);
        if rv.is_empty() {
            return Err(invalid(
                "Metadata.ResourceVersion",
                "",
                "field must be set for an Update request",
            ));
        }
        // Unlike a create, an update does not look for the policy's tier.
        Ok(o)
    }

    pub async fn update(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let o = self.prepare_update(kind, obj).await?;
        if is_default_allow(kind, &meta::name(&o)) {
            return Err(default_allow_unsupported("Update", "updated"));
        }
        self.ds.update(kind, &o).await
    }

    pub async fn delete(
        &self,
        kind: &'static KindInfo,
        ns: &str,
        name: &str,
        revision: Option<&str>,
    ) -> Result<Value> {
        if is_default_allow(kind, name) {
            return Err(default_allow_unsupported("Delete", "deleted"));
        }
        if kind.hooks.client == ClientRule::Tier {
            self.check_tier_delete(name).await?;
        }
        self.ds.delete(kind, ns, name, revision).await
    }

    /// libcalico's tier rules: the three tiers Calico creates stay, and so does a tier that
    /// still holds a policy of any of the four tiered kinds.
    async fn check_tier_delete(&self, name: &str) -> Result<()> {
        let refuse = |operation: &str, reason: String| DatastoreError::Unsupported {
            operation: operation.into(),
            id: name.to_string(),
            reason: format!(": {reason}"),
        };
        if matches!(name, "default" | "kube-admin" | "kube-baseline") {
            return Err(refuse("Delete", format!("Cannot delete {name} tier")));
        }
        for k in TIERED_POLICY_KINDS {
            let policies = self.ds.list(k.info(), &ListOptions::default()).await?;
            if policies
                .items
                .iter()
                .any(|p| str_at(p, &["spec", "tier"]) == name)
            {
                return Err(refuse("delete", "Cannot delete a non-empty tier".into()));
            }
        }
        Ok(())
    }

    /// The BGPFilters a peer names must exist; libcalico checks this before validating and
    /// names the missing ones in order (repeats included).
    async fn check_filters_exist(&self, o: &Value) -> Result<()> {
        let names: Vec<String> = o
            .get("spec")
            .and_then(|s| s.get("filters"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(crate::gocompat::gofmt::go_v).collect())
            .unwrap_or_default();
        if names.is_empty() {
            return Ok(());
        }
        let fk = KindId::BGPFilter.info();
        let mut missing = Vec::new();
        for n in names {
            match self.ds.get(fk, "", &n).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => missing.push(n),
                Err(e) => return Err(e),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(invalid(
            "BGPPeer.Spec.Filters",
            &format!("[{}]", missing.join(" ")),
            "BGPFilter(s) not found",
        ))
    }

    /// A created policy's tier must exist. Like every rule that reads another kind, this is
    /// listed in the kind's `hooks.reads`, or commands may run the two writes concurrently.
    async fn check_tier_exists(&self, o: &Value) -> Result<()> {
        let tier = str_at(o, &["spec", "tier"]);
        let tier = if tier.is_empty() {
            "default".to_string()
        } else {
            tier
        };
        let tk = KindId::Tier.info();
        match self.ds.get(tk, "", &tier).await {
            Ok(_) => Ok(()),
            // The default tier is created on demand, as EnsureInitialized would have.
            Err(e) if e.is_not_found() && tier == "default" => {
                self.ensure_tiers().await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// libcalico's IPPool client checks, before the validator: a missing or unparsable CIDR
    /// stops at once; the field checks (block size, overlap, modes, masking, link-local) are
    /// reported together; only then an immutable-field change or a block-size conflict.
    /// Applies the pool defaults these checks rely on.
    async fn check_pool(&self, kind: &KindInfo, o: &mut Value, old: Option<&Value>) -> Result<()> {
        let fail = |errs: Vec<FieldError>| Err(DatastoreError::Validation(ValidationError(errs)));
        let cidr_s = str_at(o, &["spec", "cidr"]);
        if cidr_s.is_empty() {
            return fail(vec![FieldError {
                name: "IPPool.Spec.CIDR".into(),
                value: None,
                reason: "IPPool CIDR must be specified".into(),
            }]);
        }
        let Ok(cidr) = cidr_s.parse::<IpNet>() else {
            return Err(invalid(
                "IPPool.Spec.CIDR",
                &cidr_s,
                "IPPool CIDR must be a valid subnet",
            ));
        };
        // Go normalises the CIDR first: every later text shows the masked one.
        let masked = cidr != cidr.trunc();
        let cidr = cidr.trunc();
        apply_defaults_with(kind, o, false);
        let spec = o.get("spec").cloned().unwrap_or(Value::Null);
        let bs = spec.get("blockSize").and_then(Value::as_i64).unwrap_or(0);
        let overlap = self.pool_overlap(o, cidr).await?;
        let errs = crate::model::structval::ippool_client_fields(o, cidr, masked, overlap, old);
        if !errs.is_empty() {
            return fail(errs);
        }
        if let Some(old) = old
            && str_at(old, &["spec", "cidr"]) != cidr.to_string()
        {
            return Err(invalid(
                "IPPool.Spec.CIDR",
                &cidr.to_string(),
                "IPPool CIDR cannot be modified",
            ));
        }
        if self.blocks_conflict(cidr, bs).await? {
            return Err(invalid(
                "IPPool.Spec.BlockSize",
                &bs.to_string(),
                "IPPool blocksSize conflicts with existing allocations that use a different blockSize",
            ));
        }
        // A stored pool without a block size (made outside calicoctl) takes any.
        if let Some(ob) = old
            .and_then(|o| o.get("spec"))
            .and_then(|s| s.get("blockSize"))
            .and_then(Value::as_i64)
            && ob != bs
        {
            return Err(invalid(
                "IPPool.Spec.BlockSize",
                &bs.to_string(),
                "IPPool BlockSize cannot be modified",
            ));
        }
        Ok(())
    }

    /// Whether IPAM blocks inside `cidr` use another block size.
    async fn blocks_conflict(&self, cidr: IpNet, block_size: i64) -> Result<bool> {
        let version = if cidr.addr().is_ipv4() { 4 } else { 6 };
        let blocks = self
            .ds
            .ipam_list(&crate::model::ipam::IpamList::Blocks {
                version: Some(version),
            })
            .await?;
        Ok(blocks.iter().any(|kv| match &kv.key {
            crate::model::ipam::IpamKey::Block(b) => {
                (cidr.contains(&b.network()) || b.contains(&cidr.network()))
                    && i64::from(b.prefix_len()) != block_size
            }
            _ => false,
        }))
    }

    /// The first other pool whose CIDR overlaps `cidr`.
    async fn pool_overlap(&self, o: &Value, new: IpNet) -> Result<Option<FieldError>> {
        let pk = KindId::IPPool.info();
        let pools = self.ds.list(pk, &ListOptions::default()).await?;
        for p in pools
            .items
            .iter()
            .filter(|p| meta::name(p) != meta::name(o))
        {
            if let Ok(other) = str_at(p, &["spec", "cidr"]).parse::<IpNet>()
                && (other.contains(&new.network()) || new.contains(&other.network()))
            {
                return Ok(Some(FieldError {
                    name: "IPPool.Spec.CIDR".into(),
                    value: Some(new.to_string()),
                    reason: format!(
                        "IPPool({}) CIDR overlaps with IPPool({}) CIDR {}",
                        meta::name(o),
                        meta::name(p),
                        other
                    ),
                }));
            }
        }
        Ok(None)
    }

    /// Best-effort `EnsureInitialized`: ClusterInformation `default` and the built-in tiers.
    /// Errors are ignored, as in calicoctl.
    pub async fn ensure_initialized(&self) {
        let ci = KindId::ClusterInformation.info();
        // libcalico appends the datastore's own cluster type, `kdd`, on Kubernetes.
        let own_type = (self.ds.backend() == Backend::Kubernetes).then_some("kdd");
        match self.ds.get(ci, "", "default").await {
            Err(e) if e.is_not_found() => {
                let guid = uuid::Uuid::new_v4().simple().to_string();
                let mut raw = json!({
                    "kind": ci.kind,
                    "apiVersion": API_VERSION,
                    "metadata": {"name": "default", "uid": uuid::Uuid::new_v4().to_string(),
                                 "creationTimestamp": crate::model::gotypes::now_rfc3339()},
                    "spec": {"clusterGUID": guid, "datastoreReady": true}
                });
                if let Some(t) = own_type {
                    raw["spec"]["clusterType"] = json!(t);
                }
                if let Ok(obj) = schema().decode("v3.ClusterInformation", &raw, false) {
                    let _ = self.ds.create(ci, &obj).await;
                }
            }
            Ok(mut cur) => {
                let mut changed = false;
                if let Some(spec) = cur.get_mut("spec").and_then(Value::as_object_mut) {
                    if spec
                        .get("clusterGUID")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .is_empty()
                    {
                        spec.insert(
                            "clusterGUID".into(),
                            uuid::Uuid::new_v4().simple().to_string().into(),
                        );
                        changed = true;
                    }
                    if spec.get("datastoreReady").is_none_or(Value::is_null) {
                        spec.insert("datastoreReady".into(), Value::Bool(true));
                        changed = true;
                    }
                    if let Some(t) = own_type {
                        let cur = spec
                            .get("clusterType")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        let mut types: Vec<&str> = if cur.is_empty() {
                            Vec::new()
                        } else {
                            cur.split(',').collect()
                        };
                        if !types.contains(&t) {
                            types.push(t);
                            spec.insert("clusterType".into(), json!(types.join(",")));
                            changed = true;
                        }
                    }
                }
                if changed && let Ok(obj) = schema().decode("v3.ClusterInformation", &cur, false) {
                    let _ = self.ds.update(ci, &obj).await;
                }
            }
            Err(_) => {}
        }
        self.ensure_tiers().await;
    }

    async fn ensure_tiers(&self) {
        let tk = KindId::Tier.info();
        // Created blindly, as libcalico does: an existing tier makes the create fail, but on
        // Kubernetes the API server still answers with its warnings, which calicoctl prints.
        for (name, order, action) in DEFAULT_TIERS {
            let mut spec = json!({ "order": order });
            if let Some(a) = action {
                spec["defaultAction"] = json!(a);
            }
            let mut obj = json!({
                "kind": tk.kind, "apiVersion": API_VERSION,
                "metadata": {"name": name, "uid": uuid::Uuid::new_v4().to_string(),
                             "creationTimestamp": crate::model::gotypes::now_rfc3339()},
                "spec": spec
            });
            apply_defaults(tk, &mut obj);
            let _ = self.ds.create(tk, &obj).await;
        }
    }

    /// The resource id for messages.
    pub fn id_of(kind: &KindInfo, obj: &Value) -> String {
        resource_id(kind.kind, &meta::namespace(obj), &meta::name(obj))
    }
}

/// libcalico keeps one KubeControllersConfiguration, named `default` (checked after validation).
fn check_singleton(kind: &KindInfo, o: &Value) -> Result<()> {
    if kind.hooks.client == ClientRule::Singleton && meta::name(o) != "default" {
        return Err(DatastoreError::Other(
            "Cannot create a Kube Controllers Configuration resource with a name other than \"default\"".into(),
        ));
    }
    Ok(())
}

/// Defaults libcalico applies when *reading* some kinds (e.g. pools missing newer fields).
fn read_defaults(kind: &KindInfo, v: &mut Value) {
    if kind.hooks.client == ClientRule::IpPool {
        let rv = meta::resource_version(v);
        apply_defaults(kind, v);
        if !rv.is_empty() {
            meta::set_meta_str(v, "resourceVersion", Some(&rv));
        }
    }
}
