//! `calicoctl ipam show|release|check|configure|split`; each runs the version check first.

use std::io::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::engine;
use super::{CmdResult, Ctx, Failure, stdout_fail};
use crate::cli::{IpamArgs, IpamCommand};
use crate::datastore::client::Client;
use crate::datastore::{Datastore, DatastoreError, ListOptions};
use crate::gocompat::json::to_go_json_indent;
use crate::gocompat::yaml::to_yaml;
use crate::ipam::{self, ReleaseOptions, check, show};
use crate::model::kinds::{KindId, str_at};
use crate::model::meta;

/// Exit code of `--fail-above` when a pool is above the threshold.
pub const EXIT_THRESHOLD: i32 = 3;

fn parse_ip(s: &str) -> Result<IpAddr, Failure> {
    s.parse::<IpAddr>().map_err(|_| {
        stdout_fail(format!(
            "Error executing command: invalid IP address specified: {s}"
        ))
    })
}

fn emit(ctx: &mut Ctx, format: &str, v: &Value) -> Result<(), Failure> {
    match format {
        "json" => writeln!(ctx.out, "{}", to_go_json_indent(v))?,
        "yaml" => write!(ctx.out, "{}", to_yaml(v))?,
        other => {
            return Err(Failure::Stderr(format!(
                "unrecognized output format '{other}'"
            )));
        }
    }
    Ok(())
}

pub async fn run(ctx: &mut Ctx, args: &IpamArgs) -> CmdResult {
    match &args.command {
        IpamCommand::Show(a) => {
            let c = engine::checked_client(ctx).await?;
            let ds = c.datastore().as_ref();
            let err = |e: crate::datastore::DatastoreError| Failure::Stderr(format!("error: {e}"));
            let table = a.output == "table";
            if let Some(ip) = &a.ip {
                let ip = parse_ip(ip)?;
                let found = ipam::lookup_ip(ds, ip).await.map_err(err)?;
                let info = show::ip_info(ip, found.as_ref().map(|f| &f.2));
                if table {
                    write!(ctx.out, "{}", show::render_ip(&info))?;
                } else {
                    emit(ctx, &a.output, &serde_json::to_value(&info)?)?;
                }
                return Ok(0);
            }
            if a.show_configuration {
                let (cfg, _) = ipam::get_config(ds).await.map_err(err)?;
                if table {
                    write!(ctx.out, "{}", show::render_config(&cfg))?;
                } else {
                    emit(ctx, &a.output, &show::config_value(&cfg))?;
                }
                return Ok(0);
            }
            let blocks = ipam::block_stats(ds).await.map_err(err)?;
            if a.show_borrowed {
                let (rows, no_node) = show::borrowed(&blocks);
                if table {
                    write!(ctx.out, "{}", show::render_borrowed(&rows, no_node))?;
                } else {
                    emit(
                        ctx,
                        &a.output,
                        &serde_json::json!({"borrowed": rows, "allocationsWithoutNode": no_node}),
                    )?;
                }
                return Ok(0);
            }
            let pools = ipam::list_pools(ds).await.map_err(err)?;
            if a.utilization || a.fail_above.is_some() {
                let u = show::utilization(&pools, &blocks, a.fail_above);
                if a.utilization {
                    if table {
                        write!(ctx.out, "{}", show::render_utilization(&u))?;
                    } else {
                        emit(ctx, &a.output, &serde_json::to_value(&u)?)?;
                    }
                } else if table {
                    write!(
                        ctx.out,
                        "{}",
                        show::render_summary(&show::summary(&pools, &blocks, a.show_blocks))
                    )?;
                } else {
                    emit(
                        ctx,
                        &a.output,
                        &serde_json::to_value(show::summary(&pools, &blocks, a.show_blocks))?,
                    )?;
                }
                if !u.pools_above_threshold.is_empty() {
                    ctx.out.flush()?;
                    writeln!(
                        ctx.err,
                        "IP pool(s) above {}% use: {}",
                        a.fail_above.unwrap_or(0.0),
                        u.pools_above_threshold.join(", ")
                    )?;
                    return Ok(EXIT_THRESHOLD);
                }
                return Ok(0);
            }
            let rows = show::summary(&pools, &blocks, a.show_blocks);
            if table {
                write!(ctx.out, "{}", show::render_summary(&rows))?;
            } else {
                emit(ctx, &a.output, &serde_json::to_value(&rows)?)?;
            }
            Ok(0)
        }
        IpamCommand::Release(a) => release(ctx, a).await,
        IpamCommand::Check(a) => {
            let c = engine::checked_client(ctx).await?;
            let services = services(ctx, &c, a.kubeconfig.as_deref()).await?;
            // A spinner on stderr when it is a terminal; scripts see nothing extra.
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
                let p = indicatif::ProgressBar::new_spinner();
                p.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} ipam check: {msg} ({pos} objects, {elapsed})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                p.enable_steady_tick(std::time::Duration::from_millis(120));
                p
            });
            let opts = check::CheckOptions {
                show_all_ips: a.show_all_ips,
                show_problem_ips: a.show_problem_ips,
                progress: progress.clone(),
            };
            let r = check::check(c.datastore().as_ref(), &opts, services, &mut ctx.out).await;
            if let Some(p) = progress {
                p.finish_and_clear();
            }
            let r = r.map_err(|e| Failure::Stderr(e.to_string()))?;
            if let Some(path) = &a.output {
                let v = serde_json::to_value(r.data.report())?;
                std::fs::write(path, to_go_json_indent(&v)).map_err(|e| {
                    Failure::Stderr(format!("failed to write report to {path}: {e}"))
                })?;
            }
            Ok(0)
        }
        IpamCommand::Configure(a) => configure(ctx, a).await,
        IpamCommand::Split(a) => split(ctx, a).await,
        IpamCommand::Assign(a) => {
            let ip = parse_ip(&a.ip)?;
            let c = engine::checked_client(ctx).await?;
            let mut attrs = std::collections::BTreeMap::new();
            attrs.insert("node".to_string(), a.node.clone());
            for kv in &a.attrs {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Failure::Stderr(format!("invalid attribute {kv}")))?;
                attrs.insert(k.to_string(), v.to_string());
            }
            ipam::assign_ip(c.datastore().as_ref(), ip, &a.handle, attrs, &a.node)
                .await
                .map_err(|e| Failure::Stderr(format!("error: {e}")))?;
            writeln!(ctx.out, "Assigned {ip} to {}", a.handle)?;
            Ok(0)
        }
    }
}

