//! Calico's worked examples: every expected verdict and reason is written by hand from
//! Calico's documented semantics, never produced by this module.

use serde_json::{Value, json};

use super::model::{self, PolicyKind};
use super::*;
use crate::datastore::Backend;
use crate::datastore::kdd::convert::{namespace_profile, pod_to_wep, serviceaccount_profile};

fn ns(name: &str, env: &str) -> Value {
    json!({"metadata": {"name": name, "uid": "u", "resourceVersion": "1", "labels": {"env": env}}})
}

fn pod(ns: &str, name: &str, labels: Value, sa: &str, ip: &str, node: &str, ports: Value) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": "u", "resourceVersion": "1"},
        "spec": {"nodeName": node, "serviceAccountName": sa,
                 "containers": [{"name": "c", "ports": ports}]},
        "status": {"podIP": ip, "phase": "Running"}
    })
}

fn knp(ns: &str, name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// The objects of the worked examples: namespaces shop/tools (env=prod), dev (env=dev);
/// pods web, db (port pg TCP 5432), graf, dbg; their kns./ksa. profiles.
fn world() -> SnapshotBuilder {
    let mut b = SnapshotBuilder::default();
    for (n, env) in [("shop", "prod"), ("tools", "prod"), ("dev", "dev")] {
        let p = model::profile(&namespace_profile(&ns(n, env))).unwrap();
        b.profiles.insert(p.name.clone(), p);
    }
    let sa = json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "1"}});
    let p = model::profile(&serviceaccount_profile(&sa)).unwrap();
    b.profiles.insert(p.name.clone(), p);
    for pd in [
        pod(
            "shop",
            "web",
            json!({"app": "web"}),
            "web",
            "10.1.0.10",
            "node1",
            json!([]),
        ),
        pod(
            "shop",
            "db",
            json!({"app": "db"}),
            "",
            "10.1.0.20",
            "node1",
            json!([{"name": "pg", "containerPort": 5432}]),
        ),
        pod(
            "tools",
            "graf",
            json!({"app": "graf"}),
            "",
            "10.1.1.5",
            "node2",
            json!([]),
        ),
        pod("dev", "dbg", json!({}), "", "10.1.2.7", "node2", json!([])),
    ] {
        let w = pod_to_wep(&pd).unwrap().unwrap();
        b.endpoints.push(model::workload_endpoint(&w).unwrap());
    }
    b
}

fn add_example1(b: &mut SnapshotBuilder) {
    let k = PolicyKind::KubernetesNetworkPolicy;
    let dd = knp(
        "shop",
        "default-deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    let allow = knp(
        "shop",
        "allow-web-to-db",
        json!({"podSelector": {"matchLabels": {"app": "db"}},
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                            "ports": [{"protocol": "TCP", "port": "pg"}]}]}),
    );
    b.policies.push(model::k8s_policy(k, &dd).unwrap());
    b.policies.push(model::k8s_policy(k, &allow).unwrap());
}

