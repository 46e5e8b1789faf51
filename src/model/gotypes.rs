//! Go value formats that Calico's JSON carries: `time.Duration` strings, RFC 3339 times, IP
//! addresses and MACs. They must parse and round-trip exactly as Go does, or stored values would
//! differ from calicoctl's.

use chrono::{DateTime, SecondsFormat, Utc};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Why a string is not a Go duration; the texts are `time.ParseDuration`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
}

/// A string that is not an RFC 3339 time; the text is Go's `time.Parse` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {0:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {0:?} as \"2006\"")]
pub struct TimeError(pub String);

/// Parses a Go duration string (`time.ParseDuration`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, DurationError> {
    let orig = s;
    let invalid = || DurationError::Invalid(orig.to_string());
    let mut s = s;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        // integer part
        let int_len = s.bytes().take_while(|b| b.is_ascii_digit()).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let flen = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            frac_part = &rest[..flen];
            s = &rest[flen..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(orig.to_string()));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let mult: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC as u128,
            "m" => 60 * NANOS_PER_SEC as u128,
            "h" => 3600 * NANOS_PER_SEC as u128,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_string(),
                    input: orig.to_string(),
                });
            }
        };
        let int_val: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<u128>().map_err(|_| invalid())?
        };
        let mut v = int_val.checked_mul(mult).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let mut scale: u128 = 1;
            let mut frac: u128 = 0;
            for b in frac_part.bytes().take(30) {
                frac = frac * 10 + (b - b'0') as u128;
                scale *= 10;
            }
            v += frac * mult / scale;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + 1 {
            return Err(invalid());
        }
    }
    if neg {
        Ok((total as i128).wrapping_neg() as i64)
    } else if total > i64::MAX as u128 {
        Err(invalid())
    } else {
        Ok(total as i64)
    }
}

