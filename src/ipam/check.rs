//! `ipam check` (calicoctl-surface.md §6.4): scans blocks, pools, nodes, workload endpoints and
//! handles; prints calicoctl's report and builds the JSON report `release --from-report` uses.
//! Memory is proportional to the number of allocations (one small record each).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::list_pools;
use crate::datastore::{Datastore, ListOptions, Result};
use crate::model::ipam::{IpamKey, IpamList, IpamValue};
use crate::model::kinds::{by_kind, str_at};
use crate::model::meta;

/// One allocation in the report (Go field order of calicoctl's report).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Allocation {
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub handle: Option<String>,
    #[serde(rename = "sequenceNumber")]
    pub sequence_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(
        rename = "creationTimestamp",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub creation_timestamp: Option<String>,
    #[serde(rename = "inUse")]
    pub in_use: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub borrowed: Option<bool>,
    pub owners: Option<Vec<String>>,
}

/// A handle that no allocation refers to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeakedHandle {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "UID")]
    pub uid: String,
    #[serde(rename = "Revision")]
    pub revision: String,
}

/// The machine-readable report (`ipam check -o FILE`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub version: String,
    #[serde(rename = "clusterGUID")]
    pub cluster_guid: String,
    #[serde(rename = "datastoreLocked")]
    pub datastore_locked: bool,
    #[serde(rename = "clusterInformationRevision")]
    pub cluster_information_revision: String,
    #[serde(rename = "clusterType")]
    pub cluster_type: String,
    pub allocations: BTreeMap<String, Vec<Allocation>>,
    #[serde(
        rename = "leakedHandles",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub leaked_handles: Vec<LeakedHandle>,
}

/// Options of `ipam check`.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub show_all_ips: bool,
    pub show_problem_ips: bool,
    /// A spinner (stderr on a TTY) told each phase and ticked per object.
    pub progress: Option<indicatif::ProgressBar>,
}

impl CheckOptions {
    fn phase(&self, msg: &str) {
        if let Some(p) = &self.progress {
            p.set_message(msg.to_string());
        }
    }

    fn tick(&self) {
        if let Some(p) = &self.progress {
            p.inc(1);
        }
    }
}

/// The result: the text calicoctl prints, the report and the problem count.
pub struct CheckResult {
    pub text: String,
    pub report: Report,
    pub problems: usize,
}

