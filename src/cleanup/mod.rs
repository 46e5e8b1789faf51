//! Stale-node cleanup (what a host that vanished without cleanup leaves in etcd or Kubernetes),
//! written once against the `Datastore` trait.
//!
//! Three phases: **evidence** (which nodes are provably dead, which show signs of life),
//! **plan** (every object each dead node left behind and what will happen to it) and **apply**
//! (calicoctl's `delete node` order: IPs, WEPs, affinities, node-scoped objects, Node; extended
//! to what it misses: borrowed IPs, orphan and IPv6 tunnel handles, node-scoped status objects,
//! Felix status keys). Every step is idempotent and guarded by compare-and-swap, so an
//! interrupted run is finished by running again, and a node that comes back to life between
//! plan and apply is left alone.

pub mod delete_node;
pub mod evidence;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::datastore::{Datastore, DatastoreError, Result};
use crate::ipam::{self, ReleaseOptions};
use crate::model::ipam::AffinityType;
use crate::model::kinds::{KindId, by_kind};

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

/// Applies a plan: nodes concurrently (bounded), each node's steps in upstream order except
/// that workload endpoints go before their addresses are released.
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
        let nk = KindId::Node.info();
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
    // Workload endpoints first (upstream releases the IPs first): an interruption must never
    // leave an endpoint naming an address that is free again, since another pod may get the
    // address and, with it, the dead endpoint's labels in every other node's policy. Addresses
    // left allocated without an endpoint are found by the next plan (it reads IPAM, not the
    // endpoints).
    for w in &np.workload_endpoints {
        steps.step()?;
        if delete_ignoring_absent(ds, w).await? {
            res.objects_deleted += 1;
        }
    }
    // 1-3. Release the node's IPs (its workloads', its tunnel addresses', its borrowed ones),
    // each guarded by handle and sequence number so a re-used address is never freed.
    // Fast path: a block of the node's own that holds only planned IPs is deleted whole (one
    // CAS delete instead of a rewrite now and a delete when its affinity goes).
    let (mut done_blocks, n) = delete_blocks_in_batches(ds, np, steps).await?;
    res.ips_released += n;
    res.objects_deleted += done_blocks.len();
    // Affinities already removed in the same transaction as their block.
    let gone_affinities = done_blocks.clone();
    for cidr in np
        .blocks_deleted
        .iter()
        .filter(|c| !gone_affinities.contains(*c))
    {
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
        let r = ipam::release_ips(ds, &reqs, ipam::ReleaseMode::SkipStale).await?;
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
        ipam::decrement_handle(ds, &h.handle, cidr, h.excess, ipam::Decrement::Clamp).await?;
    }
    // 5. Block affinities: empty blocks go, others become unaffine.
    for a in np
        .affinities
        .iter()
        .filter(|a| !gone_affinities.contains(&a.cidr))
    {
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
        && ds.owns_nodes_and_workloads()
    {
        steps.step()?;
        let rev = (!n.resource_version.is_empty()).then_some(n.resource_version.as_str());
        match ds.delete(KindId::Node.info(), "", &n.name, rev).await {
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
        res.objects_deleted += ds.delete_felix_keys(&np.node, &np.felix_keys).await?;
    }
    Ok(res)
}

/// What reading one of the node's own blocks found.
enum Verified {
    /// Already gone.
    Gone,
    /// Differs from the plan (other allocations, re-used addresses, another affinity).
    Mismatch,
    /// Holds exactly planned allocations: the block, allocations per handle, their count.
    Ready(IpNet, Box<ipam::BlockKv>, BTreeMap<String, i64>, usize),
}

/// Reads a block planned for deletion and checks that every allocation in it is planned for
/// release (same handle, same sequence number).
async fn verify_block(ds: &dyn Datastore, np: &NodePlan, cidr: &str) -> Result<Verified> {
    let Ok(net) = cidr.parse::<IpNet>() else {
        return Ok(Verified::Mismatch);
    };
    let kv = match ipam::get_block(ds, net).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(Verified::Gone),
        Err(e) => return Err(e),
    };
    Ok(match verify_loaded(np, cidr, &kv) {
        Some((handles, n)) => Verified::Ready(net, Box::new(kv), handles, n),
        None => Verified::Mismatch,
    })
}

/// The allocations per handle and their count when every allocation of the (node-affine)
/// block is planned for release; `None` otherwise.
fn verify_loaded(
    np: &NodePlan,
    cidr: &str,
    kv: &ipam::BlockKv,
) -> Option<(BTreeMap<String, i64>, usize)> {
    if kv.block.affinity_host() != Some(np.node.as_str()) {
        return None;
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
            _ => return None,
        }
        if let Some(h) = handle {
            *handles.entry(h).or_default() += 1;
        }
        n += 1;
    }
    Some((handles, n))
}

