//! explain / trace / who-selects over a [`Snapshot`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::Snapshot;
use super::model::{
    Action, Direction, Endpoint, EndpointKind, Failsafe, Policy, PortSpec, Rule, Side,
    protocol_name,
};

/// Failures of a query (bad input, unknown endpoint).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    UnknownEndpoint(String),
    #[error("{0}")]
    Invalid(String),
}

/// How a user names an endpoint or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSpec {
    /// `NS/NAME` or `NAME` (namespace from `-n`): a WorkloadEndpoint or the WEP of a pod.
    Workload { namespace: String, name: String },
    /// `hostendpoint/NAME` (or `hep/NAME`), or a bare `NAME` that is no workload.
    Host(String),
    /// An IP address (or CIDR: its first address).
    Address(IpAddr, Option<IpNet>),
}

impl PeerSpec {
    /// Parses the command-line form; `namespace` is the default for bare workload names.
    pub fn parse(s: &str, namespace: &str) -> Result<PeerSpec, PolicyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PolicyError::Invalid("empty endpoint".into()));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(PeerSpec::Address(ip, None));
        }
        if let Ok(n) = s.parse::<IpNet>() {
            return Ok(PeerSpec::Address(n.network(), Some(n.trunc())));
        }
        for p in ["hostendpoint/", "hep/"] {
            if let Some(n) = s.strip_prefix(p) {
                return Ok(PeerSpec::Host(n.to_string()));
            }
        }
        let s = s
            .strip_prefix("workloadendpoint/")
            .or_else(|| s.strip_prefix("wep/"))
            .or_else(|| s.strip_prefix("pod/"))
            .unwrap_or(s);
        match s.split_once('/') {
            Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(PeerSpec::Workload {
                    namespace: ns.into(),
                    name: n.into(),
                })
            }
            Some(_) => Err(PolicyError::Invalid(format!(
                "cannot read endpoint {s:?}: use NAMESPACE/NAME, hostendpoint/NAME or an IP address"
            ))),
            None => Ok(PeerSpec::Workload {
                namespace: namespace.into(),
                name: s.into(),
            }),
        }
    }
}

/// A packet (the first of a connection; replies follow conntrack).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Packet {
    pub source: IpAddr,
    pub destination: IpAddr,
    #[serde(serialize_with = "ser_proto")]
    pub protocol: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
}

fn ser_proto<S: serde::Serializer>(p: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&protocol_name(*p))
}

