//! `calicoctl dev seed` (hidden): synthetic cluster data for benchmarks and scale tests,
//! written through the Datastore trait so it works on etcd and Kubernetes alike.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;

use futures::stream::{self, StreamExt};
use ipnet::IpNet;
use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::cli::{DevArgs, DevCommand, SeedArgs};
use crate::model::ipam::*;
use crate::model::kinds::{API_VERSION, KindId};
use crate::model::schema::schema;

pub async fn run(ctx: &mut Ctx, args: &DevArgs) -> CmdResult {
    match &args.command {
        DevCommand::Seed(a) => seed(ctx, a).await,
        DevCommand::Gen(a) => generate(ctx, a),
    }
}

/// File names of the checked-in completion scripts, per shell.
pub const COMPLETION_FILES: &[(clap_complete::Shell, &str)] = &[
    (clap_complete::Shell::Bash, "calicoctl.bash"),
    (clap_complete::Shell::Zsh, "_calicoctl"),
    (clap_complete::Shell::Fish, "calicoctl.fish"),
    (clap_complete::Shell::PowerShell, "_calicoctl.ps1"),
];

/// Writes completions/ and docs/man/ from the one clap definition (`make gen`); a test
/// regenerates them and fails when the checked-in copies are stale.
fn generate(ctx: &mut Ctx, a: &crate::cli::GenArgs) -> CmdResult {
    std::fs::create_dir_all(&a.completions)?;
    for (shell, file) in COMPLETION_FILES {
        let script =
            super::completion::registration(*shell, "calicoctl").map_err(Failure::Stderr)?;
        std::fs::write(std::path::Path::new(&a.completions).join(file), script)?;
    }
    std::fs::create_dir_all(&a.man)?;
    clap_mangen::generate_to(crate::cli_command(false), &a.man)?;
    std::fs::create_dir_all(&a.reference)?;
    for (file, text) in reference_pages(&crate::cli_command(false)) {
        std::fs::write(std::path::Path::new(&a.reference).join(file), text)?;
    }
    writeln!(
        ctx.out,
        "Wrote {}, {} and {}",
        a.completions, a.man, a.reference
    )?;
    Ok(0)
}

/// The command groups of docs/reference: (file, title, top-level commands).
const REFERENCE_GROUPS: &[(&str, &str, &[&str])] = &[
    (
        "resources.md",
        "Resource commands",
        &[
            "create", "apply", "replace", "patch", "delete", "get", "label", "validate", "diff",
        ],
    ),
    ("ipam.md", "IP address management", &["ipam"]),
    ("node.md", "Node commands", &["node"]),
    ("policy.md", "Policy troubleshooting", &["policy"]),
    ("datastore.md", "Datastore migration", &["datastore"]),
    ("cluster.md", "Cluster diagnostics", &["cluster"]),
    ("config.md", "Configuration contexts", &["config"]),
    (
        "version-completion.md",
        "Version and shell completion",
        &["version", "completion"],
    ),
];

/// Markdown pages generated from the clap definition (so flags and examples cannot drift).
fn reference_pages(root: &clap::Command) -> Vec<(String, String)> {
    let mut pages = Vec::new();
    let mut index = String::from(
        "# Command reference\n\nGenerated from the command-line definition by `make gen` (a test fails when\nstale). See also: [configuration](../config.md), [exit codes](../exit-codes.md),\n[compatibility with calicoctl](../compatibility.md), [reliability](../reliability.md).\n\n",
    );
    let global: Vec<&clap::Arg> = root.get_arguments().filter(|a| a.is_global_set()).collect();
    for (file, title, tops) in REFERENCE_GROUPS {
        let mut md = format!("# {title}\n\n");
        index.push_str(&format!("* [{title}]({file}):"));
        for top in *tops {
            let Some(cmd) = root.find_subcommand(top) else {
                continue;
            };
            index.push_str(&format!(" `{top}`"));
            command_section(cmd, &format!("calicoctl {top}"), &mut md);
        }
        index.push('\n');
        md.push_str("## Global options\n\n");
        options_table(&global, &mut md);
        md.push_str("\nExit codes: see [exit-codes.md](../exit-codes.md).\n");
        pages.push((file.to_string(), md));
    }
    pages.push(("README.md".into(), index));
    pages
}

fn command_section(cmd: &clap::Command, path: &str, md: &mut String) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect();
    if !subs.is_empty() {
        for s in subs {
            command_section(s, &format!("{path} {}", s.get_name()), md);
        }
        return;
    }
    md.push_str(&format!("## `{path}`\n\n"));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        md.push_str(&format!("{about}\n\n"));
    }
    let mut c = cmd.clone().bin_name(path.to_string());
    let usage = c.render_usage().to_string();
    md.push_str(&format!(
        "```\n{}\n```\n\n",
        usage.trim_start_matches("Usage: ")
    ));
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
        .collect();
    if !args.is_empty() {
        options_table(&args, md);
        md.push('\n');
    }
    if let Some(ex) = cmd.get_after_long_help() {
        let ex = ex.to_string();
        // The CRUD commands append the resource-type list; the reference lists it once.
        let ex = ex
            .split("\n\nValid resource types are:")
            .next()
            .unwrap_or(&ex);
        if let Some(body) = ex.strip_prefix("Examples:\n") {
            md.push_str(&format!("Examples:\n\n```sh\n{}\n```\n\n", body.trim_end()));
        }
    }
}

