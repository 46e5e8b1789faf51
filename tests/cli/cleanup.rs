//! Stale-node cleanup on a real etcd: evidence, the plan, dry-run touching nothing, apply
//! removing exactly the plan, runs interrupted after every step, a node revived between plan
//! and apply, `delete node` doing the full cleanup.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::*;
use serde_json::Value;

const R: &str = "/calico/resources/v3/projectcalico.org";

fn node(name: &str, ip: &str, tunnel: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: {name}\nspec:\n  bgp:\n    ipv4Address: {ip}\n    ipv4IPIPTunnelAddr: {tunnel}\n  orchRefs:\n  - nodeName: {name}\n    orchestrator: k8s\n---\n"
    )
}

fn wep(node: &str, pod: &str, ip: &str) -> String {
    let esc = node.replace('-', "--");
    format!(
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: {esc}-k8s-{pod}-eth0\n  namespace: default\nspec:\n  orchestrator: k8s\n  node: {node}\n  pod: {pod}\n  endpoint: eth0\n  interfaceName: cali{pod}\n  ipNetworks:\n  - {ip}/32\n---\n"
    )
}

fn assign(env: &Env, ip: &str, handle: &str, node: &str, attrs: &[&str]) {
    let mut a = vec![
        "ipam", "assign", "--ip", ip, "--handle", handle, "--node", node,
    ];
    for x in attrs {
        a.push("--attr");
        a.push(x);
    }
    env.ctl(&a).run().ok();
}

