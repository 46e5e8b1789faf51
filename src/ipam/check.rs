//! `ipam check`: scans blocks, pools, nodes, LoadBalancer Services, workload endpoints and
//! handles as calicoctl does, prints its report as it goes and builds the JSON report that
//! `release --from-report` reads. Memory is proportional to the number of allocations.
//!
//! calicoctl walks Go maps for the problem lines, the leaked handles and the nodes with equal
//! counts, so their order differs from run to run there; here it is sorted (IP text, handle
//! list order, name).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::io::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::list_pools;
use crate::datastore::{Datastore, DatastoreError, ListOptions, StoredWep, StoredWepSpec};
use crate::model::ipam::{AllocationAttribute, IpamKey, IpamList, IpamValue};
use crate::model::kinds::{KindId, str_at};
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
    Services(DatastoreError),
}

/// The result: what was found (the report's data) and the problem count.
pub struct CheckResult {
    pub data: CheckData,
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
    let k = KindId::ClusterInformation.info();
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

/// "No string" in the compact records.
const NONE: u32 = u32::MAX;

/// Strings appended one after another and read back by id: one buffer, no heap string each.
#[derive(Default)]
struct Arena {
    text: String,
    ends: Vec<u32>,
}

impl Arena {
    fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }

    /// One string made of `parts`.
    fn push_parts(&mut self, parts: &[&str]) -> u32 {
        for p in parts {
            self.text.push_str(p);
        }
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }

    fn push_opt(&mut self, s: Option<&String>) -> u32 {
        s.map_or(NONE, |s| self.push(s))
    }

    /// The string of `id` (`None` for `NONE`).
    fn get(&self, id: u32) -> Option<&str> {
        let i = usize::try_from(id).ok().filter(|_| id != NONE)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..self.ends[i] as usize])
    }
}

/// Each distinct string once, by id (node and namespace names, allocation types, handles):
/// the strings in one buffer, the table holding only their ids (at 496k handles that is their
/// bytes plus about 13 bytes each, not a heap string and a map entry each).
#[derive(Default)]
struct Interner {
    text: Arena,
    table: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl Interner {
    /// The id of `s`, if it was interned.
    fn get(&self, s: &str) -> Option<u32> {
        let h = self.hasher.hash_one(s);
        self.table
            .find(h, |&i| self.text.get(i) == Some(s))
            .copied()
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.get(s) {
            return i;
        }
        let i = self.text.push(s);
        let Interner {
            text,
            table,
            hasher,
        } = self;
        table.insert_unique(hasher.hash_one(s), i, |&j| {
            hasher.hash_one(text.get(j).unwrap_or_default())
        });
        i
    }

    fn id_opt(&mut self, s: Option<&String>) -> u32 {
        s.map_or(NONE, |s| self.id(s))
    }

    fn len(&self) -> usize {
        self.text.ends.len()
    }

    /// The string of `id` (empty for `NONE`).
    fn name(&self, id: u32) -> &str {
        self.text.get(id).unwrap_or_default()
    }
}

/// One allocation, compact: the address packed, every string an id.
struct Rec {
    ip: IpAddr,
    sequence_number: u64,
    /// Handle (`handles`), pod and creation time (`text`), namespace, node and type (`names`).
    handle: u32,
    pod: u32,
    namespace: u32,
    node: u32,
    kind: u32,
    timestamp: u32,
    borrowed: bool,
}

/// An address as calicoctl's maps key it (its text): packed when it is an address in Go's
/// canonical form, else the text itself.
#[derive(Clone, PartialEq, Eq, Hash)]
enum IpKey {
    Addr(IpAddr),
    Text(Box<str>),
}

impl IpKey {
    fn new(s: &str) -> IpKey {
        match s.parse::<IpAddr>() {
            Ok(a) if a.to_string() == s => IpKey::Addr(a),
            _ => IpKey::Text(s.into()),
        }
    }

    fn text(&self) -> String {
        match self {
            IpKey::Addr(a) => a.to_string(),
            IpKey::Text(t) => t.to_string(),
        }
    }
}

/// The first 16 bytes of an address's text (zero-padded): sorts as the text does without a
/// heap string per address, and holds every IPv4 address whole.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TextKey([u8; 16]);

impl TextKey {
    fn of_text(s: &str) -> TextKey {
        let mut k = [0u8; 16];
        let n = s.len().min(16);
        k[..n].copy_from_slice(&s.as_bytes()[..n]);
        TextKey(k)
    }

