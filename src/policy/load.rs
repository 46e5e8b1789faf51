//! Reads what an evaluation needs from a [`Datastore`], one object at a time (each is
//! normalised as it is visited, so memory holds the compact forms, not the listed JSON).
//!
//! The kinds are read in three concurrent lanes (policies; profiles, host endpoints, network
//! sets and Felix configuration; workload endpoints), so the datastore serves one lane while
//! the objects of another are decoded. A question about named peers ([`Scope::Peers`]) reads
//! only the addresses, names and pods of the workload endpoints, then decodes the few it needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde_json::Value;

use super::eval::PeerSpec;
use super::model::{self, Endpoint, EndpointKind, PolicyKind};
use super::{Snapshot, SnapshotBuilder};
use crate::datastore::{Datastore, DatastoreError, ListOptions, StoredWep};
use crate::model::kinds::{KindId, KindInfo};

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Datastore(#[from] DatastoreError),
}

/// Which endpoints a question reads.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every endpoint (`who-selects` lists them).
    All,
    /// The endpoints these peers name and every endpoint holding one of their addresses:
    /// explain reads one endpoint, and a trace matches rule selectors only against what holds
    /// the packet's two addresses, so the other workload endpoints can change no answer.
    Peers(Vec<PeerSpec>),
}

async fn scan(
    ds: &dyn Datastore,
    kind: KindId,
    f: &mut (dyn FnMut(Value) -> Result<(), DatastoreError> + Send),
) -> Result<(), DatastoreError> {
    match ds.scan(kind.info(), &ListOptions::default(), f).await {
        Ok(_) => Ok(()),
        // A kind the store does not serve (e.g. a CRD not installed) has no objects.
        Err(e) if e.is_not_found() || e.is_unsupported() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Loads tiers, every policy kind, profiles, every endpoint, network sets and Felix's failsafe
/// configuration.
pub async fn load(ds: &dyn Datastore) -> Result<Snapshot, LoadError> {
    load_scoped(ds, &Scope::All).await
}

/// [`load`], with only the workload endpoints `scope` needs.
pub async fn load_scoped(ds: &dyn Datastore, scope: &Scope) -> Result<Snapshot, LoadError> {
    let (mut b, rest, weps) = futures::try_join!(
        policies(ds),
        profiles_hosts_sets(ds),
        workload_endpoints(ds, scope)
    )?;
    let (mut endpoints, no_ip_weps) = match weps {
        Weps::Read(e, n) => (e, n),
        Weps::Brief(brief) => {
            let Scope::Peers(peers) = scope else {
                unreachable!("brief records are read for peers only")
            };
            let ids: Vec<(String, String)> = wanted(&brief, &rest.endpoints, peers)
                .into_iter()
                .map(|i| (brief[i].namespace.clone(), brief[i].name.clone()))
                .collect();
            drop(brief);
            read_wanted(ds, &ids).await?
        }
    };
    endpoints.extend(rest.endpoints);
    b.endpoints = endpoints;
    b.no_ip_weps = no_ip_weps;
    b.notes.extend(rest.notes);
    b.profiles = rest.profiles;
    b.netsets = rest.netsets;
    b.failsafe_in = rest.failsafe_in;
    b.failsafe_out = rest.failsafe_out;
    b.endpoint_to_host = rest.endpoint_to_host;
    b.node_endpoint_to_host = rest.node_endpoint_to_host;
    Ok(b.build(ds.backend()))
}

/// Tiers and every policy kind (with the notes of the policies skipped). The policies are
/// converted on a blocking-pool thread while this one reads and decodes the next pages.
async fn policies(ds: &dyn Datastore) -> Result<SnapshotBuilder, DatastoreError> {
    let (tx, rx) = std::sync::mpsc::channel::<(PolicyKind, Value)>();
    let convert = tokio::task::spawn_blocking(move || {
        let mut b = SnapshotBuilder::default();
        for (pk, o) in rx {
            let p = match pk {
                PolicyKind::KubernetesNetworkPolicy | PolicyKind::StagedKubernetesNetworkPolicy => {
                    model::k8s_policy(pk, &o)
                }
                PolicyKind::KubernetesClusterNetworkPolicy => model::cluster_network_policy(&o),
                _ => model::calico_policy(pk, &o),
            };
            b.add_policy(p, pk, &o);
        }
        b
    });
    let read = async {
        let mut tiers = Vec::new();
        scan(ds, KindId::Tier, &mut |o| {
            tiers.push(model::tier(&o));
            Ok(())
        })
        .await?;
        for (kind, pk) in [
            (KindId::NetworkPolicy, PolicyKind::NetworkPolicy),
            (KindId::GlobalNetworkPolicy, PolicyKind::GlobalNetworkPolicy),
            (KindId::StagedNetworkPolicy, PolicyKind::StagedNetworkPolicy),
            (
                KindId::StagedGlobalNetworkPolicy,
                PolicyKind::StagedGlobalNetworkPolicy,
            ),
            (
                KindId::StagedKubernetesNetworkPolicy,
                PolicyKind::StagedKubernetesNetworkPolicy,
            ),
        ] {
            scan(ds, kind, &mut |o| {
                // The receiver only goes away with a panic, which the join reports.
                let _ = tx.send((pk, o));
                Ok(())
            })
            .await?;
        }
        if ds.is_kubernetes_api() {
            // Felix watches both only on the Kubernetes datastore; a cluster without the
            // ClusterNetworkPolicy CRD answers 404 and has none.
            for (pk, list) in [
                (
                    PolicyKind::KubernetesNetworkPolicy,
                    ds.kube_network_policies().await,
                ),
                (
                    PolicyKind::KubernetesClusterNetworkPolicy,
                    ds.kube_cluster_network_policies().await,
                ),
            ] {
                match list {
                    Ok(list) => {
                        for o in list {
                            let _ = tx.send((pk, o));
                        }
                    }
                    Err(e) if e.is_unsupported() || e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(tiers)
    };
    let tiers = read.await;
    drop(tx);
    let mut b = convert.await.expect("policy conversion does not panic");
    b.tiers = tiers?;
    Ok(b)
}

/// Profiles, host endpoints, network sets and Felix configuration (the builder's other
/// fields stay empty).
async fn profiles_hosts_sets(ds: &dyn Datastore) -> Result<SnapshotBuilder, DatastoreError> {
    let mut b = SnapshotBuilder::default();
    let mut profiles = HashMap::new();
    scan(ds, KindId::Profile, &mut |o| {
        match model::profile(&o) {
            Ok(p) => {
                profiles.insert(p.name.clone(), p);
            }
            Err(e) => b.notes.push(format!(
                "Profile {} ignored: {e}",
                crate::model::meta::name(&o)
            )),
        }
        Ok(())
    })
    .await?;
    b.profiles = profiles;
    scan(ds, KindId::HostEndpoint, &mut |o| {
        b.endpoints.push(model::host_endpoint(&o));
        Ok(())
    })
    .await?;
    scan(ds, KindId::NetworkSet, &mut |o| {
        b.netsets.push(model::network_set(&o, false));
        Ok(())
    })
    .await?;
    scan(ds, KindId::GlobalNetworkSet, &mut |o| {
        b.netsets.push(model::network_set(&o, true));
        Ok(())
    })
    .await?;
    let mut felix: BTreeMap<String, Value> = BTreeMap::new();
    scan(ds, KindId::FelixConfiguration, &mut |o| {
        let name = crate::model::meta::name(&o);
        if name == "default" || name.starts_with("node.") {
            felix.insert(name, o.get("spec").cloned().unwrap_or(Value::Null));
        }
        Ok(())
    })
    .await?;
    if let Some(spec) = felix.get("default") {
        if let Some(v) = spec.get("failsafeInboundHostPorts") {
            b.failsafe_in = Some(model::failsafes(v));
        }
        if let Some(v) = spec.get("failsafeOutboundHostPorts") {
            b.failsafe_out = Some(model::failsafes(v));
        }
        if let Some(v) = spec
            .get("defaultEndpointToHostAction")
            .and_then(Value::as_str)
        {
            b.endpoint_to_host = Some(v.to_ascii_uppercase());
        }
    }
    for (name, spec) in &felix {
        if let (Some(node), Some(v)) = (
            name.strip_prefix("node."),
            spec.get("defaultEndpointToHostAction")
                .and_then(Value::as_str),
        ) {
            b.node_endpoint_to_host
                .insert(node.to_string(), v.to_ascii_uppercase());
        }
    }
    Ok(b)
}

/// The workload endpoints as read: decoded (with those that have no address), or only the
/// brief records a peer question picks from.
enum Weps {
    Read(Vec<Endpoint>, Vec<(String, String)>),
    Brief(Vec<Brief>),
}

/// What picks a workload endpoint for a peer question: its identity, pod and addresses.
#[derive(Debug)]
struct Brief {
    namespace: String,
    name: String,
    pod: String,
    ips: Vec<IpAddr>,
    /// The stored value did not decode as expected: it is read in full, like any listed one.
    unread: bool,
}

fn brief(namespace: &str, name: &str, raw: &[u8]) -> Brief {
    let mut b = Brief {
        namespace: namespace.to_string(),
        name: name.to_string(),
        pod: String::new(),
        ips: Vec::new(),
        unread: false,
    };
    match serde_json::from_slice::<StoredWep>(raw) {
        Ok(StoredWep { spec: Some(spec) }) => {
            b.pod = spec.pod.map(|p| p.0.into_owned()).unwrap_or_default();
            b.ips = spec
                .ip_networks
                .iter()
                .flatten()
                .filter_map(|n| model::parse_net(&n.0).map(|n| n.addr()))
                .collect();
        }
        Ok(StoredWep { spec: None }) => {}
        Err(_) => b.unread = true,
    }
    b
}

fn decode_wep(o: &Value, endpoints: &mut Vec<Endpoint>, no_ip: &mut Vec<(String, String)>) {
    if let Some(e) = model::workload_endpoint(o) {
        endpoints.push(e);
    } else {
        no_ip.push((
            crate::model::meta::namespace(o),
            crate::model::meta::name(o),
        ));
    }
}

async fn workload_endpoints(ds: &dyn Datastore, scope: &Scope) -> Result<Weps, DatastoreError> {
    if matches!(scope, Scope::Peers(_)) {
        let mut briefs = Vec::new();
        let stored = ds
            .scan_stored(KindId::WorkloadEndpoint.info(), &mut |ns, name, raw| {
                briefs.push(brief(ns, name, raw));
                Ok(())
            })
            .await;
        match stored {
            Ok(true) => return Ok(Weps::Brief(briefs)),
            Ok(false) => {}
            Err(e) if e.is_not_found() || e.is_unsupported() => {
                return Ok(Weps::Read(Vec::new(), Vec::new()));
            }
            Err(e) => return Err(e),
        }
    }
    let (mut endpoints, mut no_ip) = (Vec::new(), Vec::new());
    scan(ds, KindId::WorkloadEndpoint, &mut |o| {
        decode_wep(&o, &mut endpoints, &mut no_ip);
        Ok(())
    })
    .await?;
    Ok(Weps::Read(endpoints, no_ip))
}

/// The workload endpoints (indices into `briefs`, in store order) that the peers name or that
/// hold an address of theirs, an address given, or the address of a host endpoint they name.
/// Every candidate `Snapshot::find` could pick is included, so it picks the same one.
fn wanted(briefs: &[Brief], hosts: &[Endpoint], peers: &[PeerSpec]) -> Vec<usize> {
    let mut want = vec![false; briefs.len()];
    let mut ips: HashSet<IpAddr> = HashSet::new();
    let host_ips = |name: &str, ips: &mut HashSet<IpAddr>| {
        for h in hosts
            .iter()
            .filter(|h| h.kind == EndpointKind::HostEndpoint && h.name == name)
        {
            ips.extend(h.ips.iter().copied());
        }
    };
    for p in peers {
        match p {
            PeerSpec::Address(ip, _) => {
                ips.insert(*ip);
            }
            PeerSpec::Host(name) => host_ips(name, &mut ips),
            PeerSpec::Workload { namespace, name } => {
                let generated = format!("-k8s-{name}-");
                for (i, b) in briefs.iter().enumerate() {
                    if &b.namespace == namespace
                        && (&b.name == name || &b.pod == name || b.name.contains(&generated))
                    {
                        want[i] = true;
                        ips.extend(b.ips.iter().copied());
                    }
                }
                // A bare name that is no workload is looked up as a host endpoint.
                host_ips(name, &mut ips);
            }
        }
    }
    for (i, b) in briefs.iter().enumerate() {
        if b.unread || b.ips.iter().any(|ip| ips.contains(ip)) {
            want[i] = true;
        }
    }
    (0..briefs.len()).filter(|&i| want[i]).collect()
}

/// Reads and decodes the wanted workload endpoints, in store order; one that is gone or does
/// not decode is skipped, as a list skips it.
async fn read_wanted(
    ds: &dyn Datastore,
    wanted: &[(String, String)],
) -> Result<(Vec<Endpoint>, Vec<(String, String)>), DatastoreError> {
    let kind = KindId::WorkloadEndpoint.info();
    let ids: Vec<(&'static KindInfo, String, String)> = wanted
        .iter()
        .map(|(ns, name)| (kind, ns.clone(), name.clone()))
        .collect();
    let (mut endpoints, mut no_ip) = (Vec::new(), Vec::new());
    for r in ds.get_many(&ids).await {
        match r {
            Ok(o) => decode_wep(&o, &mut endpoints, &mut no_ip),
            Err(DatastoreError::Corrupt(_)) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok((endpoints, no_ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn brief_reads_pod_and_addresses_and_flags_what_does_not_decode() {
        let b = brief(
            "ns",
            "n1-k8s-p-eth0",
            br#"{"spec":{"pod":"p","ipNetworks":["10.0.0.1/32","fd00::1/128"],"node":"n1"}}"#,
        );
        assert_eq!((b.pod.as_str(), b.unread), ("p", false));
        assert_eq!(b.ips, vec![ip("10.0.0.1"), ip("fd00::1")]);
        // A value of another shape is read in full, as a list would read it.
        assert!(brief("ns", "x", br#"{"spec":{"ipNetworks":[1]}}"#).unread);
        assert!(brief("ns", "x", b"not json").unread);
        assert!(!brief("ns", "x", br#"{"metadata":{}}"#).unread);
    }

    #[test]
    fn wanted_keeps_the_named_their_address_sharers_and_the_unread() {
        let b = |ns: &str, name: &str, pod: &str, ips: &[&str], unread: bool| Brief {
            namespace: ns.into(),
            name: name.into(),
            pod: pod.into(),
            ips: ips.iter().map(|s| ip(s)).collect(),
            unread,
        };
        let briefs = vec![
            b("a", "n1-k8s-web-eth0", "web", &["10.0.0.1"], false), // 0: by pod
            b("b", "n1-k8s-web-eth0", "web", &["10.0.0.9"], false), // 1: other namespace
            b("a", "other", "", &["10.0.0.1"], false),              // 2: shares web's address
            b("a", "n2-k8s-web-eth1", "", &["10.0.0.2"], false),    // 3: generated name
            b("c", "x", "", &["10.0.0.3"], false),                  // 4: holds a given address
            b("c", "y", "", &["10.0.0.4"], false),                  // 5: holds a host's address
            b("c", "z", "", &[], true),                             // 6: not decoded
            b("c", "w", "", &["10.0.0.5"], false),                  // 7: unrelated
        ];
        let host = Endpoint {
            kind: EndpointKind::HostEndpoint,
            name: "h".into(),
            namespace: String::new(),
            node: "n1".into(),
            pod: String::new(),
            interface: "eth0".into(),
            labels: BTreeMap::new(),
            profiles: Vec::new(),
            ips: vec![ip("10.0.0.4")],
            ports: Vec::new(),
        };
        let peers = vec![
            PeerSpec::Workload {
                namespace: "a".into(),
                name: "web".into(),
            },
            PeerSpec::Address(ip("10.0.0.3"), None),
            PeerSpec::Host("h".into()),
        ];
        assert_eq!(wanted(&briefs, &[host], &peers), vec![0, 2, 3, 4, 5, 6]);
        assert_eq!(wanted(&briefs, &[], &[]), vec![6]);
    }
}
