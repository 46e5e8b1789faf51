//! `node ip-autodetect` (beyond calicoctl): which address each of calico-node's
//! IP_AUTODETECTION_METHODs would pick on this host, and why — every interface considered,
//! skipped or matched.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use ipnet::IpNet;
use regex::Regex;
use serde::Serialize;

/// calico-node's default interface exclusions for `first-found`.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo$",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^vxlan.calico.*",
    "^vxlan-v6.calico.*",
    "^wireguard.cali.*",
    "^wg-v6.cali.*",
    "^nodelocaldns.*",
    "^podman.*",
];

/// One address of one interface.
#[derive(Debug, Clone, PartialEq)]
pub struct IfAddr {
    pub iface: String,
    pub addr: IpNet,
}

/// What happened to one interface address.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Considered {
    pub interface: String,
    pub address: String,
    pub verdict: String,
}

/// The outcome of one method for one IP version.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Detection {
    pub method: String,
    pub version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    pub reason: String,
    pub considered: Vec<Considered>,
}

/// Every address of every interface, in interface order (getifaddrs).
pub fn host_addresses() -> Vec<IfAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a linked list we only read and then free with freeifaddrs.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .to_string();
            let fam = (*ifa.ifa_addr).sa_family as i32;
            let (ip, mask) = match fam {
                libc::AF_INET => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let ip = IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes());
                    let m = if ifa.ifa_netmask.is_null() {
                        32
                    } else {
                        let n = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                        u32::from_be(n.sin_addr.s_addr).count_ones() as u8
                    };
                    (ip, m)
                }
                libc::AF_INET6 => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let ip = IpAddr::from(a.sin6_addr.s6_addr);
                    let m = if ifa.ifa_netmask.is_null() {
                        128
                    } else {
                        let n = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
                        n.sin6_addr
                            .s6_addr
                            .iter()
                            .map(|b| b.count_ones())
                            .sum::<u32>() as u8
                    };
                    (ip, m)
                }
                _ => continue,
            };
            if let Ok(addr) = IpNet::new(ip, mask) {
                out.push(IfAddr { iface: name, addr });
            }
        }
        libc::freeifaddrs(head);
    }
    out
}

fn version_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

/// Addresses calico-node never picks: loopback and link-local.
fn unusable(ip: &IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v) if v.is_loopback() => Some("loopback address"),
        IpAddr::V4(v) if v.is_link_local() => Some("link-local address"),
        IpAddr::V6(v) if v.is_loopback() => Some("loopback address"),
        IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80 => Some("link-local address"),
        _ => None,
    }
}

/// Why an autodetection method cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum AutodetectError {
    #[error("invalid interface regex {regex:?}: {source}")]
    Regex { regex: String, source: regex::Error },
    /// `interface=` or `skip-interface=` without a regex.
    #[error("{0}= needs at least one regex")]
    NoRegex(&'static str),
    #[error("invalid CIDR {cidr:?}: {source}")]
    Cidr {
        cidr: String,
        source: ipnet::AddrParseError,
    },
    #[error("cidr= needs at least one CIDR")]
    NoCidr,
    #[error(
        "unknown autodetection method {0:?} (first-found, can-reach=DEST, interface=REGEX, skip-interface=REGEX, cidr=CIDR, kubernetes-internal-ip)"
    )]
    UnknownMethod(String),
    #[error("can-reach= needs a destination")]
    NoDestination,
    #[error("cannot resolve {dest}: {source}")]
    Resolve {
        dest: String,
        source: std::io::Error,
    },
}

fn regexes(list: &[String]) -> Result<Vec<Regex>, AutodetectError> {
    list.iter()
        .map(|r| {
            Regex::new(r).map_err(|source| AutodetectError::Regex {
                regex: r.clone(),
                source,
            })
        })
        .collect()
}

