//! Golden outputs of `get` for every kind and format. The datastore is seeded with etcdctl
//! (fixtures/etcd-seed.txt: values as calico-node / calicoctl write them), so revisions, uids
//! and timestamps are deterministic, and this also checks that we read what Calico wrote.

use crate::harness::*;

/// Seeds the fixture keys in file order with etcdctl.
pub fn seed(etcd: &Etcd) {
    let text = include_str!("fixtures/etcd-seed.txt");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    for pair in lines.chunks(2) {
        etcd.put(pair[0], pair[1]);
    }
}

#[test]
fn get_every_kind_in_every_format() {
    let env = Env::new();
    seed(&env.etcd);
    // Every kind of the registry: a new kind needs its golden files.
    for k in calicoctl::model::kinds::KINDS {
        let kind = k.kind.to_lowercase();
        let kind = kind.as_str();
        for fmt in ["ps", "wide", "yaml", "json", "name"] {
            let mut args = vec!["get", kind, "-o", fmt];
            if k.namespaced {
                args.push("-A");
            }
            let out = env.ctl(&args).run();
            assert_eq!(out.code, 0, "{kind} -o {fmt}: {}", out.stderr);
            assert_eq!(out.stderr, "", "{kind} -o {fmt}");
            assert_golden(&format!("get-{kind}-{fmt}.txt"), &out.stdout);
        }
    }
}

#[test]
fn get_single_objects_and_namespaces() {
    let env = Env::new();
    seed(&env.etcd);
    let cases: &[(&str, &[&str])] = &[
        (
            "get-node-node1-yaml.txt",
            &["get", "node", "node1", "-o", "yaml"],
        ),
        (
            "get-node-node1-json.txt",
            &["get", "node", "node1", "-o", "json"],
        ),
        (
            "get-two-pools-yaml.txt",
            &[
                "get",
                "ippool",
                "default-ipv4-ippool",
                "v6-pool",
                "-o",
                "yaml",
            ],
        ),
        (
            "get-two-pools-json.txt",
            &[
                "get",
                "ippool",
                "default-ipv4-ippool",
                "v6-pool",
                "-o",
                "json",
            ],
        ),
        (
            "get-two-pools-ps.txt",
            &["get", "ippool", "default-ipv4-ippool", "v6-pool"],
        ),
        (
            "get-policy-default-ns.txt",
            &["get", "networkpolicy", "-o", "wide"],
        ),
        (
            "get-policy-prod-yaml.txt",
            &["get", "networkpolicy", "web", "-n", "prod", "-o", "yaml"],
        ),
        (
            "get-wep-custom.txt",
            &[
                "get",
                "wep",
                "-A",
                "-o",
                "custom-columns=NAMESPACE,NAME,WORKLOAD,ORCHESTRATOR,NATS",
            ],
        ),
        (
            "get-pool-export.txt",
            &["get", "ippool", "v6-pool", "--export", "-o", "yaml"],
        ),
        (
            "get-felix-default-json.txt",
            &["get", "felixconfig", "default", "-o", "json"],
        ),
        (
            "get-kcc-yaml.txt",
            &["get", "kubecontrollersconfig", "default", "-o", "yaml"],
        ),
        (
            "get-pools-gotemplate.txt",
            &[
                "get",
                "ippools",
                "-o",
                "go-template={{range .}}{{range .Items}}{{.ObjectMeta.Name}} {{.Spec.CIDR}} {{.Spec.NATOutgoing}} {{join .Spec.AllowedUses \",\"}}{{\"\\n\"}}{{end}}{{end}}",
            ],
        ),
        (
            "get-nodes-gotemplate-asn.txt",
            &[
                "get",
                "nodes",
                "-o",
                "go-template={{range .}}{{range .Items}}{{.Name}}={{if .Spec.BGP}}{{.Spec.BGP.ASNumber}}{{end}} default={{config \"asnumber\"}}{{\"\\n\"}}{{end}}{{end}}",
            ],
        ),
        (
            "get-pools-jsonpath.txt",
            &[
                "get",
                "ippools",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.spec.cidr}{\"\\n\"}{end}",
            ],
        ),
        (
            "get-peers-custom-kubectl.txt",
            &[
                "get",
                "bgppeers",
                "-o",
                "custom-columns=PEER:.metadata.name,IP:.spec.peerIP,NODE:.spec.node",
            ],
        ),
    ];
    for (golden, args) in cases {
        let out = env.ctl(args).run();
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert_golden(golden, &out.stdout);
    }
}

/// Every kind applied by us is stored exactly as calicoctl/calico-node store it: the fixture
/// values (hand-written in Go's field order and encoding) are the expectations.
#[test]
fn applied_manifests_store_calicoctls_exact_values() {
    let env = Env::new();
    let text = include_str!("fixtures/etcd-seed.txt");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let scrub = |raw: &str| -> String {
        let uid = regex::Regex::new(r#""uid":"[0-9a-f-]{36}""#).unwrap();
        let ts = regex::Regex::new(r#""creationTimestamp":"[0-9TZ:-]+""#).unwrap();
        ts.replace(
            &uid.replace(raw, r#""uid":"U""#),
            r#""creationTimestamp":"T""#,
        )
        .to_string()
    };
    let mut checked = 0;
    // Tiers first: policies need their tier.
    let mut pairs: Vec<&[&str]> = lines.chunks(2).collect();
    pairs.sort_by_key(|p| !p[0].contains("/tiers/"));
    for pair in pairs {
        let (key, want) = (pair[0], pair[1]);
        let mut v: serde_json::Value = serde_json::from_str(want).unwrap();
        // Read-only through calicoctl: ClusterInformation and Kubernetes policies.
        let kind = calicoctl::model::kinds::by_kind(v["kind"].as_str().unwrap()).unwrap();
        if kind.flags.readonly || key.contains("/knp.default.") {
            continue;
        }
        // The manifest a user would write: no server-set identity, no storage annotation.
        let m = v["metadata"].as_object_mut().unwrap();
        m.remove("uid");
        m.remove("creationTimestamp");
        if let Some(a) = m.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            a.remove("projectcalico.org/metadata");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
        let f = env.file("one.json", &v.to_string());
        let out = env.ctl(&["apply", "-f", &f]).run();
        // The seed holds a staged Delete with spec fields, as another writer may store it;
        // calicoctl refuses to write one itself.
        if v["spec"]["stagedAction"] == "Delete" {
            assert_eq!(out.code, 1, "{key}: {}", out.stdout);
            assert!(
                out.stderr
                    .contains("should all be zero-value if stagedAction is Delete"),
                "{key}: {}",
                out.stderr
            );
            continue;
        }
        assert_eq!(out.code, 0, "{key}: {}", out.stderr);
        let got = env
            .etcd
            .get(key)
            .unwrap_or_else(|| panic!("{key} not written"));
        assert_eq!(scrub(&got), scrub(want), "{key}");
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} fixtures checked");
}

/// `get … | head`: a list printed into a pipe whose reader has gone ends by SIGPIPE, as
/// calicoctl does, with nothing on stderr (it used to exit 141 by a match on the error text).
#[test]
fn get_into_a_gone_reader_ends_by_sigpipe() {
    let env = Env::new();
    seed(&env.etcd);
    for format in ["yaml", "json", "wide"] {
        let out = env
            .ctl(&["get", "workloadendpoints", "-A", "-o", format])
            .reader_gone(Stream::Stdout)
            .run();
        assert_eq!(out.signal, Some(libc::SIGPIPE), "-o {format}: {out:?}");
        assert_eq!(out.stderr, "", "-o {format}");
    }
}
