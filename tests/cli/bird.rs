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
