//! The CRUD engine shared by create/apply/replace/delete/get/validate, in calicoctl's order
//! (version check, input, client, then every resource in turn): input building, namespace
//! rules, per-resource actions and calicoctl's result messages.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};

use super::{ClientError, Ctx, Failure, stdout_fail};
use crate::cli::FileArgs;
use crate::datastore::client::Client;
use crate::datastore::{DatastoreError, resource_id};
use crate::model::kinds::{API_VERSION, ClientRule, KindId, KindInfo, by_cli_name};
use crate::model::manifest::{self, ManifestError, Resource};
use crate::model::meta;
use crate::model::schema::schema;
use crate::model::validate::ValidationError;
use crate::model::version::client_version;

/// Concurrent datastore operations in flight for bulk commands.
pub const CONCURRENCY: usize = 32;

/// The resources a command works on.
pub struct Input {
    pub resources: Vec<Resource>,
    /// Set when every resource has the same kind or they came from `KIND NAME…`.
    pub single_kind: Option<&'static str>,
    pub from_file: bool,
}

/// Why the input could not be built.
pub enum InputError {
    /// A parse/IO problem: calicoctl prints `failed to execute command: <e>`.
    Parse(String),
    /// Printed raw (empty input, unsupported kind…).
    Raw(String),
}

/// Builds the input list from `-f` or `KIND [NAME…]` (no names = one nameless object = list).
pub fn build_input(
    file: &FileArgs,
    kind: Option<&str>,
    names: &[String],
) -> Result<Input, InputError> {
    if let Some(f) = &file.filename {
        let resources =
            manifest::read_input(f, file.recursive, file.skip_empty).map_err(|e| match e {
                ManifestError::EmptyFile(_) | ManifestError::EmptyDir(_) => {
                    InputError::Raw(e.to_string())
                }
                other => InputError::Parse(other.to_string()),
            })?;
        let single_kind = match resources.first() {
            Some(first) if resources.iter().all(|r| r.kind.kind == first.kind.kind) => {
                Some(first.kind.kind)
            }
            _ => None,
        };
        return Ok(Input {
            resources,
            single_kind,
            from_file: true,
        });
    }
    let Some(kind) = kind else {
        return Err(InputError::Raw(
            "either a resource type or --filename must be given".to_string(),
        ));
    };
    let k = by_cli_name(kind)
        .ok_or_else(|| InputError::Raw(format!("resource type '{kind}' is not supported")))?;
    let make = |name: &str| Resource {
        kind: k,
        obj: skeleton(k, name),
    };
    let resources = if names.is_empty() {
        vec![make("")]
    } else {
        names.iter().map(|n| make(n)).collect()
    };
    Ok(Input {
        resources,
        single_kind: Some(k.kind),
        from_file: false,
    })
}

/// An object with only kind/apiVersion/name, as calicoctl builds from `KIND NAME`.
pub fn skeleton(k: &KindInfo, name: &str) -> Value {
    let mut meta = Map::new();
    if !name.is_empty() {
        meta.insert("name".into(), Value::String(name.to_string()));
    }
    let raw = serde_json::json!({"kind": k.kind, "apiVersion": API_VERSION, "metadata": meta});
    schema().decode(&k.type_name(), &raw, false).unwrap_or(raw)
}

/// Why a resource and the namespace flags do not fit together; the texts are calicoctl's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    #[error("cannot use both --namespace and --all-namespaces flags at the same time")]
    BothFlags,
    #[error("resource namespace does not match client namespace. {resource} != {client}")]
    Mismatch { resource: String, client: String },
    #[error(
        "namespace should not be specified for a non-namespaced resource. {0} is not a namespaced resource"
    )]
    NamespaceGiven(&'static str),
    #[error("{0} is not namespaced")]
    NotNamespaced(&'static str),
}

/// Why the version check stops a command; the texts are calicoctl's.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VersionError {
    #[error(
        "unable to get Cluster Information to verify version mismatch: {0}\nUse --allow-version-mismatch to override"
    )]
    ClusterInformation(DatastoreError),
    #[error(
        "version mismatch.\nClient Version:   {ours}\nCluster Version:  {cluster}\nUse --allow-version-mismatch to override"
    )]
    Mismatch { ours: String, cluster: String },
}

