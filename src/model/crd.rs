//! The v3 CRDs' own validation, which calicoctl v3.32 also applies in etcd mode after
//! libcalico's validator: the OpenAPI schema (enums and bounds, kept as schema flags) and the
//! CEL `x-kubernetes-validations` rules (below, one function per rule). Errors carry the JSON
//! path and the apiserver's text, without a value: `spec.types (must have at most 2 items)`.

use serde_json::Value;

use super::schema::{Builtin, Field, Ty, schema};
use super::validate::FieldError;

/// The CRD errors for `obj` (canonical) of the Go type `type_name`: schema errors, then CEL.
pub fn validate(type_name: &str, obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    let ty = Ty::Struct(type_name.to_string());
    openapi(&ty, obj, "", &mut out);
    cel(&ty, obj, "", &mut out);
    out
}

fn err(out: &mut Vec<FieldError>, path: &str, reason: String) {
    out.push(FieldError {
        name: path.to_string(),
        value: None,
        reason,
    });
}

fn join(path: &str, json: &str) -> String {
    if path.is_empty() {
        json.to_string()
    } else {
        format!("{path}.{json}")
    }
}

/// Walks the value along its type; a field's own bounds are checked after its contents.
fn openapi(ty: &Ty, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    match (ty, v) {
        (Ty::Ptr(t), _) => openapi(t, v, path, out),
        (Ty::Slice(t), Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                openapi(t, x, &format!("{path}[{i}]"), out);
            }
        }
        (Ty::Map(t), Value::Object(m)) => {
            for (k, x) in m {
                openapi(t, x, &join(path, k), out);
            }
        }
        (Ty::Struct(name), Value::Object(m)) => {
            let Some(def) = schema().get(name) else {
                return;
            };
            for f in &def.fields {
                if let Some(x) = m.get(&f.json).filter(|x| !x.is_null()) {
                    let p = join(path, &f.json);
                    openapi(&f.ty, x, &p, out);
                    integer_type(&f.ty, x, &p, out);
                    field_bounds(f, x, &p, out);
                }
            }
        }
        _ => {}
    }
}

/// The CRD validator sees numbers as JSON does: an int whose float64 value is 2^63 or more
/// stays a float and is no longer an integer.
fn integer_type(ty: &Ty, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let ty = match ty {
        Ty::Ptr(t) => t.as_ref(),
        t => t,
    };
    if let (
        Ty::Scalar {
            base: Builtin::Int { .. },
            ..
        },
        Some(n),
    ) = (ty, v.as_i64())
        && n as f64 >= 2f64.powi(63)
    {
        err(
            out,
            path,
            format!("{path} in body must be of type integer: \"number\""),
        );
    }
}

fn field_bounds(f: &Field, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    if let Some(allowed) = &f.enum_values {
        let supported = || {
            let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    if !allowed.contains(&super::kinds::go_v(x)) {
                        err(out, &format!("{path}[{i}]"), supported());
                    }
                }
            }
            x => {
                if !allowed.contains(&super::kinds::go_v(x)) {
                    err(out, path, supported());
                }
            }
        }
    }
    let b = &f.bounds;
    if let Some(n) = v.as_i64() {
        if let Some(max) = b.maximum.filter(|m| n > *m) {
            err(
                out,
                path,
                format!("{path} in body should be less than or equal to {max}"),
            );
        }
        if let Some(min) = b.minimum.filter(|m| n < *m) {
            err(
                out,
                path,
                format!("{path} in body should be greater than or equal to {min}"),
            );
        }
    }
    if let Value::Array(a) = v {
        if let Some(max) = b.max_items.filter(|m| a.len() > *m) {
            err(out, path, format!("must have at most {max} items"));
        }
        if let Some(min) = b.min_items.filter(|m| a.len() < *m) {
            err(out, path, format!("must have at least {min} items"));
        }
    }
    if let (Value::String(s), Some(max)) = (v, b.max_length)
        && s.len() > max
    {
        err(out, path, format!("may not be more than {max} bytes"));
    }
}

