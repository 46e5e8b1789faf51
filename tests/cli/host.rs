//! `node checksystem` on fabricated hosts, `node diags` on this one, `node ip-autodetect` in
//! network namespaces with veth interfaces.

use std::process::Command;

use crate::harness::*;

fn fake_host(modules_dep: &str, loaded: &str, config: Option<&str>) -> tempfile::TempDir {
    let d = tempdir();
    let m = d.path().join("lib/modules/6.1.0-test");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("modules.dep"), modules_dep).unwrap();
    std::fs::write(m.join("modules.builtin"), "").unwrap();
    std::fs::create_dir_all(d.path().join("proc/net")).unwrap();
    std::fs::write(d.path().join("proc/modules"), loaded).unwrap();
    std::fs::write(d.path().join("proc/net/ip_tables_matches"), "icmp\n").unwrap();
    if let Some(c) = config {
        std::fs::create_dir_all(d.path().join("boot")).unwrap();
        std::fs::write(d.path().join("boot/config-6.1.0-test"), c).unwrap();
    }
    d
}

const ALL_BUT_ICMP: &[&str] = &[
    "ip_set",
    "ip6_tables",
    "ip_tables",
    "ipt_ipvs",
    "vfio-pci",
    "xt_bpf",
    "ipt_REJECT",
    "ipt_rpfilter",
    "xt_rpfilter",
    "ipt_set",
    "nf_conntrack_netlink",
    "xt_addrtype",
    "xt_conntrack",
    "xt_mark",
    "xt_multiport",
    "xt_set",
    "xt_u32",
];

fn line(item: &str, v: &str) -> String {
    format!("\t\t{item:<20}\t\t\t\t\t{v}\n")
}

fn checksystem(root: &std::path::Path, release: &str) -> Out {
    calicoctl(&[
        "node",
        "checksystem",
        "--host-root",
        root.to_str().unwrap(),
        "--kernel-release",
        release,
    ])
    .run()
}

#[test]
fn checksystem_passes_when_every_module_is_found_some_way() {
    // Most via modules.dep (one compressed), xt_u32 loaded, ip_set only in the kernel config,
    // xt_icmp/xt_icmp6 through ip_tables_matches.
    let dep: String = ALL_BUT_ICMP
        .iter()
        .filter(|m| !["xt_u32", "ip_set"].contains(m))
        .map(|m| format!("kernel/net/{m}.ko.xz: \n"))
        .collect();
    let host = fake_host(
        &dep,
        "xt_u32 16384 0 - Live 0x0\n",
        Some("CONFIG_IP_SET=m\n"),
    );
    let mut want = String::from("Checking kernel version...\n");
    want += &line("6.1.0-test", "OK");
    want += "Checking kernel modules...\n";
    for m in [
        "ip_set",
        "ip6_tables",
        "ip_tables",
        "ipt_ipvs",
        "vfio-pci",
        "xt_bpf",
        "ipt_REJECT",
        "ipt_rpfilter",
        "xt_rpfilter",
        "ipt_set",
        "nf_conntrack_netlink",
        "xt_addrtype",
        "xt_conntrack",
        "xt_icmp",
        "xt_icmp6",
        "xt_mark",
        "xt_multiport",
        "xt_set",
        "xt_u32",
    ] {
        want += &line(m, "OK");
    }
    want += "System meets minimum system requirements to run Calico!\n";
    checksystem(host.path(), "6.1.0-test").ok().stdout_is(&want);
}

#[test]
fn checksystem_fails_on_a_missing_module_and_an_old_kernel() {
    let dep: String = ALL_BUT_ICMP
        .iter()
        .filter(|m| **m != "xt_set")
        .map(|m| format!("kernel/net/{m}.ko:\n"))
        .collect();
    let host = fake_host(&dep, "", None);
    let out = checksystem(host.path(), "6.1.0-test");
    out.fails(1)
        .stdout_has(
            "WARNING: Unable to detect the xt_set module as Loaded/Builtin module or lsmod\n",
        )
        .stdout_has(&line("xt_set", "FAIL"))
        .stderr_is("system doesn't meet one or more minimum systems requirements to run Calico\n");
    let old = checksystem(host.path(), "2.6.9");
    old.fails(1).stdout_has(&line("2.6.9", "FAIL")).stdout_has(
        "Minimum kernel version to run Calico is 2.6.24. Detected kernel version: 2.6.9",
    );
}

#[test]
fn checksystem_only_warns_without_ip6_tables() {
    let dep: String = ALL_BUT_ICMP
        .iter()
        .filter(|m| **m != "ip6_tables")
        .map(|m| format!("kernel/net/{m}.ko:\n"))
        .collect();
    let host = fake_host(&dep, "", None);
    checksystem(host.path(), "6.1.0-test")
        .ok()
        .stdout_has(&line("ip6_tables", "FAIL"))
        .stdout_has("WARNING: IPv6 will be unavailable as ip6_tables kernel module is not found\nSystem meets minimum system requirements to run Calico!\n");
}

