//! Validation and defaulting of v3 objects, as libcalico-go's client and
//! validator apply them before anything is written. Works on canonical values.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use super::k8s_names;
use super::kinds::{KindInfo, at, str_at};
use super::schema::{Field, Ty, schema};
use super::selector;

/// One failed field, printed as `<Name> = '<value>' (<reason>)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub name: String,
    pub value: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{} = '{}'", self.name, v)?,
            None => write!(f, "{}", self.name)?,
        }
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}

/// libcalico's `ErrorValidation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError(pub Vec<FieldError>);

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("unknown validation error"),
            [one] => write!(f, "error with field {one}"),
            many => {
                f.write_str("error with the following fields:\n")?;
                for e in many {
                    writeln!(f, "-  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ValidationError {}

struct Errs(Vec<FieldError>);

impl Errs {
    fn add(&mut self, name: &str, value: impl Into<Option<String>>, reason: &str) {
        self.0.push(FieldError {
            name: name.to_string(),
            value: value.into(),
            reason: reason.to_string(),
        });
    }
    fn result(self) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(self.0))
        }
    }
}

fn spec_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    obj.get_mut("spec").and_then(Value::as_object_mut)
}

/// Client-side defaults applied on create and update (libcalico clientv3), then the object is
/// re-canonicalised so defaults land in Go field order.
pub fn apply_defaults(kind: &KindInfo, obj: &mut Value) {
    match kind.kind {
        "IPPool" => default_ippool(obj),
        "GlobalNetworkPolicy"
        | "NetworkPolicy"
        | "StagedGlobalNetworkPolicy"
        | "StagedNetworkPolicy" => default_policy_types(obj),
        "FelixConfiguration" => {
            if let Some(s) = spec_mut(obj) {
                s.entry("floatingIPs").or_insert_with(|| "Disabled".into());
                s.entry("bpfConnectTimeLoadBalancing")
                    .or_insert_with(|| "TCP".into());
                s.entry("bpfHostNetworkedNATWithoutCTLB")
                    .or_insert_with(|| "Enabled".into());
            }
        }
        "Tier" => {
            // The v3 CRD's schema default, which calicoctl applies in etcd mode too, and
            // libcalico's default order (before validation, so a reserved tier without an
            // order is refused).
            if let Some(o) = obj.as_object_mut() {
                let s = o.entry("spec").or_insert_with(|| serde_json::json!({}));
                if let Some(s) = s.as_object_mut() {
                    s.entry("defaultAction").or_insert_with(|| "Deny".into());
                    s.entry("order")
                        .or_insert_with(|| serde_json::json!(1_000_000));
                }
            }
        }
        "KubeControllersConfiguration" => {}
        _ => {}
    }
    if let Ok(c) = schema().decode(&kind.type_name(), obj, false) {
        *obj = c;
    }
}

fn default_ippool(obj: &mut Value) {
    let Some(s) = spec_mut(obj) else { return };
    let cidr_str = s
        .get("cidr")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let parsed: Option<IpNet> = cidr_str.parse().ok();
    if let Some(n) = parsed {
        // libcalico normalises the CIDR (masked, canonical spelling) before persisting.
        s.insert("cidr".into(), Value::String(n.trunc().to_string()));
        let is_v6 = matches!(n, IpNet::V6(_));
        if s.get("blockSize").and_then(Value::as_i64).unwrap_or(0) == 0 {
            s.insert(
                "blockSize".into(),
                Value::from(if is_v6 { 122 } else { 26 }),
            );
        }
    }
    if s.get("nodeSelector")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        s.insert("nodeSelector".into(), "all()".into());
    }
    for m in ["ipipMode", "vxlanMode"] {
        if s.get(m)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            s.insert(m.into(), "Never".into());
        }
    }
    if s.get("allowedUses")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty())
    {
        s.insert(
            "allowedUses".into(),
            serde_json::json!(["Workload", "Tunnel"]),
        );
    }
    if s.get("assignmentMode").is_none_or(Value::is_null) {
        s.insert("assignmentMode".into(), "Automatic".into());
    }
}

