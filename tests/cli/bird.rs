//! `node status` against real BIRD 1.6 daemons peering over loopback (and a fake socket that
//! never answers). The `since` column is the only thing normalised.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

struct Bird {
    guard: ProcessGuard,
    sock: PathBuf,
}

/// Starts `bird`/`bird6` with a generated config; `peers` are (name, neighbor, port).
fn start_bird(
    dir: &Path,
    bin: &str,
    id: &str,
    listen: &str,
    port: u16,
    peers: &[(String, String, u16)],
) -> Bird {
    let conf = dir.join(format!("{bin}-{id}.conf"));
    let sock = dir.join(format!("{bin}-{id}.ctl"));
    let mut text = format!(
        "router id {id};\nlisten bgp address {listen} port {port};\nprotocol device {{ scan time 10; }}\nprotocol kernel {{ learn; scan time 10; import none; export none; }}\n"
    );
    for (name, neighbor, nport) in peers {
        text.push_str(&format!(
            "protocol bgp {name} {{ local as 64512; neighbor {neighbor} port {nport} as 64512; source address {listen}; multihop; import all; export none; connect delay time 1; connect retry time 1; error wait time 1,2; }}\n"
        ));
    }
    std::fs::write(&conf, text).unwrap();
    let log = std::fs::File::create(dir.join(format!("{bin}-{id}.log"))).unwrap();
    let child = Command::new(bin)
        .args(["-f", "-c"])
        .arg(&conf)
        .arg("-s")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("bird is installed (apt-get install bird)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Bird {
        guard: ProcessGuard {
            child: Some(child),
            name: bin.into(),
        },
        sock,
    }
}

