//! `delete node` in etcd mode as libcalico's `Nodes().Delete` does it: the node's workload
//! endpoints and their addresses, its IPv4 tunnel addresses, its block affinities, the BGP
//! peers, host endpoints and `node.<name>` Felix and BGP configurations that belong to it, and
//! only then the Node itself. The cleanup runs even when the Node is already gone (its tunnel
//! addresses are then unknown), so a half-deleted node can be finished. Felix status keys and
//! addresses no endpoint names are left, as there (`node cleanup` removes them).

use std::net::IpAddr;

use serde_json::Value;

use crate::datastore::{Datastore, ListOptions, Result};
use crate::ipam::{self, ReleaseMode, ReleaseOptions};
use crate::model::kinds::{KindId, NodeScope, node_scoped_kinds, str_at};
use crate::model::meta;

/// Deletes `name` with calicoctl's cleanup; returns the deleted Node. `revision` (from a file)
/// only guards the final delete of the Node: the cleanup runs whatever it is.
pub async fn delete_node(ds: &dyn Datastore, name: &str, revision: Option<&str>) -> Result<Value> {
    let nk = KindId::Node.info();
    let node = match ds.get(nk, "", name).await {
        Ok(n) => Some(n),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };

    // Workload endpoints: named for this node and on it.
    let wk = KindId::WorkloadEndpoint.info();
    let prefix = format!("{}-", name.replace('-', "--"));
    let weps: Vec<Value> = ds
        .list(wk, &ListOptions::default())
        .await?
        .items
        .into_iter()
        .filter(|w| meta::name(w).starts_with(&prefix) && str_at(w, &["spec", "node"]) == name)
        .collect();
    let mut release: Vec<ReleaseOptions> = Vec::new();
    for w in &weps {
        for net in w["spec"]["ipNetworks"].as_array().into_iter().flatten() {
            if let Some(ip) = net.as_str().and_then(address) {
                release.push(ReleaseOptions {
                    address: Some(ip),
                    ..Default::default()
                });
            }
        }
    }
    // The node's IPv4 tunnel addresses (IPIP, VXLAN, WireGuard).
    if let Some(n) = &node {
        for path in [
            &["spec", "bgp", "ipv4IPIPTunnelAddr"][..],
            &["spec", "ipv4VXLANTunnelAddr"][..],
            &["spec", "wireguard", "interfaceIPv4Address"][..],
        ] {
            if let Some(ip) = address(&str_at(n, path)) {
                release.push(ReleaseOptions {
                    address: Some(ip),
                    ..Default::default()
                });
            }
        }
    }
    if !release.is_empty() {
        let r = ipam::release_ips(ds, &release, ReleaseMode::Calico).await?;
        if let Some(e) = r.error {
            return Err(e);
        }
    }
    for w in &weps {
        match ds
            .delete(wk, &meta::namespace(w), &meta::name(w), None)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    ipam::release_host_affinities(ds, name, false).await?;

    // Objects that name the node.
    for (ki, scope) in node_scoped_kinds() {
        match scope {
            NodeScope::SpecNode {
                with_node_delete: true,
                ..
            } => {
                for o in ds.list(ki, &ListOptions::default()).await?.items {
                    if str_at(&o, &["spec", "node"]) == name {
                        delete_if_there(ds, ki, &meta::name(&o)).await?;
                    }
                }
            }
            NodeScope::NodeNamed { .. } => {
                delete_if_there(ds, ki, &format!("node.{name}")).await?;
            }
            NodeScope::SpecNode {
                with_node_delete: false,
                ..
            }
            | NodeScope::None => {}
        }
    }
    ds.delete(nk, "", name, revision).await
}

async fn delete_if_there(
    ds: &dyn Datastore,
    kind: &'static crate::model::kinds::KindInfo,
    name: &str,
) -> Result<()> {
    match ds.delete(kind, "", name, None).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The address of `10.0.0.1`, `10.0.0.1/32` or `fd00::1/128`.
fn address(s: &str) -> Option<IpAddr> {
    let a = s.split('/').next()?;
    a.parse().ok()
}
