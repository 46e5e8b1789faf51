//! libcalico-go's struct-level validators for the non-policy kinds: the checks registered per
//! Go struct type, run by the struct walk of `gotags` after the struct's own field tags. Texts
//! and field names are calicoctl's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde_json::Value;

use super::govalue::{fmt_field, fmt_value};
use super::k8s_names::{DNS1123_LABEL_FMT, is_dns1123_label_chars};
use super::kinds::str_at;
use super::schema::{Ty, schema};
use super::validate::FieldError;

/// The object-wide facts some struct checks need (the kind, the whole object).
pub struct Ctx<'a> {
    pub kind: &'a str,
    pub obj: &'a Value,
}

fn err(name: &str, value: impl Into<Option<String>>, reason: &str) -> FieldError {
    FieldError {
        name: name.to_string(),
        value: value.into(),
        reason: reason.to_string(),
    }
}

/// `%v` of the field `json` of struct `st` in `v`; `top`: as the validator reports a field.
fn field_v(st: &str, json: &str, v: &Value, top: bool) -> String {
    let Some(f) = schema().get(st).and_then(|d| d.lookup(json)) else {
        return String::new();
    };
    if top {
        fmt_field(&f.ty, v.get(json))
    } else {
        fmt_value(&f.ty, v.get(json))
    }
}

/// Runs the struct-level check registered for Go struct `name` on its value `v`.
pub fn check(ctx: &Ctx<'_>, name: &str, v: &Value, errs: &mut Vec<FieldError>) {
    match name {
        "metav1.ObjectMeta" => errs.extend(super::policyvalid::object_meta_errors(ctx.obj)),
        "v3.Tier" => tier(v, errs),
        "numorstring.Port" => port(v, errs),
        "v3.FelixConfigurationSpec" => felix_spec(v, errs),
        "v3.RouteTableRange" => route_table_range(v, errs),
        "v3.RouteTableIDRange" => route_table_id_range(v, errs),
        "v3.HealthTimeoutOverride" => health_timeout_override(v, errs),
        "v3.BGPConfigurationSpec" => bgp_config_spec(v, errs),
        "v3.BGPPeerSpec" => bgp_peer_spec(v, errs),
        "v3.IPPool" => ippool(v, errs),
        "v3.NodeSpec" => node_spec(v, errs),
        "v3.BGPFilterRuleV4" => bgp_filter_rule("v3.BGPFilterRuleV4", v, errs),
        "v3.BGPFilterRuleV6" => bgp_filter_rule("v3.BGPFilterRuleV6", v, errs),
        "v3.BGPFilterOperation" => bgp_filter_operation(v, errs),
        "numorstring.Protocol" => protocol(v, errs),
        "v3.EndpointPort" => endpoint_port(v, errs),
        "v3.HostEndpointSpec" => host_endpoint_spec(v, errs),
        _ => {}
    }
}

/// A BGP community value: `Some(Ok)` for `aa:nn` with 16-bit parts or large `aa:nn:mm` with
/// 32-bit parts, `Some(Err(why))` for those shapes out of range, `None` for another shape.
fn community(v: &str) -> Option<Result<(), &'static str>> {
    let parts: Vec<&str> = v.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(if parts.len() == 2 {
        if parts.iter().all(|p| p.parse::<u16>().is_ok()) {
            Ok(())
        } else {
            Err("invalid community value, expected 16 bit value")
        }
    } else if parts.iter().all(|p| p.parse::<u32>().is_ok()) {
        Ok(())
    } else {
        Err("invalid community value, expected 32 bit value")
    })
}

