//! Malformed input of every class (syntax, unknown kind/field, wrong type, empty): calicoctl's
//! message, exit 1,
//! and nothing written (full keyspace compared before and after).

use crate::harness::*;

fn assert_nothing_written(env: &Env, before: &std::collections::BTreeMap<String, String>) {
    assert_eq!(&env.etcd.dump(), before, "the datastore changed");
}

/// A good pool followed by a bad document: parse-everything-first means the good one is not
/// written either.
fn with_good_first(bad: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: good\nspec:\n  cidr: 10.1.0.0/16\n---\n{bad}"
    )
}

#[test]
fn malformed_inputs_give_calicoctls_texts_and_write_nothing() {
    let env = Env::new();
    let before = env.etcd.dump();
    let cases: Vec<(&str, String, String)> = vec![
        (
            "unknown field",
            with_good_first("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: b\nspec:\n  cidr: 10.2.0.0/16\n  nat: true\n"),
            "field in document is not recognized or is in the wrong location: nat\n".into(),
        ),
        (
            "unknown field in metadata",
            with_good_first("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: b\n  colour: red\nspec:\n  cidr: 10.2.0.0/16\n"),
            "field in document is not recognized or is in the wrong location: colour\n".into(),
        ),
        (
            "wrong type",
            with_good_first("apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n  peerIP: 10.0.0.1\n  asNumber: -1\n"),
            "failed to execute command: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number into Go struct field BGPPeerSpec.spec.asNumber of type string\n".into(),
        ),
        (
            "wrong type int",
            with_good_first("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: b\nspec:\n  cidr: 10.2.0.0/16\n  blockSize: \"26\"\n"),
            "failed to execute command: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field IPPoolSpec.spec.blockSize of type int\n".into(),
        ),
        (
            "unknown kind",
            with_good_first("apiVersion: projectcalico.org/v3\nkind: Foo\nmetadata:\n  name: x\n"),
            "failed to execute command: unknown resource type (Foo) and/or version (projectcalico.org/v3)\n".into(),
        ),
        (
            "wrong apiVersion",
            with_good_first("apiVersion: projectcalico.org/v2\nkind: IPPool\nmetadata:\n  name: x\n"),
            "failed to execute command: unknown resource type (IPPool) and/or version (projectcalico.org/v2)\n".into(),
        ),
        (
            "generic List",
            "apiVersion: v1\nkind: List\nitems: []\n".into(),
            "failed to execute command: unknown resource type (List) and/or version (v1)\n".into(),
        ),
    ];
    for (name, doc, want) in cases {
        let f = env.file("bad.yaml", &doc);
        for verb in ["create", "apply", "replace", "delete"] {
            let out = env.ctl(&[verb, "-f", &f]).run();
            assert_eq!(out.code, 1, "{name}/{verb}: {out:?}");
            assert_eq!(out.stderr, want, "{name}/{verb}");
            assert_eq!(out.stdout, "", "{name}/{verb}");
        }
        assert_nothing_written(&env, &before);
    }
    env.ctl(&["create", "-f", "/x.yaml"])
        .run()
        .fails(1)
        .stderr_is("failed to execute command: open /x.yaml: no such file or directory\n");
}

#[test]
fn yaml_syntax_errors_in_calicoctls_words() {
    let env = Env::new();
    let before = env.etcd.dump();
    let f = env.file(
        "broken.yaml",
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: [unclosed\n",
    );
    env.ctl(&["apply", "-f", &f]).run().fails(1).stderr_is(
        "failed to execute command: error converting YAML to JSON: yaml: line 4: did not find expected ',' or ']'\n",
    );
    let dup = env.file("dup.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: a\nspec:\n  cidr: 10.0.0.0/16\n  cidr: 10.1.0.0/16\n");
    env.ctl(&["apply", "-f", &dup]).run().fails(1).stderr_is(
        "failed to execute command: error converting YAML to JSON: yaml: unmarshal errors:\n  line 7: key \"cidr\" already set in map\n",
    );
    assert_nothing_written(&env, &before);
}

#[test]
fn validation_failures_write_nothing() {
    let env = Env::new();
    let f = env.file(
        "bad.yaml",
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n  peerIP: badpeerIP\n  asNumber: 64512\n",
    );
    let out = env.ctl(&["create", "-f", &f]).run();
    out.fails(1);
    assert!(
        out.stderr.starts_with(
            "failed to create 'BGPPeer' resource: [error with field PeerIP = 'badpeerIP' ("
        ),
        "{}",
        out.stderr
    );
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/bgppeers/p")
            .is_none()
    );
    let sel = env.file(
        "sel.yaml",
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: p\nspec:\n  selector: app ==\n",
    );
    let out = env.ctl(&["apply", "-f", &sel]).run();
    out.fails(1)
        .stderr_has("error with field Selector = 'app ==' (Reason: failed to validate Field: Selector because of Tag: selector )");
    assert!(
        env.etcd
            .keys("/calico/resources/v3/projectcalico.org/globalnetworkpolicies")
            .is_empty()
    );
}

