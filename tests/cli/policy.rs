//! `calicoctl policy explain|trace|who-selects` on a real etcd and a real kube-apiserver.
//! Every expected verdict and reason is written by hand from Calico's policy semantics (tier
//! order, first match, Pass, end-of-tier Deny, profiles, failsafes, staged policies), never
//! taken from the program's own output.

use crate::harness::*;
use serde_json::{Value, json};

/// (direction, verdict, reason) of each hop of a `trace -o json`.
fn hops(v: &Value) -> Vec<(String, String, String)> {
    v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["direction"].as_str().unwrap().to_string(),
                h["verdict"].as_str().unwrap().to_string(),
                h["decision"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn hop(d: &str, v: &str, r: &str) -> (String, String, String) {
    (d.into(), v.into(), r.into())
}

/// The lines of a text table with the column padding collapsed to one space.
fn table(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

const END_DEFAULT_INGRESS: &str =
    "end of tier default: default action Deny (ingress policies applied, none allowed or passed)";

// ---- etcd --------------------------------------------------------------------------------

/// A WorkloadEndpoint as libcalico stores it (with the namespace/orchestrator labels).
fn put_wep(env: &Env, ns: &str, pod: &str, labels: Value, ips: &[&str], ports: Value) {
    let name = format!("node1-k8s-{pod}-eth0");
    let mut l = labels;
    l["projectcalico.org/namespace"] = json!(ns);
    l["projectcalico.org/orchestrator"] = json!("k8s");
    let v = json!({"kind": "WorkloadEndpoint", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": name, "namespace": ns, "uid": "u-1", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": l},
        "spec": {"orchestrator": "k8s", "node": "node1", "pod": pod, "endpoint": "eth0",
                 "interfaceName": format!("cali{pod}"), "ipNetworks": ips, "profiles": [format!("kns.{ns}")], "ports": ports}});
    env.etcd.put(
        &format!("/calico/resources/v3/projectcalico.org/workloadendpoints/{ns}/{name}"),
        &v.to_string(),
    );
}

const ETCD_WORLD: &str = r#"
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.shop}
spec:
  labelsToApply: {pcns.env: prod, pcns.projectcalico.org/name: shop}
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.dev}
spec:
  labelsToApply: {pcns.env: dev, pcns.projectcalico.org/name: dev}
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Deny}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.egress-guard}
spec:
  tier: security
  order: 10
  selector: all()
  types: [Egress]
  egress:
  - {action: Deny, destination: {selector: threat == "high"}}
  - {action: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: bad, labels: {threat: high}}
spec: {nets: [198.51.100.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-outside}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - {action: Deny, destination: {notNets: [10.0.0.0/8]}}
  - {action: Allow}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-open, namespace: shop}
spec:
  selector: app == "db"
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {notSelector: role == "batch"}
    destination: {ports: [pg]}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8}
    source: {nets: [10.1.0.0/16]}
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: quarantine}
spec:
  order: 1
  selector: app == 'db'
  types: [Ingress]
  ingress: [{action: Deny}]
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {role: node}}
spec: {node: node1, interfaceName: eth0, expectedIPs: [10.0.0.11]}
"#;

fn etcd_world() -> Env {
    let env = Env::new();
    env.apply(ETCD_WORLD);
    put_wep(
        &env,
        "shop",
        "web",
        json!({"app": "web"}),
        &["10.1.0.10/32", "fd00::10/128"],
        json!([]),
    );
    put_wep(
        &env,
        "shop",
        "db",
        json!({"app": "db"}),
        &["10.1.0.20/32"],
        json!([{"name": "pg", "protocol": "TCP", "port": 5432}]),
    );
    put_wep(
        &env,
        "shop",
        "batch",
        json!({"role": "batch"}),
        &["10.1.0.30/32"],
        json!([]),
    );
    put_wep(&env, "dev", "dbg", json!({}), &["10.1.2.7/32"], json!([]));
    env
}