    fn of_addr(ip: &IpAddr) -> TextKey {
        struct Buf([u8; 16], usize);
        impl std::fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                let n = s.len().min(16 - self.1);
                self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
                self.1 += n;
                Ok(())
            }
        }
        let mut b = Buf([0; 16], 0);
        let _ = std::fmt::Write::write_fmt(&mut b, format_args!("{ip}"));
        TextKey(b.0)
    }

    fn of_key(k: &IpKey) -> TextKey {
        match k {
            IpKey::Addr(a) => TextKey::of_addr(a),
            IpKey::Text(t) => TextKey::of_text(t),
        }
    }

    /// Orders two addresses by their text; the whole text is only formatted when both keys
    /// are full and equal (long IPv6 texts).
    fn cmp_full(
        a: &TextKey,
        b: &TextKey,
        ip_a: impl Fn() -> IpAddr,
        ip_b: impl Fn() -> IpAddr,
    ) -> std::cmp::Ordering {
        a.cmp(b).then_with(|| {
            if a.0[15] == 0 {
                std::cmp::Ordering::Equal
            } else {
                ip_a().to_string().cmp(&ip_b().to_string())
            }
        })
    }
}

/// Set in an address's first owner id once an allocation of it is seen.
const ALLOCATED: u32 = 1 << 31;

/// What the scan collects: IP → owners (in the order they were seen).
#[derive(Default)]
struct InUse {
    /// The first owner of each address (its id, `ALLOCATED` set once the address is found
    /// allocated), and the others of the few that have several.
    first: HashMap<IpKey, u32>,
    more: HashMap<IpKey, Vec<u32>>,
    owners: Arena,
}

impl InUse {
    fn record(
        &mut self,
        out: &mut dyn Write,
        show: bool,
        ip: &str,
        owner: &str,
    ) -> std::io::Result<()> {
        if show {
            writeln!(out, "  {ip} belongs to {owner}")?;
        }
        let id = self.owners.push(owner);
        self.add(IpKey::new(ip), id);
        Ok(())
    }

    fn add(&mut self, key: IpKey, owner: u32) {
        match self.first.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(owner);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                self.more.entry(o.key().clone()).or_default().push(owner);
            }
        }
    }

    /// Marks `ip` as allocated in IPAM; whether it is in use.
    fn mark_allocated(&mut self, ip: IpAddr) -> bool {
        match self.first.get_mut(&IpKey::Addr(ip)) {
            Some(o) => {
                *o |= ALLOCATED;
                true
            }
            None => false,
        }
    }

    /// The owners of an address, in the order they were seen.
    fn of(&self, key: &IpKey) -> Vec<&str> {
        let Some(&first) = self.first.get(key) else {
            return Vec::new();
        };
        let mut v = vec![self.owners.get(first & !ALLOCATED).unwrap_or_default()];
        for &o in self.more.get(key).into_iter().flatten() {
            v.push(self.owners.get(o).unwrap_or_default());
        }
        v
    }
}

/// What a check found, compact; `report` builds the JSON report from it.
pub struct CheckData {
    recs: Vec<Rec>,
    handles: Interner,
    names: Interner,
    text: Arena,
    in_use: InUse,
    windows: HashSet<IpAddr>,
    leaked_handles: Vec<LeakedHandle>,
    guid: String,
    locked: bool,
    ci_rev: String,
    ctype: String,
}

impl CheckData {
    /// The machine-readable report (`ipam check -o FILE`).
    pub fn report(&self) -> Report {
        let name = |i: u32| (i != NONE).then(|| self.names.name(i).to_string());
        let mut allocations: BTreeMap<String, Vec<Allocation>> = BTreeMap::new();
        for r in &self.recs {
            let ip = r.ip.to_string();
            let owners = (!self.windows.contains(&r.ip))
                .then(|| self.in_use.of(&IpKey::Addr(r.ip)))
                .filter(|o| !o.is_empty());
            allocations.entry(ip.clone()).or_default().push(Allocation {
                ip,
                handle: (r.handle != NONE).then(|| self.handles.name(r.handle).to_string()),
                sequence_number: r.sequence_number,
                pod: self.text.get(r.pod).map(str::to_string),
                namespace: name(r.namespace),
                node: name(r.node),
                kind: name(r.kind),
                creation_timestamp: self.text.get(r.timestamp).map(str::to_string),
                in_use: owners.is_some(),
                borrowed: r.borrowed,
                owners: owners.map(|o| o.into_iter().map(str::to_string).collect()),
            });
        }
        Report {
            version: crate::model::version::client_version(),
            cluster_guid: self.guid.clone(),
            datastore_locked: self.locked,
            cluster_information_revision: self.ci_rev.clone(),
            cluster_type: self.ctype.clone(),
            allocations,
            leaked_handles: self.leaked_handles.clone(),
        }
    }
}

