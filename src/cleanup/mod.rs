//! Stale-node cleanup (datastore-model.md §6), written once against the `Datastore` trait.
//!
//! Three phases: **evidence** (which nodes are provably dead, which show signs of life),
//! **plan** (every object each dead node left behind and what will happen to it) and **apply**
//! (calicoctl's `delete node` order, §6.3, extended to what it misses: borrowed IPs, orphan and
//! IPv6 tunnel handles, node-scoped status objects, Felix status keys). Every step is idempotent
//! and guarded by compare-and-swap, so an interrupted run is finished by running again, and a
//! node that comes back to life between plan and apply is left alone.

pub mod evidence;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::datastore::{Backend, Datastore, DatastoreError, Result};
use crate::ipam::{self, ReleaseOptions};
use crate::model::ipam::AffinityType;
use crate::model::kinds::by_kind;

pub use evidence::{Evidence, EvidenceSources, Snapshot, gather_evidence};
pub use plan::{NodePlan, Plan, build_plan};

/// A Calico object named in a plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    #[serde(
        rename = "resourceVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub resource_version: String,
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}({})", self.kind, self.name)
        } else {
            write!(f, "{}({}/{})", self.kind, self.namespace, self.name)
        }
    }
}

/// What happened to one node during apply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeResult {
    pub node: String,
    /// `removed`, `skipped` or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(rename = "ipsReleased")]
    pub ips_released: usize,
    #[serde(rename = "ipsSkipped")]
    pub ips_skipped: usize,
    #[serde(rename = "objectsDeleted")]
    pub objects_deleted: usize,
}

