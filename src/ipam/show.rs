//! `ipam show` computations (pool totals from the pool CIDR, in-use from its blocks) as data,
//! plus calicoctl's renderings.
//! Beyond calicoctl every view also serialises to JSON/YAML, and a utilisation view flags pools
//! above a threshold and blocks borrowed across nodes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::Pool;
use crate::gocompat::boxtable::render_box_table;
use crate::gocompat::gofmt::{fmt_g5, fmt_pct0};
use crate::model::ipam::{AllocationAttribute, AllocationBlock, IpamConfig};

/// Usage numbers of one pool or block.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Usage {
    pub grouping: &'static str,
    pub cidr: String,
    pub total: f64,
    pub in_use: f64,
    pub free: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

/// The pool summary (and blocks): one entry per pool row, followed by its block rows.
pub fn summary(pools: &[Pool], blocks: &[BlockStat], with_blocks: bool) -> Vec<Usage> {
    let mut rows = Vec::new();
    let mut placed = vec![false; blocks.len()];
    for p in pools {
        let total = (2f64).powi((p.cidr.max_prefix_len() - p.cidr.prefix_len()) as i32);
        let mut in_use = 0f64;
        let mut block_rows = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            if placed[i] || !p.cidr.contains(&b.cidr.network()) {
                continue;
            }
            placed[i] = true;
            let u = block_usage(b);
            in_use += u.in_use;
            block_rows.push(Usage {
                pool: Some(p.cidr.to_string()),
                ..u
            });
        }
        rows.push(Usage {
            grouping: "IP Pool",
            cidr: p.cidr.to_string(),
            total,
            in_use,
            free: total - in_use,
            pool: None,
        });
        if with_blocks {
            rows.extend(block_rows);
        }
    }
    if with_blocks {
        // Blocks in no pool sit under a pseudo-pool 0.0.0.0/0 whose own row is not printed.
        let any: IpNet = "0.0.0.0/0".parse().unwrap_or_else(|_| IpNet::default());
        for (i, b) in blocks.iter().enumerate() {
            if !placed[i] && any.contains(&b.cidr.network()) {
                rows.push(Usage {
                    pool: Some("0.0.0.0/0".into()),
                    ..block_usage(b)
                });
            }
        }
    }
    rows
}

fn block_usage(b: &BlockStat) -> Usage {
    Usage {
        grouping: "Block",
        cidr: b.cidr.to_string(),
        total: b.total,
        in_use: b.total - b.free,
        free: b.free,
        pool: None,
    }
}

/// What the `ipam show` views need of one block. Built while the blocks stream past, so a
/// 16k-block cluster is summarised without holding every allocation in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockStat {
    pub cidr: IpNet,
    /// Affinity host (`host:` stripped), if any.
    pub host: Option<String>,
    pub total: f64,
    pub free: f64,
    /// Allocations in this block made for another node.
    pub borrowed: Vec<Borrowed>,
    /// Allocations with no `node` attribute.
    pub no_node: usize,
}

impl BlockStat {
    pub fn of(b: &AllocationBlock) -> Self {
        // `host:node1` → `node1`, `virtual:load-balancer` → `load-balancer`.
        let owner = b
            .affinity
            .as_deref()
            .map(|a| a.split_once(':').map_or(a, |(_, h)| h).to_string());
        let owner_s = owner.clone().unwrap_or_default();
        let mut borrowed = Vec::new();
        let mut no_node = 0;
        for (ord, a) in b.allocations.iter().enumerate() {
            if a.is_none() {
                continue;
            }
            let Some(attr) = b.attribute_of(ord) else {
                continue;
            };
            let empty = BTreeMap::new();
            let sec = attr.secondary.as_ref().unwrap_or(&empty);
            let Some(node) = sec.get("node") else {
                no_node += 1;
                continue;
            };
            if *node == owner_s {
                continue;
            }
            let (kind, to) = owner_of(sec);
            borrowed.push(Borrowed {
                ip: b.ip_at(ord).to_string(),
                borrowing_node: node.clone(),
                block: b.cidr.to_string(),
                block_owner: owner_s.clone(),
                kind,
                allocated_to: to,
            });
        }
        BlockStat {
            cidr: b.cidr,
            host: owner,
            total: b.size() as f64,
            free: b.unallocated.as_ref().map(Vec::len).unwrap_or(0) as f64,
            borrowed,
            no_node,
        }
    }
}

