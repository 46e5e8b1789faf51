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
pub fn check(pem: &[u8], what: &str, now: DateTime<Utc>) -> Option<String> {
    let certs = pem_blocks(pem)
        .into_iter()
        .filter(|(kind, _)| kind == "CERTIFICATE");
    for (_, der) in certs {
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

/// The PEM blocks of a text, in order: (type, DER bytes). Like Go's `pem.Decode` in a loop:
/// text outside blocks is skipped, a block whose body is not base64 ends the scan.
fn pem_blocks(pem: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(type_end) = after.find("-----") else {
            break;
        };
        let kind = after[..type_end].to_string();
        let body = &after[type_end + 5..];
        let end_marker = format!("-----END {kind}-----");
        let Some(end) = body.find(&end_marker) else {
            break;
        };
        let b64: String = body[..end]
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            break;
        };
        out.push((kind, der));
        rest = &body[end + end_marker.len()..];
    }
    out
}

/// The DER of the rsaEncryption and id-ecPublicKey object identifiers (tag and length included).
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const EC_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The algorithm OID (as DER, tag included) of a private key: from the PEM type for PKCS#1 and
/// SEC1 keys, from the AlgorithmIdentifier of a PKCS#8 one.
fn key_algorithm<'a>(kind: &str, der: &'a [u8]) -> Option<&'a [u8]> {
    match kind {
        "RSA PRIVATE KEY" => Some(RSA_OID),
        "EC PRIVATE KEY" => Some(EC_OID),
        _ => {
            let (_, body, _) = tlv(der)?;
            let (_, _version, rest) = tlv(body)?;
            let (_, alg, _) = tlv(rest)?;
            let (tag, oid, after) = tlv(alg)?;
            (tag == 0x06 && !oid.is_empty()).then(|| &alg[..alg.len() - after.len()])
        }
    }
}

/// Whether a CA file holds at least one PEM certificate.
pub fn has_certificate(pem: &[u8]) -> bool {
    pem_blocks(pem).iter().any(|(k, _)| k == "CERTIFICATE")
}

/// Why a client certificate and key do not make a pair; the texts are Go's `tls.X509KeyPair`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPairError {
    #[error("tls: failed to find any PEM data in certificate input")]
    NoCertificatePem,
    #[error(
        "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"
    )]
    Switched,
    /// The block types skipped, space-separated.
    #[error(
        "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{0}]"
    )]
    NoCertificateBlock(String),
    #[error("tls: failed to find any PEM data in key input")]
    NoKeyPem,
    #[error("tls: found a certificate rather than a key in the PEM for the private key")]
    CertificateAsKey,
    /// The block types skipped, space-separated.
    #[error(
        "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{0}]"
    )]
    NoKeyBlock(String),
    #[error("tls: private key type does not match public key type")]
    KeyTypeMismatch,
    #[error("tls: failed to parse private key")]
    UnparsableKey,
    #[error("tls: private key does not match public key")]
    KeyMismatch,
    #[error("x509: malformed certificate")]
    MalformedCertificate,
}

/// Checks a client certificate and key the way Go's `tls.X509KeyPair` does (calicoctl loads
/// them before connecting), with its error texts: a key that is not a key, or not the key of
/// the certificate, is reported here rather than as a failed handshake.
pub fn key_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), KeyPairError> {
    use rustls::pki_types::{
        CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    };
    let mut certs = Vec::new();
    let mut skipped = Vec::new();
    for (kind, der) in pem_blocks(cert_pem) {
        if kind == "CERTIFICATE" {
            certs.push(der);
        } else {
            skipped.push(kind);
        }
    }
    if certs.is_empty() {
        return Err(match skipped.as_slice() {
            [] => KeyPairError::NoCertificatePem,
            [k] if k.ends_with("PRIVATE KEY") => KeyPairError::Switched,
            _ => KeyPairError::NoCertificateBlock(skipped.join(" ")),
        });
    }
    skipped.clear();
    let mut key = None;
    for (kind, der) in pem_blocks(key_pem) {
        if kind == "PRIVATE KEY" || kind.ends_with(" PRIVATE KEY") {
            key = Some((kind, der));
            break;
        }
        skipped.push(kind);
    }
    let Some((kind, der)) = key else {
        return Err(match skipped.as_slice() {
            [] => KeyPairError::NoKeyPem,
            [k] if k == "CERTIFICATE" => KeyPairError::CertificateAsKey,
            _ => KeyPairError::NoKeyBlock(skipped.join(" ")),
        });
    };
    let cert = certs.swap_remove(0);
    // The key's algorithm (read from its DER, so that keys ring refuses, such as 1024-bit RSA,
    // are judged too) must be the certificate's.
    if let Some(oid) = key_algorithm(&kind, &der)
        && !cert.windows(oid.len()).any(|w| w == oid)
    {
        return Err(KeyPairError::KeyTypeMismatch);
    }
    // Go tries PKCS#1, PKCS#8 and SEC1 whatever the block type says.
    let candidates = [
        PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.clone())),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.clone())),
        PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.clone())),
    ];
    let Some(signer) = candidates
        .iter()
        .find_map(|k| rustls::crypto::ring::sign::any_supported_type(k).ok())
    else {
        // A key Go would load but ring does not is left to the handshake.
        return match key_algorithm(&kind, &der) {
            Some(_) => Ok(()),
            None => Err(KeyPairError::UnparsableKey),
        };
    };
    let certified = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(cert)], signer);
    match certified.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(KeyPairError::KeyMismatch)
        }
        Err(rustls::Error::InvalidCertificate(_)) => Err(KeyPairError::MalformedCertificate),
        // A key type whose public half rustls cannot derive: left to the handshake.
        _ => Ok(()),
    }
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
        assert_eq!(check(b"not pem", "x", Utc::now()), None);
    }
}
