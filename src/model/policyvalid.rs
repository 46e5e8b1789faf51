//! libcalico's validator for the policy kinds (GlobalNetworkPolicy, NetworkPolicy, their staged
//! variants, Profile, NetworkSet, GlobalNetworkSet): the same checks, texts, field names and
//! order as calicoctl v3.32.
//!
//! The Go validator walks a struct's fields in declaration order, checking field tags and
//! descending into nested structs, and runs a struct's own validator after its fields; errors
//! come out in that order. Each function here follows one Go struct.

use ipnet::IpNet;
use serde_json::Value;

use super::govalue::{FAKE_POINTER, go_v};
use super::k8s_names::{
    DNS1123_LABEL_FMT, DNS1123_SUBDOMAIN_FMT, is_dns1123_label_chars as is_label_shaped,
    is_dns1123_subdomain_chars as is_subdomain_shaped, is_valid_port_name, label_value_errors,
    qualified_name_errors,
};
use super::kinds::{KindInfo, PolicyChecks, str_at};
use super::meta;
use super::selector;
use super::validate::FieldError;
use crate::gocompat::gofmt::go_v as scalar_v;

/// Collects errors in the order Go reports them.
#[derive(Default)]
pub struct Report(pub Vec<FieldError>);

impl Report {
    fn add(&mut self, name: &str, value: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            name: name.to_string(),
            value: Some(value.into()),
            reason: reason.into(),
        });
    }

    /// A failed field tag: go-playground's generic reason.
    fn tag(&mut self, name: &str, value: impl Into<String>, tag: &str) {
        let reason = format!("Reason: failed to validate Field: {name} because of Tag: {tag} ");
        self.add(name, value, reason);
    }
}

const MAX_NAME: usize = 253;
const MAX_ANNOTATIONS: usize = 256 * 1024;
const GLOBAL_ONLY_NS: &str = "global() can only be used in an EntityRule namespaceSelector";

/// The Go validator's errors for one of the policy kinds (`checks` selects them).
/// `decoded` keeps lists given empty (see `Schema::decode_keeping_empty`): the staged Delete
/// checks compare it as Go's `reflect.DeepEqual` does; the other checks read `obj`, the stored
/// form.
pub fn validate(
    kind: &KindInfo,
    checks: PolicyChecks,
    obj: &Value,
    decoded: &Value,
) -> Vec<FieldError> {
    let decoded_spec = decoded.get("spec").unwrap_or(&Value::Null);
    let mut r = Report::default();
    object_meta(obj, &mut r);
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match checks {
        PolicyChecks::Policy => {
            policy_spec_fields(&spec, &mut r);
            policy_checks(kind, obj, &spec, decoded_spec, &mut r);
        }
        PolicyChecks::StagedKubernetes => {
            staged_action(&spec, &mut r);
            staged_k8s_delete(decoded_spec, &mut r);
        }
        PolicyChecks::Profile => {
            rules_of(&spec, &mut r);
            if let Some(Value::Object(m)) = spec.get("labelsToApply") {
                let bad = m.iter().any(|(k, v)| {
                    !qualified_name_errors(k).is_empty()
                        || !label_value_errors(v.as_str().unwrap_or_default()).is_empty()
                });
                if bad {
                    let v = go_v("map[string]string", spec.get("labelsToApply"));
                    r.tag("LabelsToApply", v, "labels");
                }
            }
        }
        PolicyChecks::NetworkSet => {
            if let Some(Value::Array(nets)) = spec.get("nets") {
                for (i, n) in nets.iter().enumerate() {
                    let s = n.as_str().unwrap_or_default();
                    let cidr = s.parse::<IpNet>().is_ok() || s.parse::<std::net::IpAddr>().is_ok();
                    if !s.is_empty() && !cidr {
                        r.tag(&format!("Nets[{i}]"), s, "cidr");
                    }
                }
            }
            if meta::labels(obj).contains_key("projectcalico.org/namespace") {
                r.add(
                    "Metadata.Labels (label)",
                    "projectcalico.org/namespace",
                    "projectcalico.org/namespace is not a valid label name",
                );
            }
        }
    }
    r.0
}