fn trace_json(env: &Env, args: &[&str]) -> Value {
    let mut a = vec!["policy", "trace", "-o", "json"];
    a.extend_from_slice(args);
    let out = env.ctl(&a).run();
    out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn etcd_trace_tiers_pass_sets_named_ports_not_selector_icmp_ipv6_staged() {
    let env = etcd_world();
    // web -> db:5432: Pass out of security, deny-outside r1 allows egress (10.1.0.20 is inside
    // 10/8); db-open r0 allows ingress (web has no role; port 5432 is db's pg).
    let t = trace_json(
        &env,
        &["--from", "shop/web", "--to", "shop/db", "--port", "5432"],
    );
    assert_eq!(
        hops(&t),
        vec![
            hop(
                "egress",
                "Allow",
                "GlobalNetworkPolicy deny-outside, egress rule 1"
            ),
            hop(
                "ingress",
                "Allow",
                "NetworkPolicy shop/db-open, ingress rule 0"
            ),
        ]
    );
    assert_eq!(t["verdict"], "Allow");
    assert_eq!(t["hops"][0]["passedTiers"], json!(["security"]));
    // The staged quarantine (order 1 in default) would deny at db.
    assert_eq!(t["staged"]["verdict"], "Deny");
    assert_eq!(t["staged"]["wouldChange"], true);
    assert_eq!(
        t["staged"]["hops"][1]["decision"]["reason"],
        "StagedGlobalNetworkPolicy quarantine, ingress rule 0"
    );
    // batch -> db:5432: notSelector excludes role=batch; rule 1 is ICMP; end of tier default.
    let t = trace_json(
        &env,
        &["--from", "shop/batch", "--to", "shop/db", "--port", "5432"],
    );
    assert_eq!(
        hops(&t),
        vec![
            hop(
                "egress",
                "Allow",
                "profile kns.shop, egress rule 0 (after security)"
            ),
            hop("ingress", "Deny", END_DEFAULT_INGRESS),
        ]
    );
    // web -> GlobalNetworkSet bad: denied in tier security.
    let t = trace_json(
        &env,
        &[
            "--from",
            "shop/web",
            "--to",
            "198.51.100.7",
            "--port",
            "443",
        ],
    );
    assert_eq!(
        hops(&t),
        vec![hop(
            "egress",
            "Deny",
            "GlobalNetworkPolicy security.egress-guard, egress rule 0"
        )]
    );
    // IPv6: the IPv4-only notNets drops deny-outside r0 for IPv6, r1 allows.
    let t = trace_json(
        &env,
        &["--from", "fd00::10", "--to", "2001:db8::1", "--port", "443"],
    );
    assert_eq!(
        hops(&t),
        vec![hop(
            "egress",
            "Allow",
            "GlobalNetworkPolicy deny-outside, egress rule 1"
        )]
    );
    // The same over IPv4 leaves 10/8: r0 denies.
    let t = trace_json(
        &env,
        &["--from", "shop/web", "--to", "192.0.2.1", "--port", "443"],
    );
    assert_eq!(
        hops(&t),
        vec![hop(
            "egress",
            "Deny",
            "GlobalNetworkPolicy deny-outside, egress rule 0"
        )]
    );
    // ICMP echo from dbg (10.1.2.7, in 10.1.0.0/16): db-open r1.
    let t = trace_json(
        &env,
        &[
            "--from",
            "dev/dbg",
            "--to",
            "shop/db",
            "--protocol",
            "ICMP",
            "--icmp-type",
            "8",
        ],
    );
    assert_eq!(
        hops(&t),
        vec![
            hop(
                "egress",
                "Allow",
                "profile kns.dev, egress rule 0 (after security)"
            ),
            hop(
                "ingress",
                "Allow",
                "NetworkPolicy shop/db-open, ingress rule 1"
            ),
        ]
    );
    // The same pod over TCP: r0's implicit namespace clause excludes dev.
    let t = trace_json(
        &env,
        &["--from", "dev/dbg", "--to", "shop/db", "--port", "5432"],
    );
    assert_eq!(hops(&t)[1], hop("ingress", "Deny", END_DEFAULT_INGRESS));
}

#[test]
fn etcd_trace_host_endpoint_failsafe_exit_codes_and_errors() {
    let env = etcd_world();
    let t = trace_json(
        &env,
        &["--from", "10.0.0.50", "--to", "10.0.0.11", "--port", "22"],
    );
    assert_eq!(
        hops(&t),
        vec![hop("ingress", "Allow", "failsafe ingress TCP/22")]
    );
    assert_eq!(t["hops"][0]["decision"]["kind"], "failsafe");
    let t = trace_json(
        &env,
        &[
            "--from",
            "10.0.0.50",
            "--to",
            "hostendpoint/node1-eth0",
            "--port",
            "8080",
        ],
    );
    assert_eq!(
        hops(&t),
        vec![hop(
            "ingress",
            "Deny",
            "no policy or profile allowed: ingress denied (the endpoint has no profiles)"
        )]
    );
    // --exit-code: 1 for Deny, 0 for Allow, 2 for an error.
    env.ctl(&[
        "policy",
        "trace",
        "--from",
        "10.0.0.50",
        "--to",
        "10.0.0.11",
        "--port",
        "8080",
        "--exit-code",
    ])
    .run()
    .fails(1)
    .stdout_has("Verdict: DENY\n");
    env.ctl(&[
        "policy",
        "trace",
        "--from",
        "10.0.0.50",
        "--to",
        "10.0.0.11",
        "--port",
        "22",
        "--exit-code",
    ])
    .run()
    .ok()
    .stdout_has("decided by: failsafe ingress TCP/22\n");
    env.ctl(&["policy", "trace", "--from", "shop/nope", "--to", "10.0.0.11", "--exit-code"])
        .run()
        .fails(2)
        .stderr_is("no WorkloadEndpoint or pod \"nope\" in namespace \"shop\" and no HostEndpoint \"nope\" (name a workload as NAMESPACE/NAME, a host endpoint as hostendpoint/NAME)\n");
    env.ctl(&["policy", "explain", "hostendpoint/nope"])
        .run()
        .fails(1)
        .stderr_is("HostEndpoint \"nope\" not found\n");
    env.ctl(&[
        "policy",
        "trace",
        "--from",
        "shop/web",
        "--to",
        "shop/db",
        "--protocol",
        "bogus",
    ])
    .run()
    .fails(1)
    .stderr_has("unknown protocol \"bogus\"");
}

#[test]
fn etcd_explain_and_who_selects() {
    let env = etcd_world();
    let out = env
        .ctl(&["policy", "explain", "shop/db", "-o", "json"])
        .run();
    out.ok();
    let e: Value = serde_json::from_str(&out.stdout).unwrap();
    let tiers = |d: &str| -> Vec<(String, Vec<String>, String)> {
        e[d]["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["policies"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            format!(
                                "{} {}",
                                p["kind"].as_str().unwrap(),
                                p["name"].as_str().unwrap()
                            )
                        })
                        .collect(),
                    t["endOfTier"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        tiers("ingress"),
        vec![(
            "default".to_string(),
            vec![
                "StagedGlobalNetworkPolicy quarantine".to_string(),
                "NetworkPolicy db-open".to_string()
            ],
            "Deny".to_string()
        )]
    );
    assert_eq!(
        tiers("egress"),
        vec![(
            "security".to_string(),
            vec!["GlobalNetworkPolicy security.egress-guard".to_string()],
            "Deny".to_string()
        )]
    );
    assert_eq!(
        e["endpoint"]["inheritedLabels"]["pcns.env"],
        json!({"value": "prod", "from": "kns.shop"})
    );
    assert_eq!(
        e["ingress"]["profiles"],
        json!([{"name": "kns.shop", "exists": true, "rules": 1}])
    );
    // Text output names the tiers and the end-of-tier action.
    env.ctl(&["policy", "explain", "shop/db"])
        .run()
        .ok()
        .stdout_has("  tier default (order 1000000, default action Deny)\n")
        .stdout_has("[staged: not enforced]")
        .stdout_has("    end of tier: Deny\n");
    // who-selects: endpoints of a selector, policies of a label set.
    let out = env
        .ctl(&["policy", "who-selects", "role == 'node'", "-o", "json"])
        .run();
    out.ok();
    let w: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        w["endpoints"],
        json!([{"kind": "HostEndpoint", "name": "node1-eth0", "node": "node1", "ips": ["10.0.0.11"]}])
    );
    let out = env
        .ctl(&[
            "policy",
            "who-selects",
            "--labels",
            "app=db",
            "-n",
            "shop",
            "-o",
            "json",
        ])
        .run();
    out.ok();
    let w: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = w["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["security.egress-guard", "quarantine", "db-open"]
    );
    // As a table: one row per policy, in Felix's order.
    let out = env
        .ctl(&["policy", "who-selects", "--labels", "app=db", "-n", "shop"])
        .run();
    out.ok();
    assert_eq!(
        table(&out.stdout),
        vec![
            "TIER KIND NAMESPACE NAME ORDER TYPES",
            "security GlobalNetworkPolicy security.egress-guard 10 egress",
            "default StagedGlobalNetworkPolicy (staged) quarantine 1 ingress",
            "default NetworkPolicy shop db-open none ingress",
        ]
    );
    env.ctl(&["policy", "who-selects", "app =="])
        .run()
        .fails(1)
        .stderr_has("invalid selector");
}