fn gnp(name: &str, spec: Value) -> model::Policy {
    model::calico_policy(
        PolicyKind::GlobalNetworkPolicy,
        &json!({"metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

fn np(ns: &str, name: &str, spec: Value) -> model::Policy {
    model::calico_policy(
        PolicyKind::NetworkPolicy,
        &json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}),
    )
    .unwrap()
}

fn tier(name: &str, order: f64, action: &str) -> model::Tier {
    model::tier(
        &json!({"metadata": {"name": name}, "spec": {"order": order, "defaultAction": action}}),
    )
}

fn peer(s: &str) -> PeerSpec {
    PeerSpec::parse(s, "default").unwrap()
}

fn tcp(snap: &Snapshot, from: &str, to: &str, port: u16) -> Trace {
    snap.trace(&TraceQuery {
        from: peer(from),
        to: peer(to),
        protocol: 6,
        source_port: None,
        destination_port: Some(port),
        icmp_type: None,
        icmp_code: None,
    })
    .unwrap()
}

/// (direction, verdict, decision kind, reason) of each hop.
fn hops(t: &Trace) -> Vec<(String, String, String, String)> {
    t.hops
        .iter()
        .map(|h| {
            (
                h.direction.as_str().to_string(),
                h.verdict.clone(),
                h.decision.kind.clone(),
                h.decision.reason.clone(),
            )
        })
        .collect()
}

fn h(d: &str, v: &str, k: &str, r: &str) -> (String, String, String, String) {
    (d.into(), v.into(), k.into(), r.into())
}

#[test]
fn example1_k8s_default_deny_plus_allow() {
    let mut b = world();
    add_example1(&mut b);
    let s = b.build(Backend::Kubernetes);
    // a) web -> db:5432/TCP: egress by profile kns.shop; ingress by allow-web-to-db rule 0.
    let t = tcp(&s, "shop/web", "shop/db", 5432);
    assert_eq!(
        hops(&t),
        vec![
            h(
                "egress",
                "Allow",
                "profile",
                "profile kns.shop, egress rule 0"
            ),
            h(
                "ingress",
                "Allow",
                "rule",
                "KubernetesNetworkPolicy shop/allow-web-to-db, ingress rule 0"
            ),
        ]
    );
    assert_eq!(t.verdict, "Allow");
    // The tie-break puts allow-web-to-db before default-deny; its rule 0 matched on the
    // protocol, the named port pg and the source selector.
    let first = &t.hops[1].steps[0];
    assert_eq!(first.policy.as_ref().unwrap().name, "allow-web-to-db");
    assert!(first.matched);
    let fields: Vec<&str> = first.criteria.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["protocol", "source.selector", "destination.ports"]);
    assert!(
        first.criteria[2].detail.contains("pg = 5432/TCP"),
        "{}",
        first.criteria[2].detail
    );
    // b) dbg -> db:5432: the source is outside shop; default-deny has no rules; tier default denies.
    let t = tcp(&s, "dev/dbg", "shop/db", 5432);
    assert_eq!(
        hops(&t),
        vec![
            h(
                "egress",
                "Allow",
                "profile",
                "profile kns.dev, egress rule 0"
            ),
            h(
                "ingress",
                "Deny",
                "endOfTier",
                "end of tier default: default action Deny (ingress policies applied, none allowed or passed)"
            ),
        ]
    );
    assert_eq!(t.verdict, "Deny");
    let kinds: Vec<(&str, String)> = t.hops[1]
        .steps
        .iter()
        .map(|st| {
            (
                st.kind.as_str(),
                st.policy
                    .as_ref()
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("rule", "allow-web-to-db".to_string()),
            ("noRuleMatched", "allow-web-to-db".to_string()),
            ("noRuleMatched", "default-deny".to_string()),
            ("endOfTier", String::new()),
        ]
    );
    // c) web -> db:22: as (b).
    let t = tcp(&s, "shop/web", "shop/db", 22);
    assert_eq!(t.verdict, "Deny");
    assert_eq!(t.hops[1].decision.kind, "endOfTier");
}

fn example2() -> SnapshotBuilder {
    let mut b = world();
    b.tiers.push(tier("security", 100.0, "Deny"));
    b.policies.push(gnp(
        "egress-guard",
        json!({"tier": "security", "order": 10, "selector": "all()", "types": ["Egress"],
               "egress": [{"action": "Deny", "destination": {"selector": "threat == \"high\""}},
                          {"action": "Pass"}]}),
    ));
    b.netsets.push(model::network_set(
        &json!({"metadata": {"name": "bad", "labels": {"threat": "high"}}, "spec": {"nets": ["198.51.100.0/24"]}}),
        true,
    ));
    b
}

#[test]
fn example2_tier_pass_and_global_network_set() {
    let s = example2().build(Backend::Kubernetes);
    // a) denied by egress-guard rule 0: the destination is in GlobalNetworkSet bad.
    let t = tcp(&s, "shop/web", "198.51.100.7", 443);
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Deny",
            "rule",
            "GlobalNetworkPolicy egress-guard, egress rule 0"
        )]
    );
    assert_eq!(t.verdict, "Deny");
    assert_eq!(t.destination.kind, "External");
    // b) r1 Pass leaves tier security; no egress policy in default; profile kns.shop allows.
    let t = tcp(&s, "shop/web", "203.0.113.9", 443);
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Allow",
            "profile",
            "profile kns.shop, egress rule 0 (after security)"
        )]
    );
    assert_eq!(t.hops[0].passed_tiers, vec!["security".to_string()]);
}

#[test]
fn example2c_namespaced_rule_never_matches_global_sets_without_global() {
    let mut b = world();
    b.tiers.push(tier("security", 100.0, "Deny"));
    b.netsets = example2().netsets;
    b.policies.push(np(
        "shop",
        "egress-guard",
        json!({"tier": "security", "order": 10, "selector": "all()", "types": ["Egress"],
               "egress": [{"action": "Deny", "destination": {"selector": "threat == \"high\""}},
                          {"action": "Pass"}]}),
    ));
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "shop/web", "198.51.100.7", 443);
    assert_eq!(t.verdict, "Allow");
    assert_eq!(t.hops[0].passed_tiers, vec!["security".to_string()]);
    // With namespaceSelector global() the set matches again.
    let mut b = world();
    b.tiers.push(tier("security", 100.0, "Deny"));
    b.netsets = example2().netsets;
    b.policies.push(np(
        "shop",
        "egress-guard",
        json!({"tier": "security", "order": 10, "selector": "all()", "types": ["Egress"],
               "egress": [{"action": "Deny", "destination": {"selector": "threat == \"high\"", "namespaceSelector": "global()"}},
                          {"action": "Pass"}]}),
    ));
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "shop/web", "198.51.100.7", 443);
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Deny",
            "rule",
            "NetworkPolicy shop/egress-guard, egress rule 0"
        )]
    );
}

fn cnp(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
           "metadata": {"name": name}, "spec": spec})
}

