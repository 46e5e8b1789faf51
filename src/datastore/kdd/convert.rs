//! Pure conversions of the Kubernetes datastore (CRDs of crd.projectcalico.org/v1 or
//! projectcalico.org/v3, plus Nodes/Pods/Namespaces): the v1 CRD metadata
//! annotation, UID bit reversal, IPAM CR names and encodings, Node/Pod/Namespace mappings.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha1::Digest as _;

use crate::gocompat::json::to_go_json;
use crate::model::ipam::*;
use crate::model::kinds::{API_VERSION, KindInfo, TIERED_POLICY_KINDS, str_at};
use crate::model::meta;
use crate::model::schema::schema;

pub const CRD_GROUP_V1: &str = "crd.projectcalico.org/v1";
pub const METADATA_ANNOTATION: &str = "projectcalico.org/metadata";
/// The label naming a policy's tier.
const TIER_LABEL: &str = "projectcalico.org/tier";

/// libcalico's `ConvertUID`: reverse the bits of every byte, keep bytes 6 and 8 (version and
/// variant). An involution.
pub fn reverse_uid(uid: &str) -> String {
    let Ok(u) = uuid::Uuid::parse_str(uid) else {
        return uid.to_string();
    };
    let orig = *u.as_bytes();
    let mut b = orig.map(|x| x.reverse_bits());
    b[6] = orig[6];
    b[8] = orig[8];
    uuid::Uuid::from_bytes(b).to_string()
}

fn calico_key(k: &str) -> bool {
    k.contains("projectcalico.org/") || k.contains("operator.tigera.io/")
}

fn str_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

/// v3 object → crd.projectcalico.org/v1 CR.
pub fn to_v1_cr(kind: &KindInfo, obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut cr_meta = Map::new();
    cr_meta.insert("name".into(), Value::String(meta::name(obj)));
    if kind.namespaced {
        cr_meta.insert("namespace".into(), Value::String(meta::namespace(obj)));
    }
    let rv = meta::resource_version(obj);
    if !rv.is_empty() {
        cr_meta.insert("resourceVersion".into(), Value::String(rv));
    }
    let uid = meta::meta_str(obj, "uid");
    if !uid.is_empty() {
        cr_meta.insert("uid".into(), Value::String(reverse_uid(&uid)));
    }
    let labels: Map<String, Value> = str_map(m.get("labels"))
        .into_iter()
        .filter(|(k, _)| calico_key(k))
        .collect();
    if !labels.is_empty() {
        cr_meta.insert("labels".into(), Value::Object(labels));
    }
    // The whole v3 metadata (minus what the CR carries itself) rides in an annotation.
    let mut ann_meta = m.as_object().cloned().unwrap_or_default();
    for f in ["namespace", "resourceVersion", "uid", "selfLink"] {
        ann_meta.remove(f);
    }
    if !kind.flags.policy_name_annotation {
        ann_meta.remove("name");
    }
    let ann_meta = schema()
        .decode("metav1.ObjectMeta", &Value::Object(ann_meta.clone()), false)
        .unwrap_or(Value::Object(ann_meta));
    let mut anns: Map<String, Value> = str_map(m.get("annotations"))
        .into_iter()
        .filter(|(k, _)| calico_key(k))
        .collect();
    anns.insert(
        METADATA_ANNOTATION.into(),
        Value::String(to_go_json(&ann_meta)),
    );
    cr_meta.insert("annotations".into(), Value::Object(anns));
    let mut cr = Map::new();
    cr.insert("apiVersion".into(), Value::String(CRD_GROUP_V1.into()));
    cr.insert("kind".into(), Value::String(kind.kind.into()));
    cr.insert("metadata".into(), Value::Object(cr_meta));
    for f in ["spec", "status"] {
        if let Some(v) = obj.get(f) {
            cr.insert(f.into(), v.clone());
        }
    }
    Value::Object(cr)
}

