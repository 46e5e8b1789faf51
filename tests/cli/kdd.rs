//! Kubernetes-datastore specifics against a real kube-apiserver: the v1 CR shape read back with
//! plain REST, core Nodes/Pods/Namespaces seen as Calico Nodes/WEPs/Profiles, read-only kinds,
//! RBAC/401 errors, and IPAM CRs.

use crate::harness::*;
use serde_json::{Value, json};

fn kdd_cfg(k: &KubeApiServer, dir: &std::path::Path, token: Option<&str>) -> String {
    let kubeconfig = match token {
        None => k.kubeconfig.clone(),
        Some(t) => {
            let p = dir.join(format!("kubeconfig-{t}"));
            let text = std::fs::read_to_string(&k.kubeconfig)
                .unwrap()
                .replace(&k.token, t);
            std::fs::write(&p, text).unwrap();
            p
        }
    };
    let cfg = dir.join(format!("cfg-{}", token.unwrap_or("admin")));
    std::fs::write(
        &cfg,
        format!("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: kubernetes\n  kubeconfig: {}\n", kubeconfig.display()),
    )
    .unwrap();
    cfg.to_string_lossy().to_string()
}

fn reverse_uid(u: &str) -> String {
    calicoctl::datastore::kdd::convert::reverse_uid(u)
}

