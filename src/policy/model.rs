//! What Felix sees: datastore objects normalised the way Calico's syncer update processors and
//! Felix's calculation graph rewrite them (policy selectors scoped to their namespace,
//! namespace/service-account selectors prefixed `pcns.` / `pcsa.`, rule peer selectors rewritten,
//! Kubernetes NetworkPolicies converted, endpoint labels with the implicit ones).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::model::kinds::str_at;
use crate::model::selector::{self, Selector, SelectorError};

pub const NS_LABEL: &str = "projectcalico.org/namespace";
pub const ORCH_LABEL: &str = "projectcalico.org/orchestrator";
pub const SA_LABEL: &str = "projectcalico.org/serviceaccount";

/// A rule action (empty is rendered as Allow by Felix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Action {
    Allow,
    Deny,
    Pass,
    Log,
}

impl Action {
    fn parse(s: &str) -> Action {
        match s.to_ascii_lowercase().as_str() {
            "deny" => Action::Deny,
            "pass" | "next-tier" => Action::Pass,
            "log" => Action::Log,
            _ => Action::Allow,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Deny => "Deny",
            Action::Pass => "Pass",
            Action::Log => "Log",
        }
    }
}

/// Traffic direction relative to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The policy kinds as Felix keys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    NetworkPolicy,
    GlobalNetworkPolicy,
    KubernetesNetworkPolicy,
    StagedNetworkPolicy,
    StagedGlobalNetworkPolicy,
    StagedKubernetesNetworkPolicy,
    /// A Kubernetes `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy (KDD only).
    KubernetesClusterNetworkPolicy,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "NetworkPolicy",
            PolicyKind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
            PolicyKind::KubernetesNetworkPolicy => "KubernetesNetworkPolicy",
            PolicyKind::StagedNetworkPolicy => "StagedNetworkPolicy",
            PolicyKind::StagedGlobalNetworkPolicy => "StagedGlobalNetworkPolicy",
            PolicyKind::StagedKubernetesNetworkPolicy => "StagedKubernetesNetworkPolicy",
            PolicyKind::KubernetesClusterNetworkPolicy => "KubernetesClusterNetworkPolicy",
        }
    }
    pub fn is_staged(self) -> bool {
        matches!(
            self,
            PolicyKind::StagedNetworkPolicy
                | PolicyKind::StagedGlobalNetworkPolicy
                | PolicyKind::StagedKubernetesNetworkPolicy
        )
    }
    /// The enforced kind a staged kind stands in for.
    pub fn enforced(self) -> PolicyKind {
        match self {
            PolicyKind::StagedNetworkPolicy => PolicyKind::NetworkPolicy,
            PolicyKind::StagedGlobalNetworkPolicy => PolicyKind::GlobalNetworkPolicy,
            PolicyKind::StagedKubernetesNetworkPolicy => PolicyKind::KubernetesNetworkPolicy,
            k => k,
        }
    }
}

/// A port criterion: an inclusive numeric range or a named port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Range(u16, u16),
    Named(String),
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSpec::Range(a, b) if a == b => write!(f, "{a}"),
            PortSpec::Range(a, b) => write!(f, "{a}:{b}"),
            PortSpec::Named(n) => write!(f, "{n}"),
        }
    }
}

/// Why a policy or profile cannot be converted (it is then ignored, as Felix does).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConvertError {
    /// `field` names what holds the selector: `selector`, `namespaceSelector` or
    /// `serviceAccountSelector`.
    #[error("invalid {field} {text:?}: {source}")]
    Selector {
        field: &'static str,
        text: String,
        source: SelectorError,
    },
    #[error("tier {0:?} is neither Admin nor Baseline")]
    ClusterTier(String),
    #[error("its subject selects neither namespaces nor pods")]
    ClusterSubject,
}

/// Parses `text`, the selector held by `field`.
fn parse_selector(field: &'static str, text: &str) -> Result<Selector, ConvertError> {
    selector::parse(text).map_err(|source| ConvertError::Selector {
        field,
        text: text.to_string(),
        source,
    })
}

/// A selector with its effective (rewritten) text.
#[derive(Debug, Clone)]
pub struct Sel {
    pub text: String,
    pub sel: Selector,
}

impl Sel {
    pub fn parse(text: &str) -> Result<Sel, ConvertError> {
        let sel = parse_selector("selector", text)?;
        Ok(Sel {
            text: text.to_string(),
            sel,
        })
    }
}