fn report(env: &Env, host: &str, hours_ago: i64) {
    let t = chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    env.etcd.put(
        &format!("/calico/felix/v2/no-region/host/{host}/last_reported_status"),
        &format!(
            "{{\"time\":\"{}\",\"uptime\":3600,\"first_update\":false}}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    );
}

/// Two live nodes, two dead ones (dead-b shares live-b's address), borrowed IPs both ways,
/// node-scoped objects, Felix reports.
fn cluster() -> Env {
    let env = Env::new();
    let mut m = String::from(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool\nspec:\n  cidr: 10.65.0.0/16\n---\n",
    );
    m += &node("dead-b", "10.10.0.2/24", "10.65.2.1");
    m += &node("live-a", "10.10.0.1/24", "10.65.0.1");
    m += &node("live-b", "10.10.0.2/24", "10.65.3.1");
    m += &node("dead-a", "10.10.0.3/24", "10.65.1.1");
    m += &wep("live-a", "a1", "10.65.0.2");
    m += &wep("dead-a", "da1", "10.65.1.2");
    m += "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: node.dead-a\nspec:\n  logSeverityScreen: Debug\n---\n";
    m += "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: node.live-a\nspec:\n  logSeverityScreen: Debug\n---\n";
    m += "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: peer-dead-a\nspec:\n  node: dead-a\n  peerIP: 10.10.0.9\n  asNumber: 64512\n---\n";
    m += "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: hep-dead-a\nspec:\n  node: dead-a\n  interfaceName: eth0\n---\n";
    env.apply(&m);
    let pod = |p: &'static str| -> [String; 2] { ["namespace=default".into(), format!("pod={p}")] };
    let tunnel = ["type=ipipTunnelAddress"];
    assign(
        &env,
        "10.65.0.1",
        "ipip-tunnel-addr-live-a",
        "live-a",
        &tunnel,
    );
    let a1 = pod("a1");
    assign(
        &env,
        "10.65.0.2",
        "k8s-pod-network.a1",
        "live-a",
        &[&a1[0], &a1[1]],
    );
    assign(
        &env,
        "10.65.1.1",
        "ipip-tunnel-addr-dead-a",
        "dead-a",
        &tunnel,
    );
    let da1 = pod("da1");
    assign(
        &env,
        "10.65.1.2",
        "k8s-pod-network.da1",
        "dead-a",
        &[&da1[0], &da1[1]],
    );
    // dead-a borrowed from live-a's block; live-b borrowed from dead-a's block.
    let da2 = pod("da2");
    assign(
        &env,
        "10.65.0.3",
        "k8s-pod-network.da2",
        "dead-a",
        &[&da2[0], &da2[1]],
    );
    let lb1 = pod("lb1");
    assign(
        &env,
        "10.65.1.3",
        "k8s-pod-network.lb1",
        "live-b",
        &[&lb1[0], &lb1[1]],
    );
    assign(
        &env,
        "10.65.2.1",
        "ipip-tunnel-addr-dead-b",
        "dead-b",
        &tunnel,
    );
    assign(
        &env,
        "10.65.3.1",
        "ipip-tunnel-addr-live-b",
        "live-b",
        &tunnel,
    );
    report(&env, "live-a", 0);
    report(&env, "live-b", 0);
    report(&env, "dead-a", 72);
    report(&env, "dead-b", 72);
    env
}

fn plan_json(env: &Env, extra: &[&str]) -> Value {
    let mut a = vec!["node", "cleanup", "-o", "json"];
    a.extend_from_slice(extra);
    let out = env.ctl(&a).run();
    out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn node_plan<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == name)
        .unwrap_or_else(|| panic!("{name} not in plan: {plan:#}"))
}

fn block_key(cidr: &str) -> String {
    format!(
        "/calico/ipam/v2/assignment/ipv4/block/{}",
        cidr.replace('/', "-")
    )
}

/// The etcd keys a plan deletes and changes, derived independently from the key layout
/// (`/calico/resources/v3/projectcalico.org/…`, `/calico/ipam/v2/…`, `/calico/felix/v2/…`).
fn plan_keys(plan: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let plural = |k: &str| match k {
        "WorkloadEndpoint" => "workloadendpoints",
        "FelixConfiguration" => "felixconfigurations",
        "BGPConfiguration" => "bgpconfigurations",
        "BGPPeer" => "bgppeers",
        "HostEndpoint" => "hostendpoints",
        "CalicoNodeStatus" => "caliconodestatuses",
        "Node" => "nodes",
        other => panic!("unexpected kind {other}"),
    };
    let obj_key = |o: &Value| {
        let ns = o["namespace"].as_str().unwrap_or_default();
        let name = o["name"].as_str().unwrap();
        let k = plural(o["kind"].as_str().unwrap());
        if ns.is_empty() {
            format!("{R}/{k}/{name}")
        } else {
            format!("{R}/{k}/{ns}/{name}")
        }
    };
    let (mut del, mut chg) = (BTreeSet::new(), BTreeSet::new());
    for n in plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["remove"] == true)
    {
        let name = n["node"].as_str().unwrap();
        if !n["nodeResource"].is_null() {
            del.insert(obj_key(&n["nodeResource"]));
        }
        for o in n["workloadEndpoints"]
            .as_array()
            .unwrap()
            .iter()
            .chain(n["objects"].as_array().unwrap())
        {
            del.insert(obj_key(o));
        }
        for a in n["affinities"].as_array().unwrap() {
            del.insert(format!(
                "/calico/ipam/v2/host/{name}/ipv4/block/{}",
                a["cidr"].as_str().unwrap().replace('/', "-")
            ));
        }
        for b in strs(&n["blocksDeleted"]) {
            del.insert(block_key(&b));
        }
        for b in strs(&n["blocksUnaffined"])
            .iter()
            .chain(&strs(&n["blocksUpdated"]))
        {
            chg.insert(block_key(b));
        }
        for h in strs(&n["handlesDeleted"]) {
            del.insert(format!("/calico/ipam/v2/handle/{h}"));
        }
        for h in strs(&n["handlesUpdated"]) {
            chg.insert(format!("/calico/ipam/v2/handle/{h}"));
        }
        for k in strs(&n["felixStatusKeys"]) {
            del.insert(k);
        }
    }
    (del, chg)
}

fn diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let deleted = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let added = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let changed = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k.clone())
        .collect();
    (deleted, added, changed)
}

