//! `calicoctl policy explain|trace|who-selects` (beyond calicoctl): loads a snapshot through
//! the datastore, asks the policy domain, and renders its answer as text, JSON or YAML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use super::{CmdResult, Ctx, Failure, engine};
use crate::cli::{PolicyArgs, PolicyCommand, PolicyFormat};
use crate::gocompat::json::to_go_json_indent;
use crate::gocompat::tabwriter::tabwriter;
use crate::gocompat::yaml::to_yaml;
use crate::policy::model::protocol_from_str;
use crate::policy::{
    DirectionExplain, Explanation, Hop, PeerSpec, Scope, Snapshot, Step, Trace, TraceQuery,
    WhoSelects,
};

/// `trace --exit-code`: exit code of an error (0 and 1 are the verdicts).
const EXIT_TRACE_ERROR: i32 = 2;

/// Loads what a question needs: explain and trace name their endpoints (`Scope::Peers`),
/// who-selects reads every endpoint.
async fn snapshot(ctx: &mut Ctx, scope: &Scope) -> Result<Snapshot, Failure> {
    let c = engine::checked_client(ctx).await?;
    crate::policy::load_scoped(c.datastore().as_ref(), scope)
        .await
        .map_err(|e| Failure::Stderr(format!("error reading policy data: {e}")))
}

fn emit<T: Serialize>(
    ctx: &mut Ctx,
    f: PolicyFormat,
    v: &T,
    text: impl FnOnce() -> String,
) -> Result<(), Failure> {
    match f {
        PolicyFormat::Text => write!(ctx.out, "{}", text())?,
        PolicyFormat::Json => {
            writeln!(ctx.out, "{}", to_go_json_indent(&serde_json::to_value(v)?))?
        }
        PolicyFormat::Yaml => write!(ctx.out, "{}", to_yaml(&serde_json::to_value(v)?))?,
    }
    Ok(())
}