fn bgp_config_spec(s: &Value, errs: &mut Vec<FieldError>) {
    let mut names = Vec::new();
    if let Some(Value::Array(cs)) = s.get("communities") {
        for c in cs {
            let v = str_at(c, &["value"]);
            let why = match community(&v) {
                Some(Ok(())) => None,
                Some(Err(why)) => Some(why),
                None => Some("invalid community value or format used."),
            };
            if let Some(why) = why {
                errs.push(err("Spec.Communities[].Value", v, why));
            }
            names.push(str_at(c, &["name"]));
        }
        let advertised = s
            .get("prefixAdvertisements")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !cs.is_empty() && !advertised {
            errs.push(err(
                "Spec.Communities[]",
                field_v("v3.BGPConfigurationSpec", "communities", s, false),
                "communities are defined but not used in Spec.PrefixAdvertisement[].",
            ));
        }
    }
    if let Some(Value::Array(pas)) = s.get("prefixAdvertisements") {
        for pa in pas {
            if let Some(Value::Array(cs)) = pa.get("communities") {
                for c in cs.iter().filter_map(Value::as_str) {
                    let why = match community(c) {
                        Some(Ok(())) => None,
                        Some(Err(why)) => Some(why),
                        None if names.iter().any(|n| n == c) => None,
                        None => Some("community used is invalid or not defined."),
                    };
                    if let Some(why) = why {
                        errs.push(err(
                            "Spec.PrefixAdvertisement[].Communities[]",
                            c.to_string(),
                            why,
                        ));
                    }
                }
            }
            let cidr = str_at(pa, &["cidr"]);
            // An empty CIDR is the `required` tag's error alone.
            if !cidr.is_empty() && cidr.parse::<IpNet>().is_err() && !is_ip(&cidr) {
                errs.push(err(
                    "Spec.PrefixAdvertisement[].CIDR",
                    cidr,
                    "invalid CIDR value.",
                ));
            }
        }
    }
    if s.get("nodeToNodeMeshEnabled").and_then(Value::as_bool) == Some(false) {
        for (json, go) in [
            ("nodeMeshPassword", "NodeMeshPassword"),
            ("nodeMeshMaxRestartTime", "NodeMeshMaxRestartTime"),
        ] {
            if s.get(json).is_some_and(|v| !v.is_null()) {
                errs.push(err(
                    &format!("Spec.{go}"),
                    fmt_value(&Ty::Struct("v3.BGPConfigurationSpec".into()), Some(s)),
                    &format!("spec.{go} cannot be set if spec.NodeToNodeMesh is disabled"),
                ));
            }
        }
    }
}

/// libcalico's BGPConfiguration client checks after a successful validation.
pub fn post_validate_bgp_configuration(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    bgp_config_not_default(obj, &mut errs);
    errs
}

/// Only the `default` BGPConfiguration holds the cluster-wide fields.
fn bgp_config_not_default(c: &Value, errs: &mut Vec<FieldError>) {
    if str_at(c, &["metadata", "name"]) == "default" {
        return;
    }
    let spec = c.get("spec").cloned().unwrap_or(Value::Null);
    for (json, go, shown) in [
        (
            "nodeToNodeMeshEnabled",
            "NodeToNodeMeshEnabled",
            "nodeToNodeMeshEnabled",
        ),
        ("asNumber", "ASNumber", "ASNumber"),
        (
            "serviceLoadBalancerIPs",
            "ServiceLoadBalancerIPs",
            "ServiceLoadBalancerIPs",
        ),
        (
            "serviceExternalIPs",
            "ServiceExternalIPs",
            "ServiceExternalIPs",
        ),
        (
            "serviceClusterIPs",
            "ServiceClusterIPs",
            "ServiceClusterIPs",
        ),
        ("nodeMeshPassword", "NodeMeshPassword", "nodeMeshPassword"),
        (
            "nodeMeshMaxRestartTime",
            "NodeMeshMaxRestartTime",
            "nodeMeshMaxRestartTime",
        ),
    ] {
        if spec.get(json).is_some_and(|v| !v.is_null()) {
            errs.push(err(
                &format!("BGPConfiguration.Spec.{go}"),
                None,
                &format!("Cannot set {shown} on a non default BGP Configuration."),
            ));
        }
    }
}