/// The Kubernetes Services `ipam check` counts LoadBalancer addresses from: the datastore's
/// cluster in Kubernetes mode; in etcd mode the cluster of `--kubeconfig` or `KUBECONFIG`,
/// which calicoctl requires there. A configuration error stops the command before it starts;
/// a failed list is reported where calicoctl reads the Services.
async fn services(
    ctx: &Ctx,
    c: &Client,
    kubeconfig: Option<&str>,
) -> Result<Result<Vec<Value>, DatastoreError>, Failure> {
    if c.datastore().is_kubernetes_api() {
        return Ok(c.datastore().kube_services().await);
    }
    let path = kubeconfig
        .map(str::to_string)
        .or_else(|| std::env::var("KUBECONFIG").ok())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Failure::Stderr(
                "KUBECONFIG environment variable or --kubeconfig parameter not set".into(),
            )
        })?;
    let spec = crate::config::Spec {
        datastore_type: "kubernetes".into(),
        kubeconfig: path,
        // Services only: no discovery of Calico's API group.
        calico_api_group: "crd.projectcalico.org/v1".into(),
        ..Default::default()
    };
    let kube = crate::datastore::connect_kubernetes(&spec, ctx.timeout).await?;
    Ok(kube.datastore().kube_services().await)
}

/// The workloads that currently use an IP (for the live-workload guard).
async fn ip_users(ds: &dyn Datastore, ip: IpAddr) -> Vec<String> {
    let wk = KindId::WorkloadEndpoint.info();
    let Ok(list) = ds.list(wk, &ListOptions::default()).await else {
        return Vec::new();
    };
    list.items
        .iter()
        .filter(|w| {
            w.get("spec")
                .and_then(|s| s.get("ipNetworks"))
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .any(|n| n.split('/').next() == Some(&ip.to_string()))
                })
        })
        .map(|w| format!("Workload({}/{})", meta::namespace(w), meta::name(w)))
        .collect()
}