/// One side (source or destination) of a rule, after Felix's rewriting.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub nets: Vec<IpNet>,
    pub not_nets: Vec<IpNet>,
    /// Positive selector: namespace part AND (service accounts, selector).
    pub selector: Option<Sel>,
    pub not_selector: Option<Sel>,
    pub ports: Vec<PortSpec>,
    pub not_ports: Vec<PortSpec>,
    /// `services` (name, namespace): Kubernetes EndpointSlices are not loaded.
    pub service: Option<(String, String)>,
}

/// A normalised rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: Action,
    /// Explicit `ipVersion`, or the one implied by protocol ICMP / ICMPv6 given by name.
    pub ip_version: Option<u8>,
    pub protocol: Option<u8>,
    pub not_protocol: Option<u8>,
    pub icmp: Option<(Option<u8>, Option<u8>)>,
    pub not_icmp: Option<(Option<u8>, Option<u8>)>,
    pub src: Side,
    pub dst: Side,
    /// The rule carries an `http` clause (L7; not enforced by the L3/L4 dataplane).
    pub http: bool,
}

/// A policy of any kind, as Felix keys, orders and selects it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub kind: PolicyKind,
    pub name: String,
    pub namespace: String,
    pub tier: String,
    pub order: Option<f64>,
    /// The selector as written (`spec.selector`, or the K8s podSelector rendered).
    pub written_selector: String,
    /// The effective selector after namespace / service-account scoping.
    pub selector: Sel,
    /// `None` when the policy does not govern that direction.
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
    pub do_not_track: bool,
    pub pre_dnat: bool,
    pub apply_on_forward: bool,
    /// Staged with `stagedAction: Delete`: removes its enforced counterpart in the staged view.
    pub staged_delete: bool,
}

impl Policy {
    pub fn rules(&self, d: Direction) -> Option<&Vec<Rule>> {
        match d {
            Direction::Ingress => self.ingress.as_ref(),
            Direction::Egress => self.egress.as_ref(),
        }
    }
    /// Felix's tie-break string `<name>/<namespace>/<kind>`.
    pub fn sort_key(&self) -> String {
        format!("{}/{}/{}", self.name, self.namespace, self.kind.as_str())
    }
    /// The identity a staged policy shares with the policy it would replace.
    pub fn counterpart(&self) -> (PolicyKind, &str, &str) {
        (self.kind.enforced(), &self.name, &self.namespace)
    }
    /// `Kind ns/name` or `Kind name`.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind.as_str(), self.name)
        } else {
            format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
        }
    }
}

/// A tier (real, or synthesised for a built-in that has no resource, or missing).
#[derive(Debug, Clone)]
pub struct Tier {
    pub name: String,
    pub order: Option<f64>,
    /// Pass only when the resource says exactly `Pass`; otherwise Deny.
    pub default_pass: bool,
    /// False for tiers only named by policies: Felix sorts them last, default Deny.
    pub exists: bool,
    /// A built-in tier without a resource, assumed as Calico's client creates it.
    pub synthesised: bool,
}

/// A named port an endpoint declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub protocol: u8,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EndpointKind {
    WorkloadEndpoint,
    HostEndpoint,
}

/// A WorkloadEndpoint or HostEndpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub kind: EndpointKind,
    pub name: String,
    pub namespace: String,
    pub node: String,
    /// The pod (KDD / Kubernetes orchestrator) or empty.
    pub pod: String,
    pub interface: String,
    /// Own labels after Felix's rewriting (implicit labels added, `pcns.`/`pcsa.` dropped).
    pub labels: BTreeMap<String, String>,
    pub profiles: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub ports: Vec<NamedPort>,
}

impl Endpoint {
    pub fn display(&self) -> String {
        match self.kind {
            EndpointKind::WorkloadEndpoint => {
                format!("WorkloadEndpoint {}/{}", self.namespace, self.name)
            }
            EndpointKind::HostEndpoint => format!("HostEndpoint {}", self.name),
        }
    }
}

/// A NetworkSet or GlobalNetworkSet: only a peer, never selected by a policy.
#[derive(Debug, Clone)]
pub struct NetSet {
    pub global: bool,
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub profiles: Vec<String>,
    pub nets: Vec<IpNet>,
}

/// A profile: labels to apply and rules.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// A failsafe entry (`FelixConfiguration.failsafe{In,Out}boundHostPorts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failsafe {
    pub protocol: u8,
    pub port: u16,
    pub net: Option<IpNet>,
}