/// crd.projectcalico.org/v1 CR → canonical v3 object.
pub fn from_v1_cr(kind: &KindInfo, cr: &Value) -> Value {
    let cm = cr.get("metadata").cloned().unwrap_or(json!({}));
    let mut labels = str_map(cm.get("labels"));
    let mut anns = str_map(cm.get("annotations"));
    let mut m = Map::new();
    let ann_meta: Option<Map<String, Value>> = anns
        .remove(METADATA_ANNOTATION)
        .and_then(|v| {
            v.as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
        })
        .and_then(|v| v.as_object().cloned());
    let mut name = str_at(&cm, &["name"]);
    let mut created = cm.get("creationTimestamp").cloned();
    if let Some(am) = &ann_meta {
        for (k, v) in am {
            match k.as_str() {
                "labels" => labels.extend(str_map(Some(v))),
                "annotations" => anns.extend(str_map(Some(v))),
                "name" if kind.flags.policy_name_annotation => {
                    if let Some(n) = v.as_str() {
                        name = n.to_string();
                    }
                }
                "name" | "namespace" | "resourceVersion" | "uid" => {}
                "creationTimestamp" => {
                    if !v.is_null() {
                        created = Some(v.clone());
                    }
                }
                _ => {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    } else {
        // Without the annotation the v3 metadata is the CR's own, managed fields included.
        for f in [
            "generateName",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "ownerReferences",
            "finalizers",
            "managedFields",
        ] {
            if let Some(v) = cm.get(f) {
                m.insert(f.into(), v.clone());
            }
        }
    }
    m.insert("name".into(), Value::String(name));
    if kind.namespaced {
        m.insert(
            "namespace".into(),
            cm.get("namespace").cloned().unwrap_or(Value::Null),
        );
    }
    let uid = str_at(&cm, &["uid"]);
    if !uid.is_empty() {
        m.insert("uid".into(), Value::String(reverse_uid(&uid)));
    }
    m.insert(
        "resourceVersion".into(),
        cm.get("resourceVersion").cloned().unwrap_or(Value::Null),
    );
    if let Some(c) = created {
        m.insert("creationTimestamp".into(), c);
    }
    // A policy CR made without calicoctl (no tier label) reads as one of the default tier,
    // whatever its spec's tier: libcalico adds the label when it is missing, not when empty.
    if TIERED_POLICY_KINDS.contains(&kind.id) && !labels.contains_key(TIER_LABEL) {
        labels.insert(TIER_LABEL.into(), Value::String("default".into()));
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !anns.is_empty() {
        m.insert("annotations".into(), Value::Object(anns));
    }
    let mut v3 = Map::new();
    v3.insert("kind".into(), Value::String(kind.kind.into()));
    v3.insert("apiVersion".into(), Value::String(API_VERSION.into()));
    v3.insert("metadata".into(), Value::Object(m));
    for f in ["spec", "status"] {
        if let Some(v) = cr.get(f) {
            v3.insert(f.into(), v.clone());
        }
    }
    let raw = Value::Object(v3);
    schema()
        .decode(&kind.type_name(), &raw, false)
        .unwrap_or(raw)
}

/// projectcalico.org/v3 CR (no-API-server mode) → canonical v3 object.
pub fn from_v3_cr(kind: &KindInfo, cr: &Value) -> Value {
    let mut o = cr.clone();
    meta::edit_meta(&mut o, |m| {
        m.remove("managedFields");
        m.remove("generation");
    });
    schema().decode(&kind.type_name(), &o, false).unwrap_or(o)
}

/// CIDR → IPAMBlock name: `.`, `:` and `/` become `-`.
pub fn block_name(cidr: &ipnet::IpNet) -> String {
    cidr.trunc().to_string().replace(['.', ':', '/'], "-")
}

/// Base32 (RFC 4648, no padding) — the hostname-hash label form.
fn base32(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// `projectcalico.org/hostname-hash`: base32 of SHA3-256(hostname).
pub fn hostname_hash(host: &str) -> String {
    base32(&sha3::Sha3_256::digest(host.as_bytes()))
}

/// BlockAffinity name `<host>-<cidr-name>`, hashed when it would reach 253 characters.
pub fn affinity_name(host: &str, cidr: &ipnet::IpNet) -> String {
    let cn = block_name(cidr);
    let name = format!("{host}-{cn}");
    if name.len() < 253 {
        return name;
    }
    let keep = 252usize
        .saturating_sub(cn.len())
        .saturating_sub(13)
        .min(host.len());
    let mut cut = keep;
    while !host.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = sha2::Sha256::digest(format!("{host}+{cn}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{cn}-{}", &host[..cut], &hex[..11])
}

fn attr_json(a: &AllocationAttribute) -> Value {
    let mut m = Map::new();
    if let Some(h) = &a.handle_id {
        m.insert("handle_id".into(), Value::String(h.clone()));
    }
    if let Some(s) = a.secondary.as_ref().filter(|s| !s.is_empty()) {
        m.insert("secondary".into(), json!(s));
    }
    if let Some(s) = a.alternate_owner_attrs.as_ref().filter(|s| !s.is_empty()) {
        m.insert("alternateOwnerAttrs".into(), json!(s));
    }
    if let Some(r) = &a.released_at {
        m.insert("releasedAt".into(), Value::String(r.clone()));
    }
    Value::Object(m)
}

/// The CR `spec` of an IPAM value (v1 CRD field names; `v3` changes the affinity `deleted`).
pub fn ipam_spec(key: &IpamKey, v: &IpamValue, v3: bool) -> Value {
    match v {
        IpamValue::Block(b) => {
            let mut m = Map::new();
            m.insert("cidr".into(), Value::String(b.cidr.to_string()));
            if let Some(a) = &b.affinity {
                m.insert("affinity".into(), Value::String(a.clone()));
            }
            if let Some(t) = &b.affinity_claim_time {
                m.insert("affinityClaimTime".into(), Value::String(t.clone()));
            }
            m.insert("allocations".into(), json!(b.allocations));
            m.insert("unallocated".into(), json!(b.unallocated));
            m.insert(
                "attributes".into(),
                b.attributes
                    .as_ref()
                    .map(|a| Value::Array(a.iter().map(attr_json).collect()))
                    .unwrap_or(Value::Null),
            );
            m.insert("sequenceNumber".into(), json!(b.sequence_number));
            m.insert(
                "sequenceNumberForAllocation".into(),
                json!(b.sequence_number_for_allocation),
            );
            m.insert("deleted".into(), Value::Bool(b.deleted));
            m.insert("strictAffinity".into(), Value::Bool(false));
            Value::Object(m)
        }
        IpamValue::Affinity(a) => {
            let (host, t, cidr) = match key {
                IpamKey::Affinity {
                    host,
                    affinity_type,
                    cidr,
                } => (host.clone(), affinity_type.as_str(), cidr.to_string()),
                _ => (String::new(), "host", String::new()),
            };
            json!({"state": a.state, "node": host, "type": t, "cidr": cidr,
                   "deleted": if v3 { json!(a.deleted) } else { json!(a.deleted.to_string()) }})
        }
        IpamValue::Handle(h) => {
            let id = match key {
                IpamKey::Handle(id) => id.clone(),
                _ => String::new(),
            };
            json!({"handleID": id, "block": h.block, "deleted": h.deleted})
        }
        IpamValue::Config(c) => {
            let mut m = Map::new();
            m.insert("strictAffinity".into(), Value::Bool(c.strict_affinity));
            m.insert(
                "autoAllocateBlocks".into(),
                Value::Bool(c.auto_allocate_blocks),
            );
            if c.max_blocks_per_host != 0 {
                m.insert("maxBlocksPerHost".into(), json!(c.max_blocks_per_host));
            }
            if let Some(k) = &c.kubevirt_vm_address_persistence {
                m.insert(
                    "kubeVirtVMAddressPersistence".into(),
                    Value::String(k.clone()),
                );
            }
            Value::Object(m)
        }
    }
}

fn read_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    v.and_then(Value::as_object).map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    })
}

/// Why a Kubernetes object does not convert to or from its Calico form; the texts are
/// libcalico-go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("Error parsing {0}, verify that WorkloadEndpoint name is correct")]
    WepName(String),
    /// A pod annotation that is not the JSON list it should be (`message`: the JSON reader's).
    #[error("failed to parse '{text}' as JSON: {message}")]
    AnnotationJson { text: String, message: String },
    #[error("failed to parse '{0}' as a CIDR: invalid CIDR address: {0}")]
    SourcePrefix(String),
    #[error("invalid CIDR address: {0}")]
    PodIp(String),
    /// jsoniter's text for a kube-labels annotation that is not an object or `null`.
    #[error("{0}")]
    KubeLabelsNotObject(String),
    #[error("{}: invalid JSON object: {message}", KUBE_LABELS_ANNOTATION)]
    KubeLabelsJson { message: String },
}

impl ConvertError {
    fn annotation_json(text: &str, e: serde_json::Error) -> Self {
        ConvertError::AnnotationJson {
            text: text.to_string(),
            message: e.to_string(),
        }
    }
}

/// Reads an IPAM CR spec back.
pub fn ipam_value(key: &IpamKey, spec: &Value) -> Result<IpamValue, IpamValueError> {
    Ok(match key {
        IpamKey::Block(cidr) => {
            let allocations: Vec<Option<usize>> = spec
                .get("allocations")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|x| x.as_u64().map(|u| u as usize)).collect())
                .unwrap_or_default();
            let size = 1usize << (cidr.max_prefix_len() - cidr.prefix_len()).min(30);
            if allocations.len() != size {
                return Err(IpamValueError::AllocationCount {
                    cidr: *cidr,
                    count: allocations.len(),
                    size,
                });
            }
            IpamValue::Block(AllocationBlock {
                cidr: *cidr,
                affinity: spec
                    .get("affinity")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                affinity_claim_time: spec
                    .get("affinityClaimTime")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                allocations,
                unallocated: spec.get("unallocated").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_u64().map(|u| u as usize))
                        .collect()
                }),
                attributes: spec.get("attributes").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .map(|x| AllocationAttribute {
                            handle_id: x
                                .get("handle_id")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                            secondary: read_map(x.get("secondary")),
                            alternate_owner_attrs: read_map(x.get("alternateOwnerAttrs")),
                            released_at: x
                                .get("releasedAt")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        })
                        .collect()
                }),
                sequence_number: spec
                    .get("sequenceNumber")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                sequence_number_for_allocation: spec
                    .get("sequenceNumberForAllocation")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                            .collect()
                    }),
                deleted: spec
                    .get("deleted")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                host_affinity: None,
            })
        }
        IpamKey::Affinity { .. } => IpamValue::Affinity(BlockAffinity {
            state: str_at(spec, &["state"]),
            deleted: match spec.get("deleted") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                _ => false,
            },
        }),
        IpamKey::Handle(_) => IpamValue::Handle(IpamHandle {
            block: spec
                .get("block")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default(),
            deleted: spec
                .get("deleted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        IpamKey::Config => IpamValue::Config(IpamConfig {
            strict_affinity: spec
                .get("strictAffinity")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            auto_allocate_blocks: spec
                .get("autoAllocateBlocks")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            max_blocks_per_host: spec
                .get("maxBlocksPerHost")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            kubevirt_vm_address_persistence: spec
                .get("kubeVirtVMAddressPersistence")
                .and_then(Value::as_str)
                .map(str::to_string),
            ip_cooldown_seconds: spec.get("ipCooldownSeconds").and_then(Value::as_i64),
        }),
    })
}

/// Doubles every `-` of a WEP name component.
pub fn escape_component(s: &str) -> String {
    s.replace('-', "--")
}

/// The WorkloadEndpoint name of a pod: `<node>-k8s-<pod>-eth0`.
pub fn wep_name(node: &str, pod: &str) -> String {
    format!(
        "{}-k8s-{}-eth0",
        escape_component(node),
        escape_component(pod)
    )
}