/// Example 3's two ClusterNetworkPolicies, as written in Kubernetes, plus Example 1.
fn example3() -> SnapshotBuilder {
    let mut b = world();
    add_example1(&mut b);
    for o in [
        cnp(
            "no-dev-to-prod",
            json!({"tier": "Admin", "priority": 20,
                   "subject": {"namespaces": {"matchLabels": {"env": "prod"}}},
                   "ingress": [{"action": "Deny", "from": [{"namespaces": {"matchLabels": {"env": "dev"}}}]}]}),
        ),
        cnp(
            "baseline-deny",
            json!({"tier": "Baseline", "priority": 50, "subject": {"namespaces": {}},
                   "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}),
        ),
    ] {
        b.policies.push(model::cluster_network_policy(&o).unwrap());
    }
    b
}

#[test]
fn example3_admin_and_baseline_tiers() {
    let s = example3().build(Backend::Kubernetes);
    // The conversion of the reference: kube-admin, order 20, Ingress only, the subject's
    // namespaces as pcns. labels; the rule's peer namespaces likewise, no orchestrator term.
    let p = |n: &str| s.policies.iter().find(|p| p.name == n).unwrap();
    let admin = p("no-dev-to-prod");
    assert_eq!(admin.kind, PolicyKind::KubernetesClusterNetworkPolicy);
    assert_eq!(
        (admin.tier.as_str(), admin.order),
        ("kube-admin", Some(20.0))
    );
    assert_eq!(
        admin.selector.text,
        "(projectcalico.org/orchestrator == 'k8s') && (pcns.env == \"prod\")"
    );
    assert!(admin.egress.is_none());
    assert_eq!(admin.ingress.as_ref().unwrap().len(), 1);
    let base = p("baseline-deny");
    assert_eq!(
        (base.tier.as_str(), base.order),
        ("kube-baseline", Some(50.0))
    );
    assert_eq!(
        base.selector.text,
        "(projectcalico.org/orchestrator == 'k8s') && (has(projectcalico.org/namespace))"
    );
    // a) dbg -> graf:3000 denied by no-dev-to-prod rule 0.
    let t = tcp(&s, "dev/dbg", "tools/graf", 3000);
    assert_eq!(
        hops(&t)[1],
        h(
            "ingress",
            "Deny",
            "rule",
            "KubernetesClusterNetworkPolicy no-dev-to-prod, ingress rule 0"
        )
    );
    // b) web -> graf: kube-admin passes (default action), default tier skipped, baseline denies.
    let t = tcp(&s, "shop/web", "tools/graf", 3000);
    assert_eq!(
        hops(&t)[1],
        h(
            "ingress",
            "Deny",
            "rule",
            "KubernetesClusterNetworkPolicy baseline-deny, ingress rule 0"
        )
    );
    assert_eq!(t.hops[1].passed_tiers, vec!["kube-admin".to_string()]);
    // c) web -> db:5432 allowed by allow-web-to-db; kube-baseline never consulted.
    let t = tcp(&s, "shop/web", "shop/db", 5432);
    assert_eq!(
        hops(&t)[1],
        h(
            "ingress",
            "Allow",
            "rule",
            "KubernetesNetworkPolicy shop/allow-web-to-db, ingress rule 0"
        )
    );
    assert!(
        t.hops[1]
            .steps
            .iter()
            .all(|st| st.tier.as_deref() != Some("kube-baseline"))
    );
    // d) outside -> graf: both tiers pass, profile kns.tools allows.
    let t = tcp(&s, "192.0.2.10", "tools/graf", 3000);
    assert_eq!(
        hops(&t),
        vec![h(
            "ingress",
            "Allow",
            "profile",
            "profile kns.tools, ingress rule 0 (after kube-admin, kube-baseline)"
        )]
    );
    assert_eq!(t.verdict, "Allow");
}

/// ClusterNetworkPolicy conversion beyond Example 3: a pods subject, protocols grouped per
/// protocol (named ports first, then TCP, UDP), egress networks, and rules that fail closed.
#[test]
fn cluster_network_policy_protocols_networks_and_failed_rules() {
    let mut b = world();
    b.policies.push(
        model::cluster_network_policy(&cnp(
            "mixed",
            json!({"tier": "Admin", "priority": 5,
                   "subject": {"pods": {"namespaceSelector": {"matchLabels": {"env": "prod"}},
                                        "podSelector": {"matchLabels": {"app": "db"}}}},
                   "ingress": [
                       {"action": "Accept",
                        "from": [{"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}}],
                        "protocols": [{"tcp": {"destinationPort": {"number": 5432}}},
                                      {"udp": {"destinationPort": {"range": {"start": 100, "end": 200}}}},
                                      {"destinationNamedPort": "pg"}]},
                       {"action": "Accept", "from": [{}]},
                       {"action": "Pass", "from": [{"domainNames": ["example.com"]}]}],
                   "egress": [{"action": "Deny", "to": [{"networks": ["192.0.2.0/24"]}]}]}),
        ))
        .unwrap(),
    );
    let s = b.build(Backend::Kubernetes);
    let p = &s.policies[0];
    // The pods subject: orchestrator, the pod labels, the namespace labels as pcns.
    assert_eq!(
        p.selector.text,
        "(projectcalico.org/orchestrator == 'k8s' && app == 'db') && (pcns.env == \"prod\")"
    );
    // Accept → 3 rules (named port pg, TCP 5432, UDP 100:200); the failed Accept is dropped;
    // the failed Pass is an unconditional Deny.
    assert_eq!(p.ingress.as_ref().unwrap().len(), 4);
    assert_eq!(p.egress.as_ref().unwrap().len(), 1);
    let rule = |n: usize| format!("KubernetesClusterNetworkPolicy mixed, ingress rule {n}");
    // web -> db:5432/TCP hits the named port pg (rule 0).
    let t = tcp(&s, "shop/web", "shop/db", 5432);
    assert_eq!(hops(&t)[1], h("ingress", "Allow", "rule", &rule(0)));
    // UDP 150 is in the range of rule 2.
    let t = s
        .trace(&TraceQuery {
            from: peer("shop/web"),
            to: peer("shop/db"),
            protocol: 17,
            source_port: None,
            destination_port: Some(150),
            icmp_type: None,
            icmp_code: None,
        })
        .unwrap();
    assert_eq!(hops(&t)[1], h("ingress", "Allow", "rule", &rule(2)));
    // TCP 22 misses rules 0-2 and meets the fail-closed Deny.
    let t = tcp(&s, "shop/web", "shop/db", 22);
    assert_eq!(hops(&t)[1], h("ingress", "Deny", "rule", &rule(3)));
    // graf (tools) -> db: graf is a pod in any namespace but not app=web: fail-closed Deny too.
    let t = tcp(&s, "tools/graf", "shop/db", 5432);
    assert_eq!(hops(&t)[1], h("ingress", "Deny", "rule", &rule(3)));
    // Egress networks: db -> 192.0.2.5 denied; elsewhere the tier passes to the profile.
    let t = tcp(&s, "shop/db", "192.0.2.5", 80);
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Deny",
            "rule",
            "KubernetesClusterNetworkPolicy mixed, egress rule 0"
        )]
    );
    let t = tcp(&s, "shop/db", "198.51.100.1", 80);
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Allow",
            "profile",
            "profile kns.shop, egress rule 0 (after kube-admin)"
        )]
    );
    // web is not in the subject: no ClusterNetworkPolicy applies to it.
    let t = tcp(&s, "shop/db", "shop/web", 80);
    assert_eq!(hops(&t)[1].2, "profile");
}