#[test]
fn plan_names_the_dead_their_leftovers_and_the_duplicate_address() {
    let env = cluster();
    let before = env.etcd.dump();
    let plan = plan_json(&env, &[]);
    assert_eq!(env.etcd.dump(), before, "a dry run must not write anything");
    let names: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dead-a", "dead-b"], "{plan:#}");
    let a = node_plan(&plan, "dead-a");
    assert_eq!(a["remove"], true);
    assert!(
        a["evidence"]["dead"][0]
            .as_str()
            .unwrap()
            .starts_with("Felix status report is 72h0m"),
        "{a:#}"
    );
    let mut ips: Vec<String> = a["releases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            h["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["ip"].as_str().unwrap().to_string())
        })
        .collect();
    ips.sort();
    // Its own pod and tunnel IPs and the one it borrowed; not live-b's IP in its block.
    assert_eq!(ips, ["10.65.0.3", "10.65.1.1", "10.65.1.2"]);
    assert_eq!(strs(&a["blocksUnaffined"]), ["10.65.1.0/26"]);
    assert_eq!(strs(&a["blocksUpdated"]), ["10.65.0.0/26"]);
    assert!(strs(&a["blocksDeleted"]).is_empty());
    assert_eq!(
        strs(&a["handlesDeleted"]),
        [
            "ipip-tunnel-addr-dead-a",
            "k8s-pod-network.da1",
            "k8s-pod-network.da2"
        ]
    );
    let objs: Vec<String> = a["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        objs,
        [
            "BGPPeer/peer-dead-a",
            "HostEndpoint/hep-dead-a",
            "FelixConfiguration/node.dead-a"
        ]
    );
    assert_eq!(a["workloadEndpoints"][0]["name"], "dead--a-k8s-da1-eth0");
    assert_eq!(strs(&a["tunnelAddresses"]), ["10.65.1.1"]);
    let b = node_plan(&plan, "dead-b");
    assert_eq!(strs(&b["blocksDeleted"]), ["10.65.2.0/26"]);
    let d = &plan["duplicates"][0];
    assert_eq!(d["address"], "10.10.0.2");
    assert_eq!(strs(&d["nodes"]), ["dead-b", "live-b"]);
    assert_eq!(d["remove"], "dead-b");
    // The human plan says the same, and that nothing changed.
    let out = env.ctl(&["node", "cleanup"]).run();
    out.ok()
        .stdout_has("dead-a")
        .stdout_has("IPAMBlock(10.65.1.0/26) (other nodes' IPs stay allocated)")
        .stdout_has("Duplicate BGP address 10.10.0.2 on nodes dead-b, live-b: dead-b should go")
        .stdout_has("Dry run: nothing was changed. Re-run with --apply to remove 2 node(s).");
    assert_eq!(env.etcd.dump(), before);
}

#[test]
fn apply_removes_exactly_the_plan_and_is_idempotent() {
    let env = cluster();
    let before = env.etcd.dump();
    let plan = plan_json(&env, &[]);
    // Without --yes and without a terminal nothing happens.
    env.ctl(&["node", "cleanup", "--apply"])
        .run()
        .fails(1)
        .stderr_has("refusing to apply without confirmation: not a terminal (pass --yes");
    assert_eq!(env.etcd.dump(), before);
    let out = env.ctl(&["node", "cleanup", "--apply", "--yes"]).run();
    out.ok()
        .stdout_has("Removed node dead-a: released 3 IP(s)")
        .stdout_has("Removed 2 of 2 node(s).");
    let after = env.etcd.dump();
    let (deleted, added, changed) = diff(&before, &after);
    let (want_del, want_chg) = plan_keys(&plan);
    assert_eq!(deleted, want_del, "deleted keys must equal the plan");
    assert!(added.is_empty(), "nothing may be created: {added:?}");
    assert_eq!(changed, want_chg, "changed keys must equal the plan");
    // dead-a's block stays for live-b's IP, unaffine; live-a's block lost the borrowed IP.
    let b = env.etcd.get_json(&block_key("10.65.1.0/26"));
    assert_eq!(b["affinity"], Value::Null);
    assert!(b["allocations"][3].is_number(), "{b}");
    assert!(
        b["allocations"][1].is_null() && b["allocations"][2].is_null(),
        "{b}"
    );
    let la = env.etcd.get_json(&block_key("10.65.0.0/26"));
    assert!(
        la["allocations"][3].is_null() && la["allocations"][2].is_number(),
        "{la}"
    );
    // Live nodes' objects are untouched.
    for k in [
        format!("{R}/nodes/live-a"),
        format!("{R}/nodes/live-b"),
        format!("{R}/felixconfigurations/node.live-a"),
        format!("{R}/workloadendpoints/default/live--a-k8s-a1-eth0"),
    ] {
        assert_eq!(after.get(&k), before.get(&k), "{k}");
    }
    // IPAM is consistent afterwards, and a second run has nothing to do.
    if let Some(check) = ipam_check(&env) {
        check.ok();
    }
    env.ctl(&["node", "cleanup", "--apply", "--yes"])
        .run()
        .ok()
        .stdout_has("Nothing to remove.");
    assert_eq!(env.etcd.dump(), after);
}

