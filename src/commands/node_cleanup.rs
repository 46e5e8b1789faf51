//! `calicoctl node cleanup` (beyond calicoctl) and the full cleanup behind `delete node`: thin
//! wiring of `crate::cleanup` to flags, confirmation, progress and printing.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::{CmdResult, Ctx, Failure};
use crate::cleanup::{self, ApplyOptions, EvidenceSources, NodePlan, NodeResult, Plan};
use crate::cli::{NodeCleanupArgs, ReportFormat};
use crate::gocompat::json::to_go_json_indent;
use crate::gocompat::tabwriter::tabwriter as tw;
use crate::model::gotypes::parse_go_duration;

/// The tabwriter without the padding after the last column.
fn tabwriter(rows: &[Vec<String>]) -> String {
    tw(rows)
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}
use crate::gocompat::yaml::to_yaml;

pub async fn run(ctx: &mut Ctx, a: &NodeCleanupArgs) -> CmdResult {
    let stale = parse_go_duration(&a.stale_after)
        .map_err(|e| Failure::Stderr(format!("invalid --stale-after {:?}: {e}", a.stale_after)))?;
    if stale <= 0 {
        return Err(Failure::Stderr(format!(
            "invalid --stale-after {:?}: must be positive",
            a.stale_after
        )));
    }
    let client = ctx.client().await.map_err(super::engine::client_failure)?;
    let ds = client.datastore().clone();
    let kube = match (ds.is_kubernetes_api(), &a.kubeconfig) {
        (true, _) => Some(ds.clone()),
        (false, Some(path)) => {
            let spec = crate::config::Spec {
                datastore_type: "kubernetes".into(),
                kubeconfig: path.clone(),
                ..Default::default()
            };
            let c = crate::datastore::connect_kubernetes(&spec, ctx.timeout)
                .await
                .map_err(|e| Failure::Stderr(format!("cannot use --kubeconfig {path}: {e}")))?;
            Some(c.datastore().clone())
        }
        (false, None) => None,
    };
    let sources = EvidenceSources {
        stale_after: chrono::Duration::nanoseconds(stale),
        kube,
        bird_socket: a.bird_socket.as_ref().map(PathBuf::from),
        timeout: ctx.timeout,
    };
    let err = |e: crate::datastore::DatastoreError| Failure::Stderr(e.to_string());
    let snap = sources.snapshot(ds.as_ref()).await.map_err(err)?;
    let plan = match &a.plan {
        Some(path) => read_plan(path)?,
        None => cleanup::build_plan(ds.as_ref(), &snap, &a.nodes, a.force, false)
            .await
            .map_err(err)?,
    };
    let removable = plan.nodes.iter().filter(|n| n.remove).count();
    let refused: Vec<&NodePlan> = plan
        .nodes
        .iter()
        .filter(|n| n.explicit && !n.remove)
        .collect();
    let structured = !matches!(a.output, ReportFormat::Table);
    if !structured {
        write!(ctx.out, "{}", render_plan(&plan))?;
        if !snap.can_prove_death() && a.nodes.is_empty() && a.plan.is_none() {
            writeln!(
                ctx.out,
                "\nNo evidence source can prove a node dead here: {}. Pass --kubeconfig, enable Felix status reporting, or name the nodes to remove.",
                plan.unavailable_sources.join("; ")
            )?;
        }
    }
    if !a.apply {
        if structured {
            emit(ctx, a.output, &serde_json::to_value(&plan)?)?;
        } else if removable > 0 {
            writeln!(
                ctx.out,
                "\nDry run: nothing was changed. Re-run with --apply to remove {removable} node(s)."
            )?;
        } else {
            writeln!(ctx.out, "\nNothing to remove.")?;
        }
        return refusal(ctx, &refused);
    }
    if removable == 0 {
        if structured {
            emit(
                ctx,
                a.output,
                &serde_json::json!({"plan": plan, "results": []}),
            )?;
        } else {
            writeln!(ctx.out, "\nNothing to remove.")?;
        }
        return refusal(ctx, &refused);
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(Failure::Stderr(
                "refusing to apply without confirmation: not a terminal (pass --yes to confirm in scripts)"
                    .into(),
            ));
        }
        ctx.out.flush()?;
        let ok = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Remove {removable} node(s) and everything listed above?"
            ))
            .default(false)
            .interact()
            .map_err(|e| Failure::Stderr(format!("confirmation failed: {e}")))?;
        if !ok {
            writeln!(ctx.err, "Aborted; nothing was changed.")?;
            return Ok(1);
        }
    }
    // Evidence is read again now: a node that came back since the plan is left alone.
    let recheck = if a.force {
        None
    } else {
        Some(Arc::new(sources.snapshot(ds.as_ref()).await.map_err(err)?))
    };
    let bar = (std::io::stderr().is_terminal() && removable > 1).then(|| {
        let b = indicatif::ProgressBar::new(removable as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} nodes {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let tick = bar.clone();
    let opts = ApplyOptions {
        recheck,
        concurrency: a.concurrency.max(1),
        stop_after_steps: a.stop_after_steps,
        on_node_done: tick.map(|b| Arc::new(move || b.inc(1)) as Arc<dyn Fn() + Send + Sync>),
    };
    let results = cleanup::apply(ds.clone(), &plan, &opts).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let results = results.map_err(err)?;
    if structured {
        emit(
            ctx,
            a.output,
            &serde_json::json!({"plan": plan, "results": results}),
        )?;
    } else {
        write!(ctx.out, "\n{}", render_results(&results))?;
    }
    let skipped = results.iter().any(|r| r.outcome != "removed");
    if skipped {
        return Ok(1);
    }
    refusal(ctx, &refused)
}

/// Explicitly named nodes that were not removed make the run fail.
fn refusal(ctx: &mut Ctx, refused: &[&NodePlan]) -> CmdResult {
    if refused.is_empty() {
        return Ok(0);
    }
    for n in refused {
        writeln!(
            ctx.err,
            "refusing to remove node {}: it shows signs of life ({}); use --force to remove it anyway",
            n.node,
            n.evidence.live.join("; ")
        )?;
    }
    Ok(1)
}

fn emit(ctx: &mut Ctx, f: ReportFormat, v: &serde_json::Value) -> Result<(), Failure> {
    match f {
        ReportFormat::Yaml => write!(ctx.out, "{}", to_yaml(v))?,
        _ => writeln!(ctx.out, "{}", to_go_json_indent(v))?,
    }
    Ok(())
}

fn read_plan(path: &str) -> Result<Plan, Failure> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::Stderr(format!("cannot read plan {path}: {e}")))?
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .or_else(|_| {
            crate::model::yaml_in::yaml_to_json(&text)
                .map_err(|e| e.to_string())
                .and_then(|d| d.ok_or_else(|| "empty document".to_string()))
        })
        .map_err(|e| Failure::Stderr(format!("cannot parse plan {path}: {e}")))?;
    let v = v.get("plan").cloned().unwrap_or(v);
    serde_json::from_value(v).map_err(|e| Failure::Stderr(format!("cannot parse plan {path}: {e}")))
}