#[test]
fn cluster_network_policy_types_tiers_and_subjects() {
    // Only a failed Accept rule: no rule is left, so `types` is empty and Felix has the
    // policy govern both directions (with no rules: the tier's Pass).
    let p = model::cluster_network_policy(&cnp(
        "nothing-left",
        json!({"tier": "Baseline", "priority": 1, "subject": {"namespaces": {}},
               "ingress": [{"action": "Accept", "from": [{}]}]}),
    ))
    .unwrap();
    assert_eq!(p.ingress.as_ref().map(Vec::len), Some(0));
    assert_eq!(p.egress.as_ref().map(Vec::len), Some(0));
    // Egress only: governs egress only.
    let p = model::cluster_network_policy(&cnp(
        "egress-only",
        json!({"tier": "Admin", "priority": 1, "subject": {"namespaces": {}},
               "egress": [{"action": "Pass", "to": [{"namespaces": {}}]}]}),
    ))
    .unwrap();
    assert!(p.ingress.is_none());
    assert_eq!(p.egress.as_ref().map(Vec::len), Some(1));
    // A tier other than Admin/Baseline, or a subject with neither field: ignored.
    for spec in [
        json!({"tier": "Developer", "priority": 1, "subject": {"namespaces": {}}}),
        json!({"tier": "Admin", "priority": 1, "subject": {}}),
    ] {
        assert!(model::cluster_network_policy(&cnp("x", spec)).is_err());
    }
}

fn example4() -> SnapshotBuilder {
    let mut b = world();
    b.endpoints.push(model::host_endpoint(&json!({
        "metadata": {"name": "node1-eth0", "labels": {"role": "node"}},
        "spec": {"node": "node1", "interfaceName": "eth0", "expectedIPs": ["10.0.0.11"]}
    })));
    b
}

#[test]
fn example4_host_endpoint_without_policy() {
    let s = example4().build(Backend::Kubernetes);
    // a) failsafe inbound TCP 22.
    let t = tcp(&s, "10.0.0.50", "10.0.0.11", 22);
    assert_eq!(
        hops(&t),
        vec![h("ingress", "Allow", "failsafe", "failsafe ingress TCP/22")]
    );
    // b) not failsafe, no tiers, no profiles.
    let t = tcp(&s, "10.0.0.50", "10.0.0.11", 8080);
    assert_eq!(
        hops(&t),
        vec![h(
            "ingress",
            "Deny",
            "noProfileMatched",
            "no policy or profile allowed: ingress denied (the endpoint has no profiles)"
        )]
    );
    // c) web on node1 -> its host: egress allowed, then DefaultEndpointToHostAction ACCEPT.
    let t = tcp(&s, "shop/web", "10.0.0.11", 8080);
    assert_eq!(t.verdict, "Allow");
    assert_eq!(t.hops[1].decision.kind, "endpointToHostAction");
    // d) outside -> web: the workload's ingress decides (kns.shop).
    let t = tcp(&s, "10.0.0.50", "shop/web", 80);
    assert_eq!(
        hops(&t),
        vec![h(
            "ingress",
            "Allow",
            "profile",
            "profile kns.shop, ingress rule 0"
        )]
    );
    // e) host process on node1 -> web: always allowed.
    let t = tcp(&s, "hostendpoint/node1-eth0", "shop/web", 80);
    assert_eq!(t.hops.len(), 1);
    assert_eq!(t.hops[0].decision.kind, "hostToLocalWorkload");
    assert_eq!(t.verdict, "Allow");
}

#[test]
fn example4f_rule_selector_matches_host_endpoint_expected_ips() {
    let mut b = example4();
    b.policies.push(gnp(
        "no-nodes",
        json!({"selector": "app == 'graf'", "types": ["Egress"],
               "egress": [{"action": "Deny", "destination": {"selector": "role == \"node\""}}]}),
    ));
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "tools/graf", "10.0.0.11", 8080);
    assert_eq!(
        hops(&t)[0],
        h(
            "egress",
            "Deny",
            "rule",
            "GlobalNetworkPolicy no-nodes, egress rule 0"
        )
    );
}

