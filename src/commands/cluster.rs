//! `calicoctl cluster diags` (a bundle of the cluster's Calico resources and logs) through the
//! Kubernetes API instead of `kubectl`: the same flags, messages and bundle layout, minus what
//! only `kubectl exec` into calico-node can collect (dataplane dumps — use `calicoctl node
//! diags` on the node).

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::{CmdResult, Ctx, Failure};
use crate::cli::ClusterCommand;
use crate::datastore::kdd::{GetError, KddDatastore};
use crate::gocompat::yaml::to_yaml;

/// Core kinds written to `cluster/` (path, file).
const CORE: &[(&str, &str)] = &[
    ("/api/v1/nodes", "nodes"),
    ("/api/v1/namespaces", "namespaces"),
    ("/api/v1/pods", "pods"),
    ("/api/v1/services", "services"),
    ("/api/v1/endpoints", "endpoints"),
    ("/api/v1/configmaps", "configmaps"),
    ("/apis/apps/v1/daemonsets", "daemonsets"),
    ("/apis/apps/v1/deployments", "deployments"),
    (
        "/apis/networking.k8s.io/v1/networkpolicies",
        "networkpolicies",
    ),
    ("/api/v1/events", "events"),
];

pub async fn run(ctx: &mut Ctx, cmd: &ClusterCommand) -> CmdResult {
    let ClusterCommand::Diags {
        since,
        max_logs,
        focus_nodes,
        max_parallelism,
        skip_temp_dir_cleanup,
    } = cmd;
    let (max_logs, since_secs) = parse_options(max_logs, max_parallelism, since.as_deref())?;
    let kube = connect(ctx).await?;
    let out = &mut ctx.out;
    writeln!(out, "==== Begin collecting diagnostics. ====")?;
    let tmp_dir = crate::host::diags::private_temp_dir(&std::env::temp_dir(), "calico-diags-")?;
    let tmp = tmp_dir.path().to_path_buf();
    writeln!(out, "Created temporary directory: {}", tmp.display())?;
    let mut bundle = Bundle {
        root: tmp.join("calico-diagnostics"),
        step: 0,
        failures: 0,
    };
    bundle.resources(&kube, &mut **out).await?;
    bundle.tls_secrets(&kube, &mut **out).await?;
    let focus: Vec<&str> = focus_nodes
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    bundle
        .pod_logs(&kube, &focus, max_logs, since_secs, &mut **out)
        .await?;

    writeln!(out)?;
    writeln!(out, "==== Producing a diagnostics bundle. ====")?;
    let ts = chrono::Utc::now().format("%Y%m%d_%H%M%S");
    let name = format!("calico-diagnostics-{ts}.tar.gz");
    let archive = std::env::current_dir()?.join(&name);
    let st = std::process::Command::new("tar")
        .arg("-zcf")
        .arg(&archive)
        .arg("-C")
        .arg(&tmp)
        .arg("calico-diagnostics")
        .status();
    if !matches!(st, Ok(s) if s.success()) {
        return Err(Failure::Stderr(format!(
            "could not write the bundle {}",
            archive.display()
        )));
    }
    if *skip_temp_dir_cleanup {
        let _ = tmp_dir.keep();
    } else {
        let _ = tmp_dir.close();
    }
    writeln!(out, "Diagnostic bundle created at ./{name}")?;
    if bundle.failures > 0 {
        writeln!(
            out,
            "{} item(s) could not be collected (see the Failed lines above)",
            bundle.failures
        )?;
    }
    Ok(0)
}

/// `--max-logs`, `--max-parallelism` and `--since`, checked as calicoctl checks them (bound to
/// integer fields first): the log count per owner and the log age in seconds.
fn parse_options(
    max_logs: &str,
    max_parallelism: &str,
    since: Option<&str>,
) -> Result<(i64, Option<u64>), Failure> {
    let int_option = |value: &str, flag: &str, field: &str| {
        value.parse::<i64>().map_err(|_| {
            Failure::Stderr(format!(
                "error understanding options: value of \"{flag}\" is not assignable to \"{field}\" field"
            ))
        })
    };
    let max_logs = int_option(max_logs, "--max-logs", "MaxLogs")?;
    int_option(max_parallelism, "--max-parallelism", "MaxParallelism")?;
    let since_secs = match since {
        None => None,
        Some(s) => Some(parse_since(s).ok_or_else(|| {
            Failure::Stdout(format!(
                "Error executing command: invalid duration for since flag (try 10s, 5m, or 1h): {s}"
            ))
        })?),
    };
    if max_logs < 0 {
        return Err(Failure::Stdout(
            "Error executing command: negative value for max-logs flag".into(),
        ));
    }
    Ok((max_logs, since_secs))
}