fn bgp_peer_spec(s: &Value, errs: &mut Vec<FieldError>) {
    let set = |k: &str| !str_at(s, &[k]).is_empty();
    let asn = s.get("asNumber").and_then(Value::as_u64).unwrap_or(0);
    let peer_ip = str_at(s, &["peerIP"]);
    if set("node") && set("nodeSelector") {
        errs.push(err(
            "Node",
            str_at(s, &["node"]),
            "Node field must be empty when NodeSelector is specified",
        ));
    }
    if set("peerSelector") {
        if set("peerIP") {
            errs.push(err(
                "PeerIP",
                peer_ip.clone(),
                "PeerIP field must be empty when PeerSelector is specified",
            ));
        }
        if asn != 0 {
            errs.push(err(
                "ASNumber",
                asn.to_string(),
                "ASNumber field must be empty when PeerSelector is specified",
            ));
        }
    }
    if set("localWorkloadSelector") {
        if asn == 0 {
            errs.push(err(
                "ASNumber",
                "0".to_string(),
                "ASNumber field must NOT be empty when LocalWorkloadSelector is specified",
            ));
        }
        if set("peerIP") {
            errs.push(err(
                "PeerIP",
                peer_ip.clone(),
                "PeerIP field must be empty when LocalWorkloadSelector is specified",
            ));
        }
        if set("peerSelector") {
            // calicoctl shows the peer IP here too.
            errs.push(err(
                "PeerSelector",
                peer_ip.clone(),
                "PeerSelector field must be empty when LocalWorkloadSelector is specified",
            ));
        }
    }
    reachable_by(s, &peer_ip, errs);
    if s.get("keepOriginalNextHop").and_then(Value::as_bool) == Some(true)
        && s.get("nextHopMode").is_some_and(|v| !v.is_null())
    {
        // calicoctl shows the peer IP here.
        errs.push(err(
            "KeepOriginalNextHop",
            peer_ip,
            "The KeepOriginalNextHop field is deprecated. It must not be set to true when NextHopMode is configured.",
        ));
    }
}

/// BGPPeer `reachableBy`: set only with a peer IP, an address of the peer's family.
fn reachable_by(s: &Value, peer_ip: &str, errs: &mut Vec<FieldError>) {
    let reach = str_at(s, &["reachableBy"]);
    if reach.is_empty() {
        return;
    }
    if peer_ip.is_empty() {
        errs.push(err(
            "ReachableBy",
            reach,
            "ReachablyBy field must be empty when PeerIP is empty",
        ));
        return;
    }
    let Ok(r) = reach.parse::<IpAddr>() else {
        errs.push(err("ReachableBy", reach, "ReachableBy is invalid address"));
        return;
    };
    let peer = peer_ip
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or_default()
        .to_string();
    let peer_addr = peer
        .parse::<IpAddr>()
        .ok()
        .or_else(|| peer.rsplit_once(':').and_then(|(a, _)| a.parse().ok()));
    if peer_addr.is_some_and(|p: IpAddr| p.is_ipv4() != r.is_ipv4()) {
        errs.push(err(
            "ReachableBy",
            reach,
            "ReachableBy and PeerIP address family mismatched",
        ));
    }
}

/// libcalico's name checks: a length limit, then the syntax (each failure reported).
fn check_name_as(
    name: &str,
    max: usize,
    syntax_ok: bool,
    syntax: &str,
    errs: &mut Vec<FieldError>,
) {
    if name.len() > max {
        errs.push(err(
            "Metadata.Name",
            name.to_string(),
            &format!("name is too long by {} bytes", name.len() - max),
        ));
    }
    if !syntax_ok {
        errs.push(err(
            "Metadata.Name",
            name.to_string(),
            &format!("name must consist of lower case alphanumeric characters{syntax}"),
        ));
    }
}