#[test]
fn example4f_without_expected_ips_the_selector_never_matches_the_host() {
    // With a second rule that allows: the host's address decides which rule matches.
    let no_nodes = |b: &mut SnapshotBuilder| {
        b.policies.push(gnp(
            "no-nodes",
            json!({"selector": "app == 'graf'", "types": ["Egress"],
                   "egress": [{"action": "Deny", "destination": {"selector": "role == \"node\""}},
                              {"action": "Allow"}]}),
        ));
    };
    let mut b = example4();
    no_nodes(&mut b);
    let s = b.build(Backend::Kubernetes);
    assert_eq!(
        hops(&tcp(&s, "tools/graf", "10.0.0.11", 8080))[0],
        h(
            "egress",
            "Deny",
            "rule",
            "GlobalNetworkPolicy no-nodes, egress rule 0"
        )
    );
    let mut b = world();
    b.endpoints.push(model::host_endpoint(&json!({
        "metadata": {"name": "node1-eth0", "labels": {"role": "node"}},
        "spec": {"node": "node1", "interfaceName": "eth0"}
    })));
    no_nodes(&mut b);
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "tools/graf", "10.0.0.11", 8080);
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Allow",
            "rule",
            "GlobalNetworkPolicy no-nodes, egress rule 1"
        )]
    );
    assert_eq!(t.destination.kind, "External");
}

fn example5(global: bool) -> Snapshot {
    let mut b = world();
    let batch = pod(
        "shop",
        "batch",
        json!({"role": "batch"}),
        "",
        "10.1.0.30",
        "node1",
        json!([]),
    );
    b.endpoints
        .push(model::workload_endpoint(&pod_to_wep(&batch).unwrap().unwrap()).unwrap());
    let spec = json!({"selector": "app == \"db\"", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP",
                     "source": {"notSelector": "role == \"batch\""},
                     "destination": {"ports": [5432]}}]});
    b.policies.push(if global {
        gnp("db-open", spec)
    } else {
        np("shop", "db-open", spec)
    });
    b.build(Backend::Kubernetes)
}

#[test]
fn example5_not_selector_scoping() {
    let s = example5(false);
    let allow = "NetworkPolicy shop/db-open, ingress rule 0";
    let deny = "end of tier default: default action Deny (ingress policies applied, none allowed or passed)";
    for (from, verdict, reason) in [
        ("shop/web", "Allow", allow),
        ("shop/batch", "Deny", deny),
        ("dev/dbg", "Deny", deny),
        ("192.0.2.10", "Deny", deny),
    ] {
        let t = tcp(&s, from, "shop/db", 5432);
        let last = t.hops.last().unwrap();
        assert_eq!(
            (from, last.verdict.as_str(), last.decision.reason.as_str()),
            (from, verdict, reason)
        );
    }
    let s = example5(true);
    for (from, verdict) in [
        ("shop/web", "Allow"),
        ("shop/batch", "Deny"),
        ("dev/dbg", "Allow"),
        ("192.0.2.10", "Allow"),
    ] {
        let t = tcp(&s, from, "shop/db", 5432);
        assert_eq!(
            (from, t.hops.last().unwrap().verdict.as_str()),
            (from, verdict)
        );
    }
}

#[test]
fn example5_global_rule_with_selector_all_or_no_source_criteria() {
    // In a GlobalNetworkPolicy, source.selector all() matches any address some endpoint or
    // network set holds (dbg in dev), not an address outside (192.0.2.10); with no source
    // criteria at all, everything matches.
    let with_source = |source: Value| {
        let mut b = world();
        b.policies.push(gnp(
            "db-open",
            json!({"selector": "app == \"db\"", "types": ["Ingress"],
                   "ingress": [{"action": "Allow", "protocol": "TCP", "source": source,
                                "destination": {"ports": [5432]}}]}),
        ));
        b.build(Backend::Kubernetes)
    };
    let allow = "GlobalNetworkPolicy db-open, ingress rule 0";
    let deny = "end of tier default: default action Deny (ingress policies applied, none allowed or passed)";
    for (source, from, reason) in [
        (json!({"selector": "all()"}), "dev/dbg", allow),
        (json!({"selector": "all()"}), "192.0.2.10", deny),
        (json!({}), "dev/dbg", allow),
        (json!({}), "192.0.2.10", allow),
    ] {
        let s = with_source(source.clone());
        let t = tcp(&s, from, "shop/db", 5432);
        assert_eq!(
            (
                &source,
                from,
                t.hops.last().unwrap().decision.reason.as_str()
            ),
            (&source, from, reason)
        );
    }
}

#[test]
fn staged_policy_reported_separately() {
    let mut b = world();
    add_example1(&mut b);
    // A staged replacement of allow-web-to-db that only opens port 22.
    let staged = knp(
        "shop",
        "allow-web-to-db",
        json!({"stagedAction": "Set", "podSelector": {"matchLabels": {"app": "db"}},
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                            "ports": [{"protocol": "TCP", "port": 22}]}]}),
    );
    b.policies
        .push(model::k8s_policy(PolicyKind::StagedKubernetesNetworkPolicy, &staged).unwrap());
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "shop/web", "shop/db", 5432);
    assert_eq!(t.verdict, "Allow");
    let st = t.staged.unwrap();
    assert_eq!(st.verdict, "Deny");
    assert!(st.would_change);
    assert_eq!(st.hops[1].decision.kind, "endOfTier");
    // A staged-only tier entry behaves as Pass for the enforced verdict (explain shows it).
    let e = s.explain(s.find(&peer("shop/db")).unwrap());
    let pols: Vec<(String, bool)> = e.ingress.tiers[0]
        .policies
        .iter()
        .map(|p| (p.policy.kind.clone(), p.staged))
        .collect();
    assert_eq!(
        pols,
        vec![
            ("KubernetesNetworkPolicy".to_string(), false),
            ("StagedKubernetesNetworkPolicy".to_string(), true),
            ("KubernetesNetworkPolicy".to_string(), false),
        ]
    );
}

