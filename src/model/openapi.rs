//! The projectcalico.org/v3 CRDs' structural schema applied to a canonical object, as
//! calicoctl v3.32.1 applies it before writing to etcd: defaults for absent fields, then the
//! OpenAPI value checks (enum, pattern, bounds, lengths, formats) and the CEL rules. The
//! constraints are schema data (`schema/*.schema` flags and `cel` lines); the messages are
//! those of the Kubernetes API machinery.

use ipnet::IpNet;
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::cel;
use super::schema::{Builtin, OpenApi, Ty, schema};
use super::validate::FieldError;

/// Fills absent fields that have a `default=` (recursively), as structural defaulting does.
/// Returns whether anything was added; the caller re-canonicalises.
pub fn apply_defaults(type_name: &str, obj: &mut Value) -> bool {
    default_value(&Ty::Struct(type_name.to_string()), obj)
}

fn default_value(ty: &Ty, v: &mut Value) -> bool {
    match (ty, v) {
        (Ty::Ptr(t), v) => default_value(t, v),
        (Ty::Slice(t), Value::Array(a)) => a.iter_mut().fold(false, |c, x| default_value(t, x) | c),
        (Ty::Map(t), Value::Object(m)) => {
            m.values_mut().fold(false, |c, x| default_value(t, x) | c)
        }
        (Ty::Struct(name), Value::Object(m)) => {
            let Some(def) = schema().get(name) else {
                return false;
            };
            let mut changed = false;
            for f in &def.fields {
                match m.get_mut(&f.json) {
                    Some(x) if !x.is_null() => changed |= default_value(&f.ty, x),
                    _ => {
                        if let Some(d) = f.openapi.as_ref().and_then(|o| o.default.clone()) {
                            m.insert(f.json.clone(), d);
                            changed = true;
                        }
                    }
                }
            }
            changed
        }
        _ => false,
    }
}

/// The OpenAPI and CEL errors of `obj` (of Go type `type_name`, kind `kind`), OpenAPI first.
/// `old` is the stored object on an update (for transition rules).
pub fn validate(kind: &str, type_name: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut w = Walker {
        kind,
        errs: Vec::new(),
    };
    let ty = Ty::Struct(type_name.to_string());
    w.value(&ty, None, None, obj, "");
    let mut errs = w.errs;
    cel_pass(kind, &ty, obj, old, "", &mut errs);
    errs
}

struct Walker<'a> {
    kind: &'a str,
    errs: Vec<FieldError>,
}

