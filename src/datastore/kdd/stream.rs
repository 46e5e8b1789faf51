//! Streamed reading of Kubernetes lists: the response body is split into its items as the
//! bytes arrive, and a decoder thread turns each item into a Calico object while the next
//! bytes are still on the wire. Items are decoded straight from their bytes, keeping only the
//! fields a conversion reads (a [`Mask`]); everything else is skipped without allocating.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Which parts of a JSON value to keep.
#[derive(Debug)]
pub enum Mask {
    /// The whole value.
    All,
    /// Only these fields of an object (each with its own mask).
    Fields(&'static [(&'static str, Mask)]),
    /// Every element of an array, each under this mask.
    Items(&'static Mask),
}

/// The ports of each container.
const CONTAINER_PORTS: Mask = Mask::Items(&Mask::Fields(&[("ports", Mask::All)]));

/// The fields of a Pod that the Pod → WorkloadEndpoint conversion reads.
pub static POD: Mask = Mask::Fields(&[
    (
        "metadata",
        Mask::Fields(&[
            ("name", Mask::All),
            ("namespace", Mask::All),
            ("uid", Mask::All),
            ("resourceVersion", Mask::All),
            ("creationTimestamp", Mask::All),
            ("generateName", Mask::All),
            ("deletionTimestamp", Mask::All),
            ("labels", Mask::All),
            ("annotations", Mask::All),
        ]),
    ),
    (
        "spec",
        Mask::Fields(&[
            ("nodeName", Mask::All),
            ("hostNetwork", Mask::All),
            ("serviceAccountName", Mask::All),
            ("containers", CONTAINER_PORTS),
            ("initContainers", CONTAINER_PORTS),
        ]),
    ),
    (
        "status",
        Mask::Fields(&[
            ("podIP", Mask::All),
            ("podIPs", Mask::All),
            ("phase", Mask::All),
        ]),
    ),
]);

/// The fields of a Kubernetes Node that the Node → Calico Node conversion reads.
pub static NODE: Mask = Mask::Fields(&[
    (
        "metadata",
        Mask::Fields(&[
            ("name", Mask::All),
            ("uid", Mask::All),
            ("resourceVersion", Mask::All),
            ("creationTimestamp", Mask::All),
            ("labels", Mask::All),
            ("annotations", Mask::All),
        ]),
    ),
    ("spec", Mask::Fields(&[("podCIDRs", Mask::All)])),
    ("status", Mask::Fields(&[("addresses", Mask::All)])),
]);

/// Only the metadata of an object (Namespaces and ServiceAccounts, read as Profiles).
pub static METADATA: Mask = Mask::Fields(&[("metadata", Mask::All)]);

/// Decodes one JSON document keeping what `mask` names.
pub fn decode(bytes: &[u8], mask: &'static Mask) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = mask.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

impl<'de> DeserializeSeed<'de> for &'static Mask {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self {
            Mask::All => serde::Deserialize::deserialize(d),
            _ => d.deserialize_any(Pruned(self)),
        }
    }
}

/// Visits a value under a mask that is not `All`; scalars are kept as they are.
struct Pruned(&'static Mask);

/// A field name's position in a `Fields` mask, read without allocating.
struct FieldIndex(&'static [(&'static str, Mask)]);

impl<'de> DeserializeSeed<'de> for FieldIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldIndex {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|(n, _)| *n == s))
    }
}