/// The v3 CRDs' defaults, which libcalico applies after its validator (so validation errors
/// show the object without them): a policy's tier (and the tier label), a staged policy's
/// `stagedAction: Set`.
pub fn apply_crd_defaults(kind: &KindInfo, obj: &mut Value) {
    let staged = kind.kind.starts_with("Staged");
    if staged && let Some(s) = spec_mut(obj) {
        s.entry("stagedAction").or_insert_with(|| "Set".into());
    }
    if matches!(
        kind.kind,
        "GlobalNetworkPolicy"
            | "NetworkPolicy"
            | "StagedGlobalNetworkPolicy"
            | "StagedNetworkPolicy"
    ) {
        let Some(s) = spec_mut(obj) else { return };
        let tier = match s.get("tier").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => "default".to_string(),
        };
        s.insert("tier".into(), Value::String(tier.clone()));
        super::meta::set_label(obj, "projectcalico.org/tier", Some(&tier));
    }
    if let Ok(c) = schema().decode(&kind.type_name(), obj, false) {
        *obj = c;
    }
}

/// libcalico's `defaultPolicyTypesField`: types from the rules present when none are given.
fn default_policy_types(obj: &mut Value) {
    {
        let Some(s) = spec_mut(obj) else { return };
        // A staged deletion carries no types.
        let delete = s.get("stagedAction").is_some_and(|a| a == "Delete");
        if delete {
            s.remove("types");
        }
        let has_types = s
            .get("types")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_types && !delete {
            let ingress = s
                .get("ingress")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            let egress = s
                .get("egress")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            let types: Vec<&str> = match (ingress, egress) {
                (_, false) => vec!["Ingress"],
                (false, true) => vec!["Egress"],
                (true, true) => vec!["Ingress", "Egress"],
            };
            // GNP with preDNAT and no rules still gets Ingress.
            s.insert("types".into(), serde_json::json!(types));
        }
    }
}

/// The full validation for a create or update of `obj` (canonical, defaults applied).
pub fn validate(kind: &KindInfo, obj: &Value) -> Result<(), ValidationError> {
    validate_in(kind, obj, true)
}

/// [`validate`], with the v3 CRDs' own checks only when `crd` (calicoctl applies them itself
/// in etcd mode; on Kubernetes the API server owns them).
pub fn validate_in(kind: &KindInfo, obj: &Value, crd: bool) -> Result<(), ValidationError> {
    if is_policy_kind(kind) {
        let mut errs = super::policyvalid::validate(kind, obj);
        if crd && kind.kind != "Profile" {
            errs.extend(super::crd::validate(&kind.type_name(), obj));
        }
        return Errs(errs).result();
    }
    let mut e = Errs(Vec::new());
    validate_metadata(kind, obj, &mut e);
    if let Some(def) = schema().get(&kind.type_name())
        && let Some(spec_field) = def.lookup("spec")
        && let Some(spec) = obj.get("spec")
    {
        check_enums(&spec_field.ty, spec, &mut e);
    }
    match kind.kind {
        "IPPool" => validate_ippool(obj, &mut e),
        "BGPPeer" => validate_bgppeer(obj, &mut e),
        "BGPConfiguration" => validate_bgpconfig(obj, &mut e),
        "Node" => validate_node(obj, &mut e),
        "HostEndpoint" => validate_hep(obj, &mut e),
        "IPReservation" => validate_nets(obj, "reservedCIDRs", &mut e),
        "Tier" => validate_tier(obj, &mut e),
        "WorkloadEndpoint" => validate_wep(obj, &mut e),
        "ClusterInformation" | "KubeControllersConfiguration" | "IPAMConfiguration"
            if crate::model::meta::name(obj) != "default" =>
        {
            e.add(
                "Metadata.Name",
                crate::model::meta::name(obj),
                &format!("{} name must be default", kind.kind),
            );
        }
        _ => {}
    }
    e.result()
}