/// A trace between two named endpoints reads only them and whatever shares their addresses:
/// the verdicts must be those of the whole store. Rule selectors match the packet's addresses
/// through every object holding them (Felix's IP sets), never the other endpoints.
#[test]
fn etcd_trace_between_named_endpoints_sees_only_what_holds_their_addresses() {
    let env = Env::new();
    env.apply(
        r#"
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.shop}
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: api-from-frontend, namespace: shop}
spec:
  selector: app == 'api'
  types: [Ingress]
  ingress:
  - {action: Allow, source: {selector: role == 'frontend'}}
"#,
    );
    // api is selected by the policy; fe has the labels its rule names; cli has neither.
    put_wep(
        &env,
        "shop",
        "api",
        json!({"app": "api"}),
        &["10.4.0.1/32"],
        json!([]),
    );
    put_wep(
        &env,
        "shop",
        "fe",
        json!({"role": "frontend"}),
        &["10.4.0.2/32"],
        json!([]),
    );
    put_wep(&env, "shop", "cli", json!({}), &["10.4.0.3/32"], json!([]));
    // fe -> api: rule 0 matches fe's labels.
    let t = trace_json(
        &env,
        &["--from", "shop/fe", "--to", "shop/api", "--port", "80"],
    );
    assert_eq!(
        hops(&t),
        vec![
            hop("egress", "Allow", "profile kns.shop, egress rule 0"),
            hop(
                "ingress",
                "Allow",
                "NetworkPolicy shop/api-from-frontend, ingress rule 0"
            ),
        ]
    );
    // cli -> api: the frontend endpoint exists, but the packet comes from 10.4.0.3, which
    // only cli holds: rule 0 misses and the tier's default action denies.
    let t = trace_json(
        &env,
        &["--from", "shop/cli", "--to", "shop/api", "--port", "80"],
    );
    assert_eq!(
        hops(&t),
        vec![
            hop("egress", "Allow", "profile kns.shop, egress rule 0"),
            hop("ingress", "Deny", END_DEFAULT_INGRESS),
        ]
    );
    assert_eq!(
        t["hops"][1]["steps"][0]["criteria"][0]["detail"],
        "10.4.0.3 is WorkloadEndpoint shop/node1-k8s-cli-eth0, which does not match (projectcalico.org/namespace == \"shop\") && (role == 'frontend')"
    );
    // A frontend workload that holds cli's address too (stored before cli: its key sorts
    // first): 10.4.0.3 is in the rule's IP set through it, so cli -> api is allowed, and the
    // trace says that two endpoints hold the address.
    put_wep(
        &env,
        "shop",
        "alt",
        json!({"role": "frontend"}),
        &["10.4.0.3/32"],
        json!([]),
    );
    let t = trace_json(
        &env,
        &["--from", "shop/cli", "--to", "shop/api", "--port", "80"],
    );
    assert_eq!(
        hops(&t),
        vec![
            hop("egress", "Allow", "profile kns.shop, egress rule 0"),
            hop(
                "ingress",
                "Allow",
                "NetworkPolicy shop/api-from-frontend, ingress rule 0"
            ),
        ]
    );
    assert_eq!(t["source"]["name"], "node1-k8s-cli-eth0");
    assert!(
        t["notes"]
            .as_array()
            .unwrap()
            .contains(&json!("2 endpoints hold 10.4.0.3; the first is used")),
        "{}",
        t["notes"]
    );
    // The same from the address: the first holder in store order (alt) is the source.
    let t = trace_json(
        &env,
        &["--from", "10.4.0.3", "--to", "shop/api", "--port", "80"],
    );
    assert_eq!(t["source"]["name"], "node1-k8s-alt-eth0");
    assert_eq!(t["verdict"], "Allow");
    // A workload without an address is known, but Felix does not program it.
    put_wep(
        &env,
        "shop",
        "pending",
        json!({"app": "api"}),
        &[],
        json!([]),
    );
    env.ctl(&["policy", "trace", "--from", "shop/pending", "--to", "shop/api"])
        .run()
        .fails(1)
        .stderr_is("WorkloadEndpoint shop/pending has no IP address: Felix does not program it (pod not running or not yet networked)\n");
    env.ctl(&["policy", "explain", "shop/pending"])
        .run()
        .fails(1)
        .stderr_has("has no IP address");
    // who-selects still reads every endpoint.
    let out = env
        .ctl(&["policy", "who-selects", "role == 'frontend'", "-o", "json"])
        .run();
    out.ok();
    let w: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = w["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["node1-k8s-alt-eth0", "node1-k8s-fe-eth0"]);
}

