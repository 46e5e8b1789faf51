//! etcd faults with a real three-member cluster: a member down, quorum lost, everything down,
//! and a member (the leader) killed in the middle of a bulk apply.

use std::time::{Duration, Instant};

use crate::harness::*;

const POOLS: &str = "/calico/resources/v3/projectcalico.org/ippools/";
const SETS: &str = "/calico/resources/v3/projectcalico.org/globalnetworksets/";

fn pool(name: &str, cidr: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\nspec:\n  cidr: {cidr}\n"
    )
}

#[test]
fn one_member_down_then_quorum_lost_then_all_down() {
    let mut c = EtcdCluster::start3();
    let dir = tempdir();
    let cfg = c.write_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let ctl = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["-c", cfg, "--timeout", "3s", "--allow-version-mismatch"]);
        calicoctl(&a)
    };
    ctl(&["apply", "-f", "-"])
        .stdin(&pool("p1", "10.1.0.0/16"))
        .run()
        .ok();

    // The first endpoint (where a client starts) goes away: reads and writes use the others.
    c.kill(0);
    ctl(&["get", "ippools", "-o", "name"])
        .run()
        .ok()
        .stdout_has("ippool.projectcalico.org/p1");
    ctl(&["apply", "-f", "-"])
        .stdin(&pool("p2", "10.2.0.0/16"))
        .run()
        .ok();
    ctl(&["label", "ippools", "p2", "tier=gold"]).run().ok();
    ctl(&["delete", "ippool", "p1"]).run().ok();
    ctl(&["ipam", "show"]).run().ok();
    assert_eq!(c.keys(POOLS), vec![format!("{POOLS}p2")]);
    let v = c.etcdctl(&["get", "--print-value-only", &format!("{POOLS}p2")]);
    assert!(String::from_utf8_lossy(&v.stdout).contains("\"tier\":\"gold\""));

    // Quorum lost: a linearizable read cannot be served; the error says so within the timeout.
    c.kill(1);
    let t = Instant::now();
    let out = ctl(&["get", "ippools"]).run();
    out.fails(1);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "{:?} {out:?}",
        t.elapsed()
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("etcd"), "{}", out.stderr);
    let t = Instant::now();
    let out = ctl(&["apply", "-f", "-"])
        .stdin(&pool("p3", "10.3.0.0/16"))
        .run();
    out.fails(1);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    // Everything down: the error names the endpoints and comes within the timeout.
    c.kill(2);
    let t = Instant::now();
    let out = ctl(&["get", "ippools"]).run();
    out.fails(1);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let all = format!("{}{}", out.stdout, out.stderr);
    for ep in &c.endpoints {
        assert!(
            all.contains(ep.trim_start_matches("http://")),
            "{ep} not named: {all}"
        );
    }
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn leader_killed_during_bulk_apply_then_rerun_converges() {
    let mut c = EtcdCluster::start3();
    let dir = tempdir();
    let cfg = c.write_config(dir.path());
    let n = 3000;
    let mut file = String::new();
    for i in 0..n {
        file.push_str(&format!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: gns-{i:05}\n  labels:\n    idx: \"{i}\"\nspec:\n  nets:\n  - 198.51.{}.0/24\n---\n",
            i % 256
        ));
    }
    let path = dir.path().join("sets.yaml");
    std::fs::write(&path, &file).unwrap();
    let args = |p: &std::path::Path| {
        vec![
            "apply".to_string(),
            "-f".into(),
            p.to_string_lossy().into_owned(),
            "-c".into(),
            cfg.to_string_lossy().into_owned(),
            "--timeout".into(),
            "5s".into(),
            "--allow-version-mismatch".into(),
        ]
    };
    let a = args(&path);
    let run = std::thread::spawn(move || calicoctl(&a).run());
    std::thread::sleep(Duration::from_millis(300));
    let leader = c.leader();
    c.kill(leader);
    let first = run.join().unwrap();
    let present = c.keys(SETS).len();
    assert!(!first.stderr.contains("panicked"), "{}", first.stderr);
    if first.code == 0 {
        first.stdout_has(&format!(
            "Successfully applied {n} 'GlobalNetworkSet' resource(s)"
        ));
        assert_eq!(present, n);
    } else {
        // Every resource reported applied is stored (a write whose reply was lost may be
        // stored too, so `present` may exceed the count).
        let ok = first
            .stdout
            .split("the first ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        assert!(
            ok <= present,
            "reported {ok} applied, {present} stored: {first:?}"
        );
        assert!(first.stderr.contains("etcd"), "{}", first.stderr);
    }
    // Re-running converges: everything present once, with the file's content.
    let again = calicoctl(&args(&path)).run();
    again.ok().stdout_has(&format!(
        "Successfully applied {n} 'GlobalNetworkSet' resource(s)"
    ));
    let keys = c.keys(SETS);
    assert_eq!(keys.len(), n);
    assert_eq!(keys[0], format!("{SETS}gns-00000"));
    let v = c.etcdctl(&["get", "--print-value-only", &format!("{SETS}gns-02999")]);
    let v = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.contains("\"idx\":\"2999\"") && v.contains("198.51.183.0/24"),
        "{v}"
    );
}

/// Processes labelling the same pool at once: conflicting compare-and-swaps are retried (a
/// label is one field), a command that still fails says so, and every success is in the final
/// object (no lost update).
#[test]
fn concurrent_labels_never_lose_an_update() {
    let env = Env::new();
    env.ctl(&["apply", "-f", "-"])
        .stdin(&pool("shared", "10.7.0.0/16"))
        .run()
        .ok();
    let cfg = env.cfg.to_string_lossy().into_owned();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let kv = format!("k{i}=v{i}");
                let out = calicoctl(&[
                    "label",
                    "ippools",
                    "shared",
                    &kv,
                    "-c",
                    &cfg,
                    "--allow-version-mismatch",
                ])
                .run();
                (i, out)
            })
        })
        .collect();
    let mut won = Vec::new();
    for h in handles {
        let (i, out) = h.join().unwrap();
        if out.code == 0 {
            won.push(format!("k{i}"));
        } else {
            assert!(
                format!("{}{}", out.stdout, out.stderr).contains("label not changed"),
                "label k{i}: {out:?}"
            );
        }
    }
    assert!(!won.is_empty());
    let v = env.etcd.get_json(&format!("{POOLS}shared"));
    let mut labels: Vec<String> = v["metadata"]["labels"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    labels.sort();
    won.sort();
    assert_eq!(
        labels, won,
        "final labels must be exactly the successful commands'"
    );
}
