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
    // A batch that stalls: the one connection failure once, with the count and a few names.
    let many: String = (0..400)
        .map(|i| {
            pool(
                &format!("q{i:03}"),
                &format!("10.{}.{}.0/24", 100 + i / 256, i % 256),
            )
        })
        .collect::<Vec<_>>()
        .join("---\n");
    let out = ctl(&["apply", "-f", "-"]).stdin(&many).run();
    out.fails(1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("failed to apply any 'IPPool' resources: [etcd at ")
            && out.stderr.ends_with(
                "(400 resources: ippool.projectcalico.org/q000, ippool.projectcalico.org/q001, ippool.projectcalico.org/q002, …)]\n"
            )
            && out.stderr.len() < 400,
        "{}",
        out.stderr
    );

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
        // A member killed mid-command is no TLS mismatch.
        assert!(!first.stderr.contains("https://"), "{}", first.stderr);
        assert_eq!(first.stderr.lines().count(), 1, "{}", first.stderr);
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

/// A first endpoint that is not a working etcd member.
#[derive(Clone, Copy)]
enum BadMember {
    /// The first member is SIGSTOPped: TCP connects (the kernel accepts), nothing answers.
    Stopped,
    /// Something accepts connections and resets them at once.
    Resets,
    /// A plain HTTP/1.1 server.
    PlainHttp,
}

/// Listens on a free port and treats each connection as `kind` says; the thread lives as long
/// as the test process.
fn fake_member(kind: BadMember) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            match kind {
                BadMember::Resets => {
                    use std::os::fd::AsRawFd;
                    // SO_LINGER 0: close() sends a RST.
                    let linger = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: a valid socket and a pointer to a live linger of the given size.
                    unsafe {
                        libc::setsockopt(
                            s.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            (&linger as *const libc::linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        );
                    }
                }
                BadMember::PlainHttp => {
                    let mut buf = [0u8; 1024];
                    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request",
                    );
                }
                BadMember::Stopped => unreachable!("a real member is stopped instead"),
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

const BLOCK: &str = "/calico/ipam/v2/assignment/ipv4/block/10.66.1.0-29";

/// A pool with a block holding two addresses (handles h0 and h1), affine to node1.
fn seed_ipam(c: &EtcdCluster) {
    let put = |k: &str, v: &str| assert!(c.etcdctl(&["put", k, v]).status.success(), "put {k}");
    put(
        &format!("{POOLS}p1"),
        r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p1","uid":"u1","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"cidr":"10.66.0.0/16","vxlanMode":"Never","ipipMode":"Never","natOutgoing":false,"blockSize":29,"nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}}"#,
    );
    put(
        BLOCK,
        r#"{"cidr":"10.66.1.0/29","affinity":"host:node1","allocations":[0,1,null,null,null,null,null,null],"unallocated":[2,3,4,5,6,7],"attributes":[{"handle_id":"h0","secondary":{"node":"node1"}},{"handle_id":"h1","secondary":{"node":"node1"}}],"sequenceNumber":2,"sequenceNumberForAllocation":{"0":0,"1":1},"deleted":false}"#,
    );
    for h in ["h0", "h1"] {
        put(
            &format!("/calico/ipam/v2/handle/{h}"),
            r#"{"block":{"10.66.1.0/29":1},"deleted":false}"#,
        );
    }
    put(
        "/calico/ipam/v2/host/node1/ipv4/block/10.66.1.0-29",
        r#"{"state":"confirmed","deleted":false}"#,
    );
}

/// get, apply, label, delete and `ipam release` with a bad first endpoint: each succeeds with
/// calicoctl's output (checked against calicoctl v3.32.1 on the same setup) and stored state,
/// and well within the timeout (the bad member is skipped, not waited for).
fn commands_survive_a_bad_first_member(kind: BadMember) {
    let c = EtcdCluster::start3();
    seed_ipam(&c);
    let mut endpoints = c.endpoints.clone();
    match kind {
        BadMember::Stopped => c.members[0].signal("STOP"),
        other => endpoints.insert(0, fake_member(other)),
    }
    let dir = tempdir();
    let cfg = dir.path().join("calicoctl.cfg");
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: {}\n",
            endpoints.join(",")
        ),
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let ctl = |args: &[&str], stdin: &str| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["-c", &cfg, "--timeout", "20s", "--allow-version-mismatch"]);
        let t = Instant::now();
        let out = calicoctl(&a).stdin(stdin).run();
        // A stall would take the whole timeout; the bad member must cost far less.
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}: {out:?}",
            t.elapsed()
        );
        out
    };
    ctl(&["get", "ippools", "-o", "name"], "")
        .ok()
        .stdout_is("ippool.projectcalico.org/p1\n");
    ctl(&["apply", "-f", "-"], &pool("p2", "10.2.0.0/16"))
        .ok()
        .stdout_is("Successfully applied 1 'IPPool' resource(s)\n");
    ctl(&["label", "ippools", "p2", "tier=gold"], "")
        .ok()
        .stdout_is("Successfully set label tier on ippools p2\n");
    ctl(&["delete", "ippool", "p1"], "")
        .ok()
        .stdout_is("Successfully deleted 1 'IPPool' resource(s)\n");
    ctl(&["ipam", "release", "--ip=10.66.1.1"], "")
        .ok()
        .stdout_is("Successfully released IP address 10.66.1.1\n");
    if matches!(kind, BadMember::Stopped) {
        c.members[0].signal("CONT");
    }
    // The stored state calicoctl leaves: p1 gone (its block's affinity released with it), p2
    // labelled, 10.66.1.1 and its handle released.
    assert_eq!(c.keys(POOLS), vec![format!("{POOLS}p2")]);
    let v = c.etcdctl(&["get", "--print-value-only", &format!("{POOLS}p2")]);
    assert!(String::from_utf8_lossy(&v.stdout).contains(r#""labels":{"tier":"gold"}"#));
    let v = c.etcdctl(&["get", "--print-value-only", BLOCK]);
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        r#"{"cidr":"10.66.1.0/29","affinity":null,"allocations":[0,null,null,null,null,null,null,null],"unallocated":[2,3,4,5,6,7,1],"attributes":[{"handle_id":"h0","secondary":{"node":"node1"}}],"sequenceNumber":4,"sequenceNumberForAllocation":{"0":0},"deleted":false}"#
    );
    assert_eq!(
        c.keys("/calico/ipam/v2/handle/"),
        vec!["/calico/ipam/v2/handle/h0".to_string()]
    );
    assert!(c.keys("/calico/ipam/v2/host/").is_empty());
}