#[test]
fn tier_with_only_staged_policies_passes() {
    let mut b = world();
    b.tiers.push(tier("security", 100.0, "Deny"));
    b.policies.push(
        model::calico_policy(
            PolicyKind::StagedGlobalNetworkPolicy,
            &json!({"metadata": {"name": "lockdown"}, "spec": {"tier": "security", "selector": "all()", "types": ["Ingress"]}}),
        )
        .unwrap(),
    );
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "shop/web", "shop/db", 5432);
    assert_eq!(t.verdict, "Allow");
    let st = t.staged.unwrap();
    assert_eq!(st.verdict, "Deny");
    assert!(st.would_change);
    let e = s.explain(s.find(&peer("shop/db")).unwrap());
    assert_eq!(
        e.ingress.tiers[0].end_of_tier,
        "Pass (only staged policies)"
    );
}

#[test]
fn explain_lists_tiers_policies_labels_and_profiles() {
    let s = example3().build(Backend::Kubernetes);
    let e = s.explain(s.find(&peer("shop/db")).unwrap());
    let tiers: Vec<(&str, Vec<&str>, &str)> = e
        .ingress
        .tiers
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.policies.iter().map(|p| p.policy.name.as_str()).collect(),
                t.end_of_tier.as_str(),
            )
        })
        .collect();
    assert_eq!(
        tiers,
        vec![
            ("kube-admin", vec!["no-dev-to-prod"], "Pass"),
            ("default", vec!["allow-web-to-db", "default-deny"], "Deny"),
            ("kube-baseline", vec!["baseline-deny"], "Pass"),
        ]
    );
    assert!(e.egress.tiers.is_empty());
    let admin = &e.ingress.tiers[0].policies[0];
    assert_eq!(
        admin.matched_labels.get("pcns.env").map(String::as_str),
        Some("prod")
    );
    assert_eq!(e.endpoint.inherited_labels["pcns.env"].from, "kns.shop");
    assert_eq!(e.ingress.profiles[0].name, "kns.shop");
}

#[test]
fn ipv4_only_not_nets_never_match_ipv6_and_icmp_rules() {
    let mut b = world();
    let v6 = pod(
        "shop",
        "v6",
        json!({"app": "v6"}),
        "",
        "fd00::5",
        "node1",
        json!([]),
    );
    b.endpoints
        .push(model::workload_endpoint(&pod_to_wep(&v6).unwrap().unwrap()).unwrap());
    b.policies.push(gnp(
        "deny-outside",
        json!({"selector": "app == 'v6' || app == 'web'", "order": 1, "types": ["Egress"],
               "egress": [{"action": "Deny", "destination": {"notNets": ["10.0.0.0/8"]}},
                          {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}},
                          {"action": "Allow", "protocol": "ICMPv6"}]}),
    ));
    let s = b.build(Backend::Kubernetes);
    // IPv6: the IPv4-only notNets drops rule 0; ICMP (v4-only) skipped; ICMPv6 allows.
    let t = s
        .trace(&TraceQuery {
            from: peer("shop/v6"),
            to: peer("2001:db8::1"),
            protocol: 58,
            source_port: None,
            destination_port: None,
            icmp_type: Some(128),
            icmp_code: Some(0),
        })
        .unwrap();
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Allow",
            "rule",
            "GlobalNetworkPolicy deny-outside, egress rule 2"
        )]
    );
    // IPv4 echo to outside 10/8: rule 0 denies.
    let t = s
        .trace(&TraceQuery {
            from: peer("shop/web"),
            to: peer("192.0.2.1"),
            protocol: 1,
            source_port: None,
            destination_port: None,
            icmp_type: Some(8),
            icmp_code: Some(0),
        })
        .unwrap();
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Deny",
            "rule",
            "GlobalNetworkPolicy deny-outside, egress rule 0"
        )]
    );
    // IPv4 echo inside 10/8: rule 1 (ICMP type 8) allows.
    let t = s
        .trace(&TraceQuery {
            from: peer("shop/web"),
            to: peer("10.9.9.9"),
            protocol: 1,
            source_port: None,
            destination_port: None,
            icmp_type: Some(8),
            icmp_code: Some(0),
        })
        .unwrap();
    assert_eq!(
        hops(&t),
        vec![h(
            "egress",
            "Allow",
            "rule",
            "GlobalNetworkPolicy deny-outside, egress rule 1"
        )]
    );
}

#[test]
fn service_account_and_namespace_selectors_in_rules() {
    let mut b = world();
    b.policies.push(np(
        "tools",
        "from-web-sa",
        json!({"selector": "app == 'graf'", "types": ["Ingress"],
               "ingress": [{"action": "Allow", "source": {"serviceAccounts": {"names": ["web"]}, "namespaceSelector": "env == 'prod'"}}]}),
    ));
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "shop/web", "tools/graf", 3000);
    assert_eq!(
        hops(&t)[1],
        h(
            "ingress",
            "Allow",
            "rule",
            "NetworkPolicy tools/from-web-sa, ingress rule 0"
        )
    );
    // db has no service account: denied at the end of tier default.
    let t = tcp(&s, "shop/db", "tools/graf", 3000);
    assert_eq!(hops(&t)[1].2, "endOfTier");
}