#[test]
fn diags_collects_a_bundle_and_notes_what_is_missing() {
    if unsafe { libc::geteuid() } != 0 {
        calicoctl(&["node", "diags"])
            .run()
            .fails(1)
            .stdout_is("Need super user privileges: Operation not permitted\n");
        skip("not root: only the refusal was checked, not the bundle");
        return;
    }
    let logs = tempdir();
    std::fs::create_dir_all(logs.path().join("felix")).unwrap();
    std::fs::write(logs.path().join("felix/current"), "felix log line\n").unwrap();
    let tmp = tempdir();
    let out = calicoctl(&["node", "diags", "--log-dir", logs.path().to_str().unwrap()])
        .env("TMPDIR", tmp.path().to_str().unwrap())
        .run();
    out.ok()
        .stdout_has("Collecting diagnostics\nUsing temp dir: ")
        .stdout_has("Dumping routes (IPv4)\n")
        .stdout_has("Copying Calico logs\n")
        .stdout_has(
            "If required, you can upload the diagnostics bundle to a file sharing service.\n",
        );
    let bundle = out.diags_bundle();
    assert!(bundle.starts_with(tmp.path().to_str().unwrap()), "{bundle}");
    let list = Command::new("tar")
        .args(["-tzf", &bundle])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for f in [
        "diagnostics/date",
        "diagnostics/hostname",
        "diagnostics/ipv4_route",
        "diagnostics/ipv4_addr",
        "diagnostics/logs/felix/current",
    ] {
        assert!(
            list.lines().any(|l| l == f),
            "{f} missing from bundle:\n{list}"
        );
    }
    // A tool that is not installed is noted, not fatal (the harness PATH has no docker).
    assert!(out.stdout.contains("Skipping container ipset dump: no supported container runtime found in PATH (tried docker, nerdctl, crictl)"), "{}", out.stdout);
}

/// A network namespace with veth interfaces; removed on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("cctl{}-{n}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip("cannot create network namespaces here (ip netns add failed)");
            return None;
        }
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        for (dev, addr) in [
            ("docker0", "172.17.0.1/16"),
            ("eth0", "10.9.0.5/24"),
            ("eth1", "192.168.50.7/24"),
        ] {
            // veth: some kernels lack the `dummy` link type ("Unknown device type").
            let peer = format!("{dev}p");
            ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", &peer]);
            ns.ip(&["addr", "add", addr, "dev", dev]);
            ns.ip(&["link", "set", dev, "up"]);
            ns.ip(&["link", "set", &peer, "up"]);
        }
        Some(ns)
    }

    fn ip(&self, args: &[&str]) {
        let mut a = vec!["-n", self.0.as_str()];
        a.extend_from_slice(args);
        let s = Command::new("ip").args(&a).status().unwrap();
        assert!(s.success(), "ip {a:?}");
    }

    fn autodetect(&self, args: &[&str]) -> serde_json::Value {
        let b = bin();
        let mut a = vec![
            "netns",
            "exec",
            &self.0,
            b.to_str().unwrap(),
            "node",
            "ip-autodetect",
            "-o",
            "json",
        ];
        a.extend_from_slice(args);
        let out = Command::new("ip")
            .args(&a)
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn ip_autodetect_methods_in_a_network_namespace() {
    if unsafe { libc::geteuid() } != 0 {
        skip("not root: network namespaces need root");
        return;
    }
    let Some(ns) = Netns::new() else { return };
    let v4 = |j: &serde_json::Value| {
        j["detections"][0]["address"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    };
    let j = ns.autodetect(&[]);
    assert_eq!(v4(&j), "10.9.0.5/24", "{j:#}");
    let considered = &j["detections"][0]["considered"];
    assert!(
        considered
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["interface"] == "docker0"
                && c["verdict"] == "skipped: interface matches ^docker.*"),
        "{j:#}"
    );
    assert_eq!(
        v4(&ns.autodetect(&["--method", "interface=eth1"])),
        "192.168.50.7/24"
    );
    assert_eq!(
        v4(&ns.autodetect(&["--method", "cidr=172.16.0.0/12"])),
        "172.17.0.1/16"
    );
    assert_eq!(
        v4(&ns.autodetect(&["--method", "skip-interface=eth0,lo"])),
        "172.17.0.1/16"
    );
    assert_eq!(
        v4(&ns.autodetect(&["--method", "can-reach=192.168.50.1"])),
        "192.168.50.7/24"
    );
    let j = ns.autodetect(&["--method", "can-reach=10.9.0.200"]);
    assert_eq!(j["detections"][0]["interface"], "eth0");
}

#[test]
fn ip_autodetect_warns_about_a_conflicting_node() {
    // On the host itself (the datastore is on its loopback): can-reach=127.0.0.1 picks lo's
    // address, which two Node resources claim.
    let env = Env::new();
    env.apply("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: old-host\nspec:\n  bgp:\n    ipv4Address: 127.0.0.1/8\n---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: this-host\nspec:\n  bgp:\n    ipv4Address: 10.9.0.99/24\n");
    let out = env
        .ctl(&[
            "node",
            "ip-autodetect",
            "--method",
            "can-reach=127.0.0.1",
            "--ip6-method",
            "cidr=fd99::/64",
            "--check-datastore",
            "--name",
            "this-host",
        ])
        .run();
    out.fails(1)
        .stdout_has("IPv4 (can-reach=127.0.0.1): 127.0.0.1/8 on lo")
        .stdout_has("IPv6 (cidr=fd99::/64): none")
        .stdout_has("WARNING: IPv4 autodetection picks 127.0.0.1/8 but Node this-host has bgp.ipv4Address \"10.9.0.99/24\"")
        .stdout_has("WARNING: Calico node 'old-host' is already using the IPv4 address 127.0.0.1");
    env.ctl(&["node", "ip-autodetect", "--method", "nonsense"])
        .run()
        .fails(1)
        .stderr_has("unknown autodetection method \"nonsense\"");
}