#[test]
fn first_member_stopped_is_skipped() {
    commands_survive_a_bad_first_member(BadMember::Stopped);
}

#[test]
fn first_endpoint_resetting_connections_is_skipped() {
    commands_survive_a_bad_first_member(BadMember::Resets);
}

#[test]
fn first_endpoint_speaking_plain_http_is_skipped() {
    commands_survive_a_bad_first_member(BadMember::PlainHttp);
}

/// A TCP proxy in front of a real member. It counts the gRPC requests (HTTP/2 streams the
/// client opens) of each connection and, at request number `freeze_at`, goes silent as the
/// member would if SIGSTOPped at that moment: with `deliver`, that request still reaches the
/// member (only the replies stop: a write cut off after it was applied); without, it does not.
/// `delay` holds each connection's first reply back, so that members behind such proxies
/// answer their probes after an undelayed one, which then serves the command first.
struct Proxy {
    url: String,
    /// Set once a connection froze.
    tripped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn proxy(target: &str, freeze_at: Option<(usize, bool)>, delay: Duration) -> Proxy {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let upstream = target.trim_start_matches("http://").to_string();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let tripped = Arc::new(AtomicBool::new(false));
    let tripped_all = tripped.clone();
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(mut client) = client else { continue };
            let Ok(mut server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let frozen = Arc::new(AtomicBool::new(false));
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (frozen_up, tripped_up) = (frozen.clone(), tripped_all.clone());
            // Client to member, frame by frame after the 24-byte connection preface.
            std::thread::spawn(move || {
                let mut buf: Vec<u8> = Vec::new();
                let mut chunk = [0u8; 65536];
                let (mut preface, mut streams, mut last_stream) = (24usize, 0usize, 0u32);
                let mut forwarding = true;
                loop {
                    let n = match c_in.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let mut out = Vec::new();
                    loop {
                        if preface > 0 {
                            let take = preface.min(buf.len());
                            out.extend(buf.drain(..take));
                            preface -= take;
                            if preface > 0 {
                                break;
                            }
                            continue;
                        }
                        if buf.len() < 9 {
                            break;
                        }
                        let len =
                            (buf[0] as usize) << 16 | (buf[1] as usize) << 8 | buf[2] as usize;
                        if buf.len() < 9 + len {
                            break;
                        }
                        let stream =
                            u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
                        if buf[3] == 1 && stream > last_stream {
                            last_stream = stream;
                            streams += 1;
                            if let Some((at, deliver)) = freeze_at
                                && streams == at
                            {
                                frozen_up.store(true, Ordering::SeqCst);
                                tripped_up.store(true, Ordering::SeqCst);
                                forwarding = deliver;
                            }
                        }
                        let frame: Vec<u8> = buf.drain(..9 + len).collect();
                        if forwarding {
                            out.extend(frame);
                        }
                    }
                    if !out.is_empty() && s_out.write_all(&out).is_err() {
                        break;
                    }
                }
                let _ = s_out.shutdown(std::net::Shutdown::Both);
            });
            // Member to client, after the delay, until frozen.
            std::thread::spawn(move || {
                let mut chunk = [0u8; 65536];
                let mut first = true;
                loop {
                    let n = match server.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if first {
                        std::thread::sleep(delay);
                        first = false;
                    }
                    if frozen.load(Ordering::SeqCst) {
                        continue;
                    }
                    if client.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                }
                if !frozen.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                }
            });
        }
    });
    Proxy { url, tripped }
}