async fn release(ctx: &mut Ctx, a: &crate::cli::IpamReleaseArgs) -> CmdResult {
    if a.ip.is_none() && a.from_report.is_empty() {
        return Ok(0);
    }
    let c = engine::checked_client(ctx).await?;
    let ds = c.datastore().as_ref();
    if !a.from_report.is_empty() {
        return release_from_reports(ctx, ds, a).await;
    }
    let ip = parse_ip(a.ip.as_deref().unwrap_or_default())?;
    let users = ip_users(ds, ip).await;
    if !users.is_empty() && !a.force {
        return Err(Failure::Stderr(format!(
            "IP address {ip} is in use by {}; refusing to release it (use --force to release anyway)",
            users.join(", ")
        )));
    }
    let r = ipam::release_ips(
        ds,
        &[ReleaseOptions {
            address: Some(ip),
            ..Default::default()
        }],
        ipam::ReleaseMode::Calico,
    )
    .await
    .map_err(|e| Failure::Stderr(format!("error: {e}")))?;
    if let Some(e) = r.error {
        return Err(Failure::Stderr(format!("error: {e}")));
    }
    if r.released.is_empty() {
        return Err(Failure::Stderr(format!("IP address {ip} is not assigned")));
    }
    writeln!(ctx.out, "Successfully released IP address {ip}")?;
    Ok(0)
}

async fn release_from_reports(
    ctx: &mut Ctx,
    ds: &dyn Datastore,
    a: &crate::cli::IpamReleaseArgs,
) -> CmdResult {
    let (guid, rev, locked, _) = check::cluster_info(ds)
        .await
        .map_err(|e| Failure::Stderr(e.to_string()))?;
    let mut reports = Vec::new();
    for f in &a.from_report {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Failure::Stderr(crate::gocompat::goerr::open_error(f, &e)))?;
        let r = parse_report(f, &text).map_err(Failure::Stderr)?;
        if r.cluster_guid != guid {
            return Err(Failure::Stderr(format!(
                "cluster does not match the provided report ({f}): mismatched cluster GUID. Refusing to release"
            )));
        }
        if r.version != crate::model::version::client_version() {
            if !a.force {
                return Err(Failure::Stderr(format!(
                    "the provided report ({f}) was produced using a different version ({}) of calicoctl. Refusing to release",
                    r.version
                )));
            }
            writeln!(
                ctx.out,
                "WARNING: Report was produced using a different version of calicoctl. Ignoring due to --force option"
            )?;
        }
        reports.push(r);
    }
    if !reports
        .iter()
        .any(|r| r.cluster_information_revision == rev)
    {
        return Err(Failure::Stderr(
            "the provided reports are all stale - at least one should be up-to-date. Please generate a new report while the data store is locked and try again".into(),
        ));
    }
    if !locked {
        if !a.force {
            return Err(Failure::Stderr(
                "data store is not locked. Either lock the data store, or re-run with --force"
                    .into(),
            ));
        }
        writeln!(
            ctx.out,
            "WARNING: Data store is not locked. Ignoring due to --force option"
        )?;
    }
    let merged = merge_reports(&reports);
    let to_release: Vec<ReleaseOptions> = merged
        .allocations
        .values()
        .flatten()
        .filter(|al| !al.in_use)
        .filter_map(|al| {
            Some(ReleaseOptions {
                address: Some(al.ip.parse::<IpAddr>().ok()?),
                handle: al.handle.clone(),
                sequence_number: Some(al.sequence_number),
            })
        })
        .collect();
    if to_release.is_empty() {
        writeln!(ctx.out, "Report didn't contain any leaked IPs to clean up.")?;
    } else {
        writeln!(ctx.out, "Releasing {} old IPs...", to_release.len())?;
        let r = ipam::release_ips(ds, &to_release, ipam::ReleaseMode::Calico).await;
        let (unallocated, err) = match r {
            Ok(r) => (r.unallocated.len(), r.error.map(|e| e.to_string())),
            Err(e) => (0, Some(e.to_string())),
        };
        match err {
            Some(e) => writeln!(
                ctx.out,
                "An error occurred while releasing some IPs: {e}.  Problems are often caused by an out-of-date IPAM report.  Try regenerating the IPAM report and retry."
            )?,
            None => writeln!(
                ctx.out,
                "Released {} IPs successfully",
                to_release.len() - unallocated
            )?,
        }
        if unallocated > 0 {
            writeln!(
                ctx.out,
                "{unallocated} addresses marked as leaked in the report had already been cleaned up."
            )?;
        }
        // A release killed between freeing an address and decrementing its handle leaves the
        // handle counting it, and a re-run finds the address free (or, when the report has a
        // sequence number for it, a conflict): finish that part of the job.
        if locked {
            let pairs: Vec<(String, IpAddr)> = to_release
                .iter()
                .filter_map(|r| Some((r.handle.clone()?, r.address?)))
                .collect();
            match ipam::repair_handles(ds, &pairs).await {
                Ok(0) => {}
                Ok(n) => writeln!(
                    ctx.out,
                    "Repaired {n} handles that still counted released addresses (left by an interrupted release)."
                )?,
                Err(e) => writeln!(ctx.out, "Repairing handles failed: {e}.")?,
            }
        }
    }
    let handles = &merged.leaked_handles;
    if handles.is_empty() {
        writeln!(ctx.out, "Report didn't contain any handles to clean up.")?;
    } else {
        writeln!(ctx.out, "Deleting {} handles...", handles.len())?;
        writeln!(
            ctx.out,
            "Key: '.' = Deleted OK; 'x' = skip, handle missing/changed."
        )?;
        let (mut ok, mut skipped, mut errs) = (0, 0, 0);
        for h in handles {
            let uid = h.uid.as_deref().filter(|u| !u.is_empty());
            match ipam::delete_handle_if_unchanged(ds, &h.id, &h.revision, uid).await {
                Ok(true) => {
                    ok += 1;
                    write!(ctx.out, ".")?;
                }
                Ok(false) => {
                    skipped += 1;
                    write!(ctx.out, "x")?;
                }
                Err(e) => {
                    errs += 1;
                    writeln!(ctx.out, "Deleting handle {} failed: {e}.", h.id)?;
                }
            }
        }
        writeln!(ctx.out)?;
        writeln!(
            ctx.out,
            "Released {ok} handles; {skipped} skipped; {errs} errors."
        )?;
    }
    writeln!(ctx.out, "You may now unlock the data store.")?;
    Ok(0)
}

