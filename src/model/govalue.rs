//! Go's `fmt` `%v` of a typed value, as libcalico's validation errors print the offending value
//! (`Services = '&{svc ns}'`, `PolicySpec.Egress = '[{Allow <nil> ...}]'`).
//!
//! The Go type comes from the schema, the value is canonical JSON. Go prints a pointer to a
//! struct, slice or map as `&{...}` only at the top level; deeper down it prints the address.
//! Addresses differ on every run, so a fixed one is printed (tests normalise them).

use serde_json::Value;

use super::schema::{Builtin, Ty, schema};
use crate::gocompat::gofmt::{fmt_map, fmt_slice, fmt_struct, fmt_v_float, go_v as go_v_json};

/// What Go prints for a pointer that has no `String` method below the top level.
pub const FAKE_POINTER: &str = "0xc000123400";

/// `%v` of `v` (absent = Go zero value) typed as the schema type spelled `ty` (`*v3.ICMPFields`,
/// `[]v3.Rule`, `string`, ...). An unknown type prints the JSON scalar as it is.
pub fn go_v(ty: &str, v: Option<&Value>) -> String {
    match schema().ty(ty) {
        Some(t) => fmt_top(&t, v),
        None => v.map(go_v_json).unwrap_or_default(),
    }
}

/// `%v` of a pointer to a whole resource, `&{{Kind APIVersion} {metadata...} {spec...}}`:
/// Go's TypeMeta is one embedded struct holding `kind` and `apiVersion`.
pub fn go_v_resource(type_name: &str, obj: &Value) -> String {
    let Some(def) = schema().get(type_name) else {
        return String::new();
    };
    let s = |f: &str| {
        obj.get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut parts = vec![format!("{{{} {}}}", s("kind"), s("apiVersion"))];
    for f in def
        .fields
        .iter()
        .filter(|f| f.json != "kind" && f.json != "apiVersion")
    {
        parts.push(fmt_value(&f.ty, obj.get(&f.json)));
    }
    format!("&{{{}}}", parts.join(" "))
}

/// `%v` of a value of type `ty` passed directly to `fmt` (depth 0).
pub fn fmt_top(ty: &Ty, v: Option<&Value>) -> String {
    let v = v.filter(|v| !v.is_null());
    match ty {
        Ty::Ptr(inner) => match v {
            None => "<nil>".to_string(),
            Some(x) if is_duration(inner) => pb_duration(x),
            Some(x) if has_stringer(inner) => fmt_value(inner, Some(x)),
            Some(x) => match inner.as_ref() {
                Ty::Struct(_) | Ty::Slice(_) | Ty::Map(_) => {
                    format!("&{}", fmt_value(inner, Some(x)))
                }
                _ => FAKE_POINTER.to_string(),
            },
        },
        _ => fmt_value(ty, v),
    }
}

/// `%v` of a field value as go-playground's validator reports it: a set pointer to anything
/// but a struct is dereferenced first.
pub fn fmt_field(ty: &Ty, v: Option<&Value>) -> String {
    match ty {
        Ty::Ptr(inner)
            if !matches!(inner.as_ref(), Ty::Struct(_))
                && !is_duration(inner)
                && v.is_some_and(|x| !x.is_null()) =>
        {
            fmt_value(inner, v)
        }
        _ => fmt_top(ty, v),
    }
}

/// Types whose pointer prints through a `String` method instead of an address.
fn has_stringer(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Scalar {
            base: Builtin::Port
                | Builtin::Protocol
                | Builtin::IntOrString
                | Builtin::Time
                | Builtin::AsNumber,
            ..
        }
    )
}

fn is_duration(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Scalar {
            base: Builtin::Duration,
            ..
        }
    )
}

/// A `*metav1.Duration`: its generated protobuf `String` method.
fn pb_duration(v: &Value) -> String {
    format!("&Duration{{Duration:{},}}", v.as_str().unwrap_or("0s"))
}

/// `%v` below the top level.
pub fn fmt_value(ty: &Ty, v: Option<&Value>) -> String {
    let v = v.filter(|v| !v.is_null());
    match ty {
        // The protobuf `String` of a nil *metav1.Duration answers "nil".
        Ty::Ptr(inner) if is_duration(inner) => v.map_or_else(|| "nil".to_string(), pb_duration),
        Ty::Ptr(inner) => match v {
            None => "<nil>".to_string(),
            Some(x) if has_stringer(inner) => fmt_value(inner, Some(x)),
            Some(_) => FAKE_POINTER.to_string(),
        },
        Ty::Slice(inner) => match v {
            Some(Value::Array(a)) => fmt_slice(a.iter().map(|x| fmt_value(inner, Some(x)))),
            _ => fmt_slice([]),
        },
        Ty::Map(inner) => match v {
            Some(Value::Object(m)) => fmt_map(
                m.iter()
                    .map(|(k, x)| (k.as_str(), fmt_value(inner, Some(x)))),
            ),
            _ => fmt_map([]),
        },
        Ty::Struct(name) => {
            let Some(def) = schema().get(name) else {
                return fmt_struct([]);
            };
            fmt_struct(
                def.fields
                    .iter()
                    .map(|f| fmt_value(&f.ty, v.and_then(|o| o.get(&f.json)))),
            )
        }
        Ty::Scalar { base, .. } => fmt_scalar(*base, v),
    }
}

fn fmt_scalar(base: Builtin, v: Option<&Value>) -> String {
    match (base, v) {
        (Builtin::String, None) => String::new(),
        (Builtin::Bool, None) => "false".to_string(),
        (Builtin::Time, None) => "0001-01-01 00:00:00 +0000 UTC".to_string(),
        (Builtin::Time, Some(Value::String(s))) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                    .to_string()
            })
            .unwrap_or_else(|_| s.clone()),
        // metav1.Duration's only String method is on the pointer: the value prints as a struct.
        (Builtin::Duration, None) => "{0s}".to_string(),
        (Builtin::Duration, Some(x)) => format!("{{{}}}", go_v_json(x)),
        (Builtin::Any, None) => "<nil>".to_string(),
        (_, None) => "0".to_string(),
        (Builtin::Float { .. }, Some(Value::Number(n))) => fmt_v_float(n.as_f64().unwrap_or(0.0)),
        (_, Some(x)) => go_v_json(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_and_pointers() {
        assert_eq!(
            go_v(
                "[]v3.Rule",
                Some(&json!([{"action": "Allow", "source": {}, "destination": {}}]))
            ),
            "[{Allow <nil> <nil> <nil> <nil> <nil> {[]   <nil> [] []  [] <nil>} {[]   <nil> [] []  [] <nil>} <nil> <nil>}]"
        );
        assert_eq!(
            go_v("*v3.ICMPFields", Some(&json!({"type": 1}))),
            format!("&{{{FAKE_POINTER} <nil>}}")
        );
        assert_eq!(go_v("*v3.ICMPFields", None), "<nil>");
        assert_eq!(
            go_v("*v3.ServiceMatch", Some(&json!({"namespace": "x"}))),
            "&{ x}"
        );
        assert_eq!(go_v("*numorstring.Protocol", Some(&json!("UDP"))), "UDP");
        assert_eq!(
            go_v("[]numorstring.Port", Some(&json!([80, "1:2", "http"]))),
            "[80 1:2 http]"
        );
        assert_eq!(
            go_v(
                "map[string]string",
                Some(&json!({"k": "-v", "bad key": "v"}))
            ),
            "map[bad key:v k:-v]"
        );
    }
}