/// The human plan: a verdict table, then every object per node to remove.
pub fn render_plan(plan: &Plan) -> String {
    let mut s = String::new();
    if !plan.sources.is_empty() {
        let _ = writeln!(s, "Evidence sources: {}", plan.sources.join("; "));
    }
    if !plan.unavailable_sources.is_empty() {
        let _ = writeln!(s, "Not available: {}", plan.unavailable_sources.join("; "));
    }
    if plan.nodes.is_empty() {
        let _ = writeln!(s, "\nNo node has evidence of death.");
    } else {
        let mut rows = vec![vec!["NODE".into(), "ACTION".into(), "EVIDENCE".into()]];
        for n in &plan.nodes {
            let mut ev = format!("dead: {}", n.evidence.dead.join("; "));
            if !n.evidence.live.is_empty() {
                let _ = write!(ev, "; live: {}", n.evidence.live.join("; "));
            }
            let action = if n.remove { "remove" } else { "keep" };
            rows.push(vec![n.node.clone(), action.into(), ev]);
        }
        let _ = write!(s, "\n{}", tabwriter(&rows));
    }
    for n in plan.nodes.iter().filter(|n| n.remove) {
        let _ = writeln!(s, "\n{}:", n.node);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut row = |a: &str, b: String| rows.push(vec![format!("  {a}"), b]);
        if let Some(r) = &n.node_resource {
            row("delete", r.to_string());
        }
        for w in &n.workload_endpoints {
            row("delete", w.to_string());
        }
        if !n.tunnel_addresses.is_empty() {
            row("tunnel", n.tunnel_addresses.join(", "));
        }
        for h in &n.releases {
            let ips: Vec<String> = h.ips.iter().map(|i| i.ip.to_string()).collect();
            row(
                "release",
                format!(
                    "{} (handle {})",
                    ips.join(", "),
                    h.handle.as_deref().unwrap_or("<none>")
                ),
            );
        }
        for h in &n.handles_deleted {
            row("delete", format!("IPAMHandle({h})"));
        }
        for h in &n.handles_updated {
            row("update", format!("IPAMHandle({h})"));
        }
        for f in &n.handle_fixes {
            row(
                "fix",
                format!(
                    "IPAMHandle({}) count for {} (-{}, left by an interrupted run)",
                    f.handle, f.block, f.excess
                ),
            );
        }
        for a in &n.affinities {
            row("delete", format!("BlockAffinity({}, {})", n.node, a.cidr));
        }
        for b in &n.blocks_deleted {
            row("delete", format!("IPAMBlock({b})"));
        }
        for b in &n.blocks_unaffined {
            row(
                "unaffine",
                format!("IPAMBlock({b}) (other nodes' IPs stay allocated)"),
            );
        }
        for b in &n.blocks_updated {
            row("update", format!("IPAMBlock({b}) (borrowed IPs released)"));
        }
        for o in &n.objects {
            row("delete", o.to_string());
        }
        for k in &n.felix_keys {
            row("delete", format!("Felix status {k}"));
        }
        let _ = write!(s, "{}", tabwriter(&rows));
        let counts: Vec<String> = n
            .counts()
            .into_iter()
            .filter(|(_, c)| *c > 0)
            .map(|(k, c)| format!("{c} {k}"))
            .collect();
        let _ = writeln!(
            s,
            "  total: {}",
            if counts.is_empty() {
                "nothing left".to_string()
            } else {
                counts.join(", ")
            }
        );
    }
    for d in &plan.duplicates {
        let _ = writeln!(
            s,
            "\nDuplicate BGP address {} on nodes {}: {} should go: {}.",
            d.address,
            d.nodes.join(", "),
            d.remove,
            d.reason
        );
    }
    s
}

fn render_results(results: &[NodeResult]) -> String {
    let mut s = String::new();
    let removed = results.iter().filter(|r| r.outcome == "removed").count();
    for r in results {
        if r.outcome == "removed" {
            let _ = writeln!(
                s,
                "Removed node {}: released {} IP(s), deleted {} object(s){}",
                r.node,
                r.ips_released,
                r.objects_deleted,
                if r.ips_skipped > 0 {
                    format!(
                        "; {} IP(s) were re-used since the plan and left alone",
                        r.ips_skipped
                    )
                } else {
                    String::new()
                }
            );
        } else {
            let _ = writeln!(s, "Skipped node {}: {}", r.node, r.reason);
        }
    }
    let _ = writeln!(s, "Removed {removed} of {} node(s).", results.len());
    s
}