/// Felix's defaults for `failsafeInboundHostPorts` / `failsafeOutboundHostPorts`.
pub fn default_failsafes(d: Direction) -> Vec<Failsafe> {
    let (udp, tcp_ports): (&[u16], &[u16]) = match d {
        Direction::Ingress => (&[68], &[22, 179, 2379, 2380, 5473, 6443, 6666, 6667]),
        Direction::Egress => (&[53, 67], &[179, 2379, 2380, 5473, 6443, 6666, 6667]),
    };
    let mut v: Vec<Failsafe> = Vec::new();
    for p in tcp_ports {
        v.push(Failsafe {
            protocol: 6,
            port: *p,
            net: None,
        });
    }
    for p in udp {
        v.push(Failsafe {
            protocol: 17,
            port: *p,
            net: None,
        });
    }
    v
}

/// Protocol name or number → number (Calico's names, case-insensitive).
pub fn protocol_number(v: &Value) -> Option<u8> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Value::String(s) => protocol_from_str(s),
        _ => None,
    }
}

pub fn protocol_from_str(s: &str) -> Option<u8> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmpv6" => Some(58),
        "sctp" => Some(132),
        "udplite" => Some(136),
        other => other.parse().ok(),
    }
}

pub fn protocol_name(p: u8) -> String {
    match p {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        136 => "UDPLite".into(),
        n => n.to_string(),
    }
}

fn port_spec(v: &Value) -> Option<PortSpec> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(|p| PortSpec::Range(p, p)),
        Value::String(s) => {
            if let Some((a, b)) = s.split_once(':') {
                Some(PortSpec::Range(a.parse().ok()?, b.parse().ok()?))
            } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                let p = s.parse().ok()?;
                Some(PortSpec::Range(p, p))
            } else {
                Some(PortSpec::Named(s.clone()))
            }
        }
        _ => None,
    }
}

/// A CIDR or bare IP as Felix normalises it (host bits cleared); unparseable entries skipped.
pub fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

fn nets(v: Option<&Value>) -> Vec<IpNet> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().and_then(parse_net))
                .collect()
        })
        .unwrap_or_default()
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `(a) && (b)`, dropping empty parts.
fn and(parts: &[String]) -> String {
    let parts: Vec<&String> = parts.iter().filter(|p| !p.trim().is_empty()).collect();
    match parts.len() {
        0 => String::new(),
        1 => parts[0].clone(),
        _ => parts
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(" && "),
    }
}

/// A selector prefixed as a namespace/service-account selector, then `all()` (and, for rule
/// namespace selectors, `global()`) replaced textually as libcalico does.
fn prefixed(
    text: &str,
    prefix: &str,
    all_to: &str,
    global_to: Option<&str>,
) -> Result<String, ConvertError> {
    let sel = parse_selector("selector", text)?;
    let mut out = sel.prefixed(prefix).canonical().replace("all()", all_to);
    if let Some(g) = global_to {
        out = out.replace("global()", g);
    }
    Ok(out)
}

/// Rewrites one rule side (libcalico's `GetEntityRuleSelector`); `ns` is the policy's
/// namespace (empty for global policies and profiles).
fn side(v: Option<&Value>, ns: &str) -> Result<Side, ConvertError> {
    let Some(v) = v else {
        return Ok(Side::default());
    };
    let selector = s(v, "selector");
    let not_selector = s(v, "notSelector");
    let ns_selector = s(v, "namespaceSelector");
    let sa = v.get("serviceAccounts");
    let sa_names = strs(sa.and_then(|x| x.get("names")));
    let sa_sel = sa.map(|x| s(x, "selector")).unwrap_or("");
    let has_sa = sa.is_some_and(|x| !sa_names.is_empty() || !s(x, "selector").is_empty());
    let mut sel_parts = Vec::new();
    if !sa_names.is_empty() {
        let set = sa_names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ");
        sel_parts.push(format!("{SA_LABEL} in {{{set}}}"));
    }
    if !sa_sel.is_empty() {
        sel_parts.push(prefixed(
            sa_sel,
            "pcsa.",
            &format!("has({SA_LABEL})"),
            None,
        )?);
    }
    if !selector.is_empty() {
        sel_parts.push(selector.to_string());
    }
    let any = !selector.is_empty() || has_sa || !not_selector.is_empty() || !ns_selector.is_empty();
    let ns_part = if !ns_selector.is_empty() {
        prefixed(
            ns_selector,
            "pcns.",
            &format!("has({NS_LABEL})"),
            Some(&format!("!has({NS_LABEL})")),
        )?
    } else if !ns.is_empty() {
        format!("{NS_LABEL} == \"{ns}\"")
    } else {
        String::new()
    };
    let positive = if any {
        let sel = and(&sel_parts);
        let t = and(&[ns_part, sel]);
        if t.is_empty() {
            None
        } else {
            Some(Sel::parse(&t)?)
        }
    } else {
        None
    };
    let ports = |k: &str| -> Vec<PortSpec> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(port_spec).collect())
            .unwrap_or_default()
    };
    let service = v
        .get("services")
        .filter(|x| x.is_object())
        .map(|x| (s(x, "name").to_string(), s(x, "namespace").to_string()));
    Ok(Side {
        nets: nets(v.get("nets")),
        not_nets: nets(v.get("notNets")),
        selector: positive,
        not_selector: if not_selector.is_empty() {
            None
        } else {
            Some(Sel::parse(not_selector)?)
        },
        ports: ports("ports"),
        not_ports: ports("notPorts"),
        service,
    })
}

