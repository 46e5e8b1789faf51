//! Lists of core kinds in the API server's protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! which it produces several times faster than JSON. A body is the magic `k8s\0` then a
//! `runtime.Unknown` message whose `raw` field (2) holds the list (`metadata` = 1, `items` = 2).
//!
//! A hand-written wire reader rather than generated messages: only a dozen Pod fields are
//! read, strings are borrowed from the item's bytes, everything else (managedFields, volumes,
//! conditions, container statuses) is stepped over without allocating, and a list is split
//! into its items as the bytes arrive. A Pod's fields are handed to the WorkloadEndpoint
//! conversion borrowed ([`PodView`]); a Node becomes the same JSON tree the masked JSON
//! decoder keeps ([`super::stream::NODE`]), so its conversion is shared. Field numbers are those
//! of k8s.io/api core/v1 and apimachinery meta/v1 `generated.proto` (proto2: Go writes every
//! non-pointer field, zero values included).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::convert::{PodView, PortView};

use super::stream::Part;

/// The media type of the API server's protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every protobuf document starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Why protobuf bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("malformed protobuf varint")]
    Varint,
    #[error("truncated protobuf message")]
    Truncated,
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
    #[error("timestamp out of range: {0}")]
    Timestamp(i64),
    #[error("not a Kubernetes protobuf document")]
    NotProtobuf,
    #[error("protobuf field too long")]
    FieldTooLong,
    #[error("malformed protobuf list")]
    MalformedList,
}

/// One field's value on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed 32/64-bit value (no field read here has one).
    Fixed,
}

/// Reads an unsigned varint at the start of `b`: the value and its length, or `None` when
/// `b` ends inside it.
fn varint(b: &[u8]) -> Result<Option<(u64, usize)>, ProtoError> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x < 0x80 {
            return Ok(Some((v, i + 1)));
        }
    }
    if b.len() >= 10 {
        return Err(ProtoError::Varint);
    }
    Ok(None)
}

/// The fields of one message, in wire order.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let r = (|| {
            let b = self.0;
            let truncated = || ProtoError::Truncated;
            let (key, mut n) = varint(b)?.ok_or_else(truncated)?;
            let wire = match key & 7 {
                0 => {
                    let (v, l) = varint(&b[n..])?.ok_or_else(truncated)?;
                    n += l;
                    Wire::Varint(v)
                }
                2 => {
                    let (len, l) = varint(&b[n..])?.ok_or_else(truncated)?;
                    let start = n + l;
                    let end = usize::try_from(len)
                        .ok()
                        .and_then(|len| start.checked_add(len))
                        .filter(|&e| e <= b.len())
                        .ok_or_else(truncated)?;
                    n = end;
                    Wire::Bytes(&b[start..end])
                }
                1 | 5 => {
                    n += if key & 7 == 1 { 8 } else { 4 };
                    if n > b.len() {
                        return Err(truncated());
                    }
                    Wire::Fixed
                }
                w => return Err(ProtoError::WireType(w)),
            };
            self.0 = &b[n..];
            Ok((key >> 3, wire))
        })();
        if r.is_err() {
            self.0 = &[];
        }
        Some(r)
    }
}

/// A string as the API server's JSON encoder writes it (invalid UTF-8 replaced).
fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A `metav1.Time` (`seconds` = 1, `nanos` = 2) as its JSON form: RFC 3339 in UTC to the
/// second, or null for the zero time (an empty message).
fn time(b: &[u8]) -> Result<Value, ProtoError> {
    if b.is_empty() {
        return Ok(Value::Null);
    }
    let mut secs = 0i64;
    for f in Fields(b) {
        if let (1, Wire::Varint(v)) = f? {
            secs = v as i64;
        }
    }
    let t = chrono::DateTime::from_timestamp(secs, 0).ok_or(ProtoError::Timestamp(secs))?;
    Ok(Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// A `map<string, string>` field's entry (`key` = 1, `value` = 2) added to `out`.
fn map_entry(b: &[u8], out: &mut Map<String, Value>) -> Result<(), ProtoError> {
    let (mut k, mut v): (&[u8], &[u8]) = (&[], &[]);
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(x)) => k = x,
            (2, Wire::Bytes(x)) => v = x,
            _ => {}
        }
    }
    out.insert(String::from_utf8_lossy(k).into_owned(), text(v));
    Ok(())
}