/// Reads a report as Go's decoder would take it: a JSON value that is not an object is
/// calicoctl's "cannot unmarshal" error, `null` an empty report.
fn parse_report(file: &str, text: &str) -> Result<check::Report, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("failed to parse report {file}: {e}"))?;
    let kind = match &v {
        Value::Object(_) => None,
        Value::Null => return Ok(check::Report::default()),
        Value::Array(_) => Some("array"),
        Value::String(_) => Some("string"),
        Value::Number(_) => Some("number"),
        Value::Bool(_) => Some("bool"),
    };
    if let Some(kind) = kind {
        return Err(format!(
            "json: cannot unmarshal {kind} into Go value of type ipam.Report"
        ));
    }
    serde_json::from_value(v).map_err(|e| format!("failed to parse report {file}: {e}"))
}

/// Several reports as one: an IP is leaked only if every report says so, and a handle only
/// if every report lists it; each with what the last report says about it (handle, sequence
/// number, revision).
fn merge_reports(reports: &[check::Report]) -> check::Report {
    let mut merged = reports.last().cloned().expect("at least one report");
    let leaked_everywhere = |ip: &str| {
        reports.iter().all(|r| {
            r.allocations
                .get(ip)
                .is_some_and(|l| l.iter().any(|a| !a.in_use))
        })
    };
    merged
        .allocations
        .retain(|ip, list| leaked_everywhere(ip) && list.iter().any(|a| !a.in_use));
    merged.leaked_handles.retain(|h| {
        reports
            .iter()
            .all(|r| r.leaked_handles.iter().any(|x| x.id == h.id))
    });
    merged
}