fn icmp(v: Option<&Value>) -> Option<(Option<u8>, Option<u8>)> {
    let v = v.filter(|x| x.is_object())?;
    let n = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())
    };
    Some((n("type"), n("code")))
}

/// A v3 rule → normalised rule.
pub fn rule(v: &Value, ns: &str) -> Result<Rule, ConvertError> {
    let protocol = v.get("protocol").and_then(protocol_number);
    let implied = match v.get("protocol") {
        Some(Value::String(p)) if p.eq_ignore_ascii_case("icmp") => Some(4),
        Some(Value::String(p)) if p.eq_ignore_ascii_case("icmpv6") => Some(6),
        _ => None,
    };
    let ip_version = v
        .get("ipVersion")
        .and_then(Value::as_u64)
        .map(|n| n as u8)
        .or(implied);
    Ok(Rule {
        action: Action::parse(s(v, "action")),
        ip_version,
        protocol,
        not_protocol: v.get("notProtocol").and_then(protocol_number),
        icmp: icmp(v.get("icmp")),
        not_icmp: icmp(v.get("notICMP")),
        src: side(v.get("source"), ns)?,
        dst: side(v.get("destination"), ns)?,
        http: v.get("http").is_some_and(|h| !h.is_null()),
    })
}

fn rules(v: Option<&Value>, ns: &str) -> Result<Vec<Rule>, ConvertError> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|r| rule(r, ns)).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

fn order(spec: &Value) -> Option<f64> {
    spec.get("order").and_then(Value::as_f64)
}

/// Which directions `types` governs (empty ⇒ both, compared case-insensitively).
fn governs(spec: &Value) -> (bool, bool) {
    let t = strs(spec.get("types"));
    if t.is_empty() {
        return (true, true);
    }
    (
        t.iter().any(|x| x.eq_ignore_ascii_case("ingress")),
        t.iter().any(|x| x.eq_ignore_ascii_case("egress")),
    )
}

/// A Calico NetworkPolicy / GlobalNetworkPolicy (or staged variant) as Felix sees it.
pub fn calico_policy(kind: PolicyKind, obj: &Value) -> Result<Policy, ConvertError> {
    let name = str_at(obj, &["metadata", "name"]);
    let namespace = str_at(obj, &["metadata", "namespace"]);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let written = s(spec, "selector").to_string();
    let global = matches!(
        kind,
        PolicyKind::GlobalNetworkPolicy
            | PolicyKind::StagedGlobalNetworkPolicy
            | PolicyKind::KubernetesClusterNetworkPolicy
    );
    let sel_text = if global {
        let mut t = written.clone();
        let ns_sel = s(spec, "namespaceSelector");
        if !ns_sel.is_empty() {
            let p = parse_selector("namespaceSelector", ns_sel)?
                .prefixed("pcns.")
                .canonical();
            t = and(&[t, p]).replace("all()", &format!("has({NS_LABEL})"));
        }
        let sa_sel = s(spec, "serviceAccountSelector");
        if !sa_sel.is_empty() {
            let p = parse_selector("serviceAccountSelector", sa_sel)?
                .prefixed("pcsa.")
                .canonical();
            t = and(&[t, p]).replace("all()", &format!("has({SA_LABEL})"));
        }
        t
    } else {
        let mut t = and(&[written.clone(), format!("{NS_LABEL} == \"{namespace}\"")]);
        let sa_sel = s(spec, "serviceAccountSelector");
        if !sa_sel.is_empty() {
            let p = parse_selector("serviceAccountSelector", sa_sel)?
                .prefixed("pcsa.")
                .canonical();
            t = and(&[t, p]);
        }
        t
    };
    let sel_text = if sel_text.trim().is_empty() {
        "all()".to_string()
    } else {
        sel_text
    };
    let (gi, ge) = governs(spec);
    let rule_ns = if global { "" } else { namespace.as_str() };
    let tier = match s(spec, "tier") {
        "" => "default".to_string(),
        t => t.to_string(),
    };
    let b = |k: &str| spec.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(Policy {
        kind,
        selector: Sel::parse(&sel_text)?,
        written_selector: written,
        ingress: gi
            .then(|| rules(spec.get("ingress"), rule_ns))
            .transpose()?,
        egress: ge.then(|| rules(spec.get("egress"), rule_ns)).transpose()?,
        // Namespaced policies can never be untracked / pre-DNAT / apply-on-forward.
        do_not_track: global && b("doNotTrack"),
        pre_dnat: global && b("preDNAT"),
        apply_on_forward: global && b("applyOnForward"),
        staged_delete: kind.is_staged() && s(spec, "stagedAction") == "Delete",
        name,
        namespace,
        tier,
        order: order(spec),
    })
}