/// Options of an apply run.
#[derive(Clone)]
pub struct ApplyOptions {
    /// Evidence read again just before applying (none with `--force`).
    pub recheck: Option<Arc<evidence::Snapshot>>,
    pub concurrency: usize,
    /// Test hook: stop (as if killed) after this many mutating steps.
    pub stop_after_steps: Option<usize>,
    /// Called once per finished node (progress bars).
    pub on_node_done: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Raised by the test hook; the command exits as a killed run would, with work half-done.
#[derive(Debug)]
pub struct Stopped;

struct Steps {
    done: AtomicUsize,
    limit: Option<usize>,
}

impl Steps {
    /// Counts one mutating step; errors once the test limit is reached.
    fn step(&self) -> Result<()> {
        if let Some(limit) = self.limit
            && self.done.fetch_add(1, Ordering::SeqCst) >= limit
        {
            return Err(DatastoreError::Other(STOPPED.into()));
        }
        Ok(())
    }
}

/// The error text of the test stop hook.
pub const STOPPED: &str = "cleanup stopped by --stop-after-steps (test hook)";

/// Applies a plan: nodes concurrently (bounded), each node's steps in upstream order.
pub async fn apply(
    ds: Arc<dyn Datastore>,
    plan: &Plan,
    opts: &ApplyOptions,
) -> Result<Vec<NodeResult>> {
    use futures::stream::{self, StreamExt};
    let steps = Arc::new(Steps {
        done: AtomicUsize::new(0),
        limit: opts.stop_after_steps,
    });
    let nodes: Vec<&NodePlan> = plan.nodes.iter().filter(|n| n.remove).collect();
    let results: Vec<Result<NodeResult>> = stream::iter(nodes)
        .map(|np| {
            let ds = ds.clone();
            let steps = steps.clone();
            let opts = opts.clone();
            async move {
                let r = apply_node(ds.as_ref(), np, &opts, &steps).await;
                if let Some(f) = &opts.on_node_done {
                    f();
                }
                r
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok(n) => out.push(n),
            Err(e) if e.to_string().contains(STOPPED) => return Err(e),
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(out)
}

async fn apply_node(
    ds: &dyn Datastore,
    np: &NodePlan,
    opts: &ApplyOptions,
    steps: &Steps,
) -> Result<NodeResult> {
    let mut res = NodeResult {
        node: np.node.clone(),
        outcome: "removed".into(),
        reason: String::new(),
        ips_released: 0,
        ips_skipped: 0,
        objects_deleted: 0,
    };
    // Liveness (read again when apply started) and the Node's revision (read now) are checked
    // before the first write.
    if let Some(snap) = &opts.recheck {
        let live = snap.judge(&np.node, &np.k8s_node, &np.addresses()).live;
        if !live.is_empty() {
            res.outcome = "skipped".into();
            res.reason = format!("live since the plan: {}", live.join("; "));
            return Ok(res);
        }
    }
    if let Some(node_ref) = &np.node_resource {
        let nk = kind("Node")?;
        match ds.get(nk, "", &node_ref.name).await {
            Ok(cur) => {
                let rv = crate::model::meta::resource_version(&cur);
                if !node_ref.resource_version.is_empty() && rv != node_ref.resource_version {
                    res.outcome = "skipped".into();
                    res.reason = format!(
                        "Node {} changed since the plan (resourceVersion {} -> {rv})",
                        np.node, node_ref.resource_version
                    );
                    return Ok(res);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    // 1-3. Release the node's IPs (its workloads', its tunnel addresses', its borrowed ones),
    // each guarded by handle and sequence number so a re-used address is never freed.
    // Fast path: a block of the node's own that holds only planned IPs is deleted whole (one
    // CAS delete instead of a rewrite now and a delete when its affinity goes).
    let mut done_blocks: BTreeSet<String> = BTreeSet::new();
    for cidr in &np.blocks_deleted {
        steps.step()?;
        if let Some(n) = delete_whole_block(ds, np, cidr, steps).await? {
            res.ips_released += n;
            done_blocks.insert(cidr.clone());
        }
    }
    let reqs: Vec<ReleaseOptions> = np
        .releases
        .iter()
        .flat_map(|h| {
            h.ips
                .iter()
                .filter(|ip| !done_blocks.contains(&ip.block))
                .map(move |ip| ReleaseOptions {
                    address: Some(ip.ip),
                    handle: h.handle.clone(),
                    sequence_number: ip.sequence_number,
                })
        })
        .collect();
    if !reqs.is_empty() {
        steps.step()?;
        let r = ipam::release_ips(ds, &reqs).await?;
        res.ips_released += r.released.len();
        res.ips_skipped = r.skipped.len();
    }
    // Handles a previous interrupted run left with counts for addresses no longer allocated
    // (before the affinities: they are how the next plan finds such handles).
    for h in &np.handle_fixes {
        steps.step()?;
        let cidr: IpNet = h
            .block
            .parse()
            .map_err(|e| DatastoreError::Other(format!("bad CIDR {} in plan: {e}", h.block)))?;
        ipam::decrement_handle(ds, &h.handle, cidr, h.excess).await?;
    }
    // 4. Workload endpoints.
    for w in &np.workload_endpoints {
        steps.step()?;
        if delete_ignoring_absent(ds, w).await? {
            res.objects_deleted += 1;
        }
    }
    // 5. Block affinities: empty blocks go, others become unaffine.
    for a in &np.affinities {
        steps.step()?;
        let cidr: IpNet = a
            .cidr
            .parse()
            .map_err(|e| DatastoreError::Other(format!("bad CIDR {} in plan: {e}", a.cidr)))?;
        let t = if a.affinity_type == "virtual" {
            AffinityType::Virtual
        } else {
            AffinityType::Host
        };
        ipam::release_affinity(ds, &np.node, t, cidr, false).await?;
        res.objects_deleted += 1;
    }
    // 6-9. Node-scoped objects (BGP peers, per-node configurations, host endpoints, status).
    for o in &np.objects {
        steps.step()?;
        if delete_ignoring_absent(ds, o).await? {
            res.objects_deleted += 1;
        }
    }
    // 10. The Node itself, last, so an interrupted run is found again by the next one.
    if let Some(n) = &np.node_resource
        && ds.backend() == Backend::Etcd
    {
        steps.step()?;
        let rev = (!n.resource_version.is_empty()).then_some(n.resource_version.as_str());
        match ds.delete(kind("Node")?, "", &n.name, rev).await {
            Ok(_) => res.objects_deleted += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) if e.is_conflict() => {
                res.outcome = "skipped".into();
                res.reason = format!("Node {} changed while it was being cleaned up", n.name);
            }
            Err(e) => return Err(e),
        }
    }
    // Felix's status keys go after the Node: they are the evidence a re-run needs.
    if !np.felix_keys.is_empty() && res.outcome == "removed" {
        steps.step()?;
        res.objects_deleted += ds.delete_felix_keys(&np.node).await?;
    }
    Ok(res)
}

/// Deletes one of the node's blocks whose every allocation is planned for release (same
/// handle, same sequence number), then decrements the handles. `None` when the block differs
/// from the plan in any way: the careful per-IP path handles it instead. If interrupted between
/// the block delete and the handle decrements, the next plan finds the handles pointing at a
/// block that is gone under the node's affinity and fixes them.
async fn delete_whole_block(
    ds: &dyn Datastore,
    np: &NodePlan,
    cidr: &str,
    steps: &Steps,
) -> Result<Option<usize>> {
    let Ok(net) = cidr.parse::<IpNet>() else {
        return Ok(None);
    };
    let kv = match ipam::get_block(ds, net).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(Some(0)),
        Err(e) => return Err(e),
    };
    if kv.block.affinity_host() != Some(np.node.as_str()) {
        return Ok(None);
    }
    let planned: BTreeMap<IpAddr, (&Option<String>, Option<u64>)> = np
        .releases
        .iter()
        .flat_map(|h| {
            h.ips
                .iter()
                .filter(|ip| ip.block == cidr)
                .map(move |ip| (ip.ip, (&h.handle, ip.sequence_number)))
        })
        .collect();
    let mut handles: BTreeMap<String, i64> = BTreeMap::new();
    let mut n = 0;
    for (ord, a) in kv.block.allocations.iter().enumerate() {
        if a.is_none() {
            continue;
        }
        let attr = kv.block.attribute_of(ord);
        let seq = kv
            .block
            .sequence_number_for_allocation
            .as_ref()
            .and_then(|m| m.get(&ord.to_string()))
            .copied();
        let handle = attr.and_then(|a| a.handle_id.clone());
        match planned.get(&kv.block.ip_at(ord)) {
            Some((h, s)) if **h == handle && *s == seq => {}
            _ => return Ok(None),
        }
        if let Some(h) = handle {
            *handles.entry(h).or_default() += 1;
        }
        n += 1;
    }
    // One transaction where the backend has them: the block, its handles' share and the
    // affinity go together (etcd: one request instead of a dozen).
    if let Some(done) = delete_block_atomically(ds, np, net, &kv, &handles).await? {
        return Ok(done.then_some(n));
    }
    match ds.ipam_delete(&kv.to_kv()).await {
        Ok(()) => {}
        Err(e) if e.is_conflict() => return Ok(None),
        Err(e) if e.is_not_found() => return Ok(Some(0)),
        Err(e) => return Err(e),
    }
    steps.step()?;
    for (h, c) in handles {
        ipam::decrement_handle(ds, &h, net, c).await?;
    }
    Ok(Some(n))
}

/// The transactional whole-block delete. `None`: the backend has no multi-key transactions;
/// `Some(false)`: something moved since it was read (the careful path takes over).
async fn delete_block_atomically(
    ds: &dyn Datastore,
    np: &NodePlan,
    net: IpNet,
    block: &ipam::BlockKv,
    handles: &BTreeMap<String, i64>,
) -> Result<Option<bool>> {
    use crate::model::ipam::{IpamKey, IpamValue};
    let mut deletes = vec![block.to_kv()];
    let mut updates = Vec::new();
    let hkeys: Vec<IpamKey> = handles.keys().map(|h| IpamKey::Handle(h.clone())).collect();
    let reads = futures::future::join_all(hkeys.iter().map(|k| ds.ipam_get(k))).await;
    for (r, n) in reads.into_iter().zip(handles.values()) {
        let mut kv = match r {
            Ok(kv) => kv,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let IpamValue::Handle(hv) = &mut kv.value else {
            return Ok(Some(false));
        };
        let key = net.to_string();
        let left = hv.block.get(&key).copied().unwrap_or(0) - n;
        if left <= 0 {
            hv.block.remove(&key);
        } else {
            hv.block.insert(key, left);
        }
        if hv.block.is_empty() {
            deletes.push(kv);
        } else {
            updates.push(kv);
        }
    }
    let akey = IpamKey::Affinity {
        host: np.node.clone(),
        affinity_type: AffinityType::Host,
        cidr: net,
    };
    match ds.ipam_get(&akey).await {
        Ok(a) => deletes.push(a),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    match ds.ipam_txn(&deletes, &updates).await {
        Ok(ok) => Ok(Some(ok)),
        Err(e) if e.is_unsupported() => Ok(None),
        Err(e) => Err(e),
    }
}

fn kind(k: &str) -> Result<&'static crate::model::kinds::KindInfo> {
    by_kind(k).ok_or_else(|| DatastoreError::Other(format!("unknown kind {k}")))
}

/// Deletes one object; absent is fine (a previous run got there). True when it deleted.
async fn delete_ignoring_absent(ds: &dyn Datastore, o: &ObjRef) -> Result<bool> {
    match ds.delete(kind(&o.kind)?, &o.namespace, &o.name, None).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Nodes sharing a BGP address (the "already using the IPv4 address" crash loop, §6.5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DuplicateAddress {
    pub address: String,
    pub nodes: Vec<String>,
    /// The node that should go, and why.
    pub remove: String,
    pub reason: String,
}

/// Parses the IP of a `bgp.ipv4Address`-style value (`10.0.0.1/24` or a bare address).
pub fn ip_of(s: &str) -> Option<IpAddr> {
    s.split('/').next().and_then(|a| a.parse().ok())
}

/// Set helper for tests and callers.
pub fn names<'a>(it: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    it.into_iter().map(str::to_string).collect()
}

/// Counts by category for the summary line (also part of `-o json`).
pub fn totals(plan: &Plan) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for n in plan.nodes.iter().filter(|n| n.remove) {
        for (k, v) in n.counts() {
            *t.entry(k).or_default() += v;
        }
    }
    t
}