#[test]
fn a_run_stopped_after_any_step_is_finished_by_the_next() {
    let reference = cluster();
    reference
        .ctl(&["node", "cleanup", "--apply", "--yes"])
        .run()
        .ok();
    let want: BTreeSet<String> = reference.etcd.dump().into_keys().collect();

    let env = cluster();
    let before = env.etcd.dump();
    let mut runs = 0;
    loop {
        let out = env
            .ctl(&[
                "node",
                "cleanup",
                "--apply",
                "--yes",
                "--concurrency",
                "1",
                "--stop-after-steps",
                "1",
            ])
            .run();
        runs += 1;
        if out.code == 0 {
            // The last step fitted in this run; the next one finds nothing left.
            env.ctl(&["node", "cleanup", "--apply", "--yes"])
                .run()
                .ok()
                .stdout_has("Nothing to remove.");
            break;
        }
        out.fails(1)
            .stderr_has("cleanup stopped by --stop-after-steps");
        // After every interruption, live nodes' data is untouched, and no workload endpoint
        // names an address that is free again.
        let now = env.etcd.dump();
        assert_eq!(
            endpoints_with_free_ips(&now),
            Vec::<String>::new(),
            "after {runs} runs"
        );
        for k in [
            format!("{R}/nodes/live-a"),
            format!("{R}/nodes/live-b"),
            format!("{R}/felixconfigurations/node.live-a"),
        ] {
            assert_eq!(now.get(&k), before.get(&k), "{k} after {runs} runs");
        }
        assert!(runs < 60, "no progress after {runs} interrupted runs");
    }
    assert!(runs > 10, "expected one step per run, took {runs} runs");
    let got: BTreeSet<String> = env.etcd.dump().into_keys().collect();
    assert_eq!(got, want, "interrupted runs must end where one run ends");
    if let Some(check) = ipam_check(&env) {
        check
            .ok()
            .stdout_has("Found 0 handles with no matching IPs");
    }
}

#[test]
fn a_node_that_comes_back_between_plan_and_apply_is_left_alone() {
    let env = cluster();
    let plan = env.ctl(&["node", "cleanup", "-o", "json"]).run();
    plan.ok();
    let f = env.file("plan.json", &plan.stdout);
    // dead-a's Felix reports again.
    report(&env, "dead-a", 0);
    let before = env.etcd.dump();
    let out = env
        .ctl(&["node", "cleanup", "--plan", &f, "--apply", "--yes"])
        .run();
    out.fails(1)
        .stdout_has("Skipped node dead-a: live since the plan: Felix reported")
        .stdout_has("Removed node dead-b");
    let after = env.etcd.dump();
    for (k, v) in &before {
        if k.contains("dead-a") || k.contains("10.65.1.0-26") || k.contains("da1") {
            assert_eq!(after.get(k), Some(v), "{k} of the revived node was touched");
        }
    }
    assert!(!after.contains_key(&format!("{R}/nodes/dead-b")));
}