/// Runs the check, printing calicoctl's text to `out` as it goes. `services` is the list of
/// Kubernetes Services (or why it could not be read); it is only looked at where calicoctl
/// reads it, after the nodes. Memory: one compact record per allocation and per in-use
/// address; time: linear in the objects read (plus sorting the addresses).
pub async fn check(
    ds: &dyn Datastore,
    opts: &CheckOptions,
    services: std::result::Result<Vec<Value>, DatastoreError>,
    out: &mut dyn Write,
) -> std::result::Result<CheckResult, CheckError> {
    let show = Show {
        problems: opts.show_problem_ips || opts.show_all_ips,
        all: opts.show_all_ips,
    };
    writeln!(out, "Checking IPAM for inconsistencies...\n")?;
    let (guid, ci_rev, locked, ctype) = cluster_info(ds).await?;
    let mut in_use = InUse::default();
    let blocks = load_blocks(ds, opts, show, &mut in_use, out).await?;
    let pools = load_active_pools(ds, out).await?;
    record_node_tunnels(ds, opts, show, &mut in_use, out).await?;
    record_load_balancers(ds, services, show, &mut in_use, out).await?;
    record_workload_ips(ds, opts, show, &mut in_use, out).await?;
    let handles = load_handles(ds, opts, &blocks.handles, out).await?;
    print_top_nodes(&blocks, out)?;
    let leaked = scan_leaked(&blocks, show, &mut in_use, out)?;
    let (not_in_pool, no_alloc) = scan_unallocated(&in_use, &pools, show, out)?;
    scan_handles(&blocks, &handles, show, out)?;
    let problems = leaked + not_in_pool + no_alloc + handles.leaked.len();
    writeln!(out, "Check complete; found {problems} problems.")?;
    Ok(CheckResult {
        data: CheckData {
            recs: blocks.recs,
            handles: blocks.handles,
            names: blocks.names,
            text: blocks.text,
            in_use,
            windows: blocks.windows,
            leaked_handles: handles.leaked,
            guid,
            locked,
            ci_rev,
            ctype,
        },
        problems,
    })
}

/// Which addresses the check lists line by line.
#[derive(Clone, Copy)]
struct Show {
    /// `--show-problem-ips` (or `--show-all-ips`): the problem lines.
    problems: bool,
    /// `--show-all-ips`: every allocation and owner too.
    all: bool,
}

/// What the block scan keeps: one record per allocation and what the later steps need.
#[derive(Default)]
struct Blocks {
    recs: Vec<Rec>,
    handles: Interner,
    names: Interner,
    text: Arena,
    /// How each allocation reads in a "leaked" line (only kept when those lines are printed).
    described: Vec<String>,
    windows: HashSet<IpAddr>,
    per_node: HashMap<u32, usize>,
}