/// A CEL rule: its message and the predicate that must hold for the object it sits on.
type Rule = (&'static str, fn(&Value) -> bool);

fn has(v: &Value, f: &str) -> bool {
    v.get(f).is_some_and(|x| !x.is_null())
}

fn flag(v: &Value, f: &str) -> bool {
    v.get(f).and_then(Value::as_bool).unwrap_or(false)
}

fn size(v: &Value, f: &str) -> usize {
    v.get(f).and_then(Value::as_array).map_or(0, Vec::len)
}

const GLOBAL_POLICY_SPEC: &[Rule] = &[
    ("preDNAT and doNotTrack cannot both be true", |s| {
        !(flag(s, "doNotTrack") && flag(s, "preDNAT"))
    }),
    ("preDNAT policy cannot have any egress rules", |s| {
        !flag(s, "preDNAT") || size(s, "egress") == 0
    }),
    ("preDNAT policy cannot have 'Egress' type", |s| {
        !flag(s, "preDNAT")
            || !s
                .get("types")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|x| x == "Egress"))
    }),
    (
        "applyOnForward must be true if either preDNAT or doNotTrack is true",
        |s| flag(s, "applyOnForward") || (!flag(s, "doNotTrack") && !flag(s, "preDNAT")),
    ),
];

const RULE: &[Rule] = &[
    (
        "rules with HTTP match must have protocol TCP or unset",
        |r| {
            !has(r, "http")
                || !has(r, "protocol")
                || r["protocol"] == "TCP"
                || r["protocol"].as_i64() == Some(6)
        },
    ),
    ("HTTP match is only valid on Allow rules", |r| {
        r.get("action").is_some_and(|a| a == "Allow") || !has(r, "http")
    }),
    (
        "ports and notPorts cannot be specified with services",
        |r| {
            let d = &r["destination"];
            !has(r, "destination")
                || !has(d, "services")
                || (size(d, "ports") == 0 && size(d, "notPorts") == 0)
        },
    ),
];

const ICMP: &[Rule] = &[("ICMP code specified without an ICMP type", |i| {
    !has(i, "code") || has(i, "type")
})];

fn rules_for(type_name: &str) -> &'static [Rule] {
    match type_name {
        "v3.GlobalNetworkPolicySpec" | "v3.StagedGlobalNetworkPolicySpec" => GLOBAL_POLICY_SPEC,
        "v3.Rule" => RULE,
        "v3.ICMPFields" => ICMP,
        _ => &[],
    }
}

/// Evaluates the rules of each object before those of its fields.
fn cel(ty: &Ty, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    match (ty, v) {
        (Ty::Ptr(t), _) => cel(t, v, path, out),
        (Ty::Slice(t), Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                cel(t, x, &format!("{path}[{i}]"), out);
            }
        }
        (Ty::Struct(name), Value::Object(m)) => {
            for (msg, ok) in rules_for(name) {
                if !ok(v) {
                    err(out, path, msg.to_string());
                }
            }
            let Some(def) = schema().get(name) else {
                return;
            };
            for f in &def.fields {
                if let Some(x) = m.get(&f.json).filter(|x| !x.is_null()) {
                    cel(&f.ty, x, &join(path, &f.json), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_and_rules() {
        let gnp = json!({"metadata": {"name": "p"}, "spec": {
            "preDNAT": true,
            "ingress": [{"action": "Deny", "icmp": {"code": 3, "type": 300}, "http": {}, "source": {}, "destination": {}}],
            "types": ["Ingress", "Egress", "Bogus"]
        }});
        let got: Vec<String> = validate("v3.GlobalNetworkPolicy", &gnp)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "spec.ingress[0].icmp.type (spec.ingress[0].icmp.type in body should be less than or equal to 254)",
                "spec.types[2] (supported values: \"Ingress\", \"Egress\")",
                "spec.types (must have at most 2 items)",
                "spec (preDNAT policy cannot have 'Egress' type)",
                "spec (applyOnForward must be true if either preDNAT or doNotTrack is true)",
                "spec.ingress[0] (HTTP match is only valid on Allow rules)",
            ]
        );
    }
}