// ---- Kubernetes datastore ------------------------------------------------------------------

fn kdd_cfg(k: &KubeApiServer, dir: &std::path::Path) -> String {
    let cfg = dir.join("cfg");
    std::fs::write(
        &cfg,
        format!("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: kubernetes\n  kubeconfig: {}\n", k.kubeconfig.display()),
    )
    .unwrap();
    cfg.to_string_lossy().to_string()
}

/// A kube-apiserver with Calico's v1 CRDs, a calicoctl config for it (in the returned temp
/// dir) and the namespaces (name, `env` label) given; None when the test is skipped.
fn kdd_namespaces(
    namespaces: &[(&str, &str)],
) -> Option<(KubeApiServer, tempfile::TempDir, String)> {
    let k = kube_or_skip(CrdMode::V1)?;
    let dir = tempdir();
    let cfg = kdd_cfg(&k, dir.path());
    for (ns, env) in namespaces {
        post(
            &k,
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"env": env}}}),
        );
    }
    Some((k, dir, cfg))
}

fn post(k: &KubeApiServer, path: &str, body: Value) -> Value {
    let (code, v) = k.curl("POST", path, Some(&body));
    assert_eq!(code, 201, "{path}: {v}");
    v
}

/// Example 1's Kubernetes NetworkPolicies in `shop`: default-deny ingress, and TCP from
/// `app=web` to the named port `pg` of `app=db`.
fn post_example1_policies(k: &KubeApiServer) {
    let np = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies";
    post(
        k,
        np,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    );
    post(
        k,
        np,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-web-to-db", "namespace": "shop"},
        "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"protocol": "TCP", "port": "pg"}]}]}}),
    );
}