/// Step 1: every block's allocations become records; Windows' reserved addresses are
/// recorded as in use. Prints the count, then the block lines (kept until the scan ends: with
/// --show-all-ips one line per allocation).
async fn load_blocks(
    ds: &dyn Datastore,
    opts: &CheckOptions,
    show: Show,
    in_use: &mut InUse,
    out: &mut dyn Write,
) -> std::result::Result<Blocks, CheckError> {
    writeln!(out, "Loading all IPAM blocks...")?;
    opts.phase("loading IPAM blocks");
    let mut b = Blocks::default();
    let mut block_text: Vec<u8> = Vec::new();
    let mut nblocks = 0usize;
    let mut io_err: Option<std::io::Error> = None;
    ds.ipam_scan(&IpamList::Blocks { version: None }, &mut |kv| {
        let IpamValue::Block(block) = kv.value else {
            return Ok(());
        };
        nblocks += 1;
        opts.tick();
        if let Err(e) = b.add_block(&block, show, in_use, &mut block_text) {
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
    writeln!(out, "IPAM blocks record {} allocations.\n", b.recs.len())?;
    Ok(b)
}

impl Blocks {
    /// One block: its line, a record per allocation (and with --show-all-ips a line each).
    fn add_block(
        &mut self,
        block: &crate::model::ipam::AllocationBlock,
        show: Show,
        in_use: &mut InUse,
        t: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let aff = block.affinity.as_deref().unwrap_or("<none>");
        writeln!(t, " IPAM block {} affinity={aff}:", block.cidr)?;
        let host = block.affinity_host().unwrap_or_default();
        let no_attrs = BTreeMap::new();
        for ord in 0..block.allocations.len() {
            let Some(attr) = block.attribute_of(ord) else {
                continue;
            };
            let ip = block.ip_at(ord);
            let is_windows = attr.handle_id.as_deref() == Some(WINDOWS_RESERVED_HANDLE);
            if is_windows {
                in_use.record(t, show.all, &ip.to_string(), "Reserved for Windows")?;
                self.windows.insert(ip);
            }
            if show.all {
                writeln!(t, "  {ip} allocated; attrs {}", describe(attr))?;
            }
            let sec = attr.secondary.as_ref().unwrap_or(&no_attrs);
            let attr_node = sec.get("node").map_or("", String::as_str);
            let node = if attr_node.is_empty() {
                host
            } else {
                attr_node
            };
            let node_id = self.names.id(node);
            *self.per_node.entry(node_id).or_default() += 1;
            let handle = match attr.handle_id.as_deref() {
                Some(h) if !is_windows => self.handles.id(h),
                _ => NONE,
            };
            if show.problems {
                self.described.push(describe(attr));
            }
            let sequence_number = block
                .sequence_number_for_allocation
                .as_ref()
                .and_then(|m| m.get(&ord.to_string()))
                .copied()
                .unwrap_or(0);
            self.recs.push(Rec {
                ip,
                sequence_number,
                handle,
                pod: self.text.push_opt(sec.get("pod")),
                namespace: self.names.id_opt(sec.get("namespace")),
                node: if node.is_empty() { NONE } else { node_id },
                kind: self.names.id_opt(sec.get("type")),
                timestamp: self.text.push_opt(sec.get("timestamp")),
                borrowed: !attr_node.is_empty() && attr_node != host,
            });
        }
        Ok(())
    }
}

/// Step 2: the CIDRs of the enabled IP pools.
async fn load_active_pools(
    ds: &dyn Datastore,
    out: &mut dyn Write,
) -> std::result::Result<Vec<IpNet>, CheckError> {
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
    Ok(pools)
}

/// Step 3: the nodes' VXLAN, WireGuard and IPIP tunnel addresses are in use.
async fn record_node_tunnels(
    ds: &dyn Datastore,
    opts: &CheckOptions,
    show: Show,
    in_use: &mut InUse,
    out: &mut dyn Write,
) -> std::result::Result<(), CheckError> {
    writeln!(out, "Loading all nodes.")?;
    opts.phase("loading nodes");
    let mut seen: Vec<(String, String)> = Vec::new();
    ds.scan(KindId::Node.info(), &ListOptions::default(), &mut |n| {
        let name = meta::name(&n);
        for path in [
            &["spec", "ipv4VXLANTunnelAddr"][..],
            &["spec", "wireguard", "interfaceIPv4Address"][..],
            &["spec", "bgp", "ipv4IPIPTunnelAddr"][..],
        ] {
            let ip = str_at(&n, path);
            if !ip.is_empty() {
                seen.push((ip, format!("Node({name})")));
            }
        }
        Ok(())
    })
    .await?;
    let ntunnel = seen.len();
    for (ip, owner) in seen {
        in_use.record(out, show.all, &ip, &owner)?;
    }
    writeln!(out, "Found {ntunnel} node tunnel IPs.\n")?;
    Ok(())
}

/// Step 4: with the LoadBalancer controller configured, the addresses Calico gave Services.
async fn record_load_balancers(
    ds: &dyn Datastore,
    services: std::result::Result<Vec<Value>, DatastoreError>,
    show: Show,
    in_use: &mut InUse,
    out: &mut dyn Write,
) -> std::result::Result<(), CheckError> {
    writeln!(out, "Loading all service load balancer IPs.")?;
    let services = services.map_err(CheckError::Services)?;
    let kcc = ds
        .get(KindId::KubeControllersConfiguration.info(), "", "default")
        .await?;
    let lb = &kcc["spec"]["controllers"]["loadBalancer"];
    if lb.is_null() {
        writeln!(
            out,
            "No configuration for LoadBalancer kubecontroller found, skipping service check\n"
        )?;
        return Ok(());
    }
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
            let ip = ing["ip"].as_str().unwrap_or_default();
            in_use.record(out, show.all, ip, &name)?;
        }
    }
    writeln!(out, "Found {n} service load balancer(s).\n")?;
    Ok(())
}

/// Step 5: every workload endpoint's addresses are in use. Only the `StoredWep` fields of each
/// stored object are decoded (borrowed, no JSON tree); what does not decode is skipped, as
/// listing skips it.
async fn record_workload_ips(
    ds: &dyn Datastore,
    opts: &CheckOptions,
    show: Show,
    in_use: &mut InUse,
    out: &mut dyn Write,
) -> std::result::Result<(), CheckError> {
    writeln!(out, "Loading all workload endpoints.")?;
    opts.phase("loading workload endpoints");
    let mut nwep = 0;
    let wk = KindId::WorkloadEndpoint.info();
    // The owners are recorded as they come; the lines (--show-all-ips) after the scan.
    let mut seen: Vec<(IpKey, u32)> = Vec::new();
    let mut add = |ns: &str, name: &str, nets: &mut dyn Iterator<Item = &str>| {
        let id = in_use.owners.push_parts(&["Workload(", ns, "/", name, ")"]);
        for net in nets {
            let key = wep_ip(net);
            if show.all {
                seen.push((key.clone(), id));
            }
            in_use.add(key, id);
            nwep += 1;
        }
    };
    let stored = ds
        .scan_stored(wk, &mut |ns, name, raw| {
            opts.tick();
            if let Ok(StoredWep {
                spec:
                    Some(StoredWepSpec {
                        ip_networks: Some(nets),
                        ..
                    }),
            }) = serde_json::from_slice::<StoredWep>(raw)
            {
                add(ns, name, &mut nets.iter().map(|n| n.0.as_ref()));
            }
            Ok(())
        })
        .await?;
    if !stored {
        ds.scan(wk, &ListOptions::default(), &mut |w| {
            opts.tick();
            if let Some(Value::Array(nets)) = w.get("spec").and_then(|s| s.get("ipNetworks")) {
                add(
                    &meta::namespace(&w),
                    &meta::name(&w),
                    &mut nets.iter().filter_map(Value::as_str),
                );
            }
            Ok(())
        })
        .await?;
    }
    for (key, id) in seen {
        writeln!(
            out,
            "  {} belongs to {}",
            key.text(),
            in_use.owners.get(id).unwrap_or_default()
        )?;
    }
    writeln!(out, "Found {nwep} workload IPs.")?;
    writeln!(
        out,
        "Workloads and nodes are using {} IPs.\n",
        in_use.first.len()
    )?;
    Ok(())
}

/// What the handle scan found: which handles the blocks name exist, and the handles no
/// allocation refers to (only those are kept; the others are counted).
struct Handles {
    exists: Vec<bool>,
    leaked: Vec<LeakedHandle>,
    matched: usize,
}

/// Step 6: the handle objects, against the handles the allocations name.
async fn load_handles(
    ds: &dyn Datastore,
    opts: &CheckOptions,
    named: &Interner,
    out: &mut dyn Write,
) -> std::result::Result<Handles, CheckError> {
    writeln!(out, "Loading all handles")?;
    opts.phase("loading handles");
    let mut h = Handles {
        exists: vec![false; named.len()],
        leaked: Vec::new(),
        matched: 0,
    };
    ds.ipam_scan(&IpamList::Handles, &mut |kv| {
        opts.tick();
        if let IpamKey::Handle(id) = kv.key {
            match named.get(&id) {
                Some(i) => {
                    h.exists[i as usize] = true;
                    h.matched += 1;
                }
                None => h.leaked.push(LeakedHandle {
                    id,
                    uid: kv.uid,
                    revision: kv.revision,
                }),
            }
        }
        Ok(())
    })
    .await?;
    Ok(h)
}

/// Step 7: the 20 nodes with the most allocations and calicoctl's "median".
fn print_top_nodes(b: &Blocks, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "Looking for top (up to 20) nodes by allocations...")?;
    let mut counts: Vec<(&str, usize)> = b
        .per_node
        .iter()
        .map(|(&n, &c)| (b.names.name(n), c))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
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
    writeln!(out)
}