/// Formats nanoseconds like Go's `time.Duration.String()`.
pub fn format_go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".to_string();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < NANOS_PER_SEC {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "\u{b5}s")
        } else {
            (6, "ms")
        };
        let (int, frac) = split_frac(u, prec);
        out.push_str(&int.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (secs, frac) = split_frac(u, 9);
        let s = secs % 60;
        let mins = secs / 60;
        if mins > 0 {
            let m = mins % 60;
            let h = mins / 60;
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into `v / 10^prec` and the fraction text (`.5`, or empty) with trailing zeros trimmed.
fn split_frac(v: u64, prec: u32) -> (u64, String) {
    if prec == 0 {
        return (v, String::new());
    }
    let p = 10u64.pow(prec);
    let frac = v % p;
    if frac == 0 {
        return (v / p, String::new());
    }
    let digits = format!("{:0width$}", frac, width = prec as usize);
    (v / p, format!(".{}", digits.trim_end_matches('0')))
}

/// Normalises a Go duration string to Go's canonical spelling (`90s` → `1m30s`).
pub fn normalize_duration(s: &str) -> Result<String, DurationError> {
    parse_go_duration(s).map(format_go_duration)
}

/// Parses an RFC 3339 time the way `metav1.Time` does and returns it as Go re-emits it
/// (UTC, whole seconds, `Z`).
pub fn normalize_time(s: &str) -> Result<String, TimeError> {
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| TimeError(s.to_string()))?;
    Ok(t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The current time as `metav1.Time` marshals it.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Go's `net.ParseIP` (no zones, no leading zeros in IPv4) followed by `To4`: the address
/// and its IP version, where an IPv4-mapped IPv6 address counts as IPv4.
fn go_parse_ip(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let a: std::net::IpAddr = s.parse().ok()?;
    let v4 = match a {
        std::net::IpAddr::V4(_) => true,
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    };
    Some((a, if v4 { 4 } else { 6 }))
}

/// An address with an optional prefix length, as Calico's `cnet.ParseCIDROrIP` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoCidr {
    /// 4 or 6, as Go's `To4` says: IPv4-mapped IPv6 is 4.
    pub version: u8,
    /// The prefix length, up to the written family's width (128 for `::ffff:1.2.3.4/120`);
    /// a bare address has the full width of its version.
    pub prefix: u32,
    /// Whether the address has no bits set past the prefix (it is its network's address).
    pub is_network: bool,
}

/// Parses `ADDR` or `ADDR/LEN` as Go's `net.ParseCIDR`/`net.ParseIP` do (see [`GoCidr`]).
pub fn parse_cidr_or_ip(s: &str) -> Option<GoCidr> {
    let Some((a, len)) = s.split_once('/') else {
        let (_, version) = go_parse_ip(s)?;
        let prefix = if version == 4 { 32 } else { 128 };
        return Some(GoCidr {
            version,
            prefix,
            is_network: true,
        });
    };
    let (ip, version) = go_parse_ip(a)?;
    // Go's dtoi: decimal digits only, and the whole suffix.
    if len.is_empty() || len.len() > 8 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u32 = len.parse().ok()?;
    let (bits, width) = match ip {
        std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    if prefix > width {
        return None;
    }
    let host = if prefix == width {
        0
    } else {
        bits & (u128::MAX >> (128 - width + prefix))
    };
    Some(GoCidr {
        version,
        prefix,
        is_network: host == 0,
    })
}

/// Go's `net.ParseMAC`: 6, 8 or 20 bytes as hex pairs all joined by `:` or all by `-`, or as
/// dot-separated groups of four hex digits.
pub fn is_go_mac(s: &str) -> bool {
    let hex = |g: &str, n: usize| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit());
    let sizes = [6usize, 8, 20];
    let pairs = [':', '-'].into_iter().any(|sep| {
        let groups: Vec<&str> = s.split(sep).collect();
        sizes.contains(&groups.len()) && groups.iter().all(|g| hex(g, 2))
    });
    let groups: Vec<&str> = s.split('.').collect();
    pairs || (sizes.contains(&(groups.len() * 2)) && groups.iter().all(|g| hex(g, 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_like_go() {
        for (input, want) in [
            ("90s", "1m30s"),
            ("0s", "0s"),
            ("0", "0s"),
            ("1h", "1h0m0s"),
            ("1.5s", "1.5s"),
            ("1500ms", "1.5s"),
            ("2m", "2m0s"),
            ("100ms", "100ms"),
            ("1us", "1\u{b5}s"),
            ("10ns", "10ns"),
            ("-5s", "-5s"),
            ("1h2m3.004s", "1h2m3.004s"),
            ("25h", "25h0m0s"),
            (".5s", "500ms"),
        ] {
            assert_eq!(normalize_duration(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_durations_have_go_texts() {
        assert_eq!(
            normalize_duration("abc").unwrap_err().to_string(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            normalize_duration("10").unwrap_err().to_string(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            normalize_duration("10x").unwrap_err().to_string(),
            "time: unknown unit \"x\" in duration \"10x\""
        );
        assert!(normalize_duration("").is_err());
        assert!(normalize_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn times_are_utc_seconds() {
        assert_eq!(
            normalize_time("2025-06-01T12:00:00.123+02:00").unwrap(),
            "2025-06-01T10:00:00Z"
        );
        assert!(normalize_time("yesterday").is_err());
    }

    #[test]
    fn cidr_or_ip_like_calico() {
        let c = |version, prefix, is_network| {
            Some(GoCidr {
                version,
                prefix,
                is_network,
            })
        };
        for (input, want) in [
            ("1.2.3.4", c(4, 32, true)),
            ("1.2.3.4/24", c(4, 24, false)),
            ("1.2.3.0/24", c(4, 24, true)),
            ("1.2.3.4/33", None),
            ("::ffff:1.2.3.4", c(4, 32, true)),
            ("::ffff:1.2.3.4/120", c(4, 120, false)),
            ("::ffff:1.2.3.4/128", c(4, 128, true)),
            ("fd00::1", c(6, 128, true)),
            ("fd00::/64", c(6, 64, true)),
            ("fd00::1/129", None),
            ("0.0.0.0/0", c(4, 0, true)),
            ("01.2.3.4", None),
            ("fe80::1%eth0", None),
            ("1.2.3.4/", None),
            ("1.2.3.4/+3", None),
            ("1.2.3.4/032", c(4, 32, true)),
        ] {
            assert_eq!(parse_cidr_or_ip(input), want, "{input}");
        }
    }

    #[test]
    fn macs_like_go() {
        for ok in [
            "00:11:22:33:44:55",
            "00-11-22-33-44-55",
            "0011.2233.4455",
            "00:11:22:33:44:55:66:77",
        ] {
            assert!(is_go_mac(ok), "{ok}");
        }
        for bad in [
            "nomac",
            "00:11:22:33:44",
            "00:11-22:33:44:55",
            "0:11:22:33:44:55",
        ] {
            assert!(!is_go_mac(bad), "{bad}");
        }
    }
}