#[test]
fn overlapping_pool_is_rejected() {
    let env = Env::new();
    env.apply("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: a\nspec:\n  cidr: 10.0.0.0/16\n");
    let f = env.file("b.yaml", "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: b\nspec:\n  cidr: 10.0.128.0/17\n");
    env.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stderr_has("overlaps with IPPool(a)");
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/ippools/b")
            .is_none()
    );
}

#[test]
fn unreachable_datastore_is_a_clear_error_within_the_timeout() {
    // A listener that accepts and never answers (a black hole), and a refused port.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    let dir = tempdir();
    for (endpoint, needle) in [
        (
            format!("http://127.0.0.1:{hole_port}"),
            format!("127.0.0.1:{hole_port}"),
        ),
        (
            format!("http://127.0.0.1:{}", free_port()),
            "connection refused".to_string(),
        ),
    ] {
        let cfg = dir.path().join("c.cfg");
        std::fs::write(&cfg, format!("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: {endpoint}\n")).unwrap();
        let start = std::time::Instant::now();
        let out = calicoctl(&[
            "get",
            "ippools",
            "--timeout",
            "2s",
            "-c",
            cfg.to_str().unwrap(),
        ])
        .run();
        let took = start.elapsed();
        out.fails(1);
        assert!(out.stderr.starts_with("failed to get resources: unable to get Cluster Information to verify version mismatch: "), "{}", out.stderr);
        assert!(
            out.stderr.contains(&needle),
            "{} lacks {needle}",
            out.stderr
        );
        assert!(
            out.stderr
                .ends_with("Use --allow-version-mismatch to override\n"),
            "{}",
            out.stderr
        );
        assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
        let out = calicoctl(&[
            "get",
            "ippools",
            "--timeout",
            "2s",
            "--allow-version-mismatch",
            "-c",
            cfg.to_str().unwrap(),
        ])
        .run();
        out.fails(1);
        assert!(
            out.stderr.starts_with("failed to get resources: ") || out.stderr.contains(&needle),
            "{}",
            out.stderr
        );
    }
    drop(hole);
}

/// An object larger than etcd accepts in one request: etcd's own refusal, as calicoctl
/// reports it (`[etcdserver: request is too large]`, after the Go client's warning line), not
/// a connection error; nothing written. (Over 2 MiB the client refuses to send it:
/// `cli-size-limits.case`.)
#[test]
fn an_object_etcd_refuses_as_too_large() {
    let env = Env::new();
    let mut m = String::from(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: huge\nspec:\n  nets:\n",
    );
    // 2.3 MB stored, over etcd's default 1.5 MiB request limit.
    for i in 0u32..120_000 {
        let a = 0x0a00_0000u32 + i * 4;
        m.push_str(&format!(
            "  - {}.{}.{}.{}/30\n",
            a >> 24,
            (a >> 16) & 255,
            (a >> 8) & 255,
            a & 255
        ));
    }
    let f = env.file("huge.yaml", &m);
    // etcd's Go client logs the refusal first (checked against calicoctl v3.32.1).
    let out = env.ctl(&["apply", "-f", &f]).run();
    out.fails(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].starts_with(r#"{"level":"warn","ts":""#)
            && lines[0].ends_with(r#""method":"/etcdserverpb.KV/Txn","attempt":0,"error":"rpc error: code = InvalidArgument desc = etcdserver: request is too large"}"#),
        "{}",
        out.stderr
    );
    assert_eq!(
        lines[1],
        "failed to apply 'GlobalNetworkSet' resource: [etcdserver: request is too large]"
    );
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/globalnetworksets/huge")
            .is_none()
    );
}