/// A Kubernetes label selector (`matchLabels` / `matchExpressions`) as Calico selector terms.
fn k8s_selector_terms(v: Option<&Value>) -> Vec<String> {
    let mut terms = Vec::new();
    let Some(v) = v else {
        return terms;
    };
    if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
        let sorted: BTreeMap<&String, &Value> = m.iter().collect();
        for (k, val) in sorted {
            terms.push(format!("{k} == '{}'", val.as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let k = s(e, "key");
            let vals = strs(e.get("values"))
                .iter()
                .map(|x| format!("'{x}'"))
                .collect::<Vec<_>>()
                .join(", ");
            match s(e, "operator") {
                "In" => terms.push(format!("{k} in {{ {vals} }}")),
                "NotIn" => terms.push(format!("{k} not in {{ {vals} }}")),
                "Exists" => terms.push(format!("has({k})")),
                "DoesNotExist" => terms.push(format!("! has({k})")),
                _ => {}
            }
        }
    }
    terms
}

fn pod_selector(v: Option<&Value>) -> String {
    let mut t = vec![format!("{ORCH_LABEL} == 'k8s'")];
    t.extend(k8s_selector_terms(v));
    t.join(" && ")
}

fn ns_selector(v: &Value) -> String {
    let t = k8s_selector_terms(Some(v));
    if t.is_empty() {
        "all()".into()
    } else {
        t.join(" && ")
    }
}

/// The protocols of one Kubernetes rule and the destination ports of each (None: every
/// port; protocol "": any protocol), grouped as Calico's K8s conversions group them, in the
/// protocols' sorted order.
#[derive(Default)]
struct ProtocolPorts(BTreeMap<String, Option<Vec<Value>>>);

impl ProtocolPorts {
    /// Any protocol, any port (replaces what was grouped so far).
    fn any() -> ProtocolPorts {
        let mut p = ProtocolPorts::default();
        p.every_port("");
        p
    }

    /// Every port of `proto` (wins over ports listed for it).
    fn every_port(&mut self, proto: &str) {
        self.0.insert(proto.to_string(), None);
    }

    /// One more port (number, `a:b` range or name) of `proto`, unless every port is already in.
    fn port(&mut self, proto: &str, port: Value) {
        let entry = self
            .0
            .entry(proto.to_string())
            .or_insert_with(|| Some(Vec::new()));
        if let Some(list) = entry {
            list.push(port);
        }
    }

    /// The v3 rules: one per (peer side, protocol), peers outer. Ingress puts the peer in
    /// `source` and the ports in `destination`; egress puts both in `destination`.
    fn rules(
        &self,
        action: &str,
        peers: &[serde_json::Map<String, Value>],
        ingress: bool,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        for peer in peers {
            for (proto, ports) in &self.0 {
                let mut port_side = serde_json::Map::new();
                if let Some(p) = ports {
                    port_side.insert("ports".into(), Value::Array(p.clone()));
                }
                let (src, dst) = if ingress {
                    (peer.clone(), port_side)
                } else {
                    let mut d = peer.clone();
                    d.extend(port_side);
                    (serde_json::Map::new(), d)
                };
                let mut r =
                    serde_json::json!({"action": action, "source": src, "destination": dst});
                if !proto.is_empty() {
                    r["protocol"] = Value::String(proto.clone());
                }
                out.push(r);
            }
        }
        out
    }
}

/// The rules of one K8s ingress/egress entry (Calico's `k8sRuleToCalico`): peers outer,
/// protocols (sorted) inner, every rule Allow.
fn k8s_entry_rules(entry: &Value, ingress: bool, ns: &str) -> Result<Vec<Rule>, ConvertError> {
    let peers_key = if ingress { "from" } else { "to" };
    let peers: Vec<Option<&Value>> = match entry.get(peers_key).and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a.iter().map(Some).collect(),
        _ => vec![None],
    };
    let mut by_proto = ProtocolPorts::default();
    match entry.get("ports").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => {
            for p in a {
                let proto = s(p, "protocol");
                let port = p.get("port");
                if proto.is_empty() && port.is_none() {
                    by_proto = ProtocolPorts::any();
                    break;
                }
                let proto = if proto.is_empty() { "TCP" } else { proto };
                match port {
                    None => by_proto.every_port(proto),
                    Some(pv) => match (pv.as_u64(), p.get("endPort").and_then(Value::as_u64)) {
                        (Some(a), Some(b)) => {
                            by_proto.port(proto, Value::String(format!("{a}:{b}")))
                        }
                        _ => by_proto.port(proto, pv.clone()),
                    },
                }
            }
        }
        _ => by_proto = ProtocolPorts::any(),
    }
    let sides: Vec<serde_json::Map<String, Value>> = peers
        .into_iter()
        .map(|peer| {
            let mut peer_side = serde_json::Map::new();
            if let Some(peer) = peer {
                let pod = peer.get("podSelector");
                if let Some(nsel) = peer.get("namespaceSelector") {
                    peer_side.insert("namespaceSelector".into(), ns_selector(nsel).into());
                    peer_side.insert("selector".into(), pod_selector(pod).into());
                } else if pod.is_some() {
                    peer_side.insert("selector".into(), pod_selector(pod).into());
                }
                if let Some(b) = peer.get("ipBlock") {
                    peer_side.insert("nets".into(), serde_json::json!([s(b, "cidr")]));
                    if let Some(e) = b.get("except") {
                        peer_side.insert("notNets".into(), e.clone());
                    }
                }
            }
            peer_side
        })
        .collect();
    by_proto
        .rules("Allow", &sides, ingress)
        .iter()
        .map(|r| rule(r, ns))
        .collect()
}