/// The single-label name check of tiers.
fn check_label_name(name: &str, errs: &mut Vec<FieldError>) {
    let syntax = format!(" or '-' (regex: {DNS1123_LABEL_FMT})");
    check_name_as(name, 63, is_dns1123_label_chars(name), &syntax, errs);
}

/// The strings of a JSON array (others skipped).
pub fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn tier(v: &Value, errs: &mut Vec<FieldError>) {
    let meta = v.get("metadata").cloned().unwrap_or(Value::Null);
    let name = str_at(&meta, &["name"]);
    check_label_name(&name, errs);
    errs.extend(super::policyvalid::label_errors(v));
    let want = match name.as_str() {
        "default" => Some(1_000_000.0),
        "kube-admin" => Some(1_000.0),
        "kube-baseline" => Some(10_000_000.0),
        _ => None,
    };
    let order = v.get("spec").and_then(|s| s.get("order"));
    if let Some(w) = want
        && order.and_then(Value::as_f64) != Some(w)
    {
        // Go prints the address of the order field, set or not.
        let shown = super::govalue::FAKE_POINTER.to_string();
        errs.push(err(
            "TierSpec.Order",
            shown,
            &format!(
                "{name} tier order must be {}",
                crate::gocompat::gofmt::fmt_v_float(w)
            ),
        ));
    }
}

/// numorstring.Port: numbers and range ends must be 1-65535.
fn port(p: &Value, errs: &mut Vec<FieldError>) {
    let low = match p {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.split_once(':').and_then(|(a, _)| a.parse().ok()),
        _ => None,
    };
    if low == Some(0) {
        // libcalico reports the range's minimum, not the whole range.
        errs.push(err(
            "Port",
            "0".to_string(),
            "port range invalid, port number must be between 1 and 65535",
        ));
    }
}

fn felix_spec(s: &Value, errs: &mut Vec<FieldError>) {
    const ST: &str = "v3.FelixConfigurationSpec";
    if let Some(Value::Array(ranges)) = s.get("kubeNodePortRanges")
        && ranges.iter().any(|p| {
            p.as_str()
                .is_some_and(|x| x.parse::<u16>().is_err() && !x.contains(':'))
        })
    {
        errs.push(err(
            "KubeNodePortRanges",
            field_v(ST, "kubeNodePortRanges", s, true),
            "node port ranges should not contain named ports",
        ));
    }
    if let Some(Value::Array(nets)) = s.get("externalNodesList") {
        for n in nets.iter().filter_map(Value::as_str) {
            // A CIDR or an address, IPv4 only; Go parses "" without error as no address,
            // which then fails the IPv4 test.
            let v4 = n
                .parse::<IpNet>()
                .map(|c| c.addr().is_ipv4())
                .or_else(|_| n.parse::<IpAddr>().map(|a| a.is_ipv4()));
            let why = match v4 {
                Ok(true) => continue,
                Ok(false) => "has invalid IPv6 CIDR",
                Err(_) if n.is_empty() => "has invalid IPv6 CIDR",
                Err(_) => "has invalid CIDR(s)",
            };
            errs.push(err("ExternalNodesCIDRList", n.to_string(), why));
        }
    }
    let region = str_at(s, &["openstackRegion"]);
    if !region.is_empty() && (region.len() > 63 || !is_dns1123_label_chars(&region)) {
        errs.push(err("OpenstackRegion", region, "must be a valid DNS label"));
    }
    for (json, go, v6) in [
        ("natOutgoingAddress", "NATOutgoingAddress", false),
        (
            "deviceRouteSourceAddress",
            "DeviceRouteSourceAddress",
            false,
        ),
        (
            "deviceRouteSourceAddressIPv6",
            "DeviceRouteSourceAddressIPv6",
            true,
        ),
    ] {
        let a = str_at(s, &[json]);
        if a.is_empty() {
            continue;
        }
        let ok = if v6 {
            a.parse::<Ipv6Addr>().is_ok()
        } else {
            a.parse::<Ipv4Addr>().is_ok()
        };
        if !ok {
            let fam = if v6 { "IPv6" } else { "IPv4" };
            errs.push(err(go, a, &format!("is not a valid {fam} address")));
        }
    }
    if s.get("routeTableRange").is_some_and(|v| !v.is_null())
        && s.get("routeTableRanges").is_some_and(|v| !v.is_null())
    {
        errs.push(err(
            "RouteTableRange",
            field_v(ST, "routeTableRange", s, true),
            "cannot be set when `RouteTableRanges` is also set",
        ));
    }
    if let Some(Value::Array(ranges)) = s.get("routeTableRanges") {
        let total: i128 = ranges
            .iter()
            .map(|r| {
                let n = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0) as i128;
                n("max") - n("min") + 1
            })
            .sum();
        if total > 65535 {
            errs.push(err(
                "RouteTableRanges",
                field_v(ST, "routeTableRanges", s, true),
                "targets too many tables",
            ));
        }
    }
}