/// The pod a WorkloadEndpoint name `<node>-k8s-<pod>[-<endpoint>]` designates (`-` inside a
/// component doubled): `None` when the name does not name one; an error when it has more
/// than four components.
pub fn wep_pod_name(name: &str) -> Result<Option<String>, ConvertError> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '-' {
            cur.push(c);
        } else if chars.peek() == Some(&'-') {
            chars.next();
            cur.push('-');
        } else {
            parts.push(std::mem::take(&mut cur));
        }
    }
    parts.push(cur);
    if parts.len() > 4 {
        return Err(ConvertError::WepName(name.to_string()));
    }
    Ok(match parts.as_slice() {
        [node, orch, pod, ..] if !node.is_empty() && orch == "k8s" && !pod.is_empty() => {
            Some(pod.clone())
        }
        _ => None,
    })
}

/// `cali` + first 11 hex chars of SHA1("<namespace>.<pod>").
pub fn wep_interface(ns: &str, pod: &str) -> String {
    let mut h = sha1::Sha1::new();
    h.update(ns.as_bytes());
    h.update(b".");
    h.update(pod.as_bytes());
    let d = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(15);
    out.push_str("cali");
    for i in 0..11 {
        let b = d[i / 2];
        out.push(HEX[usize::from(if i % 2 == 0 { b >> 4 } else { b & 15 })] as char);
    }
    out
}

/// The Calico CNI plugin's pod address annotations, and the AWS VPC CNI plugin's.
const ANN_POD_IP: &str = "cni.projectcalico.org/podIP";
const ANN_POD_IPS: &str = "cni.projectcalico.org/podIPs";
const ANN_AWS_POD_IPS: &str = "vpc.amazonaws.com/pod-ips";

/// One container port of a pod, as the conversion reads it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PortView<'a> {
    pub name: Cow<'a, str>,
    pub protocol: Cow<'a, str>,
    pub container_port: i64,
    pub host_port: i64,
    pub host_ip: Cow<'a, str>,
}

/// The Pod fields the Pod → WorkloadEndpoint conversion reads, borrowed from what was
/// decoded (a protobuf item's bytes or a JSON tree's strings), so that the WorkloadEndpoint
/// is built straight in its stored form without an intermediate tree per pod.
#[derive(Debug, Default, PartialEq)]
pub struct PodView<'a> {
    pub name: Cow<'a, str>,
    pub generate_name: Cow<'a, str>,
    pub namespace: Cow<'a, str>,
    pub uid: Cow<'a, str>,
    pub resource_version: Cow<'a, str>,
    /// RFC 3339 in UTC; `None` for the zero time.
    pub creation_timestamp: Option<Cow<'a, str>>,
    /// A deletion timestamp is set.
    pub deleting: bool,
    /// In the source's order (a repeated key: the last one counts).
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub annotations: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub node_name: Cow<'a, str>,
    pub host_network: bool,
    pub service_account: Cow<'a, str>,
    /// The containers' ports, then the init containers'.
    pub ports: Vec<PortView<'a>>,
    pub phase: Cow<'a, str>,
    pub pod_ip: Cow<'a, str>,
    pub pod_ips: Vec<Cow<'a, str>>,
}

/// The text at `path`, borrowed when it is a JSON string (as `str_at` reads it otherwise).
fn text_at<'a>(v: &'a Value, path: &[&str]) -> Cow<'a, str> {
    match crate::model::kinds::at(v, path) {
        Some(Value::String(s)) => Cow::Borrowed(s),
        _ => Cow::Owned(str_at(v, path)),
    }
}

/// The string entries of a JSON object, borrowed.
fn str_pairs(v: Option<&Value>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()?))))
        .collect()
}

impl<'a> PodView<'a> {
    /// The fields of a Pod read as JSON (a GET, or a server that answers lists in JSON).
    pub fn from_json(pod: &'a Value) -> Self {
        let meta = pod.get("metadata");
        let spec = pod.get("spec");
        let mut ports = Vec::new();
        for k in ["containers", "initContainers"] {
            let containers = spec.and_then(|s| s.get(k)).and_then(Value::as_array);
            for c in containers.into_iter().flatten() {
                for p in c
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let num = |f: &str| p.get(f).and_then(Value::as_i64).unwrap_or(0);
                    ports.push(PortView {
                        name: text_at(p, &["name"]),
                        protocol: text_at(p, &["protocol"]),
                        container_port: num("containerPort"),
                        host_port: num("hostPort"),
                        host_ip: text_at(p, &["hostIP"]),
                    });
                }
            }
        }
        let created = text_at(pod, &["metadata", "creationTimestamp"]);
        PodView {
            name: text_at(pod, &["metadata", "name"]),
            generate_name: text_at(pod, &["metadata", "generateName"]),
            namespace: text_at(pod, &["metadata", "namespace"]),
            uid: text_at(pod, &["metadata", "uid"]),
            resource_version: text_at(pod, &["metadata", "resourceVersion"]),
            // As the WorkloadEndpoint's metav1.Time holds it.
            creation_timestamp: (!created.is_empty()).then(|| {
                crate::model::gotypes::normalize_time(&created).map_or(created, Cow::Owned)
            }),
            deleting: meta
                .and_then(|m| m.get("deletionTimestamp"))
                .is_some_and(|t| !t.is_null()),
            labels: str_pairs(meta.and_then(|m| m.get("labels"))),
            annotations: str_pairs(meta.and_then(|m| m.get("annotations"))),
            node_name: text_at(pod, &["spec", "nodeName"]),
            host_network: spec
                .and_then(|s| s.get("hostNetwork"))
                .and_then(Value::as_bool)
                == Some(true),
            service_account: text_at(pod, &["spec", "serviceAccountName"]),
            ports,
            phase: text_at(pod, &["status", "phase"]),
            pod_ip: text_at(pod, &["status", "podIP"]),
            pod_ips: pod
                .get("status")
                .and_then(|s| s.get("podIPs"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|x| text_at(x, &["ip"]))
                .collect(),
        }
    }

    /// An annotation's value (the last one of a repeated key).
    pub fn annotation(&self, k: &str) -> Option<&str> {
        self.annotations
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| &**v)
    }

    /// The pod's addresses as libcalico-go's `getPodIPs` finds them: the status's, else
    /// Calico's annotations, else the AWS one.
    fn ips(&self) -> Vec<&str> {
        if !self.pod_ips.is_empty() {
            return self.pod_ips.iter().map(|s| &**s).collect();
        }
        if !self.pod_ip.is_empty() {
            return vec![&self.pod_ip];
        }
        let ann = |k| self.annotation(k).filter(|s| !s.is_empty());
        if let Some(v) = ann(ANN_POD_IPS) {
            v.split(',').collect()
        } else if let Some(v) = ann(ANN_POD_IP) {
            vec![v]
        } else if let Some(v) = ann(ANN_AWS_POD_IPS) {
            v.split(',').collect()
        } else {
            Vec::new()
        }
    }

    /// libcalico-go's `IsFinished`: a pod that has given its addresses back. A terminating
    /// pod has once its CNI plugin blanks its address annotation; otherwise the phase says.
    fn finished(&self) -> bool {
        let blanked = |k| self.annotation(k) == Some("");
        if self.deleting && (blanked(ANN_POD_IP) || blanked(ANN_AWS_POD_IPS)) {
            return true;
        }
        matches!(&*self.phase, "Succeeded" | "Failed" | "Completed")
    }
}

/// An address or CIDR as `cnet.ParseCIDROrIP` reads it, printed as its network.
fn cidr_or_ip(s: &str) -> Option<String> {
    if s.contains('/') {
        s.parse::<ipnet::IpNet>()
            .ok()
            .map(|n| n.trunc().to_string())
    } else {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|a| ipnet::IpNet::from(a).to_string())
    }
}