/// Step 8: allocations whose address nothing uses (Windows' reserved ones excepted), in the
/// order of their addresses' text (ties in the order they were read), as the report's map is.
/// Marks every allocated address in `in_use`. Returns how many leaked.
fn scan_leaked(
    b: &Blocks,
    show: Show,
    in_use: &mut InUse,
    out: &mut dyn Write,
) -> std::io::Result<usize> {
    writeln!(
        out,
        "Scanning for IPs that are allocated but not actually in use..."
    )?;
    let recs = &b.recs;
    let mut order: Vec<(TextKey, u32)> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (TextKey::of_addr(&r.ip), i as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        TextKey::cmp_full(
            &a.0,
            &b.0,
            || recs[a.1 as usize].ip,
            || recs[b.1 as usize].ip,
        )
        .then(a.1.cmp(&b.1))
    });
    let mut leaked = 0;
    for (_, i) in &order {
        let r = &recs[*i as usize];
        let used = in_use.mark_allocated(r.ip);
        if b.windows.contains(&r.ip) {
            // Reserved: in use, yet left as calicoctl reports it (not in use, no owners).
            continue;
        }
        if !used {
            leaked += 1;
            if show.problems {
                writeln!(out, "  {} leaked; attrs {}", r.ip, b.described[*i as usize])?;
            }
        }
    }
    writeln!(
        out,
        "Found {leaked} IPs that are allocated in IPAM but not actually in use."
    )?;
    Ok(leaked)
}

