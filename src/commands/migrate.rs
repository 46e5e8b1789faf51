//! `datastore migrate export|import`: etcdv3 → Kubernetes.
//!
//! The file is calicoctl's: `<Kind>List` YAML documents each followed by `---`, a `===` line,
//! the ClusterInformation as indented JSON, a `===` line, the IPAM data as indented JSON. Import
//! is resumable: it marks ClusterInformation with the file's digest before its first write, and
//! a re-run with the same file (after an interruption) finishes the job, creating nothing twice.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::engine;
use super::{CmdResult, Ctx, Failure};
use crate::datastore::client::Client;
use crate::datastore::etcd::{ipam as etcd_ipam, keys};
use crate::datastore::{DatastoreError, ListOptions};
use crate::gocompat::json::to_go_json_indent;
use crate::gocompat::yaml::to_yaml;
use crate::model::ipam::{AffinityType, IpamKey, IpamKv, IpamList, IpamValue};
use crate::model::kinds::{Builtin, Export, ExportRewrite, KINDS, KindId, KindInfo};
use crate::model::meta;

/// The kinds exported, in calicoctl's order, with their export rules.
fn export_order() -> Vec<(&'static KindInfo, Export)> {
    let mut v: Vec<_> = KINDS
        .iter()
        .filter_map(|k| k.hooks.export.map(|e| (k, e)))
        .collect();
    v.sort_by_key(|(_, e)| e.rank);
    v
}

/// ClusterInformation annotation holding the digest of an import in progress.
pub const IMPORT_MARKER: &str = "calicoctl.projectcalico.org/import-in-progress";

const FELIX_ACTIONS: &[&str] = &[
    "defaultEndpointToHostAction",
    "iptablesFilterAllowAction",
    "iptablesMangleAllowAction",
    "iptablesFilterDenyAction",
];

async fn cluster_information(c: &Client, verb: &str) -> Result<Value, Failure> {
    c.get(KindId::ClusterInformation.info(), "", "default")
        .await
        .map_err(|e| {
            Failure::Stderr(format!(
                "error retrieving ClusterInformation for {verb}: {e}"
            ))
        })
}

fn title_case(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub async fn export(ctx: &mut Ctx) -> CmdResult {
    let c = ctx.client().await.map_err(engine::bare_client_failure)?;
    if !ctx.allow_version_mismatch {
        engine::version_check(&c).await?;
    }
    // The lock is checked first, on any datastore.
    let ci = KindId::ClusterInformation.info();
    let ci = c.get(ci, "", "default").await.map_err(|e| {
        Failure::Stderr(format!(
            "error while checking if datastore was locked: error retrieving ClusterInformation: {e}"
        ))
    })?;
    if ci.get("spec").and_then(|s| s.get("datastoreReady")) != Some(&Value::Bool(false)) {
        return Err(Failure::Stderr(
            "datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to begin migration".into(),
        ));
    }
    if c.datastore().is_kubernetes_api() {
        return Err(Failure::Stderr(
            "invalid datastore type: kubernetes to export from for datastore migration. Datastore type must be etcdv3".into(),
        ));
    }
    let err = |e: DatastoreError| Failure::Stderr(e.to_string());
    // Calico node name -> Kubernetes node name.
    let mut renamed: std::collections::BTreeMap<String, String> = Default::default();
    for (ki, export) in export_order() {
        let opts = ListOptions {
            namespace: export.namespace.map(str::to_string),
            name_prefix: None,
        };
        let list = c.list(ki, &opts).await.map_err(err)?;
        let mut items = Vec::new();
        for mut o in list.items {
            meta::strip_server_fields(&mut o);
            let name = meta::name(&o);
            if ki.is_k8s_policy(&name) {
                continue;
            }
            match export.rewrite {
                ExportRewrite::Node => {
                    let k8s = crate::cleanup::evidence::k8s_name(&o);
                    let has_ref = o
                        .get("spec")
                        .and_then(|s| s.get("orchRefs"))
                        .and_then(Value::as_array)
                        .is_some_and(|r| {
                            r.iter().any(|x| {
                                x.get("orchestrator").and_then(Value::as_str) == Some("k8s")
                            })
                        });
                    if !has_ref {
                        return Err(Failure::Stderr(format!(
                            "unable to process metadata for export for Node resource: node {name} missing a 'k8s' orchestrator reference. Unable to export data unless every node has a 'k8s' orchestrator reference"
                        )));
                    }
                    meta::set_meta_str(&mut o, "name", Some(&k8s));
                    renamed.insert(name, k8s);
                }
                ExportRewrite::PerNode | ExportRewrite::PerNodeFelix => {
                    if let Some(n) = name.strip_prefix("node.")
                        && let Some(k8s) = renamed.get(n)
                    {
                        meta::set_meta_str(&mut o, "name", Some(&format!("node.{k8s}")));
                    }
                    if export.rewrite == ExportRewrite::PerNodeFelix
                        && let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut)
                    {
                        for f in FELIX_ACTIONS {
                            if let Some(Value::String(v)) = spec.get_mut(*f) {
                                *v = title_case(v);
                            }
                        }
                    }
                }
                ExportRewrite::None => {}
            }
            items.push(o);
        }
        let list = json!({
            "apiVersion": crate::model::kinds::API_VERSION,
            "items": items,
            "kind": ki.list_kind(),
            "metadata": {"resourceVersion": list.revision},
        });
        // Each kind is printed once read, as calicoctl does (a failure keeps what came before).
        writeln!(ctx.out, "{}---", to_yaml(&list))?;
    }
    // The ClusterInformation as stored, with its resource version.
    writeln!(ctx.out, "===\n{}", to_go_json_indent(&ci))?;
    let ipam = export_ipam(&c, &renamed).await.map_err(err)?;
    writeln!(ctx.out, "===\n{}", to_go_json_indent(&ipam))?;
    Ok(0)
}

