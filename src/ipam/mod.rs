//! IPAM over the `Datastore` trait, written once for every backend: libcalico-go's block /
//! affinity / handle model and its invariants. Every block write is a compare-and-swap retried
//! on conflict; releases follow the classic algorithm (no IP cool-down).

pub mod check;
pub mod show;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::datastore::{Datastore, DatastoreError, ListOptions, Result};
use crate::model::ipam::*;
use crate::model::kinds::{KindId, str_at};

/// libcalico's retry bound for every CAS loop.
pub const DATASTORE_RETRIES: usize = 100;

/// An IP pool as IPAM needs it.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub cidr: IpNet,
    pub block_size: u8,
    pub disabled: bool,
    pub node_selector: String,
}

/// Reads all IP pools (in datastore list order).
pub async fn list_pools(ds: &dyn Datastore) -> Result<Vec<Pool>> {
    let k = KindId::IPPool.info();
    let l = ds.list(k, &ListOptions::default()).await?;
    Ok(l.items
        .iter()
        .filter_map(|p| {
            let cidr: IpNet = str_at(p, &["spec", "cidr"]).parse().ok()?;
            let bs = p
                .get("spec")
                .and_then(|s| s.get("blockSize"))
                .and_then(|v| v.as_u64())
                .unwrap_or(if cidr.addr().is_ipv4() { 26 } else { 122 }) as u8;
            Some(Pool {
                name: crate::model::meta::name(p),
                cidr: cidr.trunc(),
                block_size: bs,
                disabled: p
                    .get("spec")
                    .and_then(|s| s.get("disabled"))
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                node_selector: str_at(p, &["spec", "nodeSelector"]),
            })
        })
        .collect())
}

/// A block read from the datastore with its revision.
#[derive(Debug, Clone)]
pub struct BlockKv {
    pub block: AllocationBlock,
    pub revision: String,
    pub uid: Option<String>,
}

impl BlockKv {
    pub fn to_kv(&self) -> IpamKv {
        IpamKv {
            key: IpamKey::Block(self.block.cidr),
            value: IpamValue::Block(self.block.clone()),
            revision: self.revision.clone(),
            uid: self.uid.clone(),
        }
    }
}

fn as_block(kv: IpamKv) -> Option<BlockKv> {
    match kv.value {
        IpamValue::Block(block) => Some(BlockKv {
            block,
            revision: kv.revision,
            uid: kv.uid,
        }),
        _ => None,
    }
}

/// All allocation blocks in datastore order (what calicoctl iterates and prints).
pub async fn list_blocks(ds: &dyn Datastore) -> Result<Vec<BlockKv>> {
    Ok(ds
        .ipam_list(&IpamList::Blocks { version: None })
        .await?
        .into_iter()
        .filter_map(as_block)
        .filter(|b| !b.block.deleted)
        .collect())
}

