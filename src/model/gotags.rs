//! The Go struct validator (go-playground/validator v9 as libcalico-go configures it) over a
//! canonical object: field tags from the schema's `v=` flags, checked in Go declaration order,
//! depth first, with each struct's registered struct-level check after its fields. Also Go's
//! `%v` rendering of typed values, which the error texts embed.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::govalue::fmt_field;
use super::schema::{Builtin, GoTag, Ty, schema};
use super::validate::FieldError;

/// A struct-level check: `(Go struct name, value of the struct, errors)`.
pub type StructCheck<'a> = &'a dyn Fn(&str, &Value, &mut Vec<FieldError>);

/// Runs the field tags of `type_name` over `obj`, then `structs` for every struct visited.
pub fn validate(type_name: &str, obj: &Value, structs: StructCheck<'_>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk_struct(type_name, obj, structs, &mut errs);
    errs
}

fn walk_struct(name: &str, v: &Value, structs: StructCheck<'_>, errs: &mut Vec<FieldError>) {
    let Some(def) = schema().get(name) else {
        return;
    };
    let empty = Value::Object(Default::default());
    let obj = if v.is_object() { v } else { &empty };
    for f in &def.fields {
        // Absent non-pointer fields hold Go's zero value.
        let zero;
        let val = match obj.get(&f.json) {
            Some(x) => x,
            None => {
                zero = schema().zero_value(&f.ty);
                &zero
            }
        };
        walk_field(&f.go, &f.ty, val, &f.tags, structs, errs);
    }
    structs(name, obj, errs);
}

/// go-playground's traverseField for one field value and its remaining tags.
fn walk_field(
    name: &str,
    ty: &Ty,
    v: &Value,
    tags: &[GoTag],
    structs: StructCheck<'_>,
    errs: &mut Vec<FieldError>,
) {
    let is_ptr = matches!(ty, Ty::Ptr(_));
    if v.is_null() && (is_ptr || matches!(ty, Ty::Slice(_) | Ty::Map(_))) {
        match tags.first().map(|t| t.name.as_str()) {
            None | Some("omitempty") => return,
            _ => {}
        }
    }
    let inner = ty.pointee();
    let mut i = 0;
    while i < tags.len() {
        let t = &tags[i];
        match t.name.as_str() {
            "omitempty" => {
                // A set pointer is validated even when it points at a zero value.
                if !is_ptr && !has_value(inner, v) {
                    return;
                }
            }
            "dive" => {
                let rest = &tags[i + 1..];
                let elem = match inner {
                    Ty::Slice(e) | Ty::Map(e) => e.as_ref(),
                    _ => return,
                };
                // Elements are named like Go's namespace: `Field[0]`, `Field[key]`.
                match v {
                    Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
                        walk_field(&format!("{name}[{i}]"), elem, x, rest, structs, errs)
                    }),
                    Value::Object(m) => m.iter().for_each(|(k, x)| {
                        walk_field(&format!("{name}[{k}]"), elem, x, rest, structs, errs)
                    }),
                    _ => {}
                }
                return;
            }
            // go-playground's hasValue: a set pointer has a value even when it points at zero.
            "required" if is_ptr && !v.is_null() => {}
            tag => {
                if !check_tag(tag, &t.param, inner, v) {
                    errs.push(tag_error(name, &fmt_field(ty, Some(v)), tag));
                    return;
                }
            }
        }
        i += 1;
    }
    match inner {
        Ty::Struct(s) if !v.is_null() => walk_struct(s, v, structs, errs),
        // numorstring.Port and Protocol are Go structs with their own struct-level checks.
        Ty::Scalar {
            base: Builtin::Port,
            ..
        } if !v.is_null() => structs("numorstring.Port", v, errs),
        Ty::Scalar {
            base: Builtin::Protocol,
            go_name,
        } if !v.is_null() => structs(go_name, v, errs),
        _ => {}
    }
}

