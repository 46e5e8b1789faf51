//! Reads what an evaluation needs from a [`Datastore`], one object at a time (each is
//! normalised as it is visited, so memory holds the compact forms, not the listed JSON).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::model::{self, PolicyKind};
use super::{Snapshot, SnapshotBuilder};
use crate::datastore::{Datastore, DatastoreError, ListOptions};
use crate::model::kinds::KindId;

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Datastore(#[from] DatastoreError),
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

/// Loads tiers, every policy kind, profiles, endpoints, network sets and Felix's failsafe
/// configuration.
pub async fn load(ds: &dyn Datastore) -> Result<Snapshot, LoadError> {
    let mut b = SnapshotBuilder::default();
    scan(ds, KindId::Tier, &mut |o| {
        b.tiers.push(model::tier(&o));
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
    ] {
        scan(ds, kind, &mut |o| {
            b.add_policy(model::calico_policy(pk, &o), pk, &o);
            Ok(())
        })
        .await?;
    }
    scan(ds, KindId::StagedKubernetesNetworkPolicy, &mut |o| {
        let pk = PolicyKind::StagedKubernetesNetworkPolicy;
        b.add_policy(model::k8s_policy(pk, &o), pk, &o);
        Ok(())
    })
    .await?;
    if ds.is_kubernetes_api() {
        match ds.kube_network_policies().await {
            Ok(list) => {
                for o in list {
                    let pk = PolicyKind::KubernetesNetworkPolicy;
                    b.add_policy(model::k8s_policy(pk, &o), pk, &o);
                }
            }
            Err(e) if e.is_unsupported() || e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
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
    scan(ds, KindId::WorkloadEndpoint, &mut |o| {
        if let Some(e) = model::workload_endpoint(&o) {
            b.endpoints.push(e);
        } else {
            b.no_ip_weps.push((
                crate::model::meta::namespace(&o),
                crate::model::meta::name(&o),
            ));
        }
        Ok(())
    })
    .await?;
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
    Ok(b.build(ds.backend()))
}