/// A Kubernetes `networking.k8s.io/v1` NetworkPolicy (or a StagedKubernetesNetworkPolicy) as
/// Calico converts it: tier `default`, order 1000, pods of its namespace only.
pub fn k8s_policy(kind: PolicyKind, obj: &Value) -> Result<Policy, ConvertError> {
    let name = str_at(obj, &["metadata", "name"]);
    let namespace = str_at(obj, &["metadata", "namespace"]);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let pod = pod_selector(spec.get("podSelector"));
    let sel_text = and(&[pod.clone(), format!("{NS_LABEL} == '{namespace}'")]);
    let types = strs(spec.get("policyTypes"));
    let mut gi = types.iter().any(|t| t == "Ingress");
    let ge = types.iter().any(|t| t == "Egress");
    if !gi && !ge {
        gi = true;
    }
    let entries = |k: &str, ingress: bool| -> Result<Vec<Rule>, ConvertError> {
        let mut v = Vec::new();
        for e in spec.get(k).and_then(Value::as_array).into_iter().flatten() {
            v.extend(k8s_entry_rules(e, ingress, &namespace)?);
        }
        Ok(v)
    };
    let written: Vec<String> = k8s_selector_terms(spec.get("podSelector"));
    Ok(Policy {
        kind,
        written_selector: written.join(" && "),
        selector: Sel::parse(&sel_text)?,
        ingress: gi.then(|| entries("ingress", true)).transpose()?,
        egress: ge.then(|| entries("egress", false)).transpose()?,
        do_not_track: false,
        pre_dnat: false,
        apply_on_forward: false,
        staged_delete: kind.is_staged() && s(spec, "stagedAction") == "Delete",
        name,
        namespace,
        tier: "default".into(),
        order: Some(1000.0),
    })
}