#[test]
fn v1_cr_shape_read_back_with_plain_rest() {
    let Some(k) = kube_or_skip(CrdMode::V1) else {
        return;
    };
    let dir = tempdir();
    let cfg = kdd_cfg(&k, dir.path(), None);
    let f = dir.path().join("p.yaml");
    std::fs::write(
        &f,
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: shape\n  labels:\n    team: net\n    projectcalico.org/zone: a\n  annotations:\n    note: hi\nspec:\n  cidr: 10.20.0.0/16\n  ipipMode: Always\n",
    )
    .unwrap();
    calicoctl(&["apply", "-f", f.to_str().unwrap(), "-c", &cfg])
        .run()
        .ok();
    let cr = k.cr("ippools", None, "shape").expect("CR exists");
    assert_eq!(cr["apiVersion"], "crd.projectcalico.org/v1");
    assert_eq!(
        cr["metadata"]["labels"],
        json!({"projectcalico.org/zone": "a"})
    );
    let ann: Value = serde_json::from_str(
        cr["metadata"]["annotations"]["projectcalico.org/metadata"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        ann["labels"],
        json!({"projectcalico.org/zone": "a", "team": "net"})
    );
    assert_eq!(ann["annotations"], json!({"note": "hi"}));
    assert!(ann["creationTimestamp"].is_string());
    assert!(
        ann.get("name").is_none()
            && ann.get("uid").is_none()
            && ann.get("resourceVersion").is_none()
    );
    assert_eq!(cr["spec"]["cidr"], "10.20.0.0/16");
    assert_eq!(cr["spec"]["blockSize"], 26);
    assert_eq!(cr["spec"]["ipipMode"], "Always");
    let out = calicoctl(&["get", "ippool", "shape", "-o", "json", "-c", &cfg]).run();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["metadata"]["uid"].as_str().unwrap(),
        reverse_uid(cr["metadata"]["uid"].as_str().unwrap())
    );
    assert_eq!(
        v["metadata"]["resourceVersion"],
        cr["metadata"]["resourceVersion"]
    );
    assert_eq!(
        v["metadata"]["labels"],
        json!({"projectcalico.org/zone": "a", "team": "net"})
    );
    // A policy keeps its name inside the annotation.
    let np = dir.path().join("np.yaml");
    std::fs::write(&np, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: allow-dns\nspec:\n  selector: all()\n  egress:\n  - action: Allow\n").unwrap();
    calicoctl(&["apply", "-f", np.to_str().unwrap(), "-c", &cfg])
        .run()
        .ok();
    let cr = k.cr("globalnetworkpolicies", None, "allow-dns").unwrap();
    let ann: Value = serde_json::from_str(
        cr["metadata"]["annotations"]["projectcalico.org/metadata"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ann["name"], "allow-dns");
    assert_eq!(
        cr["metadata"]["labels"]["projectcalico.org/tier"],
        "default"
    );
}

#[test]
fn core_nodes_pods_namespaces() {
    let Some(k) = kube_or_skip(CrdMode::V1) else {
        return;
    };
    let dir = tempdir();
    let cfg = kdd_cfg(&k, dir.path(), None);
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "labels": {"rack": "r1"},
        "annotations": {"projectcalico.org/IPv4Address": "10.0.0.11/24", "projectcalico.org/ASNumber": "65010",
                        "projectcalico.org/IPv4IPIPTunnelAddr": "10.244.1.0"}}});
    assert_eq!(k.curl("POST", "/api/v1/nodes", Some(&node)).0, 201);
    let node2 = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-2",
        "annotations": {"projectcalico.org/IPv4Address": "10.0.0.12/24"}}});
    assert_eq!(k.curl("POST", "/api/v1/nodes", Some(&node2)).0, 201);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-7c9f", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "c", "image": "x"}]}});
    let (code, created) = k.curl("POST", "/api/v1/namespaces/default/pods", Some(&pod));
    assert_eq!(code, 201, "{created}");
    let mut with_status = created.clone();
    with_status["status"] =
        json!({"phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}]});
    assert_eq!(
        k.curl(
            "PUT",
            "/api/v1/namespaces/default/pods/web-7c9f/status",
            Some(&with_status)
        )
        .0,
        200
    );
    calicoctl(&["get", "nodes", "-o", "wide", "-c", &cfg]).run().ok().stdout_is(
        "NAME       ASN       IPV4           IPV6   \nworker-1   65010     10.0.0.11/24          \nworker-2   (64512)   10.0.0.12/24          \n\n",
    );
    calicoctl(&["get", "wep", "-A", "-c", &cfg]).run().ok().stdout_is(
        "NAMESPACE   WORKLOAD   NODE       NETWORKS        INTERFACE         \ndefault     web-7c9f   worker-1   10.244.1.5/32   cali7bb5981619c   \n\n",
    );
    let w = calicoctl(&[
        "get",
        "wep",
        "-n",
        "default",
        "worker--1-k8s-web--7c9f-eth0",
        "-o",
        "json",
        "-c",
        &cfg,
    ])
    .run();
    w.ok();
    let v: Value = serde_json::from_str(&w.stdout).unwrap();
    // The pod names no service account (no admission plugin sets one here): no `ksa.` profile.
    assert_eq!(v["spec"]["profiles"], json!(["kns.default"]));
    assert_eq!(
        v["metadata"]["labels"]["projectcalico.org/namespace"],
        "default"
    );
    // Profiles come from namespaces.
    let p = calicoctl(&["get", "profile", "kns.default", "-o", "json", "-c", &cfg]).run();
    p.ok();
    let v: Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(
        v["spec"]["labelsToApply"]["pcns.projectcalico.org/name"],
        "default"
    );
    // Nodes: create/delete rejected, apply updates the annotations.
    let nf = dir.path().join("n.yaml");
    std::fs::write(&nf, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: worker-2\nspec:\n  bgp:\n    ipv4Address: 10.0.0.99/24\n").unwrap();
    calicoctl(&["create", "-f", nf.to_str().unwrap(), "-c", &cfg]).run().without_kube_warnings().fails(1).stderr_is(
        "failed to create 'Node' resource: [operation Create is not supported on Node(worker-2)]\n",
    );
    calicoctl(&["apply", "-f", nf.to_str().unwrap(), "-c", &cfg])
        .run()
        .ok();
    let (_, n) = k.curl("GET", "/api/v1/nodes/worker-2", None);
    assert_eq!(
        n["metadata"]["annotations"]["projectcalico.org/IPv4Address"],
        "10.0.0.99/24"
    );
    // calicoctl's node delete first lists the node's endpoints by a name prefix the Kubernetes
    // endpoint client cannot parse.
    calicoctl(&["delete", "node", "worker-2", "-c", &cfg]).run().fails(1).stderr_is(
        "Failed to delete 'Node' resource: resource does not exist: WorkloadEndpoint(worker--2-*) with error: malformed WorkloadEndpoint name - unable to determine Pod name\n\n",
    );
}

#[test]
fn rbac_and_bad_token_errors() {
    let Some(k) = kube_or_skip(CrdMode::V1) else {
        return;
    };
    let dir = tempdir();
    let limited = kdd_cfg(&k, dir.path(), Some("limited-token"));
    let out = calicoctl(&["get", "ippools", "--allow-version-mismatch", "-c", &limited]).run();
    out.fails(1);
    assert!(
        out.stderr.contains("access denied by Kubernetes RBAC"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("\"bob\"")
            && out.stderr.contains("list")
            && out.stderr.contains("ippools"),
        "{}",
        out.stderr
    );
    let bad = kdd_cfg(&k, dir.path(), Some("wrong-token"));
    let out = calicoctl(&["get", "ippools", "-c", &bad]).run();
    out.fails(1);
    assert!(
        out.stdout.contains("401") || out.stderr.contains("401"),
        "{out:?}"
    );
}

/// A /29 block CR (libcalico's KDD field names) with two allocations.
fn block_cr(mode: CrdMode) -> Value {
    json!({
        "apiVersion": if mode == CrdMode::V1 { "crd.projectcalico.org/v1" } else { "projectcalico.org/v3" },
        "kind": "IPAMBlock",
        "metadata": {"name": "10-30-0-0-29"},
        "spec": {"cidr": "10.30.0.0/29", "affinity": "host:worker-1", "allocations": [0, 1, null, null, null, null, null, null],
                 "unallocated": [2, 3, 4, 5, 6, 7],
                 "attributes": [{"handle_id": "h-a", "secondary": {"node": "worker-1", "pod": "a", "namespace": "default"}},
                                {"handle_id": "h-b", "secondary": {"node": "worker-2", "pod": "b", "namespace": "default"}}],
                 "sequenceNumber": 10, "sequenceNumberForAllocation": {"0": 8, "1": 9}, "deleted": false, "strictAffinity": false}
    })
}

fn handle_cr(mode: CrdMode, id: &str) -> Value {
    json!({
        "apiVersion": if mode == CrdMode::V1 { "crd.projectcalico.org/v1" } else { "projectcalico.org/v3" },
        "kind": "IPAMHandle", "metadata": {"name": id},
        "spec": {"handleID": id, "block": {"10.30.0.0/29": 1}, "deleted": false}
    })
}

fn ipam_on(mode: CrdMode) {
    let Some(k) = kube_or_skip(mode) else { return };
    let dir = tempdir();
    let cfg = kdd_cfg(&k, dir.path(), None);
    let group = if mode == CrdMode::V1 {
        "crd.projectcalico.org/v1"
    } else {
        "projectcalico.org/v3"
    };
    let p = dir.path().join("p.yaml");
    std::fs::write(&p, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.30.0.0/16\n  blockSize: 29\n").unwrap();
    calicoctl(&["apply", "-f", p.to_str().unwrap(), "-c", &cfg])
        .run()
        .ok();
    assert_eq!(
        k.curl(
            "POST",
            &format!("/apis/{group}/ipamblocks"),
            Some(&block_cr(mode))
        )
        .0,
        201
    );
    for h in ["h-a", "h-b"] {
        assert_eq!(
            k.curl(
                "POST",
                &format!("/apis/{group}/ipamhandles"),
                Some(&handle_cr(mode, h))
            )
            .0,
            201
        );
    }
    calicoctl(&["ipam", "show", "--show-blocks", "-c", &cfg])
        .run()
        .ok()
        .stdout_has("| Block    | 10.30.0.0/29 |         8 | 2 (25%)    | 6 (75%)      |");
    let b = calicoctl(&["ipam", "show", "--show-borrowed", "-c", &cfg]).run();
    b.ok().stdout_has(
        "| 10.30.0.1 | worker-2       | 10.30.0.0/29 | worker-1    | pod  | default/b    |",
    );
    calicoctl(&["ipam", "show", "--ip=10.30.0.1", "-c", &cfg]).run().ok().stdout_is(
        "IP 10.30.0.1 is in use\nHandle ID: h-b\nActive Owner Attributes:\n  namespace: default\n  node: worker-2\n  pod: b\n",
    );
    calicoctl(&["ipam", "release", "--ip=10.30.0.1", "-c", &cfg])
        .run()
        .ok()
        .stdout_is("Successfully released IP address 10.30.0.1\n");
    let (_, blk) = k.curl(
        "GET",
        &format!("/apis/{group}/ipamblocks/10-30-0-0-29"),
        None,
    );
    assert_eq!(
        blk["spec"]["allocations"],
        json!([0, null, null, null, null, null, null, null])
    );
    assert_eq!(blk["spec"]["unallocated"], json!([2, 3, 4, 5, 6, 7, 1]));
    assert_eq!(blk["spec"]["attributes"].as_array().unwrap().len(), 1);
    assert_eq!(blk["spec"]["sequenceNumber"], 11);
    assert_eq!(blk["spec"]["sequenceNumberForAllocation"], json!({"0": 8}));
    assert_eq!(blk["spec"]["strictAffinity"], false);
    // The handle went away (soft delete, then a UID-precondition delete).
    assert_eq!(
        k.curl("GET", &format!("/apis/{group}/ipamhandles/h-b"), None)
            .0,
        404
    );
    calicoctl(&["ipam", "release", "--ip=10.30.0.1", "-c", &cfg])
        .run()
        .fails(1)
        .stderr_is("IP address 10.30.0.1 is not assigned\n");
}

#[test]
fn ipam_crs_v1() {
    ipam_on(CrdMode::V1);
}

#[test]
fn ipam_crs_v3() {
    ipam_on(CrdMode::V3);
}

/// `cluster diags` through the API: calicoctl's flag errors, progress lines and bundle layout;
/// pods of Calico namespaces described (logs need a kubelet, so their failure is reported per
/// item), Calico resources and core kinds dumped, TLS secrets reduced to their key names.
#[test]
fn cluster_diags_bundle() {
    let dir = tempdir();
    // Flag checks come before any connection (no API server needed).
    calicoctl(&["cluster", "diags", "--since", "5d"])
        .run()
        .fails(1)
        .stdout_is(
            "Error executing command: invalid duration for since flag (try 10s, 5m, or 1h): 5d\n",
        );
    calicoctl(&["cluster", "diags", "--max-logs", "-1"])
        .run()
        .fails(1)
        .stdout_is("Error executing command: negative value for max-logs flag\n");
    let Some(k) = kube_or_skip(CrdMode::V3) else {
        return;
    };
    let cfg = kdd_cfg(&k, dir.path(), None);
    calicoctl(&["apply", "-f", "-", "-c", &cfg, "--allow-version-mismatch"])
        .stdin("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: diags-pool\nspec:\n  cidr: 10.77.0.0/16\n")
        .run()
        .ok();
    let (c, _) = k.curl("POST", "/api/v1/namespaces", Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "calico-system"}})));
    assert_eq!(c, 201);
    let (c, _) = k.curl("POST", "/api/v1/namespaces/calico-system/pods", Some(&json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "calico-node-abcde", "namespace": "calico-system"},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "calico-node", "image": "calico/node"}]}})));
    assert_eq!(c, 201, "pod");
    let (c, _) = k.curl("POST", "/api/v1/namespaces/calico-system/secrets", Some(&json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "typha-certs", "namespace": "calico-system"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Q0VSVC1TRUNSRVQtVkFMVUU=", "tls.key": "S0VZLVNFQ1JFVC1WQUxVRQ=="}})));
    assert_eq!(c, 201, "secret");

    let cwd = tempdir();
    let out = calicoctl(&["cluster", "diags", "-c", &cfg, "--since", "10m"])
        .cwd(cwd.path())
        .run();
    out.ok()
        .stdout_has("==== Begin collecting diagnostics. ====\nCreated temporary directory: ")
        .stdout_has("Collecting kubernetes version...\n")
        .stdout_has("Collecting core kubernetes resources...\n")
        .stdout_has("Collecting secret calico-system/typha-certs (censoring sensitive data) \n")
        .stdout_has("Collecting detailed diags for namespace calico-system...\n")
        .stdout_has("Collecting detailed diags for pod calico-node-abcde in namespace calico-system on node worker-1...\n")
        .stdout_has("Failed to run command: GET /api/v1/namespaces/calico-system/pods/calico-node-abcde/log?container=calico-node&sinceSeconds=600\n")
        .stdout_has("\n==== Producing a diagnostics bundle. ====\nDiagnostic bundle created at ./calico-diagnostics-");
    let name = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Diagnostic bundle created at ./"))
        .unwrap()
        .to_string();
    let x = tempdir();
    let st = std::process::Command::new("tar")
        .args([
            "-xzf",
            cwd.path().join(&name).to_str().unwrap(),
            "-C",
            x.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let root = x.path().join("calico-diagnostics");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(read("cluster/version.yaml").contains("gitVersion:"));
    assert!(read("cluster/namespaces.yaml").contains("name: calico-system"));
    assert!(read("cluster/calico/ippools.yaml").contains("cidr: 10.77.0.0/16"));
    assert!(
        read("nodes/worker-1/calico-system/calico-node-abcde.txt").contains("nodeName: worker-1")
    );
    let tls = read("tls/calico-system-typha-certs.yaml");
    assert!(
        tls.contains("tls.key") && !tls.contains("S0VZLVNFQ1JFVC1WQUxVRQ"),
        "{tls}"
    );
    // Secret values appear nowhere in the bundle.
    let grep = std::process::Command::new("grep")
        .args(["-rl", "S0VZLVNFQ1JFVC1WQUxVRQ", x.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );
}