/// The `ObjectMeta` fields the conversions read.
fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    let (mut labels, mut anns) = (None, None);
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(x)) => _ = m.insert("name".into(), text(x)),
            (2, Wire::Bytes(x)) => _ = m.insert("generateName".into(), text(x)),
            (3, Wire::Bytes(x)) => _ = m.insert("namespace".into(), text(x)),
            (5, Wire::Bytes(x)) => _ = m.insert("uid".into(), text(x)),
            (6, Wire::Bytes(x)) => _ = m.insert("resourceVersion".into(), text(x)),
            (8, Wire::Bytes(x)) => _ = m.insert("creationTimestamp".into(), time(x)?),
            (9, Wire::Bytes(x)) => _ = m.insert("deletionTimestamp".into(), time(x)?),
            (11, Wire::Bytes(x)) => map_entry(x, labels.get_or_insert_with(Map::new))?,
            (12, Wire::Bytes(x)) => map_entry(x, anns.get_or_insert_with(Map::new))?,
            _ => {}
        }
    }
    if let Some(l) = labels {
        m.insert("labels".into(), Value::Object(l));
    }
    if let Some(a) = anns {
        m.insert("annotations".into(), Value::Object(a));
    }
    Ok(Value::Object(m))
}

/// One Node (metadata = 1, spec = 2, status = 3) as the JSON fields of
/// [`super::stream::NODE`]: spec.podCIDRs (7) and status.addresses (5; `type` = 1,
/// `address` = 2).
pub fn node(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(x)) => _ = m.insert("metadata".into(), object_meta(x)?),
            (2, Wire::Bytes(x)) => {
                let mut cidrs = Vec::new();
                for f in Fields(x) {
                    if let (7, Wire::Bytes(c)) = f? {
                        cidrs.push(text(c));
                    }
                }
                let mut spec = Map::new();
                if !cidrs.is_empty() {
                    spec.insert("podCIDRs".into(), Value::Array(cidrs));
                }
                m.insert("spec".into(), Value::Object(spec));
            }
            (3, Wire::Bytes(x)) => {
                let mut addrs = Vec::new();
                for f in Fields(x) {
                    if let (5, Wire::Bytes(a)) = f? {
                        let mut addr = Map::new();
                        for f in Fields(a) {
                            match f? {
                                (1, Wire::Bytes(t)) => _ = addr.insert("type".into(), text(t)),
                                (2, Wire::Bytes(t)) => _ = addr.insert("address".into(), text(t)),
                                _ => {}
                            }
                        }
                        addrs.push(Value::Object(addr));
                    }
                }
                let mut status = Map::new();
                if !addrs.is_empty() {
                    status.insert("addresses".into(), Value::Array(addrs));
                }
                m.insert("status".into(), Value::Object(status));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// An object's `ObjectMeta` (field 1 of every core kind) as its JSON `metadata`, the rest
/// skipped (Namespaces and ServiceAccounts, read as Profiles).
pub fn metadata_only(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for f in Fields(b) {
        if let (1, Wire::Bytes(x)) = f? {
            m.insert("metadata".into(), object_meta(x)?);
        }
    }
    Ok(Value::Object(m))
}

/// A string field, borrowed when it is valid UTF-8 (invalid bytes replaced otherwise).
fn cow(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// A `metav1.Time` as RFC 3339 in UTC to the second, `None` for the zero time.
fn time_text(b: &[u8]) -> Result<Option<String>, ProtoError> {
    if b.is_empty() {
        return Ok(None);
    }
    let mut secs = 0i64;
    for f in Fields(b) {
        if let (1, Wire::Varint(v)) = f? {
            secs = v as i64;
        }
    }
    let t = chrono::DateTime::from_timestamp(secs, 0).ok_or(ProtoError::Timestamp(secs))?;
    Ok(Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

/// A `map<string, string>` entry (`key` = 1, `value` = 2), borrowed.
fn pair(b: &[u8]) -> Result<(Cow<'_, str>, Cow<'_, str>), ProtoError> {
    let (mut k, mut v): (&[u8], &[u8]) = (&[], &[]);
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(x)) => k = x,
            (2, Wire::Bytes(x)) => v = x,
            _ => {}
        }
    }
    Ok((cow(k), cow(v)))
}

/// A `Container`'s `ports` (6) added to `out` (fields as in [`container_port`]).
fn view_ports<'a>(b: &'a [u8], out: &mut Vec<PortView<'a>>) -> Result<(), ProtoError> {
    for f in Fields(b) {
        let (6, Wire::Bytes(p)) = f? else {
            continue;
        };
        let mut port = PortView::default();
        for f in Fields(p) {
            match f? {
                (1, Wire::Bytes(x)) => port.name = cow(x),
                (2, Wire::Varint(v)) => port.host_port = i64::from(v as i64 as i32),
                (3, Wire::Varint(v)) => port.container_port = i64::from(v as i64 as i32),
                (4, Wire::Bytes(x)) => port.protocol = cow(x),
                (5, Wire::Bytes(x)) => port.host_ip = cow(x),
                _ => {}
            }
        }
        out.push(port);
    }
    Ok(())
}