fn attrs_string(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads ClusterInformation `default`: (GUID, revision, locked, type).
pub async fn cluster_info(ds: &dyn Datastore) -> Result<(String, String, bool, String)> {
    let Some(k) = by_kind("ClusterInformation") else {
        return Ok(Default::default());
    };
    let ci = ds.get(k, "", "default").await?;
    let spec = ci.get("spec").cloned().unwrap_or(Value::Null);
    Ok((
        str_at(&spec, &["clusterGUID"]),
        meta::resource_version(&ci),
        spec.get("datastoreReady").and_then(Value::as_bool) == Some(false),
        str_at(&spec, &["clusterType"]),
    ))
}

/// Runs the check.
pub async fn check(ds: &dyn Datastore, opts: &CheckOptions) -> Result<CheckResult> {
    let show_problems = opts.show_problem_ips || opts.show_all_ips;
    let mut t = String::new();
    let (guid, ci_rev, locked, ctype) = cluster_info(ds).await?;
    let _ = writeln!(t, "Checking IPAM for inconsistencies...\n");
    let _ = writeln!(t, "Loading all IPAM blocks...");
    opts.phase("loading IPAM blocks");
    // Blocks stream past; only one small record per allocation is kept (it is the report).
    let mut nblocks = 0usize;
    let mut block_text = String::new();
    // ip -> allocations; handle -> (references in blocks, handle object seen).
    let mut allocs: BTreeMap<String, Vec<Allocation>> = BTreeMap::new();
    let mut handle_refs: HashMap<String, (usize, bool)> = HashMap::new();
    let mut per_node: HashMap<String, usize> = HashMap::new();
    let mut nalloc = 0usize;
    let mut windows_reserved: BTreeSet<String> = BTreeSet::new();
    ds.ipam_scan(&IpamList::Blocks { version: None }, &mut |kv| {
        let IpamValue::Block(block) = kv.value else {
            return Ok(());
        };
        if block.deleted {
            return Ok(());
        }
        nblocks += 1;
        opts.tick();
        let t = &mut block_text;
        let aff = block.affinity.clone().unwrap_or_else(|| "<none>".into());
        let _ = writeln!(t, " IPAM block {} affinity={aff}:", block.cidr);
        let owner = block.affinity_host().map(str::to_string);
        for (ord, a) in block.allocations.iter().enumerate() {
            if a.is_none() {
                continue;
            }
            let Some(attr) = block.attribute_of(ord) else {
                continue;
            };
            if attr.released_at.is_some() {
                continue;
            }
            let ip = block.ip_at(ord).to_string();
            let sec = attr.secondary.clone().unwrap_or_default();
            if opts.show_all_ips {
                let mut line = format!(
                    "  {ip} allocated; attrs Main:{} Extra:{}",
                    attr.handle_id.clone().unwrap_or_else(|| "<none>".into()),
                    attrs_string(&sec)
                );
                if let Some(alt) = &attr.alternate_owner_attrs {
                    let _ = write!(line, " Alternate:{}", attrs_string(alt));
                }
                let _ = writeln!(t, "{line}");
            }
            nalloc += 1;
            if let Some(h) = &attr.handle_id {
                handle_refs.entry(h.clone()).or_default().0 += 1;
                if h == "windows-reserved-ipam-handle" {
                    windows_reserved.insert(ip.clone());
                }
            }
            let node = sec.get("node").cloned().or_else(|| owner.clone());
            if let Some(n) = &node {
                *per_node.entry(n.clone()).or_default() += 1;
            }
            let seq = block
                .sequence_number_for_allocation
                .as_ref()
                .and_then(|m| m.get(&ord.to_string()))
                .copied();
            allocs.entry(ip.clone()).or_default().push(Allocation {
                ip,
                handle: attr.handle_id.clone(),
                sequence_number: seq,
                pod: sec.get("pod").cloned(),
                namespace: sec.get("namespace").cloned(),
                node: node.clone(),
                kind: sec.get("type").cloned(),
                creation_timestamp: sec.get("timestamp").cloned(),
                in_use: false,
                borrowed: Some(node.is_some() && owner.is_some() && node != owner),
                owners: None,
            });
        }
        Ok(())
    })
    .await?;
    let _ = writeln!(t, "Found {nblocks} IPAM blocks.");
    t.push_str(&block_text);
    drop(block_text);
    let _ = writeln!(t, "IPAM blocks record {nalloc} allocations.\n");

    let _ = writeln!(t, "Loading all IPAM pools...");
    let pools: Vec<IpNet> = list_pools(ds)
        .await?
        .into_iter()
        .filter(|p| !p.disabled)
        .map(|p| p.cidr)
        .collect();
    for p in &pools {
        let _ = writeln!(t, "  {p}");
    }
    let _ = writeln!(t, "Found {} active IP pools.\n", pools.len());

    // ip -> owners
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let _ = writeln!(t, "Loading all nodes.");
    opts.phase("loading nodes");
    let mut ntunnel = 0;
    if let Some(nk) = by_kind("Node") {
        ds.scan(nk, &ListOptions::default(), &mut |n| {
            let name = meta::name(&n);
            for path in [
                &["spec", "ipv4VXLANTunnelAddr"][..],
                &["spec", "wireguard", "interfaceIPv4Address"][..],
                &["spec", "bgp", "ipv4IPIPTunnelAddr"][..],
            ] {
                let ip = str_at(&n, path);
                if ip.is_empty() {
                    continue;
                }
                if opts.show_all_ips {
                    let _ = writeln!(t, "  {ip} belongs to Node({name})");
                }
                owners.entry(ip).or_default().push(format!("Node({name})"));
                ntunnel += 1;
            }
            Ok(())
        })
        .await?;
    }
    let _ = writeln!(t, "Found {ntunnel} node tunnel IPs.\n");

    let _ = writeln!(t, "Loading all service load balancer IPs.");
    let _ = writeln!(
        t,
        "No configuration for LoadBalancer kubecontroller found, skipping service check\n"
    );

    let _ = writeln!(t, "Loading all workload endpoints.");
    opts.phase("loading workload endpoints");
    let mut nwep = 0;
    if let Some(wk) = by_kind("WorkloadEndpoint") {
        ds.scan(wk, &ListOptions::default(), &mut |w| {
            opts.tick();
            let id = format!("{}/{}", meta::namespace(&w), meta::name(&w));
            if let Some(Value::Array(nets)) = w.get("spec").and_then(|s| s.get("ipNetworks")) {
                for net in nets.iter().filter_map(Value::as_str) {
                    let ip = net.split('/').next().unwrap_or(net).to_string();
                    if opts.show_all_ips {
                        let _ = writeln!(t, "  {ip} belongs to Workload({id})");
                    }
                    owners
                        .entry(ip)
                        .or_default()
                        .push(format!("Workload({id})"));
                    nwep += 1;
                }
            }
            Ok(())
        })
        .await?;
    }
    let _ = writeln!(t, "Found {nwep} workload IPs.");
    let _ = writeln!(t, "Workloads and nodes are using {} IPs.\n", owners.len());

    let _ = writeln!(t, "Loading all handles");
    opts.phase("loading handles");
    // Handles stream past too: matched ones are only counted.
    let mut leaked_handles = Vec::new();
    let mut matched = 0;
    let mut handle_text = String::new();
    ds.ipam_scan(&IpamList::Handles, &mut |kv| {
        opts.tick();
        let IpamKey::Handle(id) = &kv.key else {
            return Ok(());
        };
        if let IpamValue::Handle(h) = &kv.value
            && h.deleted
        {
            return Ok(());
        }
        match handle_refs.get_mut(id) {
            Some(r) => {
                r.1 = true;
                matched += 1;
            }
            None => {
                if opts.show_all_ips {
                    let _ = writeln!(handle_text, "  {id} doesn't have any active IPs.");
                }
                leaked_handles.push(LeakedHandle {
                    id: id.clone(),
                    uid: kv.uid.clone().unwrap_or_default(),
                    revision: kv.revision.clone(),
                });
            }
        }
        Ok(())
    })
    .await?;
    let _ = writeln!(t, "Looking for top (up to 20) nodes by allocations...");
    let mut counts: Vec<(String, usize)> = per_node.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (n, c) in counts.iter().take(20) {
        let _ = writeln!(t, "  {n} has {c} allocations");
    }
    let mut sorted: Vec<usize> = counts.iter().map(|c| c.1).collect();
    sorted.sort();
    let max = sorted.last().copied().unwrap_or(0);
    let median = if sorted.is_empty() {
        0
    } else {
        sorted[sorted.len() / 2]
    };
    let _ = writeln!(
        t,
        "Node with most allocations has {max}; median is {median}\n"
    );

    let _ = writeln!(
        t,
        "Scanning for IPs that are allocated but not actually in use..."
    );
    let mut leaked = 0;
    for (ip, list) in allocs.iter_mut() {
        let o = owners.get(ip);
        for a in list.iter_mut() {
            a.in_use = o.is_some() || windows_reserved.contains(ip);
            a.owners = o.cloned();
            if !a.in_use {
                leaked += 1;
                if show_problems {
                    let attrs = [
                        ("node", &a.node),
                        ("pod", &a.pod),
                        ("namespace", &a.namespace),
                        ("type", &a.kind),
                    ]
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(",");
                    let _ = writeln!(t, "  {ip} leaked; attrs {attrs}");
                }
            }
        }
    }
    let _ = writeln!(
        t,
        "Found {leaked} IPs that are allocated in IPAM but not actually in use."
    );

    let _ = writeln!(
        t,
        "Scanning for IPs that are in use by a workload or node but not allocated in IPAM..."
    );
    let (mut not_in_pool, mut no_alloc) = (0, 0);
    for (ip, os) in &owners {
        if os.len() > 1 && show_problems {
            let _ = writeln!(t, "  {ip} has multiple owners.");
        }
        let Ok(addr) = ip.parse::<IpAddr>() else {
            continue;
        };
        let in_pool = pools.iter().any(|p| p.contains(&addr));
        if !in_pool {
            not_in_pool += 1;
            if show_problems {
                let _ = writeln!(
                    t,
                    "  {ip} in use by {} is not in any active IP pool.",
                    os.join(",")
                );
            }
        } else if !allocs.contains_key(ip) {
            no_alloc += 1;
            if show_problems {
                let _ = writeln!(
                    t,
                    "  {ip} in use by {} and in active IPAM pool but has no IPAM allocation.",
                    os.join(",")
                );
            }
        }
    }
    let _ = writeln!(
        t,
        "Found {not_in_pool} in-use IPs that are not in active IP pools."
    );
    let _ = writeln!(
        t,
        "Found {no_alloc} in-use IPs that are in active IP pools but have no corresponding IPAM allocation.\n"
    );

    let _ = writeln!(t, "Scanning for IPAM handles with no matching IPs...");
    t.push_str(&handle_text);
    let _ = writeln!(
        t,
        "Found {} handles with no matching IPs (and {matched} handles with matches).",
        leaked_handles.len()
    );
    let _ = writeln!(t, "Scanning for IPs with missing handle...");
    let mut missing = 0;
    let mut refs: Vec<&String> = handle_refs
        .iter()
        .filter(|(_, r)| !r.1)
        .map(|(h, _)| h)
        .collect();
    refs.sort();
    for h in refs {
        missing += 1;
        if show_problems {
            let _ = writeln!(t, "  {h} is in use in a block but doesn't exist.");
        }
    }
    let _ = writeln!(
        t,
        "Found {missing} handles mentioned in blocks with no matching handle resource."
    );
    let problems = leaked + not_in_pool + no_alloc + leaked_handles.len();
    let _ = writeln!(t, "Check complete; found {problems} problems.");
    Ok(CheckResult {
        text: t,
        report: Report {
            version: crate::commands::engine::client_version(),
            cluster_guid: guid,
            datastore_locked: locked,
            cluster_information_revision: ci_rev,
            cluster_type: ctype,
            allocations: allocs,
            leaked_handles,
        },
        problems,
    })
}