/// `cni.projectcalico.org/allowedSourcePrefixes` (a JSON list of CIDRs), as networks.
fn source_prefixes(p: &PodView) -> Result<Vec<String>, ConvertError> {
    let Some(a) = p
        .annotation("cni.projectcalico.org/allowedSourcePrefixes")
        .filter(|s| !s.is_empty())
    else {
        return Ok(Vec::new());
    };
    let list: Vec<String> =
        serde_json::from_str(a).map_err(|e| ConvertError::annotation_json(a, e))?;
    list.iter()
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .map(|n| n.trunc().to_string())
                .map_err(|_| ConvertError::SourcePrefix(p.clone()))
        })
        .collect()
}

/// Pod → WorkloadEndpoint (None for unscheduled or host-networked pods), as libcalico-go's
/// converter makes it; an error for annotations it cannot parse.
pub fn pod_to_wep(pod: &Value) -> Result<Option<Value>, ConvertError> {
    pod_view_to_wep(&PodView::from_json(pod))
}

/// A string field, left out when empty (`omitempty`).
fn put(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.into(), Value::String(v.into()));
    }
}

/// [`pod_to_wep`] from the pod's fields: the WorkloadEndpoint in its stored form (the field
/// order of its Go struct, empty fields left out, labels sorted), built directly.
pub fn pod_view_to_wep(p: &PodView) -> Result<Option<Value>, ConvertError> {
    if p.node_name.is_empty() || p.host_network {
        return Ok(None);
    }
    let (name, ns, node) = (&*p.name, &*p.namespace, &*p.node_name);
    let mut nets = Vec::new();
    for ip in p.ips() {
        nets.push(cidr_or_ip(ip).ok_or_else(|| ConvertError::PodIp(ip.to_string()))?);
    }
    if p.finished() {
        nets.clear();
    }
    // A pod without a service account gets neither the label nor the `ksa.` profile.
    let sa = &*p.service_account;
    let mut labels: BTreeMap<&str, &str> = p.labels.iter().map(|(k, v)| (&**k, &**v)).collect();
    labels.insert("projectcalico.org/namespace", ns);
    labels.insert("projectcalico.org/orchestrator", "k8s");
    if !sa.is_empty() && sa.len() < 63 {
        labels.insert("projectcalico.org/serviceaccount", sa);
    }
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(wep_name(node, name)));
    put(&mut meta, "generateName", &p.generate_name);
    put(&mut meta, "namespace", ns);
    put(&mut meta, "uid", &p.uid);
    put(&mut meta, "resourceVersion", &p.resource_version);
    if let Some(t) = &p.creation_timestamp {
        meta.insert("creationTimestamp".into(), Value::String(t.to_string()));
    }
    meta.insert(
        "labels".into(),
        Value::Object(
            labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        ),
    );
    // Multus' network status rides along for Felix.
    if let Some(v) = p.annotation("k8s.v1.cni.cncf.io/network-status") {
        meta.insert(
            "annotations".into(),
            json!({"k8s.v1.cni.cncf.io/network-status": v}),
        );
    }
    let mut spec = Map::new();
    spec.insert("orchestrator".into(), json!("k8s"));
    put(&mut spec, "node", node);
    put(
        &mut spec,
        "containerID",
        p.annotation("cni.projectcalico.org/containerID")
            .unwrap_or_default(),
    );
    put(&mut spec, "pod", name);
    spec.insert("endpoint".into(), json!("eth0"));
    put(&mut spec, "serviceAccountName", sa);
    let nats = floating_ips(p, &nets)?;
    if !nets.is_empty() {
        spec.insert("ipNetworks".into(), json!(nets));
    }
    if !nats.is_empty() {
        spec.insert("ipNATs".into(), Value::Array(nats));
    }
    let mut profiles = vec![Value::String(format!("kns.{ns}"))];
    if !sa.is_empty() {
        profiles.push(Value::String(format!("ksa.{ns}.{sa}")));
    }
    spec.insert("profiles".into(), Value::Array(profiles));
    spec.insert("interfaceName".into(), json!(wep_interface(ns, name)));
    let ports = named_ports(p);
    if !ports.is_empty() {
        spec.insert("ports".into(), Value::Array(ports));
    }
    let prefixes = source_prefixes(p)?;
    if !prefixes.is_empty() {
        spec.insert("allowSpoofedSourcePrefixes".into(), json!(prefixes));
    }
    if let Some(qos) = qos_controls(p) {
        spec.insert("qosControls".into(), Value::Object(qos));
    }
    let mut wep = Map::new();
    wep.insert("kind".into(), json!("WorkloadEndpoint"));
    wep.insert("apiVersion".into(), json!(API_VERSION));
    wep.insert("metadata".into(), Value::Object(meta));
    wep.insert("spec".into(), Value::Object(spec));
    Ok(Some(Value::Object(wep)))
}

/// `cni.projectcalico.org/floatingIPs` (a JSON list): each floating IP NATs to the pod's
/// address of the same family (only read when the pod has an address).
fn floating_ips(p: &PodView, nets: &[String]) -> Result<Vec<Value>, ConvertError> {
    let Some(a) = p
        .annotation("cni.projectcalico.org/floatingIPs")
        .filter(|_| !nets.is_empty())
    else {
        return Ok(Vec::new());
    };
    let list: Vec<String> =
        serde_json::from_str(a).map_err(|e| ConvertError::annotation_json(a, e))?;
    let addr = |v6: bool| {
        nets.iter()
            .filter_map(|n| n.split('/').next())
            .rfind(|a| a.contains(':') == v6)
            .map(str::to_string)
    };
    Ok(list
        .iter()
        .filter_map(|ext| {
            addr(ext.contains(':')).map(|int| json!({"internalIP": int, "externalIP": ext}))
        })
        .collect())
}

/// The pod's container ports that have a name or a host port: its containers', then its init
/// containers'.
fn named_ports(p: &PodView) -> Vec<Value> {
    let mut out = Vec::new();
    for x in &p.ports {
        // A negative number reads as none.
        let port = u64::try_from(x.container_port).unwrap_or(0);
        let host_port = u64::try_from(x.host_port).unwrap_or(0);
        if port == 0 || (host_port == 0 && x.name.is_empty()) {
            continue;
        }
        let proto = match &*x.protocol {
            "" | "TCP" => "TCP",
            "UDP" => "UDP",
            "SCTP" => "SCTP",
            _ => continue,
        };
        let mut m = Map::new();
        m.insert("name".into(), Value::String(x.name.to_string()));
        m.insert("protocol".into(), Value::String(proto.into()));
        m.insert("port".into(), Value::from(port));
        m.insert("hostPort".into(), Value::from(host_port));
        m.insert("hostIP".into(), Value::String(x.host_ip.to_string()));
        out.push(Value::Object(m));
    }
    out
}

/// A Kubernetes resource quantity (`1k`, `10M`, `2Gi`, `100m`, `1e3`) as an integer, rounded
/// up as `Quantity.Value()` does.
fn quantity(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some((n * mult).ceil() as i64)
}

/// QoS controls from the pod's `qos.projectcalico.org/*` annotations (bandwidth also from
/// Kubernetes' `kubernetes.io/{ingress,egress}-bandwidth`), with Calico's default bursts.
fn qos_controls(p: &PodView) -> Option<Map<String, Value>> {
    const QOS: &str = "qos.projectcalico.org/";
    let any = p.annotations.iter().any(|(k, _)| {
        k.starts_with(QOS)
            || k == "kubernetes.io/ingress-bandwidth"
            || k == "kubernetes.io/egress-bandwidth"
    });
    if !any {
        return None;
    }
    let get = |k: &str| p.annotation(&format!("{QOS}{k}")).and_then(quantity);
    let mut bw = Vec::new();
    let mut rates = Vec::new();
    for dir in ["ingress", "egress"] {
        let bandwidth = get(&format!("{dir}Bandwidth")).or_else(|| {
            p.annotation(&format!("kubernetes.io/{dir}-bandwidth"))
                .and_then(quantity)
        });
        if let Some(b) = bandwidth {
            bw.push((format!("{dir}Bandwidth"), b));
            let burst = get(&format!("{dir}Burst")).unwrap_or(4_294_967_296);
            bw.push((format!("{dir}Burst"), burst));
        }
        for f in ["Peakrate", "Minburst"] {
            if let Some(v) = get(&format!("{dir}{f}")) {
                bw.push((format!("{dir}{f}"), v));
            }
        }
        if let Some(r) = get(&format!("{dir}PacketRate")) {
            rates.push((format!("{dir}PacketRate"), r));
            let burst = get(&format!("{dir}PacketBurst")).unwrap_or(5);
            rates.push((format!("{dir}PacketBurst"), burst));
        }
    }
    bw.extend(rates);
    for dir in ["ingress", "egress"] {
        if let Some(v) = get(&format!("{dir}MaxConnections")) {
            bw.push((format!("{dir}MaxConnections"), v));
        }
    }
    let dscp = p.annotation("qos.projectcalico.org/dscp");
    if bw.is_empty() && dscp.is_none() {
        return None;
    }
    // The stored form: zero limits left out (`omitempty`), the DSCP a number when it is one.
    let mut m: Map<String, Value> = bw
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    if let Some(d) = dscp {
        m.insert(
            "dscp".into(),
            d.parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(d.into())),
        );
    }
    Some(m)
}

