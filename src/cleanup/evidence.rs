//! Evidence of death and of life. Only positive evidence counts: a missing Felix report proves
//! nothing (reporting is off by default), an existing Kubernetes Node, a fresh Felix report or an
//! Established BGP session to the node's address vetoes removal.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::datastore::{Datastore, DatastoreError, ListOptions, Result};
use crate::model::gotypes::format_go_duration;
use crate::model::kinds::KindId;
use crate::model::meta;

/// Where evidence comes from.
pub struct EvidenceSources {
    /// A Felix report older than this proves death (while other nodes report).
    pub stale_after: chrono::Duration,
    /// Kubernetes Nodes: the datastore itself (KDD) or a separate cluster (`--kubeconfig`).
    pub kube: Option<Arc<dyn Datastore>>,
    /// A local BIRD control socket.
    pub bird_socket: Option<PathBuf>,
    pub timeout: Duration,
}

/// Evidence about one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dead: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live: Vec<String>,
}

/// Everything the sources said at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    /// Kubernetes Node names, when a Kubernetes source is available.
    pub k8s_nodes: Option<BTreeSet<String>>,
    /// Newest Felix report per host.
    pub felix: BTreeMap<String, DateTime<Utc>>,
    /// Hosts with a Felix report that is not stale: reporting is on in this cluster.
    pub fresh_reporters: usize,
    /// Neighbour addresses of Established BGP sessions on the local BIRD.
    pub established: Option<BTreeSet<IpAddr>>,
    pub stale_after: chrono::Duration,
    /// Human descriptions of the sources used.
    pub sources: Vec<String>,
    /// Sources that were looked for and are not there.
    pub absent: Vec<String>,
}

fn human(d: chrono::Duration) -> String {
    // Whole seconds, Go's duration format (72h0m0s).
    format_go_duration(d.num_seconds().max(0) * 1_000_000_000)
}

impl EvidenceSources {
    /// Reads every source once.
    pub async fn snapshot(&self, ds: &dyn Datastore) -> Result<Snapshot> {
        let now = Utc::now();
        let mut s = Snapshot {
            now,
            stale_after: self.stale_after,
            ..Default::default()
        };
        if let Some(kube) = &self.kube {
            let nk = KindId::Node.info();
            let mut names = BTreeSet::new();
            kube.scan(nk, &ListOptions::default(), &mut |n| {
                names.insert(meta::name(&n));
                Ok(())
            })
            .await?;
            s.sources
                .push(format!("Kubernetes Nodes ({} present)", names.len()));
            s.k8s_nodes = Some(names);
        } else if !ds.is_kubernetes_api() {
            s.absent
                .push("Kubernetes Nodes (pass --kubeconfig to compare with a cluster)".into());
        }
        for r in ds.felix_reports().await? {
            let Ok(t) = DateTime::parse_from_rfc3339(&r.time) else {
                continue;
            };
            let t = t.with_timezone(&Utc);
            let e = s.felix.entry(r.host).or_insert(t);
            if t > *e {
                *e = t;
            }
        }
        s.fresh_reporters = s
            .felix
            .values()
            .filter(|t| now - **t <= self.stale_after)
            .count();
        if ds.keeps_felix_reports() {
            if s.felix.is_empty() {
                s.absent
                    .push("Felix status reports (reporting is off: no /calico/felix keys)".into());
            } else {
                s.sources.push(format!(
                    "Felix status reports ({} hosts, {} fresh)",
                    s.felix.len(),
                    s.fresh_reporters
                ));
            }
        }
        if let Some(path) = &self.bird_socket {
            let est = established_peers(path, self.timeout).map_err(|e| {
                DatastoreError::Other(format!(
                    "cannot read BGP sessions from {}: {e}",
                    path.display()
                ))
            })?;
            s.sources.push(format!(
                "BGP sessions on {} ({} Established)",
                path.display(),
                est.len()
            ));
            s.established = Some(est);
        }
        Ok(s)
    }
}

impl Snapshot {
    /// True when at least one source can prove a node dead.
    pub fn can_prove_death(&self) -> bool {
        self.k8s_nodes.is_some() || self.fresh_reporters > 0
    }