/// The handles of a node's IPv4 tunnel addresses, which carry its name (renamed on export).
const TUNNEL_HANDLE_PREFIXES: &[&str] = &[
    "ipip-tunnel-addr-",
    "vxlan-tunnel-addr-",
    "wireguard-tunnel-addr-",
];

/// calicoctl's IPAM section: `block_affinities` (host affinities only), `blocks`, `handles`
/// and `config`, each entry `{"Key": <etcd key>, "Value": <stored value>, "TTL": 0}`, empty groups
/// left out. Node names become their Kubernetes names (`renamed`): in affinity keys, block
/// affinities, the `node` attribute and the tunnel-address handles.
async fn export_ipam(
    c: &Client,
    renamed: &std::collections::BTreeMap<String, String>,
) -> crate::datastore::Result<Value> {
    let rename = |n: &str| renamed.get(n).cloned().unwrap_or_else(|| n.to_string());
    let rename_handle = |h: &str| {
        TUNNEL_HANDLE_PREFIXES
            .iter()
            .find_map(|p| {
                let node = h.strip_prefix(p)?;
                renamed.get(node).map(|k8s| format!("{p}{k8s}"))
            })
            .unwrap_or_else(|| h.to_string())
    };
    let mut groups: Map<String, Value> = Map::new();
    for (name, list) in [
        (
            "block_affinities",
            IpamList::Affinities {
                host: None,
                version: None,
            },
        ),
        ("blocks", IpamList::Blocks { version: None }),
        ("handles", IpamList::Handles),
    ] {
        let mut items = Vec::new();
        c.datastore()
            .ipam_scan(&list, &mut |mut kv| {
                match (&mut kv.key, &mut kv.value) {
                    (
                        IpamKey::Affinity {
                            host,
                            affinity_type,
                            ..
                        },
                        _,
                    ) => {
                        if *affinity_type != AffinityType::Host {
                            return Ok(());
                        }
                        *host = rename(host);
                    }
                    (IpamKey::Block(_), IpamValue::Block(b)) => {
                        if let Some(h) = b.affinity_host().map(&rename) {
                            b.affinity = Some(format!("host:{h}"));
                        }
                        for a in b.attributes.iter_mut().flatten() {
                            if let Some(h) = &mut a.handle_id {
                                *h = rename_handle(h);
                            }
                            if let Some(n) = a.secondary.as_mut().and_then(|s| s.get_mut("node")) {
                                *n = rename(n);
                            }
                        }
                    }
                    (IpamKey::Handle(id), _) => *id = rename_handle(id),
                    _ => {}
                }
                items.push(kv_json(&kv));
                Ok(())
            })
            .await?;
        if !items.is_empty() {
            groups.insert(name.into(), Value::Array(items));
        }
    }
    match c.datastore().ipam_get(&IpamKey::Config).await {
        Ok(kv) => {
            groups.insert("config".into(), kv_json(&kv));
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    Ok(Value::Object(groups))
}

fn kv_json(kv: &IpamKv) -> Value {
    let raw = etcd_ipam::encode(&kv.value);
    json!({
        "Key": keys::ipam_key(&kv.key),
        "Value": serde_json::from_str::<Value>(&raw).unwrap_or(Value::String(raw)),
        "TTL": 0,
    })
}

fn kv_from_json(v: &Value) -> Result<IpamKv, String> {
    let key_s = v
        .get("Key")
        .and_then(Value::as_str)
        .ok_or("an IPAM entry has no Key")?;
    let key = keys::parse_ipam_key(key_s).ok_or_else(|| format!("unknown IPAM key {key_s}"))?;
    let raw = v
        .get("Value")
        .map(Value::to_string)
        .ok_or_else(|| format!("IPAM entry {key_s} has no Value"))?;
    let value = etcd_ipam::decode(&key, &raw).map_err(|e| format!("IPAM entry {key_s}: {e}"))?;
    Ok(IpamKv {
        key,
        value,
        revision: String::new(),
        uid: None,
    })
}

/// Sets (or clears) the import marker and `datastoreReady`.
async fn mark(c: &Client, marker: Option<&str>, ready: Option<bool>) -> Result<(), Failure> {
    let ck = KindId::ClusterInformation.info();
    let mut ci = cluster_information(c, "importing").await?;
    meta::set_annotation(&mut ci, IMPORT_MARKER, marker);
    if let (Some(r), Some(s)) = (ready, ci.get_mut("spec").and_then(Value::as_object_mut)) {
        s.insert("datastoreReady".into(), Value::Bool(r));
    }
    c.datastore().update(ck, &ci).await.map_err(|e| {
        Failure::Stderr(format!(
            "error updating ClusterInformation for importing: {e}"
        ))
    })?;
    Ok(())
}

/// Names EnsureInitialized creates, which do not count as "existing Calico resources".
fn is_builtin(kind: &KindInfo, name: &str) -> bool {
    match kind.hooks.builtin {
        Builtin::None => false,
        Builtin::Names(names) => names.contains(&name),
        Builtin::All => true,
    }
}

pub async fn import(ctx: &mut Ctx, filename: &str, stop_after: Option<usize>) -> CmdResult {
    let c = ctx.client().await.map_err(engine::bare_client_failure)?;
    if !c.datastore().is_kubernetes_api() {
        return Err(Failure::Stderr(
            "invalid datastore type: etcdv3 to import to for datastore migration. Datastore type must be kubernetes".into(),
        ));
    }
    let file = MigrationFile::read(filename)?;

    // The CRDs must be installed (calicoctl applies them; we ask the admin to, see docs).
    c.datastore()
        .list(KindId::IPPool.info(), &ListOptions::default())
        .await
        .map_err(|e| {
            Failure::Stderr(format!(
                "error applying the CRDs necessary to begin datastore import: the Calico CRDs must be installed first (kubectl apply the Calico CRD manifest): {e}"
            ))
        })?;
    c.ensure_initialized().await;
    let ci = cluster_information(&c, "importing").await?;
    let resume = meta::annotations(&ci).get(IMPORT_MARKER) == Some(&file.digest);
    if !resume {
        refuse_if_not_empty(&c).await?;
    }
    // Lock and mark before the first write.
    mark(&c, Some(&file.digest), Some(false)).await?;
    let budget = Budget(std::sync::atomic::AtomicUsize::new(
        stop_after.unwrap_or(usize::MAX),
    ));
    import_resources(ctx, &c, &file.resources, &budget).await?;
    restore_cluster_information(&c, &file.exported_ci).await?;
    import_ipam(ctx, &c, &file.ipam_kvs, resume, &budget).await?;
    mark(&c, None, None).await?;
    writeln!(
        ctx.out,
        "Datastore information successfully imported. Please refer to the datastore migration documentation for next steps."
    )?;
    Ok(0)
}

/// An export file: the resources, `===`, the ClusterInformation, `===`, the IPAM objects.
struct MigrationFile {
    resources: Vec<crate::model::manifest::Resource>,
    exported_ci: Value,
    ipam_kvs: Vec<IpamKv>,
    /// The file's digest, marked on ClusterInformation so an interrupted import resumes.
    digest: String,
}

impl MigrationFile {
    fn read(filename: &str) -> Result<MigrationFile, Failure> {
        let text = if filename == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(filename)
                .map_err(|e| Failure::Stderr(format!("error while reading migration file: {e}")))?
        };
        let parts: Vec<&str> = text.split("===\n").collect();
        let malformed = || {
            Failure::Stderr(format!(
                "error while reading migration file: imported file: {filename} is improperly formatted. Try recreating with 'calicoctl export'"
            ))
        };
        if parts.len() != 3 {
            return Err(malformed());
        }
        let unreadable =
            |e: String| Failure::Stderr(format!("error while reading migration file: {e}"));
        let resources = crate::model::manifest::parse_stream(parts[0], filename)
            .map_err(|e| unreadable(e.to_string()))?;
        let exported_ci: Value = serde_json::from_str(parts[1].trim()).map_err(|_| malformed())?;
        let ipam_doc: Value = serde_json::from_str(parts[2].trim()).map_err(|_| malformed())?;
        let mut ipam_kvs = Vec::new();
        for group in ["config", "blocks", "block_affinities", "handles"] {
            let items: Vec<&Value> = match ipam_doc.get(group) {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(v) => vec![v],
            };
            for v in items {
                ipam_kvs.push(kv_from_json(v).map_err(|e| unreadable(e.to_string()))?);
            }
        }
        Ok(MigrationFile {
            digest: format!("sha256:{:x}", Sha256::digest(text.as_bytes())),
            resources,
            exported_ci,
            ipam_kvs,
        })
    }
}

/// A fresh import needs a datastore without Calico resources (the built-in ones aside) and
/// without IPAM objects.
async fn refuse_if_not_empty(c: &Client) -> Result<(), Failure> {
    for (ki, _) in export_order() {
        let l = c
            .datastore()
            .list(ki, &ListOptions::default())
            .await
            .map_err(|e| Failure::Stderr(e.to_string()))?;
        if l.items.iter().any(|o| !is_builtin(ki, &meta::name(o))) {
            return Err(Failure::Stderr(format!(
                "datastore already has Calico resources: found existing Calico {} resource. Clear out all Calico resources by deleting all Calico CRDs",
                ki.kind
            )));
        }
    }
    for list in [IpamList::Blocks { version: None }, IpamList::Handles] {
        if !c
            .datastore()
            .ipam_list(&list)
            .await
            .map_err(|e| Failure::Stderr(e.to_string()))?
            .is_empty()
        {
            return Err(Failure::Stderr(
                "datastore already has Calico resources: found existing IPAM resources. Clear out all Calico resources by deleting all Calico CRDs".into(),
            ));
        }
    }
    Ok(())
}

/// The `--stop-after-steps` test hook: how many more writes may start.
struct Budget(std::sync::atomic::AtomicUsize);

impl Budget {
    fn take(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.0
            .fetch_update(SeqCst, SeqCst, |b| b.checked_sub(1))
            .is_ok()
    }
}

/// The resources: apply is create-or-update, so a resumed run creates nothing twice.
async fn import_resources(
    ctx: &mut Ctx,
    c: &Client,
    resources: &[crate::model::manifest::Resource],
    budget: &Budget,
) -> Result<(), Failure> {
    let results = engine::run_all(resources, |_, r| {
        let ok = budget.take();
        async move {
            if !ok {
                return Err(StepError::Stopped);
            }
            engine::do_apply(c, r).await.map_err(StepError::Failed)
        }
    })
    .await;
    if results.iter().any(|r| matches!(r, Err(StepError::Stopped))) {
        return Err(Failure::Stderr(STOPPED.into()));
    }
    let applied = results.iter().filter(|r| r.is_ok()).count();
    let single = resources
        .first()
        .map(|r| r.kind.kind)
        .filter(|k| resources.iter().all(|r| r.kind.kind == *k));
    match single {
        Some(k) => writeln!(ctx.out, "Successfully applied {applied} '{k}' resource(s)")?,
        None => writeln!(ctx.out, "Successfully applied {applied} resource(s)")?,
    }
    let errors: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if !errors.is_empty() {
        let mut msg = String::new();
        for e in &errors {
            let _ = writeln!(msg, "Failed to apply resource: {e}");
        }
        return Err(Failure::Stderr(msg));
    }
    Ok(())
}

/// ClusterInformation takes the exported identity, still locked (not ready).
async fn restore_cluster_information(c: &Client, exported: &Value) -> Result<(), Failure> {
    let ck = KindId::ClusterInformation.info();
    let mut cur = cluster_information(c, "importing").await?;
    if let (Some(dst), Some(src)) = (
        cur.get_mut("spec").and_then(Value::as_object_mut),
        exported.get("spec").and_then(Value::as_object),
    ) {
        for (k, v) in src {
            if k != "datastoreReady" {
                dst.insert(k.clone(), v.clone());
            }
        }
        dst.insert("datastoreReady".into(), Value::Bool(false));
    }
    c.datastore().update(ck, &cur).await.map_err(|e| {
        Failure::Stderr(format!(
            "error updating ClusterInformation for importing: {e}"
        ))
    })?;
    Ok(())
}

/// The IPAM objects, 16 at a time (a resumed run finds what the interrupted one wrote).
async fn import_ipam(
    ctx: &mut Ctx,
    c: &Client,
    ipam_kvs: &[IpamKv],
    resume: bool,
    budget: &Budget,
) -> Result<(), Failure> {
    writeln!(ctx.out, "Importing IPAM resources")?;
    if ipam_kvs.is_empty() {
        return Err(Failure::Stderr(
            "no IPAM resources specified in file".into(),
        ));
    }
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| indicatif::ProgressBar::new(ipam_kvs.len() as u64));
    let ipam_results: Vec<Result<(), StepError<DatastoreError>>> = stream::iter(ipam_kvs.iter())
        .map(|kv| {
            let bar = bar.clone();
            let ok = budget.take();
            async move {
                if !ok {
                    return Err(StepError::Stopped);
                }
                let r = match &kv.key {
                    IpamKey::Config => c.datastore().ipam_put(kv).await.map(|_| ()),
                    _ => match c.datastore().ipam_create(kv).await {
                        Ok(_) => Ok(()),
                        Err(e) if e.is_already_exists() && resume => Ok(()),
                        Err(e) => Err(e),
                    },
                };
                if let Some(b) = &bar {
                    b.inc(1);
                }
                r.map_err(StepError::Failed)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if ipam_results
        .iter()
        .any(|r| matches!(r, Err(StepError::Stopped)))
    {
        return Err(Failure::Stderr(STOPPED.into()));
    }
    let ok = ipam_results.iter().filter(|r| r.is_ok()).count();
    let errs: Vec<String> = ipam_results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if !errs.is_empty() {
        return Err(Failure::Stderr(format!(
            "Partial success: applied the first {ok} out of {} IPAM resources:\nhit error(s): [{}]",
            ipam_kvs.len(),
            errs.join(", ")
        )));
    }
    writeln!(ctx.out, "Successfully applied {ok} IPAM resource(s)")?;
    Ok(())
}

/// Error text of the import test hook.
/// One import step's failure: stopped by `--stop-after-steps`, or the step's own error.
#[derive(Debug, thiserror::Error)]
enum StepError<E: std::error::Error + 'static> {
    #[error("{}", STOPPED)]
    Stopped,
    #[error(transparent)]
    Failed(E),
}

pub const STOPPED: &str = "datastore import stopped by --stop-after-steps (test hook)";
