//! The validity period of PEM certificates, checked before connecting so an expired or
//! not-yet-valid client/CA certificate gets a message naming the file and the date, instead
//! of the server's generic "bad certificate" alert.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};

/// notBefore / notAfter of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// The DER bytes of every `CERTIFICATE` block of a PEM text.
fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let Some(end) = body.find("-----END CERTIFICATE-----") else {
            break;
        };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &body[end..];
    }
    out
}

/// One DER TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    Some((tag, &b[hdr..end], &b[end..]))
}

fn time(tag: u8, v: &[u8]) -> Option<DateTime<Utc>> {
    let s = std::str::from_utf8(v).ok()?;
    let s = s.strip_suffix('Z')?;
    let full = match tag {
        // UTCTime: YY < 50 means 20YY (RFC 5280).
        0x17 => {
            let yy: u32 = s.get(..2)?.parse().ok()?;
            format!("{}{s}", if yy < 50 { "20" } else { "19" })
        }
        0x18 => s.to_string(),
        _ => return None,
    };
    let t = NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S").ok()?;
    Some(t.and_utc())
}

/// The validity of a DER certificate.
pub fn validity(der: &[u8]) -> Option<Validity> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    // [0] version is optional.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_, _, r) = tlv(rest)?; // serial
    let (_, _, r) = tlv(r)?; // signature algorithm
    let (_, _, r) = tlv(r)?; // issuer
    let (_, val, _) = tlv(r)?; // validity
    let (t1, nb, r) = tlv(val)?;
    let (t2, na, _) = tlv(r)?;
    Some(Validity {
        not_before: time(t1, nb)?,
        not_after: time(t2, na)?,
    })
}

/// An error text when a certificate of `pem` is not valid at `now`; `what` names it.
pub fn check(pem: &str, what: &str, now: DateTime<Utc>) -> Option<String> {
    for der in pem_certs(pem) {
        let v = validity(&der)?;
        if now > v.not_after {
            return Some(format!(
                "{what} expired on {} (renew it)",
                v.not_after.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        if now < v.not_before {
            return Some(format!(
                "{what} is not valid before {} (check the clock)",
                v.not_before.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_generalized_times() {
        assert_eq!(
            time(0x17, b"200101000000Z").unwrap().to_rfc3339(),
            "2020-01-01T00:00:00+00:00"
        );
        assert_eq!(
            time(0x17, b"991231235959Z").unwrap().to_rfc3339(),
            "1999-12-31T23:59:59+00:00"
        );
        assert_eq!(
            time(0x18, b"20510101000000Z").unwrap().to_rfc3339(),
            "2051-01-01T00:00:00+00:00"
        );
        assert!(time(0x17, b"2001010000").is_none());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(validity(&[]).is_none());
        assert!(validity(&[0x30, 0x82, 0xff]).is_none());
        assert!(validity(&[0x30, 0x03, 0x30, 0x01]).is_none());
        assert_eq!(check("not pem", "x", Utc::now()), None);
    }
}