/// The kinds whose checks live in `policyvalid` (and, but for Profile, which has no v3 CRD,
/// in `crd`).
fn is_policy_kind(kind: &KindInfo) -> bool {
    matches!(
        kind.kind,
        "GlobalNetworkPolicy"
            | "NetworkPolicy"
            | "StagedGlobalNetworkPolicy"
            | "StagedNetworkPolicy"
            | "StagedKubernetesNetworkPolicy"
            | "Profile"
            | "NetworkSet"
            | "GlobalNetworkSet"
    )
}

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: dot-separated labels, ≤ 253 chars.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn validate_metadata(kind: &KindInfo, obj: &Value, e: &mut Errs) {
    let name = crate::model::meta::name(obj);
    let ok = match kind.kind {
        // The object's name check, then the tier's own, each with its own text.
        "Tier" => {
            if !is_dns1123_subdomain(&name) {
                let reason = super::policyvalid::subdomain_name_reason();
                e.add("Metadata.Name", name.clone(), &reason);
            }
            if !is_dns1123_label(&name) {
                let reason = super::policyvalid::label_name_reason();
                e.add("Metadata.Name", name.clone(), &reason);
            }
            true
        }
        "WorkloadEndpoint" => !name.is_empty() && name.len() <= 253,
        "Node" => {
            is_dns1123_subdomain(&name)
                || (!name.is_empty() && name.len() <= 253 && !name.contains('/'))
        }
        _ => is_dns1123_subdomain(&name),
    };
    if !ok {
        e.add("Metadata.Name", name, "name must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
    }
    if kind.namespaced {
        let ns = crate::model::meta::namespace(obj);
        if !is_dns1123_label(&ns) {
            e.add(
                "Metadata.Namespace",
                ns,
                "namespace must be a valid DNS-1123 label",
            );
        }
    }
    for (k, v) in crate::model::meta::labels(obj) {
        for msg in k8s_names::qualified_name_errors(&k) {
            e.add("Metadata.Labels (label)", k.clone(), &msg);
        }
        for msg in k8s_names::label_value_errors(&v) {
            e.add("Metadata.Labels (value)", v.clone(), &msg);
        }
    }
    for k in crate::model::meta::annotations(obj).keys() {
        // Kubernetes checks annotation keys lower-cased.
        for msg in k8s_names::qualified_name_errors(&k.to_lowercase()) {
            e.add("Metadata.Annotations (key)", k.clone(), &msg);
        }
    }
}

/// Walks a canonical value along its schema and checks every `enum=` field.
fn check_enums(ty: &Ty, v: &Value, e: &mut Errs) {
    match (ty, v) {
        (Ty::Ptr(t), _) => check_enums(t, v, e),
        (Ty::Slice(t), Value::Array(a)) => a.iter().for_each(|x| check_enums(t, x, e)),
        (Ty::Map(t), Value::Object(m)) => m.values().for_each(|x| check_enums(t, x, e)),
        (Ty::Struct(name), Value::Object(m)) => {
            if let Some(def) = schema().get(name) {
                for f in &def.fields {
                    if let Some(x) = m.get(&f.json) {
                        check_field_enum(f, x, e);
                        check_enums(&f.ty, x, e);
                    }
                }
            }
        }
        _ => {}
    }
}

fn check_field_enum(f: &Field, v: &Value, e: &mut Errs) {
    let Some(allowed) = &f.enum_values else {
        return;
    };
    let check = |s: &str, e: &mut Errs| {
        if !s.is_empty() && !allowed.iter().any(|a| a == s) {
            e.add(
                &f.go,
                s.to_string(),
                &format!("must be one of {}", allowed.join(", ")),
            );
        }
    };
    match v {
        Value::String(s) => check(s, e),
        Value::Array(a) => a.iter().filter_map(Value::as_str).for_each(|s| check(s, e)),
        _ => {}
    }
}

fn check_selector(name: &str, s: &str, allow_global: bool, e: &mut Errs) {
    match selector::parse(s) {
        Err(err) => e.add(name, s.to_string(), &format!("invalid selector: {err}")),
        Ok(sel) => {
            if sel.uses_global() && !(allow_global && sel.is_global_only()) {
                e.add(
                    name,
                    s.to_string(),
                    "global() may not be used in this selector",
                );
            }
        }
    }
}

fn validate_ippool(obj: &Value, e: &mut Errs) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let cidr_s = str_at(&spec, &["cidr"]);
    let Ok(cidr) = cidr_s.parse::<IpNet>() else {
        e.add("IPPool.Spec.CIDR", cidr_s, "IP pool CIDR is not valid");
        return;
    };
    let v6 = matches!(cidr, IpNet::V6(_));
    let bs = spec
        .get("blockSize")
        .and_then(Value::as_i64)
        .unwrap_or(if v6 { 122 } else { 26 });
    let (lo, hi) = if v6 { (116, 128) } else { (20, 32) };
    if bs < lo || bs > hi {
        e.add(
            "IPPool.Spec.BlockSize",
            bs.to_string(),
            &format!(
                "IPv{} block size must be between {lo} and {hi}",
                if v6 { 6 } else { 4 }
            ),
        );
    }
    let disabled = spec
        .get("disabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if (cidr.prefix_len() as i64) > bs && !disabled {
        e.add(
            "IPPool.Spec.CIDR",
            cidr_s.clone(),
            "IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.",
        );
    }
    let ipip = str_at(&spec, &["ipipMode"]);
    let vxlan = str_at(&spec, &["vxlanMode"]);
    let enabled = |m: &str| !m.is_empty() && m != "Never";
    if v6 && enabled(&ipip) {
        e.add(
            "IPPool.Spec.IPIPMode",
            ipip.clone(),
            "IPIP is not supported on an IPv6 IP pool",
        );
    }
    if enabled(&ipip) && enabled(&vxlan) {
        e.add(
            "IPPool.Spec.IPIPMode",
            ipip.clone(),
            "IPIPMode and VXLANMode cannot both be enabled",
        );
    }
    let link_local: IpNet = if v6 {
        "fe80::/10".parse().unwrap()
    } else {
        "169.254.0.0/16".parse().unwrap()
    };
    if link_local.contains(&cidr.network()) || cidr.contains(&link_local.network()) {
        e.add(
            "IPPool.Spec.CIDR",
            cidr_s.clone(),
            "IP pool range overlaps with reserved link local range",
        );
    }
    let uses: Vec<String> = spec
        .get("allowedUses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if uses.iter().any(|u| u == "LoadBalancer") {
        if uses.iter().any(|u| u == "Workload" || u == "Tunnel") {
            e.add(
                "IPPool.Spec.AllowedUses",
                uses.join(","),
                "LoadBalancer cannot be combined with Workload or Tunnel allowed uses",
            );
        }
        if enabled(&ipip) || enabled(&vxlan) {
            e.add(
                "IPPool.Spec.AllowedUses",
                uses.join(","),
                "LoadBalancer IP pool cannot have IPIP or VXLAN enabled",
            );
        }
        if spec
            .get("disableBGPExport")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            e.add(
                "IPPool.Spec.DisableBGPExport",
                "true".to_string(),
                "LoadBalancer IP pool cannot have disableBGPExport set",
            );
        }
    }
    if uses.iter().any(|u| u == "Tunnel") && !str_at(&spec, &["namespaceSelector"]).is_empty() {
        e.add(
            "IPPool.Spec.NamespaceSelector",
            str_at(&spec, &["namespaceSelector"]),
            "Tunnel IP pools cannot have a namespaceSelector",
        );
    }
    for f in ["nodeSelector", "namespaceSelector"] {
        let s = str_at(&spec, &[f]);
        if !s.is_empty() {
            check_selector(&format!("IPPool.Spec.{}", go_name(f)), &s, false, e);
        }
    }
}