async fn configure(ctx: &mut Ctx, a: &crate::cli::IpamConfigureArgs) -> CmdResult {
    // docopt hands an empty `--flag=` over as "", which calicoctl treats as not given.
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (strictaffinity, max_blocks_per_host, kubevirt_ip_persistence) = (
        given(&a.strictaffinity),
        given(&a.max_blocks_per_host),
        given(&a.kubevirt_ip_persistence),
    );
    if strictaffinity.is_none()
        && max_blocks_per_host.is_none()
        && kubevirt_ip_persistence.is_none()
    {
        return Err(Failure::Stderr(
            "at least one configuration option must be specified".into(),
        ));
    }
    let strict = match &strictaffinity {
        Some(v) => Some(parse_go_bool(v).ok_or_else(|| {
            Failure::Stderr("invalid value. Use true or false to set strictaffinity".into())
        })?),
        None => None,
    };
    let max_blocks = match &max_blocks_per_host {
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            Failure::Stderr("invalid value for maxblockhost. Use a valid number".into())
        })?),
        None => None,
    };
    if let Some(k) = &kubevirt_ip_persistence
        && k != "Enabled"
        && k != "Disabled"
    {
        return Err(Failure::Stderr(
            "invalid value for --kubevirt-ip-persistence. Use Enabled or Disabled".into(),
        ));
    }
    let c = engine::checked_client(ctx).await?;
    let ds = c.datastore().as_ref();
    let (mut cfg, _) = ipam::get_config(ds)
        .await
        .map_err(|e| Failure::Stderr(format!("error: {e}")))?;
    if let Some(s) = strict {
        cfg.strict_affinity = s;
    }
    if let Some(m) = max_blocks {
        cfg.max_blocks_per_host = m;
    }
    if let Some(k) = &kubevirt_ip_persistence {
        cfg.kubevirt_vm_address_persistence = Some(k.clone());
    }
    ipam::set_config(ds, &cfg)
        .await
        .map_err(|e| Failure::Stderr(format!("error: {e}")))?;
    if let Some(s) = strict {
        writeln!(ctx.out, "Successfully set StrictAffinity to: {s}")?;
    }
    if let Some(m) = max_blocks {
        writeln!(ctx.out, "Successfully set MaxBlocksPerHost to: {m}")?;
    }
    if let Some(k) = &kubevirt_ip_persistence {
        writeln!(
            ctx.out,
            "Successfully set KubeVirtVMAddressPersistence to: {k}"
        )?;
    }
    Ok(0)
}

fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Splits `cidr` into `n` (a power of two ≥ 2) equal children in ascending order.
pub fn split_cidr(cidr: IpNet, n: &str) -> Result<Vec<IpNet>, String> {
    let num: u32 = n.parse().map_err(|e: std::num::ParseIntError| {
        format!("error reading number to split IP pools into. {n} is not a valid number: {e}")
    })?;
    if num < 2 || !num.is_power_of_two() {
        return Err(format!(
            "error splitting the CIDR {cidr} into {num} CIDRs: number to split CIDR into is not a valid power of 2: {num}"
        ));
    }
    let bits = num.trailing_zeros() as u8;
    let new_len = cidr.prefix_len() + bits;
    if new_len > cidr.max_prefix_len() {
        return Err(format!(
            "error splitting the CIDR {cidr} into {num} CIDRs: the CIDR {cidr} is not large enough to be split into {num} parts"
        ));
    }
    cidr.subnets(new_len)
        .map(|s| s.collect())
        .map_err(|e| format!("error splitting the CIDR {cidr} into {num} CIDRs: {e}"))
}