/// A Kubernetes ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`) as Calico converts
/// it: a global policy in tier `kube-admin` (tier Admin) or `kube-baseline` (Baseline), ordered
/// by `priority`, governing only the directions left with at least one rule. A rule whose peer
/// is of a type Calico does not know fails closed: a Deny or Pass rule becomes an unconditional
/// Deny, an Accept rule is dropped. Err (the policy is ignored) for another tier or a subject
/// that is neither `namespaces` nor `pods`.
pub fn cluster_network_policy(obj: &Value) -> Result<Policy, ConvertError> {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let tier = match s(spec, "tier") {
        "Admin" => "kube-admin",
        "Baseline" => "kube-baseline",
        t => return Err(ConvertError::ClusterTier(t.to_string())),
    };
    let subject = spec.get("subject").unwrap_or(&Value::Null);
    let (ns_sel, pod_sel) = if let Some(n) = subject.get("namespaces") {
        (ns_selector(n), pod_selector(None))
    } else if let Some(p) = subject.get("pods") {
        (
            ns_selector(p.get("namespaceSelector").unwrap_or(&Value::Null)),
            pod_selector(p.get("podSelector")),
        )
    } else {
        return Err(ConvertError::ClusterSubject);
    };
    let convert = |key: &str, ingress: bool| -> Vec<Value> {
        let mut out = Vec::new();
        for r in spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let action = match s(r, "action") {
                "Accept" => "Allow",
                "Deny" => "Deny",
                "Pass" => "Pass",
                _ => "",
            };
            match cnp_rule(r, action, ingress) {
                Some(rules) => out.extend(rules),
                None if matches!(action, "Deny" | "Pass") => {
                    out.push(serde_json::json!({"action": "Deny"}));
                }
                None => {}
            }
        }
        out
    };
    let ingress = convert("ingress", true);
    let egress = convert("egress", false);
    let mut types = Vec::new();
    if !ingress.is_empty() {
        types.push("Ingress");
    }
    if !egress.is_empty() {
        types.push("Egress");
    }
    let gnp = serde_json::json!({
        "metadata": {"name": str_at(obj, &["metadata", "name"])},
        "spec": {
            "tier": tier,
            "order": spec.get("priority").cloned().unwrap_or(Value::Null),
            "selector": pod_sel,
            "namespaceSelector": ns_sel,
            "types": types,
            "ingress": ingress,
            "egress": egress,
        }
    });
    calico_policy(PolicyKind::KubernetesClusterNetworkPolicy, &gnp)
}

/// The Calico rules of one ClusterNetworkPolicy rule (peers outer, protocols sorted inner), or
/// None when it cannot be converted (an unknown action, no peers, a peer of an unknown type).
fn cnp_rule(r: &Value, action: &str, ingress: bool) -> Option<Vec<Value>> {
    if action.is_empty() {
        return None;
    }
    let peers = r.get(if ingress { "from" } else { "to" })?.as_array()?;
    if peers.is_empty() {
        return None;
    }
    let mut sides = Vec::new();
    for p in peers {
        let fields = p.as_object()?;
        if fields.len() != 1 {
            return None;
        }
        let mut side = serde_json::Map::new();
        if let Some(n) = p.get("namespaces") {
            side.insert("namespaceSelector".into(), ns_selector(n).into());
        } else if let Some(pods) = p.get("pods") {
            side.insert(
                "namespaceSelector".into(),
                ns_selector(pods.get("namespaceSelector").unwrap_or(&Value::Null)).into(),
            );
            side.insert(
                "selector".into(),
                pod_selector(pods.get("podSelector")).into(),
            );
        } else if let (false, Some(n)) = (ingress, p.get("networks")) {
            side.insert("nets".into(), n.clone());
        } else {
            return None;
        }
        sides.push(side);
    }
    // Named ports have no protocol ("").
    let mut by_proto = ProtocolPorts::default();
    match r.get("protocols").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            for pr in list {
                if let Some(name) = pr.get("destinationNamedPort").and_then(Value::as_str) {
                    by_proto.port("", Value::String(name.to_string()));
                    continue;
                }
                let Some((proto, body)) = [("TCP", "tcp"), ("UDP", "udp"), ("SCTP", "sctp")]
                    .into_iter()
                    .find_map(|(p, k)| pr.get(k).map(|b| (p, b)))
                else {
                    // An empty protocol entry: any protocol, any port.
                    by_proto = ProtocolPorts::any();
                    break;
                };
                let port = body.get("destinationPort").and_then(|d| {
                    match (d.get("number"), d.get("range")) {
                        (Some(n), _) => Some(n.clone()),
                        (None, Some(rg)) => Some(Value::String(format!(
                            "{}:{}",
                            rg.get("start").and_then(Value::as_u64).unwrap_or(0),
                            rg.get("end").and_then(Value::as_u64).unwrap_or(0)
                        ))),
                        (None, None) => None,
                    }
                });
                match port {
                    None => by_proto.every_port(proto),
                    Some(v) => by_proto.port(proto, v),
                }
            }
        }
        _ => by_proto = ProtocolPorts::any(),
    }
    Some(by_proto.rules(action, &sides, ingress))
}

pub fn tier(obj: &Value) -> Tier {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    Tier {
        name: str_at(obj, &["metadata", "name"]),
        order: order(spec),
        default_pass: s(spec, "defaultAction") == "Pass",
        exists: true,
        synthesised: false,
    }
}

/// The built-in tiers (name, order, default Pass) as Calico's client creates them.
pub const BUILTIN_TIERS: &[(&str, f64, bool)] = &[
    ("kube-admin", 1_000.0, true),
    ("default", 1_000_000.0, false),
    ("kube-baseline", 10_000_000.0, true),
];

