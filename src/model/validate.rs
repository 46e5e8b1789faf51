//! Validation and defaulting of v3 objects, as libcalico-go's client and
//! validator apply them before anything is written. Works on canonical values.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use super::kinds::{KindInfo, PolicyChecks, Validation, at, str_at};
use super::schema::{Field, Ty, schema};

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

/// Client-side defaults applied on create and update (libcalico clientv3) plus the v3 CRD
/// schema defaults, then the object is re-canonicalised so defaults land in Go field order.
pub fn apply_defaults(kind: &KindInfo, obj: &mut Value) {
    apply_defaults_with(kind, obj, true)
}

/// [`apply_defaults`]; `crd` is whether the CRD schema defaults apply (calicoctl applies them
/// in etcd mode, where no API server does).
pub fn apply_defaults_with(kind: &KindInfo, obj: &mut Value, crd: bool) {
    if let Some(defaults) = kind.hooks.defaults {
        defaults(obj);
    }
    if crd && has_crd(kind) {
        super::openapi::apply_defaults(&kind.type_name(), obj);
    }
    recanonicalise_keeping_empty(kind, obj);
}

/// Field order and defaults settled; lists and maps given empty in a manifest stay for the
/// validator (see [`recanonicalise`]).
fn recanonicalise_keeping_empty(kind: &KindInfo, obj: &mut Value) {
    if let Ok(c) = schema().decode_keeping_empty(&kind.type_name(), obj) {
        *obj = c;
    }
}

/// The stored form: omitempty drops empty lists and maps, as Go's marshalling does.
fn recanonicalise(kind: &KindInfo, obj: &mut Value) {
    if let Ok(c) = schema().decode(&kind.type_name(), obj, false) {
        *obj = c;
    }
}

/// `obj` in its stored form (see [`recanonicalise`]).
fn stored_form(kind: &KindInfo, obj: &Value) -> Value {
    schema()
        .decode(&kind.type_name(), obj, false)
        .unwrap_or_else(|_| obj.clone())
}

/// libcalico orders a tier without an order like the default tier (before validation, so a
/// reserved tier without an order is refused).
pub(crate) fn default_tier(obj: &mut Value) {
    if let Some(o) = obj.as_object_mut() {
        let s = o.entry("spec").or_insert_with(|| serde_json::json!({}));
        if let Some(s) = s.as_object_mut() {
            s.entry("order")
                .or_insert_with(|| serde_json::json!(1_000_000));
        }
    }
}

/// Whether the kind has a projectcalico.org/v3 CRD whose defaults and rules calicoctl applies
/// (Profile has none).
fn has_crd(kind: &KindInfo) -> bool {
    match kind.hooks.validation {
        Validation::Crd { .. } => true,
        Validation::Policy { crd, .. } => crd,
        Validation::StructWalk
        | Validation::Plain
        | Validation::WorkloadEndpoint
        | Validation::NamedDefault => false,
    }
}

/// libcalico's FelixConfiguration defaults; the deprecated
/// `bpfConnectTimeLoadBalancingEnabled` decides both newer fields when set.
pub(crate) fn default_felix(obj: &mut Value) {
    let Some(s) = spec_mut(obj) else { return };
    s.entry("floatingIPs").or_insert_with(|| "Disabled".into());
    match s
        .get("bpfConnectTimeLoadBalancingEnabled")
        .and_then(Value::as_bool)
    {
        Some(on) => {
            let ctlb = if on { "Enabled" } else { "Disabled" };
            s.insert("bpfConnectTimeLoadBalancing".into(), ctlb.into());
            s.insert("bpfHostNetworkedNATWithoutCTLB".into(), "Disabled".into());
        }
        None => {
            s.entry("bpfConnectTimeLoadBalancing")
                .or_insert_with(|| "TCP".into());
            s.entry("bpfHostNetworkedNATWithoutCTLB")
                .or_insert_with(|| "Enabled".into());
        }
    }
}

/// libcalico's KubeControllersConfiguration defaults: the metrics port, and the IPAM leak
/// grace period of a configured node controller.
pub(crate) fn default_kcc(obj: &mut Value) {
    let Some(s) = spec_mut(obj) else { return };
    if s.get("prometheusMetricsPort").is_none_or(Value::is_null) {
        s.insert("prometheusMetricsPort".into(), 9094.into());
    }
    if let Some(node) = s
        .get_mut("controllers")
        .and_then(|c| c.get_mut("node"))
        .and_then(Value::as_object_mut)
        && node.get("leakGracePeriod").is_none_or(Value::is_null)
    {
        node.insert("leakGracePeriod".into(), "15m0s".into());
    }
}

