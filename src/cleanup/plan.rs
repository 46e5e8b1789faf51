//! The plan: for every node with evidence of death, every object it left and what happens to
//! it. Built from one pass over each kind (blocks and handles stream), so memory follows the
//! plan's size, not the cluster's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::evidence::{Evidence, Snapshot, k8s_name};
use super::{DuplicateAddress, ObjRef, ip_of};
use crate::datastore::{Datastore, ListOptions, Result};
use crate::model::ipam::{AffinityType, IpamKey, IpamList, IpamValue};
use crate::model::kinds::{KindId, NodeScope, node_scoped_kinds, str_at};
use crate::model::meta;

/// The whole plan (also the `-o json|yaml` document and the `--plan` input).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Evidence sources consulted.
    pub sources: Vec<String>,
    /// Evidence sources looked for and not available.
    #[serde(rename = "unavailableSources", default)]
    pub unavailable_sources: Vec<String>,
    pub nodes: Vec<NodePlan>,
    #[serde(default)]
    pub duplicates: Vec<DuplicateAddress>,
}

/// One node's verdict and leftovers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodePlan {
    pub node: String,
    /// Whether apply removes it (dead evidence and no live evidence, or `--force`).
    pub remove: bool,
    /// Named on the command line.
    #[serde(default)]
    pub explicit: bool,
    pub evidence: Evidence,
    /// The Kubernetes Node name the evidence was checked against.
    #[serde(rename = "kubernetesNode", default)]
    pub k8s_node: String,
    #[serde(rename = "nodeResource", default)]
    pub node_resource: Option<ObjRef>,
    /// BGP addresses of the Node (for the BGP liveness check and duplicate detection).
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(rename = "tunnelAddresses", default)]
    pub tunnel_addresses: Vec<String>,
    /// IPs released, grouped per handle.
    #[serde(default)]
    pub releases: Vec<HandleRelease>,
    #[serde(rename = "workloadEndpoints", default)]
    pub workload_endpoints: Vec<ObjRef>,
    #[serde(default)]
    pub affinities: Vec<AffinityRef>,
    #[serde(rename = "blocksDeleted", default)]
    pub blocks_deleted: Vec<String>,
    #[serde(rename = "blocksUnaffined", default)]
    pub blocks_unaffined: Vec<String>,
    /// Other nodes' blocks from which this node's borrowed IPs are released.
    #[serde(rename = "blocksUpdated", default)]
    pub blocks_updated: Vec<String>,
    #[serde(rename = "handlesDeleted", default)]
    pub handles_deleted: Vec<String>,
    #[serde(rename = "handlesUpdated", default)]
    pub handles_updated: Vec<String>,
    /// Handle counts left too high by an interrupted run.
    #[serde(rename = "handleFixes", default)]
    pub handle_fixes: Vec<HandleFix>,
    /// Node-scoped objects deleted: BGPPeers, per-node Felix/BGP configurations, host
    /// endpoints, CalicoNodeStatus.
    #[serde(default)]
    pub objects: Vec<ObjRef>,
    #[serde(rename = "felixStatusKeys", default)]
    pub felix_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandleRelease {
    pub handle: Option<String>,
    pub ips: Vec<IpRelease>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IpRelease {
    pub ip: IpAddr,
    pub block: String,
    #[serde(rename = "sequenceNumber")]
    pub sequence_number: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AffinityRef {
    pub cidr: String,
    #[serde(rename = "type")]
    pub affinity_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandleFix {
    pub handle: String,
    pub block: String,
    pub excess: i64,
}

impl NodePlan {
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.addresses.iter().filter_map(|a| ip_of(a)).collect()
    }

    pub fn ip_count(&self) -> usize {
        self.releases.iter().map(|h| h.ips.len()).sum()
    }

    /// Counts per category, in display order.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("nodes", usize::from(self.node_resource.is_some())),
            ("workloadEndpoints", self.workload_endpoints.len()),
            ("ips", self.ip_count()),
            ("handlesDeleted", self.handles_deleted.len()),
            ("handlesUpdated", self.handles_updated.len()),
            ("handleFixes", self.handle_fixes.len()),
            ("affinities", self.affinities.len()),
            ("blocksDeleted", self.blocks_deleted.len()),
            ("blocksUnaffined", self.blocks_unaffined.len()),
            ("blocksUpdated", self.blocks_updated.len()),
            ("objects", self.objects.len()),
            ("felixStatusKeys", self.felix_keys.len()),
        ]
    }

    /// True when nothing is left of the node.
    pub fn is_empty(&self) -> bool {
        self.counts().iter().all(|(_, n)| *n == 0)
    }
}