fn go_name(json: &str) -> String {
    let mut c = json.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Validates `ip` or `ip:port` / `[v6]:port`.
fn valid_peer_ip(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    if let Some(rest) = s.strip_prefix('[')
        && let Some((ip, port)) = rest.split_once("]:")
    {
        return ip.parse::<std::net::Ipv6Addr>().is_ok()
            && port.parse::<u16>().is_ok_and(|p| p > 0);
    }
    if let Some((ip, port)) = s.rsplit_once(':') {
        return ip.parse::<std::net::Ipv4Addr>().is_ok()
            && port.parse::<u16>().is_ok_and(|p| p > 0);
    }
    false
}

fn validate_bgppeer(obj: &Value, e: &mut Errs) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let node = str_at(&spec, &["node"]);
    let node_sel = str_at(&spec, &["nodeSelector"]);
    let peer_ip = str_at(&spec, &["peerIP"]);
    let peer_sel = str_at(&spec, &["peerSelector"]);
    if !node.is_empty() && !node_sel.is_empty() {
        e.add(
            "BGPPeer.Spec.Node",
            node.clone(),
            "cannot set both node and nodeSelector",
        );
    }
    if !node.is_empty() && !is_dns1123_subdomain(&node) {
        e.add("Node", node.clone(), "name must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
    }
    if !peer_ip.is_empty() && !peer_sel.is_empty() {
        e.add(
            "BGPPeer.Spec.PeerIP",
            peer_ip.clone(),
            "cannot set both peerIP and peerSelector",
        );
    }
    if !peer_ip.is_empty() && !valid_peer_ip(&peer_ip) {
        e.add("PeerIP", peer_ip.clone(), "invalid IP address");
    }
    if !peer_sel.is_empty() && spec.get("asNumber").and_then(Value::as_u64).unwrap_or(0) != 0 {
        e.add(
            "BGPPeer.Spec.ASNumber",
            str_at(&spec, &["asNumber"]),
            "ASNumber must be empty when PeerSelector is set",
        );
    }
    for (f, v) in [("NodeSelector", &node_sel), ("PeerSelector", &peer_sel)] {
        if !v.is_empty() {
            check_selector(f, v, false, e);
        }
    }
    let lws = str_at(&spec, &["localWorkloadSelector"]);
    if !lws.is_empty() {
        check_selector("LocalWorkloadSelector", &lws, false, e);
        if spec.get("asNumber").and_then(Value::as_u64).unwrap_or(0) == 0 {
            e.add(
                "BGPPeer.Spec.ASNumber",
                "0".to_string(),
                "ASNumber must be set when LocalWorkloadSelector is set",
            );
        }
        if !peer_ip.is_empty() || !peer_sel.is_empty() {
            e.add(
                "BGPPeer.Spec.LocalWorkloadSelector",
                lws.clone(),
                "LocalWorkloadSelector cannot be combined with PeerIP or PeerSelector",
            );
        }
    }
    let src = str_at(&spec, &["sourceAddress"]);
    if !src.is_empty() && src != "UseNodeIP" && src != "None" {
        e.add("SourceAddress", src, "must be UseNodeIP or None");
    }
}

fn validate_bgpconfig(obj: &Value, e: &mut Errs) {
    let name = crate::model::meta::name(obj);
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    if name != "default" {
        for (f, go) in [
            ("nodeToNodeMeshEnabled", "NodeToNodeMeshEnabled"),
            ("asNumber", "ASNumber"),
            ("serviceLoadBalancerIPs", "ServiceLoadBalancerIPs"),
            ("serviceExternalIPs", "ServiceExternalIPs"),
            ("serviceClusterIPs", "ServiceClusterIPs"),
            ("nodeMeshPassword", "NodeMeshPassword"),
            ("nodeMeshMaxRestartTime", "NodeMeshMaxRestartTime"),
        ] {
            if spec.get(f).is_some_and(|v| !v.is_null()) {
                e.add(
                    &format!("BGPConfiguration.Spec.{go}"),
                    crate::model::kinds::go_v(&spec[f]),
                    &format!("Cannot set {go} on a non default BGP Configuration."),
                );
            }
        }
    }
    if spec.get("nodeToNodeMeshEnabled").and_then(Value::as_bool) == Some(false) {
        for (f, go) in [
            ("nodeMeshPassword", "NodeMeshPassword"),
            ("nodeMeshMaxRestartTime", "NodeMeshMaxRestartTime"),
        ] {
            if spec.get(f).is_some_and(|v| !v.is_null()) {
                e.add(
                    &format!("BGPConfiguration.Spec.{go}"),
                    String::new(),
                    &format!("{go} cannot be set when node to node mesh is disabled"),
                );
            }
        }
    }
    if let Some(p) = spec.get("listenPort").and_then(Value::as_i64)
        && !(1..=65535).contains(&p)
    {
        e.add(
            "ListenPort",
            p.to_string(),
            "port must be between 1 and 65535",
        );
    }
    for f in [
        "serviceClusterIPs",
        "serviceExternalIPs",
        "serviceLoadBalancerIPs",
    ] {
        if let Some(Value::Array(a)) = spec.get(f) {
            for b in a {
                let c = str_at(b, &["cidr"]);
                if c.parse::<IpNet>().is_err() {
                    e.add("CIDR", c, "invalid CIDR");
                }
            }
        }
    }
}

fn validate_node(obj: &Value, e: &mut Errs) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(bgp) = spec.get("bgp") {
        if bgp.as_object().is_some_and(|m| m.is_empty()) {
            e.add(
                "Node.Spec.BGP",
                "{}".to_string(),
                "Spec.BGP should not be empty",
            );
        }
        for f in ["ipv4Address", "ipv6Address"] {
            let a = str_at(bgp, &[f]);
            if !a.is_empty() && a.parse::<IpNet>().is_err() && a.parse::<IpAddr>().is_err() {
                e.add(
                    &go_name(f).replace("Ipv", "IPv"),
                    a,
                    "invalid IP address or CIDR",
                );
            }
        }
        let t = str_at(bgp, &["ipv4IPIPTunnelAddr"]);
        if !t.is_empty() && t.parse::<std::net::Ipv4Addr>().is_err() {
            e.add("IPv4IPIPTunnelAddr", t, "invalid IPv4 address");
        }
    }
    for f in ["ipv4VXLANTunnelAddr", "ipv6VXLANTunnelAddr"] {
        let t = str_at(&spec, &[f]);
        if !t.is_empty() && t.parse::<IpAddr>().is_err() {
            e.add(&go_name(f), t, "invalid IP address");
        }
    }
    if let Some(Value::Array(addrs)) = spec.get("addresses") {
        for a in addrs {
            let t = str_at(a, &["type"]);
            if !t.is_empty() && !["CalicoNodeIP", "InternalIP", "ExternalIP"].contains(&t.as_str())
            {
                e.add("Type", t, "must be CalicoNodeIP, InternalIP or ExternalIP");
            }
        }
    }
}