    /// The evidence about `node` (its Kubernetes name may differ, via orchRefs).
    pub fn judge(&self, node: &str, k8s_name: &str, addrs: &[IpAddr]) -> Evidence {
        let mut e = Evidence::default();
        if let Some(k) = &self.k8s_nodes {
            if k.contains(k8s_name) {
                e.live.push(format!("Kubernetes Node {k8s_name} exists"));
            } else {
                e.dead.push(format!("no Kubernetes Node {k8s_name}"));
            }
        }
        if let Some(t) = self.felix.get(node) {
            let age = self.now - *t;
            if age <= self.stale_after {
                e.live.push(format!("Felix reported {} ago", human(age)));
            } else if self.fresh_reporters > 0 {
                e.dead.push(format!(
                    "Felix status report is {} old (stale after {}) while {} other host(s) report",
                    human(age),
                    human(self.stale_after),
                    self.fresh_reporters
                ));
            }
        }
        if let Some(est) = &self.established {
            for a in addrs {
                if est.contains(a) {
                    e.live.push(format!("BGP session to {a} is Established"));
                }
            }
        }
        e
    }
}

/// Neighbour IPs of Established BGP protocols on a BIRD socket.
pub fn established_peers(
    path: &std::path::Path,
    timeout: Duration,
) -> std::result::Result<BTreeSet<IpAddr>, crate::bird::BirdError> {
    let mut c = crate::bird::BirdClient::connect(path, timeout)?;
    let lines = c.command("show protocols")?;
    let protos = crate::bird::parse_protocols(&lines)?;
    Ok(protos
        .iter()
        .filter(|p| p.proto == "BGP" && p.info.starts_with("Established"))
        .filter_map(|p| crate::bird::peer_from_name(&p.name, None))
        .filter_map(|(_, ip)| ip.parse().ok())
        .collect())
}

/// The Kubernetes name of a Calico Node: its k8s orchRef's nodeName, else its own name.
pub fn k8s_name(node: &Value) -> String {
    if let Some(Value::Array(refs)) = node.get("spec").and_then(|s| s.get("orchRefs")) {
        for r in refs {
            if r.get("orchestrator").and_then(Value::as_str) == Some("k8s")
                && let Some(n) = r.get("nodeName").and_then(Value::as_str)
            {
                return n.to_string();
            }
        }
    }
    meta::name(node)
}

/// Gathers a snapshot (a thin alias kept for callers that read better with a verb).
pub async fn gather_evidence(src: &EvidenceSources, ds: &dyn Datastore) -> Result<Snapshot> {
    src.snapshot(ds).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        let now = Utc::now();
        let mut felix = BTreeMap::new();
        felix.insert("old".to_string(), now - chrono::Duration::hours(72));
        felix.insert("new".to_string(), now - chrono::Duration::minutes(3));
        Snapshot {
            now,
            k8s_nodes: Some(names(["new", "k8s-a"])),
            felix,
            fresh_reporters: 1,
            established: Some(["10.0.0.9".parse().unwrap()].into_iter().collect()),
            stale_after: chrono::Duration::hours(24),
            ..Default::default()
        }
    }

    fn names<const N: usize>(a: [&str; N]) -> BTreeSet<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stale_report_and_missing_k8s_node_are_death() {
        let e = snap().judge("old", "old", &[]);
        assert!(e.live.is_empty(), "{e:?}");
        assert_eq!(e.dead.len(), 2);
        assert!(
            e.dead[1].starts_with("Felix status report is 72h0m0s old"),
            "{e:?}"
        );
    }

    #[test]
    fn any_sign_of_life_is_recorded() {
        let e = snap().judge("new", "new", &[]);
        assert_eq!(e.live.len(), 2, "{e:?}");
        let e = snap().judge("x", "k8s-a", &["10.0.0.9".parse().unwrap()]);
        assert_eq!(
            e.live,
            vec![
                "Kubernetes Node k8s-a exists".to_string(),
                "BGP session to 10.0.0.9 is Established".to_string()
            ]
        );
    }

    #[test]
    fn stale_reports_prove_nothing_when_nobody_reports() {
        let mut s = snap();
        s.fresh_reporters = 0;
        s.k8s_nodes = None;
        let e = s.judge("old", "old", &[]);
        assert!(e.dead.is_empty() && e.live.is_empty(), "{e:?}");
        assert!(!s.can_prove_death());
    }
}
