//! `ipam check`: scans blocks, pools, nodes, LoadBalancer Services, workload endpoints and
//! handles as calicoctl does, prints its report as it goes and builds the JSON report that
//! `release --from-report` reads. Memory is proportional to the number of allocations.
//!
//! calicoctl walks Go maps for the problem lines, the leaked handles and the nodes with equal
//! counts, so their order differs from run to run there; here it is sorted (IP text, handle
//! list order, name).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::list_pools;
use crate::datastore::{Datastore, DatastoreError, ListOptions};
use crate::model::ipam::{AllocationAttribute, IpamKey, IpamList, IpamValue};
use crate::model::kinds::{by_kind, str_at};
use crate::model::meta;

/// The handle libcalico gives the addresses Windows reserves in each block.
pub const WINDOWS_RESERVED_HANDLE: &str = "windows-reserved-ipam-handle";

/// One allocation in the report (Go field order of calicoctl's report).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Allocation {
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub handle: Option<String>,
    /// The block's sequence number for the ordinal; 0 when the block has none.
    #[serde(
        rename = "sequenceNumber",
        default,
        deserialize_with = "null_as_default"
    )]
    pub sequence_number: u64,
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
    #[serde(rename = "inUse", default, deserialize_with = "null_as_default")]
    pub in_use: bool,
    #[serde(
        skip_serializing_if = "is_false",
        default,
        deserialize_with = "null_as_default"
    )]
    pub borrowed: bool,
    #[serde(default)]
    pub owners: Option<Vec<String>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Go's decoder leaves a field at its zero value for `null`.
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A handle that no allocation refers to. `UID` is `null` in etcd mode (handles there have
/// none), the handle's UID in Kubernetes mode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeakedHandle {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "UID", default)]
    pub uid: Option<String>,
    #[serde(rename = "Revision", default)]
    pub revision: String,
}

/// The machine-readable report (`ipam check -o FILE`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    #[serde(default)]
    pub version: String,
    #[serde(rename = "clusterGUID", default)]
    pub cluster_guid: String,
    #[serde(rename = "datastoreLocked", default)]
    pub datastore_locked: bool,
    #[serde(rename = "clusterInformationRevision", default)]
    pub cluster_information_revision: String,
    #[serde(rename = "clusterType", default)]
    pub cluster_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allocations: BTreeMap<String, Vec<Allocation>>,
    #[serde(
        rename = "leakedHandles",
        skip_serializing_if = "Vec::is_empty",
        default,
        deserialize_with = "null_as_default"
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

/// Why a check stopped (what it printed so far stays printed).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Datastore(#[from] DatastoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Listing the Services failed.
    #[error("{0}")]
    Kubernetes(String),
}

/// The result: the report and the problem count.
pub struct CheckResult {
    pub report: Report,
    pub problems: usize,
}