/// What a Calico Node annotation must hold to be read: calicoctl drops a field whose
/// annotation fails the field's validator (`cidrv4`, `ipv4`, `mac`, ...).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NodeValue {
    /// Calico's `cidrv4`/`cidrv6`: an address of that version, any prefix length.
    Cidr4,
    Cidr6,
    /// Calico's `ipv4`/`ipv6`: an address of that version; with a prefix, no host bits set.
    Ip4,
    Ip6,
    Asn,
    Mac,
}

impl NodeValue {
    /// The annotation's value as the Calico field holds it, or `None` when it is invalid.
    fn read(self, v: &str) -> Option<Value> {
        use crate::model::gotypes::{is_go_mac, parse_cidr_or_ip};
        let ok = match self {
            NodeValue::Cidr4 => parse_cidr_or_ip(v).is_some_and(|c| c.version == 4),
            NodeValue::Cidr6 => parse_cidr_or_ip(v).is_some_and(|c| c.version == 6),
            NodeValue::Ip4 => parse_cidr_or_ip(v).is_some_and(|c| c.version == 4 && c.is_network),
            NodeValue::Ip6 => parse_cidr_or_ip(v).is_some_and(|c| c.version == 6 && c.is_network),
            NodeValue::Mac => is_go_mac(v),
            NodeValue::Asn => {
                return crate::model::schema::parse_asnumber(v)
                    .ok()
                    .map(Value::from);
            }
        };
        ok.then(|| Value::String(v.to_string()))
    }
}

/// Calico Node fields kept as annotations on the Kubernetes Node.
pub const NODE_ANNOTATIONS: &[(&str, &[&str], NodeValue)] = &[
    (
        "projectcalico.org/IPv4Address",
        &["bgp", "ipv4Address"],
        NodeValue::Cidr4,
    ),
    (
        "projectcalico.org/IPv6Address",
        &["bgp", "ipv6Address"],
        NodeValue::Cidr6,
    ),
    (
        "projectcalico.org/ASNumber",
        &["bgp", "asNumber"],
        NodeValue::Asn,
    ),
    (
        "projectcalico.org/RouteReflectorClusterID",
        &["bgp", "routeReflectorClusterID"],
        NodeValue::Ip4,
    ),
    (
        "projectcalico.org/IPv4IPIPTunnelAddr",
        &["bgp", "ipv4IPIPTunnelAddr"],
        NodeValue::Ip4,
    ),
    (
        "projectcalico.org/IPv4VXLANTunnelAddr",
        &["ipv4VXLANTunnelAddr"],
        NodeValue::Ip4,
    ),
    (
        "projectcalico.org/IPv6VXLANTunnelAddr",
        &["ipv6VXLANTunnelAddr"],
        NodeValue::Ip6,
    ),
    (
        "projectcalico.org/VXLANTunnelMACAddr",
        &["vxlanTunnelMACAddr"],
        NodeValue::Mac,
    ),
    (
        "projectcalico.org/VXLANTunnelMACAddrV6",
        &["vxlanTunnelMACAddrV6"],
        NodeValue::Mac,
    ),
    (
        "projectcalico.org/IPv4WireguardInterfaceAddr",
        &["wireguard", "interfaceIPv4Address"],
        NodeValue::Ip4,
    ),
    (
        "projectcalico.org/IPv6WireguardInterfaceAddr",
        &["wireguard", "interfaceIPv6Address"],
        NodeValue::Ip6,
    ),
];

/// Calico Node status fields kept as annotations on the Kubernetes Node.
const NODE_STATUS_ANNOTATIONS: [(&str, &str); 2] = [
    ("projectcalico.org/WireguardPublicKey", "wireguardPublicKey"),
    (
        "projectcalico.org/WireguardPublicKeyV6",
        "wireguardPublicKeyV6",
    ),
];

/// The Calico Node annotation listing the labels that come from the Kubernetes Node.
pub const KUBE_LABELS_ANNOTATION: &str = "projectcalico.org/kube-labels";

/// Kubernetes Node → Calico Node.
pub fn k8s_node_to_calico(node: &Value) -> Value {
    let anns = str_map(node.get("metadata").and_then(|m| m.get("annotations")));
    let get = |k: &str| {
        anns.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut spec = Map::new();
    let mut bgp = Map::new();
    for (ann, path, form) in NODE_ANNOTATIONS {
        let Some(val) = form.read(&get(ann)) else {
            continue;
        };
        match path {
            ["bgp", f] => {
                bgp.insert(f.to_string(), val);
            }
            ["wireguard", f] => {
                let w = spec.entry("wireguard").or_insert_with(|| json!({}));
                w[*f] = val;
            }
            [f] => {
                spec.insert(f.to_string(), val);
            }
            _ => {}
        }
    }
    if !bgp.is_empty() {
        spec.insert("bgp".into(), Value::Object(bgp));
    }
    let name = str_at(node, &["metadata", "name"]);
    spec.insert(
        "orchRefs".into(),
        json!([{"nodeName": name, "orchestrator": "k8s"}]),
    );
    let mut addrs = Vec::new();
    for f in ["ipv4Address", "ipv6Address"] {
        if let Some(a) = spec
            .get("bgp")
            .and_then(|b| b.get(f))
            .and_then(Value::as_str)
        {
            addrs.push(json!({"address": a, "type": "CalicoNodeIP"}));
        }
    }
    if let Some(Value::Array(a)) = node.get("status").and_then(|s| s.get("addresses")) {
        for x in a {
            let t = str_at(x, &["type"]);
            if t == "InternalIP" || t == "ExternalIP" {
                addrs.push(json!({"address": str_at(x, &["address"]), "type": t}));
            }
        }
    }
    if !addrs.is_empty() {
        spec.insert("addresses".into(), Value::Array(addrs));
    }
    if let Some(i) = anns
        .get("projectcalico.org/Interfaces")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        spec.insert("interfaces".into(), i);
    }
    let mut status = Map::new();
    for (ann, f) in NODE_STATUS_ANNOTATIONS {
        let v = get(ann);
        if !v.is_empty() {
            status.insert(f.into(), Value::String(v));
        }
    }
    if let Some(c) = node.get("spec").and_then(|s| s.get("podCIDRs")) {
        status.insert("podCIDRs".into(), c.clone());
    }
    let k8s_labels = node.get("metadata").and_then(|m| m.get("labels"));
    let mut labels = str_map(k8s_labels);
    if let Some(extra) = anns
        .get("projectcalico.org/labels")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Map<String, Value>>(s).ok())
    {
        for (k, v) in extra {
            labels.entry(k).or_insert(v);
        }
    }
    let mut calico_anns = anns
        .get("projectcalico.org/annotations")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Map<String, Value>>(s).ok())
        .unwrap_or_default();
    // Which labels came from Kubernetes, for the way back (`null` when it has none).
    calico_anns.insert(
        KUBE_LABELS_ANNOTATION.into(),
        Value::String(to_go_json(
            k8s_labels
                .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
                .unwrap_or(&Value::Null),
        )),
    );
    let mut meta = json!({
        "name": name,
        "uid": str_at(node, &["metadata", "uid"]),
        "resourceVersion": str_at(node, &["metadata", "resourceVersion"]),
        "creationTimestamp": node.get("metadata").and_then(|m| m.get("creationTimestamp")).cloned().unwrap_or(Value::Null),
    });
    if !labels.is_empty() {
        meta["labels"] = Value::Object(labels);
    }
    meta["annotations"] = Value::Object(calico_anns);
    let raw = json!({"kind": "Node", "apiVersion": API_VERSION, "metadata": meta, "spec": spec, "status": status});
    schema().decode("v3.Node", &raw, false).unwrap_or(raw)
}