async fn split(ctx: &mut Ctx, a: &crate::cli::IpamSplitArgs) -> CmdResult {
    if a.cidr.is_none() && a.name.is_none() {
        return Err(Failure::Stderr(
            "no name or CIDR provided. Provide a name or CIDR to denote the IP pool to split"
                .into(),
        ));
    }
    let c = engine::checked_client(ctx).await?;
    let ds = c.datastore().as_ref();
    let (_, _, locked, _) = check::cluster_info(ds).await.map_err(|e| {
        Failure::Stderr(format!("error while checking if datastore was locked: {e}"))
    })?;
    if !locked {
        return Err(Failure::Stderr(
            "datastore is not locked. Run the `calicoctl datastore migrate lock` command in order split the IP pools".into(),
        ));
    }
    let pk = KindId::IPPool.info();
    let pool = match &a.name {
        Some(n) => c
            .get(pk, "", n)
            .await
            .map_err(|e| Failure::Stderr(format!("unable to find IP pool with name {n}: {e}")))?,
        None => {
            let want = a.cidr.clone().unwrap_or_default();
            let l = c
                .list(pk, &ListOptions::default())
                .await
                .map_err(|e| Failure::Stderr(e.to_string()))?;
            l.items
                .into_iter()
                .find(|p| str_at(p, &["spec", "cidr"]) == want)
                .ok_or_else(|| {
                    Failure::Stderr(format!(
                        "unable to find IP pool {} covering the specified CIDR {want}",
                        a.name.clone().unwrap_or_default()
                    ))
                })?
        }
    };
    let cidr_s = str_at(&pool, &["spec", "cidr"]);
    let cidr: IpNet = cidr_s
        .parse()
        .map_err(|_| Failure::Stderr(format!("invalid pool CIDR {cidr_s}")))?;
    // calicoctl disables the old pool before it checks NUMBER and the children, and leaves it
    // disabled when they are refused; here everything is checked first, so a refused split
    // changes nothing (documented difference).
    let children = split_cidr(cidr, &a.number).map_err(Failure::Stderr)?;
    let old_name = meta::name(&pool);
    let mut made = Vec::with_capacity(children.len());
    for (i, child) in children.iter().enumerate() {
        let mut base = old_name.clone();
        let suffix = format!("-{i}");
        if "split-".len() + base.len() + suffix.len() > 253 {
            base.truncate(245);
        }
        let name = format!("split-{base}{suffix}");
        let mut obj = pool.clone();
        // A copy of the pool's metadata (on Kubernetes its managed fields too), less what
        // names this one object.
        meta::edit_meta(&mut obj, |m| {
            for f in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
                m.remove(f);
            }
            m.insert("name".into(), Value::String(name.clone()));
        });
        if let Some(s) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            s.insert("cidr".into(), Value::String(child.to_string()));
            s.remove("disabled");
        }
        // The "unsafe" create: children overlap the (disabled) parent until it is deleted, so
        // only the pool's own rules apply, not the overlap check.
        let refused = |e: String| {
            Failure::Stderr(format!(
                "error using unsafe create to make split pool with cidr {child}: {e}"
            ))
        };
        let mut o = crate::model::manifest::decode_one(pk, &obj)
            .map_err(|e| refused(e.to_string()))?
            .obj;
        crate::model::validate::apply_defaults(pk, &mut o);
        crate::model::validate::validate(pk, &o).map_err(|e| refused(e.to_string()))?;
        meta::set_meta_str(&mut o, "uid", Some(&uuid::Uuid::new_v4().to_string()));
        meta::set_meta_str(
            &mut o,
            "creationTimestamp",
            Some(&crate::model::gotypes::now_rfc3339()),
        );
        made.push((name, child, o));
    }
    let mut disabled = pool.clone();
    if let Some(s) = disabled.get_mut("spec").and_then(Value::as_object_mut) {
        s.insert("disabled".into(), Value::Bool(true));
    }
    c.update(pk, &disabled)
        .await
        .map_err(|_| Failure::Stderr(format!("error disabling IP pool {cidr}")))?;
    write!(
        ctx.out,
        "IP Pool {old_name} was successfully split into {} smaller pools.",
        made.len()
    )?;
    for (name, child, o) in made {
        ds.create(pk, &o)
            .await
            .map_err(|e| Failure::Stderr(e.to_string()))?;
        writeln!(ctx.out, "Created {name} with CIDR {child}.")?;
    }
    ds.delete(pk, "", &old_name, None)
        .await
        .map_err(|e| Failure::Stderr(e.to_string()))?;
    write!(
        ctx.out,
        "Please refer to the documentation for final steps."
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        let c: IpNet = "10.0.1.0/24".parse().unwrap();
        let v = split_cidr(c, "4").unwrap();
        assert_eq!(
            v.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            [
                "10.0.1.0/26",
                "10.0.1.64/26",
                "10.0.1.128/26",
                "10.0.1.192/26"
            ]
        );
        assert!(
            split_cidr(c, "3")
                .unwrap_err()
                .contains("not a valid power of 2: 3")
        );
        assert!(
            split_cidr(c, "1")
                .unwrap_err()
                .contains("not a valid power of 2: 1")
        );
        assert!(
            split_cidr(c, "x").unwrap_err().starts_with(
                "error reading number to split IP pools into. x is not a valid number: "
            )
        );
        assert!(
            split_cidr("10.0.0.0/31".parse().unwrap(), "4")
                .unwrap_err()
                .contains("is not large enough to be split into 4 parts")
        );
    }
}