struct NodeInfo {
    revision: String,
    k8s_name: String,
    addresses: Vec<String>,
    tunnels: Vec<String>,
    created: String,
}

fn node_info(n: &Value) -> NodeInfo {
    let addresses = [
        str_at(n, &["spec", "bgp", "ipv4Address"]),
        str_at(n, &["spec", "bgp", "ipv6Address"]),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    let tunnels = [
        &["spec", "bgp", "ipv4IPIPTunnelAddr"][..],
        &["spec", "ipv4VXLANTunnelAddr"][..],
        &["spec", "ipv6VXLANTunnelAddr"][..],
        &["spec", "wireguard", "interfaceIPv4Address"][..],
        &["spec", "wireguard", "interfaceIPv6Address"][..],
    ]
    .iter()
    .map(|p| str_at(n, p))
    .filter(|s| !s.is_empty())
    .collect();
    NodeInfo {
        revision: meta::resource_version(n),
        k8s_name: k8s_name(n),
        addresses,
        tunnels,
        created: meta::meta_str(n, "creationTimestamp"),
    }
}

fn obj_ref(kind: &str, o: &Value) -> ObjRef {
    ObjRef {
        kind: kind.to_string(),
        namespace: meta::namespace(o),
        name: meta::name(o),
        resource_version: String::new(),
    }
}

/// Builds the plan. `explicit` nodes are judged too (and marked); `force` removes nodes that
/// show signs of life; `only_explicit` judges no other node.
pub async fn build_plan(
    ds: &dyn Datastore,
    snap: &Snapshot,
    explicit: &[String],
    force: bool,
    only_explicit: bool,
) -> Result<Plan> {
    let etcd = ds.owns_nodes_and_workloads();
    let inv = Inventory::read(ds).await?;
    let mut plans = inv.judge(snap, explicit, force, only_explicit, etcd);
    add_workloads(ds, &mut plans, etcd, force).await?;
    let doomed: BTreeSet<String> = plans
        .values()
        .filter(|p| p.remove)
        .map(|p| p.node.clone())
        .collect();
    if !doomed.is_empty() {
        let releases = plan_block_releases(ds, &mut plans, &doomed).await?;
        plan_handles(ds, &mut plans, &releases).await?;
        for (n, by_handle) in releases.per_node {
            if let Some(p) = plans.get_mut(&n) {
                p.releases = by_handle
                    .into_iter()
                    .map(|(handle, ips)| HandleRelease { handle, ips })
                    .collect();
            }
        }
    }
    // A node with nothing left and nothing to prove it gone is not worth listing.
    let mut out_nodes: Vec<NodePlan> = plans
        .into_values()
        .filter(|p| p.explicit || !p.is_empty())
        .collect();
    for p in &mut out_nodes {
        p.handles_deleted.sort();
        p.handles_updated.sort();
        p.blocks_updated.sort();
        p.blocks_updated.dedup();
    }
    Ok(Plan {
        sources: snap.sources.clone(),
        unavailable_sources: snap.absent.clone(),
        nodes: out_nodes,
        duplicates: duplicate_addresses(&inv.nodes, &doomed),
    })
}

/// Every name anything refers to: Calico Nodes, node-scoped objects, host affinities and
/// Felix status keys, each by node name.
struct Inventory {
    nodes: BTreeMap<String, NodeInfo>,
    scoped: BTreeMap<String, Vec<ObjRef>>,
    affinities: BTreeMap<String, Vec<AffinityRef>>,
    felix_keys: BTreeMap<String, Vec<String>>,
}

impl Inventory {
    async fn read(ds: &dyn Datastore) -> Result<Inventory> {
        let mut nodes: BTreeMap<String, NodeInfo> = BTreeMap::new();
        ds.scan(KindId::Node.info(), &ListOptions::default(), &mut |n| {
            nodes.insert(meta::name(&n), node_info(&n));
            Ok(())
        })
        .await?;
        let mut scoped: BTreeMap<String, Vec<ObjRef>> = BTreeMap::new();
        for (ki, scope) in node_scoped_kinds() {
            let k = ki.kind;
            // The node an object belongs to, by its kind's scope.
            let node_of = |o: &Value| -> Option<String> {
                match scope {
                    NodeScope::SpecNode { .. } => {
                        Some(str_at(o, &["spec", "node"])).filter(|n| !n.is_empty())
                    }
                    NodeScope::NodeNamed { .. } => {
                        meta::name(o).strip_prefix("node.").map(str::to_string)
                    }
                    NodeScope::None => None,
                }
            };
            if matches!(scope, NodeScope::None) {
                continue;
            }
            ds.scan(ki, &ListOptions::default(), &mut |o| {
                if let Some(n) = node_of(&o) {
                    scoped.entry(n).or_default().push(obj_ref(k, &o));
                }
                Ok(())
            })
            .await?;
        }
        let mut affinities: BTreeMap<String, Vec<AffinityRef>> = BTreeMap::new();
        ds.ipam_scan(
            &IpamList::Affinities {
                host: None,
                version: None,
            },
            &mut |kv| {
                if let IpamKey::Affinity {
                    host,
                    affinity_type: AffinityType::Host,
                    cidr,
                } = kv.key
                {
                    affinities.entry(host).or_default().push(AffinityRef {
                        cidr: cidr.to_string(),
                        affinity_type: "host".into(),
                    });
                }
                Ok(())
            },
        )
        .await?;
        let mut felix_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in ds.felix_reports().await? {
            felix_keys.entry(r.host).or_default().push(r.key);
        }
        Ok(Inventory {
            nodes,
            scoped,
            affinities,
            felix_keys,
        })
    }

    /// Judges every name (only the explicit ones with `only_explicit`); a plan for each with
    /// evidence of death, holding what the inventory has of it.
    fn judge(
        &self,
        snap: &Snapshot,
        explicit: &[String],
        force: bool,
        only_explicit: bool,
        etcd: bool,
    ) -> BTreeMap<String, NodePlan> {
        let explicit_set: BTreeSet<&str> = explicit.iter().map(String::as_str).collect();
        let all: BTreeSet<String> = if only_explicit {
            explicit.iter().cloned().collect()
        } else {
            let mut all: BTreeSet<String> = self.nodes.keys().cloned().collect();
            all.extend(self.scoped.keys().cloned());
            all.extend(self.affinities.keys().cloned());
            all.extend(self.felix_keys.keys().cloned());
            all.extend(explicit.iter().cloned());
            all
        };
        let mut plans: BTreeMap<String, NodePlan> = BTreeMap::new();
        for name in &all {
            let info = self.nodes.get(name);
            let k8s = info
                .map(|i| i.k8s_name.clone())
                .unwrap_or_else(|| name.clone());
            let addrs: Vec<IpAddr> = info
                .map(|i| i.addresses.iter().filter_map(|a| ip_of(a)).collect())
                .unwrap_or_default();
            let mut ev = snap.judge(name, &k8s, &addrs);
            if info.is_none() && etcd {
                ev.dead
                    .push("no Calico Node resource (left over from a removed node)".into());
            }
            if explicit_set.contains(name.as_str()) {
                ev.dead.push("named on the command line".into());
            }
            if ev.dead.is_empty() {
                continue;
            }
            plans.insert(
                name.clone(),
                NodePlan {
                    node: name.clone(),
                    explicit: explicit_set.contains(name.as_str()),
                    remove: ev.live.is_empty() || force,
                    evidence: ev,
                    k8s_node: k8s,
                    node_resource: info.map(|i| ObjRef {
                        kind: KindId::Node.name().into(),
                        namespace: String::new(),
                        name: name.clone(),
                        resource_version: i.revision.clone(),
                    }),
                    addresses: info.map(|i| i.addresses.clone()).unwrap_or_default(),
                    tunnel_addresses: info.map(|i| i.tunnels.clone()).unwrap_or_default(),
                    affinities: self.affinities.get(name).cloned().unwrap_or_default(),
                    objects: self.scoped.get(name).cloned().unwrap_or_default(),
                    felix_keys: self.felix_keys.get(name).cloned().unwrap_or_default(),
                    ..Default::default()
                },
            );
        }
        plans
    }
}

/// Workload endpoints of the judged nodes. In Kubernetes they are Pods, which the pod garbage
/// collector owns: pods still bound to a node keep it (as kube-controllers' IPAM GC does)
/// unless `force`.
async fn add_workloads(
    ds: &dyn Datastore,
    plans: &mut BTreeMap<String, NodePlan>,
    etcd: bool,
    force: bool,
) -> Result<()> {
    if plans.is_empty() {
        return Ok(());
    }
    let mut pods_left: BTreeMap<String, usize> = BTreeMap::new();
    ds.scan(
        KindId::WorkloadEndpoint.info(),
        &ListOptions::default(),
        &mut |w| {
            let n = str_at(&w, &["spec", "node"]);
            if let Some(p) = plans.get_mut(&n) {
                if etcd {
                    p.workload_endpoints
                        .push(obj_ref(KindId::WorkloadEndpoint.name(), &w));
                } else {
                    *pods_left.entry(n).or_default() += 1;
                }
            }
            Ok(())
        },
    )
    .await?;
    for (n, c) in pods_left {
        if let Some(p) = plans.get_mut(&n) {
            p.evidence
                .live
                .push(format!("{c} pod(s) still bound to it in Kubernetes"));
            p.remove = force;
        }
    }
    Ok(())
}

/// What the block scan decides: the addresses released per node and handle, and what the
/// handle scan needs to judge each handle.
#[derive(Default)]
struct BlockReleases {
    /// (handle, block) → addresses released.
    released: HashMap<(String, String), i64>,
    /// handle → the node whose release frees it.
    release_owner: HashMap<String, String>,
    /// Blocks affine to a removed node: block → (node, handle → allocations held).
    in_dead_blocks: HashMap<String, (String, HashMap<String, i64>)>,
    per_node: BTreeMap<String, BTreeMap<Option<String>, Vec<IpRelease>>>,
}

/// Blocks: the releases of the removed (`doomed`) nodes' addresses, and what becomes of each
/// block (deleted, unaffined or updated).
async fn plan_block_releases(
    ds: &dyn Datastore,
    plans: &mut BTreeMap<String, NodePlan>,
    doomed: &BTreeSet<String>,
) -> Result<BlockReleases> {
    let mut r = BlockReleases::default();
    ds.ipam_scan(&IpamList::Blocks { version: None }, &mut |kv| {
        let IpamValue::Block(b) = kv.value else {
            return Ok(());
        };
        if b.deleted {
            return Ok(());
        }
        let cidr = b.cidr.to_string();
        let host = b.affinity_host().map(str::to_string);
        let dead_host = host.as_ref().filter(|h| doomed.contains(*h)).cloned();
        let mut remaining = 0usize;
        let mut counts: HashMap<String, i64> = HashMap::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for (ord, a) in b.allocations.iter().enumerate() {
            if a.is_none() {
                continue;
            }
            let Some(attr) = b.attribute_of(ord) else {
                remaining += 1;
                continue;
            };
            if let Some(h) = &attr.handle_id {
                *counts.entry(h.clone()).or_default() += 1;
            }
            let owner = attr
                .secondary
                .as_ref()
                .and_then(|s| s.get("node").cloned())
                .or_else(|| host.clone());
            let Some(owner) = owner.filter(|o| doomed.contains(o)) else {
                remaining += 1;
                continue;
            };
            // Allocations without a handle are never released (as kube-controllers).
            let Some(handle) = attr.handle_id.clone() else {
                remaining += 1;
                continue;
            };
            let seq = b
                .sequence_number_for_allocation
                .as_ref()
                .and_then(|m| m.get(&ord.to_string()))
                .copied();
            r.per_node
                .entry(owner.clone())
                .or_default()
                .entry(Some(handle.clone()))
                .or_default()
                .push(IpRelease {
                    ip: b.ip_at(ord),
                    block: cidr.clone(),
                    sequence_number: seq,
                });
            *r.released
                .entry((handle.clone(), cidr.clone()))
                .or_default() += 1;
            r.release_owner.insert(handle, owner.clone());
            touched.insert(owner);
        }
        match &dead_host {
            Some(h) => {
                if let Some(p) = plans.get_mut(h) {
                    if remaining == 0 {
                        p.blocks_deleted.push(cidr.clone());
                    } else {
                        p.blocks_unaffined.push(cidr.clone());
                    }
                }
                r.in_dead_blocks.insert(cidr.clone(), (h.clone(), counts));
            }
            None => {
                for o in touched {
                    if let Some(p) = plans.get_mut(&o) {
                        p.blocks_updated.push(cidr.clone());
                    }
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(r)
}

/// Handles: deleted when every reference is released, updated when some are; and the counts
/// an interrupted run left too high (in blocks of removed nodes, or whose block is gone).
async fn plan_handles(
    ds: &dyn Datastore,
    plans: &mut BTreeMap<String, NodePlan>,
    r: &BlockReleases,
) -> Result<()> {
    // Affinities of doomed nodes whose block is gone (an interrupted whole-block delete).
    let orphan_cidrs: HashMap<String, String> = plans
        .values()
        .filter(|p| p.remove)
        .flat_map(|p| {
            p.affinities
                .iter()
                .map(move |a| (a.cidr.clone(), p.node.clone()))
        })
        .filter(|(c, _)| !r.in_dead_blocks.contains_key(c))
        .collect();
    ds.ipam_scan(&IpamList::Handles, &mut |kv| {
        let (IpamKey::Handle(id), IpamValue::Handle(h)) = (&kv.key, &kv.value) else {
            return Ok(());
        };
        if h.deleted {
            return Ok(());
        }
        let mut total = 0i64;
        let mut freed = 0i64;
        for (cidr, count) in &h.block {
            total += count;
            freed += r
                .released
                .get(&(id.clone(), cidr.clone()))
                .copied()
                .unwrap_or(0);
            if let Some(owner) = orphan_cidrs.get(cidr)
                && let Some(p) = plans.get_mut(owner)
            {
                p.handle_fixes.push(HandleFix {
                    handle: id.clone(),
                    block: cidr.clone(),
                    excess: *count,
                });
            }
            if let Some((owner, actual)) = r.in_dead_blocks.get(cidr) {
                let have = actual.get(id).copied().unwrap_or(0);
                if *count > have
                    && let Some(p) = plans.get_mut(owner)
                {
                    p.handle_fixes.push(HandleFix {
                        handle: id.clone(),
                        block: cidr.clone(),
                        excess: count - have,
                    });
                }
            }
        }
        if freed > 0
            && let Some(owner) = r.release_owner.get(id)
            && let Some(p) = plans.get_mut(owner)
        {
            if freed >= total {
                p.handles_deleted.push(id.clone());
            } else {
                p.handles_updated.push(id.clone());
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// BGP addresses two Nodes claim, and which Node to remove: a dead one, else the older.
fn duplicate_addresses(
    nodes: &BTreeMap<String, NodeInfo>,
    doomed: &BTreeSet<String>,
) -> Vec<DuplicateAddress> {
    let mut by_addr: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for (name, i) in nodes {
        for a in &i.addresses {
            if let Some(ip) = ip_of(a) {
                by_addr.entry(ip.to_string()).or_default().push(name);
            }
        }
    }
    let mut duplicates = Vec::new();
    for (addr, names) in by_addr.into_iter().filter(|(_, v)| v.len() > 1) {
        let dead: Vec<&&String> = names.iter().filter(|n| doomed.contains(**n)).collect();
        let (remove, reason) = if let Some(d) = dead.first() {
            (d.to_string(), "it is dead (see its evidence)".to_string())
        } else {
            // The older Node is the stale one: the newer was created by the host now using
            // the address, and that host's calico-node is the one crash-looping.
            let oldest = names
                .iter()
                .min_by(|a, b| nodes[**a].created.cmp(&nodes[**b].created).then(a.cmp(b)))
                .map(|s| s.to_string())
                .unwrap_or_default();
            (
                oldest,
                "it is the older Node resource; remove it with `calicoctl node cleanup NODE --apply` once its host is confirmed gone".to_string(),
            )
        };
        duplicates.push(DuplicateAddress {
            address: addr,
            nodes: names.iter().map(|s| s.to_string()).collect(),
            remove,
            reason,
        });
    }
    duplicates
}
