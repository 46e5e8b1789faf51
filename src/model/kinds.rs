//! The kind registry: one entry per `projectcalico.org/v3` kind with everything the rest of
//! the program needs to know about it (CLI names, scope, storage plural, table columns).
//! Adding a kind = its `.schema` file + one entry here.

use serde_json::Value;

use crate::gocompat::gofmt::{fmt_v_float, go_v};
use crate::gocompat::gotemplate::truncate_joined;
use crate::model::validate::{self as v, FieldError};

/// The API version every resource carries.
pub const API_VERSION: &str = "projectcalico.org/v3";

include!(concat!(env!("OUT_DIR"), "/kind_ids.rs"));

impl KindId {
    /// The registry entry of the kind.
    pub fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }
}

/// The policy kinds that live in a Tier.
pub const TIERED_POLICY_KINDS: &[KindId] = &[
    KindId::GlobalNetworkPolicy,
    KindId::NetworkPolicy,
    KindId::StagedGlobalNetworkPolicy,
    KindId::StagedNetworkPolicy,
];

/// What a write (create, update or delete) of a kind reads of other stored objects: its
/// cross-object rules. A write of one of these kinds earlier in the same command must have
/// landed before it runs, and a later one must wait for it, for a command to behave as
/// calicoctl's one-by-one processing in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    Kinds(&'static [KindId]),
    /// Node deletion cleans up after the node across many kinds.
    Everything,
}

impl Reads {
    pub fn includes(self, kind: KindId) -> bool {
        match self {
            Reads::Kinds(k) => k.contains(&kind),
            Reads::Everything => true,
        }
    }

    pub fn is_nothing(self) -> bool {
        self == Reads::Kinds(&[])
    }
}

/// Which of libcalico's validators a kind goes through (see `validate`).
#[derive(Debug, Clone, Copy)]
pub enum Validation {
    /// The struct validator walk, then in etcd mode the v3 CRD's defaults, OpenAPI checks and
    /// CEL rules; `then` runs once all of that passed (libcalico's client checks).
    Crd {
        then: Option<fn(&Value) -> Vec<FieldError>>,
    },
    /// The struct validator walk alone (no CRD).
    StructWalk,
    /// The policy validator (`policyvalid`); `crd`: the kind has a v3 CRD whose checks apply.
    Policy { checks: PolicyChecks, crd: bool },
    /// Metadata and enum checks only.
    Plain,
    /// Metadata and enum checks plus the workload endpoint rules.
    WorkloadEndpoint,
    /// Metadata and enum checks; the one object must be named `default`.
    NamedDefault,
}

/// The checks `policyvalid` runs for a policy-like kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyChecks {
    /// Calico (staged) network policies: spec fields, rules, tier and name rules.
    Policy,
    /// StagedKubernetesNetworkPolicy: the staged action and the Delete rules.
    StagedKubernetes,
    /// Profiles: rules and labelsToApply.
    Profile,
    /// (Global)NetworkSets: nets and the reserved namespace label.
    NetworkSet,
}

/// libcalico's client-side rules of a kind beyond defaults and validation (at most one each;
/// a tiered policy's tier check goes by [`KindInfo::is_tiered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRule {
    None,
    /// The BGPFilters a peer names must exist.
    BgpPeer,
    /// Pool checks (CIDR, overlap, blocks), defaults on read, and IPAM cleanup on delete.
    IpPool,
    /// EnsureInitialized on create; on etcd a delete cleans up after the node.
    Node,
    /// Listed by order; only an empty tier may be deleted.
    Tier,
    /// In etcd mode the name is assigned and the storage labels set.
    WorkloadEndpoint,
    /// One object, named `default`.
    Singleton,
    /// The datastores synthesise `projectcalico-default-allow`, which cannot be changed.
    DefaultAllowProfile,
}

/// How the Kubernetes datastore stores a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KddMapping {
    /// A custom resource named by the kind's plural.
    Crd,
    /// A custom resource whose crd.projectcalico.org/v1 plural and kind differ from v3's.
    CrdRenamedInV1 {
        plural: &'static str,
        kind: &'static str,
    },
    /// Read from and written to the Kubernetes Node.
    K8sNode,
    /// Read from pods (written only by the CNI plugin).
    Pod,
    /// Synthesised from namespaces and service accounts (read only).
    NamespaceOrServiceAccount,
}

impl KddMapping {
    /// Whether the kind is a custom resource (the others live in Kubernetes' own objects).
    pub fn is_crd(self) -> bool {
        match self {
            KddMapping::Crd | KddMapping::CrdRenamedInV1 { .. } => true,
            KddMapping::K8sNode | KddMapping::Pod | KddMapping::NamespaceOrServiceAccount => false,
        }
    }
}