/// Applies one method (IP_AUTODETECTION_METHOD syntax) to the given addresses.
pub fn detect(method: &str, version: u8, addrs: &[IfAddr]) -> Result<Detection, AutodetectError> {
    let (name, arg) = method.split_once('=').unwrap_or((method, ""));
    let list: Vec<String> = arg
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut d = Detection {
        method: method.to_string(),
        version,
        address: None,
        interface: None,
        reason: String::new(),
        considered: Vec::new(),
    };
    let of_version: Vec<&IfAddr> = addrs
        .iter()
        .filter(|a| version_of(&a.addr.addr()) == version)
        .collect();
    // Include / exclude / CIDR filters, then the first usable address.
    let (include, exclude, cidrs): (Vec<Regex>, Vec<Regex>, Vec<IpNet>) = match name {
        "first-found" => (
            Vec::new(),
            regexes(
                &DEFAULT_EXCLUDES
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )?,
            Vec::new(),
        ),
        "interface" => {
            if list.is_empty() {
                return Err(AutodetectError::NoRegex("interface"));
            }
            (regexes(&list)?, Vec::new(), Vec::new())
        }
        "skip-interface" => {
            if list.is_empty() {
                return Err(AutodetectError::NoRegex("skip-interface"));
            }
            (Vec::new(), regexes(&list)?, Vec::new())
        }
        "cidr" => {
            let c = list
                .iter()
                .map(|c| {
                    c.parse::<IpNet>().map_err(|source| AutodetectError::Cidr {
                        cidr: c.clone(),
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if c.is_empty() {
                return Err(AutodetectError::NoCidr);
            }
            (Vec::new(), Vec::new(), c)
        }
        "can-reach" => return can_reach(d, arg, &of_version),
        "kubernetes-internal-ip" => {
            d.reason = "needs the Kubernetes Node's InternalIP: calico-node reads it from the API server; compare with `calicoctl get node NAME -o yaml`".into();
            return Ok(d);
        }
        other => {
            return Err(AutodetectError::UnknownMethod(other.to_string()));
        }
    };
    for a in of_version {
        let verdict = if let Some(r) = exclude.iter().find(|r| r.is_match(&a.iface)) {
            format!("skipped: interface matches {}", r.as_str())
        } else if !include.is_empty() && !include.iter().any(|r| r.is_match(&a.iface)) {
            "skipped: interface matches none of the given regexes".to_string()
        } else if !cidrs.is_empty() && !cidrs.iter().any(|c| c.contains(&a.addr.addr())) {
            "skipped: not in the given CIDRs".to_string()
        } else if let Some(why) = unusable(&a.addr.addr()) {
            format!("skipped: {why}")
        } else if d.address.is_some() {
            "not used: an earlier address was picked".to_string()
        } else {
            d.address = Some(a.addr.to_string());
            d.interface = Some(a.iface.clone());
            d.reason = match name {
                "first-found" => "first usable address on the first interface not excluded by calico-node's defaults".into(),
                "interface" => "first usable address on the first interface matching the regexes".into(),
                "skip-interface" => "first usable address on the first interface not matching the regexes".into(),
                _ => "first usable address inside the given CIDRs".into(),
            };
            "selected".to_string()
        };
        d.considered.push(Considered {
            interface: a.iface.clone(),
            address: a.addr.to_string(),
            verdict,
        });
    }
    if d.address.is_none() {
        d.reason = "no usable address matched".into();
    }
    Ok(d)
}

/// `can-reach=DEST`: the source address the kernel would use towards DEST (a UDP connect sends
/// nothing), reported with the interface that owns it.
fn can_reach(
    mut d: Detection,
    dest: &str,
    addrs: &[&IfAddr],
) -> Result<Detection, AutodetectError> {
    if dest.is_empty() {
        return Err(AutodetectError::NoDestination);
    }
    let target: Option<SocketAddr> = (dest, 80)
        .to_socket_addrs()
        .map_err(|source| AutodetectError::Resolve {
            dest: dest.to_string(),
            source,
        })?
        .find(|a| version_of(&a.ip()) == d.version);
    let Some(target) = target else {
        d.reason = format!("{dest} has no IPv{} address", d.version);
        return Ok(d);
    };
    let bind = if d.version == 4 {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let local = UdpSocket::bind(bind)
        .and_then(|s| s.connect(target).map(|_| s))
        .and_then(|s| s.local_addr());
    match local {
        Ok(l) => {
            let owner = addrs.iter().find(|a| a.addr.addr() == l.ip());
            d.address = Some(
                owner
                    .map(|a| a.addr.to_string())
                    .unwrap_or(l.ip().to_string()),
            );
            d.interface = owner.map(|a| a.iface.clone());
            d.reason = format!("source address of the route to {}", target.ip());
        }
        Err(e) => d.reason = format!("no route to {}: {e}", target.ip()),
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(iface: &str, addr: &str) -> IfAddr {
        IfAddr {
            iface: iface.into(),
            addr: addr.parse().unwrap(),
        }
    }

    fn host() -> Vec<IfAddr> {
        vec![
            a("lo", "127.0.0.1/8"),
            a("docker0", "172.17.0.1/16"),
            a("eth0", "169.254.3.3/16"),
            a("eth0", "10.0.0.5/24"),
            a("eth1", "192.168.7.2/24"),
            a("eth0", "fe80::1/64"),
            a("eth0", "fd00::5/64"),
        ]
    }

    #[test]
    fn first_found_skips_defaults_and_link_local() {
        let d = detect("first-found", 4, &host()).unwrap();
        assert_eq!(d.address.as_deref(), Some("10.0.0.5/24"));
        assert_eq!(d.considered[0].verdict, "skipped: interface matches ^lo$");
        assert_eq!(
            d.considered[1].verdict,
            "skipped: interface matches ^docker.*"
        );
        assert_eq!(d.considered[2].verdict, "skipped: link-local address");
        let d6 = detect("first-found", 6, &host()).unwrap();
        assert_eq!(d6.address.as_deref(), Some("fd00::5/64"));
    }

    #[test]
    fn interface_cidr_and_skip_methods() {
        assert_eq!(
            detect("interface=eth1", 4, &host())
                .unwrap()
                .address
                .as_deref(),
            Some("192.168.7.2/24")
        );
        assert_eq!(
            detect("cidr=172.16.0.0/12", 4, &host())
                .unwrap()
                .address
                .as_deref(),
            Some("172.17.0.1/16")
        );
        assert_eq!(
            detect("skip-interface=lo,eth0", 4, &host())
                .unwrap()
                .address
                .as_deref(),
            Some("172.17.0.1/16")
        );
        assert!(
            detect("bogus", 4, &host())
                .unwrap_err()
                .to_string()
                .contains("unknown autodetection method")
        );
        assert!(
            detect("interface=(", 4, &host())
                .unwrap_err()
                .to_string()
                .contains("invalid interface regex")
        );
    }
}