fn validate_hep(obj: &Value, e: &mut Errs) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    if str_at(&spec, &["node"]).is_empty() {
        e.add(
            "HostEndpoint.Spec.Node",
            String::new(),
            "node must be specified",
        );
    }
    let iface = str_at(&spec, &["interfaceName"]);
    let ips = spec
        .get("expectedIPs")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    if iface.is_empty() && ips == 0 {
        e.add(
            "HostEndpoint.Spec.InterfaceName",
            String::new(),
            "at least one of interface or expected IPs must be specified",
        );
    }
    if !iface.is_empty()
        && iface != "*"
        && !(iface.len() <= 15
            && iface
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'))
    {
        e.add("InterfaceName", iface, "invalid interface name");
    }
    if let Some(Value::Array(a)) = spec.get("expectedIPs") {
        for ip in a.iter().filter_map(Value::as_str) {
            if ip.parse::<IpAddr>().is_err() {
                e.add("ExpectedIPs", ip.to_string(), "invalid IP address");
            }
        }
    }
}

fn validate_nets(obj: &Value, field: &str, e: &mut Errs) {
    if let Some(Value::Array(a)) = at(obj, &["spec", field]) {
        for n in a.iter().filter_map(Value::as_str) {
            if n.parse::<IpNet>().is_err() && n.parse::<IpAddr>().is_err() {
                e.add(
                    &go_name(field).replace("Cidrs", "CIDRs"),
                    n.to_string(),
                    "invalid CIDR",
                );
            }
        }
    }
}