#[test]
fn missing_tier_sorts_last_and_denies() {
    let mut b = world();
    b.policies.push(gnp(
        "ghost",
        json!({"tier": "ghost", "selector": "app == 'db'", "types": ["Ingress"]}),
    ));
    let s = b.build(Backend::Kubernetes);
    assert_eq!(s.tiers.last().unwrap().name, "ghost");
    let t = tcp(&s, "shop/web", "shop/db", 5432);
    assert_eq!(
        hops(&t)[1].3,
        "end of tier ghost: default action Deny (ingress policies applied, none allowed or passed)"
    );
}

#[test]
fn missing_profile_denies() {
    let mut b = SnapshotBuilder::default();
    b.endpoints.push(
        model::workload_endpoint(
            &pod_to_wep(&pod("gone", "p", json!({}), "", "10.2.0.1", "n", json!([])))
                .unwrap()
                .unwrap(),
        )
        .unwrap(),
    );
    let s = b.build(Backend::Kubernetes);
    let t = tcp(&s, "10.9.0.1", "gone/p", 80);
    assert_eq!(
        hops(&t),
        vec![h(
            "ingress",
            "Deny",
            "profile",
            "profile kns.gone, ingress rule 0"
        )]
    );
}

#[test]
fn peer_spec_forms_and_unknown_endpoints() {
    assert_eq!(
        peer("a/b"),
        PeerSpec::Workload {
            namespace: "a".into(),
            name: "b".into()
        }
    );
    assert_eq!(
        peer("b"),
        PeerSpec::Workload {
            namespace: "default".into(),
            name: "b".into()
        }
    );
    assert_eq!(peer("hep/h1"), PeerSpec::Host("h1".into()));
    assert!(matches!(peer("10.0.0.0/24"), PeerSpec::Address(_, Some(_))));
    assert!(PeerSpec::parse("a/b/c", "default").is_err());
    let s = world().build(Backend::Kubernetes);
    let e = s.find(&peer("shop/nope")).unwrap_err().to_string();
    assert!(
        e.contains("no WorkloadEndpoint or pod \"nope\" in namespace \"shop\""),
        "{e}"
    );
}

#[test]
fn who_selects_endpoints_and_policies() {
    let s = example3().build(Backend::Kubernetes);
    let eps = s.endpoints_selected("pcns.env == 'prod'").unwrap();
    let names: Vec<&str> = eps.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "node1-k8s-web-eth0",
            "node1-k8s-db-eth0",
            "node2-k8s-graf-eth0"
        ]
    );
    let labels = [("app", "db"), ("projectcalico.org/orchestrator", "k8s")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let pols: Vec<String> = s
        .policies_selecting(&labels, Some("shop"))
        .iter()
        .map(|p| p.policy.name.clone())
        .collect();
    assert_eq!(
        pols,
        vec![
            "no-dev-to-prod",
            "allow-web-to-db",
            "default-deny",
            "baseline-deny"
        ]
    );
    assert!(s.endpoints_selected("app ==").is_err());
}

// ---- properties over generated worlds -------------------------------------------------------

/// A small deterministic generator (xorshift) driven by proptest's seeds.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const SELECTORS: &[&str] = &[
    "all()",
    "app == 'x'",
    "app != 'y'",
    "has(role)",
    "app in {'x', 'z'}",
    "pcns.env == 'prod'",
    "!has(app)",
];

fn random_rule(g: &mut Gen) -> Value {
    let mut r = json!({"action": g.pick(&["Allow", "Deny", "Pass", "Log"])});
    if g.below(2) == 0 {
        r["protocol"] = json!(g.pick(&["TCP", "UDP"]));
        if g.below(2) == 0 {
            r["destination"] = json!({"ports": [g.pick(&["80", "443", "http", "1000:2000"])]});
        }
    }
    match g.below(4) {
        0 => r["source"] = json!({"selector": g.pick(SELECTORS)}),
        1 => r["source"] = json!({"notSelector": g.pick(SELECTORS)}),
        2 => {
            r["source"] = json!({"nets": [g.pick(&["10.0.0.0/24", "10.0.1.0/24", "192.0.2.0/24"])]})
        }
        _ => {}
    }
    r
}

/// Random endpoints, profiles, tiers and policies; staged ones only when `staged`.
fn random_world(seed: u64, staged: bool) -> SnapshotBuilder {
    let mut g = Gen(seed | 1);
    let mut b = SnapshotBuilder::default();
    for (n, env) in [("a", "prod"), ("b", "dev")] {
        if g.below(5) == 0 {
            continue; // a missing namespace profile
        }
        let mut p = model::profile(&namespace_profile(&ns(n, env))).unwrap();
        if g.below(3) == 0 {
            p.ingress.clear();
            p.egress.clear();
        }
        b.profiles.insert(p.name.clone(), p);
    }
    for i in 0..6 {
        let ns = if i % 2 == 0 { "a" } else { "b" };
        let mut labels = json!({"app": g.pick(&["x", "y", "z"])});
        if g.below(2) == 0 {
            labels["role"] = json!("r");
        }
        let ports = json!([{"name": "http", "containerPort": 8080 + g.below(2)}]);
        let p = pod(
            ns,
            &format!("p{i}"),
            labels,
            "",
            &format!("10.0.{}.{}", i % 2, i + 1),
            "n1",
            ports,
        );
        b.endpoints
            .push(model::workload_endpoint(&pod_to_wep(&p).unwrap().unwrap()).unwrap());
    }
    for t in 0..g.below(3) {
        b.tiers.push(tier(
            &format!("t{t}"),
            (g.below(2000) + 1) as f64,
            g.pick(&["Pass", "Deny"]),
        ));
    }
    for i in 0..g.below(9) {
        let tiers = ["default", "t0", "t1", "t2"];
        let mut spec = json!({"tier": tiers[g.below(4) as usize], "selector": g.pick(SELECTORS)});
        if g.below(3) > 0 {
            spec["order"] = json!(g.below(100));
        }
        spec["types"] = match g.below(3) {
            0 => json!(["Ingress"]),
            1 => json!(["Egress"]),
            _ => json!(["Ingress", "Egress"]),
        };
        for d in ["ingress", "egress"] {
            let n = g.below(4);
            spec[d] = Value::Array((0..n).map(|_| random_rule(&mut g)).collect());
        }
        let kind = match g.below(if staged { 3 } else { 2 }) {
            0 => PolicyKind::GlobalNetworkPolicy,
            1 => PolicyKind::NetworkPolicy,
            _ => PolicyKind::StagedGlobalNetworkPolicy,
        };
        let mut obj = json!({"metadata": {"name": format!("pol{i}")}, "spec": spec});
        if kind == PolicyKind::NetworkPolicy {
            obj["metadata"]["namespace"] = json!(if g.below(2) == 0 { "a" } else { "b" });
        }
        // A policy naming a tier that was not generated exercises the missing-tier rules.
        b.policies.push(model::calico_policy(kind, &obj).unwrap());
    }
    b
}