/// Writes a Calico Node's fields into a Kubernetes Node's annotations (and Calico-only labels
/// into `projectcalico.org/labels`), returning the updated Kubernetes Node.
pub fn apply_calico_node(k8s: &Value, calico: &Value) -> Result<Value, ConvertError> {
    let mut out = k8s.clone();
    let spec = calico.get("spec").cloned().unwrap_or(json!({}));
    let mut anns = str_map(k8s.get("metadata").and_then(|m| m.get("annotations")));
    for (ann, path, _) in NODE_ANNOTATIONS {
        let v = crate::model::kinds::at(&spec, path)
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        match v {
            Some(s) if !s.is_empty() => {
                anns.insert(ann.to_string(), Value::String(s));
            }
            _ => {
                anns.remove(*ann);
            }
        }
    }
    for (ann, f) in NODE_STATUS_ANNOTATIONS {
        match calico
            .get("status")
            .and_then(|s| s.get(f))
            .and_then(Value::as_str)
        {
            Some(k) if !k.is_empty() => {
                anns.insert(ann.to_string(), Value::String(k.to_string()));
            }
            _ => {
                anns.remove(ann);
            }
        }
    }
    match spec.get("interfaces") {
        Some(i) if !i.is_null() => {
            anns.insert(
                "projectcalico.org/Interfaces".into(),
                Value::String(to_go_json(i)),
            );
        }
        _ => {
            anns.remove("projectcalico.org/Interfaces");
        }
    }
    let kube_keys = kube_label_keys(calico)?;
    let calico_only: Map<String, Value> = meta::labels(calico)
        .into_iter()
        .filter(|(k, _)| !kube_keys.contains_key(k))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if calico_only.is_empty() {
        anns.remove("projectcalico.org/labels");
    } else {
        anns.insert(
            "projectcalico.org/labels".into(),
            Value::String(to_go_json(&Value::Object(calico_only))),
        );
    }
    let mut ca = meta::annotations(calico);
    // An empty kube-labels annotation is read as none and kept like any other annotation.
    if ca
        .get(KUBE_LABELS_ANNOTATION)
        .is_some_and(|v| !v.is_empty())
    {
        ca.remove(KUBE_LABELS_ANNOTATION);
    }
    if ca.is_empty() {
        anns.remove("projectcalico.org/annotations");
    } else {
        anns.insert(
            "projectcalico.org/annotations".into(),
            Value::String(to_go_json(&json!(ca))),
        );
    }
    out["metadata"]["annotations"] = Value::Object(anns);
    out["metadata"]["resourceVersion"] = Value::String(meta::resource_version(calico));
    Ok(out)
}

/// The labels the Calico Node's `projectcalico.org/kube-labels` annotation says came from
/// Kubernetes: those stay out of the `projectcalico.org/labels` annotation whatever their
/// value. No (or an empty) annotation means none; one that is not a JSON object or `null`
/// fails the write, with the JSON reader's message.
fn kube_label_keys(calico: &Value) -> Result<Map<String, Value>, ConvertError> {
    let raw = meta::annotations(calico)
        .remove(KUBE_LABELS_ANNOTATION)
        .unwrap_or_default();
    if raw.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Option<Map<String, Value>>>(&raw) {
        Ok(m) => Ok(m.unwrap_or_default()),
        Err(e) => Err(match read_map_error(&raw) {
            Some(text) => ConvertError::KubeLabelsNotObject(text),
            None => ConvertError::KubeLabelsJson {
                message: e.to_string(),
            },
        }),
    }
}

/// jsoniter's error for a JSON object that does not start with `{` or `n` (null), with its
/// context of ten bytes around the offending one.
fn read_map_error(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let i = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))?;
    if matches!(b[i], b'{' | b'n') {
        return None;
    }
    let head = i + 1;
    let around = |n: usize| {
        String::from_utf8_lossy(&b[head.saturating_sub(n)..(head + n).min(b.len())]).into_owned()
    };
    Some(format!(
        "ReadMapCB: expect {{ or n, but found {}, error found in #{} byte of ...|{}|..., bigger context ...|{}|...",
        b[i] as char,
        head - head.saturating_sub(10),
        around(10),
        around(50),
    ))
}

/// Namespace → Profile `kns.<ns>`.
pub fn namespace_profile(ns: &Value) -> Value {
    let name = str_at(ns, &["metadata", "name"]);
    let mut labels: Map<String, Value> = str_map(ns.get("metadata").and_then(|m| m.get("labels")))
        .into_iter()
        .map(|(k, v)| (format!("pcns.{k}"), v))
        .collect();
    labels.insert(
        "pcns.projectcalico.org/name".into(),
        Value::String(name.clone()),
    );
    profile(
        &format!("kns.{name}"),
        &reverse_uid(&str_at(ns, &["metadata", "uid"])),
        &format!("{}/", str_at(ns, &["metadata", "resourceVersion"])),
        ns.get("metadata").and_then(|m| m.get("creationTimestamp")),
        labels,
        true,
    )
}

/// ServiceAccount → Profile `ksa.<ns>.<sa>`.
pub fn serviceaccount_profile(sa: &Value) -> Value {
    let name = str_at(sa, &["metadata", "name"]);
    let ns = str_at(sa, &["metadata", "namespace"]);
    let mut labels: Map<String, Value> = str_map(sa.get("metadata").and_then(|m| m.get("labels")))
        .into_iter()
        .map(|(k, v)| (format!("pcsa.{k}"), v))
        .collect();
    labels.insert(
        "pcsa.projectcalico.org/name".into(),
        Value::String(name.clone()),
    );
    profile(
        &format!("ksa.{ns}.{name}"),
        &reverse_uid(&str_at(sa, &["metadata", "uid"])),
        &format!("/{}", str_at(sa, &["metadata", "resourceVersion"])),
        sa.get("metadata").and_then(|m| m.get("creationTimestamp")),
        labels,
        false,
    )
}