pub async fn run(ctx: &mut Ctx, args: &PolicyArgs) -> CmdResult {
    match &args.command {
        PolicyCommand::Explain(a) => {
            let spec = match (&a.pod, &a.endpoint) {
                (Some(p), _) => match p.split_once('/') {
                    Some((ns, n)) if !ns.is_empty() && !n.is_empty() => PeerSpec::Workload {
                        namespace: ns.into(),
                        name: n.into(),
                    },
                    _ => {
                        return Err(Failure::Stderr(format!(
                            "--pod wants NAMESPACE/NAME, not {p:?}"
                        )));
                    }
                },
                (None, Some(e)) => PeerSpec::parse(e, &a.namespace)?,
                (None, None) => return Err(Failure::Stderr("an endpoint is required".into())),
            };
            let snap = snapshot(ctx, &Scope::Peers(vec![spec.clone()])).await?;
            let idx = snap.find(&spec)?;
            let ex = snap.explain(idx);
            emit(ctx, a.output, &ex, || render_explain(&ex))?;
            Ok(0)
        }
        PolicyCommand::Trace(a) => {
            let code = |f: Failure| {
                if a.exit_code {
                    super::with_exit(f, EXIT_TRACE_ERROR)
                } else {
                    f
                }
            };
            let protocol = protocol_from_str(&a.protocol)
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    code(Failure::Stderr(format!(
                        "unknown protocol {:?}: use TCP, UDP, SCTP, UDPLite, ICMP, ICMPv6 or 1-255",
                        a.protocol
                    )))
                })?;
            let q = TraceQuery {
                from: PeerSpec::parse(&a.from, &a.namespace).map_err(|e| code(e.into()))?,
                to: PeerSpec::parse(&a.to, &a.namespace).map_err(|e| code(e.into()))?,
                protocol,
                source_port: a.source_port,
                destination_port: a.port,
                icmp_type: a.icmp_type,
                icmp_code: a.icmp_code,
            };
            let scope = Scope::Peers(vec![q.from.clone(), q.to.clone()]);
            let snap = snapshot(ctx, &scope).await.map_err(code)?;
            let t = snap.trace(&q).map_err(|e| code(e.into()))?;
            emit(ctx, a.output, &t, || render_trace(&t, a.verbose)).map_err(code)?;
            Ok(if a.exit_code && t.verdict != "Allow" {
                1
            } else {
                0
            })
        }
        PolicyCommand::WhoSelects(a) => {
            let snap = snapshot(ctx, &Scope::All).await?;
            let w = match (&a.selector, &a.labels) {
                (Some(sel), _) => WhoSelects {
                    selector: Some(sel.clone()),
                    labels: None,
                    endpoints: snap.endpoints_selected(sel)?,
                    policies: Vec::new(),
                },
                (None, Some(l)) => {
                    let labels = parse_labels(l)?;
                    WhoSelects {
                        selector: None,
                        policies: snap.policies_selecting(&labels, a.namespace.as_deref()),
                        labels: Some(labels),
                        endpoints: Vec::new(),
                    }
                }
                (None, None) => {
                    return Err(Failure::Stderr("a selector or --labels is required".into()));
                }
            };
            emit(ctx, a.output, &w, || render_who(&w))?;
            Ok(0)
        }
    }
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, Failure> {
    let mut m = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| Failure::Stderr(format!("invalid label {part:?}: want KEY=VALUE")))?;
        if k.is_empty() {
            return Err(Failure::Stderr(format!(
                "invalid label {part:?}: empty key"
            )));
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

fn order(o: Option<f64>) -> String {
    o.map_or("none".into(), |x| x.to_string())
}

fn render_explain(e: &Explanation) -> String {
    let mut s = String::new();
    let ep = &e.endpoint;
    let id = if ep.namespace.is_empty() {
        ep.name.clone()
    } else {
        format!("{}/{}", ep.namespace, ep.name)
    };
    let _ = writeln!(s, "{:?} {id}", ep.kind);
    let mut facts = vec![format!("node {}", ep.node)];
    if !ep.pod.is_empty() {
        facts.insert(0, format!("pod {}", ep.pod));
    }
    if !ep.interface_name.is_empty() {
        facts.push(format!("interface {}", ep.interface_name));
    }
    facts.push(format!(
        "IPs {}",
        if ep.ips.is_empty() {
            "none".to_string()
        } else {
            ep.ips.join(", ")
        }
    ));
    let _ = writeln!(s, "  {}", facts.join(", "));
    let _ = writeln!(s, "  labels:");
    for (k, v) in &ep.labels {
        let _ = writeln!(s, "    {k}={v}");
    }
    if !ep.inherited_labels.is_empty() {
        let _ = writeln!(s, "  inherited labels:");
        for (k, v) in &ep.inherited_labels {
            let _ = writeln!(s, "    {k}={} (from profile {})", v.value, v.from);
        }
    }
    let _ = writeln!(
        s,
        "  profiles: {}",
        if ep.profiles.is_empty() {
            "none".into()
        } else {
            ep.profiles.join(", ")
        }
    );
    for (name, d) in [("Ingress", &e.ingress), ("Egress", &e.egress)] {
        let _ = writeln!(s, "\n{name}:");
        render_direction(&mut s, d);
    }
    if !e.notes.is_empty() {
        let _ = writeln!(s, "\nNotes:");
        for n in &e.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}

fn render_direction(s: &mut String, d: &DirectionExplain) {
    if d.tiers.is_empty() {
        let _ = writeln!(s, "  no policy applies: straight to the profiles");
    }
    for t in &d.tiers {
        let _ = writeln!(
            s,
            "  tier {} (order {}, default action {})",
            t.name,
            order(t.order),
            t.default_action
        );
        for (i, p) in t.policies.iter().enumerate() {
            let staged = if p.staged {
                " [staged: not enforced]"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "    {}. {} (order {}, {} rule{}){staged}",
                i + 1,
                p.policy.display(),
                order(p.order),
                p.rules,
                if p.rules == 1 { "" } else { "s" }
            );
            let _ = writeln!(s, "       selector: {}", p.effective_selector);
            if !p.matched_labels.is_empty() {
                let l: Vec<String> = p
                    .matched_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(s, "       matched on: {}", l.join(", "));
            }
        }
        let _ = writeln!(s, "    end of tier: {}", t.end_of_tier);
    }
    for p in &d.ignored {
        let _ = writeln!(s, "  ignored: {} ({})", p.policy.display(), p.reason);
    }
    let profiles: Vec<String> = d
        .profiles
        .iter()
        .map(|p| {
            if p.exists {
                format!(
                    "{} ({} rule{})",
                    p.name,
                    p.rules,
                    if p.rules == 1 { "" } else { "s" }
                )
            } else {
                format!("{} (missing: denies)", p.name)
            }
        })
        .collect();
    let _ = writeln!(
        s,
        "  then profiles: {}",
        if profiles.is_empty() {
            "none: deny".into()
        } else {
            profiles.join(", ")
        }
    );
}

fn step_line(st: &Step) -> String {
    let what = match (&st.policy, &st.profile) {
        (Some(p), _) => p.display(),
        (None, Some(p)) => format!("profile {p}"),
        _ => String::new(),
    };
    match st.kind.as_str() {
        "rule" | "profileRule" => format!(
            "{what} rule {} ({}): {}",
            st.rule.unwrap_or(0),
            st.action.as_deref().unwrap_or(""),
            if st.matched { "match" } else { "no match" }
        ),
        "noRuleMatched" => format!("{what}: no rule matched"),
        "endOfTier" => format!(
            "end of tier {}: {}",
            st.tier.as_deref().unwrap_or(""),
            st.action.as_deref().unwrap_or("")
        ),
        other => other.to_string(),
    }
}

fn render_hop(s: &mut String, h: &Hop, verbose: bool) {
    let _ = writeln!(
        s,
        "{} at {}: {}",
        h.direction.as_str(),
        h.endpoint,
        h.verdict.to_uppercase()
    );
    let _ = writeln!(s, "  decided by: {}", h.decision.reason);
    let mut tier = None;
    for st in &h.steps {
        let section = match (&st.tier, &st.profile) {
            (Some(t), _) => Some(format!("tier {t}")),
            (None, Some(_)) => Some("profiles".to_string()),
            _ => None,
        };
        if section.is_some() && section != tier {
            let _ = writeln!(s, "  {}", section.as_deref().unwrap_or(""));
            tier = section;
        }
        let _ = writeln!(s, "    {}", step_line(st));
        // A miss is explained by the criteria that failed; -v shows every criterion.
        for c in st
            .criteria
            .iter()
            .filter(|c| verbose || st.matched || !c.ok)
        {
            let _ = writeln!(
                s,
                "      {} {}: {}",
                if c.ok { "✓" } else { "✗" },
                c.field,
                c.detail
            );
        }
    }
    for n in &h.notes {
        let _ = writeln!(s, "  note: {n}");
    }
}

fn peer_line(p: &crate::policy::PeerInfo) -> String {
    match p.kind.as_str() {
        "External" => format!("{} (no Calico endpoint)", p.ip),
        _ => {
            let id = if p.namespace.is_empty() {
                p.name.clone()
            } else {
                format!("{}/{}", p.namespace, p.name)
            };
            format!("{} {id} ({}, node {})", p.kind, p.ip, p.node)
        }
    }
}

fn render_trace(t: &Trace, verbose: bool) -> String {
    let mut s = String::new();
    let p = &t.packet;
    let port = |x: Option<u16>| x.map_or(String::new(), |x| format!(":{x}"));
    let mut head = format!(
        "{} {}{} -> {}{}",
        crate::policy::model::protocol_name(p.protocol),
        p.source,
        port(p.source_port),
        p.destination,
        port(p.destination_port)
    );
    if let Some(ty) = p.icmp_type {
        let _ = write!(
            head,
            " (type {ty}{})",
            p.icmp_code.map_or(String::new(), |c| format!(" code {c}"))
        );
    }
    let _ = writeln!(s, "Packet: {head}");
    let _ = writeln!(s, "From:   {}", peer_line(&t.source));
    let _ = writeln!(s, "To:     {}", peer_line(&t.destination));
    for h in &t.hops {
        s.push('\n');
        render_hop(&mut s, h, verbose);
    }
    let _ = writeln!(s, "\nVerdict: {}", t.verdict.to_uppercase());
    if let Some(st) = &t.staged {
        if st.would_change {
            let _ = writeln!(
                s,
                "Staged policies: would change the outcome (verdict {} if they were enforced)",
                st.verdict.to_uppercase()
            );
            for h in &st.hops {
                let _ = writeln!(
                    s,
                    "  {} at {}: {} ({})",
                    h.direction.as_str(),
                    h.endpoint,
                    h.verdict.to_uppercase(),
                    h.decision.reason
                );
            }
        } else {
            let _ = writeln!(s, "Staged policies: no change");
        }
    }
    if !t.notes.is_empty() {
        let _ = writeln!(s, "\nNotes:");
        for n in &t.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    let _ = writeln!(s, "\nNot evaluated (static view):");
    for l in &t.limits {
        let _ = writeln!(s, "  - {l}");
    }
    s
}

fn render_who(w: &WhoSelects) -> String {
    if let Some(sel) = &w.selector {
        if w.endpoints.is_empty() {
            return format!("No endpoint matches {sel}\n");
        }
        let mut rows = vec![vec![
            "KIND".to_string(),
            "NAMESPACE".into(),
            "NAME".into(),
            "NODE".into(),
            "IPS".into(),
        ]];
        for e in &w.endpoints {
            rows.push(vec![
                format!("{:?}", e.kind),
                e.namespace.clone(),
                e.name.clone(),
                e.node.clone(),
                e.ips.join(","),
            ]);
        }
        return tabwriter(&rows);
    }
    if w.policies.is_empty() {
        return "No policy selects these labels\n".into();
    }
    let mut rows = vec![vec![
        "TIER".to_string(),
        "KIND".into(),
        "NAMESPACE".into(),
        "NAME".into(),
        "ORDER".into(),
        "TYPES".into(),
    ]];
    for p in &w.policies {
        let kind = if p.staged {
            format!("{} (staged)", p.policy.kind)
        } else {
            p.policy.kind.clone()
        };
        let types: Vec<&str> = p.directions.iter().map(|d| d.as_str()).collect();
        rows.push(vec![
            p.policy.tier.clone(),
            kind,
            p.policy.namespace.clone(),
            p.policy.name.clone(),
            order(p.order),
            types.join(","),
        ]);
    }
    tabwriter(&rows)
}