fn route_table_range(r: &Value, errs: &mut Vec<FieldError>) {
    let n = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (min, max) = (n("min"), n("max"));
    if !(1..=250).contains(&min) || !(1..=250).contains(&max) || min > max {
        errs.push(err(
            "RouteTableRange",
            fmt_value(&Ty::Struct("v3.RouteTableRange".into()), Some(r)),
            "must be a range of route table indices within 1..250",
        ));
    }
}

fn route_table_id_range(r: &Value, errs: &mut Vec<FieldError>) {
    let n = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (min, max) = (n("min"), n("max"));
    let shown = fmt_value(&Ty::Struct("v3.RouteTableIDRange".into()), Some(r));
    if min > max {
        errs.push(err(
            "RouteTableRange",
            shown.clone(),
            "min value cannot be greater than max value",
        ));
    }
    if min < 1 {
        errs.push(err(
            "RouteTableRange",
            shown.clone(),
            "cannot target indices < 1",
        ));
    }
    if max > u32::MAX as i64 {
        errs.push(err("RouteTableRange", shown, "max index too high"));
    }
}

fn health_timeout_override(h: &Value, errs: &mut Vec<FieldError>) {
    let name = str_at(h, &["name"]);
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ' || b == b'-');
    if !ok {
        errs.push(err(
            "HealthTimeoutOverride.Name",
            fmt_value(&Ty::Struct("v3.HealthTimeoutOverride".into()), Some(h)),
            "name should match regex ^[a-zA-Z0-9_ -]+$",
        ));
    }
}

/// Whether `s` is an IP address (no CIDR).
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// The link-local range of `cidr`'s family (with the family's name) when the two overlap.
fn link_local_overlap(cidr: IpNet) -> Option<(&'static str, IpNet)> {
    let (fam, ll) = if cidr.addr().is_ipv6() {
        ("IPv6", IpNet::V6("fe80::/10".parse().ok()?))
    } else {
        ("IPv4", IpNet::V4("169.254.0.0/16".parse().ok()?))
    };
    (cidr.contains(&ll.network()) || ll.contains(&cidr.network())).then_some((fam, ll))
}

const POOL_TOO_SMALL: &str = "IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.";