/// One Pod's fields for the WorkloadEndpoint conversion, borrowed from its bytes (the same
/// fields [`pod`] reads).
pub fn pod_view(b: &[u8]) -> Result<PodView<'_>, ProtoError> {
    let mut v = PodView::default();
    let (mut containers, mut inits) = (Vec::new(), Vec::new());
    for f in Fields(b) {
        match f? {
            (1, Wire::Bytes(m)) => {
                for f in Fields(m) {
                    match f? {
                        (1, Wire::Bytes(x)) => v.name = cow(x),
                        (2, Wire::Bytes(x)) => v.generate_name = cow(x),
                        (3, Wire::Bytes(x)) => v.namespace = cow(x),
                        (5, Wire::Bytes(x)) => v.uid = cow(x),
                        (6, Wire::Bytes(x)) => v.resource_version = cow(x),
                        (8, Wire::Bytes(x)) => v.creation_timestamp = time_text(x)?.map(Cow::Owned),
                        (9, Wire::Bytes(x)) => v.deleting = time_text(x)?.is_some(),
                        (11, Wire::Bytes(x)) => v.labels.push(pair(x)?),
                        (12, Wire::Bytes(x)) => v.annotations.push(pair(x)?),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(s)) => {
                for f in Fields(s) {
                    match f? {
                        (2, Wire::Bytes(c)) => containers.push(c),
                        (20, Wire::Bytes(c)) => inits.push(c),
                        (8, Wire::Bytes(x)) => v.service_account = cow(x),
                        (10, Wire::Bytes(x)) => v.node_name = cow(x),
                        (11, Wire::Varint(x)) => v.host_network = x != 0,
                        _ => {}
                    }
                }
            }
            (3, Wire::Bytes(s)) => {
                for f in Fields(s) {
                    match f? {
                        (1, Wire::Bytes(x)) => v.phase = cow(x),
                        (6, Wire::Bytes(x)) => v.pod_ip = cow(x),
                        (12, Wire::Bytes(x)) => {
                            let mut ip = Cow::Borrowed("");
                            for f in Fields(x) {
                                if let (1, Wire::Bytes(s)) = f? {
                                    ip = cow(s);
                                }
                            }
                            v.pod_ips.push(ip);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    // The containers' ports come before the init containers', whatever the wire order.
    for c in containers.into_iter().chain(inits) {
        view_ports(c, &mut v.ports)?;
    }
    Ok(v)
}

/// A `ListMeta`'s resourceVersion (2) and continue token (3).
pub fn list_meta(b: &[u8]) -> Result<(String, String), ProtoError> {
    let (mut rv, mut cont) = (String::new(), String::new());
    for f in Fields(b) {
        match f? {
            (2, Wire::Bytes(x)) => rv = String::from_utf8_lossy(x).into_owned(),
            (3, Wire::Bytes(x)) => cont = String::from_utf8_lossy(x).into_owned(),
            _ => {}
        }
    }
    Ok((rv, cont))
}

/// The message (3) and reason (4) of a protobuf `Status` document (an error answer), as the
/// JSON fields the error handling reads.
pub fn status(doc: &[u8]) -> Option<Value> {
    let raw = unknown_raw(doc)?;
    let mut m = Map::new();
    for f in Fields(raw) {
        match f.ok()? {
            (3, Wire::Bytes(x)) => _ = m.insert("message".into(), text(x)),
            (4, Wire::Bytes(x)) => _ = m.insert("reason".into(), text(x)),
            _ => {}
        }
    }
    Some(Value::Object(m))
}

/// The `raw` bytes of a whole protobuf document.
fn unknown_raw(doc: &[u8]) -> Option<&[u8]> {
    let body = doc.strip_prefix(MAGIC)?;
    for f in Fields(body) {
        if let (2, Wire::Bytes(raw)) = f.ok()? {
            return Some(raw);
        }
    }
    None
}

/// Splits a protobuf list document fed in chunks into its metadata and its items, each
/// handed over once its last byte has arrived (as [`super::stream::Splitter`] does for JSON).
/// Holds only the bytes of the part being read.
#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// The magic has been read.
    started: bool,
    /// Bytes of an unwanted field still to step over.
    skip: usize,
    /// Inside the envelope's `raw` (the list): its bytes not yet read.
    list_left: Option<usize>,
}

impl Splitter {
    /// Appends `chunk` and hands every part completed by it to `sink`.
    pub fn feed<E: From<ProtoError>>(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(chunk);
        let mut pos = 0;
        let r = self.scan(&mut pos, sink);
        self.buf.drain(..pos);
        r
    }

    fn scan<E: From<ProtoError>>(
        &mut self,
        pos: &mut usize,
        sink: &mut dyn FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.started {
            if self.buf.len() < MAGIC.len() {
                return Ok(());
            }
            if &self.buf[..MAGIC.len()] != MAGIC {
                return Err(ProtoError::NotProtobuf.into());
            }
            *pos = MAGIC.len();
            self.started = true;
        }
        loop {
            let avail = self.buf.len() - *pos;
            if self.skip > 0 {
                let n = self.skip.min(avail);
                self.consume(pos, n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(());
                }
                continue;
            }
            if self.list_left == Some(0) {
                self.list_left = None;
            }
            let b = &self.buf[*pos..];
            let Some((key, kl)) = varint(b)? else {
                return Ok(());
            };
            let (field, wire) = (key >> 3, key & 7);
            let (len, hl) = match wire {
                0 => match varint(&b[kl..])? {
                    Some((_, l)) => (0, kl + l),
                    None => return Ok(()),
                },
                1 => (8, kl),
                5 => (4, kl),
                2 => match varint(&b[kl..])? {
                    Some((len, l)) => (
                        usize::try_from(len).map_err(|_| ProtoError::FieldTooLong)?,
                        kl + l,
                    ),
                    None => return Ok(()),
                },
                w => return Err(ProtoError::WireType(w).into()),
            };
            if let Some(left) = self.list_left {
                if hl.saturating_add(len) > left {
                    return Err(ProtoError::MalformedList.into());
                }
                if wire == 2 && (field == 1 || field == 2) {
                    if b.len() - hl < len {
                        return Ok(());
                    }
                    let part = &b[hl..hl + len];
                    sink(if field == 1 {
                        Part::Metadata(part)
                    } else {
                        Part::Item(part)
                    })?;
                    self.consume(pos, hl + len);
                    continue;
                }
            } else if wire == 2 && field == 2 {
                self.consume(pos, hl);
                self.list_left = Some(len);
                continue;
            }
            self.consume(pos, hl);
            self.skip = len;
        }
    }

    /// Steps over `n` read bytes (counted against the list when inside it).
    fn consume(&mut self, pos: &mut usize, n: usize) {
        *pos += n;
        if let Some(l) = self.list_left.as_mut() {
            *l -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: u64, wire: u64, out: &mut Vec<u8>) {
        put_varint(field << 3 | wire, out);
    }

    fn put_varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes(field: u64, b: &[u8], out: &mut Vec<u8>) {
        key(field, 2, out);
        put_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn int(field: u64, v: u64, out: &mut Vec<u8>) {
        key(field, 0, out);
        put_varint(v, out);
    }

    fn msg(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn decodes_the_pod_fields_the_conversion_reads() {
        let meta = msg(|m| {
            bytes(1, b"p", m);
            bytes(2, b"", m);
            bytes(3, b"ns", m);
            bytes(5, b"u-1", m);
            bytes(6, b"42", m);
            bytes(8, &msg(|t| int(1, 1_700_000_000, t)), m);
            entry(11, "app", "x", m);
            bytes(17, &msg(|x| bytes(1, b"managed", x)), m);
        });
        let port = msg(|p| {
            bytes(1, b"http", p);
            int(2, 0, p);
            int(3, 8080, p);
            bytes(4, b"TCP", p);
            key(9, 5, p);
            p.extend_from_slice(&[0; 4]);
        });
        let spec = msg(|s| {
            bytes(1, b"volume", s);
            bytes(
                2,
                &msg(|c| {
                    bytes(1, b"c", c);
                    bytes(6, &port, c);
                }),
                s,
            );
            bytes(2, &msg(|c| bytes(1, b"d", c)), s);
            bytes(10, b"node-1", s);
            int(11, 0, s);
            key(4, 1, s);
            s.extend_from_slice(&[0; 8]);
        });
        let status = msg(|s| {
            bytes(1, b"Running", s);
            bytes(6, b"10.0.0.1", s);
            bytes(12, &msg(|i| bytes(1, b"10.0.0.1", i)), s);
        });
        let pod_bytes = msg(|p| {
            bytes(1, &meta, p);
            bytes(2, &spec, p);
            bytes(3, &status, p);
        });
        let json = serde_json::json!({
            "metadata": {"name": "p", "generateName": "", "namespace": "ns", "uid": "u-1",
                "resourceVersion": "42", "creationTimestamp": "2023-11-14T22:13:20Z",
                "labels": {"app": "x"}},
            "spec": {"nodeName": "node-1", "hostNetwork": false, "containers": [
                {"ports": [{"name": "http", "hostPort": 0, "containerPort": 8080, "protocol": "TCP"}]},
                {}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}
        });
        assert_eq!(pod_view(&pod_bytes).unwrap(), PodView::from_json(&json));
        assert!(pod_view(&pod_bytes[..pod_bytes.len() - 1]).is_err());
        // The zero time is an empty message.
        assert_eq!(time(&[]).unwrap(), Value::Null);
        assert_eq!(time_text(&[]).unwrap(), None);
    }

    fn entry(field: u64, k: &str, v: &str, out: &mut Vec<u8>) {
        let e = msg(|e| {
            bytes(1, k.as_bytes(), e);
            bytes(2, v.as_bytes(), e);
        });
        bytes(field, &e, out);
    }

    /// A container with these ports (name, hostPort, containerPort, protocol, hostIP).
    fn container_msg(ports: &[(&str, i64, i64, &str, &str)]) -> Vec<u8> {
        msg(|c| {
            bytes(1, b"c", c);
            bytes(2, b"busybox", c);
            for (name, host, port, proto, ip) in ports {
                let p = msg(|p| {
                    bytes(1, name.as_bytes(), p);
                    int(2, *host as u64, p);
                    int(3, *port as u64, p);
                    bytes(4, proto.as_bytes(), p);
                    bytes(5, ip.as_bytes(), p);
                });
                bytes(6, &p, c);
            }
        })
    }

    #[test]
    fn pod_fields_match_the_json_reading() {
        // Init containers written before the containers, a terminating pod, IPv4 and IPv6
        // addresses, annotations, a negative host port (sign-extended int32).
        let meta = msg(|m| {
            bytes(1, b"web-1", m);
            bytes(2, b"web-", m);
            bytes(3, b"prod", m);
            bytes(5, b"3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c", m);
            bytes(6, b"7", m);
            bytes(8, &msg(|t| int(1, 1_748_771_940, t)), m);
            bytes(9, &msg(|t| int(1, 1_748_772_000, t)), m);
            entry(11, "app", "web", m);
            entry(11, "tier", "front", m);
            entry(12, "cni.projectcalico.org/podIP", "", m);
            entry(12, "cni.projectcalico.org/floatingIPs", "[\"1.2.3.4\"]", m);
        });
        let spec = msg(|s| {
            bytes(
                20,
                &container_msg(&[("init", 0, 9000, "UDP", ""), ("", 0, 9001, "", "")]),
                s,
            );
            bytes(
                2,
                &container_msg(&[
                    ("http", -1, 80, "TCP", "0.0.0.0"),
                    ("", 8443, 443, "SCTP", ""),
                ]),
                s,
            );
            bytes(8, b"builder", s);
            bytes(10, b"node-a", s);
            int(11, 1, s);
        });
        let status = msg(|s| {
            bytes(1, b"Succeeded", s);
            bytes(6, b"10.0.0.9", s);
            bytes(12, &msg(|i| bytes(1, b"10.0.0.9", i)), s);
            bytes(12, &msg(|i| bytes(1, b"fd00::9", i)), s);
        });
        let pod_bytes = msg(|p| {
            bytes(1, &meta, p);
            bytes(2, &spec, p);
            bytes(3, &status, p);
        });
        let json = serde_json::json!({
            "metadata": {"name": "web-1", "generateName": "web-", "namespace": "prod",
                "uid": "3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c", "resourceVersion": "7",
                "creationTimestamp": "2025-06-01T09:59:00Z",
                "deletionTimestamp": "2025-06-01T10:00:00Z",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"cni.projectcalico.org/podIP": "",
                    "cni.projectcalico.org/floatingIPs": "[\"1.2.3.4\"]"}},
            "spec": {"nodeName": "node-a", "hostNetwork": true, "serviceAccountName": "builder",
                "containers": [{"name": "c", "ports": [
                    {"name": "http", "hostPort": -1, "containerPort": 80, "protocol": "TCP", "hostIP": "0.0.0.0"},
                    {"hostPort": 8443, "containerPort": 443, "protocol": "SCTP"}]}],
                "initContainers": [{"name": "c", "ports": [
                    {"name": "init", "containerPort": 9000, "protocol": "UDP"},
                    {"containerPort": 9001}]}]},
            "status": {"phase": "Succeeded", "podIP": "10.0.0.9",
                "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}]}
        });
        let view = pod_view(&pod_bytes).unwrap();
        assert_eq!(view, PodView::from_json(&json));
        assert!(view.deleting && view.host_network);
        assert_eq!(view.ports.len(), 4);
        assert_eq!(view.ports[0].host_port, -1);
    }

    #[test]
    fn decodes_the_node_fields_the_conversion_reads() {
        let meta = msg(|m| {
            bytes(1, b"n1", m);
            bytes(5, b"u", m);
            bytes(6, b"9", m);
            bytes(8, &msg(|t| int(1, 1_700_000_000, t)), m);
            entry(11, "kubernetes.io/hostname", "n1", m);
            entry(12, "projectcalico.org/IPv4Address", "172.16.0.1/16", m);
        });
        let spec = msg(|s| {
            bytes(1, b"10.1.0.0/24", s);
            bytes(7, b"10.1.0.0/24", s);
            bytes(7, b"fd00:1::/64", s);
        });
        let addr = |t: &str, a: &str| {
            msg(|x| {
                bytes(1, t.as_bytes(), x);
                bytes(2, a.as_bytes(), x);
            })
        };
        let status = msg(|s| {
            bytes(3, b"Running", s);
            bytes(5, &addr("InternalIP", "192.168.0.1"), s);
            bytes(5, &addr("Hostname", "n1"), s);
        });
        let b = msg(|n| {
            bytes(1, &meta, n);
            bytes(2, &spec, n);
            bytes(3, &status, n);
        });
        assert_eq!(
            metadata_only(&b).unwrap(),
            serde_json::json!({"metadata": {"name": "n1", "uid": "u", "resourceVersion": "9",
                "creationTimestamp": "2023-11-14T22:13:20Z",
                "labels": {"kubernetes.io/hostname": "n1"},
                "annotations": {"projectcalico.org/IPv4Address": "172.16.0.1/16"}}})
        );
        assert_eq!(
            node(&b).unwrap(),
            serde_json::json!({
                "metadata": {"name": "n1", "uid": "u", "resourceVersion": "9",
                    "creationTimestamp": "2023-11-14T22:13:20Z",
                    "labels": {"kubernetes.io/hostname": "n1"},
                    "annotations": {"projectcalico.org/IPv4Address": "172.16.0.1/16"}},
                "spec": {"podCIDRs": ["10.1.0.0/24", "fd00:1::/64"]},
                "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"},
                    {"type": "Hostname", "address": "n1"}]}
            })
        );
    }

    fn list_doc(items: &[&[u8]], cont: &str) -> Vec<u8> {
        let list = msg(|l| {
            let meta = msg(|m| {
                bytes(2, b"77", m);
                bytes(3, cont.as_bytes(), m);
            });
            bytes(1, &meta, l);
            for i in items {
                bytes(2, i, l);
            }
        });
        msg(|d| {
            d.extend_from_slice(MAGIC);
            let type_meta = msg(|t| {
                bytes(1, b"v1", t);
                bytes(2, b"PodList", t);
            });
            bytes(1, &type_meta, d);
            bytes(2, &list, d);
            bytes(3, b"", d);
            bytes(4, b"", d);
        })
    }

    #[test]
    fn splits_lists_in_any_chunking() {
        let big = vec![7u8; 300];
        let doc = list_doc(&[b"a", &big, b""], "tok");
        for n in [1, 2, 3, 7, 100, 10_000] {
            let mut s = Splitter::default();
            let (mut metas, mut items) = (Vec::new(), Vec::new());
            for c in doc.chunks(n) {
                s.feed::<ProtoError>(c, &mut |p| {
                    match p {
                        Part::Metadata(b) => metas.push(list_meta(b).unwrap()),
                        Part::Item(b) => items.push(b.to_vec()),
                    }
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(metas, [("77".to_string(), "tok".to_string())], "chunk {n}");
            assert_eq!(items, [b"a".to_vec(), big.clone(), Vec::new()], "chunk {n}");
            assert!(s.buf.is_empty() && s.list_left.is_none(), "chunk {n}");
        }
        let mut s = Splitter::default();
        assert!(s.feed::<ProtoError>(b"{\"kind\"", &mut |_| Ok(())).is_err());
    }

    #[test]
    fn reads_a_status_answer() {
        let answer = msg(|s| {
            bytes(2, b"Failure", s);
            bytes(3, b"pods is forbidden", s);
            bytes(4, b"Forbidden", s);
            int(6, 403, s);
        });
        let doc = msg(|d| {
            d.extend_from_slice(MAGIC);
            bytes(2, &answer, d);
        });
        assert_eq!(
            status(&doc),
            Some(serde_json::json!({"message": "pods is forbidden", "reason": "Forbidden"}))
        );
        assert_eq!(status(b"{}"), None);
        // As a kube-apiserver 1.37 answers a list with a bad continue token.
        let real = b"k8s\x00\n\x0c\n\x02v1\x12\x06Status\x12\x8e\x01\n\x06\n\x00\x12\x00\x1a\x00\x12\x07Failure\x1alinvalid continue token: continue key is not valid: invalid character '\\u0081' looking for beginning of value\"\nBadRequest0\x90\x03\x1a\x00\"\x00";
        assert_eq!(
            status(real),
            Some(serde_json::json!({
                "message": "invalid continue token: continue key is not valid: invalid character '\\u0081' looking for beginning of value",
                "reason": "BadRequest"
            }))
        );
    }
}