/// Why one resource of a bulk command (create, apply, replace, delete, validate) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResourceError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Datastore(#[from] DatastoreError),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Every attempt of an update without a resourceVersion conflicted (Go prints a nil
    /// error here).
    #[error("failed to update the resource: %!s(<nil>)")]
    UpdateRetries,
}

impl ResourceError {
    /// One of the etcd backend's connection failures (they name the endpoints, not a resource,
    /// so a batch that hit one repeats it for every object).
    fn is_connection_failure(&self) -> bool {
        matches!(self, ResourceError::Datastore(DatastoreError::Connection(t))
            if crate::datastore::is_connection_failure(t))
    }
}

/// `operation <op> is not supported on <Kind>…` for a kind calicoctl cannot write.
fn unsupported(op: &str, id: String, reason: &str) -> ResourceError {
    DatastoreError::Unsupported {
        operation: op.to_string(),
        id,
        reason: reason.to_string(),
    }
    .into()
}

/// Namespace flags of a command.
#[derive(Debug, Clone, Default)]
pub struct NsFlags {
    pub namespace: Option<String>,
    pub all_namespaces: bool,
}

/// Applies calicoctl's namespace rules (`-n`, `-A`, `default`) to one resource; returns the
/// namespace to use ("" for cluster-scoped, "" with `-A` for "all namespaces").
pub fn resolve_namespace(res: &mut Resource, flags: &NsFlags) -> Result<String, NamespaceError> {
    let cli_ns = flags.namespace.clone().unwrap_or_default();
    let res_ns = meta::namespace(&res.obj);
    if res.kind.namespaced {
        if flags.all_namespaces && !cli_ns.is_empty() {
            return Err(NamespaceError::BothFlags);
        }
        let ns = if flags.all_namespaces {
            String::new()
        } else if res_ns.is_empty() {
            if cli_ns.is_empty() {
                "default".to_string()
            } else {
                cli_ns
            }
        } else if !cli_ns.is_empty() && res_ns != cli_ns {
            return Err(NamespaceError::Mismatch {
                resource: res_ns,
                client: cli_ns,
            });
        } else {
            res_ns
        };
        meta::set_meta_str(
            &mut res.obj,
            "namespace",
            (!ns.is_empty()).then_some(ns.as_str()),
        );
        Ok(ns)
    } else {
        if !res_ns.is_empty() {
            return Err(NamespaceError::NamespaceGiven(res.kind.kind));
        }
        if flags.all_namespaces || flags.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            return Err(NamespaceError::NotNamespaced(res.kind.kind));
        }
        Ok(String::new())
    }
}

/// Normalises a version for the mismatch check: one leading `v` stripped, cut at `-`.
pub fn normalize_version(v: &str) -> String {
    let v = v.strip_prefix('v').unwrap_or(v);
    v.split('-').next().unwrap_or(v).to_string()
}