fn profile(
    name: &str,
    uid: &str,
    rv: &str,
    created: Option<&Value>,
    labels: Map<String, Value>,
    allow_all: bool,
) -> Value {
    let mut spec = json!({"labelsToApply": labels});
    if allow_all {
        // Only namespace profiles allow everything; service account ones carry labels only.
        spec["ingress"] = json!([{"action": "Allow"}]);
        spec["egress"] = json!([{"action": "Allow"}]);
    }
    let raw = json!({
        "kind": "Profile", "apiVersion": API_VERSION,
        "metadata": {"name": name, "uid": uid, "resourceVersion": rv,
                     "creationTimestamp": created.cloned().unwrap_or(Value::Null)},
        "spec": spec
    });
    schema().decode("v3.Profile", &raw, false).unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_reversal_vector() {
        assert_eq!(
            reverse_uid("3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c"),
            "fc385479-dabe-4c78-9ad4-b072f651d834"
        );
        assert_eq!(
            reverse_uid("fc385479-dabe-4c78-9ad4-b072f651d834"),
            "3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c"
        );
    }

    #[test]
    fn names_and_hashes() {
        assert_eq!(
            block_name(&"10.244.7.0/29".parse().unwrap()),
            "10-244-7-0-29"
        );
        assert_eq!(
            block_name(&"fd00:10:244::/122".parse().unwrap()),
            "fd00-10-244---122"
        );
        assert_eq!(
            hostname_hash("node1"),
            "7DS2CCNJGGLTHBDQLLFO6SX24SY2YDDEG3W2VN556FA2W4DLLV5A"
        );
        assert_eq!(
            affinity_name("node1", &"10.244.7.0/29".parse().unwrap()),
            "node1-10-244-7-0-29"
        );
        let long = "h".repeat(300);
        let n = affinity_name(&long, &"10.0.0.0/26".parse().unwrap());
        assert!(n.len() <= 253, "{}", n.len());
        assert_eq!(
            wep_name("worker-1", "nginx-7c9f"),
            "worker--1-k8s-nginx--7c9f-eth0"
        );
    }

    /// The conversion as it was before [`pod_view_to_wep`]: a JSON tree in any order, then
    /// the schema decode of a WorkloadEndpoint gives the stored form. The reference the direct
    /// conversion must match, byte for byte.
    fn reference_pod_to_wep(pod: &Value) -> Result<Option<Value>, ConvertError> {
        let view = PodView::from_json(pod);
        let node = str_at(pod, &["spec", "nodeName"]);
        if node.is_empty() || view.host_network {
            return Ok(None);
        }
        let name = str_at(pod, &["metadata", "name"]);
        let ns = str_at(pod, &["metadata", "namespace"]);
        let anns = str_map(pod.get("metadata").and_then(|m| m.get("annotations")));
        let mut nets = Vec::new();
        for ip in view.ips() {
            nets.push(cidr_or_ip(ip).ok_or_else(|| ConvertError::PodIp(ip.to_string()))?);
        }
        if view.finished() {
            nets.clear();
        }
        let sa = str_at(pod, &["spec", "serviceAccountName"]);
        let mut labels = str_map(pod.get("metadata").and_then(|m| m.get("labels")));
        labels.insert("projectcalico.org/namespace".into(), json!(ns));
        labels.insert("projectcalico.org/orchestrator".into(), json!("k8s"));
        if !sa.is_empty() && sa.len() < 63 {
            labels.insert("projectcalico.org/serviceaccount".into(), json!(sa));
        }
        let mut spec = Map::new();
        spec.insert("orchestrator".into(), json!("k8s"));
        spec.insert("node".into(), json!(node));
        if let Some(c) = anns.get("cni.projectcalico.org/containerID") {
            spec.insert("containerID".into(), c.clone());
        }
        spec.insert("pod".into(), json!(name));
        spec.insert("endpoint".into(), json!("eth0"));
        let mut profiles = vec![format!("kns.{ns}")];
        if !sa.is_empty() {
            spec.insert("serviceAccountName".into(), json!(sa));
            profiles.push(format!("ksa.{ns}.{sa}"));
        }
        if !nets.is_empty() {
            spec.insert("ipNetworks".into(), json!(nets));
        }
        let nats = floating_ips(&view, &nets)?;
        if !nats.is_empty() {
            spec.insert("ipNATs".into(), Value::Array(nats));
        }
        let prefixes = source_prefixes(&view)?;
        if !prefixes.is_empty() {
            spec.insert("allowSpoofedSourcePrefixes".into(), json!(prefixes));
        }
        spec.insert("profiles".into(), json!(profiles));
        let mut ports = Vec::new();
        for k in ["containers", "initContainers"] {
            for c in pod["spec"][k].as_array().into_iter().flatten() {
                for p in c["ports"].as_array().into_iter().flatten() {
                    let port = p.get("containerPort").and_then(Value::as_u64).unwrap_or(0);
                    let host_port = p.get("hostPort").and_then(Value::as_u64).unwrap_or(0);
                    let name = str_at(p, &["name"]);
                    if port == 0 || (host_port == 0 && name.is_empty()) {
                        continue;
                    }
                    let proto = match str_at(p, &["protocol"]).as_str() {
                        "" | "TCP" => "TCP",
                        "UDP" => "UDP",
                        "SCTP" => "SCTP",
                        _ => continue,
                    };
                    ports.push(json!({"name": name, "protocol": proto, "port": port,
                        "hostPort": host_port, "hostIP": str_at(p, &["hostIP"])}));
                }
            }
        }
        if !ports.is_empty() {
            spec.insert("ports".into(), Value::Array(ports));
        }
        // The limits as read, zeros included: the schema decode leaves those out.
        let get = |k: &str| {
            anns.get(&format!("qos.projectcalico.org/{k}"))
                .and_then(Value::as_str)
                .and_then(quantity)
        };
        let mut qos = Map::new();
        for dir in ["ingress", "egress"] {
            let bw = get(&format!("{dir}Bandwidth")).or_else(|| {
                anns.get(&format!("kubernetes.io/{dir}-bandwidth"))
                    .and_then(Value::as_str)
                    .and_then(quantity)
            });
            if let Some(b) = bw {
                qos.insert(format!("{dir}Bandwidth"), json!(b));
                let burst = get(&format!("{dir}Burst")).unwrap_or(4_294_967_296);
                qos.insert(format!("{dir}Burst"), json!(burst));
            }
            for f in ["Peakrate", "Minburst", "PacketRate", "MaxConnections"] {
                if let Some(v) = get(&format!("{dir}{f}")) {
                    qos.insert(format!("{dir}{f}"), json!(v));
                    if f == "PacketRate" {
                        let burst = get(&format!("{dir}PacketBurst")).unwrap_or(5);
                        qos.insert(format!("{dir}PacketBurst"), json!(burst));
                    }
                }
            }
        }
        if let Some(d) = anns
            .get("qos.projectcalico.org/dscp")
            .and_then(Value::as_str)
        {
            let v = d.parse::<u64>().map(Value::from).unwrap_or(json!(d));
            qos.insert("dscp".into(), v);
        }
        if !qos.is_empty() {
            spec.insert("qosControls".into(), Value::Object(qos));
        }
        spec.insert("interfaceName".into(), json!(wep_interface(&ns, &name)));
        let mut raw = json!({
            "kind": "WorkloadEndpoint", "apiVersion": API_VERSION,
            "metadata": {
                "name": wep_name(&node, &name), "namespace": ns,
                "uid": str_at(pod, &["metadata", "uid"]),
                "resourceVersion": str_at(pod, &["metadata", "resourceVersion"]),
                "creationTimestamp": pod["metadata"].get("creationTimestamp").cloned().unwrap_or(Value::Null),
                "labels": labels,
            },
            "spec": spec,
        });
        let generate_name = str_at(pod, &["metadata", "generateName"]);
        if !generate_name.is_empty() {
            raw["metadata"]["generateName"] = json!(generate_name);
        }
        if let Some(v) = anns.get("k8s.v1.cni.cncf.io/network-status") {
            raw["metadata"]["annotations"] = json!({"k8s.v1.cni.cncf.io/network-status": v});
        }
        Ok(Some(
            schema()
                .decode("v3.WorkloadEndpoint", &raw, false)
                .expect("the reference decodes"),
        ))
    }

    /// A pod with these metadata/spec/status fields merged over a plain scheduled pod.
    fn test_pod(meta: Value, spec: Value, status: Value) -> Value {
        let mut pod = json!({
            "metadata": {"name": "web-7c9f", "namespace": "prod",
                "uid": "3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c", "resourceVersion": "1234",
                "creationTimestamp": "2025-06-01T09:59:00Z"},
            "spec": {"nodeName": "worker-1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"},
        });
        for (k, v) in [("metadata", meta), ("spec", spec), ("status", status)] {
            for (f, x) in v.as_object().cloned().unwrap_or_default() {
                if x.is_null() {
                    pod[k].as_object_mut().unwrap().remove(&f);
                } else {
                    pod[k][f] = x;
                }
            }
        }
        pod
    }

    #[test]
    fn direct_pod_conversion_matches_the_schema_decoded_one() {
        let ports = |p: Value| json!({"ports": p});
        let pods = [
            // Plain: address from the CNI annotation, a named port, a service account.
            test_pod(
                json!({"labels": {"app": "web", "zone": "a"}, "generateName": "web-",
                    "annotations": {"cni.projectcalico.org/podIPs": "10.0.0.5/32",
                        "cni.projectcalico.org/containerID": "abc123"}}),
                json!({"serviceAccountName": "default",
                    "containers": [ports(json!([{"name": "http", "containerPort": 8080}]))]}),
                json!({}),
            ),
            // Init containers, host ports, every protocol, ports left out.
            test_pod(
                json!({}),
                json!({"containers": [ports(json!([
                        {"containerPort": 80, "hostPort": 8080, "hostIP": "0.0.0.0"},
                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                        {"name": "zero", "containerPort": 0},
                        {"containerPort": 81},
                        {"name": "weird", "containerPort": 82, "protocol": "ICMP"},
                        {"name": "neg", "containerPort": 83, "hostPort": -1}])),
                        {"name": "b"}],
                    "initContainers": [ports(json!([
                        {"name": "sctp", "containerPort": 9000, "protocol": "SCTP"}]))]}),
                json!({"podIP": "10.0.0.6"}),
            ),
            // Dual stack from the status, a floating IP of each family, spoofing allowed,
            // Multus' status, a long service account name, labels clashing with Calico's.
            test_pod(
                json!({"labels": {"projectcalico.org/namespace": "other", "b": "1", "a": "2"},
                    "annotations": {
                        "cni.projectcalico.org/floatingIPs": "[\"1.2.3.4\", \"2001:db8::1\"]",
                        "cni.projectcalico.org/allowedSourcePrefixes": "[\"10.1.2.3/16\"]",
                        "k8s.v1.cni.cncf.io/network-status": "[{\"name\":\"net\"}]"}}),
                json!({"serviceAccountName": "s".repeat(70)}),
                json!({"podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]}),
            ),
            // IPv6 only, from the AWS annotation; QoS limits, zeros among them.
            test_pod(
                json!({"annotations": {"vpc.amazonaws.com/pod-ips": "fd00::8,fd00::9",
                    "qos.projectcalico.org/ingressBandwidth": "10M",
                    "qos.projectcalico.org/egressBandwidth": "0",
                    "qos.projectcalico.org/egressPacketRate": "100",
                    "qos.projectcalico.org/ingressMaxConnections": "1k",
                    "qos.projectcalico.org/dscp": "AF11"}}),
                json!({}),
                json!({}),
            ),
            // Kubernetes' bandwidth annotation, a numeric DSCP, only zeros otherwise.
            test_pod(
                json!({"annotations": {"kubernetes.io/egress-bandwidth": "1Mi",
                    "qos.projectcalico.org/ingressPeakrate": "0",
                    "qos.projectcalico.org/dscp": "46"}}),
                json!({}),
                json!({"podIPs": [{"ip": "10.0.0.10"}]}),
            ),
            // Only zero limits: an empty qosControls stays.
            test_pod(
                json!({"annotations": {"qos.projectcalico.org/ingressMinburst": "0"}}),
                json!({}),
                json!({}),
            ),
            // Finished: a succeeded pod, a terminating one whose address was given back, and a
            // terminating one still holding it.
            test_pod(
                json!({}),
                json!({}),
                json!({"phase": "Succeeded", "podIP": "10.0.0.11"}),
            ),
            test_pod(
                json!({"deletionTimestamp": "2025-06-01T10:00:00Z",
                    "annotations": {"cni.projectcalico.org/podIP": ""}}),
                json!({}),
                json!({"podIP": "10.0.0.12"}),
            ),
            test_pod(
                json!({"deletionTimestamp": "2025-06-01T10:00:00Z",
                    "annotations": {"cni.projectcalico.org/podIP": "10.0.0.13/32"}}),
                json!({}),
                json!({}),
            ),
            // No creation time, uid, resource version, namespace or containers.
            test_pod(
                json!({"creationTimestamp": null, "uid": null, "resourceVersion": null,
                    "namespace": null}),
                json!({"containers": null}),
                json!({"phase": null}),
            ),
            // Left out: host-networked, unscheduled.
            test_pod(json!({}), json!({"hostNetwork": true}), json!({})),
            test_pod(json!({}), json!({"nodeName": null}), json!({})),
        ];
        for pod in &pods {
            let direct = pod_to_wep(pod).unwrap();
            let reference = reference_pod_to_wep(pod).unwrap();
            assert_eq!(
                serde_json::to_string(&direct).unwrap(),
                serde_json::to_string(&reference).unwrap(),
                "{pod}"
            );
        }
        assert!(pod_to_wep(&pods[10]).unwrap().is_none());
        assert!(pod_to_wep(&pods[11]).unwrap().is_none());
        let w = pod_to_wep(&pods[2]).unwrap().unwrap();
        assert_eq!(
            w["spec"]["ipNetworks"],
            json!(["10.0.0.7/32", "fd00::7/128"])
        );
        // Annotations it cannot read fail both ways alike.
        for anns in [
            json!({"cni.projectcalico.org/podIP": "10.0.0.300"}),
            json!({"cni.projectcalico.org/podIP": "10.0.0.1", "cni.projectcalico.org/floatingIPs": "x"}),
            json!({"cni.projectcalico.org/allowedSourcePrefixes": "[\"nope\"]"}),
        ] {
            let pod = test_pod(json!({"annotations": anns}), json!({}), json!({}));
            assert_eq!(pod_to_wep(&pod), reference_pod_to_wep(&pod));
            assert!(pod_to_wep(&pod).is_err());
        }
    }

    #[test]
    fn policies_without_a_tier_label_read_as_the_default_tier() {
        let cr = |labels: Value| {
            json!({"apiVersion": CRD_GROUP_V1, "kind": "GlobalNetworkPolicy",
                "metadata": {"name": "p", "resourceVersion": "1", "labels": labels},
                "spec": {"tier": "ops", "selector": "all()"}})
        };
        let tier = |kind: &str, labels: Value| {
            from_v1_cr(crate::model::kinds::by_kind(kind).unwrap(), &cr(labels))["metadata"]["labels"][TIER_LABEL]
                .clone()
        };
        assert_eq!(tier("GlobalNetworkPolicy", json!({})), "default");
        assert_eq!(tier("StagedNetworkPolicy", json!({"a": "b"})), "default");
        assert_eq!(tier("GlobalNetworkPolicy", json!({TIER_LABEL: "x"})), "x");
        assert_eq!(tier("GlobalNetworkPolicy", json!({TIER_LABEL: ""})), "");
        assert_eq!(
            tier("StagedKubernetesNetworkPolicy", json!({})),
            Value::Null
        );
    }

    #[test]
    fn v1_round_trip() {
        let k = crate::model::kinds::KindId::IPPool.info();
        let v3 = serde_json::json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": "p", "uid": "3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c", "creationTimestamp": "2025-06-01T09:59:00Z",
                         "labels": {"team": "a", "projectcalico.org/x": "y"}},
            "spec": {"cidr": "10.0.0.0/16"}});
        let cr = to_v1_cr(k, &v3);
        assert_eq!(
            cr["metadata"]["uid"],
            "fc385479-dabe-4c78-9ad4-b072f651d834"
        );
        assert_eq!(
            cr["metadata"]["labels"],
            serde_json::json!({"projectcalico.org/x": "y"})
        );
        assert_eq!(
            cr["metadata"]["annotations"]["projectcalico.org/metadata"],
            r#"{"creationTimestamp":"2025-06-01T09:59:00Z","labels":{"projectcalico.org/x":"y","team":"a"}}"#
        );
        let back = from_v1_cr(k, &cr);
        assert_eq!(
            back["metadata"]["uid"],
            "3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c"
        );
        assert_eq!(
            back["metadata"]["labels"],
            serde_json::json!({"projectcalico.org/x": "y", "team": "a"})
        );
    }
}