/// Every (source, destination) pair of the world's endpoints plus an outside address, over
/// TCP to a port drawn from the seed.
fn all_traces(s: &Snapshot, port: u16) -> Vec<Trace> {
    let mut peers: Vec<PeerSpec> = s
        .endpoints
        .iter()
        .map(|e| PeerSpec::Workload {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
        })
        .collect();
    peers.push(PeerSpec::Address("192.0.2.9".parse().unwrap(), None));
    let mut out = Vec::new();
    for a in &peers {
        for b in &peers {
            if a == b {
                continue;
            }
            let q = TraceQuery {
                from: a.clone(),
                to: b.clone(),
                protocol: 6,
                source_port: None,
                destination_port: Some(port),
                icmp_type: None,
                icmp_code: None,
            };
            out.push(s.trace(&q).unwrap());
        }
    }
    out
}

fn allow_all_first(mut b: SnapshotBuilder) -> Snapshot {
    let mut first = tier("aaa-first", 1.0, "Deny");
    first.order = Some(-1.0);
    b.tiers.push(first);
    b.policies.push(gnp(
        "allow-all",
        json!({"tier": "aaa-first", "selector": "all()", "types": ["Ingress", "Egress"],
               "ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
    ));
    b.build(Backend::Etcd)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// An Allow-all policy in a new first tier never turns an Allow into a Deny (it makes every
    /// hop Allow, decided by that policy).
    #[test]
    fn allow_all_in_first_tier_never_denies(seed in proptest::prelude::any::<u64>(), port in 1u16..3000) {
        let before = all_traces(&random_world(seed, true).build(Backend::Etcd), port);
        let after = all_traces(&allow_all_first(random_world(seed, true)), port);
        for (x, y) in before.iter().zip(&after) {
            proptest::prop_assert!(x.verdict != "Allow" || y.verdict == "Allow");
            for h in &y.hops {
                proptest::prop_assert_eq!(&h.decision.reason, &format!("GlobalNetworkPolicy allow-all, {} rule 0", h.direction.as_str()));
            }
        }
    }

    /// An endpoint that no enforced policy selects in a direction is decided by its profiles.
    #[test]
    fn unselected_endpoint_falls_to_profiles(seed in proptest::prelude::any::<u64>(), port in 1u16..3000) {
        let s = random_world(seed, true).build(Backend::Etcd);
        for t in all_traces(&s, port) {
            for h in &t.hops {
                let idx = s.endpoints.iter().position(|e| e.display() == h.endpoint).unwrap();
                let e = &s.endpoints[idx];
                let selected = s.policies.iter().any(|p| !p.kind.is_staged() && p.rules(h.direction).is_some() && s.matches(&p.selector.sel, &e.labels, &e.profiles));
                if !selected {
                    proptest::prop_assert!(h.decision.kind == "profile" || h.decision.kind == "noProfileMatched", "{:?}", h.decision);
                    proptest::prop_assert!(h.steps.iter().all(|st| st.profile.is_some()));
                }
            }
        }
    }

    /// Without staged policies there is no staged outcome; with them, the staged verdict is
    /// the enforced verdict of the same world with its staged policies made enforced.
    #[test]
    fn staged_view_is_the_enforced_view_of_the_promoted_world(seed in proptest::prelude::any::<u64>(), port in 1u16..3000) {
        let plain = random_world(seed, false).build(Backend::Etcd);
        proptest::prop_assert!(all_traces(&plain, port).iter().all(|t| t.staged.is_none()));
        let staged = random_world(seed, true).build(Backend::Etcd);
        let mut promoted = random_world(seed, true);
        for p in &mut promoted.policies {
            if p.kind == PolicyKind::StagedGlobalNetworkPolicy {
                p.kind = PolicyKind::GlobalNetworkPolicy;
            }
        }
        // Names are unique in a generated world: promoting replaces nothing.
        let promoted = promoted.build(Backend::Etcd);
        for (a, b) in all_traces(&staged, port).iter().zip(all_traces(&promoted, port)) {
            let sv = a.staged.as_ref().map_or(a.verdict.clone(), |s| s.verdict.clone());
            proptest::prop_assert_eq!(sv, b.verdict.clone());
        }
    }
}