fn label_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn ips_of(v: Option<&Value>) -> Vec<IpAddr> {
    nets(v).into_iter().map(|n| n.addr()).collect()
}

/// A WorkloadEndpoint (None when it has no IPs: Felix never sees it).
pub fn workload_endpoint(obj: &Value) -> Option<Endpoint> {
    let spec = obj.get("spec")?;
    let ips = ips_of(spec.get("ipNetworks"));
    if ips.is_empty() {
        return None;
    }
    let mut labels: BTreeMap<String, String> =
        label_map(obj.get("metadata").and_then(|m| m.get("labels")))
            .into_iter()
            .filter(|(k, _)| !k.starts_with("pcns.") && !k.starts_with("pcsa."))
            .collect();
    // libcalico's write path stores these two on every WorkloadEndpoint; an object written
    // without them (by hand, or by an older tool) gets them as the write path would.
    let ns = str_at(obj, &["metadata", "namespace"]);
    labels.entry(NS_LABEL.into()).or_insert_with(|| ns.clone());
    labels
        .entry(ORCH_LABEL.into())
        .or_insert_with(|| s(spec, "orchestrator").to_string());
    let sa = s(spec, "serviceAccountName");
    if !sa.is_empty() {
        labels.insert(SA_LABEL.into(), sa.into());
    }
    Some(Endpoint {
        kind: EndpointKind::WorkloadEndpoint,
        name: str_at(obj, &["metadata", "name"]),
        namespace: ns,
        node: s(spec, "node").into(),
        pod: s(spec, "pod").into(),
        interface: s(spec, "interfaceName").into(),
        labels,
        profiles: strs(spec.get("profiles")),
        ips,
        ports: endpoint_ports(spec.get("ports")),
    })
}

fn endpoint_ports(v: Option<&Value>) -> Vec<NamedPort> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some(NamedPort {
                        name: s(p, "name").to_string(),
                        protocol: p.get("protocol").and_then(protocol_number).unwrap_or(6),
                        port: u16::try_from(p.get("port")?.as_u64()?).ok()?,
                    })
                })
                .filter(|p| !p.name.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub fn host_endpoint(obj: &Value) -> Endpoint {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    Endpoint {
        kind: EndpointKind::HostEndpoint,
        name: str_at(obj, &["metadata", "name"]),
        namespace: String::new(),
        node: s(spec, "node").into(),
        pod: String::new(),
        interface: s(spec, "interfaceName").into(),
        labels: label_map(obj.get("metadata").and_then(|m| m.get("labels"))),
        profiles: strs(spec.get("profiles")),
        ips: strs(spec.get("expectedIPs"))
            .iter()
            .filter_map(|x| x.parse().ok())
            .collect(),
        ports: endpoint_ports(spec.get("ports")),
    }
}

pub fn network_set(obj: &Value, global: bool) -> NetSet {
    let ns = str_at(obj, &["metadata", "namespace"]);
    let mut labels = label_map(obj.get("metadata").and_then(|m| m.get("labels")));
    let mut profiles = Vec::new();
    if !global {
        labels.insert(NS_LABEL.into(), ns.clone());
        profiles.push(format!("kns.{ns}"));
    }
    NetSet {
        global,
        name: str_at(obj, &["metadata", "name"]),
        namespace: ns,
        labels,
        profiles,
        nets: nets(obj.get("spec").and_then(|s| s.get("nets"))),
    }
}

pub fn profile(obj: &Value) -> Result<Profile, ConvertError> {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    Ok(Profile {
        name: str_at(obj, &["metadata", "name"]),
        labels: label_map(spec.get("labelsToApply")),
        ingress: rules(spec.get("ingress"), "")?,
        egress: rules(spec.get("egress"), "")?,
    })
}

/// The profile Felix substitutes for one an endpoint names but that does not exist.
pub fn missing_profile(name: &str) -> Profile {
    let deny = rule(&serde_json::json!({"action": "Deny"}), "").expect("static rule");
    Profile {
        name: name.to_string(),
        labels: BTreeMap::new(),
        ingress: vec![deny.clone()],
        egress: vec![deny],
    }
}

/// FelixConfiguration failsafe list (`[{protocol, port, net}]`).
pub fn failsafes(v: &Value) -> Vec<Failsafe> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(Failsafe {
                        protocol: e.get("protocol").and_then(protocol_number).unwrap_or(6),
                        port: u16::try_from(e.get("port")?.as_u64()?).ok()?,
                        net: e.get("net").and_then(Value::as_str).and_then(parse_net),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}