/// The error a failed tag gives.
pub fn tag_error(go_field: &str, value: &str, tag: &str) -> FieldError {
    FieldError {
        name: go_field.to_string(),
        value: Some(value.to_string()),
        reason: format!("Reason: failed to validate Field: {go_field} because of Tag: {tag} "),
    }
}

/// go-playground's hasValue: set pointers, slices and maps; non-zero scalars.
fn has_value(ty: &Ty, v: &Value) -> bool {
    match ty {
        Ty::Ptr(_) | Ty::Slice(_) | Ty::Map(_) => !v.is_null(),
        Ty::Struct(_) => true,
        Ty::Scalar { .. } => *v != schema().zero_value(ty) && !v.is_null(),
    }
}

/// Length or numeric value, as go-playground compares for `gt`/`gte`/`lt`/`lte`/`min`/`max`.
fn measure(ty: &Ty, v: &Value) -> Option<f64> {
    match (ty, v) {
        (
            Ty::Scalar {
                base: Builtin::String,
                ..
            },
            Value::String(s),
        ) => Some(s.chars().count() as f64),
        (_, Value::Array(a)) => Some(a.len() as f64),
        (Ty::Map(_), Value::Object(m)) => Some(m.len() as f64),
        (_, Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

fn check_tag(name: &str, param: &str, ty: &Ty, v: &Value) -> bool {
    let p: f64 = param.parse().unwrap_or(0.0);
    let m = || measure(ty, v).unwrap_or(0.0);
    let s = v.as_str().unwrap_or_default();
    match name {
        "required" => has_value(ty, v),
        "gt" => m() > p,
        "gte" | "min" => m() >= p,
        "lt" => m() < p,
        "lte" | "max" => m() <= p,
        "oneof" => {
            let got = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            param.split(' ').any(|x| x == got)
        }
        _ => custom_tag(name, s, v),
    }
}

/// libcalico-go's registered field validators.
fn custom_tag(name: &str, s: &str, v: &Value) -> bool {
    let ip = |s: &str| s.parse::<IpAddr>().is_ok();
    let net = |s: &str| s.parse::<IpNet>().is_ok_and(|n| n.trunc() == n) || ip(s);
    let strs = || super::structval::str_list(Some(v));
    match name {
        "logLevel" => ["Trace", "Debug", "Info", "Warning", "Error", "Fatal"].contains(&s),
        "bpfLogLevel" => ["Off", "Info", "Debug"].contains(&s),
        "acceptReturn" => ["Accept", "Return"].contains(&s),
        "dropAcceptReturn" => ["Drop", "Accept", "Return"].contains(&s),
        "dropReject" => ["Drop", "Reject"].contains(&s),
        "iptablesBackend" => ["Legacy", "NFT", "Auto"].contains(&s),
        "bpfServiceMode" => ["Tunnel", "DSR"].contains(&s),
        "ip" => ip(s),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => s.parse::<IpNet>().is_ok(),
        "net" => net(s),
        "netv4" => s.parse::<ipnet::Ipv4Net>().is_ok_and(|n| n.trunc() == n),
        "netv6" => s.parse::<ipnet::Ipv6Net>().is_ok_and(|n| n.trunc() == n),
        "cidrv4" => s.parse::<ipnet::Ipv4Net>().is_ok() || s.parse::<std::net::Ipv4Addr>().is_ok(),
        "cidrv6" => s.parse::<ipnet::Ipv6Net>().is_ok() || s.parse::<std::net::Ipv6Addr>().is_ok(),
        "mac" => valid_mac(s),
        // libcalico skips empty entries (`reservedCIDRs: [""]` passes).
        "cidrs" => strs()
            .iter()
            .all(|c| c.is_empty() || c.parse::<IpNet>().is_ok() || ip(c)),
        "interface" => valid_interface(s),
        // Keys are interface names (`all` is one); the filter expressions are not checked.
        "bpfLogFilters" => v
            .as_object()
            .is_none_or(|m| m.keys().all(|k| valid_ifname(k, b"_.-"))),
        // A BGPFilter rule's interface may hold `*` wildcards anywhere.
        "bgpFilterInterface" => valid_ifname(s, b"_.-*"),
        "matchOperator" => ["Equal", "NotEqual", "In", "NotIn"].contains(&s),
        "filterAction" => ["Accept", "Reject"].contains(&s),
        "bgpFilterPrefixLengthV4" => v.as_i64().is_some_and(|n| (0..=32).contains(&n)),
        "bgpFilterPrefixLengthV6" => v.as_i64().is_some_and(|n| (0..=128).contains(&n)),
        "name" => super::validate::is_dns1123_subdomain(s),
        "selector" => super::selector::parse(s).is_ok(),
        "IP:port" => valid_ip_port(s),
        "sourceAddress" => ["UseNodeIP", "None"].contains(&s),
        "portName" => valid_port_name(s),
        "ipIpMode" | "vxlanMode" => ["Never", "Always", "CrossSubnet"].contains(&s),
        "assignmentMode" => ["Automatic", "Manual"].contains(&s),
        "reachableBy" => ip(s),
        "ignoredInterface" => {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-*".contains(&b))
        }
        "keyValueList" => s.split(',').all(|kv| {
            kv.split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(is_key_char))
        }),
        // Unknown tags pass: only the ones above are modelled.
        _ => true,
    }
}

/// Go's `net.ParseMAC`: 6, 8 or 20 bytes as `xx:xx:…`, `xx-xx-…` or `xxxx.xxxx.…`.
fn valid_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let (parts, width): (Vec<&str>, usize) = if s.contains(':') {
        (s.split(':').collect(), 2)
    } else if s.contains('-') {
        (s.split('-').collect(), 2)
    } else {
        (s.split('.').collect(), 4)
    };
    let bytes = parts.len() * width / 2;
    [6, 8, 20].contains(&bytes) && parts.iter().all(|p| hex(p, width))
}

/// An IP, or `ip:port` / `[v6]:port` with a port of 1-65535 (BGPPeer peerIP).
pub fn valid_ip_port(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    if let Some(rest) = s.strip_prefix('[')
        && let Some((ip, port)) = rest.split_once("]:")
    {
        return ip.parse::<std::net::Ipv6Addr>().is_ok() && port_ok(port);
    }
    match s.rsplit_once(':') {
        Some((ip, port)) => ip.parse::<std::net::Ipv4Addr>().is_ok() && port_ok(port),
        None => false,
    }
}

/// A named port: a DNS-label-like word of letters, digits, `-` and `_`.
fn valid_port_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// libcalico's interface name check: 1-15 of `[a-zA-Z0-9_.-]`.
fn valid_interface(s: &str) -> bool {
    s == "*" || valid_ifname(s, b"_.-")
}

/// 1-15 characters (Linux IFNAMSIZ) of letters, digits and `extra`.
fn valid_ifname(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peer_ip_forms() {
        for ok in ["10.0.0.1", "10.0.0.1:179", "fd00::1", "[fd00::1]:179"] {
            assert!(valid_ip_port(ok), "{ok}");
        }
        for bad in ["badpeerIP", "10.0.0.1:0", "fd00::1:x", "[fd00::1]"] {
            assert!(!valid_ip_port(bad), "{bad}");
        }
    }

    #[test]
    fn set_pointer_to_zero_is_checked() {
        let spec = json!({"wireguardListeningPort": 0});
        let errs = validate("v3.FelixConfigurationSpec", &spec, &|_, _, _| {});
        let want: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            want.iter().any(|e| e
                == "WireguardListeningPort = '0' (Reason: failed to validate Field: WireguardListeningPort because of Tag: gt )"),
            "{want:?}"
        );
    }
}
