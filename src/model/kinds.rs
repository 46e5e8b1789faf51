//! The kind registry: one entry per `projectcalico.org/v3` kind with everything the rest of
//! the program needs to know about it (CLI names, scope, storage plural, table columns).
//! Adding a kind = its `.schema` file + one entry here.

use serde_json::Value;

use crate::gocompat::gofmt::{fmt_v_float, go_v};
use crate::gocompat::gotemplate::truncate_joined;

/// The API version every resource carries.
pub const API_VERSION: &str = "projectcalico.org/v3";

/// The policy kinds that live in a Tier.
pub const TIERED_POLICY_KINDS: &[&str] = &[
    "GlobalNetworkPolicy",
    "NetworkPolicy",
    "StagedGlobalNetworkPolicy",
    "StagedNetworkPolicy",
];

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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
    },
    KindInfo {
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