/// Step 9: addresses in use but not allocated, split by whether an active pool holds them.
fn scan_unallocated(
    in_use: &InUse,
    pools: &[IpNet],
    show: Show,
    out: &mut dyn Write,
) -> std::io::Result<(usize, usize)> {
    writeln!(
        out,
        "Scanning for IPs that are in use by a workload or node but not allocated in IPAM..."
    )?;
    let (mut not_in_pool, mut no_alloc) = (0, 0);
    let mut used: Vec<(TextKey, &IpKey, bool)> = in_use
        .first
        .iter()
        .map(|(k, &o)| (TextKey::of_key(k), k, o & ALLOCATED != 0))
        .collect();
    used.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.text().cmp(&b.1.text())));
    for (_, key, allocated) in used {
        let owners = in_use.of(key);
        let ip = key.text();
        if show.problems && owners.len() > 1 {
            writeln!(out, "  {ip} has multiple owners.")?;
        }
        if allocated {
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
        if show.problems {
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
    Ok((not_in_pool, no_alloc))
}

/// Step 10: handles without addresses, and handles the blocks name that do not exist.
fn scan_handles(b: &Blocks, h: &Handles, show: Show, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "Scanning for IPAM handles with no matching IPs...")?;
    if show.all {
        for l in &h.leaked {
            writeln!(out, "  {} doesn't have any active IPs.", l.id)?;
        }
    }
    writeln!(
        out,
        "Found {} handles with no matching IPs (and {} handles with matches).",
        h.leaked.len(),
        h.matched
    )?;
    writeln!(out, "Scanning for IPs with missing handle...")?;
    let mut missing: Vec<&str> = (0..b.handles.len() as u32)
        .filter(|&i| !h.exists[i as usize])
        .map(|i| b.handles.name(i))
        .collect();
    missing.sort_unstable();
    if show.problems {
        for m in &missing {
            writeln!(out, "  {m} is in use in a block but doesn't exist.")?;
        }
    }
    writeln!(
        out,
        "Found {} handles mentioned in blocks with no matching handle resource.",
        missing.len()
    )
}

/// The address of a WorkloadEndpoint's `ipNetworks` entry, keyed as Go prints it.
fn wep_ip(net: &str) -> IpKey {
    if let Ok(n) = net.parse::<IpNet>() {
        return IpKey::Addr(n.addr());
    }
    if let Ok(a) = net.parse::<IpAddr>() {
        return IpKey::Addr(a);
    }
    IpKey::new(net.split('/').next().unwrap_or(net))
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