fn pct(part: f64, total: f64) -> f64 {
    if total == 0.0 {
        0.0
    } else {
        100.0 * part / total
    }
}

/// calicoctl's `ipam show [--show-blocks]` table.
pub fn render_summary(rows: &[Usage]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|u| {
            vec![
                u.grouping.to_string(),
                u.cidr.clone(),
                fmt_g5(u.total),
                format!(
                    "{} ({}%)",
                    fmt_g5(u.in_use),
                    fmt_pct0(pct(u.in_use, u.total))
                ),
                format!("{} ({}%)", fmt_g5(u.free), fmt_pct0(pct(u.free, u.total))),
            ]
        })
        .collect();
    render_box_table(
        &["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"],
        &cells,
    )
}

/// One borrowed allocation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Borrowed {
    pub ip: String,
    pub borrowing_node: String,
    pub block: String,
    pub block_owner: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub allocated_to: String,
}

/// Allocations whose `node` differs from the block's affinity host; also the count of
/// allocations without a node attribute.
pub fn borrowed(blocks: &[BlockStat]) -> (Vec<Borrowed>, usize) {
    let rows = blocks
        .iter()
        .flat_map(|b| b.borrowed.iter().cloned())
        .collect();
    (rows, blocks.iter().map(|b| b.no_node).sum())
}

fn owner_of(sec: &BTreeMap<String, String>) -> (String, String) {
    let ns = sec.get("namespace").cloned().unwrap_or_default();
    if let Some(vmi) = sec.get("vmi-name") {
        ("vmi".into(), format!("{ns}/{vmi}"))
    } else if let Some(pod) = sec.get("pod") {
        ("pod".into(), format!("{ns}/{pod}"))
    } else {
        (sec.get("type").cloned().unwrap_or_default(), String::new())
    }
}

/// calicoctl's `--show-borrowed` output.
pub fn render_borrowed(rows: &[Borrowed], no_node: usize) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.ip.clone(),
                r.borrowing_node.clone(),
                r.block.clone(),
                r.block_owner.clone(),
                r.kind.clone(),
                r.allocated_to.clone(),
            ]
        })
        .collect();
    let mut s = render_box_table(
        &[
            "IP",
            "BORROWING-NODE",
            "BLOCK",
            "BLOCK OWNER",
            "TYPE",
            "ALLOCATED-TO",
        ],
        &cells,
    );
    if no_node > 0 {
        s.push_str(&format!(
            "\nNote: found {no_node} IP allocations without an explicit node association. Unable to determine if they are borrowed.\n"
        ));
    }
    s
}

/// `--ip` as data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IpInfo {
    pub ip: String,
    pub in_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub alternate_attributes: BTreeMap<String, String>,
}

pub fn ip_info(ip: IpAddr, found: Option<&AllocationAttribute>) -> IpInfo {
    IpInfo {
        ip: ip.to_string(),
        in_use: found.is_some(),
        handle: found.and_then(|a| a.handle_id.clone()),
        attributes: found.and_then(|a| a.secondary.clone()).unwrap_or_default(),
        alternate_attributes: found
            .and_then(|a| a.alternate_owner_attrs.clone())
            .unwrap_or_default(),
    }
}

/// calicoctl's `--ip` text.
pub fn render_ip(info: &IpInfo) -> String {
    if !info.in_use {
        return format!("{} is not assigned\n", info.ip);
    }
    let mut s = format!("IP {} is in use\n", info.ip);
    match &info.handle {
        Some(h) => s.push_str(&format!("Handle ID: {h}\n")),
        None => s.push_str("Handle ID: <none>\n"),
    }
    if info.attributes.is_empty() {
        s.push_str("No Active Owner attributes defined\n");
    } else {
        s.push_str("Active Owner Attributes:\n");
        for (k, v) in &info.attributes {
            s.push_str(&format!("  {k}: {v}\n"));
        }
    }
    if !info.alternate_attributes.is_empty() {
        s.push_str("Alternate Owner Attributes:\n");
        for (k, v) in &info.alternate_attributes {
            s.push_str(&format!("  {k}: {v}\n"));
        }
    }
    s
}

