//! etcd encodings of IPAM objects (under `/calico/ipam/v2/`): compact Go JSON with libcalico's
//! field names (`affinity_claim_time`, `handle_id`, `strict_affinity` …) in Go field order.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::gocompat::json::to_go_json;
use crate::model::ipam::*;

fn str_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn read_str_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    match v? {
        Value::Object(m) => Some(
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
        ),
        _ => None,
    }
}

/// Encodes an IPAM value for etcd.
pub fn encode(value: &IpamValue) -> String {
    let mut m = Map::new();
    match value {
        IpamValue::Block(b) => {
            m.insert("cidr".into(), Value::String(b.cidr.to_string()));
            m.insert(
                "affinity".into(),
                b.affinity.clone().map(Value::String).unwrap_or(Value::Null),
            );
            if let Some(t) = &b.affinity_claim_time {
                m.insert("affinity_claim_time".into(), Value::String(t.clone()));
            }
            m.insert(
                "allocations".into(),
                Value::Array(
                    b.allocations
                        .iter()
                        .map(|a| a.map(|i| Value::from(i as u64)).unwrap_or(Value::Null))
                        .collect(),
                ),
            );
            m.insert(
                "unallocated".into(),
                match &b.unallocated {
                    Some(u) => Value::Array(u.iter().map(|i| Value::from(*i as u64)).collect()),
                    None => Value::Null,
                },
            );
            m.insert(
                "attributes".into(),
                match &b.attributes {
                    Some(a) => Value::Array(a.iter().map(encode_attr).collect()),
                    None => Value::Null,
                },
            );
            m.insert("sequenceNumber".into(), Value::from(b.sequence_number));
            m.insert(
                "sequenceNumberForAllocation".into(),
                match &b.sequence_number_for_allocation {
                    Some(s) => Value::Object(
                        s.iter()
                            .map(|(k, v)| (k.clone(), Value::from(*v)))
                            .collect(),
                    ),
                    None => Value::Null,
                },
            );
            m.insert("deleted".into(), Value::Bool(b.deleted));
            if let Some(h) = &b.host_affinity {
                m.insert("hostAffinity".into(), Value::String(h.clone()));
            }
        }
        IpamValue::Affinity(a) => {
            m.insert("state".into(), Value::String(a.state.clone()));
            m.insert("deleted".into(), Value::Bool(a.deleted));
        }
        IpamValue::Handle(h) => {
            m.insert(
                "block".into(),
                Value::Object(
                    h.block
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::from(*v)))
                        .collect(),
                ),
            );
            m.insert("deleted".into(), Value::Bool(h.deleted));
        }
        IpamValue::Config(c) => {
            if c.strict_affinity {
                m.insert("strict_affinity".into(), Value::Bool(true));
            }
            if c.auto_allocate_blocks {
                m.insert("auto_allocate_blocks".into(), Value::Bool(true));
            }
            if c.max_blocks_per_host != 0 {
                m.insert(
                    "maxBlocksPerHost".into(),
                    Value::from(c.max_blocks_per_host),
                );
            }
            if let Some(k) = &c.kubevirt_vm_address_persistence {
                m.insert(
                    "kubeVirtVMAddressPersistence".into(),
                    Value::String(k.clone()),
                );
            }
            if let Some(s) = c.ip_cooldown_seconds.filter(|s| *s != 0) {
                m.insert("ipCooldownSeconds".into(), Value::from(s));
            }
        }
    }
    to_go_json(&Value::Object(m))
}

fn encode_attr(a: &AllocationAttribute) -> Value {
    let mut m = Map::new();
    if let Some(h) = &a.handle_id {
        m.insert("handle_id".into(), Value::String(h.clone()));
    }
    if let Some(s) = a.secondary.as_ref().filter(|s| !s.is_empty()) {
        m.insert("secondary".into(), str_map(s));
    }
    if let Some(s) = a.alternate_owner_attrs.as_ref().filter(|s| !s.is_empty()) {
        m.insert("alternateOwnerAttrs".into(), str_map(s));
    }
    if let Some(r) = &a.released_at {
        m.insert("releasedAt".into(), Value::String(r.clone()));
    }
    Value::Object(m)
}