/// libcalico's reason for a name that is not a DNS-1123 subdomain.
pub fn subdomain_name_reason() -> String {
    format!(
        "name must consist of lower case alphanumeric characters, '-' or '.' (regex: {DNS1123_SUBDOMAIN_FMT})"
    )
}

/// libcalico's reason for a (policy or tier) name that is not a DNS-1123 label.
pub fn label_name_reason() -> String {
    format!(
        "name must consist of lower case alphanumeric characters or '-' (regex: {DNS1123_LABEL_FMT})"
    )
}

/// `validateObjectMeta`: the name as a DNS-1123 subdomain, annotation and label keys/values.
/// libcalico's ObjectMeta checks of `obj` (name, annotations, labels), which every kind gets.
pub fn object_meta_errors(obj: &Value) -> Vec<FieldError> {
    let mut r = Report::default();
    object_meta(obj, &mut r);
    r.0
}

/// The label checks of `obj`'s metadata alone.
pub fn label_errors(obj: &Value) -> Vec<FieldError> {
    let mut r = Report::default();
    labels(obj, &mut r);
    r.0
}

fn object_meta(obj: &Value, r: &mut Report) {
    let name = meta::name(obj);
    name_too_long(&name, r);
    if !is_subdomain_shaped(&name) {
        r.add("Metadata.Name", name, subdomain_name_reason());
    }
    annotations(obj, r);
    labels(obj, r);
}

fn name_too_long(name: &str, r: &mut Report) {
    if name.len() > MAX_NAME {
        r.add(
            "Metadata.Name",
            name,
            format!("name is too long by {} bytes", name.len() - MAX_NAME),
        );
    }
}

fn annotations(obj: &Value, r: &mut Report) {
    let ann = meta::annotations(obj);
    annotation_map(&ann, r);
    let total: usize = ann.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_ANNOTATIONS {
        let v = go_v(
            "map[string]string",
            obj.get("metadata").and_then(|m| m.get("annotations")),
        );
        r.add(
            "Metadata.Annotations (key)",
            v,
            format!(
                "total size of annotations is too large by {} bytes",
                total - MAX_ANNOTATIONS
            ),
        );
    }
}

/// Annotation keys are checked lower-cased, as libcalico does.
fn annotation_map(ann: &std::collections::BTreeMap<String, String>, r: &mut Report) {
    for k in ann.keys() {
        for e in qualified_name_errors(&k.to_lowercase()) {
            r.add("Metadata.Annotations (key)", k.clone(), e);
        }
    }
}

fn labels(obj: &Value, r: &mut Report) {
    for (k, v) in meta::labels(obj) {
        for e in qualified_name_errors(&k) {
            r.add("Metadata.Labels (label)", k.clone(), e);
        }
        for e in label_value_errors(&v) {
            r.add("Metadata.Labels (value)", v.clone(), e);
        }
    }
}

fn staged_action(spec: &Value, r: &mut Report) {
    let a = str_at(spec, &["stagedAction"]);
    if !a.is_empty() && !["Set", "Delete", "Learn", "Ignore"].contains(&a.as_str()) {
        r.tag("StagedAction", a, "stagedAction");
    }
}

/// The field tags of a (Global)NetworkPolicySpec and its staged variants, rules included.
fn policy_spec_fields(spec: &Value, r: &mut Report) {
    staged_action(spec, r);
    rules_of(spec, r);
    selector_tag(spec, "selector", "Selector", r);
    if let Some(Value::Array(types)) = spec.get("types") {
        for (i, t) in types.iter().enumerate() {
            let t = t.as_str().unwrap_or_default();
            if t != "Ingress" && t != "Egress" {
                r.tag(&format!("Types[{i}]"), t, "policyType");
            }
        }
    }
    selector_tag(spec, "serviceAccountSelector", "ServiceAccountSelector", r);
    selector_tag(spec, "namespaceSelector", "NamespaceSelector", r);
    if let Some(Value::Array(hints)) = spec.get("performanceHints") {
        let mut seen = std::collections::HashSet::new();
        if !hints.iter().all(|h| seen.insert(scalar_v(h))) {
            let v = go_v("[]v3.PolicyPerformanceHint", spec.get("performanceHints"));
            r.tag("PerformanceHints", v, "unique");
            return;
        }
        for (i, h) in hints.iter().enumerate() {
            let h = h.as_str().unwrap_or_default();
            if h != "AssumeNeededOnEveryNode" {
                r.tag(&format!("PerformanceHints[{i}]"), h, "oneof");
            }
        }
    }
}