/// Where `datastore migrate export` puts a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Export {
    /// Position in calicoctl's export order.
    pub rank: u8,
    /// calicoctl's quirk: some kinds are exported from one namespace only.
    pub namespace: Option<&'static str>,
    pub rewrite: ExportRewrite,
}

/// What export changes in an object (etcd node names become Kubernetes node names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRewrite {
    None,
    /// The node takes its Kubernetes name (every node needs a `k8s` orchestrator reference).
    Node,
    /// A `node.<name>` object follows its node's new name.
    PerNode,
    /// As `PerNode`, and the Felix action fields are title-cased.
    PerNodeFelix,
}

/// How objects of a kind belong to one node (what node cleanup removes with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeScope {
    None,
    /// `spec.node` names the node; `with_node_delete`: libcalico's node delete removes them too.
    SpecNode {
        rank: u8,
        with_node_delete: bool,
    },
    /// Named `node.<name>`.
    NodeNamed {
        rank: u8,
    },
}

/// The kinds whose objects belong to a node, in calicoctl's order: the `spec.node` ones, then
/// the `node.<name>` ones.
pub fn node_scoped_kinds() -> Vec<(&'static KindInfo, NodeScope)> {
    let key = |s: &NodeScope| match *s {
        NodeScope::None => (0, 0),
        NodeScope::SpecNode { rank, .. } => (1, rank),
        NodeScope::NodeNamed { rank } => (2, rank),
    };
    let mut v: Vec<_> = KINDS
        .iter()
        .map(|k| (k, k.hooks.node_scope))
        .filter(|(_, s)| *s != NodeScope::None)
        .collect();
    v.sort_by_key(|(_, s)| key(s));
    v
}

/// Objects Calico creates itself (EnsureInitialized, synthesised): an import target holding only
/// these counts as empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    None,
    Names(&'static [&'static str]),
    All,
}

/// The per-kind hooks the layers below the commands read; the strategies are matched with no
/// catch-all arm, so a new strategy is named by the compiler wherever it matters.
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// libcalico's client-side defaults on create and update (before the CRD defaults).
    pub defaults: Option<fn(&mut Value)>,
    pub validation: Validation,
    pub client: ClientRule,
    pub reads: Reads,
    /// Whether a create may join a batch (kinds with a write path of their own may not).
    pub batchable: bool,
    pub kdd: KddMapping,
    pub export: Option<Export>,
    pub builtin: Builtin,
    pub node_scope: NodeScope,
    /// Name prefix of the Kubernetes policies this kind shows: calicoctl may not change them.
    pub k8s_policy_prefix: Option<&'static str>,
}

impl Hooks {
    /// A kind with no special rules.
    pub const PLAIN: Hooks = Hooks {
        defaults: None,
        validation: Validation::Plain,
        client: ClientRule::None,
        reads: Reads::Kinds(&[]),
        batchable: true,
        kdd: KddMapping::Crd,
        export: None,
        builtin: Builtin::None,
        node_scope: NodeScope::None,
        k8s_policy_prefix: None,
    };
}

const fn export(rank: u8, rewrite: ExportRewrite) -> Option<Export> {
    Some(Export {
        rank,
        namespace: None,
        rewrite,
    })
}

const CRD: Validation = Validation::Crd { then: None };

const fn policy(checks: PolicyChecks) -> Validation {
    Validation::Policy { checks, crd: true }
}

/// Values a column may need beyond the object itself.
#[derive(Debug, Clone, Default)]
pub struct ColumnCtx {
    /// The cluster-wide default AS number shown as `(64512)` for nodes without their own.
    pub default_asn: String,
}

/// One `ps`/`wide`/`custom-columns` heading.
pub struct Column {
    pub name: &'static str,
    pub get: fn(&Value, &ColumnCtx) -> String,
}

/// Per-kind behaviour that differs from the plain CRUD path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindFlags {
    /// calicoctl refuses create/apply/replace/delete (ClusterInformation).
    pub readonly: bool,
    /// etcd stores the v3 name in the `projectcalico.org/metadata` annotation (policies).
    pub policy_name_annotation: bool,
    /// Only in calicoctl HEAD (v3.33-dev); still served here.
    pub head_only: bool,
}

/// Everything about one kind.
pub struct KindInfo {
    pub id: KindId,
    pub kind: &'static str,
    pub plural: &'static str,
    /// CLI names accepted (exact set, lower case).
    pub names: &'static [&'static str],
    pub namespaced: bool,
    pub ps: &'static [&'static str],
    pub wide: &'static [&'static str],
    /// Headings only reachable through `custom-columns`.
    pub extra: &'static [&'static str],
    pub columns: &'static [Column],
    pub flags: KindFlags,
    pub hooks: Hooks,
}

