//! `calicoctl node …`: thin wiring to `crate::bird` and `crate::node`.

use std::path::PathBuf;
use std::time::Duration;

use super::{CmdResult, Ctx, Failure};
use crate::bird::status::{StatusError, StatusFormat, StatusOptions, run_node_status};
use std::io::Write;

use crate::cli::{NodeArgs, NodeAutodetectArgs, NodeCommand, ReportFormat};
use crate::host::autodetect::{self, Detection};
use crate::model::kinds::KindId;

fn format(f: ReportFormat) -> StatusFormat {
    match f {
        ReportFormat::Table => StatusFormat::Table,
        ReportFormat::Json => StatusFormat::Json,
        ReportFormat::Yaml => StatusFormat::Yaml,
    }
}

pub async fn run(ctx: &mut Ctx, args: &NodeArgs) -> CmdResult {
    match &args.command {
        NodeCommand::Status(a) => {
            let opts = StatusOptions {
                bird_socket: a.bird_socket.as_ref().map(PathBuf::from),
                bird6_socket: a.bird6_socket.as_ref().map(PathBuf::from),
                format: format(a.output),
                check: a.check,
                // calicoctl's per-read timeout; --timeout lowers or raises it.
                timeout: ctx
                    .timeout
                    .min(Duration::from_secs(2))
                    .max(Duration::from_millis(100)),
                proc_root: PathBuf::from("/proc"),
            };
            match run_node_status(&opts, &mut ctx.out) {
                Ok(code) => Ok(code),
                Err(StatusError::NotRoot) => Err(Failure::Stdout(StatusError::NotRoot.to_string())),
                Err(e) => Err(Failure::Stderr(e.to_string())),
            }
        }
        NodeCommand::Cleanup(a) => super::node_cleanup::run(ctx, a).await,
        NodeCommand::Checksystem(a) => {
            let host = crate::host::checksystem::Host {
                root: PathBuf::from(a.host_root.as_deref().unwrap_or("/")),
                release: a
                    .kernel_release
                    .clone()
                    .unwrap_or_else(crate::host::checksystem::kernel_release),
                kernel_config: a.kernel_config.as_ref().map(PathBuf::from),
            };
            let r = host.check();
            write!(ctx.out, "{}", r.text)?;
            if r.ok {
                Ok(0)
            } else {
                Err(Failure::Stderr(
                    "system doesn't meet one or more minimum systems requirements to run Calico"
                        .into(),
                ))
            }
        }
        NodeCommand::Diags(a) => {
            if unsafe { libc::geteuid() } != 0 {
                return Err(Failure::Stdout(StatusError::NotRoot.to_string()));
            }
            let opts = crate::host::diags::DiagsOptions {
                log_dir: PathBuf::from(&a.log_dir),
                tmp_base: std::env::temp_dir(),
                timeout: Duration::from_secs(60),
                path: std::env::var("PATH")
                    .unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            };
            crate::host::diags::collect(&opts, &mut ctx.out)?;
            Ok(0)
        }
        NodeCommand::IpAutodetect(a) => autodetect(ctx, a).await,
    }
}

/// `node ip-autodetect`: both families, optionally compared with the datastore's Nodes.
async fn autodetect(ctx: &mut Ctx, a: &NodeAutodetectArgs) -> CmdResult {
    let addrs = autodetect::host_addresses();
    let mut found: Vec<Detection> = Vec::new();
    for (m, v) in [(&a.method, 4u8), (&a.ip6_method, 6u8)] {
        found.push(autodetect::detect(m, v, &addrs)?);
    }
    let mut warnings = Vec::new();
    if a.check_datastore {
        let name = a.name.clone().unwrap_or_else(hostname);
        let c = ctx.client().await.map_err(super::engine::client_failure)?;
        let nk = KindId::Node.info();
        let nodes = c
            .list(nk, &crate::datastore::ListOptions::default())
            .await
            .map_err(|e| Failure::Stderr(e.to_string()))?;
        for d in &found {
            let Some(addr) = &d.address else { continue };
            let ip = crate::cleanup::ip_of(addr);
            let field = if d.version == 4 {
                "ipv4Address"
            } else {
                "ipv6Address"
            };
            for n in &nodes.items {
                let n_name = crate::model::meta::name(n);
                let theirs = crate::model::kinds::str_at(n, &["spec", "bgp", field]);
                let same = crate::cleanup::ip_of(&theirs) == ip && ip.is_some();
                if n_name == name {
                    if !same {
                        warnings.push(format!(
                            "WARNING: IPv{} autodetection picks {addr} but Node {name} has bgp.{field} {:?}",
                            d.version, theirs
                        ));
                    }
                } else if same {
                    warnings.push(format!(
                        "WARNING: Calico node '{n_name}' is already using the IPv{} address {}: calico-node on this host would fail with \"IPv{} address conflict\" (see `calicoctl node cleanup`)",
                        d.version,
                        ip.map(|i| i.to_string()).unwrap_or_default(),
                        d.version
                    ));
                }
            }
        }
    }
    match a.output {
        ReportFormat::Table => {
            for d in &found {
                match (&d.address, &d.interface) {
                    (Some(ad), Some(i)) => writeln!(
                        ctx.out,
                        "IPv{} ({}): {ad} on {i} — {}",
                        d.version, d.method, d.reason
                    )?,
                    (Some(ad), None) => writeln!(
                        ctx.out,
                        "IPv{} ({}): {ad} — {}",
                        d.version, d.method, d.reason
                    )?,
                    _ => writeln!(
                        ctx.out,
                        "IPv{} ({}): none — {}",
                        d.version, d.method, d.reason
                    )?,
                }
                let rows: Vec<Vec<String>> = d
                    .considered
                    .iter()
                    .map(|c| {
                        vec![
                            format!("  {}", c.interface),
                            c.address.clone(),
                            c.verdict.clone(),
                        ]
                    })
                    .collect();
                let table = crate::gocompat::tabwriter::tabwriter(&rows);
                for l in table.lines() {
                    writeln!(ctx.out, "{}", l.trim_end())?;
                }
            }
            for w in &warnings {
                writeln!(ctx.out, "{w}")?;
            }
        }
        f => {
            let v = serde_json::json!({"detections": found, "warnings": warnings});
            if matches!(f, ReportFormat::Yaml) {
                write!(ctx.out, "{}", crate::gocompat::yaml::to_yaml(&v))?;
            } else {
                writeln!(ctx.out, "{}", crate::gocompat::json::to_go_json_indent(&v))?;
            }
        }
    }
    Ok(if warnings.is_empty() { 0 } else { 1 })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