/// Every key under /calico/ with its value, without the values that differ from run to run
/// (uids, creation times, the cluster GUID).
fn calico_state(c: &EtcdCluster) -> Vec<(String, String)> {
    let out = c.etcdctl(&["get", "--prefix", "/calico/"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|kv| {
            let mut v: serde_json::Value =
                serde_json::from_str(kv.get(1).copied().unwrap_or("null")).unwrap_or_default();
            if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                m.remove("uid");
                m.remove("creationTimestamp");
            }
            if let Some(s) = v.get_mut("spec").and_then(|m| m.as_object_mut()) {
                s.remove("clusterGUID");
            }
            (kv[0].to_string(), v.to_string())
        })
        .collect()
}

/// A member that answers its probe and then stops answering (SIGSTOPped after the probe, or
/// in the middle of a command): each request of get, apply, label (an update), delete and
/// `ipam release` is cut off in turn, once before it reaches the member and once after the
/// member applied it. Every run succeeds with the output and the stored state of a
/// run without the fault, well within the timeout: reads move to the next member, writes are
/// read back on another member (applied: done; not applied: sent again there).
#[test]
fn a_member_that_stops_answering_mid_command_costs_no_more_than_a_few_seconds() {
    let c = EtcdCluster::start3();
    let slow: Vec<Proxy> = c.endpoints[1..]
        .iter()
        .map(|e| proxy(e, None, Duration::from_millis(300)))
        .collect();
    let dir = tempdir();
    let p2 = r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p2","uid":"u2","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"cidr":"10.2.0.0/16","vxlanMode":"Never","ipipMode":"Never","natOutgoing":false,"blockSize":26,"nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}}"#;
    let prepare = || {
        assert!(c.etcdctl(&["del", "--prefix", "/calico/"]).status.success());
        seed_ipam(&c);
        assert!(
            c.etcdctl(&["put", &format!("{POOLS}p2"), p2])
                .status
                .success()
        );
    };
    let run = |first: &str, args: &[&str], stdin: &str| {
        let cfg = dir.path().join("calicoctl.cfg");
        std::fs::write(
            &cfg,
            format!(
                "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: {first},{},{}\n",
                slow[0].url, slow[1].url
            ),
        )
        .unwrap();
        let mut a: Vec<&str> = args.to_vec();
        let cfg = cfg.to_string_lossy().into_owned();
        a.extend(["-c", &cfg, "--timeout", "10s", "--allow-version-mismatch"]);
        let t = Instant::now();
        let out = calicoctl(&a).stdin(stdin).run();
        (out, t.elapsed())
    };
    let commands: &[(&[&str], String, bool)] = &[
        (&["get", "ippools", "-o", "wide"], String::new(), false),
        (&["apply", "-f", "-"], pool("p3", "10.3.0.0/16"), true),
        (
            &["label", "ippools", "p2", "tier=gold"],
            String::new(),
            true,
        ),
        (&["delete", "ippool", "p1"], String::new(), true),
        (&["ipam", "release", "--ip=10.66.1.1"], String::new(), true),
    ];
    for (args, stdin, writes) in commands {
        prepare();
        let (want, _) = run(&c.endpoints[0], args, stdin);
        want.ok();
        let want_state = calico_state(&c);
        for deliver in [false, true] {
            if deliver && !writes {
                continue;
            }
            for at in 1.. {
                prepare();
                let p = proxy(&c.endpoints[0], Some((at, deliver)), Duration::ZERO);
                let (out, took) = run(&p.url, args, stdin);
                let what = format!("{args:?} cut off at request {at} (delivered: {deliver})");
                assert_eq!(out.code, 0, "{what}: {out:?}");
                assert_eq!(out.stdout, want.stdout, "{what}");
                assert_eq!(calico_state(&c), want_state, "{what}");
                // Unwatched, it would take the whole timeout (and fail).
                assert!(took < Duration::from_secs(8), "{what} took {took:?}");
                if !p.tripped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
            }
        }
    }
}