#[test]
fn explicit_nodes_with_signs_of_life_need_force() {
    let env = cluster();
    let before = env.etcd.dump();
    env.ctl(&["node", "cleanup", "live-a", "--apply", "--yes"])
        .run()
        .fails(1)
        .stderr_has("refusing to remove node live-a: it shows signs of life (Felix reported");
    // The dead ones were removed, live-a was not.
    let after = env.etcd.dump();
    assert_eq!(
        after.get(&format!("{R}/nodes/live-a")),
        before.get(&format!("{R}/nodes/live-a"))
    );
    assert!(!after.contains_key(&format!("{R}/nodes/dead-a")));
    env.ctl(&["node", "cleanup", "live-a", "--apply", "--yes", "--force"])
        .run()
        .ok()
        .stdout_has("Removed node live-a");
    let after = env.etcd.dump();
    assert!(
        after.keys().all(|k| !k.contains("live-a")),
        "{:?}",
        after
            .keys()
            .filter(|k| k.contains("live-a"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn without_evidence_nothing_is_removed() {
    let env = Env::new();
    env.apply(&node("n1", "10.10.0.1/24", "10.65.0.1"));
    let before = env.etcd.dump();
    env.ctl(&["node", "cleanup", "--apply", "--yes"])
        .run()
        .ok()
        .stdout_has("No evidence source can prove a node dead here")
        .stdout_has("Nothing to remove.");
    assert_eq!(env.etcd.dump(), before);
    // A Felix report that is old proves nothing while no other host reports.
    report(&env, "n1", 72);
    let out = env.ctl(&["node", "cleanup", "-o", "json"]).run();
    out.ok();
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["nodes"], serde_json::json!([]));
    env.ctl(&["node", "cleanup", "--stale-after", "soon"])
        .run()
        .fails(1)
        .stderr_is("invalid --stale-after \"soon\": time: invalid duration \"soon\"\n");
}

#[test]
fn delete_node_cleans_up_what_calicoctl_cleans_up() {
    let env = cluster();
    env.ctl(&["delete", "node", "dead-a"])
        .run()
        .ok()
        .stdout_is("Successfully deleted 1 'Node' resource(s)\n");
    let after = env.etcd.dump();
    // As calicoctl: the address no endpoint names (da2, borrowed) and Felix's status keys
    // stay; `node cleanup` is what removes those.
    let left: Vec<&String> = after
        .keys()
        .filter(|k| k.contains("dead-a") || k.contains("da1") || k.contains("da2"))
        .filter(|k| !k.starts_with("/calico/felix/"))
        .collect();
    assert_eq!(
        left,
        ["/calico/ipam/v2/handle/k8s-pod-network.da2"],
        "leftovers of dead-a"
    );
    env.ctl(&["delete", "node", "dead-a"])
        .run()
        .fails(1)
        .stderr_has("resource does not exist: Node(dead-a)");
}

fn kdd_cleanup(mode: CrdMode) {
    let Some(store) = Store::kdd(mode) else {
        return;
    };
    let Store::Kdd(k, ..) = &store else {
        unreachable!()
    };
    let node = serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "live-k",
        "annotations": {"projectcalico.org/IPv4Address": "10.0.0.11/24"}}});
    assert_eq!(k.curl("POST", "/api/v1/nodes", Some(&node)).0, 201);
    store.apply(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.30.0.0/16\n  blockSize: 29\n---\napiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: node.gone-k\nspec:\n  logSeverityScreen: Debug\n",
    );
    for (ip, h, n) in [
        ("10.30.0.1", "h-live", "live-k"),
        ("10.30.0.9", "h-gone", "gone-k"),
        ("10.30.0.2", "h-gone-borrowed", "gone-k"),
    ] {
        store
            .ctl(&[
                "ipam",
                "assign",
                "--ip",
                ip,
                "--handle",
                h,
                "--node",
                n,
                "--attr",
                "namespace=default",
                "--attr",
                "pod=p",
            ])
            .run()
            .ok();
    }
    let out = store.ctl(&["node", "cleanup", "-o", "json"]).run();
    out.ok();
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gone-k"], "{plan:#}");
    let g = node_plan(&plan, "gone-k");
    assert_eq!(g["evidence"]["dead"][0], "no Kubernetes Node gone-k");
    assert_eq!(strs(&g["blocksDeleted"]), ["10.30.0.8/29"]);
    assert_eq!(strs(&g["blocksUpdated"]), ["10.30.0.0/29"]);
    assert_eq!(strs(&g["handlesDeleted"]), ["h-gone", "h-gone-borrowed"]);
    store
        .ctl(&["node", "cleanup", "--apply", "--yes"])
        .run()
        .ok()
        .stdout_has("Removed node gone-k: released 2 IP(s)");
    store
        .ctl(&["ipam", "show", "--show-blocks"])
        .run()
        .ok()
        .stdout_has("| Block    | 10.30.0.0/29 |         8 | 1 (12%)    | 7 (88%)      |");
    let blocks = store.ctl(&["ipam", "show", "--show-blocks"]).run();
    assert!(!blocks.stdout.contains("10.30.0.8/29"), "{}", blocks.stdout);
    store
        .ctl(&["get", "felixconfiguration", "node.gone-k"])
        .run()
        .fails(1);
    store
        .ctl(&["ipam", "show", "--ip=10.30.0.1"])
        .run()
        .ok()
        .stdout_has("IP 10.30.0.1 is in use");
    store
        .ctl(&["node", "cleanup"])
        .run()
        .ok()
        .stdout_has("No node has evidence of death.");
}

#[test]
fn kdd_v1_cleanup_of_a_deleted_kubernetes_node() {
    kdd_cleanup(CrdMode::V1);
}

#[test]
fn kdd_v3_cleanup_of_a_deleted_kubernetes_node() {
    kdd_cleanup(CrdMode::V3);
}

/// `ipam check` as on a cluster: kube-controllers' configuration in the datastore (only
/// while it runs), Services read through a kubeconfig from a kube-apiserver (that has none).
/// `None` when no kube-apiserver is built (outside CI).
fn ipam_check(env: &Env) -> Option<Out> {
    let kube = kube_or_skip(CrdMode::V1)?;
    env.apply("apiVersion: projectcalico.org/v3\nkind: KubeControllersConfiguration\nmetadata:\n  name: default\nspec:\n  controllers:\n    node: {}\n");
    let kubeconfig = kube.kubeconfig.display().to_string();
    let out = env
        .ctl(&["ipam", "check", "--kubeconfig", &kubeconfig])
        .run();
    env.ctl(&["delete", "kubecontrollersconfiguration", "default"])
        .run()
        .ok();
    Some(out)
}

/// Workload endpoints (key, address) whose IPv4 address no block holds as allocated.
fn endpoints_with_free_ips(dump: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut allocated = BTreeSet::new();
    for (k, v) in dump {
        if !k.starts_with("/calico/ipam/v2/assignment/ipv4/block/") {
            continue;
        }
        let b: serde_json::Value = serde_json::from_str(v).unwrap();
        let cidr = b["cidr"].as_str().unwrap();
        let base: std::net::Ipv4Addr = cidr.split('/').next().unwrap().parse().unwrap();
        for (ord, a) in b["allocations"].as_array().unwrap().iter().enumerate() {
            if !a.is_null() {
                allocated.insert(std::net::Ipv4Addr::from(u32::from(base) + ord as u32));
            }
        }
    }
    let mut bad = Vec::new();
    for (k, v) in dump {
        if !k.contains("/workloadendpoints/") {
            continue;
        }
        let w: serde_json::Value = serde_json::from_str(v).unwrap();
        for net in w["spec"]["ipNetworks"].as_array().into_iter().flatten() {
            let ip = net.as_str().unwrap().split('/').next().unwrap();
            if let Ok(ip) = ip.parse::<std::net::Ipv4Addr>()
                && !allocated.contains(&ip)
            {
                bad.push(format!("{k} {ip}"));
            }
        }
    }
    bad
}