/// A field error with no value: `<path> (<reason>)`, the whole object being named by its kind.
fn at(kind: &str, path: &str, reason: String) -> FieldError {
    FieldError {
        name: if path.is_empty() {
            kind.to_string()
        } else {
            path.to_string()
        },
        value: None,
        reason,
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The OpenAPI type name of a schema type, for "must be of type" errors.
fn openapi_type(ty: &Ty) -> &'static str {
    match ty.pointee() {
        Ty::Slice(_) => "array",
        Ty::Map(_) | Ty::Struct(_) => "object",
        Ty::Scalar { base, .. } => match base {
            Builtin::Bool => "boolean",
            Builtin::Int { .. } | Builtin::AsNumber => "integer",
            Builtin::Float { .. } => "number",
            _ => "string",
        },
        Ty::Ptr(_) => "object",
    }
}

impl Walker<'_> {
    fn push(&mut self, path: &str, reason: String) {
        let e = at(self.kind, path, reason);
        if !self.errs.contains(&e) {
            self.errs.push(e);
        }
    }

    /// Checks `v` (at `path`) against its constraints `c` and its children, whose own
    /// constraints are `item`. As kube-openapi, an array's items come before its own checks;
    /// an object's properties after them.
    fn value(
        &mut self,
        ty: &Ty,
        c: Option<&OpenApi>,
        item: Option<&OpenApi>,
        v: &Value,
        path: &str,
    ) {
        if v.is_null() {
            // Go marshals a nil pointer, slice or map without omitempty as null, which no
            // CRD type admits (times excepted: they are nullable).
            if !matches!(
                ty.pointee(),
                Ty::Scalar {
                    base: Builtin::Time | Builtin::Any,
                    ..
                }
            ) {
                self.push(
                    path,
                    format!(
                        "{path} in body must be of type {}: \"null\"",
                        openapi_type(ty)
                    ),
                );
            }
            return;
        }
        // The validator reads numbers as JSON does: an integer whose float64 value reaches
        // 2^63 stays a float, which is no integer.
        if let (
            Ty::Scalar {
                base: Builtin::Int { .. },
                ..
            },
            Some(n),
        ) = (ty.pointee(), v.as_i64())
            && n as f64 >= 2f64.powi(63)
        {
            self.push(
                path,
                format!("{path} in body must be of type integer: \"number\""),
            );
        }
        let is_array = matches!(v, Value::Array(_));
        if let (Some(c), false) = (c, is_array) {
            self.constraints(c, v, path);
        }
        match (ty.pointee(), v) {
            (Ty::Slice(t), Value::Array(a)) => {
                for (i, x) in a.iter().enumerate() {
                    self.element(t, item, x, &format!("{path}[{i}]"));
                }
            }
            (Ty::Map(t), Value::Object(m)) => {
                for (k, x) in m {
                    self.element(t, item, x, &child(path, k));
                }
            }
            (Ty::Struct(name), Value::Object(m)) => self.object(name, m, path),
            _ => {}
        }
        if let (Some(c), true) = (c, is_array) {
            self.constraints(c, v, path);
        }
    }

    /// `minItems`/`maxItems` (or `minProperties`/`maxProperties`, counted in `unit`).
    fn counted(
        &mut self,
        path: &str,
        n: usize,
        min: Option<usize>,
        max: Option<usize>,
        unit: &str,
    ) {
        if let Some(max) = max
            && n > max
        {
            let s = if max == 1 { "" } else { "s" };
            self.push(path, format!("must have at most {max} item{s}"));
        }
        if let Some(min) = min
            && n < min
        {
            self.push(
                path,
                format!("{path} in body should have at least {min} {unit}"),
            );
        }
    }

    /// One element of an array or map: its own constraints, then its children.
    fn element(&mut self, ty: &Ty, c: Option<&OpenApi>, v: &Value, path: &str) {
        if let (Some(c), false) = (c, v.is_null()) {
            self.constraints(c, v, path);
        }
        self.value(ty, None, None, v, path);
    }

    fn object(&mut self, name: &str, m: &Map<String, Value>, path: &str) {
        let Some(def) = schema().get(name) else {
            return;
        };
        for f in &def.fields {
            let p = child(path, &f.json);
            match m.get(&f.json) {
                None => {
                    if f.openapi.as_ref().is_some_and(|o| o.required) {
                        self.push(&p, "Required value".to_string());
                    }
                }
                Some(x) => {
                    if f.embed && f.json == "metadata" {
                        continue;
                    }
                    self.value(&f.ty, f.openapi.as_deref(), f.item.as_deref(), x, &p);
                }
            }
        }
    }

    /// The value checks of one schema node, in the order the OpenAPI validator runs them:
    /// allOf, string (length, pattern), format, number, array, enum.
    fn constraints(&mut self, c: &OpenApi, v: &Value, path: &str) {
        let one_of = |set: &Vec<String>| match v {
            Value::String(s) => set.iter().any(|x| x == s),
            other => {
                let o = other.to_string();
                set.contains(&o)
            }
        };
        let enum_reason = |set: &Vec<String>| {
            let quoted: Vec<String> = set.iter().map(|x| format!("{x:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        if c.enums.len() > 1 {
            let mut validated = 0;
            for set in &c.enums {
                if one_of(set) {
                    validated += 1;
                } else {
                    self.push(path, enum_reason(set));
                }
            }
            if validated != c.enums.len() {
                let none = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                self.push(
                    "",
                    format!("{path:?} must validate all the schemas (allOf){none}"),
                );
            }
        }
        if let Value::String(s) = v {
            if let Some(max) = c.max_length
                && s.chars().count() > max
            {
                self.push(path, format!("may not be more than {max} bytes"));
            }
            if let Some(min) = c.min_length
                && s.chars().count() < min
            {
                self.push(
                    path,
                    format!("{path} in body should be at least {min} chars long"),
                );
            }
            if let Some(p) = &c.pattern
                && !pattern_matches(p, s)
            {
                self.push(path, format!("{path} in body should match '{p}'"));
            }
            if let Some(f) = &c.format
                && !format_ok(f, s)
            {
                self.push(path, format!("{path} in body must be of type {f}: {:?}", s));
            }
        }
        if let Value::Number(n) = v {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(max) = c.maximum
                && x > max
            {
                self.push(
                    path,
                    format!(
                        "{path} in body should be less than or equal to {}",
                        crate::gocompat::gofmt::fmt_v_float(max)
                    ),
                );
            }
            if let Some(min) = c.minimum
                && x < min
            {
                self.push(
                    path,
                    format!(
                        "{path} in body should be greater than or equal to {}",
                        crate::gocompat::gofmt::fmt_v_float(min)
                    ),
                );
            }
        }
        match v {
            Value::Array(a) => self.counted(path, a.len(), c.min_items, c.max_items, "items"),
            Value::Object(m) => self.counted(path, m.len(), c.min_props, c.max_props, "properties"),
            _ => {}
        }
        if c.enums.len() == 1 && !one_of(&c.enums[0]) {
            self.push(path, enum_reason(&c.enums[0]));
        }
    }
}

/// Go `regexp.MatchString` for a CRD pattern (compiled once per pattern).
fn pattern_matches(pattern: &str, s: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let Ok(mut m) = cache.lock() else {
        return true;
    };
    let re = m.entry(pattern.to_string()).or_insert_with(|| {
        // Go's \d is ASCII-only.
        Regex::new(&pattern.replace("\\d", "[0-9]")).ok()
    });
    re.as_ref().is_none_or(|r| r.is_match(s))
}

/// The OpenAPI string formats the Calico CRDs use.
fn format_ok(format: &str, s: &str) -> bool {
    match format {
        // Go's net.ParseCIDR: an address and a prefix length, host bits allowed.
        "cidr" => s.parse::<IpNet>().is_ok() && !s.contains('%'),
        "date-time" => crate::model::gotypes::normalize_time(s).is_ok(),
        _ => true,
    }
}

/// Evaluates the CEL rules of every struct under `ty`, children before parents' siblings.
fn cel_pass(
    kind: &str,
    ty: &Ty,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    match (ty.pointee(), v) {
        (Ty::Slice(t), Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                cel_pass(kind, t, x, None, &format!("{path}[{i}]"), errs);
            }
        }
        (Ty::Map(t), Value::Object(m)) => {
            for (k, x) in m {
                cel_pass(kind, t, x, None, &child(path, k), errs);
            }
        }
        (Ty::Struct(name), Value::Object(m)) => {
            let Some(def) = schema().get(name) else {
                return;
            };
            for rule in &def.cel {
                // A transition rule is only checked on an update.
                if rule.rule.contains("oldSelf") && old.is_none() {
                    continue;
                }
                let reason = match cel::compile(&rule.rule).and_then(|p| p.eval(v, old)) {
                    Ok(true) => continue,
                    Ok(false) => rule.message.clone(),
                    Err(e) => format!("{e} evaluating rule: {}", rule.message),
                };
                errs.push(at(kind, path, reason));
            }
            for f in &def.fields {
                if let Some(x) = m.get(&f.json) {
                    let o = old.and_then(|o| o.get(&f.json));
                    cel_pass(kind, &f.ty, x, o, &child(path, &f.json), errs);
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
    fn items_before_bounds_then_cel() {
        let gnp = json!({"metadata": {"name": "p"}, "spec": {
            "preDNAT": true,
            "ingress": [{"action": "Deny", "icmp": {"code": 3, "type": 300}, "http": {}, "source": {}, "destination": {}}],
            "types": ["Ingress", "Egress", "Bogus"]
        }});
        let got: Vec<String> =
            validate("GlobalNetworkPolicy", "v3.GlobalNetworkPolicy", &gnp, None)
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

    #[test]
    fn defaults_fill_absent_fields_only() {
        let mut v = json!({"spec": {"order": 1}});
        assert!(apply_defaults("v3.Tier", &mut v));
        assert_eq!(v["spec"]["defaultAction"], "Deny");
        let mut v = json!({"spec": {"defaultAction": "Pass"}});
        apply_defaults("v3.Tier", &mut v);
        assert_eq!(v["spec"]["defaultAction"], "Pass");
    }

    #[test]
    fn enum_allof_and_cel_messages() {
        let v = json!({"metadata": {"name": "default"}, "spec": {"defaultAction": "Allow"}});
        let e: Vec<String> = validate("Tier", "v3.Tier", &v, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            e,
            [
                "spec.defaultAction (supported values: \"Pass\", \"Deny\")",
                "Tier (\"spec.defaultAction\" must validate all the schemas (allOf))",
                "Tier (The 'default' tier must have default action 'Deny')",
            ]
        );
    }

    #[test]
    fn pattern_bounds_and_lengths() {
        let v = json!({"spec": {"bpfLogLevel": "Trace", "bpfMapSizeConntrackCleanupQueue": 0}});
        let e: Vec<String> = validate("FelixConfiguration", "v3.FelixConfiguration", &v, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(e.contains(&"spec.bpfLogLevel (spec.bpfLogLevel in body should match '^(?i)(Off|Info|Debug)?$')".to_string()), "{e:?}");
        assert!(e.contains(&"spec.bpfMapSizeConntrackCleanupQueue (spec.bpfMapSizeConntrackCleanupQueue in body should be greater than or equal to 1)".to_string()), "{e:?}");
    }
}