/// libcalico's IPPool client checks that are reported together (`cidr` is masked, `not_masked`
/// says the input was not; `overlap` is the pool overlap found in the datastore, `old` the pool
/// an update replaces).
pub fn ippool_client_fields(
    o: &Value,
    cidr: IpNet,
    not_masked: bool,
    overlap: Option<FieldError>,
    old: Option<&Value>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = o.get("spec").cloned().unwrap_or(Value::Null);
    let v6 = cidr.addr().is_ipv6();
    let bs = spec.get("blockSize").and_then(Value::as_i64).unwrap_or(0);
    let (lo, hi) = if v6 { (116, 128) } else { (20, 32) };
    if !(lo..=hi).contains(&bs) {
        errs.push(err(
            "IPPool.Spec.BlockSize",
            bs.to_string(),
            &format!(
                "IPv{} block size must be between {lo} and {hi}",
                if v6 { 6 } else { 4 }
            ),
        ));
    }
    let disabled = spec.get("disabled").and_then(Value::as_bool) == Some(true);
    if i64::from(cidr.prefix_len()) > bs && !disabled {
        errs.push(err("IPPool.Spec.CIDR", cidr.to_string(), POOL_TOO_SMALL));
    }
    errs.extend(overlap);
    let enabled = |k: &str| {
        let m = str_at(&spec, &[k]);
        !m.is_empty() && m != "Never"
    };
    if enabled("ipipMode") && enabled("vxlanMode") {
        errs.push(err(
            "IPPool.Spec.VXLANMode",
            str_at(&spec, &["vxlanMode"]),
            "Cannot enable both VXLAN and IPIP on the same IPPool",
        ));
    }
    if v6 && enabled("ipipMode") {
        errs.push(err(
            "IPPool.Spec.IPIPMode",
            str_at(&spec, &["ipipMode"]),
            "IPIP is not supported on an IPv6 IP pool",
        ));
    }
    if not_masked {
        errs.push(err(
            "IPPool.Spec.CIDR",
            cidr.to_string(),
            "IPPool CIDR is not strictly masked",
        ));
    }
    if let Some((fam, ll)) = link_local_overlap(cidr) {
        errs.push(err(
            "IPPool.Spec.CIDR",
            cidr.to_string(),
            &format!("IPPool CIDR overlaps with {fam} Link Local range {ll}"),
        ));
    }
    if let Some(old) = old {
        let uses = |v: &Value| str_list(v.get("spec").and_then(|s| s.get("allowedUses")));
        let (was, now) = (uses(old), uses(o));
        if was.iter().any(|u| u == "LoadBalancer")
            && now.iter().any(|u| u == "Workload" || u == "Tunnel")
        {
            errs.push(err(
                "IPPool.Spec.AllowedUses",
                crate::gocompat::gofmt::go_v(&Value::from(now)),
                "IPPool allowed use cannot be changed from LoadBalacer to Workload or Tunnel",
            ));
        }
    }
    errs
}

/// libcalico's IPPool struct check (`IPpool.` texts).
fn ippool(p: &Value, errs: &mut Vec<FieldError>) {
    let spec = p.get("spec").cloned().unwrap_or(Value::Null);
    // The validator stores the masked CIDR before its later checks print it.
    let Some(cidr) = ippool_cidr(&spec, errs) else {
        return;
    };
    let uses = str_list(spec.get("allowedUses"));
    let shown = crate::gocompat::gofmt::go_v(&Value::from(uses.clone()));
    let lb = uses.iter().any(|u| u == "LoadBalancer");
    let enabled = |k: &str| {
        let m = str_at(&spec, &[k]);
        !m.is_empty() && m != "Never"
    };
    if lb && (enabled("ipipMode") || enabled("vxlanMode")) {
        errs.push(err(
            "IPpool.IPIPMode",
            str_at(&spec, &["ipipMode"]),
            "Neither IPIPMode nor VXLANMode can be enabled on AllowedUses LoadBalancer IP pool",
        ));
    }
    for u in &uses {
        match u.as_str() {
            "Workload" | "Tunnel" => {
                if lb {
                    errs.push(err(
                        "IPpool.AllowedUses",
                        shown.clone(),
                        &format!("LoadBalancer cannot be used at the same time as: {u}"),
                    ));
                }
            }
            "LoadBalancer" => {}
            other => errs.push(err(
                "IPpool.AllowedUses",
                shown.clone(),
                &format!("unknown use: {other}"),
            )),
        }
    }
    if lb && spec.get("disableBGPExport").and_then(Value::as_bool) == Some(true) {
        errs.push(err(
            "IPpool.DisableBGPExport",
            cidr.clone(),
            "IP Pool with AllowedUse LoadBalancer must have DisableBGPExport set to true",
        ));
    }
    if lb && str_at(&spec, &["nodeSelector"]) != "all()" {
        errs.push(err(
            "IPpool.NodeSelector",
            cidr.clone(),
            "IP Pool with AllowedUse LoadBalancer must have node selector set to all()",
        ));
    }
    let ns = str_at(&spec, &["namespaceSelector"]);
    if uses.iter().any(|u| u == "Tunnel") && !ns.is_empty() {
        errs.push(err(
            "IPpool.NamespaceSelector",
            ns,
            "IP Pool with AllowedUse Tunnel cannot have namespaceSelector specified - tunnel IPs are not namespaced resources",
        ));
    }
}