/// The version-mismatch check: compares our version with ClusterInformation's (exact
/// major.minor.patch). Errors are calicoctl's texts.
pub async fn version_check(client: &Client) -> Result<(), VersionError> {
    let ci = KindId::ClusterInformation.info();
    let info = match client.get(ci, "", "default").await {
        Ok(i) => i,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(VersionError::ClusterInformation(e)),
    };
    let cluster = info
        .get("spec")
        .and_then(|s| s.get("calicoVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if cluster.is_empty() {
        return Ok(());
    }
    let ours = client_version();
    if normalize_version(&ours) != normalize_version(cluster) {
        return Err(VersionError::Mismatch {
            ours,
            cluster: normalize_version(cluster),
        });
    }
    Ok(())
}

/// Steps shared by mutating commands: client (lazily), version check, input, client errors.
pub struct Prepared {
    pub client: Client,
    pub input: Input,
}

/// Runs calicoctl's first steps: version check, input, client. `check_version` is false for
/// validate.
pub async fn prepare(
    ctx: &mut Ctx,
    file: &FileArgs,
    kind: Option<&str>,
    names: &[String],
    check_version: bool,
    request_prefix: &str,
) -> Result<Prepared, Failure> {
    let client = ctx.client().await;
    // A config file that cannot be read stops the command at once; other client problems are
    // reported after the input has been read.
    if let Err(e) = &client
        && e.is_missing_config()
    {
        return Err(stdout_fail(e.to_string()));
    }
    if check_version
        && !ctx.allow_version_mismatch
        && let Ok(c) = &client
    {
        version_check(c)
            .await
            .map_err(|e| Failure::Stderr(format!("{request_prefix}{e}")))?;
    }
    let input = build_input(file, kind, names).map_err(|e| match e {
        InputError::Parse(m) => Failure::Stderr(format!("failed to execute command: {m}")),
        InputError::Raw(m) => Failure::Stderr(format!("{request_prefix}{m}")),
    })?;
    let client = client.map_err(client_failure)?;
    Ok(Prepared { client, input })
}

/// How CRUD commands report a client that could not be built: a missing non-default config
/// file is its own bare line; everything else is "Failed to create Calico API client: …".
/// Both go to stdout, as in calicoctl.
pub fn client_failure(e: ClientError) -> Failure {
    if e.is_missing_config() {
        stdout_fail(e.to_string())
    } else {
        stdout_fail(format!("Failed to create Calico API client: {e}"))
    }
}

/// How `datastore migrate` commands report a client that could not be built: a missing
/// config file on stdout, anything else on stderr, both without the CRUD commands' prefix.
pub fn bare_client_failure(e: ClientError) -> Failure {
    if e.is_missing_config() {
        stdout_fail(e.to_string())
    } else {
        Failure::Stderr(e.to_string())
    }
}

/// The client of a command that is not a CRUD command (ipam, policy): client failures
/// reported bare, then the version check unless `--allow-version-mismatch`.
pub async fn checked_client(ctx: &mut Ctx) -> Result<Client, Failure> {
    let c = ctx.client().await.map_err(bare_client_failure)?;
    if !ctx.allow_version_mismatch {
        version_check(&c).await?;
    }
    Ok(c)
}

/// Keeps only the metadata calicoctl passes to Create.
pub fn reduce_metadata(obj: &Value) -> Value {
    let mut o = obj.clone();
    meta::edit_meta(&mut o, |m| {
        m.retain(|k, _| {
            matches!(
                k.as_str(),
                "name" | "namespace" | "resourceVersion" | "labels" | "annotations"
            )
        })
    });
    o
}

fn is_knp(res: &Resource) -> bool {
    res.kind.is_k8s_policy(&meta::name(&res.obj))
}

/// libcalico prints the whole object with Go's `%v`.
fn knp_error(op: &str, res: &Resource) -> ResourceError {
    unsupported(
        op,
        crate::model::govalue::go_v_resource(&res.kind.type_name(), &res.obj),
        ": kubernetes network policies must be managed through the kubernetes API",
    )
}

/// Create one resource (optionally treating "already exists" as success).
pub async fn do_create(
    client: &Client,
    res: &Resource,
    skip_exists: bool,
) -> Result<Value, ResourceError> {
    if res.kind.flags.readonly {
        return Err(unsupported("create or apply", res.kind.kind.into(), ""));
    }
    if is_knp(res) {
        return Err(knp_error("create or apply", res));
    }
    match client.create(res.kind, &reduce_metadata(&res.obj)).await {
        Ok(v) => Ok(v),
        Err(e) if skip_exists && e.is_already_exists() => Ok(res.obj.clone()),
        Err(e) => Err(e.into()),
    }
}

/// Apply = create, falling back to the update algorithm when the object exists.
pub async fn do_apply(client: &Client, res: &Resource) -> Result<Value, ResourceError> {
    if res.kind.flags.readonly {
        return Err(unsupported(
            "apply",
            res.kind.kind.into(),
            ": resource is readonly",
        ));
    }
    let rv = meta::resource_version(&res.obj);
    let mut stripped = reduce_metadata(&res.obj);
    meta::set_meta_str(&mut stripped, "resourceVersion", None);
    if is_knp(res) {
        return do_update(client, res).await;
    }
    match client.create(res.kind, &stripped).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_already_exists() || e.is_unsupported() => {
            let mut with_rv = res.clone();
            meta::set_meta_str(
                &mut with_rv.obj,
                "resourceVersion",
                (!rv.is_empty()).then_some(rv.as_str()),
            );
            do_update(client, &with_rv).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Replace: calicoctl's update algorithm (shared with apply's update path and label).
pub async fn do_replace(client: &Client, res: &Resource) -> Result<Value, ResourceError> {
    if res.kind.flags.readonly {
        return Err(unsupported("apply or replace", res.kind.kind.into(), ""));
    }
    do_update(client, res).await
}

/// The server's metadata with the input's labels and annotations, and the input's spec.
pub fn merge_for_update(current: &Value, input: &Value) -> Value {
    let mut out = input.clone();
    let mut meta = current
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let in_meta = input
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for f in ["labels", "annotations"] {
        match in_meta.get(f) {
            Some(v) => {
                meta.insert(f.to_string(), v.clone());
            }
            None => {
                meta.remove(f);
            }
        }
    }
    if let Some(o) = out.as_object_mut() {
        o.insert("metadata".into(), Value::Object(meta));
    }
    meta::edit_meta(&mut out, |_| {});
    out
}

/// With a resourceVersion, one CAS attempt; without, up to 5 attempts 1 s apart (as calicoctl).
pub async fn do_update(client: &Client, res: &Resource) -> Result<Value, ResourceError> {
    let kind = res.kind;
    let ns = meta::namespace(&res.obj);
    let name = meta::name(&res.obj);
    let rv = meta::resource_version(&res.obj);
    if !rv.is_empty() {
        let cur = client.get(kind, &ns, &name).await?;
        if meta::resource_version(&cur) != rv {
            return Err(DatastoreError::Conflict {
                id: resource_id(kind.kind, &ns, &name),
            }
            .into());
        }
        let merged = merge_for_update(&cur, &res.obj);
        return Ok(client.update(kind, &merged).await?);
    }
    for attempt in 0..5 {
        let cur = client.get(kind, &ns, &name).await?;
        let merged = merge_for_update(&cur, &res.obj);
        match client.update(kind, &merged).await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_conflict() => {
                if attempt < 4 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ResourceError::UpdateRetries)
}

/// Delete one resource; resourceVersion from a file is enforced.
pub async fn do_delete(
    client: &Client,
    res: &Resource,
    from_file: bool,
    skip_not_exists: bool,
) -> Result<Value, ResourceError> {
    if res.kind.flags.readonly {
        return Err(unsupported("delete", res.kind.kind.into(), ""));
    }
    if is_knp(res) {
        return Err(knp_error("delete", res));
    }
    let rv = meta::resource_version(&res.obj);
    let rev = (from_file && !rv.is_empty()).then_some(rv.as_str());
    let name = meta::name(&res.obj);
    // libcalico's client-side side effects of deleting a Node (etcd) or an IPPool.
    let deleted = match res.kind.hooks.client {
        ClientRule::Node if client.datastore().owns_nodes_and_workloads() => {
            crate::cleanup::delete_node::delete_node(client.datastore().as_ref(), &name, rev).await
        }
        ClientRule::IpPool => crate::ipam::delete_pool(client, &name, rev).await,
        ClientRule::None
        | ClientRule::Node
        | ClientRule::BgpPeer
        | ClientRule::Tier
        | ClientRule::WorkloadEndpoint
        | ClientRule::Singleton
        | ClientRule::DefaultAllowProfile => {
            client
                .delete(res.kind, &meta::namespace(&res.obj), &name, rev)
                .await
        }
    };
    match deleted {
        Ok(v) => Ok(v),
        Err(e) if skip_not_exists && e.is_not_found() => Ok(res.obj.clone()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a resource's create can go into a batch, ahead of the others of its file: the kind
/// has no write path of its own (initialisation, cleanup, the default profile), no
/// cross-object rule reads another object, and no kind of the file reads its kind.
fn batchable(res: &Resource, kinds_in_file: &HashSet<KindId>) -> bool {
    let kind = res.kind;
    !kind.flags.readonly
        && kind.hooks.batchable
        && kind.hooks.reads.is_nothing()
        && !kinds_in_file
            .iter()
            .any(|k| k.info().hooks.reads.includes(kind.id))
        && meta::resource_version(&res.obj).is_empty()
}

fn identity(r: &Resource) -> (&'static str, String, String) {
    (r.kind.kind, meta::namespace(&r.obj), meta::name(&r.obj))
}

/// The create step of apply/create for many resources at once where the backend batches
/// (etcd: transactions of 120 creates). Returns, per input, the final result when the batch
/// settled it (created, or failed validation); `None` leaves the resource to the one-at-a-time
/// path (already exists → update, not batchable, duplicate in the file, other backends).
pub async fn create_batched(
    client: &Client,
    resources: &[Resource],
    ns_errs: &[Option<NamespaceError>],
) -> Batched {
    let mut pre: Vec<Option<Result<Value, ResourceError>>> = vec![None; resources.len()];
    if !client.datastore().batches_creates() || resources.len() < 8 {
        return Batched {
            pre,
            existing: Vec::new(),
        };
    }
    let mut seen: HashMap<(&str, String, String), usize> = HashMap::new();
    for r in resources {
        *seen.entry(identity(r)).or_default() += 1;
    }
    let kinds_in_file: HashSet<KindId> = resources.iter().map(|r| r.kind.id).collect();
    let mut objs = Vec::new();
    let mut idx = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if ns_errs[i].is_some() || !batchable(r, &kinds_in_file) || seen[&identity(r)] > 1 {
            continue;
        }
        match client
            .prepare_create(r.kind, &reduce_metadata(&r.obj))
            .await
        {
            Ok(o) => {
                objs.push((r.kind, o));
                idx.push(i);
            }
            Err(e) => pre[i] = Some(Err(e.into())),
        }
    }
    let mut existing = Vec::new();
    for (i, r) in idx
        .into_iter()
        .zip(client.create_prepared_many(&objs).await)
    {
        match r {
            Ok(v) => pre[i] = Some(Ok(v)),
            Err(e) if e.is_already_exists() => existing.push(i),
            Err(e) => pre[i] = Some(Err(e.into())),
        }
    }
    Batched { pre, existing }
}

/// What the batched create step settled.
pub struct Batched {
    /// Per input: the final result, or `None` for the one-at-a-time path.
    pub pre: Vec<Option<Result<Value, ResourceError>>>,
    /// Batched resources that already exist (their `pre` is `None`).
    pub existing: Vec<usize>,
}

/// Apply's update step for the batched resources that already exist, done as
/// [`do_update`] does it for a resource without a resourceVersion — read, merge, validate,
/// compare-and-swap on the revision read — but with the reads and writes batched by the
/// backend. Whatever a batch does not settle (a conflict with another writer) is left to
/// the one-at-a-time path, which retries.
pub async fn update_batched(client: &Client, resources: &[Resource], batched: &mut Batched) {
    if batched.existing.is_empty() {
        return;
    }
    let ids: Vec<(&'static KindInfo, String, String)> = batched
        .existing
        .iter()
        .map(|&i| {
            let (_, ns, name) = identity(&resources[i]);
            (resources[i].kind, ns, name)
        })
        .collect();
    let current = client.get_many(&ids).await;
    let mut objs = Vec::new();
    let mut idx = Vec::new();
    for (&i, cur) in batched.existing.iter().zip(current) {
        let r = &resources[i];
        let cur = match cur {
            Ok(c) => c,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                batched.pre[i] = Some(Err(e.into()));
                continue;
            }
        };
        match client
            .prepare_update(r.kind, &merge_for_update(&cur, &r.obj))
            .await
        {
            Ok(o) => {
                objs.push((r.kind, o));
                idx.push(i);
            }
            Err(e) => batched.pre[i] = Some(Err(e.into())),
        }
    }
    for (i, r) in idx
        .into_iter()
        .zip(client.update_prepared_many(&objs).await)
    {
        match r {
            Ok(v) => batched.pre[i] = Some(Ok(v)),
            Err(e) if e.is_conflict() || e.is_not_found() => {}
            Err(e) => batched.pre[i] = Some(Err(e.into())),
        }
    }
}

/// Runs `op` over resources as calicoctl does, one after the other in input order, but with
/// bounded concurrency where that cannot be told apart: the input is cut into runs in which no
/// two resources are the same object or have a cross-object rule between their kinds
/// (`KindInfo::hooks.reads`); a run starts only when the one before it has finished.
pub async fn run_all<'a, F, Fut, E>(resources: &'a [Resource], op: F) -> Vec<Result<Value, E>>
where
    F: Fn(usize, &'a Resource) -> Fut,
    Fut: std::future::Future<Output = Result<Value, E>> + 'a,
{
    let mut results = Vec::with_capacity(resources.len());
    let mut start = 0;
    while start < resources.len() {
        let mut ids = HashSet::new();
        let mut kinds: HashSet<KindId> = HashSet::new();
        let mut end = start;
        while end < resources.len() {
            let r = &resources[end];
            let reads = r.kind.hooks.reads;
            let depends = kinds
                .iter()
                .any(|k| reads.includes(*k) || k.info().hooks.reads.includes(r.kind.id));
            if end > start && (depends || ids.contains(&identity(r))) {
                break;
            }
            ids.insert(identity(r));
            kinds.insert(r.kind.id);
            end += 1;
        }
        let outs: Vec<Result<Value, E>> = stream::iter(start..end)
            .map(|i| op(i, &resources[i]))
            .buffered(CONCURRENCY)
            .collect()
            .await;
        results.extend(outs);
        start = end;
    }
    results
}

/// The verbs whose results calicoctl reports alike (`Successfully <verb>ed N 'Kind' resource(s)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Apply,
    Validate,
}

impl Verb {
    fn verb(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Apply => "apply",
            Verb::Validate => "validate",
        }
    }
    fn past(self) -> &'static str {
        match self {
            Verb::Create => "created",
            Verb::Apply => "applied",
            Verb::Validate => "validated",
        }
    }
}

/// Go's `%v` of a `[]error`.
pub fn go_error_list(errs: &[String]) -> String {
    format!("[{}]", errs.join(" "))
}

/// How many names a grouped error lists.
const GROUP_NAMES: usize = 3;

/// Go's `%v` of the errors of a batch, except that a connection failure repeated for several
/// resources is given once with their count and the first few names (calicoctl never prints
/// such a list: it waits on an unreachable datastore), so a stalled batch of thousands stays
/// one short line. Every other error is listed per resource, as calicoctl does.
fn batch_errors(resources: &[Resource], results: &[Result<Value, ResourceError>]) -> String {
    let mut parts: Vec<String> = Vec::new();
    // Connection failure text -> (its place in `parts`, the resources that hit it).
    let mut groups: std::collections::HashMap<String, (usize, Vec<usize>)> = Default::default();
    for (i, r) in results.iter().enumerate() {
        let Err(e) = r else { continue };
        let text = e.to_string();
        if e.is_connection_failure() {
            if let Some((_, hit)) = groups.get_mut(&text) {
                hit.push(i);
                continue;
            }
            groups.insert(text.clone(), (parts.len(), vec![i]));
        }
        parts.push(text);
    }
    for (e, (pos, hit)) in groups {
        if hit.len() > 1 {
            let names: Vec<String> = hit
                .iter()
                .take(GROUP_NAMES)
                .filter_map(|&i| resources.get(i).map(super::diff::object_ref))
                .collect();
            let more = if hit.len() > GROUP_NAMES { ", …" } else { "" };
            parts[pos] = format!("{e} ({} resources: {}{more})", hit.len(), names.join(", "));
        }
    }
    go_error_list(&parts)
}

/// Reports create/apply/validate results exactly as calicoctl (success, partial, all failed).
pub fn report_cav(
    out: &mut dyn Write,
    verb: Verb,
    single_kind: Option<&str>,
    resources: &[Resource],
    results: &[Result<Value, ResourceError>],
) -> Result<i32, Failure> {
    let total = results.len();
    let failed = results.iter().filter(|r| r.is_err()).count();
    let ok = total - failed;
    if failed == 0 {
        match single_kind {
            Some(k) => writeln!(out, "Successfully {} {ok} '{k}' resource(s)", verb.past())?,
            None => writeln!(out, "Successfully {} {ok} resource(s)", verb.past())?,
        }
        return Ok(0);
    }
    let errs = batch_errors(resources, results);
    if failed == total {
        let msg = match (total, single_kind) {
            (1, Some(k)) => format!("failed to {} '{k}' resource: {}", verb.verb(), errs),
            (1, None) => format!("failed to {} resource: {}", verb.verb(), errs),
            (_, Some(k)) => format!("failed to {} any '{k}' resources: {}", verb.verb(), errs),
            (_, None) => format!("failed to {} any resources: {}", verb.verb(), errs),
        };
        return Err(Failure::Stderr(msg));
    }
    if ok > failed {
        match single_kind {
            Some(k) => writeln!(
                out,
                "Partial success: {} the first {ok} out of {total} '{k}' resources:",
                verb.past()
            )?,
            None => writeln!(
                out,
                "Partial success: {} the first {ok} out of {total} resources:",
                verb.past()
            )?,
        }
    }
    let prefix = match verb {
        Verb::Create => "hit error",
        Verb::Apply | Verb::Validate => "hit error(s)",
    };
    Err(Failure::Stderr(format!("{prefix}: {}", errs)))
}

/// `No resources specified` (exit 0) when `--skip-empty` found nothing.
pub fn no_resources(out: &mut dyn Write) -> Result<i32, Failure> {
    writeln!(out, "No resources specified")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::json;

    use super::*;
    use crate::model::kinds::by_kind;

    fn res(kind: &str, name: &str) -> Resource {
        Resource {
            kind: by_kind(kind).unwrap(),
            obj: json!({"kind": kind, "metadata": {"name": name}}),
        }
    }

    #[test]
    fn only_repeated_connection_failures_are_grouped() {
        let rs: Vec<Resource> = (0..6).map(|i| res("IPPool", &format!("p{i}"))).collect();
        let down = "error connecting to etcd at http://127.0.0.1:1: connection refused";
        let bad = "error with field CIDR = 'x' (invalid CIDR)";
        let down_err = || -> Result<Value, ResourceError> {
            Err(DatastoreError::Connection(down.into()).into())
        };
        let bad_err =
            || -> Result<Value, ResourceError> { Err(DatastoreError::Other(bad.into()).into()) };
        let results: Vec<Result<Value, ResourceError>> = vec![
            down_err(),
            Ok(Value::Null),
            bad_err(),
            down_err(),
            bad_err(),
            down_err(),
        ];
        assert_eq!(
            batch_errors(&rs, &results),
            format!(
                "[{down} (3 resources: ippool.projectcalico.org/p0, ippool.projectcalico.org/p3, ippool.projectcalico.org/p5) {bad} {bad}]"
            )
        );
        let rs: Vec<Resource> = (0..5).map(|i| res("IPPool", &format!("p{i}"))).collect();
        let results: Vec<Result<Value, ResourceError>> = (0..5).map(|_| down_err()).collect();
        assert!(batch_errors(&rs, &results).ends_with("ippool.projectcalico.org/p2, …)]"));
        // A single failure is printed as it is.
        assert_eq!(batch_errors(&rs[..1], &results[..1]), format!("[{down}]"));
    }

    /// Which operations were in flight together.
    fn overlaps(resources: &[Resource]) -> Vec<(usize, usize)> {
        let log: RefCell<Vec<(usize, bool)>> = RefCell::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let results = rt.block_on(run_all(resources, |i, _| {
            let log = &log;
            async move {
                log.borrow_mut().push((i, true));
                tokio::task::yield_now().await;
                log.borrow_mut().push((i, false));
                Ok::<_, ResourceError>(Value::Null)
            }
        }));
        assert_eq!(results.len(), resources.len());
        let mut running: Vec<usize> = Vec::new();
        let mut pairs = Vec::new();
        for (i, start) in log.into_inner() {
            if start {
                pairs.extend(running.iter().map(|&j| (j, i)));
                running.push(i);
            } else {
                running.retain(|&j| j != i);
            }
        }
        pairs
    }

    #[test]
    fn dependent_writes_wait_for_earlier_ones() {
        let r = [
            res("GlobalNetworkSet", "a"),
            res("Tier", "admin"),
            res("GlobalNetworkPolicy", "admin.p1"),
            res("GlobalNetworkPolicy", "admin.p2"),
            res("GlobalNetworkSet", "a"),
            res("IPPool", "p1"),
            res("IPPool", "p2"),
        ];
        let o = overlaps(&r);
        // Independent writes run together; a tier's policies after it; the same object and
        // pools one after the other.
        assert!(o.contains(&(0, 1)), "{o:?}");
        assert!(o.contains(&(2, 3)), "{o:?}");
        for bad in [(1, 2), (1, 3), (0, 4), (5, 6)] {
            assert!(!o.contains(&bad), "{bad:?} overlapped: {o:?}");
        }
    }
}