impl<'de> Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let elem = match self.0 {
            Mask::Items(m) => *m,
            other => other,
        };
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(elem)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Mask::Fields(fields) = self.0 else {
            // An object where an array was expected: nothing of it is wanted.
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Object(Map::new()));
        };
        let mut out = Map::new();
        while let Some(i) = map.next_key_seed(FieldIndex(fields))? {
            match i {
                Some(i) => {
                    let (name, m) = &fields[i];
                    let v = map.next_value_seed(m)?;
                    out.insert((*name).to_string(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// What the splitter finds in a list document.
#[derive(Debug, PartialEq)]
pub enum Part<'a> {
    /// The raw JSON of the list's `metadata`.
    Metadata(&'a [u8]),
    /// The raw JSON of one element of `items`.
    Item(&'a [u8]),
}

/// Splits a JSON list document (`{"metadata": {...}, "items": [...], ...}`, keys in any order)
/// fed in chunks into its metadata and its items, each handed over as soon as its last byte
/// has arrived. Holds only the bytes of the part being read.
#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Next byte of `buf` to scan.
    pos: usize,
    depth: usize,
    in_str: bool,
    esc: bool,
    /// At depth 1: the next string is a key.
    want_key: bool,
    /// Start of the last key string at depth 1 (after its quote), and its end.
    key: (usize, usize),
    /// The value being read at depth 1 is `metadata` / `items`.
    in_metadata: bool,
    in_items: bool,
    /// Start of the part being read, if any.
    start: Option<usize>,
    /// A top-level value ended with a `}`/`]`/scalar: `,` or `}` follows.
    after_colon: bool,
}

impl Splitter {
    /// Appends `chunk` and hands every part completed by it to `sink`.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(chunk);
        let mut i = self.pos;
        while i < self.buf.len() {
            let b = self.buf[i];
            if self.in_str {
                if self.esc {
                    self.esc = false;
                } else if b == b'\\' {
                    self.esc = true;
                } else if b == b'"' {
                    self.in_str = false;
                    if self.depth == 1 && self.want_key {
                        self.key.1 = i;
                        self.want_key = false;
                    }
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => {
                    self.in_str = true;
                    if self.depth == 1 && self.want_key {
                        self.key.0 = i + 1;
                    } else if self.depth == 2 && self.in_items && self.start.is_none() {
                        self.start = Some(i);
                    }
                }
                b':' if self.depth == 1 => {
                    let key = &self.buf[self.key.0..self.key.1];
                    self.in_metadata = key == b"metadata";
                    self.in_items = key == b"items";
                    self.after_colon = true;
                }
                b'{' | b'[' => {
                    let metadata = self.depth == 1 && self.after_colon && self.in_metadata;
                    let item = self.depth == 2 && self.in_items && self.start.is_none();
                    if metadata || item {
                        self.start = Some(i);
                    }
                    self.after_colon = false;
                    self.depth += 1;
                    if self.depth == 1 {
                        self.want_key = true;
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    let done = match self.depth {
                        1 if self.in_metadata => self.start.take().map(|s| (s, true)),
                        2 if self.in_items => self.start.take().map(|s| (s, false)),
                        _ => None,
                    };
                    if let Some((s, meta)) = done {
                        let part = &self.buf[s..=i];
                        sink(if meta {
                            Part::Metadata(part)
                        } else {
                            Part::Item(part)
                        })?;
                        if meta {
                            self.in_metadata = false;
                        }
                    }
                }
                b',' if self.depth == 1 => {
                    self.want_key = true;
                    self.in_metadata = false;
                    self.in_items = false;
                    self.after_colon = false;
                }
                b',' if self.depth == 2 && self.in_items => {
                    // Between items (a scalar item, if any, ends here and is ignored).
                    self.start = None;
                }
                _ => {}
            }
            i += 1;
        }
        // Keep only what the part being read (and the last key) still needs.
        let keep = self.start.unwrap_or(i).min(if self.depth == 1 {
            self.key.0.min(i)
        } else {
            i
        });
        if keep > 0 {
            self.buf.drain(..keep);
            self.key.0 = self.key.0.saturating_sub(keep);
            self.key.1 = self.key.1.saturating_sub(keep);
            if let Some(s) = self.start.as_mut() {
                *s -= keep;
            }
        }
        self.pos = i - keep;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(doc: &str, chunk: usize) -> (Vec<String>, Vec<String>) {
        let mut s = Splitter::default();
        let (mut metas, mut items) = (Vec::new(), Vec::new());
        for c in doc.as_bytes().chunks(chunk) {
            s.feed::<()>(c, &mut |p| {
                match p {
                    Part::Metadata(b) => metas.push(String::from_utf8(b.to_vec()).unwrap()),
                    Part::Item(b) => items.push(String::from_utf8(b.to_vec()).unwrap()),
                }
                Ok(())
            })
            .unwrap();
        }
        (metas, items)
    }

    #[test]
    fn splits_lists_in_any_chunking() {
        let doc = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12","continue":"a\"}b"},"items":[{"metadata":{"name":"x{"}},{"a":[1,{"b":"]"}]} , {"c":"\\"}]}"#;
        for n in [1, 2, 3, 7, 16, 1000] {
            let (m, i) = split(doc, n);
            assert_eq!(
                m,
                [r#"{"resourceVersion":"12","continue":"a\"}b"}"#],
                "chunk {n}"
            );
            assert_eq!(
                i,
                [
                    r#"{"metadata":{"name":"x{"}}"#,
                    r#"{"a":[1,{"b":"]"}]}"#,
                    r#"{"c":"\\"}"#
                ],
                "chunk {n}"
            );
        }
        // Items before metadata, an empty list, other keys with nested values.
        let (m, i) = split(
            r#"{"items":[],"x":{"metadata":{"y":1}},"metadata":{"continue":""}}"#,
            5,
        );
        assert_eq!(m, [r#"{"continue":""}"#]);
        assert!(i.is_empty());
        let (m, i) = split(r#"{"items":null,"metadata":{}}"#, 3);
        assert_eq!(m, ["{}"]);
        assert!(i.is_empty());
    }

    #[test]
    fn masks_keep_only_named_fields() {
        let pod = r#"{"metadata":{"name":"p","managedFields":[{"a":1}],"labels":{"k":"v"}},
            "spec":{"nodeName":"n","volumes":[{"x":2}],"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]},
            "status":{"phase":"Running","conditions":[{"type":"Ready"}],"podIP":null}}"#;
        let v = decode(pod.as_bytes(), &POD).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"metadata":{"name":"p","labels":{"k":"v"}},
                "spec":{"nodeName":"n","containers":[{"ports":[{"containerPort":80}]}]},
                "status":{"phase":"Running","podIP":null}})
        );
        assert!(decode(b"{\"metadata\":", &POD).is_err());
    }
}
