//! Calico's etcd v3 key layout: `/calico/resources/v3/projectcalico.org/<plural>/[<ns>/]<name>`
//! and `/calico/ipam/v2/…` (CIDRs with the first `/` as `-`).

use ipnet::IpNet;

use crate::model::ipam::{AffinityType, IpamKey, IpamList};
use crate::model::kinds::KindInfo;

pub const RESOURCE_ROOT: &str = "/calico/resources/v3/projectcalico.org";
pub const IPAM_ROOT: &str = "/calico/ipam/v2";

/// `/calico/resources/v3/projectcalico.org/<plural>[/<ns>]/<name>`.
pub fn resource_key(kind: &KindInfo, namespace: &str, name: &str) -> String {
    if kind.namespaced {
        format!("{RESOURCE_ROOT}/{}/{namespace}/{name}", kind.plural)
    } else {
        format!("{RESOURCE_ROOT}/{}/{name}", kind.plural)
    }
}

/// The prefix to range over for a list, following libcalico's rules: a name prefix is used
/// as-is, otherwise the root gets a trailing `/` so `/a` does not match `/ab`.
pub fn resource_list_prefix(
    kind: &KindInfo,
    namespace: Option<&str>,
    name_prefix: Option<&str>,
) -> String {
    let mut root = format!("{RESOURCE_ROOT}/{}", kind.plural);
    if kind.namespaced {
        match namespace {
            Some(ns) => {
                root.push('/');
                root.push_str(ns);
            }
            None => {
                // Across namespaces a name prefix cannot be expressed as a key prefix.
                root.push('/');
                return root;
            }
        }
    }
    match name_prefix {
        Some(p) => format!("{root}/{p}"),
        None => format!("{root}/"),
    }
}

/// Parses `<ns>/<name>` or `<name>` from a key under the kind's root.
pub fn parse_resource_key(kind: &KindInfo, key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(RESOURCE_ROOT)?.strip_prefix('/')?;
    let rest = rest.strip_prefix(kind.plural)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match (kind.namespaced, parts.as_slice()) {
        (true, [ns, name]) => Some((unescape(ns), unescape(name))),
        (false, [name]) => Some((String::new(), unescape(name))),
        _ => None,
    }
}

fn unescape(s: &str) -> String {
    // Most names have no escape: one scan for `%` instead of two substring replaces (each
    // key of a list is unescaped).
    if !s.contains('%') {
        return s.to_string();
    }
    s.replace("%2f", "/").replace("%25", "%")
}

/// `10.244.7.0/29` → `10.244.7.0-29` (first `/` only).
pub fn cidr_segment(cidr: &IpNet) -> String {
    cidr.trunc().to_string().replacen('/', "-", 1)
}

/// The inverse of [`cidr_segment`], re-masked.
pub fn parse_cidr_segment(s: &str) -> Option<IpNet> {
    s.replacen('-', "/", 1)
        .parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
}

fn version_segment(cidr: &IpNet) -> &'static str {
    match cidr {
        IpNet::V4(_) => "ipv4",
        IpNet::V6(_) => "ipv6",
    }
}

/// The key of an IPAM object.
pub fn ipam_key(key: &IpamKey) -> String {
    match key {
        IpamKey::Block(cidr) => format!(
            "{IPAM_ROOT}/assignment/{}/block/{}",
            version_segment(cidr),
            cidr_segment(cidr)
        ),
        IpamKey::Affinity {
            host,
            affinity_type,
            cidr,
        } => format!(
            "{IPAM_ROOT}/{}/{host}/{}/block/{}",
            affinity_type.as_str(),
            version_segment(cidr),
            cidr_segment(cidr)
        ),
        IpamKey::Handle(id) => format!("{IPAM_ROOT}/handle/{id}"),
        IpamKey::Config => format!("{IPAM_ROOT}/config"),
    }
}

/// The prefix to range over for an IPAM list.
pub fn ipam_list_prefix(list: &IpamList) -> Vec<String> {
    let v = |ver: Option<u8>| ver.map(|n| format!("ipv{n}/"));
    match list {
        IpamList::Blocks { version } => vec![format!(
            "{IPAM_ROOT}/assignment/{}",
            v(*version).unwrap_or_default()
        )],
        IpamList::Affinities { host, version } => ["host", "virtual"]
            .iter()
            .map(|t| match host {
                Some(h) => format!("{IPAM_ROOT}/{t}/{h}/{}", v(*version).unwrap_or_default()),
                None => format!("{IPAM_ROOT}/{t}/"),
            })
            .collect(),
        IpamList::Handles => vec![format!("{IPAM_ROOT}/handle/")],
    }
}

/// Parses any IPAM key back into an [`IpamKey`].
pub fn parse_ipam_key(key: &str) -> Option<IpamKey> {
    let rest = key.strip_prefix(IPAM_ROOT)?.strip_prefix('/')?;
    if rest == "config" {
        return Some(IpamKey::Config);
    }
    if let Some(id) = rest.strip_prefix("handle/") {
        return Some(IpamKey::Handle(id.to_string()));
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["assignment", _ver, "block", cidr] => Some(IpamKey::Block(parse_cidr_segment(cidr)?)),
        [t @ ("host" | "virtual"), host, _ver, "block", cidr] => Some(IpamKey::Affinity {
            host: host.to_string(),
            affinity_type: if *t == "host" {
                AffinityType::Host
            } else {
                AffinityType::Virtual
            },
            cidr: parse_cidr_segment(cidr)?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let pool = crate::model::kinds::KindId::IPPool.info();
        let np = crate::model::kinds::KindId::NetworkPolicy.info();
        assert_eq!(
            resource_key(pool, "", "default-ipv4-ippool"),
            "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool"
        );
        assert_eq!(
            resource_key(np, "default", "allow-dns"),
            "/calico/resources/v3/projectcalico.org/networkpolicies/default/allow-dns"
        );
        assert_eq!(
            resource_list_prefix(np, Some("default"), None),
            "/calico/resources/v3/projectcalico.org/networkpolicies/default/"
        );
        assert_eq!(
            resource_list_prefix(pool, None, Some("def")),
            "/calico/resources/v3/projectcalico.org/ippools/def"
        );
        assert_eq!(
            parse_resource_key(
                np,
                "/calico/resources/v3/projectcalico.org/networkpolicies/ns/p"
            ),
            Some(("ns".into(), "p".into()))
        );
    }

    #[test]
    fn ipam_keys() {
        let b: IpNet = "10.244.7.0/29".parse().unwrap();
        assert_eq!(
            ipam_key(&IpamKey::Block(b)),
            "/calico/ipam/v2/assignment/ipv4/block/10.244.7.0-29"
        );
        let v6: IpNet = "fd00:10:244::/122".parse().unwrap();
        assert_eq!(
            ipam_key(&IpamKey::Block(v6)),
            "/calico/ipam/v2/assignment/ipv6/block/fd00:10:244::-122"
        );
        let aff = IpamKey::Affinity {
            host: "node1".into(),
            affinity_type: AffinityType::Host,
            cidr: b,
        };
        assert_eq!(
            ipam_key(&aff),
            "/calico/ipam/v2/host/node1/ipv4/block/10.244.7.0-29"
        );
        assert_eq!(parse_ipam_key(&ipam_key(&aff)), Some(aff));
        assert_eq!(
            parse_ipam_key("/calico/ipam/v2/assignment/ipv6/block/fd00:10:244::-122"),
            Some(IpamKey::Block(v6))
        );
    }
}