fn status(sock: &Path, extra: &[&str]) -> Out {
    let mut a = vec![
        "node".to_string(),
        "status".into(),
        "--bird-socket".into(),
        sock.display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    calicoctl(&a).run()
}

/// Replaces the `since` column values (times) with a fixed marker, keeping widths.
fn norm(s: &str) -> String {
    let re = regex::Regex::new(r"\d\d:\d\d:\d\d").unwrap();
    re.replace_all(s, "HH:MM:SS").to_string()
}

fn wait_for(sock: &Path, needle: &str) -> Out {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = status(sock, &[]);
        if out.stdout.contains(needle) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn bird16_established_active_stopped_killed() {
    let dir = tempdir();
    let port = free_port();
    let a = start_bird(
        dir.path(),
        "bird",
        "127.0.0.1",
        "127.0.0.1",
        port,
        &[
            ("Mesh_127_0_0_2".into(), "127.0.0.2".into(), port),
            ("Node_127_0_0_3".into(), "127.0.0.3".into(), port),
        ],
    );
    let mut b = start_bird(
        dir.path(),
        "bird",
        "127.0.0.2",
        "127.0.0.2",
        port,
        &[("Mesh_127_0_0_1".into(), "127.0.0.1".into(), port)],
    );
    let out = wait_for(&a.sock, "Established");
    out.ok();
    let want = "
IPv4 BGP status
+--------------+-------------------+-------+----------+--------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |              INFO              |
+--------------+-------------------+-------+----------+--------------------------------+
| 127.0.0.2    | node-to-node mesh | up    | HH:MM:SS | Established                    |
| 127.0.0.3    | node specific     | start | HH:MM:SS | Active Socket: Connection      |
|              |                   |       |          | refused                        |
+--------------+-------------------+-------+----------+--------------------------------+

";
    let got = norm(&out.stdout);
    if got != want {
        // Before the first connect attempt fails the info may be just "Active"/"Connect".
        let out2 = wait_for(&a.sock, "refused");
        assert_eq!(norm(&out2.stdout), want);
    }
    // --check: a peer is not Established → 3.
    status(&a.sock, &["--check"]).fails(3);
    // JSON.
    let j = status(&a.sock, &["-o", "json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["ipv4"]["peers"][0]["address"], "127.0.0.2");
    assert_eq!(v["ipv4"]["peers"][0]["info"], "Established");
    assert_eq!(v["ipv4"]["peers"][1]["type"], "node specific");
    assert_eq!(v["ipv4"]["birdVersion"], "1.6.8");
    // Peer stopped cleanly.
    b.guard.signal("TERM");
    let out = wait_for(&a.sock, "127.0.0.2    | node-to-node mesh | start");
    assert!(
        out.stdout
            .contains("| 127.0.0.2    | node-to-node mesh | start |"),
        "{}",
        out.stdout
    );
    b.guard.stop();
    // A killed BIRD leaves a stale socket: connection refused.
    let mut c = start_bird(dir.path(), "bird", "127.0.0.4", "127.0.0.4", port, &[]);
    c.guard.signal("KILL");
    c.guard.stop();
    assert!(c.sock.exists());
    let stale = status(&c.sock, &[]);
    stale.ok().stdout_is(&format!(
        "\nIPv4 BGP status\nError querying BIRD: unable to connect to BIRDv4 socket: dial unix {}: connect: connection refused\n",
        c.sock.display()
    ));
    status(&c.sock, &["--check"]).fails(3);
    let missing = dir.path().join("nope.ctl");
    status(&missing, &[]).ok().stdout_is(&format!(
        "\nIPv4 BGP status\nError querying BIRD: unable to connect to BIRDv4 socket: dial unix {}: connect: no such file or directory\n",
        missing.display()
    ));
    let j = status(&missing, &["-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["ipv4"]["error"]["class"], "SocketMissing");
    drop(a);
}

#[test]
fn bird6_without_peers_and_with_an_absent_one() {
    let dir = tempdir();
    let port = free_port();
    let b6 = start_bird(
        dir.path(),
        "bird6",
        "10.9.9.9",
        "::1",
        port,
        &[("Mesh_fd00__99".into(), "fd00::99".into(), port)],
    );
    let out = calicoctl(&[
        "node",
        "status",
        "--bird6-socket",
        &b6.sock.display().to_string(),
    ])
    .run();
    out.ok();
    assert!(
        out.stdout.starts_with("\nIPv6 BGP status\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("| fd00::99     | node-to-node mesh |"),
        "{}",
        out.stdout
    );
}

#[test]
fn socket_that_never_answers_times_out() {
    let dir = tempdir();
    let sock = dir.path().join("silent.ctl");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let start = Instant::now();
    let out = calicoctl(&[
        "node",
        "status",
        "--bird-socket",
        &sock.display().to_string(),
        "--timeout",
        "1s",
    ])
    .run();
    assert!(start.elapsed() < Duration::from_secs(10));
    out.fails(1);
    assert!(
        out.stderr.starts_with("error executing command: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    drop(listener);
}

#[test]
fn default_path_needs_a_calico_process() {
    // No calico-node/felix runs in the test environment.
    calicoctl(&["node", "status"])
        .run()
        .fails(1)
        .stderr_is("Calico process is not running.\n");
}

/// The extracted BIRD 2 binary (.ci/fetch-bird2.sh), if present.
fn bird2() -> Option<PathBuf> {
    let p = std::env::var("CALICOCTL_BIRD2")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/calicoctl-ci/bird2/root/usr/sbin/bird")
        });
    if p.exists() {
        return Some(p);
    }
    skip(&format!(
        "BIRD 2 not found at {} (run .ci/fetch-bird2.sh)",
        p.display()
    ));
    None
}

#[test]
fn bird2_one_socket_for_both_families() {
    let Some(b2) = bird2() else { return };
    let dir = tempdir();
    let port = free_port();
    // A BIRD 1.6 peer at 127.0.0.1 and a BIRD 2 node at 127.0.0.4 (strict bind, channels).
    let _a = start_bird(
        dir.path(),
        "bird",
        "127.0.0.1",
        "127.0.0.1",
        port,
        &[("Mesh_127_0_0_4".into(), "127.0.0.4".into(), port)],
    );
    let conf = dir.path().join("bird2.conf");
    let sock = dir.path().join("bird2.ctl");
    std::fs::write(
        &conf,
        format!(
            "router id 127.0.0.4;\nprotocol device {{ scan time 10; }}\n\
             protocol bgp Mesh_127_0_0_1 {{ local 127.0.0.4 port {port} as 64512; neighbor 127.0.0.1 port {port} as 64512; strict bind yes; multihop; ipv4 {{ import all; export none; }}; connect delay time 1; connect retry time 1; error wait time 1,2; }}\n\
             protocol bgp Node_127_0_0_9 {{ local 127.0.0.4 port {port} as 64512; neighbor 127.0.0.9 port {port} as 64512; strict bind yes; multihop; ipv4 {{ import all; export none; }}; disabled; }}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("bird2.log")).unwrap();
    let child = Command::new(&b2)
        .args(["-f", "-c"])
        .arg(&conf)
        .arg("-s")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let _guard = ProcessGuard {
        child: Some(child),
        name: "bird2".into(),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = wait_for(&sock, "Established");
    out.ok();
    // BIRD 2 prints times with milliseconds.
    let got = norm(&out.stdout);
    let got = regex::Regex::new(r"HH:MM:SS\.\d\d\d")
        .unwrap()
        .replace_all(&got, "HH:MM:SS.mmm")
        .to_string();
    assert!(
        got.contains("| 127.0.0.1    | node-to-node mesh | up    | HH:MM:SS.mmm | Established |"),
        "{got}\nlog: {}",
        std::fs::read_to_string(dir.path().join("bird2.log")).unwrap_or_default()
    );
    assert!(
        got.contains("| 127.0.0.9    | node specific     | down  |"),
        "{got}"
    );
    assert!(
        got.contains("IPv6 BGP status\nNo IPv6 peers found.\n"),
        "{got}"
    );
    let j = status(&sock, &["-o", "json"]);
    j.ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("Established"),
        "{text}"
    );
    // --check: one peer (disabled) is not Established.
    status(&sock, &["--check"]).fails(3);
}

#[test]
fn cleanup_is_vetoed_by_an_established_bgp_session() {
    let dir = tempdir();
    let port = free_port();
    let a = start_bird(
        dir.path(),
        "bird",
        "127.0.0.1",
        "127.0.0.1",
        port,
        &[("Mesh_127_0_0_2".into(), "127.0.0.2".into(), port)],
    );
    let mut b = start_bird(
        dir.path(),
        "bird",
        "127.0.0.2",
        "127.0.0.2",
        port,
        &[("Mesh_127_0_0_1".into(), "127.0.0.1".into(), port)],
    );
    wait_for(&a.sock, "Established").ok();
    let env = Env::new();
    env.apply("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: host-a\nspec:\n  bgp:\n    ipv4Address: 127.0.0.1/8\n---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: host-b\nspec:\n  bgp:\n    ipv4Address: 127.0.0.2/8\n");
    let now = chrono::Utc::now();
    for (h, t) in [
        ("host-a", now),
        ("host-b", now - chrono::Duration::hours(72)),
    ] {
        env.etcd.put(
            &format!("/calico/felix/v2/no-region/host/{h}/last_reported_status"),
            &format!(
                "{{\"time\":\"{}\"}}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
    }
    let sock = a.sock.display().to_string();
    // host-b's Felix report is stale, but its BGP session is up: keep.
    let out = env
        .ctl(&[
            "node",
            "cleanup",
            "--bird-socket",
            &sock,
            "--apply",
            "--yes",
        ])
        .run();
    out.ok()
        .stdout_has("host-b   keep     dead: Felix status report is 72h0m")
        .stdout_has("live: BGP session to 127.0.0.2 is Established")
        .stdout_has("Nothing to remove.");
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/nodes/host-b")
            .is_some()
    );
    // Its BIRD goes away: the session drops and the node can go.
    b.guard.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&a.sock, &[]).stdout.contains("Established") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    env.ctl(&[
        "node",
        "cleanup",
        "--bird-socket",
        &sock,
        "--apply",
        "--yes",
    ])
    .run()
    .ok()
    .stdout_has("Removed node host-b");
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/nodes/host-b")
            .is_none()
    );
    // A socket that does not exist is an error, not "no evidence".
    env.ctl(&["node", "cleanup", "--bird-socket", "/nonexistent/bird.ctl"])
        .run()
        .fails(1)
        .stderr_has("cannot read BGP sessions from /nonexistent/bird.ctl");
}