/// The validator's own IPPool CIDR and encapsulation checks (run by `calicoctl validate`; on
/// create the client's stricter `IPPool.Spec.*` checks come first). Unlike the client they
/// take an unset mode as "not Never" and an empty CIDR as too small. The normalised CIDR, or
/// None when an unparsable one stops the checks.
fn ippool_cidr(spec: &Value, errs: &mut Vec<FieldError>) -> Option<String> {
    let raw = str_at(spec, &["cidr"]);
    let cidr = if raw.is_empty() {
        errs.push(err(
            "IPpool.CIDR",
            raw.clone(),
            "IPPool CIDR must be specified",
        ));
        None
    } else {
        let parsed = raw.parse::<IpNet>().ok().or_else(|| {
            raw.parse::<IpAddr>()
                .ok()
                .map(|ip| IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 }).unwrap())
        });
        let Some(c) = parsed else {
            errs.push(err(
                "IPpool.CIDR",
                raw,
                "IPPool CIDR must be a valid subnet",
            ));
            return None;
        };
        Some(c)
    };
    let v6 = cidr.is_some_and(|c| c.addr().is_ipv6());
    let mode = |k: &str| str_at(spec, &[k]);
    let ipip = mode("ipipMode");
    if v6 && ipip != "Never" {
        errs.push(err(
            "IPpool.IPIPMode",
            ipip.clone(),
            "IPIPMode other than 'Never' is not supported on an IPv6 IP pool",
        ));
    }
    let on = |m: &str| !m.is_empty() && m != "Never";
    if on(&ipip) && on(&mode("vxlanMode")) {
        errs.push(err(
            "IPpool.IPIPMode",
            ipip.clone(),
            "IPIPMode and VXLANMode cannot be enabled on LoadBalancer IP pool",
        ));
    }
    let shown = cidr.map_or("<nil>".to_string(), |c| c.trunc().to_string());
    if spec.get("disabled").and_then(Value::as_bool) != Some(true) {
        let bs = match spec.get("blockSize").and_then(Value::as_i64) {
            Some(b) if b != 0 => b,
            _ if v6 => 122,
            _ => 26,
        };
        if cidr.is_none_or(|c| i64::from(c.prefix_len()) > bs) {
            errs.push(err("IPpool.CIDR", shown.clone(), POOL_TOO_SMALL));
        }
    }
    let Some(cidr) = cidr else {
        return Some(raw);
    };
    if cidr.trunc() != cidr {
        errs.push(err(
            "IPpool.CIDR",
            shown.clone(),
            "IP pool CIDR is not strictly masked",
        ));
    }
    if let Some((fam, ll)) = link_local_overlap(cidr) {
        errs.push(err(
            "IPpool.CIDR",
            shown,
            &format!("IP pool range overlaps with {fam} Link Local range {ll}"),
        ));
    }
    Some(cidr.trunc().to_string())
}