/// `policy trace --from FROM --to TO --port PORT -o json` (TCP), which must exit 0.
fn kdd_trace(cfg: &str, from: &str, to: &str, port: &str) -> Value {
    let out = calicoctl(&[
        "policy", "trace", "--from", from, "--to", to, "--port", port, "-o", "json", "-c", cfg,
    ])
    .run();
    out.ok();
    serde_json::from_str(&out.stdout).unwrap()
}

/// The names of the policies `who-selects --labels LABELS -n NS -o json` lists.
fn policies_selecting(cfg: &str, labels: &str, ns: &str) -> Vec<String> {
    let out = calicoctl(&[
        "policy",
        "who-selects",
        "--labels",
        labels,
        "-n",
        ns,
        "-o",
        "json",
        "-c",
        cfg,
    ])
    .run();
    out.ok();
    let w: Value = serde_json::from_str(&out.stdout).unwrap();
    w["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn running_pod(
    k: &KubeApiServer,
    ns: &str,
    name: &str,
    labels: Value,
    sa: &str,
    node: &str,
    ip: &str,
    ports: Value,
) {
    let mut spec =
        json!({"nodeName": node, "containers": [{"name": "c", "image": "x", "ports": ports}]});
    if !sa.is_empty() {
        spec["serviceAccountName"] = json!(sa);
    }
    let mut p = post(
        k,
        &format!("/api/v1/namespaces/{ns}/pods"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec}),
    );
    p["status"] = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]});
    let (code, v) = k.curl(
        "PUT",
        &format!("/api/v1/namespaces/{ns}/pods/{name}/status"),
        Some(&p),
    );
    assert_eq!(code, 200, "{v}");
}