/// Deletes one of the node's blocks that holds only planned allocations, then decrements the
/// handles (one CAS per object). `None` when the block differs from the plan: the careful
/// per-IP path handles it instead. If interrupted between the block delete and the handle
/// decrements, the next plan finds the handles pointing at a block that is gone under the
/// node's affinity and fixes them.
async fn delete_whole_block(
    ds: &dyn Datastore,
    np: &NodePlan,
    cidr: &str,
    steps: &Steps,
) -> Result<Option<usize>> {
    let (net, kv, handles, n) = match verify_block(ds, np, cidr).await? {
        Verified::Gone => return Ok(Some(0)),
        Verified::Mismatch => return Ok(None),
        Verified::Ready(net, kv, handles, n) => (net, kv, handles, n),
    };
    match ds.ipam_delete(&kv.to_kv()).await {
        Ok(()) => {}
        Err(e) if e.is_conflict() => return Ok(None),
        Err(e) if e.is_not_found() => return Ok(Some(0)),
        Err(e) => return Err(e),
    }
    steps.step()?;
    for (h, c) in handles {
        ipam::decrement_handle(ds, &h, net, c, ipam::Decrement::Clamp).await?;
    }
    Ok(Some(n))
}

/// Operations per etcd transaction (etcd's default limit is 128).
const TXN_OPS: usize = 120;

/// Backends with multi-key transactions: the node's own blocks that hold only planned IPs go
/// in transactions of up to `TXN_OPS` operations, each deleting blocks together with their
/// handles' shares and their affinities — all or nothing, so nothing is ever half-done. Returns
/// the blocks done and the IPs released; the rest is left to the one-object-at-a-time path.
async fn delete_blocks_in_batches(
    ds: &dyn Datastore,
    np: &NodePlan,
    steps: &Steps,
) -> Result<(BTreeSet<String>, usize)> {
    use crate::model::ipam::{IpamKey, IpamValue};
    let mut done = BTreeSet::new();
    let mut released = 0;
    if !ds.has_ipam_transactions() || np.blocks_deleted.is_empty() {
        return Ok((done, released));
    }
    // All the node's blocks in one read (etcd: read-only transactions), then verified.
    let bkeys: Vec<IpamKey> = np
        .blocks_deleted
        .iter()
        .filter_map(|c| c.parse().ok().map(IpamKey::Block))
        .collect();
    let blocks = ds.ipam_get_many(&bkeys).await?;
    let mut ready = Vec::new();
    for (k, b) in bkeys.iter().zip(blocks) {
        let (IpamKey::Block(net), Some(kv)) = (k, b) else {
            // Gone: the one-object-at-a-time path (and the affinity step) see to it.
            continue;
        };
        let IpamValue::Block(block) = kv.value else {
            continue;
        };
        let bkv = ipam::BlockKv {
            block,
            revision: kv.revision,
            uid: kv.uid,
        };
        if let Some((handles, n)) = verify_loaded(np, &net.to_string(), &bkv) {
            ready.push((net.to_string(), *net, bkv, handles, n));
        }
    }
    let mut i = 0;
    while i < ready.len() {
        let mut chunk = Vec::new();
        let mut ops = 0;
        while i < ready.len() && (chunk.is_empty() || ops + 2 + ready[i].3.len() <= TXN_OPS) {
            ops += 2 + ready[i].3.len();
            chunk.push(&ready[i]);
            i += 1;
        }
        steps.step()?;
        // Handles shared by several blocks of the chunk are read once and decremented for all.
        let mut per_handle: BTreeMap<&String, Vec<(IpNet, i64)>> = BTreeMap::new();
        for (_, net, _, handles, _) in &chunk {
            for (h, n) in handles {
                per_handle.entry(h).or_default().push((*net, *n));
            }
        }
        let hkeys: Vec<IpamKey> = per_handle
            .keys()
            .map(|h| IpamKey::Handle((*h).clone()))
            .collect();
        let akeys: Vec<IpamKey> = chunk
            .iter()
            .map(|(_, net, ..)| IpamKey::Affinity {
                host: np.node.clone(),
                affinity_type: AffinityType::Host,
                cidr: *net,
            })
            .collect();
        let hreads = ds.ipam_get_many(&hkeys).await?;
        let areads = ds.ipam_get_many(&akeys).await?;
        let mut deletes: Vec<crate::model::ipam::IpamKv> =
            chunk.iter().map(|(_, _, kv, ..)| kv.to_kv()).collect();
        let mut updates = Vec::new();
        for (r, shares) in hreads.into_iter().zip(per_handle.values()) {
            let Some(mut kv) = r else { continue };
            let IpamValue::Handle(hv) = &mut kv.value else {
                continue;
            };
            for (net, n) in shares {
                let key = net.to_string();
                let left = hv.block.get(&key).copied().unwrap_or(0) - n;
                if left <= 0 {
                    hv.block.remove(&key);
                } else {
                    hv.block.insert(key, left);
                }
            }
            if hv.block.is_empty() {
                deletes.push(kv);
            } else {
                updates.push(kv);
            }
        }
        deletes.extend(areads.into_iter().flatten());
        if ds.ipam_txn(&deletes, &updates).await? {
            for (c, .., n) in &chunk {
                done.insert(c.clone());
                released += n;
            }
        }
    }
    Ok((done, released))
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

/// Nodes sharing a BGP address: calico-node exits at start ("already using the IPv4 address").
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