impl std::fmt::Debug for KindInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KindInfo({})", self.kind)
    }
}

impl KindInfo {
    /// `<Kind>List`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The schema struct of the kind.
    pub fn type_name(&self) -> String {
        format!("v3.{}", self.kind)
    }

    /// Every heading valid for custom-columns (namespaced kinds add NAMESPACE).
    pub fn all_headings(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for h in self.ps.iter().chain(self.wide).chain(self.extra) {
            if !v.contains(h) {
                v.push(h);
            }
        }
        if self.namespaced && !v.contains(&"NAMESPACE") {
            v.push("NAMESPACE");
        }
        v
    }

    /// Computes a heading's cell for an object.
    pub fn column(&self, heading: &str, obj: &Value, ctx: &ColumnCtx) -> Option<String> {
        match heading {
            "NAME" => Some(str_at(obj, &["metadata", "name"])),
            "NAMESPACE" if self.namespaced => Some(str_at(obj, &["metadata", "namespace"])),
            _ => self
                .columns
                .iter()
                .find(|c| c.name == heading)
                .map(|c| (c.get)(obj, ctx)),
        }
    }

    /// Whether policies of this kind live in a Tier.
    pub fn is_tiered(&self) -> bool {
        TIERED_POLICY_KINDS.contains(&self.id)
    }

    /// Whether the kind's columns show the cluster's default AS number.
    pub fn uses_default_asn(&self) -> bool {
        self.id == KindId::Node
    }

    /// Whether `name` is a Kubernetes policy seen through this kind.
    pub fn is_k8s_policy(&self, name: &str) -> bool {
        self.hooks
            .k8s_policy_prefix
            .is_some_and(|p| name.starts_with(p))
    }

    /// True for the kind's short/long CLI names.
    pub fn matches_cli_name(&self, name: &str) -> bool {
        self.names.contains(&name.to_lowercase().as_str())
    }
}

/// Looks up a kind by a CLI name (case-insensitive).
pub fn by_cli_name(name: &str) -> Option<&'static KindInfo> {
    let lower = name.to_lowercase();
    KINDS.iter().find(|k| k.names.contains(&lower.as_str()))
}

/// Looks up a kind by its exact Kind (as written in manifests).
pub fn by_kind(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// Looks up a kind by its `<Kind>List` name.
pub fn by_list_kind(list_kind: &str) -> Option<&'static KindInfo> {
    let kind = list_kind.strip_suffix("List")?;
    by_kind(kind)
}

/// The sorted lower-case kind names printed at the end of CRUD help texts.
pub fn help_resource_list() -> Vec<String> {
    let mut v: Vec<String> = KINDS.iter().map(|k| k.kind.to_lowercase()).collect();
    v.sort();
    v
}

// ---- value helpers used by columns -------------------------------------------------------

/// Follows a path of object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// A string at a path, empty when absent.
pub fn str_at(v: &Value, path: &[&str]) -> String {
    at(v, path)
        .map(|x| match x {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => go_v(other),
        })
        .unwrap_or_default()
}

/// A plain bool field (omitempty false is absent → `false`).
fn bool_at(v: &Value, path: &[&str]) -> String {
    at(v, path)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// A pointer field: `<nil>` when absent.
fn ptr_at(v: &Value, path: &[&str]) -> String {
    at(v, path).map(go_v).unwrap_or_else(|| "<nil>".to_string())
}

/// A float64 pointer such as `order`.
fn float_ptr_at(v: &Value, path: &[&str]) -> String {
    match at(v, path).and_then(Value::as_f64) {
        Some(f) => fmt_v_float(f),
        None => "<nil>".to_string(),
    }
}

/// `join LIST ","` over a string list.
fn join_at(v: &Value, path: &[&str]) -> String {
    match at(v, path) {
        Some(Value::Array(a)) => a.iter().map(go_v).collect::<Vec<_>>().join(","),
        _ => String::new(),
    }
}

/// `joinAndTruncate LIST "," 80`.
fn join_trunc_at(v: &Value, path: &[&str]) -> String {
    truncate_joined(join_at(v, path), 80)
}

/// A `map[string]string` as sorted `k=v` joined by commas.
fn map_join_at(v: &Value, path: &[&str]) -> String {
    match at(v, path) {
        Some(Value::Object(m)) => {
            let mut pairs: Vec<String> =
                m.iter().map(|(k, v)| format!("{k}={}", go_v(v))).collect();
            pairs.sort();
            pairs.join(",")
        }
        _ => String::new(),
    }
}

fn or_never(v: &Value, path: &[&str]) -> String {
    let s = str_at(v, path);
    if s.is_empty() { "Never".to_string() } else { s }
}

/// The generated Go `String()` of a Kubernetes `LabelSelector` (used by SKNP's PODSELECTOR).
fn label_selector_string(v: &Value) -> String {
    let mut labels: Vec<(String, String)> = match v.get("matchLabels") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), go_v(v))).collect(),
        _ => Vec::new(),
    };
    labels.sort();
    let ml: String = labels.iter().map(|(k, v)| format!("{k}: {v},")).collect();
    let me: String = match v.get("matchExpressions") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| {
                let values = match e.get("values") {
                    Some(Value::Array(vs)) => vs.iter().map(go_v).collect::<Vec<_>>().join(" "),
                    _ => String::new(),
                };
                format!(
                    "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                    str_at(e, &["key"]),
                    str_at(e, &["operator"]),
                    values
                )
            })
            .collect(),
        _ => String::new(),
    };
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{ml}}},MatchExpressions:[]LabelSelectorRequirement{{{me}}},}}"
    )
}