#[test]
fn kdd_kubernetes_network_policies_and_service_account_selectors() {
    let Some((k, dir, cfg)) = kdd_namespaces(&[("shop", "prod"), ("dev", "dev")]) else {
        return;
    };
    post(
        &k,
        "/api/v1/namespaces/shop/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "frontend"}}}),
    );
    running_pod(
        &k,
        "shop",
        "web",
        json!({"app": "web"}),
        "web",
        "node1",
        "10.1.0.10",
        json!([]),
    );
    running_pod(
        &k,
        "shop",
        "db",
        json!({"app": "db"}),
        "",
        "node1",
        "10.1.0.20",
        json!([{"name": "pg", "containerPort": 5432}]),
    );
    running_pod(
        &k,
        "dev",
        "dbg",
        json!({"app": "dbg"}),
        "",
        "node2",
        "10.1.2.7",
        json!([]),
    );
    post_example1_policies(&k);
    let f = dir.path().join("np.yaml");
    std::fs::write(
        &f,
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: from-frontend, namespace: dev}\nspec:\n  selector: all()\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    source:\n      serviceAccounts: {selector: team == 'frontend'}\n      namespaceSelector: env == 'prod'\n",
    )
    .unwrap();
    calicoctl(&["apply", "-f", f.to_str().unwrap(), "-c", &cfg])
        .run()
        .ok();
    let trace = |from: &str, to: &str, port: &str| kdd_trace(&cfg, from, to, port);
    // Example 1 of Calico's semantics: web -> db:5432 allowed by the K8s policy (named port
    // pg), default-deny sorted after it.
    let t = trace("shop/web", "shop/db", "5432");
    assert_eq!(
        hops(&t),
        vec![
            hop("egress", "Allow", "profile kns.shop, egress rule 0"),
            hop(
                "ingress",
                "Allow",
                "KubernetesNetworkPolicy shop/allow-web-to-db, ingress rule 0"
            ),
        ]
    );
    // dbg (another namespace) and a non-pg port: end of tier default.
    assert_eq!(
        hops(&trace("dev/dbg", "shop/db", "5432"))[1],
        hop("ingress", "Deny", END_DEFAULT_INGRESS)
    );
    assert_eq!(
        hops(&trace("shop/web", "shop/db", "22"))[1],
        hop("ingress", "Deny", END_DEFAULT_INGRESS)
    );
    // serviceAccounts selector (pcsa.team) and namespaceSelector (pcns.env) in a rule.
    assert_eq!(
        hops(&trace("shop/web", "dev/dbg", "8080"))[1],
        hop(
            "ingress",
            "Allow",
            "NetworkPolicy dev/from-frontend, ingress rule 0"
        )
    );
    assert_eq!(
        hops(&trace("shop/db", "dev/dbg", "8080"))[1],
        hop("ingress", "Deny", END_DEFAULT_INGRESS)
    );
    // explain --pod: the K8s policies in tier default, in Felix's order; inherited labels.
    let out = calicoctl(&[
        "policy", "explain", "--pod", "shop/db", "-o", "yaml", "-c", &cfg,
    ])
    .run();
    out.ok()
        .stdout_has("  name: node1-k8s-db-eth0\n")
        .stdout_has("    pcns.env:\n      from: kns.shop\n      value: prod\n");
    let out = calicoctl(&[
        "policy", "explain", "--pod", "shop/db", "-o", "json", "-c", &cfg,
    ])
    .run();
    let e: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = e["ingress"]["tiers"][0]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["allow-web-to-db", "default-deny"]);
    let out = calicoctl(&["policy", "explain", "shop/web", "-c", &cfg]).run();
    out.ok()
        .stdout_has("    pcsa.team=frontend (from profile ksa.shop.web)\n")
        .stdout_has("  no policy applies: straight to the profiles\n");
    calicoctl(&["policy", "explain", "--pod", "shop/gone", "-c", &cfg])
        .run()
        .fails(1)
        .stderr_has("no WorkloadEndpoint or pod \"gone\" in namespace \"shop\"");
    // trace as text: dbg -> db:5432 ends in tier default, exit 1 with --exit-code.
    calicoctl(&[
        "policy",
        "trace",
        "--from",
        "dev/dbg",
        "--to",
        "shop/db",
        "--port",
        "5432",
        "--exit-code",
        "-c",
        &cfg,
    ])
    .run()
    .fails(1)
    .stdout_has("ingress at WorkloadEndpoint shop/node1-k8s-db-eth0: DENY\n")
    .stdout_has("\nVerdict: DENY\n");
    // who-selects on KDD: the pods of a selector (text), the policies of a label set (JSON; a
    // Kubernetes policy selects pods only, so the label set names the orchestrator).
    let out = calicoctl(&["policy", "who-selects", "app in {'web', 'dbg'}", "-c", &cfg]).run();
    out.ok();
    let mut rows = table(&out.stdout);
    rows[1..].sort();
    assert_eq!(
        rows,
        vec![
            "KIND NAMESPACE NAME NODE IPS",
            "WorkloadEndpoint dev node2-k8s-dbg-eth0 node2 10.1.2.7",
            "WorkloadEndpoint shop node1-k8s-web-eth0 node1 10.1.0.10",
        ]
    );
    assert_eq!(
        policies_selecting(&cfg, "app=db,projectcalico.org/orchestrator=k8s", "shop"),
        vec!["allow-web-to-db", "default-deny"]
    );
}