/// A BGPFilter rule matches a CIDR with an operator, and a prefix length only within a CIDR.
fn bgp_filter_rule(st: &str, rule: &Value, errs: &mut Vec<FieldError>) {
    let cidr = str_at(rule, &["cidr"]);
    let op = str_at(rule, &["matchOperator"]);
    if !cidr.is_empty() && op.is_empty() {
        errs.push(err(
            "CIDR",
            cidr.clone(),
            "MatchOperator cannot be empty when CIDR is not",
        ));
    }
    if cidr.is_empty() && !op.is_empty() {
        errs.push(err(
            "MatchOperator",
            op,
            "CIDR cannot be empty when MatchOperator is not",
        ));
    }
    if cidr.is_empty() && rule.get("prefixLength").is_some_and(|p| !p.is_null()) {
        errs.push(err(
            "PrefixLength",
            // The validator prints the struct the pointer points to.
            fmt_value(
                &Ty::Struct(st.replace("RuleV", "PrefixLengthV")),
                rule.get("prefixLength"),
            ),
            "CIDR cannot be empty when PrefixLength is not",
        ));
    }
}

/// A BGPFilter operation does exactly one thing.
fn bgp_filter_operation(op: &Value, errs: &mut Vec<FieldError>) {
    let set = ["addCommunity", "prependASPath", "setPriority"]
        .iter()
        .filter(|k| op.get(**k).is_some_and(|v| !v.is_null()))
        .count();
    if set != 1 {
        errs.push(err(
            "BGPFilterOperation",
            fmt_value(&Ty::Struct("v3.BGPFilterOperation".into()), Some(op)),
            "exactly one operation must be set",
        ));
    }
}

/// A Node's `bgp` section, when present, must set something.
fn node_spec(spec: &Value, errs: &mut Vec<FieldError>) {
    let Some(bgp) = spec.get("bgp").filter(|b| !b.is_null()) else {
        return;
    };
    let set = |v: &Value| match v {
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        _ => true,
    };
    if !bgp.as_object().is_some_and(|m| m.values().any(set)) {
        errs.push(err(
            "BGP",
            field_v("v3.NodeSpec", "bgp", spec, true),
            "Spec.BGP should not be empty",
        ));
    }
}

/// numorstring.Protocol: a known name or a number 1-255.
fn protocol(p: &Value, errs: &mut Vec<FieldError>) {
    let ok = match p {
        Value::Number(n) => n.as_u64().is_some_and(|n| (1..=255).contains(&n)),
        Value::String(s) => ["TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(s)),
        _ => true,
    };
    if !ok {
        let reason = if p.is_number() {
            "protocol number invalid"
        } else {
            "protocol name invalid"
        };
        errs.push(err("Protocol", crate::gocompat::gofmt::go_v(p), reason));
    }
}

/// A host endpoint port needs a protocol that has ports.
fn endpoint_port(p: &Value, errs: &mut Vec<FieldError>) {
    let proto = p
        .get("protocol")
        .map(crate::gocompat::gofmt::go_v)
        .unwrap_or_default();
    let with_ports = ["TCP", "UDP", "SCTP"]
        .iter()
        .any(|x| x.eq_ignore_ascii_case(&proto))
        || ["6", "17", "132"].contains(&proto.as_str());
    if !with_ports {
        errs.push(err(
            "EndpointPort.Protocol",
            proto,
            "EndpointPort protocol does not support ports.",
        ));
    }
}

fn host_endpoint_spec(s: &Value, errs: &mut Vec<FieldError>) {
    let iface = str_at(s, &["interfaceName"]);
    let ips = s
        .get("expectedIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if iface.is_empty() && !ips {
        errs.push(err(
            "InterfaceName",
            iface,
            "no interface or expected IPs have been specified",
        ));
    }
    let node = str_at(s, &["node"]);
    if node.is_empty() {
        // calicoctl names the interface field here.
        errs.push(err("InterfaceName", node, "no node has been specified"));
    }
}