/// `k=v,k=v` in key order (Go prints its maps sorted).
fn attrs_string(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// calicoctl's description of an allocation: `Main:<handle> Extra:k=v,… [Alternate:k=v,…]`.
fn describe(attr: &AllocationAttribute) -> String {
    let mut s = format!(
        "Main:{} Extra:{}",
        attr.handle_id.as_deref().unwrap_or("<none>"),
        attrs_string(&attr.secondary.clone().unwrap_or_default())
    );
    if let Some(alt) = attr
        .alternate_owner_attrs
        .as_ref()
        .filter(|a| !a.is_empty())
    {
        s.push_str(&format!(" Alternate:{}", attrs_string(alt)));
    }
    s
}

/// Reads ClusterInformation `default`: (GUID, revision, locked, type).
pub async fn cluster_info(
    ds: &dyn Datastore,
) -> crate::datastore::Result<(String, String, bool, String)> {
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

/// Whether Calico's LoadBalancer controller manages `svc` under `assign_ips`: a LoadBalancer
/// Service of class `calico`, or of no class when every Service gets an IP or when this one
/// asks for a pool or an address.
fn calico_load_balancer(svc: &Value, assign_ips: &str) -> bool {
    let spec = &svc["spec"];
    if spec["type"] != "LoadBalancer" {
        return false;
    }
    let requested = || {
        [
            "projectcalico.org/ipv4pools",
            "projectcalico.org/ipv6pools",
            "projectcalico.org/loadBalancerIPs",
        ]
        .iter()
        .any(|a| {
            svc["metadata"]["annotations"][a]
                .as_str()
                .is_some_and(|v| !v.is_empty())
        })
    };
    let class = spec["loadBalancerClass"].as_str();
    match assign_ips {
        "AllServices" => class.is_none() || class == Some("calico"),
        "RequestedServicesOnly" => class == Some("calico") || (class.is_none() && requested()),
        _ => false,
    }
}

/// What the scan collects: IP → owners (in the order they were seen) and the count of owners.
#[derive(Default)]
struct InUse {
    owners: HashMap<String, Vec<String>>,
}

impl InUse {
    fn record(
        &mut self,
        out: &mut dyn Write,
        show: bool,
        ip: String,
        owner: String,
    ) -> std::io::Result<()> {
        if show {
            writeln!(out, "  {ip} belongs to {owner}")?;
        }
        self.owners.entry(ip).or_default().push(owner);
        Ok(())
    }
}

/// Runs the check, printing calicoctl's text to `out` as it goes. `services` is the list of
/// Kubernetes Services (or why it could not be read); it is only looked at where calicoctl
/// reads it, after the nodes.
pub async fn check(
    ds: &dyn Datastore,
    opts: &CheckOptions,
    services: std::result::Result<Vec<Value>, String>,
    out: &mut dyn Write,
) -> std::result::Result<CheckResult, CheckError> {
    let show_problems = opts.show_problem_ips || opts.show_all_ips;
    let show_all = opts.show_all_ips;
    writeln!(out, "Checking IPAM for inconsistencies...\n")?;
    let (guid, ci_rev, locked, ctype) = cluster_info(ds).await?;

    writeln!(out, "Loading all IPAM blocks...")?;
    opts.phase("loading IPAM blocks");
    // The block lines come after the count: kept until the scan ends (with --show-all-ips
    // that is one line per allocation).
    let mut block_text: Vec<u8> = Vec::new();
    let mut nblocks = 0usize;
    let mut nalloc = 0usize;
    let mut allocs: BTreeMap<String, Vec<Allocation>> = BTreeMap::new();
    // How each allocation reads in a "leaked" line (only kept when those lines are printed).
    let mut described: HashMap<String, Vec<String>> = HashMap::new();
    let mut windows: HashSet<String> = HashSet::new();
    let mut referenced: HashSet<String> = HashSet::new();
    let mut per_node: HashMap<String, usize> = HashMap::new();
    let mut in_use = InUse::default();
    let mut io_err: Option<std::io::Error> = None;
    ds.ipam_scan(&IpamList::Blocks { version: None }, &mut |kv| {
        let IpamValue::Block(block) = kv.value else {
            return Ok(());
        };
        nblocks += 1;
        opts.tick();
        let t = &mut block_text;
        let mut lines = || -> std::io::Result<()> {
            let aff = block.affinity.as_deref().unwrap_or("<none>");
            writeln!(t, " IPAM block {} affinity={aff}:", block.cidr)?;
            let host = block.affinity_host().unwrap_or_default().to_string();
            for ord in 0..block.allocations.len() {
                let Some(attr) = block.attribute_of(ord) else {
                    continue;
                };
                let ip = block.ip_at(ord).to_string();
                let is_windows = attr.handle_id.as_deref() == Some(WINDOWS_RESERVED_HANDLE);
                if is_windows {
                    in_use.record(t, show_all, ip.clone(), "Reserved for Windows".into())?;
                    windows.insert(ip.clone());
                }
                if show_all {
                    writeln!(t, "  {ip} allocated; attrs {}", describe(attr))?;
                }
                nalloc += 1;
                let sec = attr.secondary.clone().unwrap_or_default();
                let attr_node = sec.get("node").cloned().unwrap_or_default();
                let node = if attr_node.is_empty() {
                    host.clone()
                } else {
                    attr_node.clone()
                };
                *per_node.entry(node.clone()).or_default() += 1;
                let handle = attr.handle_id.clone().filter(|_| !is_windows);
                if let Some(h) = &handle {
                    referenced.insert(h.clone());
                }
                if show_problems {
                    described
                        .entry(ip.clone())
                        .or_default()
                        .push(describe(attr));
                }
                let sequence_number = block
                    .sequence_number_for_allocation
                    .as_ref()
                    .and_then(|m| m.get(&ord.to_string()))
                    .copied()
                    .unwrap_or(0);
                allocs.entry(ip.clone()).or_default().push(Allocation {
                    ip,
                    handle,
                    sequence_number,
                    pod: sec.get("pod").cloned(),
                    namespace: sec.get("namespace").cloned(),
                    node: Some(node).filter(|n| !n.is_empty()),
                    kind: sec.get("type").cloned(),
                    creation_timestamp: sec.get("timestamp").cloned(),
                    in_use: false,
                    borrowed: !attr_node.is_empty() && attr_node != host,
                    owners: None,
                });
            }
            Ok(())
        };
        if let Err(e) = lines() {
            io_err.get_or_insert(e);
        }
        Ok(())
    })
    .await?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    writeln!(out, "Found {nblocks} IPAM blocks.")?;
    out.write_all(&block_text)?;
    drop(block_text);
    writeln!(out, "IPAM blocks record {nalloc} allocations.\n")?;

    writeln!(out, "Loading all IPAM pools...")?;
    let pools: Vec<IpNet> = list_pools(ds)
        .await?
        .into_iter()
        .filter(|p| !p.disabled)
        .map(|p| p.cidr)
        .collect();
    for p in &pools {
        writeln!(out, "  {p}")?;
    }
    writeln!(out, "Found {} active IP pools.\n", pools.len())?;

    writeln!(out, "Loading all nodes.")?;
    opts.phase("loading nodes");
    let mut ntunnel = 0;
    if let Some(nk) = by_kind("Node") {
        for n in ds.list(nk, &ListOptions::default()).await?.items {
            let name = meta::name(&n);
            for path in [
                &["spec", "ipv4VXLANTunnelAddr"][..],
                &["spec", "wireguard", "interfaceIPv4Address"][..],
                &["spec", "bgp", "ipv4IPIPTunnelAddr"][..],
            ] {
                let ip = str_at(&n, path);
                if !ip.is_empty() {
                    in_use.record(out, show_all, ip, format!("Node({name})"))?;
                    ntunnel += 1;
                }
            }
        }
    }
    writeln!(out, "Found {ntunnel} node tunnel IPs.\n")?;

    writeln!(out, "Loading all service load balancer IPs.")?;
    let services = services.map_err(CheckError::Kubernetes)?;
    let kcc = match by_kind("KubeControllersConfiguration") {
        Some(k) => Some(ds.get(k, "", "default").await?),
        None => None,
    };
    match kcc
        .as_ref()
        .map(|k| &k["spec"]["controllers"]["loadBalancer"])
        .filter(|lb| !lb.is_null())
    {
        Some(lb) => {
            let assign = lb["assignIPs"].as_str().unwrap_or_default();
            let mut n = 0;
            for svc in services.iter().filter(|s| calico_load_balancer(s, assign)) {
                n += 1;
                let name = str_at(svc, &["metadata", "name"]);
                for ing in svc["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let ip = ing["ip"].as_str().unwrap_or_default().to_string();
                    in_use.record(out, show_all, ip, name.clone())?;
                }
            }
            writeln!(out, "Found {n} service load balancer(s).\n")?;
        }
        None => writeln!(
            out,
            "No configuration for LoadBalancer kubecontroller found, skipping service check\n"
        )?,
    }

    writeln!(out, "Loading all workload endpoints.")?;
    opts.phase("loading workload endpoints");
    let mut nwep = 0;
    if let Some(wk) = by_kind("WorkloadEndpoint") {
        let mut seen: Vec<(String, String)> = Vec::new();
        ds.scan(wk, &ListOptions::default(), &mut |w| {
            opts.tick();
            let id = format!("Workload({}/{})", meta::namespace(&w), meta::name(&w));
            if let Some(Value::Array(nets)) = w.get("spec").and_then(|s| s.get("ipNetworks")) {
                for net in nets.iter().filter_map(Value::as_str) {
                    seen.push((canonical_ip(net), id.clone()));
                }
            }
            Ok(())
        })
        .await?;
        for (ip, id) in seen {
            in_use.record(out, show_all, ip, id)?;
            nwep += 1;
        }
    }
    writeln!(out, "Found {nwep} workload IPs.")?;
    writeln!(
        out,
        "Workloads and nodes are using {} IPs.\n",
        in_use.owners.len()
    )?;

    writeln!(out, "Loading all handles")?;
    opts.phase("loading handles");
    let mut handles: Vec<LeakedHandle> = Vec::new();
    ds.ipam_scan(&IpamList::Handles, &mut |kv| {
        opts.tick();
        if let IpamKey::Handle(id) = kv.key {
            handles.push(LeakedHandle {
                id,
                uid: kv.uid,
                revision: kv.revision,
            });
        }
        Ok(())
    })
    .await?;

    writeln!(out, "Looking for top (up to 20) nodes by allocations...")?;
    let mut counts: Vec<(String, usize)> = per_node.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (n, c) in counts.iter().take(20) {
        writeln!(out, "  {n} has {c} allocations")?;
    }
    if let Some((_, max)) = counts.first() {
        // calicoctl's "median": the middle of the descending list.
        let median = counts[counts.len() / 2].1;
        writeln!(
            out,
            "Node with most allocations has {max}; median is {median}"
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "Scanning for IPs that are allocated but not actually in use..."
    )?;
    let mut leaked = 0;
    for (ip, list) in allocs.iter_mut() {
        if windows.contains(ip) {
            // Reserved: in use, yet left as calicoctl reports it (not in use, no owners).
            continue;
        }
        let owners = in_use.owners.get(ip);
        for (i, a) in list.iter_mut().enumerate() {
            match owners {
                Some(o) => {
                    a.in_use = true;
                    a.owners = Some(o.clone());
                }
                None => {
                    leaked += 1;
                    if show_problems {
                        let d = described.get(ip).and_then(|d| d.get(i));
                        writeln!(out, "  {ip} leaked; attrs {}", d.map_or("", String::as_str))?;
                    }
                }
            }
        }
    }
    writeln!(
        out,
        "Found {leaked} IPs that are allocated in IPAM but not actually in use."
    )?;

    writeln!(
        out,
        "Scanning for IPs that are in use by a workload or node but not allocated in IPAM..."
    )?;
    let (mut not_in_pool, mut no_alloc) = (0, 0);
    let mut used: Vec<(&String, &Vec<String>)> = in_use.owners.iter().collect();
    used.sort();
    for (ip, owners) in used {
        if show_problems && owners.len() > 1 {
            writeln!(out, "  {ip} has multiple owners.")?;
        }
        if allocs.contains_key(ip) {
            continue;
        }
        let in_pool = ip
            .parse::<IpAddr>()
            .is_ok_and(|a| pools.iter().any(|p| p.contains(&a)));
        if in_pool {
            no_alloc += 1;
        } else {
            not_in_pool += 1;
        }
        if show_problems {
            for o in owners {
                if in_pool {
                    writeln!(
                        out,
                        "  {ip} in use by {o} and in active IPAM pool but has no IPAM allocation."
                    )?;
                } else {
                    writeln!(out, "  {ip} in use by {o} is not in any active IP pool.")?;
                }
            }
        }
    }
    writeln!(
        out,
        "Found {not_in_pool} in-use IPs that are not in active IP pools."
    )?;
    writeln!(
        out,
        "Found {no_alloc} in-use IPs that are in active IP pools but have no corresponding IPAM allocation.\n"
    )?;

    writeln!(out, "Scanning for IPAM handles with no matching IPs...")?;
    let existing: HashSet<&str> = handles.iter().map(|h| h.id.as_str()).collect();
    let mut matched = 0;
    let mut leaked_handles = Vec::new();
    for h in &handles {
        if referenced.contains(&h.id) {
            matched += 1;
        } else {
            if show_all {
                writeln!(out, "  {} doesn't have any active IPs.", h.id)?;
            }
            leaked_handles.push(h.clone());
        }
    }
    writeln!(
        out,
        "Found {} handles with no matching IPs (and {matched} handles with matches).",
        leaked_handles.len()
    )?;
    writeln!(out, "Scanning for IPs with missing handle...")?;
    let mut missing: Vec<&String> = referenced
        .iter()
        .filter(|h| !existing.contains(h.as_str()))
        .collect();
    missing.sort();
    if show_problems {
        for h in &missing {
            writeln!(out, "  {h} is in use in a block but doesn't exist.")?;
        }
    }
    writeln!(
        out,
        "Found {} handles mentioned in blocks with no matching handle resource.",
        missing.len()
    )?;
    let problems = leaked + not_in_pool + no_alloc + leaked_handles.len();
    writeln!(out, "Check complete; found {problems} problems.")?;
    Ok(CheckResult {
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

/// The address of a WorkloadEndpoint's `ipNetworks` entry, as Go prints it.
fn canonical_ip(net: &str) -> String {
    if let Ok(n) = net.parse::<IpNet>() {
        return n.addr().to_string();
    }
    if let Ok(a) = net.parse::<IpAddr>() {
        return a.to_string();
    }
    net.split('/').next().unwrap_or(net).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn load_balancers_calico_manages() {
        let svc = |class: Option<&str>, ann: Value, typ: &str| {
            let mut s =
                json!({"metadata": {"name": "s", "annotations": ann}, "spec": {"type": typ}});
            if let Some(c) = class {
                s["spec"]["loadBalancerClass"] = json!(c);
            }
            s
        };
        let plain = svc(None, json!({}), "LoadBalancer");
        let calico = svc(Some("calico"), json!({}), "LoadBalancer");
        let other = svc(
            Some("x"),
            json!({"projectcalico.org/loadBalancerIPs": "[\"10.0.0.6\"]"}),
            "LoadBalancer",
        );
        let asks = svc(
            None,
            json!({"projectcalico.org/ipv4pools": "[\"p\"]"}),
            "LoadBalancer",
        );
        let empty = svc(
            None,
            json!({"projectcalico.org/ipv4pools": ""}),
            "LoadBalancer",
        );
        let node_port = svc(None, json!({}), "NodePort");
        let all: Vec<bool> = [&plain, &calico, &other, &asks, &empty, &node_port]
            .iter()
            .map(|s| calico_load_balancer(s, "AllServices"))
            .collect();
        assert_eq!(all, [true, true, false, true, true, false]);
        let req: Vec<bool> = [&plain, &calico, &other, &asks, &empty, &node_port]
            .iter()
            .map(|s| calico_load_balancer(s, "RequestedServicesOnly"))
            .collect();
        assert_eq!(req, [false, true, false, true, false, false]);
        assert!(!calico_load_balancer(&calico, ""));
    }

    #[test]
    fn report_reads_go_zero_values() {
        let r: Report = serde_json::from_str(
            r#"{"version":"v","clusterGUID":"g","datastoreLocked":false,"clusterInformationRevision":"1","clusterType":"","allocations":{"10.0.0.1":[{"ip":"10.0.0.1","sequenceNumber":null,"inUse":false,"owners":null}]},"leakedHandles":[{"ID":"h","UID":null,"Revision":"5"},{"ID":"k","UID":"u","Revision":"6"}]}"#,
        )
        .unwrap();
        assert_eq!(r.allocations["10.0.0.1"][0].sequence_number, 0);
        assert_eq!(r.leaked_handles[0].uid, None);
        assert_eq!(r.leaked_handles[1].uid.as_deref(), Some("u"));
        let back = serde_json::to_string(&r.leaked_handles[0]).unwrap();
        assert_eq!(back, r#"{"ID":"h","UID":null,"Revision":"5"}"#);
        let a = serde_json::to_string(&r.allocations["10.0.0.1"][0]).unwrap();
        assert_eq!(
            a,
            r#"{"ip":"10.0.0.1","sequenceNumber":0,"inUse":false,"owners":null}"#
        );
    }

    #[test]
    fn allocation_descriptions() {
        let mut sec = BTreeMap::new();
        sec.insert("pod".to_string(), "p".to_string());
        sec.insert("namespace".to_string(), "default".to_string());
        let a = AllocationAttribute {
            handle_id: None,
            secondary: Some(sec),
            alternate_owner_attrs: None,
            released_at: None,
        };
        assert_eq!(describe(&a), "Main:<none> Extra:namespace=default,pod=p");
        let b = AllocationAttribute {
            handle_id: Some("h".into()),
            secondary: None,
            alternate_owner_attrs: None,
            released_at: None,
        };
        assert_eq!(describe(&b), "Main:h Extra:");
    }
}