/// The reference's worked example 3 on a real kube-apiserver: two ClusterNetworkPolicies
/// (`policy.networking.k8s.io/v1alpha2`, tiers Admin and Baseline) with Example 1's Kubernetes
/// NetworkPolicies in `shop`. Each verdict and reason is the reference's, by hand.
#[test]
fn kdd_cluster_network_policies_worked_example_3() {
    let Some((k, _dir, cfg)) =
        kdd_namespaces(&[("shop", "prod"), ("tools", "prod"), ("dev", "dev")])
    else {
        return;
    };
    let pods = [
        ("shop", "web", "10.1.0.10", json!([])),
        (
            "shop",
            "db",
            "10.1.0.20",
            json!([{"name": "pg", "containerPort": 5432}]),
        ),
        ("tools", "graf", "10.1.1.5", json!([])),
        ("dev", "dbg", "10.1.2.7", json!([])),
    ];
    for (ns, name, ip, ports) in pods {
        running_pod(&k, ns, name, json!({"app": name}), "", "node1", ip, ports);
    }
    post_example1_policies(&k);
    let cnp = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies";
    post(
        &k,
        cnp,
        json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
               "metadata": {"name": "no-dev-to-prod"},
               "spec": {"tier": "Admin", "priority": 20,
                        "subject": {"namespaces": {"matchLabels": {"env": "prod"}}},
                        "ingress": [{"action": "Deny", "from": [{"namespaces": {"matchLabels": {"env": "dev"}}}]}]}}),
    );
    post(
        &k,
        cnp,
        json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
               "metadata": {"name": "baseline-deny"},
               "spec": {"tier": "Baseline", "priority": 50, "subject": {"namespaces": {}},
                        "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}),
    );
    let trace = |from: &str, to: &str, port: &str| kdd_trace(&cfg, from, to, port);
    // a) dbg -> graf:3000: kube-admin's no-dev-to-prod applies to graf (tools is prod) and its
    // rule matches dbg's namespace (env=dev).
    let t = trace("dev/dbg", "tools/graf", "3000");
    assert_eq!(
        hops(&t)[1],
        hop(
            "ingress",
            "Deny",
            "KubernetesClusterNetworkPolicy no-dev-to-prod, ingress rule 0"
        )
    );
    assert_eq!(t["verdict"], "Deny");
    // b) web -> graf:3000: kube-admin passes, no policy of tier default selects graf,
    // kube-baseline's rule matches any namespaced source.
    let t = trace("shop/web", "tools/graf", "3000");
    assert_eq!(
        hops(&t)[1],
        hop(
            "ingress",
            "Deny",
            "KubernetesClusterNetworkPolicy baseline-deny, ingress rule 0"
        )
    );
    // c) web -> db:5432: kube-admin passes, tier default allows; kube-baseline never consulted.
    let t = trace("shop/web", "shop/db", "5432");
    assert_eq!(
        hops(&t)[1],
        hop(
            "ingress",
            "Allow",
            "KubernetesNetworkPolicy shop/allow-web-to-db, ingress rule 0"
        )
    );
    assert!(
        !t["hops"][1].to_string().contains("kube-baseline"),
        "{}",
        t["hops"][1]
    );
    // d) an address outside the cluster -> graf:3000: both tiers pass (no namespaced object
    // holds 192.0.2.10), the profile kns.tools allows.
    let t = trace("192.0.2.10", "tools/graf", "3000");
    assert_eq!(
        hops(&t),
        vec![hop(
            "ingress",
            "Allow",
            "profile kns.tools, ingress rule 0 (after kube-admin, kube-baseline)"
        )]
    );
    assert_eq!(t["verdict"], "Allow");
    // explain: the three tiers for db, in Felix's order, with the converted selectors.
    let out = calicoctl(&["policy", "explain", "shop/db", "-c", &cfg]).run();
    out.ok()
        .stdout_has("  tier kube-admin (order 1000, default action Pass)\n    1. KubernetesClusterNetworkPolicy no-dev-to-prod (order 20, 1 rule)\n")
        .stdout_has("       selector: (projectcalico.org/orchestrator == 'k8s') && (pcns.env == \"prod\")\n")
        .stdout_has("  tier kube-baseline (order 10000000, default action Pass)\n    1. KubernetesClusterNetworkPolicy baseline-deny (order 50, 1 rule)\n");
    // who-selects: a pod of namespace dev (env=dev, from kns.dev) is selected by baseline only.
    assert_eq!(
        policies_selecting(&cfg, "app=x,projectcalico.org/orchestrator=k8s", "dev"),
        vec!["baseline-deny"]
    );
}