fn options_table(args: &[&clap::Arg], md: &mut String) {
    md.push_str("| option | default | meaning |\n|---|---|---|\n");
    for a in args {
        let mut names = Vec::new();
        if let Some(s) = a.get_short() {
            names.push(format!("-{s}"));
        }
        if let Some(l) = a.get_long() {
            names.push(format!("--{l}"));
        }
        let value = a
            .get_value_names()
            .map(|v| format!(" <{}>", v.join(" ")))
            .unwrap_or_default();
        let takes_value = a.get_action().takes_values();
        let name = if names.is_empty() {
            format!("<{}>", a.get_id().as_str().to_uppercase())
        } else {
            format!(
                "{}{}",
                names.join(", "),
                if takes_value { value } else { String::new() }
            )
        };
        let default: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let help = a
            .get_long_help()
            .or(a.get_help())
            .map(|h| h.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        md.push_str(&format!(
            "| `{}` | {} | {} |\n",
            name.replace('|', "\\|"),
            if default.is_empty() {
                String::new()
            } else {
                format!("`{}`", default.join(","))
            },
            help
        ));
    }
}

fn ip_add(base: IpAddr, off: u128) -> IpAddr {
    add_to_ip(base, off)
}

/// `--top-nodes`: the gap between two consecutive top nodes' counts, more than the borrowed
/// allocations can move a node's count (at most 2 up or down at the default 2 %).
const TOP_NODE_STEP: usize = 5;
/// The first pod number of the `--top-nodes` extra allocations.
const EXTRA_POD_BASE: usize = 1 << 40;

async fn seed(ctx: &mut Ctx, a: &SeedArgs) -> CmdResult {
    let c = ctx.client().await?;
    let ds = c.datastore().clone();
    let pool: IpNet = a
        .pool_cidr
        .parse()
        .map_err(|e| Failure::Stderr(format!("bad --pool-cidr: {e}")))?;
    let err = |e: crate::datastore::DatastoreError| Failure::Stderr(e.to_string());
    c.ensure_initialized().await;
    let pk = KindId::IPPool.info();
    let pool_obj = json!({"kind": "IPPool", "apiVersion": API_VERSION, "metadata": {"name": "seed-pool"},
        "spec": {"cidr": pool.to_string(), "blockSize": a.block_size, "ipipMode": "Always", "natOutgoing": true}});
    let pool_obj = schema()
        .decode("v3.IPPool", &pool_obj, false)
        .map_err(|e| Failure::Stderr(e.to_string()))?;
    match c.create(pk, &pool_obj).await {
        Ok(_) => {}
        Err(e) if e.is_already_exists() => {}
        Err(e) => return Err(err(e)),
    }
    let nk = KindId::Node.info();
    let wk = KindId::WorkloadEndpoint.info();
    let block_len = 1u128 << (pool.max_prefix_len() - a.block_size);
    let live = a.nodes.saturating_sub(a.dead_nodes);
    let now = chrono::Utc::now();
    let mut jobs: Vec<(usize, usize)> = Vec::new();
    for n in 0..a.nodes {
        for b in 0..a.blocks_per_node {
            jobs.push((n, b));
        }
    }
    // Nodes (and Felix reports).
    let node_results: Vec<Result<(), Failure>> = stream::iter(0..a.nodes)
        .map(|n| {
            let c = c.clone();
            let ds = ds.clone();
            async move {
                let name = format!("node-{n:05}");
                let raw = json!({"kind": "Node", "apiVersion": API_VERSION, "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                    "spec": {"bgp": {"ipv4Address": format!("172.{}.{}.{}/16", 16 + n / 65536, (n / 256) % 256, n % 256)},
                             "orchRefs": [{"nodeName": name, "orchestrator": "k8s"}]}});
                let obj = schema().decode("v3.Node", &raw, false).map_err(|e| Failure::Stderr(e.to_string()))?;
                match c.create(nk, &obj).await {
                    Ok(_) => {}
                    Err(e) if e.is_already_exists() => {}
                    Err(e) => return Err(Failure::Stderr(e.to_string())),
                }
                if a.felix_reports {
                    let t = if n < live { now } else { now - chrono::Duration::hours(72) };
                    ds.put_felix_report(&name, &t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .await
                        .map_err(|e| Failure::Stderr(e.to_string()))?;
                }
                Ok(())
            }
        })
        .buffer_unordered(a.concurrency)
        .collect()
        .await;
    for r in node_results {
        r?;
    }
    // Blocks, affinities, handles, WEPs.
    let total_blocks = jobs.len();
    let results: Vec<Result<usize, Failure>> = stream::iter(jobs)
        .map(|(n, b)| {
            let ds = ds.clone();
            let c = c.clone();
            async move {
                let idx = (n * a.blocks_per_node + b) as u128;
                let base = ip_add(pool.network(), idx * block_len);
                let cidr = IpNet::new(base, a.block_size).map_err(|e| Failure::Stderr(e.to_string()))?;
                let host = format!("node-{n:05}");
                let mut block = crate::ipam::new_block(cidr, &host);
                let mut handles = Vec::new();
                let k = a.ips_per_block.min(block.size());
                // This block's share of the node's extra allocations (`--top-nodes`), after the
                // free space of the node's earlier blocks.
                let free = block.size() - k;
                let extra = (TOP_NODE_STEP * a.top_nodes.saturating_sub(n))
                    .saturating_sub(b * free)
                    .min(free);
                for i in 0..k + extra {
                    // Extra allocations get pod numbers of their own, above every regular one,
                    // and are never leaked or borrowed.
                    let is_extra = i >= k;
                    let pod_no = if is_extra { EXTRA_POD_BASE + idx as usize * block.size() + i } else { idx as usize * k + i };
                    let borrowed = !is_extra && n < live && pod_no % 100 < a.borrow_percent && a.nodes > 1;
                    let owner = if borrowed { format!("node-{:05}", (n + 1) % live.max(1)) } else { host.clone() };
                    let handle = format!("k8s-pod-network.{:064x}", pod_no);
                    let mut attrs = BTreeMap::new();
                    attrs.insert("namespace".to_string(), "default".to_string());
                    attrs.insert("node".to_string(), owner.clone());
                    attrs.insert("pod".to_string(), format!("pod-{pod_no}"));
                    attrs.insert("timestamp".to_string(), "2025-06-01 10:05:12.123456789 +0000 UTC".to_string());
                    crate::ipam::allocate_ordinal(&mut block, i, &handle, &attrs);
                    let leaked = !is_extra && (n >= live || pod_no % 100 < a.leak_percent + a.borrow_percent && !borrowed);
                    handles.push((handle, block.ip_at(i), owner, pod_no, leaked));
                }
                let put = |key: IpamKey, value: IpamValue| IpamKv { key, value, revision: String::new(), uid: None };
                ds.ipam_put(&put(
                    IpamKey::Affinity { host: host.clone(), affinity_type: AffinityType::Host, cidr },
                    IpamValue::Affinity(BlockAffinity { state: "confirmed".into(), deleted: false }),
                ))
                .await
                .map_err(|e| Failure::Stderr(e.to_string()))?;
                ds.ipam_put(&put(IpamKey::Block(cidr), IpamValue::Block(block)))
                    .await
                    .map_err(|e| Failure::Stderr(e.to_string()))?;
                let mut written = 2;
                for (h, ip, owner, pod_no, leaked) in handles {
                    let mut m = BTreeMap::new();
                    m.insert(cidr.to_string(), 1);
                    ds.ipam_put(&put(IpamKey::Handle(h), IpamValue::Handle(IpamHandle { block: m, deleted: false })))
                        .await
                        .map_err(|e| Failure::Stderr(e.to_string()))?;
                    written += 1;
                    if a.weps && !leaked {
                        let pod = format!("pod-{pod_no}");
                        let raw = json!({"kind": "WorkloadEndpoint", "apiVersion": API_VERSION,
                            "metadata": {"name": format!("{}-k8s-{}-eth0", owner.replace('-', "--"), pod.replace('-', "--")), "namespace": "default"},
                            "spec": {"orchestrator": "k8s", "node": owner, "pod": pod, "endpoint": "eth0",
                                     "ipNetworks": [format!("{ip}/32")], "interfaceName": format!("cali{pod_no:011x}"),
                                     "profiles": ["kns.default"]}});
                        let obj = schema().decode("v3.WorkloadEndpoint", &raw, false).map_err(|e| Failure::Stderr(e.to_string()))?;
                        match c.datastore().create(wk, &obj).await {
                            Ok(_) => written += 1,
                            Err(e) if e.is_already_exists() => {}
                            Err(e) => return Err(Failure::Stderr(e.to_string())),
                        }
                    }
                }
                Ok(written)
            }
        })
        .buffer_unordered(a.concurrency)
        .collect()
        .await;
    let mut objects = 0;
    for r in results {
        objects += r?;
    }
    writeln!(
        ctx.out,
        "Seeded {} nodes, {total_blocks} blocks, {objects} IPAM/WEP objects.",
        a.nodes
    )?;
    Ok(0)
}