/// A digest of every live block, read as a stream (see `show::BlockStat`).
pub async fn block_stats(ds: &dyn Datastore) -> Result<Vec<show::BlockStat>> {
    let mut out = Vec::new();
    ds.ipam_scan(&IpamList::Blocks { version: None }, &mut |kv| {
        if let IpamValue::Block(b) = &kv.value
            && !b.deleted
        {
            out.push(show::BlockStat::of(b));
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// IPv4 before IPv6, then by address, then by prefix length.
pub fn cidr_order(a: &IpNet, b: &IpNet) -> std::cmp::Ordering {
    (a.addr().is_ipv6(), ip_to_u128(a.network()), a.prefix_len()).cmp(&(
        b.addr().is_ipv6(),
        ip_to_u128(b.network()),
        b.prefix_len(),
    ))
}

pub async fn get_block(ds: &dyn Datastore, cidr: IpNet) -> Result<BlockKv> {
    let kv = ds.ipam_get(&IpamKey::Block(cidr)).await?;
    as_block(kv).ok_or_else(|| DatastoreError::Corrupt(format!("block {cidr} has the wrong type")))
}

/// The IPAM configuration and its revision. When none is stored, libcalico's GetIPAMConfig
/// stores the default first (KubeVirt VM address persistence `Enabled`), so every reader
/// (`ipam show --show-configuration`, `ipam configure`) leaves it behind.
pub async fn get_config(ds: &dyn Datastore) -> Result<(IpamConfig, Option<String>)> {
    for _ in 0..DATASTORE_RETRIES {
        match ds.ipam_get(&IpamKey::Config).await {
            Ok(IpamKv {
                value: IpamValue::Config(c),
                revision,
                ..
            }) => return Ok((c, Some(revision))),
            Ok(_) => {
                return Err(DatastoreError::Corrupt(
                    "IPAM config has the wrong type".into(),
                ));
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let default = IpamConfig {
            kubevirt_vm_address_persistence: Some("Enabled".into()),
            ..IpamConfig::default()
        };
        let kv = IpamKv {
            key: IpamKey::Config,
            value: IpamValue::Config(default.clone()),
            revision: String::new(),
            uid: None,
        };
        match ds.ipam_create(&kv).await {
            Ok(kv) => return Ok((default, Some(kv.revision))),
            Err(e) if e.is_already_exists() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DatastoreError::Other(
        "max retries hit reading the IPAM config".into(),
    ))
}

/// Writes the IPAM config as libcalico's SetIPAMConfig does (plain put), enforcing its rules
/// in its order. A negative MaxBlocksPerHost is accepted, as there.
pub async fn set_config(ds: &dyn Datastore, cfg: &IpamConfig) -> Result<()> {
    if !cfg.strict_affinity && !cfg.auto_allocate_blocks {
        return Err(DatastoreError::Other(
            "Cannot disable 'StrictAffinity' and 'AutoAllocateBlocks' at the same time".into(),
        ));
    }
    if cfg.max_blocks_per_host > 0 && !cfg.strict_affinity {
        return Err(DatastoreError::Other(
            "MaxBlocksPerHost requires StrictAffinity to be enabled".into(),
        ));
    }
    ds.ipam_put(&IpamKv {
        key: IpamKey::Config,
        value: IpamValue::Config(cfg.clone()),
        revision: String::new(),
        uid: None,
    })
    .await
    .map(|_| ())
}

/// All handles by ID with revision and UID.
pub async fn list_handles(
    ds: &dyn Datastore,
) -> Result<Vec<(String, IpamHandle, String, Option<String>)>> {
    Ok(ds
        .ipam_list(&IpamList::Handles)
        .await?
        .into_iter()
        .filter_map(|kv| match (kv.key, kv.value) {
            (IpamKey::Handle(id), IpamValue::Handle(h)) if !h.deleted => {
                Some((id, h, kv.revision, kv.uid))
            }
            _ => None,
        })
        .collect())
}

/// Which block an IP falls into: the block containing it, if one exists.
pub fn find_block(blocks: &[BlockKv], ip: IpAddr) -> Option<&BlockKv> {
    blocks.iter().find(|b| b.block.cidr.contains(&ip))
}

/// What a release may check before freeing an ordinal (libcalico `ReleaseOptions`).
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    pub address: Option<IpAddr>,
    /// The allocation must belong to this handle.
    pub handle: Option<String>,
    /// The ordinal's sequence number must equal this.
    pub sequence_number: Option<u64>,
}

/// How a release treats a request whose precondition (handle, sequence number) no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseMode {
    /// libcalico's ReleaseIPs, which calicoctl uses: the sequence number is compared before
    /// anything else; a mismatch fails the whole block as an update conflict (other blocks go
    /// on); a handle loses one address per block however many were released there; an empty
    /// block whose pool no longer selects its node loses its affinity.
    Calico,
    /// The stale request is skipped and reported; handles lose exactly what was released.
    SkipStale,
}

/// Outcome of releasing IPs.
#[derive(Debug, Default)]
pub struct ReleaseResult {
    pub released: Vec<IpAddr>,
    /// Already free (not an error, reported back).
    pub unallocated: Vec<IpAddr>,
    /// Skipped because a precondition no longer held (`ReleaseMode::SkipStale`).
    pub skipped: Vec<(IpAddr, String)>,
    /// The last block that failed (`ReleaseMode::Calico`); the other blocks were released.
    pub error: Option<DatastoreError>,
}

/// Releases IPs, one CAS block write per block (retried on conflict), then decrements handles.
/// Blocks are taken in CIDR order. Errors reading pools or blocks end the release.
pub async fn release_ips(
    ds: &dyn Datastore,
    requests: &[ReleaseOptions],
    mode: ReleaseMode,
) -> Result<ReleaseResult> {
    let mut by_block: BTreeMap<String, (IpNet, Vec<&ReleaseOptions>)> = BTreeMap::new();
    let mut result = ReleaseResult::default();
    // Map IPs to block CIDRs via the pools' block sizes, falling back to existing blocks.
    let pools = list_pools(ds).await?;
    let mut existing: Option<Vec<BlockKv>> = None;
    for r in requests {
        let Some(ip) = r.address else { continue };
        let cidr = match pools.iter().find(|p| p.cidr.contains(&ip)) {
            Some(p) => IpNet::new(ip, p.block_size).map(|n| n.trunc()).ok(),
            None => None,
        };
        let cidr = match cidr {
            Some(c) => Some(c),
            None => {
                if existing.is_none() {
                    existing = Some(list_blocks(ds).await?);
                }
                existing
                    .as_ref()
                    .and_then(|bs| find_block(bs, ip))
                    .map(|b| b.block.cidr)
            }
        };
        match cidr {
            Some(c) => by_block
                .entry(c.to_string())
                .or_insert((c, Vec::new()))
                .1
                .push(r),
            None => result.unallocated.push(ip),
        }
    }
    for (_, (cidr, reqs)) in by_block {
        let (handles, r, emptied) = match release_in_block(ds, cidr, &reqs, mode).await {
            Ok(x) => x,
            Err(e) if mode == ReleaseMode::Calico && e.is_conflict() => {
                result.error = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        result.released.extend(r.released);
        result.unallocated.extend(r.unallocated);
        result.skipped.extend(r.skipped);
        // Handles are updated separately and non-atomically; a failure is only logged, as
        // upstream (the handle then keeps its count: never clamped).
        for (handle, count) in handles {
            let how = match mode {
                ReleaseMode::Calico => Decrement::Strict,
                ReleaseMode::SkipStale => Decrement::Clamp,
            };
            if let Err(e) = decrement_handle(ds, &handle, cidr, count, how).await {
                crate::log::warn(&format!("failed to decrement handle {handle}: {e}"));
            }
        }
        if let (ReleaseMode::Calico, Some(block)) = (mode, emptied)
            && let Err(e) = ensure_consistent_affinity(ds, &block, &pools).await
        {
            crate::log::warn(&format!(
                "failed to check the affinity of block {cidr}: {e}"
            ));
        }
    }
    Ok(result)
}

/// A sequence-number or handle mismatch in `ReleaseMode::Calico`: libcalico's update
/// conflict naming the address.
fn stale(ip: IpAddr) -> DatastoreError {
    DatastoreError::Conflict { id: ip.to_string() }
}

/// One block's part of a release: the handle counts to decrement, what happened, and the
/// block as written when the release left it empty with an affinity.
async fn release_in_block(
    ds: &dyn Datastore,
    cidr: IpNet,
    reqs: &[&ReleaseOptions],
    mode: ReleaseMode,
) -> Result<(
    BTreeMap<String, i64>,
    ReleaseResult,
    Option<AllocationBlock>,
)> {
    for _ in 0..DATASTORE_RETRIES {
        let mut kv = match get_block(ds, cidr).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                let r = ReleaseResult {
                    unallocated: reqs.iter().filter_map(|q| q.address).collect(),
                    ..Default::default()
                };
                return Ok((BTreeMap::new(), r, None));
            }
            Err(e) => return Err(e),
        };
        let mut result = ReleaseResult::default();
        let mut handles: BTreeMap<String, i64> = BTreeMap::new();
        let mut ordinals = Vec::new();
        for q in reqs {
            let Some(ip) = q.address else { continue };
            let Some(ord) = kv.block.ordinal_of(ip) else {
                result.unallocated.push(ip);
                continue;
            };
            let seq_now = kv
                .block
                .sequence_number_for_allocation
                .as_ref()
                .and_then(|m| m.get(&ord.to_string()))
                .copied();
            if let Some(seq) = q.sequence_number
                && seq != seq_now.unwrap_or(0)
            {
                match mode {
                    ReleaseMode::Calico => return Err(stale(ip)),
                    ReleaseMode::SkipStale if kv.block.allocations[ord].is_some() => {
                        result
                            .skipped
                            .push((ip, "sequence number changed (IP was re-allocated)".into()));
                        continue;
                    }
                    ReleaseMode::SkipStale => {}
                }
            }
            let Some(attr) = kv.block.attribute_of(ord).cloned() else {
                result.unallocated.push(ip);
                continue;
            };
            if let Some(h) = q.handle.as_deref().filter(|h| !h.is_empty())
                && attr.handle_id.as_deref() != Some(h)
            {
                match mode {
                    ReleaseMode::Calico => return Err(stale(ip)),
                    ReleaseMode::SkipStale => {
                        result
                            .skipped
                            .push((ip, format!("handle changed (now {:?})", attr.handle_id)));
                        continue;
                    }
                }
            }
            if let Some(h) = attr.handle_id {
                let n = handles.entry(h).or_default();
                // libcalico counts one address per handle and block, whatever it released.
                *n = if mode == ReleaseMode::Calico {
                    1
                } else {
                    *n + 1
                };
            }
            ordinals.push(ord);
            result.released.push(ip);
        }
        if ordinals.is_empty() {
            return Ok((BTreeMap::new(), result, None));
        }
        release_ordinals(&mut kv.block, &ordinals);
        let empty = is_empty_block(&kv.block);
        let write = if empty && kv.block.affinity.is_none() {
            ds.ipam_delete(&kv.to_kv()).await.map(|_| None)
        } else {
            ds.ipam_update(&kv.to_kv()).await.map(|_| Some(()))
        };
        match write {
            Ok(written) => {
                let emptied = (empty && written.is_some()).then_some(kv.block);
                return Ok((handles, result, emptied));
            }
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DatastoreError::Other(format!(
        "max retries hit releasing IPs in block {cidr}"
    )))
}

/// libcalico's check after a release empties a block: when the block's enabled pool no
/// longer selects the (existing) node it is affine to, the affinity is released.
async fn ensure_consistent_affinity(
    ds: &dyn Datastore,
    block: &AllocationBlock,
    pools: &[Pool],
) -> Result<()> {
    let Some(host) = block.affinity_host() else {
        return Ok(());
    };
    let Some(pool) = pools
        .iter()
        .find(|p| !p.disabled && p.cidr.contains(&block.cidr.network()))
    else {
        return Ok(());
    };
    let nk = KindId::Node.info();
    let node = match ds.get(nk, "", host).await {
        Ok(n) => n,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    if pool_selects(&pool.node_selector, &node) {
        return Ok(());
    }
    release_affinity(ds, host, AffinityType::Host, block.cidr, true)
        .await
        .map(|_| ())
}

/// Whether a pool's node selector selects a Node (an empty selector selects every node).
fn pool_selects(selector: &str, node: &serde_json::Value) -> bool {
    if selector.trim().is_empty() {
        return true;
    }
    let labels: BTreeMap<String, String> = node
        .pointer("/metadata/labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    crate::model::selector::parse(selector).is_ok_and(|s| s.evaluate_map(&labels))
}

/// The classic in-block release, one CAS write of the block: free ordinals to the tail of `unallocated` in the
/// order given, drop their sequence numbers, delete the attributes no allocation refers to
/// any more (only those), bump the block's sequence number.
pub fn release_ordinals(b: &mut AllocationBlock, ordinals: &[usize]) {
    let mut released: Vec<usize> = Vec::new();
    for &ord in ordinals {
        if let Some(Some(idx)) = b.allocations.get(ord).copied() {
            released.push(idx);
            b.allocations[ord] = None;
            b.unallocated.get_or_insert_with(Vec::new).push(ord);
            if let Some(m) = b.sequence_number_for_allocation.as_mut() {
                m.remove(&ord.to_string());
            }
        }
    }
    let still_used: std::collections::HashSet<usize> =
        b.allocations.iter().flatten().copied().collect();
    let mut gone: Vec<usize> = released
        .into_iter()
        .filter(|i| !still_used.contains(i))
        .collect();
    gone.sort_unstable();
    gone.dedup();
    delete_attributes(b, &gone);
    b.sequence_number = b.sequence_number.wrapping_add(1);
}

/// Removes the attributes at `gone` (sorted) and renumbers the allocations after them.
fn delete_attributes(b: &mut AllocationBlock, gone: &[usize]) {
    if gone.is_empty() {
        return;
    }
    let attrs = b.attributes.take().unwrap_or_default();
    let mut remap = vec![None; attrs.len()];
    let mut kept = Vec::new();
    for (i, a) in attrs.into_iter().enumerate() {
        if gone.binary_search(&i).is_err() {
            remap[i] = Some(kept.len());
            kept.push(a);
        }
    }
    for a in b.allocations.iter_mut() {
        if let Some(i) = a {
            *a = remap.get(*i).copied().flatten();
        }
    }
    b.attributes = Some(kept);
}

/// Empty = nothing allocated except Windows-reserved addresses.
pub fn is_empty_block(b: &AllocationBlock) -> bool {
    b.allocations.iter().enumerate().all(|(ord, a)| match a {
        None => true,
        Some(_) => b
            .attribute_of(ord)
            .and_then(|at| at.handle_id.as_deref())
            .is_some_and(|h| h == check::WINDOWS_RESERVED_HANDLE),
    })
}

/// How `decrement_handle` treats a handle that does not hold what is taken from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decrement {
    /// libcalico: a handle that is gone, does not hold the block or holds fewer addresses
    /// there is an error and stays as it is.
    Strict,
    /// Take what is there: a missing handle is fine, a count never goes below zero.
    Clamp,
}

/// `block[cidr] -= count` on a handle; deletes the handle when nothing is left (CAS, retried).
pub async fn decrement_handle(
    ds: &dyn Datastore,
    handle: &str,
    cidr: IpNet,
    count: i64,
    how: Decrement,
) -> Result<()> {
    for _ in 0..DATASTORE_RETRIES {
        let kv = match ds.ipam_get(&IpamKey::Handle(handle.to_string())).await {
            Ok(kv) => kv,
            Err(e) if e.is_not_found() && how == Decrement::Clamp => return Ok(()),
            Err(e) => return Err(e),
        };
        let IpamValue::Handle(h) = kv.value.clone() else {
            return Err(DatastoreError::Corrupt(format!(
                "handle {handle} has the wrong type"
            )));
        };
        let key = cidr.to_string();
        let have = h.block.get(&key).copied();
        if how == Decrement::Strict {
            match have {
                None => {
                    return Err(DatastoreError::Other(format!(
                        "Tried to decrement block {key} but it isn't linked to handle {handle}"
                    )));
                }
                Some(have) if have < count => {
                    return Err(DatastoreError::Other(format!(
                        "Tried to decrement block {key} by {count} but it only has {have} addresses on handle {handle}"
                    )));
                }
                Some(_) => {}
            }
        }
        match store_handle_count(ds, kv, h, key, have.unwrap_or(0) - count).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_conflict() => continue,
            Err(e) if e.is_not_found() && how == Decrement::Clamp => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Err(DatastoreError::Other(format!(
        "max retries hit updating handle {handle}"
    )))
}

/// Sets a handle's count for one block (none when `left` ≤ 0) and writes it, compare-and-swap
/// on the revision read; a handle left counting nothing is deleted.
async fn store_handle_count(
    ds: &dyn Datastore,
    kv: IpamKv,
    mut h: crate::model::ipam::IpamHandle,
    block: String,
    left: i64,
) -> Result<()> {
    if left <= 0 {
        h.block.remove(&block);
    } else {
        h.block.insert(block, left);
    }
    let empty = h.block.is_empty();
    let next = IpamKv {
        value: IpamValue::Handle(h),
        ..kv
    };
    if empty {
        ds.ipam_delete(&next).await
    } else {
        ds.ipam_update(&next).await.map(|_| ())
    }
}

/// Finishes a release that was interrupted between its two writes (the block freed the
/// address, the handle was not decremented): for each (handle, address) pair, a handle that
/// counts more addresses in the address's block than the block holds for it is set to what
/// the block holds, and deleted when nothing is left. Only for a locked datastore: while
/// allocations run, a handle is legitimately ahead of its block (it is incremented first).
/// Returns the handles changed.
pub async fn repair_handles(ds: &dyn Datastore, pairs: &[(String, IpAddr)]) -> Result<usize> {
    let mut repaired = 0;
    for (handle, ip) in pairs {
        for _ in 0..DATASTORE_RETRIES {
            let kv = match ds.ipam_get(&IpamKey::Handle(handle.clone())).await {
                Ok(kv) => kv,
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e),
            };
            let IpamValue::Handle(h) = kv.value.clone() else {
                break;
            };
            let Some((key, counted)) = h
                .block
                .iter()
                .find(|(k, _)| k.parse::<IpNet>().is_ok_and(|n| n.contains(ip)))
                .map(|(k, n)| (k.clone(), *n))
            else {
                break;
            };
            let held = match get_block(ds, key.parse::<IpNet>().expect("parsed above")).await {
                Ok(b) => held_by(&b.block, handle),
                Err(e) if e.is_not_found() => 0,
                Err(e) => return Err(e),
            };
            if counted <= held {
                break;
            }
            match store_handle_count(ds, kv, h, key, held).await {
                Ok(()) => {
                    repaired += 1;
                    break;
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(repaired)
}

/// How many addresses of a block belong to a handle.
fn held_by(b: &AllocationBlock, handle: &str) -> i64 {
    let attrs = b.attributes.as_deref().unwrap_or_default();
    b.allocations
        .iter()
        .flatten()
        .filter(|&&a| attrs.get(a).and_then(|x| x.handle_id.as_deref()) == Some(handle))
        .count() as i64
}

/// Deletes a handle if its revision (and UID, where the backend has them) are unchanged.
pub async fn delete_handle_if_unchanged(
    ds: &dyn Datastore,
    id: &str,
    revision: &str,
    uid: Option<&str>,
) -> Result<bool> {
    let kv = match ds.ipam_get(&IpamKey::Handle(id.to_string())).await {
        Ok(kv) => kv,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    if kv.revision != revision || (uid.is_some() && kv.uid.as_deref() != uid) {
        return Ok(false);
    }
    match ds.ipam_delete(&kv).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_conflict() || e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases one block affinity (pendingDeletion, then the block deleted if empty or made
/// unaffine, then the affinity deleted). Returns false when skipped (block not empty and
/// `must_be_empty`).
pub async fn release_affinity(
    ds: &dyn Datastore,
    host: &str,
    atype: AffinityType,
    cidr: IpNet,
    must_be_empty: bool,
) -> Result<bool> {
    let akey = IpamKey::Affinity {
        host: host.to_string(),
        affinity_type: atype,
        cidr,
    };
    for _ in 0..DATASTORE_RETRIES {
        let aff = match ds.ipam_get(&akey).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(true),
            Err(e) => return Err(e),
        };
        let want = format!("{}:{host}", atype.as_str());
        let block = match get_block(ds, cidr).await {
            Ok(b) => Some(b),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let Some(mut b) = block.filter(|b| b.block.affinity.as_deref() == Some(want.as_str()))
        else {
            // Stale affinity: the block says otherwise (or is gone).
            match ds.ipam_delete(&aff).await {
                Ok(()) => return Ok(true),
                Err(e) if e.is_conflict() => continue,
                Err(e) if e.is_not_found() => return Ok(true),
                Err(e) => return Err(e),
            }
        };
        let empty = is_empty_block(&b.block);
        if must_be_empty && !empty {
            return Ok(false);
        }
        // 1. pendingDeletion
        let pending = IpamKv {
            value: IpamValue::Affinity(BlockAffinity {
                state: "pendingDeletion".into(),
                deleted: false,
            }),
            ..aff.clone()
        };
        let aff = match ds.ipam_update(&pending).await {
            Ok(a) => a,
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e),
        };
        // 2. block: delete when empty, else make it unaffine.
        let r = if empty {
            ds.ipam_delete(&b.to_kv()).await
        } else {
            b.block.affinity = None;
            b.block.affinity_claim_time = None;
            b.block.sequence_number = b.block.sequence_number.wrapping_add(1);
            ds.ipam_update(&b.to_kv()).await.map(|_| ())
        };
        match r {
            Ok(()) => {}
            Err(e) if e.is_conflict() => continue,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        // 3. the affinity itself.
        match ds.ipam_delete(&aff).await {
            Ok(()) => return Ok(true),
            Err(e) if e.is_not_found() => return Ok(true),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DatastoreError::Other(format!(
        "max retries hit releasing affinity {host} {cidr}"
    )))
}

/// The affinities a host holds.
pub async fn host_affinities(
    ds: &dyn Datastore,
    host: &str,
) -> Result<Vec<(AffinityType, IpNet, BlockAffinity)>> {
    Ok(ds
        .ipam_list(&IpamList::Affinities {
            host: Some(host.to_string()),
            version: None,
        })
        .await?
        .into_iter()
        .filter_map(|kv| match (kv.key, kv.value) {
            (
                IpamKey::Affinity {
                    host: h,
                    affinity_type,
                    cidr,
                },
                IpamValue::Affinity(a),
            ) if h == host => Some((affinity_type, cidr, a)),
            _ => None,
        })
        .collect())
}

/// Releases every affinity of a host (`ReleaseHostAffinities`).
pub async fn release_host_affinities(
    ds: &dyn Datastore,
    host: &str,
    must_be_empty: bool,
) -> Result<usize> {
    let mut n = 0;
    for (t, cidr, _) in host_affinities(ds, host).await? {
        if release_affinity(ds, host, t, cidr, must_be_empty).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Releases the host affinities of all blocks in a pool (`ReleasePoolAffinities`, used by pool
/// delete); LoadBalancer (`virtual`) affinities stay, as there.
pub async fn release_pool_affinities(ds: &dyn Datastore, pool: IpNet) -> Result<()> {
    let all = ds
        .ipam_list(&IpamList::Affinities {
            host: None,
            version: None,
        })
        .await?;
    for kv in all {
        if let IpamKey::Affinity {
            host,
            affinity_type,
            cidr,
        } = kv.key
            && affinity_type == AffinityType::Host
            && pool.contains(&cidr.network())
        {
            release_affinity(ds, &host, affinity_type, cidr, false).await?;
        }
    }
    Ok(())
}

/// `delete ippool` as libcalico's `IPPools().Delete`: an enabled pool is first disabled (with
/// the revision of the file, if any, so a changed pool is not deleted), then every block
/// affinity in its CIDR is released (empty blocks go, others become unaffine), and only then
/// is the pool deleted. Returns the deleted pool.
pub async fn delete_pool(
    client: &crate::datastore::client::Client,
    name: &str,
    revision: Option<&str>,
) -> Result<serde_json::Value> {
    let pk = KindId::IPPool.info();
    let mut pool = client.get(pk, "", name).await?;
    let disabled = pool
        .pointer("/spec/disabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if !disabled {
        if let Some(spec) = pool
            .get_mut("spec")
            .and_then(serde_json::Value::as_object_mut)
        {
            spec.insert("disabled".into(), serde_json::Value::Bool(true));
        }
        if let Some(rv) = revision {
            crate::model::meta::set_meta_str(&mut pool, "resourceVersion", Some(rv));
        }
        pool = client.update(pk, &pool).await?;
    }
    if let Ok(cidr) = str_at(&pool, &["spec", "cidr"]).parse::<IpNet>() {
        release_pool_affinities(client.datastore().as_ref(), cidr.trunc()).await?;
    }
    let rv = crate::model::meta::resource_version(&pool);
    client
        .delete(pk, "", name, Some(rv.as_str()).filter(|r| !r.is_empty()))
        .await
}

/// Assigns one specific IP to a handle (libcalico `AssignIP`): claims the block for `host` if it
/// does not exist, increments the handle first, then CAS-writes the block.
pub async fn assign_ip(
    ds: &dyn Datastore,
    ip: IpAddr,
    handle: &str,
    attrs: BTreeMap<String, String>,
    host: &str,
) -> Result<()> {
    let pools = list_pools(ds).await?;
    let pool = pools.iter().find(|p| p.cidr.contains(&ip)).ok_or_else(|| {
        DatastoreError::Other(format!(
            "the provided IP address {ip} is not in a configured pool"
        ))
    })?;
    let cidr = IpNet::new(ip, pool.block_size)
        .map_err(|e| DatastoreError::Other(e.to_string()))?
        .trunc();
    for _ in 0..DATASTORE_RETRIES {
        let mut kv = match get_block(ds, cidr).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                claim_block(ds, cidr, host).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let ord = kv
            .block
            .ordinal_of(ip)
            .ok_or_else(|| DatastoreError::Other("IP outside block".into()))?;
        if kv.block.allocations[ord].is_some() {
            return Err(DatastoreError::Other(format!(
                "Address already assigned in block: {ip}"
            )));
        }
        increment_handle(ds, handle, cidr, 1).await?;
        allocate_ordinal(&mut kv.block, ord, handle, &attrs);
        match ds.ipam_update(&kv.to_kv()).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let _ = decrement_handle(ds, handle, cidr, 1, Decrement::Clamp).await;
                if e.is_conflict() {
                    continue;
                }
                return Err(e);
            }
        }
    }
    Err(DatastoreError::Other(format!(
        "max retries hit assigning {ip}"
    )))
}

/// Marks an ordinal allocated to a handle (reusing an identical attribute entry).
pub fn allocate_ordinal(
    b: &mut AllocationBlock,
    ord: usize,
    handle: &str,
    attrs: &BTreeMap<String, String>,
) {
    let attr = AllocationAttribute {
        handle_id: Some(handle.to_string()),
        secondary: (!attrs.is_empty()).then(|| attrs.clone()),
        alternate_owner_attrs: None,
        released_at: None,
    };
    let list = b.attributes.get_or_insert_with(Vec::new);
    let idx = match list.iter().position(|a| *a == attr) {
        Some(i) => i,
        None => {
            list.push(attr);
            list.len() - 1
        }
    };
    b.allocations[ord] = Some(idx);
    if let Some(u) = b.unallocated.as_mut() {
        u.retain(|&o| o != ord);
    }
    b.sequence_number_for_allocation
        .get_or_insert_with(BTreeMap::new)
        .insert(ord.to_string(), b.sequence_number);
    b.sequence_number = b.sequence_number.wrapping_add(1);
}

/// `block[cidr] += n` on a handle, creating it if needed.
pub async fn increment_handle(ds: &dyn Datastore, handle: &str, cidr: IpNet, n: i64) -> Result<()> {
    for _ in 0..DATASTORE_RETRIES {
        match ds.ipam_get(&IpamKey::Handle(handle.to_string())).await {
            Ok(kv) => {
                let IpamValue::Handle(mut h) = kv.value.clone() else {
                    return Err(DatastoreError::Corrupt(format!(
                        "handle {handle} has the wrong type"
                    )));
                };
                *h.block.entry(cidr.to_string()).or_default() += n;
                match ds
                    .ipam_update(&IpamKv {
                        value: IpamValue::Handle(h),
                        ..kv
                    })
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) if e.is_conflict() || e.is_not_found() => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) if e.is_not_found() => {
                let mut block = BTreeMap::new();
                block.insert(cidr.to_string(), n);
                let kv = IpamKv {
                    key: IpamKey::Handle(handle.to_string()),
                    value: IpamValue::Handle(IpamHandle {
                        block,
                        deleted: false,
                    }),
                    revision: String::new(),
                    uid: None,
                };
                match ds.ipam_create(&kv).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.is_already_exists() => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(DatastoreError::Other(format!(
        "max retries hit updating handle {handle}"
    )))
}

/// A brand-new empty block affine to `host`.
pub fn new_block(cidr: IpNet, host: &str) -> AllocationBlock {
    let size = 1usize << (cidr.max_prefix_len() - cidr.prefix_len());
    AllocationBlock {
        cidr,
        affinity: Some(format!("host:{host}")),
        affinity_claim_time: Some(crate::model::gotypes::now_rfc3339()),
        allocations: vec![None; size],
        unallocated: Some((0..size).collect()),
        attributes: Some(Vec::new()),
        sequence_number: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64,
        sequence_number_for_allocation: Some(BTreeMap::new()),
        deleted: false,
        host_affinity: None,
    }
}

/// libcalico's two-phase claim: pending affinity, block, confirmed affinity.
pub async fn claim_block(ds: &dyn Datastore, cidr: IpNet, host: &str) -> Result<()> {
    let akey = IpamKey::Affinity {
        host: host.to_string(),
        affinity_type: AffinityType::Host,
        cidr,
    };
    let pending = IpamKv {
        key: akey.clone(),
        value: IpamValue::Affinity(BlockAffinity {
            state: "pending".into(),
            deleted: false,
        }),
        revision: String::new(),
        uid: None,
    };
    let aff = match ds.ipam_create(&pending).await {
        Ok(a) => a,
        Err(e) if e.is_already_exists() => ds.ipam_get(&akey).await?,
        Err(e) => return Err(e),
    };
    let block = IpamKv {
        key: IpamKey::Block(cidr),
        value: IpamValue::Block(new_block(cidr, host)),
        revision: String::new(),
        uid: None,
    };
    match ds.ipam_create(&block).await {
        Ok(_) => {}
        Err(e) if e.is_already_exists() => {
            let b = get_block(ds, cidr).await?;
            if b.block.affinity.as_deref() != Some(format!("host:{host}").as_str()) {
                let _ = ds.ipam_delete(&aff).await;
                return Ok(());
            }
        }
        Err(e) => return Err(e),
    }
    let confirmed = IpamKv {
        value: IpamValue::Affinity(BlockAffinity {
            state: "confirmed".into(),
            deleted: false,
        }),
        ..aff
    };
    match ds.ipam_update(&confirmed).await {
        Ok(_) => Ok(()),
        Err(_) => {
            let now = ds.ipam_get(&akey).await?;
            match now.value {
                IpamValue::Affinity(a) if a.state == "confirmed" => Ok(()),
                _ => Err(DatastoreError::Other(format!(
                    "could not confirm affinity of {cidr} for {host}"
                ))),
            }
        }
    }
}

/// Finds an IP's allocation: (block, ordinal, attribute). As libcalico's
/// GetAssignmentAttributes, the block is the one an enabled pool's block size puts the IP in;
/// an IP outside every enabled pool has none.
pub async fn lookup_ip(
    ds: &dyn Datastore,
    ip: IpAddr,
) -> Result<Option<(AllocationBlock, usize, AllocationAttribute)>> {
    let pools = list_pools(ds).await?;
    let block = match pools.iter().find(|p| !p.disabled && p.cidr.contains(&ip)) {
        Some(p) => {
            let cidr = IpNet::new(ip, p.block_size)
                .map_err(|e| DatastoreError::Other(e.to_string()))?
                .trunc();
            match get_block(ds, cidr).await {
                Ok(b) => Some(b),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let Some(b) = block else { return Ok(None) };
    let Some(ord) = b.block.ordinal_of(ip) else {
        return Ok(None);
    };
    match b.block.attribute_of(ord) {
        Some(a) if a.released_at.is_none() => {
            let a = a.clone();
            Ok(Some((b.block, ord, a)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> AllocationBlock {
        let mut b = new_block("10.0.0.0/29".parse().unwrap(), "n1");
        b.sequence_number = 10;
        let mut a = BTreeMap::new();
        a.insert("node".to_string(), "n1".to_string());
        allocate_ordinal(&mut b, 0, "h0", &a);
        allocate_ordinal(&mut b, 1, "h1", &a);
        allocate_ordinal(&mut b, 2, "h2", &a);
        b
    }

    #[test]
    fn allocate_records_sequence_numbers() {
        let b = block();
        assert_eq!(b.unallocated, Some(vec![3, 4, 5, 6, 7]));
        assert_eq!(b.allocations[..3], [Some(0), Some(1), Some(2)]);
        assert_eq!(b.sequence_number, 13);
        let m = b.sequence_number_for_allocation.as_ref().unwrap();
        assert_eq!(m["0"], 10);
        assert_eq!(m["2"], 12);
    }

    #[test]
    fn release_appends_to_tail_and_compacts() {
        let mut b = block();
        release_ordinals(&mut b, &[1]);
        assert_eq!(b.unallocated, Some(vec![3, 4, 5, 6, 7, 1]));
        assert_eq!(b.allocations[..3], [Some(0), None, Some(1)]);
        let attrs = b.attributes.as_ref().unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].handle_id.as_deref(), Some("h2"));
        assert!(
            !b.sequence_number_for_allocation
                .as_ref()
                .unwrap()
                .contains_key("1")
        );
        assert_eq!(b.sequence_number, 14);
        release_ordinals(&mut b, &[0, 2]);
        assert!(is_empty_block(&b));
        assert_eq!(b.attributes, Some(vec![]));
    }
}