/// calicoctl's `--show-configuration` table. calicoctl prints the KubeVirt setting with Go's
/// `%v` of a pointer: `(*ipam.VMAddressPersistence)(nil)` when unset, else the value's address
/// (here: where this process holds the value), never the value itself.
pub fn render_config(c: &IpamConfig) -> String {
    let kv = match &c.kubevirt_vm_address_persistence {
        None => "(*ipam.VMAddressPersistence)(nil)".to_string(),
        Some(v) => format!("(*ipam.VMAddressPersistence)({:p})", v.as_ptr()),
    };
    let rows = vec![
        vec!["StrictAffinity".to_string(), c.strict_affinity.to_string()],
        vec![
            "AutoAllocateBlocks".to_string(),
            c.auto_allocate_blocks.to_string(),
        ],
        vec![
            "MaxBlocksPerHost".to_string(),
            c.max_blocks_per_host.to_string(),
        ],
        vec!["KubeVirtVMAddressPersistence".to_string(), kv],
    ];
    render_box_table(&["PROPERTY", "VALUE"], &rows)
}

/// The configuration as data.
pub fn config_value(c: &IpamConfig) -> serde_json::Value {
    serde_json::json!({
        "strictAffinity": c.strict_affinity,
        "autoAllocateBlocks": c.auto_allocate_blocks,
        "maxBlocksPerHost": c.max_blocks_per_host,
        "kubeVirtVMAddressPersistence": c.kubevirt_vm_address_persistence,
    })
}

/// Per-node usage for the utilisation view.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeUsage {
    pub node: String,
    pub blocks: usize,
    pub addresses: f64,
    pub in_use: f64,
    pub borrowed_from_others: usize,
}

/// Per-pool and per-node utilisation, with the pools above `threshold` percent.
#[derive(Debug, Clone, Serialize)]
pub struct Utilization {
    pub pools: Vec<Usage>,
    pub nodes: Vec<NodeUsage>,
    pub borrowed: Vec<Borrowed>,
    pub pools_above_threshold: Vec<String>,
    pub threshold: Option<f64>,
}

pub fn utilization(pools: &[Pool], blocks: &[BlockStat], threshold: Option<f64>) -> Utilization {
    let rows = summary(pools, blocks, false);
    let mut nodes: BTreeMap<String, NodeUsage> = BTreeMap::new();
    for b in blocks {
        let owner = b.host.clone().unwrap_or_else(|| "<none>".into());
        let u = block_usage(b);
        let e = nodes.entry(owner.clone()).or_insert(NodeUsage {
            node: owner,
            blocks: 0,
            addresses: 0.0,
            in_use: 0.0,
            borrowed_from_others: 0,
        });
        e.blocks += 1;
        e.addresses += u.total;
        e.in_use += u.in_use;
    }
    let (borrowed, _) = borrowed(blocks);
    for r in &borrowed {
        if let Some(n) = nodes.get_mut(&r.borrowing_node) {
            n.borrowed_from_others += 1;
        } else {
            nodes.insert(
                r.borrowing_node.clone(),
                NodeUsage {
                    node: r.borrowing_node.clone(),
                    blocks: 0,
                    addresses: 0.0,
                    in_use: 0.0,
                    borrowed_from_others: 1,
                },
            );
        }
    }
    let above = threshold
        .map(|t| {
            rows.iter()
                .filter(|u| pct(u.in_use, u.total) > t)
                .map(|u| u.cidr.clone())
                .collect()
        })
        .unwrap_or_default();
    Utilization {
        pools: rows,
        nodes: nodes.into_values().collect(),
        borrowed,
        pools_above_threshold: above,
        threshold,
    }
}

