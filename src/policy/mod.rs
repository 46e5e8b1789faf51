//! Static policy evaluation (`calicoctl policy explain|trace|who-selects`, beyond calicoctl):
//! which policies select an endpoint, and what Felix would decide for a packet, reproducing
//! Calico's rules (tier and policy order, per-direction selection, first match, Pass,
//! end-of-tier default action, profiles, staged policies, host endpoints and failsafes).
//!
//! The module reads through the [`Datastore`](crate::datastore::Datastore) trait and returns
//! serialisable results; it never prints.

pub mod eval;
pub mod load;
pub mod model;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use crate::datastore::Backend;
pub use eval::*;
pub use load::{LoadError, Scope, load, load_scoped};
use model::{
    BUILTIN_TIERS, Endpoint, EndpointKind, Failsafe, NetSet, Policy, PolicyKind, Profile, Tier,
};

/// Everything an evaluation reads, normalised and sorted as Felix sorts it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub backend: Option<Backend>,
    /// In Felix's tier order.
    pub tiers: Vec<Tier>,
    /// Sorted by tier position, then order (none last), then `name/namespace/kind`.
    pub policies: Vec<Policy>,
    /// Index into `tiers` of each policy.
    pub policy_tier: Vec<usize>,
    pub profiles: HashMap<String, Profile>,
    pub endpoints: Vec<Endpoint>,
    pub netsets: Vec<NetSet>,
    pub failsafe_in: Vec<Failsafe>,
    pub failsafe_out: Vec<Failsafe>,
    /// `DefaultEndpointToHostAction` (cluster value) and where it came from.
    pub endpoint_to_host: String,
    pub endpoint_to_host_source: String,
    pub node_endpoint_to_host: HashMap<String, String>,
    /// WorkloadEndpoints without addresses (invisible to Felix).
    pub no_ip_weps: Vec<(String, String)>,
    /// Objects skipped while loading, assumptions made.
    pub notes: Vec<String>,
    /// Enforced policies a staged policy stands in for: (kind, name, namespace).
    pub staged_targets: HashSet<(PolicyKind, String, String)>,
    ip_index: HashMap<IpAddr, Vec<usize>>,
}

/// Collects normalised objects, then sorts and indexes them.
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    pub tiers: Vec<Tier>,
    pub policies: Vec<Policy>,
    pub profiles: HashMap<String, Profile>,
    pub endpoints: Vec<Endpoint>,
    pub netsets: Vec<NetSet>,
    pub failsafe_in: Option<Vec<Failsafe>>,
    pub failsafe_out: Option<Vec<Failsafe>>,
    pub endpoint_to_host: Option<String>,
    pub node_endpoint_to_host: HashMap<String, String>,
    pub no_ip_weps: Vec<(String, String)>,
    pub notes: Vec<String>,
}

impl SnapshotBuilder {
    /// Adds a converted policy, or notes why it was skipped.
    pub fn add_policy(
        &mut self,
        p: Result<Policy, model::ConvertError>,
        kind: PolicyKind,
        obj: &serde_json::Value,
    ) {
        match p {
            Ok(p) => self.policies.push(p),
            Err(e) => {
                let ns = crate::model::meta::namespace(obj);
                let name = crate::model::meta::name(obj);
                let id = if ns.is_empty() {
                    name
                } else {
                    format!("{ns}/{name}")
                };
                self.notes
                    .push(format!("{} {id} ignored: {e}", kind.as_str()));
            }
        }
    }