fn validate_tier(obj: &Value, e: &mut Errs) {
    let name = crate::model::meta::name(obj);
    let order = at(obj, &["spec", "order"]).and_then(Value::as_f64);
    let want = match name.as_str() {
        "default" => Some(1_000_000.0),
        "kube-admin" => Some(1_000.0),
        "kube-baseline" => Some(10_000_000.0),
        _ => None,
    };
    if let Some(w) = want
        && order.is_some_and(|o| o != w)
    {
        // The order is a *float64: Go prints its address.
        e.add(
            "TierSpec.Order",
            crate::model::govalue::FAKE_POINTER.to_string(),
            &format!(
                "{name} tier order must be {}",
                crate::output::gofmt::fmt_v_float(w)
            ),
        );
    }
    let da = str_at(obj, &["spec", "defaultAction"]);
    if !da.is_empty() && da != "Deny" && da != "Pass" {
        e.add("DefaultAction", da, "must be Deny or Pass");
    }
}

fn validate_wep(obj: &Value, e: &mut Errs) {
    if let Some(Value::Array(nets)) = at(obj, &["spec", "ipNetworks"]) {
        for n in nets.iter().filter_map(Value::as_str) {
            match n.parse::<IpNet>() {
                Ok(net) if net.prefix_len() == net.max_prefix_len() => {}
                Ok(_) => e.add(
                    "IPNetworks",
                    n.to_string(),
                    "IP network must be a single address (/32 or /128)",
                ),
                Err(_) => {
                    if n.parse::<IpAddr>().is_err() {
                        e.add("IPNetworks", n.to_string(), "invalid IP network");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::by_kind;
    use serde_json::json;

    fn pool(spec: Value) -> Value {
        let mut v = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "p"}, "spec": spec});
        apply_defaults(by_kind("IPPool").unwrap(), &mut v);
        v
    }

    #[test]
    fn ippool_defaults_in_go_order() {
        let v = pool(json!({"cidr": "10.1.2.3/16"}));
        assert_eq!(
            serde_json::to_string(&v["spec"]).unwrap(),
            r#"{"cidr":"10.1.0.0/16","vxlanMode":"Never","ipipMode":"Never","blockSize":26,"nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}"#
        );
    }

    #[test]
    fn ippool_too_small() {
        let v = pool(json!({"cidr": "10.0.250.0/32"}));
        let err = validate(by_kind("IPPool").unwrap(), &v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error with field IPPool.Spec.CIDR = '10.0.250.0/32' (IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.)"
        );
    }

    #[test]
    fn multiple_errors_format() {
        let v = pool(json!({"cidr": "fe80::/64", "ipipMode": "Always"}));
        let err = validate(by_kind("IPPool").unwrap(), &v)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("error with the following fields:\n-  "),
            "{err}"
        );
        assert!(err.ends_with('\n'));
    }

    #[test]
    fn peer_ip_forms() {
        for ok in ["10.0.0.1", "10.0.0.1:179", "fd00::1", "[fd00::1]:179"] {
            assert!(valid_peer_ip(ok), "{ok}");
        }
        for bad in ["badpeerIP", "10.0.0.1:0", "fd00::1:x", "[fd00::1]"] {
            assert!(!valid_peer_ip(bad), "{bad}");
        }
    }

    #[test]
    fn policy_defaults() {
        let mut v = json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "p"}, "spec": {"egress": [{"action": "Allow"}]}});
        apply_defaults(by_kind("GlobalNetworkPolicy").unwrap(), &mut v);
        apply_crd_defaults(by_kind("GlobalNetworkPolicy").unwrap(), &mut v);
        assert_eq!(v["spec"]["tier"], "default");
        assert_eq!(v["spec"]["types"], json!(["Egress"]));
        assert_eq!(v["metadata"]["labels"]["projectcalico.org/tier"], "default");
    }
}