pub(crate) fn default_ippool(obj: &mut Value) {
    let Some(s) = spec_mut(obj) else { return };
    let cidr_str = s
        .get("cidr")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let parsed: Option<IpNet> = cidr_str.parse().ok();
    if let Some(n) = parsed {
        // libcalico stores a strictly masked CIDR in canonical spelling (and rejects others).
        if n.trunc() == n {
            s.insert("cidr".into(), Value::String(n.to_string()));
        }
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

/// What libcalico adds to a policy after its validator (so validation errors show the object
/// without it): the tier (`default` when unset) and the tier label; with `crd` (etcd mode) also
/// the CRD's structural defaults (a staged policy's `stagedAction: Set`).
fn default_policy_after_validation(kind: &KindInfo, obj: &mut Value, crd: bool) {
    if crd && has_crd(kind) {
        super::openapi::apply_defaults(&kind.type_name(), obj);
    }
    if kind.is_tiered()
        && let Some(s) = spec_mut(obj)
    {
        let tier = match s.get("tier").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => "default".to_string(),
        };
        s.insert("tier".into(), Value::String(tier.clone()));
        super::meta::set_label(obj, "projectcalico.org/tier", Some(&tier));
    }
    recanonicalise(kind, obj);
}

/// libcalico's `defaultPolicyTypesField`: types from the rules present when none are given.
pub(crate) fn default_policy_types(obj: &mut Value) {
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

/// Defaults and validation of a write, in calicoctl's order: libcalico's client defaults, the
/// Go struct validator, then (`crd`: etcd mode) the v3 CRD's schema defaults, OpenAPI checks
/// and CEL rules. `old` is the stored object an update replaces (for transition rules).
pub fn default_and_validate(
    kind: &KindInfo,
    obj: &mut Value,
    crd: bool,
    old: Option<&Value>,
) -> Result<(), ValidationError> {
    apply_defaults_with(kind, obj, false);
    let Validation::Crd { then } = kind.hooks.validation else {
        let stored = stored_form(kind, obj);
        let r = checks(kind, obj, &stored, crd);
        *obj = stored;
        r?;
        if is_policy_kind(kind) {
            default_policy_after_validation(kind, obj, crd);
        }
        return Ok(());
    };
    let mut errs = struct_validate(kind, obj);
    // The CRD checks and storage see the marshalled form.
    recanonicalise(kind, obj);
    if crd {
        if super::openapi::apply_defaults(&kind.type_name(), obj) {
            recanonicalise(kind, obj);
        }
        errs.extend(super::openapi::validate(
            kind.kind,
            &kind.type_name(),
            obj,
            old,
        ));
    }
    if errs.is_empty()
        && let Some(then) = then
    {
        errs = then(obj);
    }
    Errs(errs).result()
}

/// libcalico's struct validator walk: field tags, then each struct's struct-level check.
fn struct_validate(kind: &KindInfo, obj: &Value) -> Vec<FieldError> {
    let ctx = super::structval::Ctx {
        kind: kind.kind,
        obj,
    };
    let check = |name: &str, v: &Value, errs: &mut Vec<FieldError>| {
        super::structval::check(&ctx, name, v, errs)
    };
    super::gotags::validate(&kind.type_name(), obj, &check)
}

/// [`validate`] without CRD checks for the CRD kinds: what `calicoctl validate` runs.
fn validate_offline(kind: &KindInfo, obj: &Value) -> Result<(), ValidationError> {
    Errs(struct_validate(kind, obj)).result()
}

/// A policy kind's validator errors, then (`crd`: etcd mode; on Kubernetes the API server owns
/// them) its CRD's OpenAPI and CEL errors, which read the stored form.
fn policy_errors(
    kind: &KindInfo,
    checks: PolicyChecks,
    decoded: &Value,
    stored: &Value,
    crd: bool,
) -> Vec<FieldError> {
    let mut errs = super::policyvalid::validate(kind, checks, stored, decoded);
    if crd && has_crd(kind) {
        errs.extend(super::openapi::validate(
            kind.kind,
            &kind.type_name(),
            stored,
            None,
        ));
    }
    errs
}

/// The full validation for a create or update of `obj` (canonical, defaults applied).
pub fn validate(kind: &KindInfo, obj: &Value) -> Result<(), ValidationError> {
    checks(kind, obj, &stored_form(kind, obj), true)
}

/// The validator of `kind`. Go's validator reads the decoded struct, where a list or map given
/// empty is not nil: the struct validator walk (CRD kinds, Node) and the staged Delete checks
/// read `decoded`; the other checks were written for the `stored` form.
fn checks(
    kind: &KindInfo,
    decoded: &Value,
    stored: &Value,
    crd: bool,
) -> Result<(), ValidationError> {
    let plain = match kind.hooks.validation {
        Validation::Policy { checks, .. } => {
            return Errs(policy_errors(kind, checks, decoded, stored, crd)).result();
        }
        // Node has no CRD but the same validator walk.
        Validation::Crd { .. } | Validation::StructWalk => {
            return validate_offline(kind, decoded);
        }
        plain @ (Validation::Plain | Validation::WorkloadEndpoint | Validation::NamedDefault) => {
            plain
        }
    };
    let obj = stored;
    let mut e = Errs(Vec::new());
    validate_metadata(obj, &mut e);
    if let Some(def) = schema().get(&kind.type_name())
        && let Some(spec_field) = def.lookup("spec")
        && let Some(spec) = obj.get("spec")
    {
        check_enums(&spec_field.ty, spec, &mut e);
    }
    match plain {
        Validation::WorkloadEndpoint => validate_wep(obj, &mut e),
        Validation::NamedDefault if crate::model::meta::name(obj) != "default" => {
            e.add(
                "Metadata.Name",
                crate::model::meta::name(obj),
                &format!("{} name must be default", kind.kind),
            );
        }
        Validation::NamedDefault
        | Validation::Plain
        | Validation::Crd { .. }
        | Validation::StructWalk
        | Validation::Policy { .. } => {}
    }
    e.result()
}

/// The kinds whose Go validator checks live in `policyvalid`.
fn is_policy_kind(kind: &KindInfo) -> bool {
    matches!(kind.hooks.validation, Validation::Policy { .. })
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

/// libcalico's ObjectMeta checks, which every kind gets (no check of the namespace).
fn validate_metadata(obj: &Value, e: &mut Errs) {
    e.0.extend(super::policyvalid::object_meta_errors(obj));
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

/// libcalico's WorkloadEndpoint identity rule (etcd): the identifiers its orchestrator needs
/// must be set, and the name must be the one they make (an empty name is given it).
pub fn assign_wep_name(obj: &mut Value) -> Result<(), ValidationError> {
    let spec = |f: &str| str_at(obj, &["spec", f]);
    let unset = |f: &str, value: Option<String>| {
        Err(ValidationError(vec![FieldError {
            name: f.to_string(),
            value,
            reason: "field should be assigned".to_string(),
        }]))
    };
    if spec("node").is_empty() {
        return unset("node", None);
    }
    let orchestrator = spec("orchestrator");
    if orchestrator.is_empty() {
        return unset("orchestrator", Some(String::new()));
    }
    let workload = match orchestrator.as_str() {
        "k8s" => "pod",
        "cni" => "containerID",
        _ => "workload",
    };
    for f in [workload, "endpoint"] {
        if spec(f).is_empty() {
            return unset(f, Some(String::new()));
        }
    }
    // Each part has its dashes doubled, so that the parts can be told apart.
    let expected = [spec("node"), orchestrator, spec(workload), spec("endpoint")]
        .iter()
        .map(|p| p.replace('-', "--"))
        .collect::<Vec<_>>()
        .join("-");
    let name = crate::model::meta::name(obj);
    if name.is_empty() {
        crate::model::meta::set_meta_str(obj, "name", Some(&expected));
    } else if name != expected {
        return Err(ValidationError(vec![FieldError {
            name: "Name".to_string(),
            value: Some(name),
            reason: format!(
                "the WorkloadEndpoint name does not match the primary identifiers assigned in the Spec: expected name {expected}"
            ),
        }]));
    }
    Ok(())
}

/// The labels libcalico adds to a WorkloadEndpoint it stores (etcd): its namespace and
/// orchestrator, for selectors.
pub fn wep_storage_labels(obj: &mut Value) {
    let ns = crate::model::meta::namespace(obj);
    let orchestrator = str_at(obj, &["spec", "orchestrator"]);
    crate::model::meta::set_label(obj, "projectcalico.org/namespace", Some(&ns));
    crate::model::meta::set_label(obj, "projectcalico.org/orchestrator", Some(&orchestrator));
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

    use serde_json::json;

    fn pool(spec: Value) -> Value {
        let mut v = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "p"}, "spec": spec});
        apply_defaults(crate::model::kinds::KindId::IPPool.info(), &mut v);
        v
    }

    #[test]
    fn ippool_defaults_in_go_order() {
        let v = pool(json!({"cidr": "10.1.0.0/16"}));
        assert_eq!(
            serde_json::to_string(&v["spec"]).unwrap(),
            r#"{"cidr":"10.1.0.0/16","vxlanMode":"Never","ipipMode":"Never","blockSize":26,"nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}"#
        );
    }

    #[test]
    fn policy_defaults() {
        let mut v = json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "p"}, "spec": {"egress": [{"action": "Allow"}]}});
        default_and_validate(
            crate::model::kinds::KindId::GlobalNetworkPolicy.info(),
            &mut v,
            true,
            None,
        )
        .unwrap();
        assert_eq!(v["spec"]["tier"], "default");
        assert_eq!(v["spec"]["types"], json!(["Egress"]));
        assert_eq!(v["metadata"]["labels"]["projectcalico.org/tier"], "default");
    }
}
