//! `node checksystem`: kernel version and the kernel modules Calico
//! needs, detected the ways calicoctl does (modules.dep / modules.builtin, loaded modules, kernel
//! config symbols, /proc/net/ip_tables_matches) plus /sys/module and compressed modules.
//! Everything is read below a root directory so tests can use a fabricated host.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Modules in calicoctl's list with the kernel config symbol that also proves them, and whether
/// their absence only disables a feature.
pub const MODULES: &[(&str, &str, bool)] = &[
    ("ip_set", "CONFIG_IP_SET", false),
    ("ip6_tables", "CONFIG_IP6_NF_IPTABLES", true),
    ("ip_tables", "CONFIG_IP_NF_IPTABLES", false),
    ("ipt_ipvs", "CONFIG_NETFILTER_XT_MATCH_IPVS", false),
    ("vfio-pci", "CONFIG_VFIO", false),
    ("xt_bpf", "CONFIG_BPF", false),
    ("ipt_REJECT", "CONFIG_NFT_REJECT", false),
    ("ipt_rpfilter", "CONFIG_IP_NF_MATCH_RPFILTER", false),
    ("xt_rpfilter", "CONFIG_IP_NF_MATCH_RPFILTER", false),
    ("ipt_set", "CONFIG_NET_EMATCH_IPSET", false),
    ("nf_conntrack_netlink", "CONFIG_NF_CT_NETLINK", false),
    ("xt_addrtype", "CONFIG_NETFILTER_XT_MATCH_ADDRTYPE", false),
    ("xt_conntrack", "CONFIG_NETFILTER_XT_MATCH_CONNTRACK", false),
    ("xt_icmp", "icmp", false),
    ("xt_icmp6", "icmp", false),
    ("xt_mark", "CONFIG_IP_NF_TARGET_MARK", false),
    ("xt_multiport", "CONFIG_IP_NF_MATCH_MULTIPORT", false),
    ("xt_set", "CONFIG_NETFILTER_XT_SET", false),
    ("xt_u32", "CONFIG_NETFILTER_XT_MATCH_U32", false),
];

pub const MIN_KERNEL: &str = "2.6.24";

/// Where to look.
pub struct Host {
    /// `/` normally.
    pub root: PathBuf,
    /// `uname -r`.
    pub release: String,
    /// `-f/--kernel-config`.
    pub kernel_config: Option<PathBuf>,
}

/// The report text and whether the system passes.
pub struct Report {
    pub text: String,
    pub ok: bool,
}

/// calicoctl's result line: two tabs, the item in 20 columns, five tabs, the verdict.
pub fn line(item: &str, verdict: &str) -> String {
    format!("\t\t{item:<20}\t\t\t\t\t{verdict}\n")
}

/// Compares dotted versions numerically (`4.19.0-21-amd64` → 4, 19, 0).
pub fn version_at_least(have: &str, min: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '+'])
            .take(3)
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    parse(have) >= parse(min)
}

impl Host {
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    fn kernel_config(&self) -> String {
        if let Some(p) = &self.kernel_config {
            return self.read(p);
        }
        let r = &self.release;
        for p in [
            "/usr/src/linux/.config".to_string(),
            format!("/boot/config-{r}"),
            format!("/usr/src/linux-{r}/.config"),
            format!("/usr/src/linux-headers-{r}/.config"),
            format!("/lib/modules/{r}/build/.config"),
        ] {
            let full = self.path(&p);
            if full.exists() {
                return self.read(&full);
            }
        }
        String::new()
    }

    /// Runs the whole check.
    pub fn check(&self) -> Report {
        let mut t = String::new();
        let mut ok = true;
        t.push_str("Checking kernel version...\n");
        if version_at_least(&self.release, MIN_KERNEL) {
            t.push_str(&line(&self.release, "OK"));
        } else {
            ok = false;
            t.push_str(&line(&self.release, "FAIL"));
            let _ = writeln!(
                t,
                "Minimum kernel version to run Calico is {MIN_KERNEL}. Detected kernel version: {}",
                self.release
            );
        }
        t.push_str("Checking kernel modules...\n");
        let r = &self.release;
        let dep = self.read(&self.path(&format!("/lib/modules/{r}/modules.dep")));
        let builtin = self.read(&self.path(&format!("/lib/modules/{r}/modules.builtin")));
        let loaded = self.read(&self.path("/proc/modules"));
        let config = self.kernel_config();
        let matches = self.read(&self.path("/proc/net/ip_tables_matches"));
        let mut missing = Vec::new();
        for (m, sym, _) in MODULES {
            let ko = format!("/{m}.ko");
            let in_files = dep.lines().chain(builtin.lines()).any(|l| {
                let path = l.split(':').next().unwrap_or(l);
                path.ends_with(&ko)
                    || [".gz", ".xz", ".zst", ".bz2"]
                        .iter()
                        .any(|z| path.ends_with(&format!("{ko}{z}")))
            });
            let found = in_files
                || loaded.contains(m)
                || self
                    .path(&format!("/sys/module/{}", m.replace('-', "_")))
                    .exists()
                || config.lines().any(|l| l.starts_with(&format!("{sym}=")))
                || matches.lines().any(|l| l.trim() == *sym);
            if found {
                t.push_str(&line(m, "OK"));
            } else {
                let _ = writeln!(
                    t,
                    "WARNING: Unable to detect the {m} module as Loaded/Builtin module or lsmod"
                );
                t.push_str(&line(m, "FAIL"));
                missing.push(*m);
            }
        }
        if missing == ["ip6_tables"] {
            t.push_str(
                "WARNING: IPv6 will be unavailable as ip6_tables kernel module is not found\n",
            );
        } else if !missing.is_empty() {
            ok = false;
        }
        if ok {
            t.push_str("System meets minimum system requirements to run Calico!\n");
        }
        Report { text: t, ok }
    }
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_is_calicoctls() {
        assert_eq!(
            line("ip_set", "OK"),
            "\t\tip_set              \t\t\t\t\tOK\n"
        );
    }

    #[test]
    fn kernel_versions_compare_numerically() {
        assert!(version_at_least("6.1.0-18-amd64", "2.6.24"));
        assert!(version_at_least("2.6.24", "2.6.24"));
        assert!(!version_at_least("2.6.9", "2.6.24"));
        assert!(version_at_least("2.10.0", "2.6.24"));
    }
}