/// A readable utilisation report.
pub fn render_utilization(u: &Utilization) -> String {
    let mut s = String::from("Pools:\n");
    let pool_rows: Vec<Vec<String>> = u
        .pools
        .iter()
        .map(|p| {
            let flag = if u.pools_above_threshold.contains(&p.cidr) {
                "ABOVE THRESHOLD"
            } else {
                ""
            };
            vec![
                p.cidr.clone(),
                fmt_g5(p.total),
                format!(
                    "{} ({}%)",
                    fmt_g5(p.in_use),
                    fmt_pct0(pct(p.in_use, p.total))
                ),
                flag.to_string(),
            ]
        })
        .collect();
    s.push_str(&render_box_table(
        &["POOL", "IPS TOTAL", "IPS IN USE", "WARNING"],
        &pool_rows,
    ));
    s.push_str("\nNodes:\n");
    let node_rows: Vec<Vec<String>> = u
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.node.clone(),
                n.blocks.to_string(),
                format!(
                    "{} ({}%)",
                    fmt_g5(n.in_use),
                    fmt_pct0(pct(n.in_use, n.addresses))
                ),
                n.borrowed_from_others.to_string(),
            ]
        })
        .collect();
    s.push_str(&render_box_table(
        &["NODE", "BLOCKS", "IPS IN USE", "BORROWED IPS"],
        &node_rows,
    ));
    if !u.borrowed.is_empty() {
        s.push_str(&format!(
            "\nWarning: {} IPs are borrowed from other nodes' blocks; these rely on /32 routes and are the blackhole risk when blocks run out or nodes go away.\n",
            u.borrowed.len()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::{allocate_ordinal, new_block};

    fn bkv(cidr: &str, host: &str, n: usize) -> BlockStat {
        let mut b = new_block(cidr.parse().unwrap(), host);
        for i in 0..n {
            let mut a = BTreeMap::new();
            a.insert("node".into(), host.to_string());
            allocate_ordinal(&mut b, i, &format!("h{i}"), &a);
        }
        BlockStat::of(&b)
    }

    #[test]
    fn reference_example_table() {
        let pools = vec![
            Pool {
                name: "a".into(),
                cidr: "10.65.0.0/16".parse().unwrap(),
                block_size: 26,
                disabled: false,
                node_selector: "all()".into(),
            },
            Pool {
                name: "b".into(),
                cidr: "10.66.0.0/16".parse().unwrap(),
                block_size: 29,
                disabled: false,
                node_selector: "all()".into(),
            },
            Pool {
                name: "c".into(),
                cidr: "fd5f:abcd:64::/48".parse().unwrap(),
                block_size: 122,
                disabled: false,
                node_selector: "all()".into(),
            },
        ];
        let blocks = vec![
            bkv("10.65.79.0/26", "n", 5),
            bkv("10.66.137.224/29", "n", 8),
            bkv("10.66.137.232/29", "n", 3),
            bkv("fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122", "n", 7),
        ];
        let want = "\
+----------+-------------------------------------------+------------+------------+-------------------+
| GROUPING |                   CIDR                    | IPS TOTAL  | IPS IN USE |     IPS FREE      |
+----------+-------------------------------------------+------------+------------+-------------------+
| IP Pool  | 10.65.0.0/16                              |      65536 | 5 (0%)     | 65531 (100%)      |
| Block    | 10.65.79.0/26                             |         64 | 5 (8%)     | 59 (92%)          |
| IP Pool  | 10.66.0.0/16                              |      65536 | 11 (0%)    | 65525 (100%)      |
| Block    | 10.66.137.224/29                          |          8 | 8 (100%)   | 0 (0%)            |
| Block    | 10.66.137.232/29                          |          8 | 3 (38%)    | 5 (62%)           |
| IP Pool  | fd5f:abcd:64::/48                         | 1.2089e+24 | 7 (0%)     | 1.2089e+24 (100%) |
| Block    | fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122 |         64 | 7 (11%)    | 57 (89%)          |
+----------+-------------------------------------------+------------+------------+-------------------+
";
        assert_eq!(render_summary(&summary(&pools, &blocks, true)), want);
    }

    #[test]
    fn config_table() {
        let want = "\
+------------------------------+-----------------------------------+
|           PROPERTY           |               VALUE               |
+------------------------------+-----------------------------------+
| StrictAffinity               | false                             |
| AutoAllocateBlocks           | true                              |
| MaxBlocksPerHost             |                                 0 |
| KubeVirtVMAddressPersistence | (*ipam.VMAddressPersistence)(nil) |
+------------------------------+-----------------------------------+
";
        assert_eq!(render_config(&IpamConfig::default()), want);
        let set = IpamConfig {
            kubevirt_vm_address_persistence: Some("Enabled".into()),
            ..IpamConfig::default()
        };
        let t = render_config(&set);
        assert!(
            t.contains("| KubeVirtVMAddressPersistence | (*ipam.VMAddressPersistence)(0x"),
            "{t}"
        );
    }
}