    pub fn build(mut self, backend: Backend) -> Snapshot {
        let mut notes = std::mem::take(&mut self.notes);
        let mut tiers = std::mem::take(&mut self.tiers);
        for (name, order, pass) in BUILTIN_TIERS {
            if !tiers.iter().any(|t| t.name == *name) {
                tiers.push(Tier {
                    name: name.to_string(),
                    order: Some(*order),
                    default_pass: *pass,
                    exists: true,
                    synthesised: true,
                });
            }
        }
        let known: HashSet<String> = tiers.iter().map(|t| t.name.clone()).collect();
        let mut missing: Vec<String> = self
            .policies
            .iter()
            .filter(|p| !known.contains(&p.tier))
            .map(|p| p.tier.clone())
            .collect();
        missing.sort();
        missing.dedup();
        for m in missing {
            notes.push(format!(
                "tier {m:?} does not exist: its policies are enforced after every other tier, with default action Deny"
            ));
            tiers.push(Tier {
                name: m,
                order: None,
                default_pass: false,
                exists: false,
                synthesised: false,
            });
        }
        tiers.sort_by(tier_cmp);
        let pos: HashMap<String, usize> = tiers
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let mut policies = std::mem::take(&mut self.policies);
        let mut keyed: Vec<(usize, String, Policy)> = policies
            .drain(..)
            .map(|p| (pos[&p.tier], p.sort_key(), p))
            .collect();
        keyed.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| order_cmp(a.2.order, b.2.order))
                .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
        });
        let policy_tier = keyed.iter().map(|k| k.0).collect();
        let policies: Vec<Policy> = keyed.into_iter().map(|k| k.2).collect();
        let staged_targets = policies
            .iter()
            .filter(|p| p.kind.is_staged())
            .map(|p| {
                let (k, n, ns) = p.counterpart();
                (k, n.to_string(), ns.to_string())
            })
            .collect();
        let mut ip_index: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            for ip in &e.ips {
                ip_index.entry(*ip).or_default().push(i);
            }
        }
        let (endpoint_to_host, source) = match self.endpoint_to_host {
            Some(a) => (a, "FelixConfiguration default".to_string()),
            None => (
                "ACCEPT".to_string(),
                "assumed: ACCEPT, the value Calico's manifests and Helm chart set (Felix's built-in default is DROP)".to_string(),
            ),
        };
        Snapshot {
            backend: Some(backend),
            tiers,
            policies,
            policy_tier,
            profiles: self.profiles,
            endpoints: self.endpoints,
            netsets: self.netsets,
            failsafe_in: self
                .failsafe_in
                .unwrap_or_else(|| model::default_failsafes(model::Direction::Ingress)),
            failsafe_out: self
                .failsafe_out
                .unwrap_or_else(|| model::default_failsafes(model::Direction::Egress)),
            endpoint_to_host,
            endpoint_to_host_source: source,
            node_endpoint_to_host: self.node_endpoint_to_host,
            no_ip_weps: self.no_ip_weps,
            notes,
            staged_targets,
            ip_index,
        }
    }
}

/// Felix's `TierLess`: existing tiers first, then ordered before unordered, then by order,
/// then by name (bytes).
fn tier_cmp(a: &Tier, b: &Tier) -> std::cmp::Ordering {
    b.exists
        .cmp(&a.exists)
        .then_with(|| order_cmp(a.order, b.order))
        .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
}

/// Ascending order, `None` after every number.
fn order_cmp(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

impl Snapshot {
    /// Endpoints holding `ip` (WEP addresses, HEP expected IPs).
    pub fn endpoints_at(&self, ip: IpAddr) -> &[usize] {
        self.ip_index.get(&ip).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The label an endpoint or network set has for `key`: its own first, then the first of
    /// its profiles (in order) that applies one.
    pub fn label<'a>(
        &'a self,
        own: &'a BTreeMap<String, String>,
        profiles: &'a [String],
        key: &str,
    ) -> Option<&'a str> {
        own.get(key).map(String::as_str).or_else(|| {
            profiles
                .iter()
                .find_map(|p| self.profiles.get(p)?.labels.get(key).map(String::as_str))
        })
    }

    /// Whether a selector matches an object with these own labels and profiles.
    pub fn matches(
        &self,
        sel: &crate::model::selector::Selector,
        own: &BTreeMap<String, String>,
        profiles: &[String],
    ) -> bool {
        sel.evaluate(&|k| self.label(own, profiles, k))
    }

    pub fn endpoint_kind_count(&self, k: EndpointKind) -> usize {
        self.endpoints.iter().filter(|e| e.kind == k).count()
    }
}

#[cfg(test)]
mod tests;