/// Decodes an etcd IPAM value for `key`. Empty affinity values (very old data) read as `{}`.
pub fn decode(key: &IpamKey, raw: &str) -> Result<IpamValue, IpamValueError> {
    match typed::decode(key, raw) {
        Some(v) => Ok(v),
        None => decode_tree(key, raw),
    }
}

/// `decode` through a JSON tree: every value, with the error for a corrupt one.
fn decode_tree(key: &IpamKey, raw: &str) -> Result<IpamValue, IpamValueError> {
    let v: Value = if raw.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(raw)?
    };
    let obj = v.as_object().ok_or(IpamValueError::NotObject)?;
    Ok(match key {
        IpamKey::Block(cidr) => IpamValue::Block(decode_block(obj, *cidr)?),
        IpamKey::Affinity { .. } => IpamValue::Affinity(BlockAffinity {
            state: obj
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            deleted: obj.get("deleted").and_then(Value::as_bool).unwrap_or(false),
        }),
        IpamKey::Handle(_) => {
            let mut block = BTreeMap::new();
            if let Some(Value::Object(b)) = obj.get("block") {
                for (k, v) in b {
                    block.insert(k.clone(), v.as_i64().ok_or(IpamValueError::HandleCount)?);
                }
            }
            IpamValue::Handle(IpamHandle {
                block,
                deleted: obj.get("deleted").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        IpamKey::Config => IpamValue::Config(IpamConfig {
            strict_affinity: obj
                .get("strict_affinity")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            auto_allocate_blocks: obj
                .get("auto_allocate_blocks")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            max_blocks_per_host: obj
                .get("maxBlocksPerHost")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            kubevirt_vm_address_persistence: obj
                .get("kubeVirtVMAddressPersistence")
                .and_then(Value::as_str)
                .map(str::to_string),
            ip_cooldown_seconds: obj.get("ipCooldownSeconds").and_then(Value::as_i64),
        }),
    })
}

/// Strictly checks a block's structure: a corrupt block must be reported, never "fixed".
fn decode_block(
    obj: &Map<String, Value>,
    key_cidr: ipnet::IpNet,
) -> Result<AllocationBlock, IpamValueError> {
    let cidr: ipnet::IpNet = obj
        .get("cidr")
        .and_then(Value::as_str)
        .ok_or(IpamValueError::NoCidr)?
        .parse()
        .map_err(IpamValueError::Cidr)?;
    if cidr.trunc() != key_cidr {
        return Err(IpamValueError::CidrKey {
            cidr,
            key: key_cidr,
        });
    }
    let size = 1usize
        .checked_shl((cidr.max_prefix_len() - cidr.prefix_len()) as u32)
        .ok_or(IpamValueError::TooLarge)?;
    let allocations: Vec<Option<usize>> = match obj.get("allocations") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::Null => Ok(None),
                Value::Number(n) => n
                    .as_u64()
                    .map(|u| Some(u as usize))
                    .ok_or(IpamValueError::AllocationIndex),
                _ => Err(IpamValueError::AllocationEntry),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Null) | None => vec![None; size],
        _ => return Err(IpamValueError::AllocationsNotArray),
    };
    if allocations.len() != size {
        return Err(IpamValueError::AllocationCount {
            cidr,
            count: allocations.len(),
            size,
        });
    }
    let unallocated = match obj.get("unallocated") {
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|x| {
                    x.as_u64()
                        .map(|u| u as usize)
                        .ok_or(IpamValueError::UnallocatedEntry)
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(Value::Null) | None => None,
        _ => return Err(IpamValueError::UnallocatedNotArray),
    };
    let attributes = match obj.get("attributes") {
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|x| {
                    let o = x.as_object().ok_or(IpamValueError::AttributeNotObject)?;
                    Ok(AllocationAttribute {
                        handle_id: o
                            .get("handle_id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        secondary: read_str_map(o.get("secondary")),
                        alternate_owner_attrs: read_str_map(o.get("alternateOwnerAttrs")),
                        released_at: o
                            .get("releasedAt")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                })
                .collect::<Result<Vec<_>, IpamValueError>>()?,
        ),
        Some(Value::Null) | None => None,
        _ => return Err(IpamValueError::AttributesNotArray),
    };
    let nattrs = attributes.as_ref().map(Vec::len).unwrap_or(0);
    if let Some(bad) = allocations.iter().flatten().find(|&&i| i >= nattrs) {
        return Err(IpamValueError::AttributeRef {
            index: *bad,
            count: nattrs,
        });
    }
    if let Some(u) = &unallocated
        && let Some(bad) = u.iter().find(|&&i| i >= size)
    {
        return Err(IpamValueError::UnallocatedOrdinal(*bad));
    }
    let seq_alloc = match obj.get("sequenceNumberForAllocation") {
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), v.as_u64().ok_or(IpamValueError::SequenceNumber)?)))
                .collect::<Result<BTreeMap<_, _>, IpamValueError>>()?,
        ),
        _ => None,
    };
    Ok(AllocationBlock {
        cidr,
        affinity: obj
            .get("affinity")
            .and_then(Value::as_str)
            .map(str::to_string),
        affinity_claim_time: obj
            .get("affinity_claim_time")
            .and_then(Value::as_str)
            .map(str::to_string),
        allocations,
        unallocated,
        attributes,
        sequence_number: obj
            .get("sequenceNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        sequence_number_for_allocation: seq_alloc,
        deleted: obj.get("deleted").and_then(Value::as_bool).unwrap_or(false),
        host_affinity: obj
            .get("hostAffinity")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Blocks and handles (the bulk of IPAM data: `ipam show` and `ipam check` read every one)
/// decoded straight into their structs, without a JSON tree. Only a value whose every field
/// has the type the general path expects takes this way; anything else (a wrong type, a
/// duplicate field, an array where an object belongs, a block that fails a structural check)
/// gives `None`, and the general path decides, with its result or error.
mod typed {
    use std::collections::BTreeMap;
    use std::marker::PhantomData;

    use serde::Deserialize;
    use serde::de::{Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

    use crate::datastore::JsonStr as Text;
    use crate::model::ipam::*;

    /// `T` read only from a JSON object (a derived struct would also accept an array).
    struct Obj<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = Obj<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
                }
            }
            d.deserialize_map(V(PhantomData))
        }
    }

    fn owned(t: Option<Text>) -> Option<String> {
        t.map(|t| t.0.into_owned())
    }

    #[derive(Deserialize)]
    struct Block<'a> {
        #[serde(borrow)]
        cidr: Text<'a>,
        #[serde(borrow, default)]
        affinity: Option<Text<'a>>,
        #[serde(borrow, default)]
        affinity_claim_time: Option<Text<'a>>,
        #[serde(default)]
        allocations: Option<Vec<Option<u64>>>,
        #[serde(default)]
        unallocated: Option<Vec<u64>>,
        #[serde(borrow, default)]
        attributes: Option<Vec<Obj<Attr<'a>>>>,
        #[serde(default, rename = "sequenceNumber")]
        sequence_number: Option<u64>,
        #[serde(default, rename = "sequenceNumberForAllocation")]
        sequence_number_for_allocation: Option<BTreeMap<String, u64>>,
        #[serde(default)]
        deleted: Option<bool>,
        #[serde(borrow, default, rename = "hostAffinity")]
        host_affinity: Option<Text<'a>>,
    }

    #[derive(Deserialize)]
    struct Attr<'a> {
        #[serde(borrow, default)]
        handle_id: Option<Text<'a>>,
        #[serde(default)]
        secondary: Option<BTreeMap<String, String>>,
        #[serde(default, rename = "alternateOwnerAttrs")]
        alternate_owner_attrs: Option<BTreeMap<String, String>>,
        #[serde(borrow, default, rename = "releasedAt")]
        released_at: Option<Text<'a>>,
    }

    #[derive(Deserialize)]
    struct Handle {
        #[serde(default)]
        block: Option<BTreeMap<String, i64>>,
        #[serde(default)]
        deleted: Option<bool>,
    }

    pub(super) fn decode(key: &IpamKey, raw: &str) -> Option<IpamValue> {
        match key {
            IpamKey::Block(key_cidr) => {
                let Obj(b) = serde_json::from_str::<Obj<Block>>(raw).ok()?;
                block(b, *key_cidr).map(IpamValue::Block)
            }
            IpamKey::Handle(_) => {
                let Obj(h) = serde_json::from_str::<Obj<Handle>>(raw).ok()?;
                Some(IpamValue::Handle(IpamHandle {
                    block: h.block.unwrap_or_default(),
                    deleted: h.deleted.unwrap_or(false),
                }))
            }
            _ => None,
        }
    }

    /// The block, when it passes the general path's structural checks.
    fn block(b: Block, key_cidr: ipnet::IpNet) -> Option<AllocationBlock> {
        let cidr: ipnet::IpNet = b.cidr.0.parse().ok()?;
        if cidr.trunc() != key_cidr {
            return None;
        }
        let size = 1usize.checked_shl((cidr.max_prefix_len() - cidr.prefix_len()) as u32)?;
        let allocations: Vec<Option<usize>> = match b.allocations {
            Some(a) => a.into_iter().map(|x| x.map(|u| u as usize)).collect(),
            None => vec![None; size],
        };
        if allocations.len() != size {
            return None;
        }
        let attributes: Option<Vec<AllocationAttribute>> = b.attributes.map(|a| {
            a.into_iter()
                .map(|Obj(a)| AllocationAttribute {
                    handle_id: owned(a.handle_id),
                    secondary: a.secondary,
                    alternate_owner_attrs: a.alternate_owner_attrs,
                    released_at: owned(a.released_at),
                })
                .collect()
        });
        let nattrs = attributes.as_ref().map_or(0, Vec::len);
        if allocations.iter().flatten().any(|&i| i >= nattrs) {
            return None;
        }
        let unallocated: Option<Vec<usize>> = b
            .unallocated
            .map(|u| u.into_iter().map(|i| i as usize).collect());
        if unallocated
            .as_ref()
            .is_some_and(|u| u.iter().any(|&i| i >= size))
        {
            return None;
        }
        Some(AllocationBlock {
            cidr,
            affinity: owned(b.affinity),
            affinity_claim_time: owned(b.affinity_claim_time),
            allocations,
            unallocated,
            attributes,
            sequence_number: b.sequence_number.unwrap_or(0),
            sequence_number_for_allocation: b.sequence_number_for_allocation,
            deleted: b.deleted.unwrap_or(false),
            host_affinity: owned(b.host_affinity),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"cidr":"10.244.7.0/29","affinity":"host:node1","affinity_claim_time":"2025-06-01T10:00:00Z","allocations":[0,1,2,null,null,null,null,null],"unallocated":[4,5,6,7,3],"attributes":[{"handle_id":"ipip-tunnel-addr-node1","secondary":{"node":"node1","type":"ipipTunnelAddress"}},{"handle_id":"k8s-pod-network.5f2a","secondary":{"namespace":"default","node":"node1","pod":"nginx-7c9f","timestamp":"2025-06-01 10:05:12.123456789 +0000 UTC"}},{"handle_id":"k8s-pod-network.9e8d","secondary":{"namespace":"kube-system","node":"node2","pod":"coredns-5d8f","timestamp":"2025-06-01 10:06:00.5 +0000 UTC"}}],"sequenceNumber":1748772000000000005,"sequenceNumberForAllocation":{"0":1748772000000000000,"1":1748772000000000001,"2":1748772000000000002},"deleted":false}"#;

    #[test]
    fn block_round_trips_byte_for_byte() {
        let key = IpamKey::Block("10.244.7.0/29".parse().unwrap());
        let v = decode(&key, EXAMPLE).unwrap();
        assert_eq!(encode(&v), EXAMPLE);
    }

    #[test]
    fn config_never_stored_empty() {
        let s = encode(&IpamValue::Config(IpamConfig::default()));
        assert_eq!(s, r#"{"auto_allocate_blocks":true}"#);
    }

    #[test]
    fn corrupt_blocks_are_rejected() {
        let key = IpamKey::Block("10.244.7.0/29".parse().unwrap());
        assert!(decode(&key, r#"{"cidr":"10.244.7.0/29","allocations":[0]}"#).is_err());
        assert!(decode(&key, "not json").is_err());
        assert!(
            decode(
                &key,
                r#"{"cidr":"10.0.0.0/29","allocations":[null,null,null,null,null,null,null,null]}"#
            )
            .is_err()
        );
        let bad_attr = EXAMPLE.replace("[0,1,2,", "[0,1,9,");
        assert!(decode(&key, &bad_attr).is_err());
    }

    #[test]
    fn typed_decoding_agrees_with_the_tree() {
        let block = IpamKey::Block("10.244.7.0/29".parse().unwrap());
        let handle = IpamKey::Handle("h".into());
        let cases: Vec<(&IpamKey, String)> = vec![
            (&block, EXAMPLE.to_string()),
            (
                &block,
                EXAMPLE.replace("\"host:node1\"", "\"host:n\\u006fde1\""),
            ),
            (
                &block,
                EXAMPLE.replace("\"affinity\":\"host:node1\"", "\"affinity\":7"),
            ),
            (
                &block,
                EXAMPLE.replace("\"deleted\":false", "\"deleted\":\"no\""),
            ),
            (
                &block,
                EXAMPLE.replace(
                    "\"sequenceNumber\":1748772000000000005",
                    "\"sequenceNumber\":null",
                ),
            ),
            (
                &block,
                EXAMPLE.replace(
                    "\"sequenceNumber\":1748772000000000005",
                    "\"sequenceNumber\":-1",
                ),
            ),
            (
                &block,
                EXAMPLE.replace("\"node\":\"node1\",", "\"node\":1,"),
            ),
            (
                &block,
                EXAMPLE.replace(
                    "{\"handle_id\":\"ipip-tunnel-addr-node1\"",
                    "[\"ipip-tunnel-addr-node1\"",
                ),
            ),
            (
                &block,
                EXAMPLE.replace(
                    "\"cidr\":\"10.244.7.0/29\",",
                    "\"cidr\":\"10.244.7.0/29\",\"cidr\":\"10.244.7.0/29\",",
                ),
            ),
            (
                &block,
                EXAMPLE.replace(
                    "\"allocations\":[0,1,2,null,null,null,null,null]",
                    "\"allocations\":null",
                ),
            ),
            (&block, EXAMPLE.replace("[4,5,6,7,3]", "[4,5,6,7,9]")),
            (&block, EXAMPLE.replace("[0,1,2,", "[0,1.0,2,")),
            (&block, "[\"10.244.7.0/29\"]".to_string()),
            (&block, String::new()),
            (
                &handle,
                r#"{"block":{"10.244.7.0/29":1},"deleted":false}"#.to_string(),
            ),
            (&handle, r#"{"block":null}"#.to_string()),
            (&handle, r#"{"block":{"10.244.7.0/29":"1"}}"#.to_string()),
            (&handle, r#"{"block":[],"deleted":true}"#.to_string()),
            (&handle, r#"{"deleted":1}"#.to_string()),
        ];
        let mut typed_taken = 0;
        for (key, raw) in &cases {
            let tree = decode_tree(key, raw).map_err(|e| e.to_string());
            if let Some(v) = typed::decode(key, raw) {
                typed_taken += 1;
                assert_eq!(Ok(v), tree, "{raw}");
            }
            assert_eq!(decode(key, raw).map_err(|e| e.to_string()), tree, "{raw}");
        }
        assert!(
            typed_taken >= 5,
            "the typed path is taken for well-typed values"
        );
    }

    #[test]
    fn affinity_and_handle() {
        let k = IpamKey::Handle("h".into());
        let raw = r#"{"block":{"10.244.7.0/29":1},"deleted":false}"#;
        assert_eq!(encode(&decode(&k, raw).unwrap()), raw);
        let a = IpamKey::Affinity {
            host: "n".into(),
            affinity_type: AffinityType::Host,
            cidr: "10.244.7.0/29".parse().unwrap(),
        };
        assert_eq!(
            encode(&decode(&a, "").unwrap()),
            r#"{"state":"","deleted":false}"#
        );
    }
}