fn rules_of(spec: &Value, r: &mut Report) {
    for dir in ["ingress", "egress"] {
        if let Some(Value::Array(rules)) = spec.get(dir) {
            rules.iter().for_each(|x| rule(x, r));
        }
    }
}

fn selector_tag(v: &Value, json: &str, go: &str, r: &mut Report) {
    let s = str_at(v, &[json]);
    if !s.is_empty() && selector::parse(&s).is_err() {
        r.tag(go, s, "selector");
    }
}

/// The policy name rule of `validate(Global)NetworkPolicy`: one optional `tier.` prefix, every
/// part DNS-label shaped (there is no per-label length limit). Namespaced policies named
/// `knp.default.<subdomain>` or `ossg.default.<subdomain>` are accepted too.
fn policy_name_ok(kind: &KindInfo, name: &str) -> bool {
    if kind.namespaced
        && let Some(rest) = name
            .strip_prefix("knp.default.")
            .or_else(|| name.strip_prefix("ossg.default."))
    {
        return is_subdomain_shaped(rest);
    }
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2 && parts.iter().all(|p| is_label_shaped(p))
}

/// The whole-object checks of `validate(Staged)(Global)NetworkPolicy`.
fn policy_checks(kind: &KindInfo, obj: &Value, spec: &Value, decoded_spec: &Value, r: &mut Report) {
    let global = !kind.namespaced;
    let name = meta::name(obj);
    name_too_long(&name, r);
    if !policy_name_ok(kind, &name) {
        r.add("Metadata.Name", name, label_name_reason());
    }
    annotations(obj, r);
    labels(obj, r);
    if kind.kind.starts_with("Staged") && str_at(spec, &["stagedAction"]) == "Delete" {
        staged_delete(kind, decoded_spec, r);
        return;
    }
    let spec_name = if global {
        "GlobalNetworkPolicySpec"
    } else {
        "NetworkPolicySpec"
    };
    let flag = |f: &str| spec.get(f).and_then(Value::as_bool).unwrap_or(false);
    let rules = |dir: &str| match spec.get(dir) {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let (ingress, egress) = (rules("ingress"), rules("egress"));
    let types: Vec<String> = match spec.get("types") {
        Some(Value::Array(a)) => a.iter().map(scalar_v).collect(),
        _ => Vec::new(),
    };
    let types_v = || go_v("[]v3.PolicyType", spec.get("types"));
    if global {
        if flag("preDNAT") && flag("doNotTrack") {
            r.add(
                "PolicySpec.PreDNAT",
                "true",
                "PreDNAT and DoNotTrack cannot both be true, for a given PolicySpec",
            );
        }
        if flag("preDNAT") {
            if !egress.is_empty() {
                r.add(
                    "PolicySpec.Egress",
                    go_v("[]v3.Rule", spec.get("egress")),
                    "PreDNAT PolicySpec cannot have any Egress rules",
                );
            }
            for t in &types {
                if t == "Egress" {
                    r.add(
                        "PolicySpec.Types",
                        types_v(),
                        "PreDNAT PolicySpec cannot have 'egress' Type",
                    );
                }
            }
        }
        if (flag("preDNAT") || flag("doNotTrack")) && !flag("applyOnForward") {
            r.add(
                "PolicySpec.ApplyOnForward",
                "false",
                "ApplyOnForward must be true if either PreDNAT or DoNotTrack is true, for a given PolicySpec",
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in &types {
        if !seen.insert(t.as_str()) {
            r.add(
                &format!("{spec_name}.Types"),
                types_v(),
                format!("'{t}' type specified more than once"),
            );
        }
    }
    let services = |rule: &Value, side: &str| {
        rule.get(side)
            .and_then(|s| s.get("services"))
            .filter(|v| !v.is_null())
            .cloned()
    };
    for x in &egress {
        if let Some(s) = services(x, "source") {
            r.add(
                "Services",
                go_v("*v3.ServiceMatch", Some(&s)),
                "not allowed in egress rule source",
            );
        }
        if let Some(h) = x.get("http").filter(|v| !v.is_null()) {
            let reason = if global {
                "not allowed in egress rules"
            } else {
                "not allowed in egress rule"
            };
            r.add("HTTP", go_v("*v3.HTTPMatch", Some(h)), reason);
        }
    }
    for x in &ingress {
        if let Some(s) = services(x, "destination") {
            r.add(
                "Services",
                go_v("*v3.ServiceMatch", Some(&s)),
                "not allowed in ingress rule destination",
            );
        }
    }
    if global {
        let used = ingress
            .iter()
            .filter_map(|x| services(x, "source"))
            .chain(egress.iter().filter_map(|x| services(x, "destination")));
        for s in used {
            if str_at(&s, &["namespace"]).is_empty() {
                r.add("Namespace", "", "must specify a namespace");
            }
        }
    }
    let has_global = |f: &str| str_at(spec, &[f]).contains("global()");
    if has_global("selector") {
        r.add(
            &format!("{spec_name}.Selector"),
            str_at(spec, &["selector"]),
            GLOBAL_ONLY_NS,
        );
    }
    // For global policies libcalico prints the policy selector for the other two as well.
    if has_global("serviceAccountSelector") {
        let v = if global {
            "selector"
        } else {
            "serviceAccountSelector"
        };
        r.add(
            &format!("{spec_name}.ServiceAccountSelector"),
            str_at(spec, &[v]),
            GLOBAL_ONLY_NS,
        );
    }
    if global && has_global("namespaceSelector") {
        r.add(
            &format!("{spec_name}.NamespaceSelector"),
            str_at(spec, &["selector"]),
            GLOBAL_ONLY_NS,
        );
    }
}

/// A staged policy with `stagedAction: Delete` may set nothing but the tier (and types, which
/// are dropped); a list given empty counts as set (`spec` is the decoded form).
fn staged_delete(kind: &KindInfo, spec: &Value, r: &mut Report) {
    let mut rest = spec.clone();
    let tier = str_at(spec, &["tier"]);
    if let Value::Object(m) = &mut rest {
        m.remove("tier");
        m.remove("types");
        m.remove("stagedAction");
        m.retain(|_, v| !(v.is_null() || v == &Value::Bool(false) || v.as_str() == Some("")));
        if m.is_empty() {
            return;
        }
        m.insert("stagedAction".into(), "Delete".into());
        m.insert("tier".into(), tier.into());
    }
    let ty = format!("v3.{}Spec", kind.kind);
    r.add(
        &format!("{}Spec", kind.kind),
        go_v(&ty, Some(&rest)),
        "Spec fields, except Tier, should all be zero-value if stagedAction is Delete",
    );
}

/// A staged Kubernetes policy with `stagedAction: Delete` must equal (Go's `reflect.DeepEqual`)
/// the spec holding only that action: an empty list or map set in the manifest is not nil.
fn staged_k8s_delete(spec: &Value, r: &mut Report) {
    if str_at(spec, &["stagedAction"]) != "Delete" {
        return;
    }
    let set = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
    let pod = spec.get("podSelector");
    let extra = match spec {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| !matches!(k.as_str(), "stagedAction" | "podSelector") && !v.is_null()),
        _ => false,
    };
    if extra
        || set(pod.and_then(|p| p.get("matchLabels")))
        || set(pod.and_then(|p| p.get("matchExpressions")))
    {
        r.add(
            "StagedKubernetesNetworkPolicySpec",
            go_v("v3.StagedKubernetesNetworkPolicySpec", Some(spec)),
            "Spec fields should all be zero-value if stagedAction is Delete",
        );
    }
}

/// A rule's fields, then `validateRule`.
fn rule(x: &Value, r: &mut Report) {
    let action = str_at(x, &["action"]);
    if !["Allow", "Deny", "Log", "Pass"].contains(&action.as_str()) {
        r.tag("Action", action.clone(), "action");
    }
    if let Some(v) = x.get("ipVersion").filter(|v| !v.is_null())
        && v.as_i64() != Some(4)
        && v.as_i64() != Some(6)
    {
        r.tag("IPVersion", scalar_v(v), "ipVersion");
    }
    protocol(x.get("protocol"), r);
    icmp_fields(x.get("icmp"), r);
    protocol(x.get("notProtocol"), r);
    icmp_fields(x.get("notICMP"), r);
    let null = Value::Null;
    let src = x.get("source").unwrap_or(&null);
    let dst = x.get("destination").unwrap_or(&null);
    entity_rule(src, r);
    entity_rule(dst, r);
    if let Some(h) = x.get("http").filter(|v| !v.is_null()) {
        http_match(h, r);
    }
    if let Some(Value::Object(m)) = x.get("metadata").and_then(|m| m.get("annotations")) {
        let ann = m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        annotation_map(&ann, r);
    }
    rule_checks(x, &action, src, dst, r);
}

/// `numorstring.Protocol`'s validator (also for `notProtocol`).
fn protocol(p: Option<&Value>, r: &mut Report) {
    match p {
        Some(Value::Number(n)) if n.as_u64() == Some(0) => {
            r.add("Protocol", "0", "protocol number invalid")
        }
        Some(Value::String(s)) if !is_protocol_name(s) => {
            r.add("Protocol", s.clone(), "protocol name invalid")
        }
        _ => {}
    }
}

fn is_protocol_name(s: &str) -> bool {
    ["TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"].contains(&s)
}

/// Whether the protocol carries ports (TCP, UDP, SCTP by number or name in any case).
fn supports_ports(p: &Value) -> bool {
    match p {
        Value::Number(n) => matches!(n.as_u64(), Some(6 | 17 | 132)),
        Value::String(s) => ["tcp", "udp", "sctp"].contains(&s.to_lowercase().as_str()),
        _ => false,
    }
}

fn icmp_fields(i: Option<&Value>, r: &mut Report) {
    let Some(i) = i.filter(|v| !v.is_null()) else {
        return;
    };
    for (f, go, max) in [("type", "Type", 254), ("code", "Code", 255)] {
        if let Some(n) = i.get(f).and_then(Value::as_i64) {
            if n < 0 {
                r.tag(go, n.to_string(), "gte");
            } else if n > max {
                r.tag(go, n.to_string(), "lte");
            }
        }
    }
    if i.get("code").is_some_and(|v| !v.is_null()) && i.get("type").is_none_or(Value::is_null) {
        // libcalico reports the *int itself: Go prints its address.
        r.add(
            "Code",
            FAKE_POINTER,
            "ICMP code specified without an ICMP type",
        );
    }
}

fn list<'a>(v: &'a Value, f: &str) -> &'a [Value] {
    v.get(f)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// An entity rule's fields, then `validateEntityRule`.
fn entity_rule(e: &Value, r: &mut Report) {
    net_tags(e, "nets", "Nets", r);
    selector_tag(e, "selector", "Selector", r);
    selector_tag(e, "namespaceSelector", "NamespaceSelector", r);
    let services = e.get("services").filter(|v| !v.is_null());
    if let Some(s) = services {
        for (f, go) in [("name", "Name"), ("namespace", "Namespace")] {
            let v = str_at(s, &[f]);
            let ok = v.is_empty() || (v.len() <= MAX_NAME && is_subdomain_shaped(&v));
            if !ok {
                r.tag(go, v, "name");
            }
        }
    }
    ports(list(e, "ports"), r);
    net_tags(e, "notNets", "NotNets", r);
    selector_tag(e, "notSelector", "NotSelector", r);
    ports(list(e, "notPorts"), r);
    let sa = e.get("serviceAccounts").filter(|v| !v.is_null());
    if let Some(sa) = sa {
        selector_tag(sa, "selector", "Selector", r);
    }

    let sel = str_at(e, &["selector"]);
    if sel.contains("global()") {
        r.add("Selector field", sel.clone(), GLOBAL_ONLY_NS);
    }
    let ns = str_at(e, &["namespaceSelector"]);
    if ns.contains("global(")
        && selector::parse(&ns).map(|s| s.canonical()).as_deref() != Ok("global()")
    {
        r.add(
            "NamespaceSelector field",
            ns.clone(),
            "global() cannot be combined with other selectors",
        );
    }
    if let Some(s) = services {
        let v = go_v("*v3.ServiceMatch", Some(s));
        if str_at(s, &["name"]).is_empty() {
            r.add("Services field", v.clone(), "must specify a service name");
        }
        if !ns.is_empty() {
            r.add(
                "Services field",
                v.clone(),
                "cannot specify NamespaceSelector and Services on the same rule",
            );
        }
        if !sel.is_empty() || !str_at(e, &["notSelector"]).is_empty() {
            r.add(
                "Services field",
                v.clone(),
                "cannot specify Selector/NotSelector and Services on the same rule",
            );
        }
        if sa.is_some() {
            r.add(
                "Services field",
                v.clone(),
                "cannot specify ServiceAccounts and Services on the same rule",
            );
        }
        if !list(e, "nets").is_empty() || !list(e, "notNets").is_empty() {
            r.add(
                "Services field",
                v,
                "cannot specify Nets/NotNets and Services on the same rule",
            );
        }
    }
}

/// The `net` tag: a strictly masked CIDR or a bare address; empty entries are skipped.
fn net_tags(e: &Value, json: &str, go: &str, r: &mut Report) {
    for (i, n) in list(e, json).iter().enumerate() {
        let s = n.as_str().unwrap_or_default();
        let ok = s.is_empty()
            || s.parse::<std::net::IpAddr>().is_ok()
            || s.parse::<IpNet>().is_ok_and(|c| c.trunc() == c);
        if !ok {
            r.tag(&format!("{go}[{i}]"), s, "net");
        }
    }
}

/// `numorstring.Port`'s fields and validator.
fn ports(list: &[Value], r: &mut Report) {
    for p in list {
        match p {
            Value::String(s) if !is_numeric_port(p) => {
                if !is_valid_port_name(s) {
                    r.tag("PortName", s.clone(), "portName");
                }
            }
            _ => {
                let min = port_min(p);
                if min < 1 {
                    r.add(
                        "Port",
                        min.to_string(),
                        "port range invalid, port number must be between 1 and 65535",
                    );
                }
            }
        }
    }
}

/// The lower bound of a numeric port or `min:max` range.
fn port_min(p: &Value) -> i64 {
    match p {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s
            .split(':')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// A number or `min:max` range; any other string is a named port (canonical form).
fn is_numeric_port(p: &Value) -> bool {
    match p {
        Value::Number(_) => true,
        Value::String(s) => s.contains(':'),
        _ => false,
    }
}

/// `validateHTTPRule`: duplicate methods; the first bad path only.
fn http_match(h: &Value, r: &mut Report) {
    let methods: Vec<String> = list(h, "methods").iter().map(scalar_v).collect();
    let mut seen = std::collections::HashSet::new();
    if methods.iter().any(|m| !seen.insert(m.as_str())) {
        let v = go_v("[]string", h.get("methods"));
        r.add(
            "Methods",
            v.clone(),
            format!("Invalid methods (duplicates): {v}"),
        );
    }
    let paths_v = || go_v("[]v3.HTTPPath", h.get("paths"));
    for p in list(h, "paths") {
        let exact = str_at(p, &["exact"]);
        let prefix = str_at(p, &["prefix"]);
        if !exact.is_empty() && !prefix.is_empty() {
            r.add(
                "Paths",
                paths_v(),
                "Invalid path match. Both 'exact' and 'prefix' are set",
            );
            return;
        }
        let v = if exact.is_empty() { prefix } else { exact };
        if v.is_empty() {
            r.add(
                "Paths",
                paths_v(),
                "Invalid path match. Either 'exact' or 'prefix' must be set",
            );
            return;
        }
        if !v.starts_with('/') || v.contains(['?', '#', ' ']) {
            r.add(
                "Paths",
                paths_v(),
                format!("Invalid path {v}. (must start with `/` and not contain `?` or `#`"),
            );
            return;
        }
    }
}

/// Parses a rule CIDR as libcalico's `cnet.ParseCIDR` does (host bits allowed, mask required).
fn parse_cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        .filter(|_| s.contains('/'))
}

/// `validateRule`: the checks that look at the whole rule.
fn rule_checks(x: &Value, action: &str, src: &Value, dst: &Value, r: &mut Report) {
    let proto = x.get("protocol").filter(|v| !v.is_null());
    for (name, side, f) in [
        ("Source.Ports", src, "ports"),
        ("Source.NotPorts", src, "notPorts"),
        ("Destination.Ports", dst, "ports"),
        ("Destination.NotPorts", dst, "notPorts"),
    ] {
        let l = list(side, f);
        let reason = match proto {
            None if l.iter().any(is_numeric_port) => {
                "rules with numeric port or port range must set protocol to TCP or UDP or SCTP"
            }
            Some(p) if !l.is_empty() && !supports_ports(p) => {
                "rules that specify ports must set protocol to TCP or UDP or SCTP"
            }
            _ => continue,
        };
        r.add(name, go_v("[]numorstring.Port", side.get(f)), reason);
    }
    let http = x.get("http").filter(|v| !v.is_null());
    if let (Some(_), Some(p)) = (http, proto)
        && p.as_str() != Some("TCP")
    {
        r.add(
            "Protocol",
            scalar_v(p),
            "rules that specify HTTP fields must set protocol to TCP or empty",
        );
    }
    let icmp = x.get("icmp").filter(|v| !v.is_null());
    let proto_name = proto.and_then(Value::as_str).unwrap_or_default();
    if icmp.is_some() && proto_name != "ICMP" && proto_name != "ICMPv6" {
        r.add(
            "ICMP",
            go_v("*v3.ICMPFields", icmp),
            "rules that specify ICMP fields must set protocol to ICMP",
        );
    }
    let ip_version = x.get("ipVersion").and_then(Value::as_i64);
    for (p, want, reason) in [
        ("ICMP", 4, "must set ipversion to '4' with protocol icmp"),
        (
            "ICMPv6",
            6,
            "must set ipversion to '6' with protocol icmpv6",
        ),
    ] {
        // The protocol or the negated protocol, by name only (not number).
        let names = proto_name == p || x.get("notProtocol").and_then(Value::as_str) == Some(p);
        if names && ip_version.is_some_and(|v| v != want) {
            r.add("IPVersion", go_v("*v3.ICMPFields", icmp), reason);
        }
    }
    scan_nets(ip_version, src, dst, r);
    if action != "Allow"
        && let Some(h) = http
    {
        r.add(
            "HTTP",
            go_v("*v3.HTTPMatch", Some(h)),
            "only valid for Allow rules",
        );
    }
    if dst.get("services").is_some_and(|v| !v.is_null()) {
        if !list(dst, "ports").is_empty() {
            r.add(
                "Destination.Ports",
                go_v("[]numorstring.Port", dst.get("ports")),
                "cannot specify ports with a service selector",
            );
        }
        if !list(dst, "notPorts").is_empty() {
            r.add(
                "Destination.NotPorts",
                go_v("[]numorstring.Port", dst.get("notPorts")),
                "cannot specify notports with a service selector",
            );
        }
    }
}

/// The CIDR checks of `validateRule`: parseable, no catch-all in a negation, one IP family
/// across the rule, matching `ipVersion`. The version error prints the source nets, as
/// libcalico does.
fn scan_nets(ip_version: Option<i64>, src: &Value, dst: &Value, r: &mut Report) {
    let (mut seen4, mut seen6) = (false, false);
    for (name, side, f, negated) in [
        ("Source.Nets", src, "nets", false),
        ("Source.NotNets", src, "notNets", true),
        ("Destination.Nets", dst, "nets", false),
        ("Destination.NotNets", dst, "notNets", true),
    ] {
        let (mut v4, mut v6) = (false, false);
        for n in list(side, f) {
            let s = n.as_str().unwrap_or_default();
            match parse_cidr(s) {
                None => r.add(name, s, "invalid CIDR"),
                Some(c) => {
                    let is4 = matches!(c, IpNet::V4(_));
                    v4 |= is4;
                    v6 |= !is4;
                    if negated && c.prefix_len() == 0 && c.addr().is_unspecified() {
                        r.add(
                            name,
                            s,
                            "catch-all CIDR in negation creates logical contradiction (matches no traffic)",
                        );
                    }
                }
            }
        }
        if ip_version.is_some_and(|iv| (v4 && iv != 4) || (v6 && iv != 6)) {
            let v = go_v("[]string", src.get("nets"));
            r.add(name, v, "rule IP version doesn't match CIDR version");
        }
        if (v4 && seen6) || (v6 && seen4) || (v4 && v6) {
            r.add(
                name,
                go_v("[]string", side.get(f)),
                "rule contains both IPv4 and IPv6 CIDRs",
            );
        }
        seen4 |= v4;
        seen6 |= v6;
    }
}