/// What the user asks `trace` about; the addresses come from the endpoints when not given.
#[derive(Debug, Clone)]
pub struct TraceQuery {
    pub from: PeerSpec,
    pub to: PeerSpec,
    pub protocol: u8,
    pub source_port: Option<u16>,
    pub destination_port: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

// ---------------------------------------------------------------------------------------------
// Result types (the JSON/YAML schema of the commands; see docs/policy-troubleshooting.md).

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InheritedLabel {
    pub value: String,
    /// The profile that applies it.
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointInfo {
    pub kind: EndpointKind,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub node: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    pub ips: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub inherited_labels: BTreeMap<String, InheritedLabel>,
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub tier: String,
}

impl PolicyRef {
    fn of(p: &Policy) -> PolicyRef {
        PolicyRef {
            kind: p.kind.as_str().into(),
            name: p.name.clone(),
            namespace: p.namespace.clone(),
            tier: p.tier.clone(),
        }
    }
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatch {
    #[serde(flatten)]
    pub policy: PolicyRef,
    pub order: Option<f64>,
    /// The selector as written.
    pub selector: String,
    /// What Felix evaluates (namespace / service account scoping applied).
    pub effective_selector: String,
    /// The endpoint's values of the labels the selector names (absent labels omitted).
    pub matched_labels: BTreeMap<String, String>,
    pub rules: usize,
    pub staged: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierExplain {
    pub name: String,
    pub order: Option<f64>,
    pub default_action: String,
    pub policies: Vec<PolicyMatch>,
    /// What happens when no rule of the tier's policies matched: `Deny`, `Pass`, or
    /// `Pass (only staged policies)`.
    pub end_of_tier: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileInfo {
    pub name: String,
    pub exists: bool,
    pub rules: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectionExplain {
    pub tiers: Vec<TierExplain>,
    pub profiles: Vec<ProfileInfo>,
    /// Policies that select the endpoint but never act on this chain (doNotTrack / preDNAT
    /// on a workload, or only rendered on host forward chains).
    pub ignored: Vec<IgnoredPolicy>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredPolicy {
    #[serde(flatten)]
    pub policy: PolicyRef,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub endpoint: EndpointInfo,
    pub ingress: DirectionExplain,
    pub egress: DirectionExplain,
    pub notes: Vec<String>,
}

/// One match criterion of a rule and whether the packet met it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Criterion {
    pub field: String,
    pub ok: bool,
    pub detail: String,
}

/// One evaluated element of a chain.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// `rule`, `noRuleMatched`, `endOfTier`, `profileRule`, `failsafe`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub matched: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<Criterion>,
}

/// What settled a hop.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// `rule`, `endOfTier`, `profile`, `noProfileMatched`, `failsafe`,
    /// `endpointToHostAction`, `hostToLocalWorkload`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// Human summary, e.g. `KubernetesNetworkPolicy shop/allow-web-to-db, ingress rule 0`.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    /// `WorkloadEndpoint ns/name` or `HostEndpoint name` (or the node, for host traffic).
    pub endpoint: String,
    pub direction: Direction,
    /// `Allow` or `Deny`.
    pub verdict: String,
    pub decision: Decision,
    pub steps: Vec<Step>,
    /// Tiers left through Pass on the way to the decision.
    pub passed_tiers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// `WorkloadEndpoint`, `HostEndpoint`, `Host` (a node address, no host endpoint) or
    /// `External`.
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    pub ip: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedOutcome {
    /// The verdict if every staged policy were enforced (replacing the policy of the same
    /// name; `stagedAction: Delete` removing it).
    pub verdict: String,
    pub would_change: bool,
    pub hops: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub packet: Packet,
    pub source: PeerInfo,
    pub destination: PeerInfo,
    pub hops: Vec<Hop>,
    /// `Allow` or `Deny`.
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<StagedOutcome>,
    pub notes: Vec<String>,
    /// What a static evaluation cannot see.
    pub limits: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRef {
    pub kind: EndpointKind,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub node: String,
    pub ips: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectingPolicy {
    #[serde(flatten)]
    pub policy: PolicyRef,
    pub order: Option<f64>,
    pub effective_selector: String,
    pub directions: Vec<Direction>,
    pub staged: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoSelects {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    pub endpoints: Vec<EndpointRef>,
    pub policies: Vec<SelectingPolicy>,
}

/// The fixed list of what a static evaluation does not see.
pub const LIMITS: &[&str] = &[
    "dataplane state: established connections (conntrack), IPVS, QoS limits, the node's real iptables/nftables/eBPF programs and Felix's health are not seen; this is what the datastore says Felix should enforce",
    "DNS policy: Calico open source v3.32 has no domain-name rules; traffic is judged by IP address only",
    "L7 rules: an `http` clause is reported but not enforced here (the L3/L4 dataplane ignores it; the application layer checks it)",
    "failsafe ports: applied to host endpoints only, before any policy, and reported as decision `failsafe`",
    "host endpoint applyOnForward, preDNAT and doNotTrack chains, and Kubernetes Service matches, are not evaluated",
];

// ---------------------------------------------------------------------------------------------

/// Which policies take part: what is enforced, or what would be if staged ones were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Enforced,
    Staged,
}

impl Snapshot {
    fn in_view(&self, p: &Policy, view: View) -> bool {
        match view {
            View::Enforced => !p.kind.is_staged(),
            View::Staged => {
                if p.kind.is_staged() {
                    !p.staged_delete
                } else {
                    !self
                        .staged_targets
                        .contains(&(p.kind, p.name.clone(), p.namespace.clone()))
                }
            }
        }
    }

    /// Finds an endpoint the way the user named it.
    pub fn find(&self, spec: &PeerSpec) -> Result<usize, PolicyError> {
        match spec {
            PeerSpec::Host(name) => self
                .endpoints
                .iter()
                .position(|e| e.kind == EndpointKind::HostEndpoint && &e.name == name)
                .ok_or_else(|| {
                    PolicyError::UnknownEndpoint(format!("HostEndpoint {name:?} not found"))
                }),
            PeerSpec::Workload { namespace, name } => {
                let wep = |e: &Endpoint| {
                    e.kind == EndpointKind::WorkloadEndpoint
                        && &e.namespace == namespace
                        && (&e.name == name || &e.pod == name)
                };
                if let Some(i) = self.endpoints.iter().position(wep) {
                    return Ok(i);
                }
                if self.no_ip_weps.iter().any(|(ns, n)| {
                    ns == namespace && (n == name || n.contains(&format!("-k8s-{name}-")))
                }) {
                    return Err(PolicyError::UnknownEndpoint(format!(
                        "WorkloadEndpoint {namespace}/{name} has no IP address: Felix does not program it (pod not running or not yet networked)"
                    )));
                }
                if let Some(i) = self
                    .endpoints
                    .iter()
                    .position(|e| e.kind == EndpointKind::HostEndpoint && &e.name == name)
                {
                    return Ok(i);
                }
                Err(PolicyError::UnknownEndpoint(format!(
                    "no WorkloadEndpoint or pod {name:?} in namespace {namespace:?} and no HostEndpoint {name:?} (name a workload as NAMESPACE/NAME, a host endpoint as hostendpoint/NAME)"
                )))
            }
            PeerSpec::Address(ip, _) => self.endpoints_at(*ip).first().copied().ok_or_else(|| {
                PolicyError::UnknownEndpoint(format!("no endpoint has address {ip}"))
            }),
        }
    }

    pub fn endpoint_info(&self, e: &Endpoint) -> EndpointInfo {
        let mut inherited = BTreeMap::new();
        for p in &e.profiles {
            if let Some(prof) = self.profiles.get(p) {
                for (k, v) in &prof.labels {
                    if !e.labels.contains_key(k) && !inherited.contains_key(k) {
                        inherited.insert(
                            k.clone(),
                            InheritedLabel {
                                value: v.clone(),
                                from: p.clone(),
                            },
                        );
                    }
                }
            }
        }
        EndpointInfo {
            kind: e.kind,
            name: e.name.clone(),
            namespace: e.namespace.clone(),
            node: e.node.clone(),
            pod: e.pod.clone(),
            interface_name: e.interface.clone(),
            ips: e.ips.iter().map(IpAddr::to_string).collect(),
            labels: e.labels.clone(),
            inherited_labels: inherited,
            profiles: e.profiles.clone(),
        }
    }

    /// Policies whose selector matches the endpoint, in Felix's order.
    fn selecting(&self, e: &Endpoint) -> Vec<usize> {
        (0..self.policies.len())
            .filter(|&i| self.matches(&self.policies[i].selector.sel, &e.labels, &e.profiles))
            .collect()
    }

    /// Which chain class a policy belongs to for this endpoint (None = normal chain).
    fn ignored_reason(p: &Policy, e: &Endpoint) -> Option<&'static str> {
        match (e.kind, p.do_not_track, p.pre_dnat) {
            (EndpointKind::WorkloadEndpoint, true, _) => {
                Some("doNotTrack policies never apply to workload traffic")
            }
            (EndpointKind::WorkloadEndpoint, _, true) => {
                Some("preDNAT policies never apply to workload traffic")
            }
            (EndpointKind::HostEndpoint, true, _) => {
                Some("doNotTrack: untracked chain (raw table), not evaluated here")
            }
            (EndpointKind::HostEndpoint, _, true) => {
                Some("preDNAT: pre-DNAT chain (mangle table), not evaluated here")
            }
            _ => None,
        }
    }

    /// explain: per direction, the tiers and policies that select the endpoint, then profiles.
    pub fn explain(&self, idx: usize) -> Explanation {
        let e = &self.endpoints[idx];
        let selecting = self.selecting(e);
        let dir = |d: Direction| {
            let mut tiers: Vec<TierExplain> = Vec::new();
            let mut ignored = Vec::new();
            for &i in &selecting {
                let p = &self.policies[i];
                let Some(rules) = p.rules(d) else { continue };
                if let Some(r) = Self::ignored_reason(p, e) {
                    ignored.push(IgnoredPolicy {
                        policy: PolicyRef::of(p),
                        reason: r.into(),
                    });
                    continue;
                }
                let t = &self.tiers[self.policy_tier[i]];
                if tiers.last().is_none_or(|x| x.name != t.name) {
                    tiers.push(TierExplain {
                        name: t.name.clone(),
                        order: t.order,
                        default_action: if t.default_pass { "Pass" } else { "Deny" }.into(),
                        policies: Vec::new(),
                        end_of_tier: String::new(),
                    });
                }
                let matched_labels = p
                    .selector
                    .sel
                    .label_names()
                    .into_iter()
                    .filter_map(|k| {
                        self.label(&e.labels, &e.profiles, &k)
                            .map(|v| (k.clone(), v.to_string()))
                    })
                    .collect();
                tiers
                    .last_mut()
                    .expect("pushed")
                    .policies
                    .push(PolicyMatch {
                        policy: PolicyRef::of(p),
                        order: p.order,
                        selector: p.written_selector.clone(),
                        effective_selector: p.selector.text.clone(),
                        matched_labels,
                        rules: rules.len(),
                        staged: p.kind.is_staged(),
                    });
            }
            for t in &mut tiers {
                let tier = self.tiers.iter().find(|x| x.name == t.name).expect("tier");
                t.end_of_tier = if t.policies.iter().all(|p| p.staged) {
                    "Pass (only staged policies)".into()
                } else if tier.default_pass {
                    "Pass".into()
                } else {
                    "Deny".into()
                };
            }
            let profiles = e
                .profiles
                .iter()
                .map(|p| match self.profiles.get(p) {
                    Some(prof) => ProfileInfo {
                        name: p.clone(),
                        exists: true,
                        rules: match d {
                            Direction::Ingress => prof.ingress.len(),
                            Direction::Egress => prof.egress.len(),
                        },
                    },
                    None => ProfileInfo {
                        name: p.clone(),
                        exists: false,
                        rules: 1,
                    },
                })
                .collect();
            DirectionExplain {
                tiers,
                profiles,
                ignored,
            }
        };
        let mut notes = self.notes.clone();
        for p in &e.profiles {
            if !self.profiles.contains_key(p) {
                notes.push(format!(
                    "profile {p:?} does not exist: Felix replaces it with one that denies everything"
                ));
            }
        }
        if e.kind == EndpointKind::HostEndpoint {
            notes.push(
                "host endpoint: failsafe ports are allowed before any policy (see trace)".into(),
            );
        }
        Explanation {
            endpoint: self.endpoint_info(e),
            ingress: dir(Direction::Ingress),
            egress: dir(Direction::Egress),
            notes,
        }
    }

    /// Objects (endpoints, network sets) containing an IP, with their labels.
    fn holders(&self, ip: IpAddr) -> Vec<Holder<'_>> {
        let mut v: Vec<Holder> = self
            .endpoints_at(ip)
            .iter()
            .map(|&i| {
                let e = &self.endpoints[i];
                Holder {
                    name: e.display(),
                    labels: &e.labels,
                    profiles: &e.profiles,
                    endpoint: Some(e),
                }
            })
            .collect();
        for s in &self.netsets {
            if s.nets.iter().any(|n| n.contains(&ip)) {
                v.push(Holder {
                    name: if s.global {
                        format!("GlobalNetworkSet {}", s.name)
                    } else {
                        format!("NetworkSet {}/{}", s.namespace, s.name)
                    },
                    labels: &s.labels,
                    profiles: &s.profiles,
                    endpoint: None,
                });
            }
        }
        v
    }

    fn holder_matches(&self, h: &Holder, pos: Option<&Side>, side: &Side) -> bool {
        let p = pos
            .and_then(|s| s.selector.as_ref())
            .is_none_or(|s| self.matches(&s.sel, h.labels, h.profiles));
        let q = side
            .not_selector
            .as_ref()
            .is_some_and(|s| self.matches(&s.sel, h.labels, h.profiles));
        p && !q
    }

    /// Evaluates one side of a rule; pushes a criterion per present field.
    fn side(&self, side: &Side, at: &SideProbe, out: &mut Vec<Criterion>) {
        let SideProbe {
            which,
            ip,
            port,
            pkt_proto,
            rule_proto,
            holders,
        } = *at;
        let v6 = ip.is_ipv6();
        let fam = |n: &&IpNet| matches!(n, IpNet::V6(_)) == v6;
        let mut push = |field: &str, ok: bool, detail: String| {
            out.push(Criterion {
                field: format!("{which}.{field}"),
                ok,
                detail,
            })
        };
        if !side.nets.is_empty() {
            let f: Vec<&IpNet> = side.nets.iter().filter(fam).collect();
            let list = join(&side.nets);
            if f.is_empty() {
                push(
                    "nets",
                    false,
                    format!(
                        "[{list}] has no {} CIDR: the rule is dropped for this address family",
                        if v6 { "IPv6" } else { "IPv4" }
                    ),
                );
            } else {
                let ok = f.iter().any(|n| n.contains(&ip));
                push(
                    "nets",
                    ok,
                    format!("{ip} {} [{list}]", if ok { "in" } else { "not in" }),
                );
            }
        }
        if !side.not_nets.is_empty() {
            let f: Vec<&IpNet> = side.not_nets.iter().filter(fam).collect();
            let list = join(&side.not_nets);
            if f.is_empty() {
                push(
                    "notNets",
                    false,
                    format!(
                        "[{list}] has no {} CIDR: the rule is dropped for this address family",
                        if v6 { "IPv6" } else { "IPv4" }
                    ),
                );
            } else if f.iter().any(|n| n.prefix_len() == 0) {
                push(
                    "notNets",
                    false,
                    format!("[{list}] holds a catch-all CIDR: the rule matches nothing"),
                );
            } else {
                let ok = !f.iter().any(|n| n.contains(&ip));
                push(
                    "notNets",
                    ok,
                    format!("{ip} {} [{list}]", if ok { "not in" } else { "in" }),
                );
            }
        }
        let names = |hs: &[&Holder]| {
            hs.iter()
                .map(|h| h.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (&side.selector, &side.not_selector) {
            (None, None) => {}
            (Some(p), q) => {
                let hit: Vec<&Holder> = holders
                    .iter()
                    .filter(|h| self.holder_matches(h, Some(side), side))
                    .collect();
                let sel = match q {
                    Some(q) => format!("({}) && !({})", p.text, q.text),
                    None => p.text.clone(),
                };
                let detail = if !hit.is_empty() {
                    format!("{ip} is {} which matches {sel}", names(&hit))
                } else if holders.is_empty() {
                    format!("no Calico endpoint or network set holds {ip}, so {sel} cannot match")
                } else {
                    let all: Vec<&Holder> = holders.iter().collect();
                    format!("{ip} is {}, which does not match {sel}", names(&all))
                };
                push("selector", !hit.is_empty(), detail);
            }
            (None, Some(q)) => {
                let hit: Vec<&Holder> = holders
                    .iter()
                    .filter(|h| self.matches(&q.sel, h.labels, h.profiles))
                    .collect();
                let detail = if hit.is_empty() {
                    format!("no object holding {ip} matches {}", q.text)
                } else {
                    format!("{ip} is {} which matches {}", names(&hit), q.text)
                };
                push("notSelector", hit.is_empty(), detail);
            }
        }
        let named_hit = |n: &str| -> Option<String> {
            let port = port?;
            holders.iter().find_map(|h| {
                let e = h.endpoint?;
                if let Some(s) = &side.selector
                    && !self.matches(&s.sel, h.labels, h.profiles)
                {
                    return None;
                }
                e.ports
                    .iter()
                    .find(|np| {
                        np.name == n
                            && np.port == port
                            && np.protocol == pkt_proto
                            && rule_proto.is_none_or(|r| r == np.protocol)
                    })
                    .map(|np| {
                        format!(
                            "{} declares {n} = {}/{}",
                            h.name,
                            np.port,
                            protocol_name(np.protocol)
                        )
                    })
            })
        };
        let port_hit = |specs: &[PortSpec]| -> Option<String> {
            let p = port?;
            for s in specs {
                match s {
                    PortSpec::Range(a, b) if (*a..=*b).contains(&p) => {
                        return Some(format!("port {p} in {s}"));
                    }
                    PortSpec::Named(n) => {
                        if let Some(d) = named_hit(n) {
                            return Some(d);
                        }
                    }
                    _ => {}
                }
            }
            None
        };
        let list = |specs: &[PortSpec]| {
            specs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (field, specs, negated) in [
            ("ports", &side.ports, false),
            ("notPorts", &side.not_ports, true),
        ] {
            if specs.is_empty() {
                continue;
            }
            match (port, port_hit(specs)) {
                (None, _) => push(
                    field,
                    false,
                    format!(
                        "the packet has no {which} port; [{}] needs one",
                        list(specs)
                    ),
                ),
                (Some(_), Some(d)) => push(field, !negated, d),
                (Some(p), None) => {
                    push(field, negated, format!("port {p} not in [{}]", list(specs)))
                }
            }
        }
        if let Some((name, ns)) = &side.service {
            push(
                "services",
                false,
                format!(
                    "Kubernetes Service {ns}/{name}: EndpointSlices are not evaluated, treated as no match"
                ),
            );
        }
    }

    /// Whether a rule matches; the criteria it checked, in order.
    pub fn rule_matches(
        &self,
        r: &Rule,
        pkt: &Packet,
        src: &[Holder],
        dst: &[Holder],
    ) -> (bool, Vec<Criterion>) {
        let mut c = Vec::new();
        let v = if pkt.source.is_ipv6() { 6 } else { 4 };
        if let Some(want) = r.ip_version {
            c.push(Criterion {
                field: "ipVersion".into(),
                ok: want == v,
                detail: format!("rule is IPv{want}-only, packet is IPv{v}"),
            });
        }
        if let Some(p) = r.protocol {
            c.push(Criterion {
                field: "protocol".into(),
                ok: p == pkt.protocol,
                detail: format!(
                    "rule {}, packet {}",
                    protocol_name(p),
                    protocol_name(pkt.protocol)
                ),
            });
        }
        if let Some(p) = r.not_protocol {
            c.push(Criterion {
                field: "notProtocol".into(),
                ok: p != pkt.protocol,
                detail: format!(
                    "rule not {}, packet {}",
                    protocol_name(p),
                    protocol_name(pkt.protocol)
                ),
            });
        }
        let icmp_is = |(t, code): (Option<u8>, Option<u8>)| {
            matches!(pkt.protocol, 1 | 58)
                && t.is_none_or(|t| pkt.icmp_type == Some(t))
                && code.is_none_or(|x| pkt.icmp_code == Some(x))
        };
        let icmp_text = |(t, code): (Option<u8>, Option<u8>)| {
            format!(
                "type {} code {} (packet type {} code {})",
                t.map_or("any".into(), |x| x.to_string()),
                code.map_or("any".into(), |x| x.to_string()),
                pkt.icmp_type.map_or("-".into(), |x| x.to_string()),
                pkt.icmp_code.map_or("-".into(), |x| x.to_string())
            )
        };
        if let Some(i) = r.icmp {
            c.push(Criterion {
                field: "icmp".into(),
                ok: icmp_is(i),
                detail: icmp_text(i),
            });
        }
        if let Some(i) = r.not_icmp {
            c.push(Criterion {
                field: "notICMP".into(),
                ok: !icmp_is(i),
                detail: icmp_text(i),
            });
        }
        let probe = SideProbe {
            which: "source",
            ip: pkt.source,
            port: pkt.source_port,
            pkt_proto: pkt.protocol,
            rule_proto: r.protocol,
            holders: src,
        };
        self.side(&r.src, &probe, &mut c);
        let probe = SideProbe {
            which: "destination",
            ip: pkt.destination,
            port: pkt.destination_port,
            pkt_proto: pkt.protocol,
            rule_proto: r.protocol,
            holders: dst,
        };
        self.side(&r.dst, &probe, &mut c);
        let ok = c.iter().all(|x| x.ok);
        if r.http {
            c.push(Criterion {
                field: "http".into(),
                ok: true,
                detail: "HTTP match is L7: not enforced by the L3/L4 dataplane; matched at L4 subject to the application layer".into(),
            });
        }
        (ok, c)
    }

    /// Felix's per-endpoint, per-direction chain (§ normal chain): failsafes for host
    /// endpoints, tiers in order, then profiles, then deny.
    pub fn chain(&self, idx: usize, d: Direction, pkt: &Packet, view: View) -> Hop {
        let e = &self.endpoints[idx];
        let src = self.holders(pkt.source);
        let dst = self.holders(pkt.destination);
        let mut steps = Vec::new();
        let mut passed = Vec::new();
        let mut notes = Vec::new();
        let hop = |verdict: &str,
                   decision: Decision,
                   steps: Vec<Step>,
                   passed: Vec<String>,
                   notes: Vec<String>| Hop {
            endpoint: e.display(),
            direction: d,
            verdict: verdict.into(),
            decision,
            steps,
            passed_tiers: passed,
            notes,
        };
        if e.kind == EndpointKind::HostEndpoint {
            let (list, peer, port) = match d {
                Direction::Ingress => (&self.failsafe_in, pkt.source, pkt.destination_port),
                Direction::Egress => (&self.failsafe_out, pkt.destination, pkt.destination_port),
            };
            if let Some(f) = failsafe_hit(list, pkt.protocol, port, peer) {
                let reason = format!(
                    "failsafe {} {}/{}",
                    d.as_str(),
                    protocol_name(f.protocol),
                    f.port
                );
                return hop(
                    "Allow",
                    Decision {
                        kind: "failsafe".into(),
                        tier: None,
                        policy: None,
                        profile: None,
                        rule: None,
                        reason,
                    },
                    steps,
                    passed,
                    notes,
                );
            }
        }
        let selecting = self.selecting(e);
        let applicable: Vec<usize> = selecting
            .into_iter()
            .filter(|&i| {
                let p = &self.policies[i];
                p.rules(d).is_some()
                    && Self::ignored_reason(p, e).is_none()
                    && self.in_view(p, view)
            })
            .collect();
        let mut k = 0;
        while k < applicable.len() {
            let ti = self.policy_tier[applicable[k]];
            let tier = &self.tiers[ti];
            let mut end = k;
            while end < applicable.len() && self.policy_tier[applicable[end]] == ti {
                end += 1;
            }
            let mut pass = false;
            'pol: for &i in &applicable[k..end] {
                let p = &self.policies[i];
                let pref = PolicyRef::of(p);
                for (ri, r) in p.rules(d).expect("governs").iter().enumerate() {
                    let (m, criteria) = self.rule_matches(r, pkt, &src, &dst);
                    steps.push(Step {
                        kind: "rule".into(),
                        tier: Some(tier.name.clone()),
                        policy: Some(pref.clone()),
                        profile: None,
                        rule: Some(ri),
                        action: Some(r.action.as_str().into()),
                        matched: m,
                        criteria,
                    });
                    if !m {
                        continue;
                    }
                    if r.http && r.action == Action::Allow {
                        notes.push(format!("{} {} rule {ri} has an HTTP clause: allowed at L4, subject to the HTTP match at L7", pref.display(), d.as_str()));
                    }
                    let reason = format!("{}, {} rule {ri}", pref.display(), d.as_str());
                    let decision = |kind: &str| Decision {
                        kind: kind.into(),
                        tier: Some(tier.name.clone()),
                        policy: Some(pref.clone()),
                        profile: None,
                        rule: Some(ri),
                        reason: reason.clone(),
                    };
                    match r.action {
                        Action::Allow => {
                            return hop("Allow", decision("rule"), steps, passed, notes);
                        }
                        Action::Deny => return hop("Deny", decision("rule"), steps, passed, notes),
                        Action::Pass => {
                            pass = true;
                            break 'pol;
                        }
                        Action::Log => {}
                    }
                }
                steps.push(Step {
                    kind: "noRuleMatched".into(),
                    tier: Some(tier.name.clone()),
                    policy: Some(pref),
                    profile: None,
                    rule: None,
                    action: None,
                    matched: false,
                    criteria: Vec::new(),
                });
            }
            if pass {
                passed.push(tier.name.clone());
            } else if !tier.default_pass {
                steps.push(Step {
                    kind: "endOfTier".into(),
                    tier: Some(tier.name.clone()),
                    policy: None,
                    profile: None,
                    rule: None,
                    action: Some("Deny".into()),
                    matched: true,
                    criteria: Vec::new(),
                });
                let reason = format!(
                    "end of tier {}: default action Deny ({} policies applied, none allowed or passed)",
                    tier.name,
                    d.as_str()
                );
                return hop(
                    "Deny",
                    Decision {
                        kind: "endOfTier".into(),
                        tier: Some(tier.name.clone()),
                        policy: None,
                        profile: None,
                        rule: None,
                        reason,
                    },
                    steps,
                    passed,
                    notes,
                );
            } else {
                steps.push(Step {
                    kind: "endOfTier".into(),
                    tier: Some(tier.name.clone()),
                    policy: None,
                    profile: None,
                    rule: None,
                    action: Some("Pass".into()),
                    matched: true,
                    criteria: Vec::new(),
                });
                passed.push(tier.name.clone());
            }
            k = end;
        }
        for pname in &e.profiles {
            let missing;
            let prof = match self.profiles.get(pname) {
                Some(p) => p,
                None => {
                    missing = super::model::missing_profile(pname);
                    notes.push(format!(
                        "profile {pname:?} does not exist: Felix denies in its place"
                    ));
                    &missing
                }
            };
            let rules = match d {
                Direction::Ingress => &prof.ingress,
                Direction::Egress => &prof.egress,
            };
            for (ri, r) in rules.iter().enumerate() {
                let (m, criteria) = self.rule_matches(r, pkt, &src, &dst);
                steps.push(Step {
                    kind: "profileRule".into(),
                    tier: None,
                    policy: None,
                    profile: Some(pname.clone()),
                    rule: Some(ri),
                    action: Some(r.action.as_str().into()),
                    matched: m,
                    criteria,
                });
                if !m {
                    continue;
                }
                let after = if passed.is_empty() {
                    String::new()
                } else {
                    format!(" (after {})", passed.join(", "))
                };
                let reason = format!("profile {pname}, {} rule {ri}{after}", d.as_str());
                let decision = Decision {
                    kind: "profile".into(),
                    tier: None,
                    policy: None,
                    profile: Some(pname.clone()),
                    rule: Some(ri),
                    reason,
                };
                match r.action {
                    Action::Allow => return hop("Allow", decision, steps, passed, notes),
                    Action::Deny => return hop("Deny", decision, steps, passed, notes),
                    // iptables: stop this profile, try the next one (eBPF denies here).
                    Action::Pass => {
                        notes.push(format!("profile {pname} rule {ri} is Pass: the iptables/nftables dataplane moves to the next profile, eBPF denies"));
                        break;
                    }
                    Action::Log => {}
                }
            }
        }
        let reason = if e.profiles.is_empty() {
            format!(
                "no policy or profile allowed: {} denied (the endpoint has no profiles)",
                d.as_str()
            )
        } else {
            format!("no profile matched: {} denied", d.as_str())
        };
        hop(
            "Deny",
            Decision {
                kind: "noProfileMatched".into(),
                tier: None,
                policy: None,
                profile: None,
                rule: None,
                reason,
            },
            steps,
            passed,
            notes,
        )
    }

    fn peer(&self, spec: &PeerSpec) -> Result<(Option<usize>, IpAddr, PeerInfo), PolicyError> {
        match spec {
            PeerSpec::Address(ip, _) => {
                if let Some(&i) = self.endpoints_at(*ip).first() {
                    let e = &self.endpoints[i];
                    return Ok((Some(i), *ip, self.peer_info(e, *ip)));
                }
                Ok((
                    None,
                    *ip,
                    PeerInfo {
                        kind: "External".into(),
                        name: String::new(),
                        namespace: String::new(),
                        node: String::new(),
                        ip: ip.to_string(),
                    },
                ))
            }
            _ => {
                let i = self.find(spec)?;
                let e = &self.endpoints[i];
                let ip = *e.ips.first().ok_or_else(|| {
                    PolicyError::UnknownEndpoint(format!("{} has no IP address (a host endpoint needs expectedIPs); give the address instead", e.display()))
                })?;
                Ok((Some(i), ip, self.peer_info(e, ip)))
            }
        }
    }

    fn peer_info(&self, e: &Endpoint, ip: IpAddr) -> PeerInfo {
        PeerInfo {
            kind: match e.kind {
                EndpointKind::WorkloadEndpoint => "WorkloadEndpoint".into(),
                EndpointKind::HostEndpoint => "HostEndpoint".into(),
            },
            name: e.name.clone(),
            namespace: e.namespace.clone(),
            node: e.node.clone(),
            ip: ip.to_string(),
        }
    }

    fn hops(
        &self,
        src: Option<usize>,
        dst: Option<usize>,
        pkt: &Packet,
        view: View,
        notes: &mut Vec<String>,
    ) -> Vec<Hop> {
        let mut hops = Vec::new();
        let kind = |i: usize| self.endpoints[i].kind;
        let node = |i: usize| self.endpoints[i].node.as_str();
        match src {
            Some(s) if kind(s) == EndpointKind::WorkloadEndpoint => {
                hops.push(self.chain(s, Direction::Egress, pkt, view));
                match dst {
                    Some(t) if kind(t) == EndpointKind::HostEndpoint && node(t) == node(s) => {
                        let action = self
                            .node_endpoint_to_host
                            .get(node(s))
                            .cloned()
                            .unwrap_or_else(|| self.endpoint_to_host.clone());
                        let source = if self.node_endpoint_to_host.contains_key(node(s)) {
                            format!("FelixConfiguration node.{}", node(s))
                        } else {
                            self.endpoint_to_host_source.clone()
                        };
                        let allow = action != "DROP";
                        let ep = &self.endpoints[t];
                        hops.push(Hop {
                            endpoint: ep.display(),
                            direction: Direction::Ingress,
                            verdict: if allow { "Allow" } else { "Deny" }.into(),
                            decision: Decision { kind: "endpointToHostAction".into(), tier: None, policy: None, profile: None, rule: None, reason: format!("workload to its own host: DefaultEndpointToHostAction {action} ({source}); the host endpoint's ingress policy is not applied") },
                            steps: Vec::new(),
                            passed_tiers: Vec::new(),
                            notes: Vec::new(),
                        });
                    }
                    Some(t) => hops.push(self.chain(t, Direction::Ingress, pkt, view)),
                    None => notes.push(format!(
                        "{} belongs to no Calico endpoint: no ingress policy at the destination",
                        pkt.destination
                    )),
                }
            }
            Some(s) => {
                // A host endpoint as source: a process on that host.
                match dst {
                    Some(t) if kind(t) == EndpointKind::WorkloadEndpoint && node(t) == node(s) => {
                        hops.push(Hop {
                            endpoint: self.endpoints[t].display(),
                            direction: Direction::Ingress,
                            verdict: "Allow".into(),
                            decision: Decision { kind: "hostToLocalWorkload".into(), tier: None, policy: None, profile: None, rule: None, reason: format!("traffic from host {} to a local workload is always allowed; no policy is evaluated", node(s)) },
                            steps: Vec::new(),
                            passed_tiers: Vec::new(),
                            notes: Vec::new(),
                        });
                    }
                    _ => {
                        hops.push(self.chain(s, Direction::Egress, pkt, view));
                        match dst {
                            Some(t) => hops.push(self.chain(t, Direction::Ingress, pkt, view)),
                            None => notes.push(format!("{} belongs to no Calico endpoint: no ingress policy at the destination", pkt.destination)),
                        }
                    }
                }
            }
            None => {
                notes.push(format!(
                    "{} belongs to no Calico endpoint: no egress policy at the source",
                    pkt.source
                ));
                match dst {
                    Some(t) => hops.push(self.chain(t, Direction::Ingress, pkt, view)),
                    None => notes.push(format!(
                        "{} belongs to no Calico endpoint: no ingress policy at the destination",
                        pkt.destination
                    )),
                }
            }
        }
        hops
    }

    /// trace: the verdict for egress at the source and ingress at the destination.
    pub fn trace(&self, q: &TraceQuery) -> Result<Trace, PolicyError> {
        let (si, sip, sinfo) = self.peer(&q.from)?;
        let (di, dip, dinfo) = self.peer(&q.to)?;
        if sip.is_ipv6() != dip.is_ipv6() {
            return Err(PolicyError::Invalid(format!(
                "source {sip} and destination {dip} are not of the same IP family"
            )));
        }
        let ports = matches!(q.protocol, 6 | 17 | 132 | 136);
        if !ports && (q.destination_port.is_some() || q.source_port.is_some()) {
            return Err(PolicyError::Invalid(format!(
                "protocol {} has no ports",
                protocol_name(q.protocol)
            )));
        }
        let icmp = matches!(q.protocol, 1 | 58);
        if !icmp && (q.icmp_type.is_some() || q.icmp_code.is_some()) {
            return Err(PolicyError::Invalid(
                "--icmp-type/--icmp-code need protocol ICMP or ICMPv6".into(),
            ));
        }
        if (q.protocol == 1 && dip.is_ipv6()) || (q.protocol == 58 && !dip.is_ipv6()) {
            return Err(PolicyError::Invalid(format!(
                "protocol {} does not go with {dip}",
                protocol_name(q.protocol)
            )));
        }
        let pkt = Packet {
            source: sip,
            destination: dip,
            protocol: q.protocol,
            source_port: q.source_port,
            destination_port: q.destination_port,
            icmp_type: q.icmp_type,
            icmp_code: q.icmp_code,
        };
        let mut notes = self.notes.clone();
        for (spec, ip) in [(&q.from, sip), (&q.to, dip)] {
            if let PeerSpec::Address(_, Some(n)) = spec {
                notes.push(format!("{n} evaluated as its first address {ip}"));
            }
            let n = self.endpoints_at(ip).len();
            if n > 1 {
                notes.push(format!("{n} endpoints hold {ip}; the first is used"));
            }
        }
        let hops = self.hops(si, di, &pkt, View::Enforced, &mut notes);
        let verdict = overall(&hops);
        let staged = if self.policies.iter().any(|p| p.kind.is_staged()) {
            let mut ignore = Vec::new();
            let shops = self.hops(si, di, &pkt, View::Staged, &mut ignore);
            let sv = overall(&shops);
            let changed = sv != verdict
                || shops
                    .iter()
                    .zip(&hops)
                    .any(|(a, b)| a.verdict != b.verdict || a.decision.reason != b.decision.reason);
            Some(StagedOutcome {
                verdict: sv,
                would_change: changed,
                hops: shops,
            })
        } else {
            None
        };
        Ok(Trace {
            packet: pkt,
            source: sinfo,
            destination: dinfo,
            hops,
            verdict,
            staged,
            notes,
            limits: LIMITS.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// The endpoints a selector (as written, no namespace scoping) matches.
    pub fn endpoints_selected(&self, text: &str) -> Result<Vec<EndpointRef>, PolicyError> {
        let sel = crate::model::selector::parse(text)
            .map_err(|e| PolicyError::Invalid(format!("invalid selector {text:?}: {e}")))?;
        Ok(self
            .endpoints
            .iter()
            .filter(|e| self.matches(&sel, &e.labels, &e.profiles))
            .map(|e| EndpointRef {
                kind: e.kind,
                name: e.name.clone(),
                namespace: e.namespace.clone(),
                node: e.node.clone(),
                ips: e.ips.iter().map(IpAddr::to_string).collect(),
            })
            .collect())
    }

    /// The policies whose effective selector matches a label set; with `namespace`, the set
    /// also gets `projectcalico.org/namespace` and the labels of profile `kns.<namespace>`.
    pub fn policies_selecting(
        &self,
        labels: &BTreeMap<String, String>,
        namespace: Option<&str>,
    ) -> Vec<SelectingPolicy> {
        let mut own = labels.clone();
        let mut profiles = Vec::new();
        if let Some(ns) = namespace {
            own.insert(super::model::NS_LABEL.into(), ns.into());
            profiles.push(format!("kns.{ns}"));
        }
        self.policies
            .iter()
            .filter(|p| self.matches(&p.selector.sel, &own, &profiles))
            .map(|p| SelectingPolicy {
                policy: PolicyRef::of(p),
                order: p.order,
                effective_selector: p.selector.text.clone(),
                directions: [Direction::Ingress, Direction::Egress]
                    .into_iter()
                    .filter(|d| p.rules(*d).is_some())
                    .collect(),
                staged: p.kind.is_staged(),
            })
            .collect()
    }
}

fn overall(hops: &[Hop]) -> String {
    if hops.iter().all(|h| h.verdict == "Allow") {
        "Allow"
    } else {
        "Deny"
    }
    .into()
}

fn join(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn failsafe_hit(
    list: &[Failsafe],
    proto: u8,
    port: Option<u16>,
    peer: IpAddr,
) -> Option<&Failsafe> {
    let port = port?;
    list.iter()
        .find(|f| f.protocol == proto && f.port == port && f.net.is_none_or(|n| n.contains(&peer)))
}

/// One side of a packet as a rule side sees it.
#[derive(Clone, Copy)]
struct SideProbe<'a, 'h> {
    which: &'static str,
    ip: IpAddr,
    port: Option<u16>,
    pkt_proto: u8,
    rule_proto: Option<u8>,
    holders: &'a [Holder<'h>],
}

/// An object that holds an IP, as a peer of a rule.
pub struct Holder<'a> {
    name: String,
    labels: &'a BTreeMap<String, String>,
    profiles: &'a [String],
    endpoint: Option<&'a Endpoint>,
}