macro_rules! col {
    ($name:literal, $f:expr) => {
        Column {
            name: $name,
            get: $f,
        }
    };
}

const POLICY_COLUMNS: &[Column] = &[
    col!("TIER", |o, _| str_at(o, &["spec", "tier"])),
    col!("ORDER", |o, _| float_ptr_at(o, &["spec", "order"])),
    col!("SELECTOR", |o, _| str_at(o, &["spec", "selector"])),
];

const SET_COLUMNS: &[Column] = &[col!("NETS", |o, _| join_trunc_at(o, &["spec", "nets"]))];

/// The registry.
pub static KINDS: &[KindInfo] = &[
    KindInfo {
        id: KindId::BGPConfiguration,
        kind: "BGPConfiguration",
        plural: "bgpconfigurations",
        names: &[
            "bgpconfiguration",
            "bgpconfigurations",
            "bgpconfig",
            "bgpconfigs",
        ],
        namespaced: false,
        ps: &["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
        wide: &["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
        extra: &[],
        columns: &[
            col!("LOGSEVERITY", |o, _| str_at(
                o,
                &["spec", "logSeverityScreen"]
            )),
            col!(
                "MESHENABLED",
                |o, _| match at(o, &["spec", "nodeToNodeMeshEnabled"]) {
                    Some(v) if !v.is_null() => go_v(v),
                    _ => "-".to_string(),
                }
            ),
            col!("ASNUMBER", |o, _| match at(o, &["spec", "asNumber"]) {
                Some(v) if !v.is_null() => go_v(v),
                _ => "-".to_string(),
            }),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: Validation::Crd {
                then: Some(crate::model::structval::post_validate_bgp_configuration),
            },
            export: export(13, ExportRewrite::PerNode),
            node_scope: NodeScope::NodeNamed { rank: 1 },
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::BGPFilter,
        kind: "BGPFilter",
        plural: "bgpfilters",
        names: &["bgpfilter", "bgpfilters", "bgpf", "bgpfs", "bf", "bfs"],
        namespaced: false,
        ps: &[
            "NAME",
            "NUMEXPORTV4",
            "NUMIMPORTV4",
            "NUMEXPORTV6",
            "NUMIMPORTV6",
        ],
        wide: &[
            "NAME",
            "NUMEXPORTV4",
            "NUMIMPORTV4",
            "NUMEXPORTV6",
            "NUMIMPORTV6",
        ],
        extra: &[],
        columns: &[
            col!("NUMEXPORTV4", |o, _| count_at(o, &["spec", "exportV4"])),
            col!("NUMIMPORTV4", |o, _| count_at(o, &["spec", "importV4"])),
            col!("NUMEXPORTV6", |o, _| count_at(o, &["spec", "exportV6"])),
            col!("NUMIMPORTV6", |o, _| count_at(o, &["spec", "importV6"])),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: CRD,
            export: export(16, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::BGPPeer,
        kind: "BGPPeer",
        plural: "bgppeers",
        names: &["bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps"],
        namespaced: false,
        ps: &["NAME", "PEERIP", "NODE", "ASN"],
        wide: &["NAME", "PEERIP", "NODE", "ASN"],
        extra: &[],
        columns: &[
            col!("PEERIP", |o, _| str_at(o, &["spec", "peerIP"])),
            col!("NODE", |o, _| {
                let node = str_at(o, &["spec", "node"]);
                if !node.is_empty() {
                    return node;
                }
                let sel = str_at(o, &["spec", "nodeSelector"]);
                if !sel.is_empty() {
                    sel
                } else {
                    "(global)".to_string()
                }
            }),
            col!("ASN", |o, _| at(o, &["spec", "asNumber"])
                .map(go_v)
                .unwrap_or_else(|| "0".into())),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: CRD,
            client: ClientRule::BgpPeer,
            // The filters a peer names must exist.
            reads: Reads::Kinds(&[KindId::BGPFilter]),
            export: export(1, ExportRewrite::None),
            node_scope: NodeScope::SpecNode {
                rank: 0,
                with_node_delete: true,
            },
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::CalicoNodeStatus,
        kind: "CalicoNodeStatus",
        plural: "caliconodestatuses",
        names: &[
            "caliconodestatus",
            "caliconodestatuses",
            "nodestatus",
            "nodestatuses",
        ],
        namespaced: false,
        ps: &["NAME", "NODE"],
        wide: &["NAME", "NODE", "CLASSES"],
        extra: &[],
        columns: &[
            col!("NODE", |o, _| str_at(o, &["spec", "node"])),
            col!("CLASSES", |o, _| join_at(o, &["spec", "classes"])),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: true,
        },
        hooks: Hooks {
            validation: CRD,
            node_scope: NodeScope::SpecNode {
                rank: 2,
                with_node_delete: false,
            },
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::ClusterInformation,
        kind: "ClusterInformation",
        plural: "clusterinformations",
        names: &[
            "clusterinformation",
            "clusterinformations",
            "clusterinfo",
            "clusterinfos",
        ],
        namespaced: false,
        ps: &[
            "NAME",
            "CLUSTERGUID",
            "CLUSTERTYPE",
            "CALICOVERSION",
            "DATASTOREREADY",
        ],
        wide: &[
            "NAME",
            "CLUSTERGUID",
            "CLUSTERTYPE",
            "CALICOVERSION",
            "DATASTOREREADY",
        ],
        extra: &[],
        columns: &[
            col!("CLUSTERGUID", |o, _| str_at(o, &["spec", "clusterGUID"])),
            col!("CLUSTERTYPE", |o, _| str_at(o, &["spec", "clusterType"])),
            col!("CALICOVERSION", |o, _| str_at(
                o,
                &["spec", "calicoVersion"]
            )),
            col!("DATASTOREREADY", |o, _| ptr_at(
                o,
                &["spec", "datastoreReady"]
            )),
        ],
        flags: KindFlags {
            readonly: true,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: CRD,
            builtin: Builtin::Names(&["default"]),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::FelixConfiguration,
        kind: "FelixConfiguration",
        plural: "felixconfigurations",
        names: &[
            "felixconfiguration",
            "felixconfigurations",
            "felixconfig",
            "felixconfigs",
        ],
        namespaced: false,
        ps: &["NAME"],
        wide: &["NAME"],
        extra: &[],
        columns: &[],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_felix),
            validation: CRD,
            export: export(14, ExportRewrite::PerNodeFelix),
            node_scope: NodeScope::NodeNamed { rank: 0 },
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::GlobalNetworkPolicy,
        kind: "GlobalNetworkPolicy",
        plural: "globalnetworkpolicies",
        names: &[
            "globalnetworkpolicy",
            "globalnetworkpolicies",
            "gnp",
            "gnps",
        ],
        namespaced: false,
        ps: &["NAME", "TIER"],
        wide: &["NAME", "TIER", "ORDER", "SELECTOR"],
        extra: &[],
        columns: POLICY_COLUMNS,
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: true,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_policy_types),
            validation: policy(PolicyChecks::Policy),
            // The tier a policy names must exist.
            reads: Reads::Kinds(&[KindId::Tier]),
            export: export(3, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::GlobalNetworkSet,
        kind: "GlobalNetworkSet",
        plural: "globalnetworksets",
        names: &["globalnetworkset", "globalnetworksets", "gnetsets"],
        namespaced: false,
        ps: &["NAME"],
        wide: &["NAME", "NETS"],
        extra: &[],
        columns: SET_COLUMNS,
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: policy(PolicyChecks::NetworkSet),
            export: export(5, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::HostEndpoint,
        kind: "HostEndpoint",
        plural: "hostendpoints",
        names: &["hostendpoint", "hostendpoints", "hep", "heps"],
        namespaced: false,
        ps: &["NAME", "NODE"],
        wide: &["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"],
        extra: &[],
        columns: &[
            col!("NODE", |o, _| str_at(o, &["spec", "node"])),
            col!("INTERFACE", |o, _| str_at(o, &["spec", "interfaceName"])),
            col!("IPS", |o, _| join_at(o, &["spec", "expectedIPs"])),
            col!("PROFILES", |o, _| join_at(o, &["spec", "profiles"])),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: CRD,
            export: export(6, ExportRewrite::None),
            node_scope: NodeScope::SpecNode {
                rank: 1,
                with_node_delete: true,
            },
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::IPAMConfiguration,
        kind: "IPAMConfiguration",
        plural: "ipamconfigurations",
        names: &[
            "ipamconfiguration",
            "ipamconfigurations",
            "ipamconfig",
            "ipamconfigs",
        ],
        namespaced: false,
        ps: &["NAME", "STRICTAFFINITY", "AUTOALLOCATEBLOCKS"],
        wide: &[
            "NAME",
            "STRICTAFFINITY",
            "AUTOALLOCATEBLOCKS",
            "MAXBLOCKSPERHOST",
        ],
        extra: &[],
        columns: &[
            col!("STRICTAFFINITY", |o, _| bool_at(
                o,
                &["spec", "strictAffinity"]
            )),
            col!("AUTOALLOCATEBLOCKS", |o, _| bool_at(
                o,
                &["spec", "autoAllocateBlocks"]
            )),
            col!("MAXBLOCKSPERHOST", |o, _| at(
                o,
                &["spec", "maxBlocksPerHost"]
            )
            .map(go_v)
            .unwrap_or_else(|| "0".into())),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: true,
        },
        hooks: Hooks {
            validation: Validation::NamedDefault,
            kdd: KddMapping::CrdRenamedInV1 {
                plural: "ipamconfigs",
                kind: "IPAMConfig",
            },
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::IPPool,
        kind: "IPPool",
        plural: "ippools",
        names: &["ippool", "ippools", "ipp", "ipps", "pool", "pools"],
        namespaced: false,
        ps: &["NAME", "CIDR", "SELECTOR"],
        wide: &[
            "NAME",
            "CIDR",
            "NAT",
            "IPIPMODE",
            "VXLANMODE",
            "DISABLED",
            "DISABLEBGPEXPORT",
            "SELECTOR",
            "ASSIGNMENTMODE",
        ],
        extra: &[],
        columns: &[
            col!("CIDR", |o, _| str_at(o, &["spec", "cidr"])),
            col!("SELECTOR", |o, _| str_at(o, &["spec", "nodeSelector"])),
            col!("NAT", |o, _| bool_at(o, &["spec", "natOutgoing"])),
            col!("IPIPMODE", |o, _| or_never(o, &["spec", "ipipMode"])),
            col!("VXLANMODE", |o, _| or_never(o, &["spec", "vxlanMode"])),
            col!("DISABLED", |o, _| bool_at(o, &["spec", "disabled"])),
            col!("DISABLEBGPEXPORT", |o, _| bool_at(
                o,
                &["spec", "disableBGPExport"]
            )),
            col!("ASSIGNMENTMODE", |o, _| ptr_at(
                o,
                &["spec", "assignmentMode"]
            )),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_ippool),
            validation: CRD,
            client: ClientRule::IpPool,
            // Overlap with other pools (and blockSize against existing blocks).
            reads: Reads::Kinds(&[KindId::IPPool]),
            export: export(0, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::IPReservation,
        kind: "IPReservation",
        plural: "ipreservations",
        names: &[
            "ipreservation",
            "ipreservations",
            "reservation",
            "reservations",
        ],
        namespaced: false,
        ps: &["NAME"],
        wide: &["NAME", "CIDRS"],
        extra: &[],
        columns: &[col!("CIDRS", |o, _| join_trunc_at(
            o,
            &["spec", "reservedCIDRs"]
        ))],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: CRD,
            export: export(15, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::KubeControllersConfiguration,
        kind: "KubeControllersConfiguration",
        plural: "kubecontrollersconfigurations",
        names: &[
            "kubecontrollersconfiguration",
            "kubecontrollersconfigurations",
            "kubecontrollersconfig",
            "kubecontrollersconfigs",
        ],
        namespaced: false,
        ps: &["NAME"],
        wide: &["NAME"],
        extra: &[],
        columns: &[],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_kcc),
            validation: CRD,
            client: ClientRule::Singleton,
            export: export(7, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::NetworkPolicy,
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        names: &[
            "networkpolicy",
            "networkpolicies",
            "policy",
            "np",
            "policies",
            "pol",
            "pols",
        ],
        namespaced: true,
        ps: &["NAME", "TIER"],
        wide: &["NAME", "TIER", "ORDER", "SELECTOR"],
        extra: &[],
        columns: POLICY_COLUMNS,
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: true,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_policy_types),
            validation: policy(PolicyChecks::Policy),
            reads: Reads::Kinds(&[KindId::Tier]),
            export: export(8, ExportRewrite::None),
            k8s_policy_prefix: Some("knp.default."),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::NetworkSet,
        kind: "NetworkSet",
        plural: "networksets",
        names: &["networkset", "networksets", "netsets"],
        namespaced: true,
        ps: &["NAME"],
        wide: &["NAME", "NETS"],
        extra: &[],
        columns: SET_COLUMNS,
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: policy(PolicyChecks::NetworkSet),
            export: export(11, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::Node,
        kind: "Node",
        plural: "nodes",
        names: &["node", "nodes", "no", "nos"],
        namespaced: false,
        ps: &["NAME"],
        wide: &["NAME", "ASN", "IPV4", "IPV6"],
        extra: &[],
        columns: &[
            col!("ASN", |o, ctx| match at(o, &["spec", "bgp"]) {
                Some(bgp) if !bgp.is_null() => match bgp.get("asNumber") {
                    Some(n) if !n.is_null() => go_v(n),
                    _ => format!("({})", ctx.default_asn),
                },
                _ => String::new(),
            }),
            col!("IPV4", |o, _| str_at(o, &["spec", "bgp", "ipv4Address"])),
            col!("IPV6", |o, _| str_at(o, &["spec", "bgp", "ipv6Address"])),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: Validation::StructWalk,
            client: ClientRule::Node,
            reads: Reads::Everything,
            batchable: false,
            kdd: KddMapping::K8sNode,
            export: export(12, ExportRewrite::Node),
            builtin: Builtin::All,
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::Profile,
        kind: "Profile",
        plural: "profiles",
        names: &["profile", "profiles", "pro", "pros"],
        namespaced: false,
        ps: &["NAME"],
        wide: &["NAME", "LABELS"],
        extra: &[],
        columns: &[col!("LABELS", |o, _| map_join_at(
            o,
            &["spec", "labelsToApply"]
        ))],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: Validation::Policy {
                checks: PolicyChecks::Profile,
                crd: false,
            },
            client: ClientRule::DefaultAllowProfile,
            batchable: false,
            kdd: KddMapping::NamespaceOrServiceAccount,
            builtin: Builtin::Names(&["projectcalico-default-allow"]),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::StagedGlobalNetworkPolicy,
        kind: "StagedGlobalNetworkPolicy",
        plural: "stagedglobalnetworkpolicies",
        names: &[
            "stagedglobalnetworkpolicy",
            "stagedglobalnetworkpolicies",
            "sgnp",
            "sgnps",
        ],
        namespaced: false,
        ps: &["NAME", "TIER"],
        wide: &["NAME", "TIER", "ORDER", "SELECTOR"],
        extra: &[],
        columns: POLICY_COLUMNS,
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: true,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_policy_types),
            validation: policy(PolicyChecks::Policy),
            reads: Reads::Kinds(&[KindId::Tier]),
            export: export(4, ExportRewrite::None),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::StagedKubernetesNetworkPolicy,
        kind: "StagedKubernetesNetworkPolicy",
        plural: "stagedkubernetesnetworkpolicies",
        names: &[
            "stagedkubernetesnetworkpolicy",
            "stagedkubernetesnetworkpolicies",
            "stagedkubernetespolicy",
            "sknp",
            "stagedkubernetespolicies",
            "skpol",
            "skpols",
        ],
        namespaced: true,
        ps: &["NAME"],
        wide: &["NAME", "PODSELECTOR"],
        extra: &[],
        columns: &[col!("PODSELECTOR", |o, _| {
            label_selector_string(at(o, &["spec", "podSelector"]).unwrap_or(&Value::Null))
        })],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: policy(PolicyChecks::StagedKubernetes),
            // calicoctl's quirk: exported from namespace `default` only.
            export: Some(Export {
                rank: 10,
                namespace: Some("default"),
                rewrite: ExportRewrite::None,
            }),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::StagedNetworkPolicy,
        kind: "StagedNetworkPolicy",
        plural: "stagednetworkpolicies",
        names: &[
            "stagednetworkpolicy",
            "stagednetworkpolicies",
            "stagedpolicy",
            "snp",
            "stagedpolicies",
            "spol",
            "spols",
        ],
        namespaced: true,
        ps: &["NAME", "TIER"],
        wide: &["NAME", "TIER", "ORDER", "SELECTOR"],
        extra: &[],
        columns: POLICY_COLUMNS,
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: true,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_policy_types),
            validation: policy(PolicyChecks::Policy),
            reads: Reads::Kinds(&[KindId::Tier]),
            // calicoctl's quirk: exported from namespace `default` only.
            export: Some(Export {
                rank: 9,
                namespace: Some("default"),
                rewrite: ExportRewrite::None,
            }),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::Tier,
        kind: "Tier",
        plural: "tiers",
        names: &["tier", "tiers"],
        namespaced: false,
        ps: &["NAME", "ORDER"],
        wide: &["NAME", "ORDER"],
        extra: &[],
        columns: &[col!("ORDER", |o, _| float_ptr_at(o, &["spec", "order"]))],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            defaults: Some(v::default_tier),
            validation: CRD,
            client: ClientRule::Tier,
            // A tier that still holds policies cannot be deleted.
            reads: Reads::Kinds(TIERED_POLICY_KINDS),
            export: export(2, ExportRewrite::None),
            builtin: Builtin::Names(&[
                "default",
                "kube-admin",
                "kube-baseline",
                "adminnetworkpolicy",
                "baselineadminnetworkpolicy",
            ]),
            ..Hooks::PLAIN
        },
    },
    KindInfo {
        id: KindId::WorkloadEndpoint,
        kind: "WorkloadEndpoint",
        plural: "workloadendpoints",
        names: &["workloadendpoint", "workloadendpoints", "wep", "weps"],
        namespaced: true,
        ps: &["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
        wide: &[
            "NAME",
            "WORKLOAD",
            "NODE",
            "NETWORKS",
            "INTERFACE",
            "PROFILES",
            "NATS",
        ],
        extra: &["ORCHESTRATOR"],
        columns: &[
            col!("WORKLOAD", |o, _| {
                let w = str_at(o, &["spec", "workload"]);
                if w.is_empty() {
                    str_at(o, &["spec", "pod"])
                } else {
                    w
                }
            }),
            col!("NODE", |o, _| str_at(o, &["spec", "node"])),
            col!("NETWORKS", |o, _| join_at(o, &["spec", "ipNetworks"])),
            col!("INTERFACE", |o, _| str_at(o, &["spec", "interfaceName"])),
            col!("PROFILES", |o, _| join_at(o, &["spec", "profiles"])),
            col!("NATS", |o, _| match at(o, &["spec", "ipNATs"]) {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|n| format!(
                        "{{{} {}}}",
                        str_at(n, &["internalIP"]),
                        str_at(n, &["externalIP"])
                    ))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            }),
            col!("ORCHESTRATOR", |o, _| str_at(o, &["spec", "orchestrator"])),
        ],
        flags: KindFlags {
            readonly: false,
            policy_name_annotation: false,
            head_only: false,
        },
        hooks: Hooks {
            validation: Validation::WorkloadEndpoint,
            client: ClientRule::WorkloadEndpoint,
            kdd: KddMapping::Pod,
            ..Hooks::PLAIN
        },
    },
];

fn count_at(v: &Value, path: &[&str]) -> String {
    match at(v, path) {
        Some(Value::Array(a)) => a.len().to_string(),
        _ => "0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_one_entry_per_schema_kind_in_id_order() {
        assert_eq!(KINDS.len(), KindId::ALL.len());
        for (i, id) in KindId::ALL.iter().enumerate() {
            assert_eq!(KINDS[i].id, *id);
            assert_eq!(KINDS[i].kind, id.name());
            assert_eq!(id.info().kind, id.name());
        }
    }

    #[test]
    fn export_ranks_are_unique() {
        let mut ranks: Vec<u8> = KINDS
            .iter()
            .filter_map(|k| k.hooks.export.map(|e| e.rank))
            .collect();
        let n = ranks.len();
        ranks.sort();
        ranks.dedup();
        assert_eq!(ranks.len(), n);
    }

    #[test]
    fn tiered_kinds_are_policies() {
        for id in TIERED_POLICY_KINDS {
            let k = id.info();
            assert!(k.flags.policy_name_annotation, "{}", k.kind);
            assert_eq!(k.hooks.reads, Reads::Kinds(&[KindId::Tier]), "{}", k.kind);
        }
    }

    #[test]
    fn cli_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            for n in k.names {
                assert!(seen.insert(*n), "duplicate CLI name {n}");
            }
        }
    }

    #[test]
    fn every_kind_has_a_schema() {
        for k in KINDS {
            let def = crate::model::schema::schema()
                .get(&k.type_name())
                .unwrap_or_else(|| panic!("no schema for {}", k.kind));
            for f in ["kind", "apiVersion", "metadata", "spec"] {
                assert!(def.lookup(f).is_some(), "{} lacks {f}", k.kind);
            }
        }
    }

    #[test]
    fn every_heading_has_a_column() {
        for k in KINDS {
            for h in k.all_headings() {
                assert!(
                    k.column(h, &Value::Null, &ColumnCtx::default()).is_some(),
                    "{} {h}",
                    k.kind
                );
            }
        }
    }

    #[test]
    fn label_selector_text() {
        let v = serde_json::json!({"matchLabels": {"app": "foo"}});
        assert_eq!(
            label_selector_string(&v),
            "&LabelSelector{MatchLabels:map[string]string{app: foo,},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
    }
}