/// The Kubernetes API of the configuration (diags reads nothing else).
async fn connect(ctx: &mut Ctx) -> Result<KddDatastore, Failure> {
    let loaded = ctx
        .load_config()
        .map_err(|e| Failure::Stdout(e.to_string()))?;
    if loaded.spec.datastore_type != "kubernetes" {
        return Err(Failure::Stderr(
            "cluster diags reads the Kubernetes API: set datastoreType: kubernetes (or DATASTORE_TYPE=kubernetes) and a kubeconfig".into(),
        ));
    }
    KddDatastore::connect(&loaded.spec, ctx.timeout)
        .await
        .map_err(|e| Failure::Stderr(e.to_string()))
}

/// The bundle's folder as it fills: every item numbered, failures counted (and said).
struct Bundle {
    root: PathBuf,
    step: usize,
    failures: usize,
}

impl Bundle {
    /// Writes one item (an API answer) to `file`, or says why it could not be read.
    fn save(
        &mut self,
        out: &mut dyn Write,
        what: &str,
        path: &str,
        file: PathBuf,
        body: Result<Vec<u8>, GetError>,
    ) -> std::io::Result<()> {
        self.step += 1;
        let step = self.step;
        match body {
            Ok(b) => {
                if let Some(d) = file.parent() {
                    std::fs::create_dir_all(d)?;
                }
                std::fs::write(&file, b)?;
                writeln!(out, "[{step}] {what}")?;
            }
            Err(e) => {
                self.failures += 1;
                writeln!(out, "[{step}] Failed to run command: GET {path}")?;
                writeln!(out, "Error: {e}")?;
            }
        }
        Ok(())
    }

    /// The Kubernetes version, the core kinds and every Calico CRD kind, as YAML.
    async fn resources(&mut self, kube: &KddDatastore, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "Collecting kubernetes version...")?;
        let v = kube.get_bytes("/version").await.map(|b| yaml_of(&b));
        let file = self.root.join("cluster/version.yaml");
        self.save(out, "kubernetes version", "/version", file, v)?;

        writeln!(out, "Collecting core kubernetes resources...")?;
        for (path, name) in CORE {
            let b = kube
                .get_bytes(path)
                .await
                .map(|b| yaml_of(&redact_configmaps(name, &b)));
            let file = self.root.join(format!("cluster/{name}.yaml"));
            self.save(out, name, path, file, b)?;
        }

        writeln!(out, "Collecting Calico resources...")?;
        for k in crate::model::kinds::KINDS {
            if !k.hooks.kdd.is_crd() {
                continue;
            }
            let path = kube.crd_path(&k.plural.to_lowercase(), None, None);
            let b = kube.get_bytes(&path).await.map(|b| yaml_of(&b));
            let file = self
                .root
                .join(format!("cluster/calico/{}.yaml", k.plural.to_lowercase()));
            self.save(out, k.plural, &path, file, b)?;
        }
        Ok(())
    }

    /// Calico's TLS secrets: names, types and keys only (values never leave the cluster).
    async fn tls_secrets(
        &mut self,
        kube: &KddDatastore,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        writeln!(out, "Collecting (censored) TLS secrets")?;
        let Ok(b) = kube
            .get_bytes("/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls")
            .await
        else {
            return Ok(());
        };
        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        for s in v["items"].as_array().into_iter().flatten() {
            let (ns, name) = (
                str_of(&s["metadata"]["namespace"]),
                str_of(&s["metadata"]["name"]),
            );
            if !(ns.contains("calico") || ns.contains("tigera")) {
                continue;
            }
            writeln!(
                out,
                "Collecting secret {ns}/{name} (censoring sensitive data) "
            )?;
            let keys: Vec<String> = s["data"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let censored =
                serde_json::json!({"namespace": ns, "name": name, "type": s["type"], "keys": keys});
            std::fs::create_dir_all(self.root.join("tls"))?;
            std::fs::write(
                self.root.join(format!("tls/{ns}-{name}.yaml")),
                to_yaml(&censored),
            )?;
        }
        Ok(())
    }

    /// Logs and descriptions of Calico pods, focus nodes first, `max_logs` per owner.
    async fn pod_logs(
        &mut self,
        kube: &KddDatastore,
        focus: &[&str],
        max_logs: i64,
        since_secs: Option<u64>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let pods: Value = kube
            .get_bytes("/api/v1/pods")
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let mut selected: Vec<&Value> = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                let ns = str_of(&p["metadata"]["namespace"]);
                ns.contains("calico") || ns.contains("tigera")
            })
            .collect();
        selected.sort_by_key(|p| !focus.contains(&str_of(&p["spec"]["nodeName"]).as_str()));
        let mut per_owner: std::collections::HashMap<String, i64> =
            std::collections::HashMap::new();
        let mut namespaces_seen = std::collections::BTreeSet::new();
        for p in selected {
            let ns = str_of(&p["metadata"]["namespace"]);
            let name = str_of(&p["metadata"]["name"]);
            let node = str_of(&p["spec"]["nodeName"]);
            let owner = p["metadata"]["ownerReferences"][0]["name"]
                .as_str()
                .unwrap_or(&name)
                .to_string();
            let n = per_owner.entry(format!("{ns}/{owner}")).or_default();
            if *n >= max_logs {
                continue;
            }
            *n += 1;
            if namespaces_seen.insert(ns.clone()) {
                writeln!(out, "Collecting detailed diags for namespace {ns}...")?;
            }
            writeln!(
                out,
                "Collecting detailed diags for pod {name} in namespace {ns} on node {node}..."
            )?;
            let node_dir = self.root.join(format!(
                "nodes/{}/{ns}",
                if node.is_empty() {
                    "unscheduled"
                } else {
                    &node
                }
            ));
            std::fs::create_dir_all(&node_dir)?;
            std::fs::write(node_dir.join(format!("{name}.txt")), to_yaml(p))?;
            for c in p["spec"]["containers"].as_array().into_iter().flatten() {
                let cname = str_of(&c["name"]);
                let mut path = format!("/api/v1/namespaces/{ns}/pods/{name}/log?container={cname}");
                if let Some(s) = since_secs {
                    path.push_str(&format!("&sinceSeconds={s}"));
                }
                let b = kube.get_bytes(&path).await;
                let file = node_dir.join(format!("{name}-{cname}.log"));
                let what = format!("logs of {ns}/{name} container {cname}");
                self.save(out, &what, &path, file, b)?;
            }
        }
        Ok(())
    }
}

/// `^[0-9]+[smh]$` → seconds.
fn parse_since(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    n.checked_mul(match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    })
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A JSON API answer as YAML (text answers are kept as they are).
fn yaml_of(b: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(b) {
        Ok(v) => to_yaml(&v).into_bytes(),
        Err(_) => b.to_vec(),
    }
}

/// ConfigMap values may hold credentials: keep their keys, drop the values.
fn redact_configmaps(name: &str, b: &[u8]) -> Vec<u8> {
    if name != "configmaps" {
        return b.to_vec();
    }
    let mut v: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for it in items {
            if let Some(d) = it.get_mut("data").and_then(Value::as_object_mut) {
                for (_, val) in d.iter_mut() {
                    *val = Value::String("<censored>".into());
                }
            }
        }
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_durations() {
        assert_eq!(parse_since("10s"), Some(10));
        assert_eq!(parse_since("5m"), Some(300));
        assert_eq!(parse_since("2h"), Some(7200));
        for bad in [
            "",
            "s",
            "10",
            "1.5h",
            "-1s",
            "10d",
            "1 h",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_since(bad), None, "{bad}");
        }
    }
}
