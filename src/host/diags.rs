//! `node diags` (root only; logs default to /var/log/calico): runs calicoctl's list of commands
//! into a temp directory, copies the Calico logs and container logs, and tars it up. Missing
//! tools are noted and skipped; every command has a time limit so a wedged tool cannot hang the
//! run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Options of one collection.
pub struct DiagsOptions {
    pub log_dir: PathBuf,
    /// Parent of the `calico<random>` temp dir.
    pub tmp_base: PathBuf,
    /// Per-command time limit.
    pub timeout: Duration,
    /// PATH to search tools in.
    pub path: String,
}

/// Why a diagnostics command gave no output; the texts are Go's `exec` ones.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("exec: \"{program}\": {source}")]
    Spawn { program: String, source: io::Error },
    #[error("timed out after {0}s")]
    Timeout(u64),
    #[error("{0}")]
    Wait(io::Error),
    /// A non-zero exit: its status and the trimmed combined output.
    #[error("{status}: {output}")]
    Failed {
        status: std::process::ExitStatus,
        output: String,
    },
}

/// Runs `argv` with a time limit; `Ok(combined output)` on exit status 0.
fn run(argv: &[&str], cwd: &Path, timeout: Duration, path: &str) -> Result<Vec<u8>, RunError> {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: argv[0].to_string(),
            source,
        })?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut o) = out {
            let _ = io::Read::read_to_end(&mut o, &mut buf);
        }
        if let Some(mut e) = err {
            let _ = io::Read::read_to_end(&mut e, &mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout(timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(RunError::Wait(e)),
        }
    };
    let buf = reader.join().unwrap_or_default();
    if status.success() {
        Ok(buf)
    } else {
        Err(RunError::Failed {
            status,
            output: String::from_utf8_lossy(&buf).trim_end().to_string(),
        })
    }
}

fn on_path(tool: &str, path: &str) -> bool {
    path.split(':')
        .any(|d| !d.is_empty() && Path::new(d).join(tool).is_file())
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// A new directory `<base>/<prefix><random>`, mode 0700, that did not exist before: the
/// diagnostics commands run as root, so a name another user could guess and create first
/// (or point elsewhere with a symlink) must never be reused.
pub fn private_temp_dir(base: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir_in(base)
}

/// Collects the bundle; returns its path. Progress goes to `out` in calicoctl's words.
pub fn collect(opts: &DiagsOptions, out: &mut dyn Write) -> io::Result<PathBuf> {
    writeln!(out, "Collecting diagnostics")?;
    // The bundle is written inside it and stays for the user to pick up.
    let tmp = private_temp_dir(&opts.tmp_base, "calico")?.keep();
    writeln!(out, "Using temp dir: {}", tmp.display())?;
    let diag = tmp.join("diagnostics");
    std::fs::create_dir_all(&diag)?;
    let runtime = ["docker", "nerdctl", "crictl"]
        .into_iter()
        .find(|t| on_path(t, &opts.path));
    let mut steps: Vec<(Option<&str>, Vec<&str>, Option<&str>)> = vec![
        (None, vec!["date"], Some("date")),
        (None, vec!["hostname"], Some("hostname")),
        (
            Some("Dumping routes (IPv4)"),
            vec!["ip", "-4", "route"],
            Some("ipv4_route"),
        ),
        (
            Some("Dumping routes (IPv6)"),
            vec!["ip", "-6", "route"],
            Some("ipv6_route"),
        ),
        (
            Some("Dumping interface info (IPv4)"),
            vec!["ip", "-4", "addr"],
            Some("ipv4_addr"),
        ),
        (
            Some("Dumping interface info (IPv6)"),
            vec!["ip", "-6", "addr"],
            Some("ipv6_addr"),
        ),
        (
            Some("Dumping nftables"),
            vec!["nft", "-n", "-a", "list", "ruleset"],
            Some("nft_ruleset"),
        ),
        (
            Some("Dumping iptables (IPv4)"),
            vec!["iptables-save", "-c"],
            Some("ipv4_tables"),
        ),
        (
            Some("Dumping iptables (IPv6)"),
            vec!["ip6tables-save", "-c"],
            Some("ipv6_tables"),
        ),
        (
            Some("Dumping ipsets"),
            vec!["ipset", "list"],
            Some("ipsets"),
        ),
    ];
    if let Some(t @ ("docker" | "nerdctl")) = runtime {
        steps.push((
            Some("Dumping ipsets (container)"),
            vec![
                t,
                "run",
                "--rm",
                "--privileged",
                "--net=host",
                "calico/node",
                "ipset",
                "list",
            ],
            Some("ipset_container"),
        ));
    }
    steps.push((
        Some("Copying journal for calico-node.service"),
        vec!["journalctl", "-u", "calico-node.service", "--no-pager"],
        Some("journalctl_calico_node"),
    ));
    steps.push((
        Some("Dumping felix stats"),
        vec!["pkill", "-SIGUSR1", "felix"],
        None,
    ));
    if on_path("netstat", &opts.path) {
        steps.push((
            Some("Dumping netstat"),
            vec!["netstat", "-a", "-n"],
            Some("netstat"),
        ));
    } else {
        steps.push((Some("Dumping ss"), vec!["ss", "-a", "-n"], Some("ss")));
    }
    if runtime.is_none() || runtime == Some("crictl") {
        writeln!(
            out,
            "Skipping container ipset dump: no supported container runtime found in PATH (tried docker, nerdctl, crictl)"
        )?;
    }
    for (info, argv, file) in &steps {
        if let Some(i) = info {
            writeln!(out, "{i}")?;
        }
        match run(argv, &tmp, opts.timeout, &opts.path) {
            Ok(bytes) => {
                if let Some(f) = file {
                    std::fs::write(diag.join(f), bytes)?;
                }
            }
            Err(e) => {
                writeln!(out, "Failed to run command: {}\nError: {e}", argv.join(" "))?;
            }
        }
    }
    // Calico's own logs.
    match std::fs::metadata(&opts.log_dir) {
        Ok(m) if m.is_dir() => {
            writeln!(out, "Copying Calico logs")?;
            if let Err(e) = copy_tree(&opts.log_dir, &diag.join("logs")) {
                writeln!(out, "Error copying log files: {e}")?;
            }
        }
        Ok(_) => write!(
            out,
            "No logs found in {}; skipping log copying",
            opts.log_dir.display()
        )?,
        Err(e) => writeln!(
            out,
            "Error copying log files: stat {}: {e}",
            opts.log_dir.display()
        )?,
    }
    // Calico containers' logs.
    if let Some(t @ ("docker" | "nerdctl")) = runtime {
        match run(
            &[
                t,
                "ps",
                "-a",
                "--filter",
                "name=calico",
                "--format",
                "{{.Names}}: {{.CreatedAt}}",
            ],
            &tmp,
            opts.timeout,
            &opts.path,
        ) {
            Ok(list) => {
                let list = String::from_utf8_lossy(&list);
                let names: Vec<&str> = list.lines().filter(|l| !l.contains("k8s_POD")).collect();
                if !names.is_empty() {
                    writeln!(out, "Copying logs from Calico containers ({t})")?;
                    let logs = diag.join("logs");
                    std::fs::create_dir_all(&logs)?;
                    std::fs::write(logs.join("container_creation_time"), names.join("\n"))?;
                    for n in names {
                        let name = n.split(':').next().unwrap_or(n);
                        if let Ok(b) = run(&[t, "logs", name], &tmp, opts.timeout, &opts.path) {
                            std::fs::write(logs.join(format!("{name}.log")), b)?;
                        }
                    }
                }
            }
            Err(e) => writeln!(out, "Could not run {t} command: {e}")?,
        }
    }
    let ts = chrono::Local::now().format("%Y%m%d_%H%M%S");
    let name = format!("diags-{ts}.tar.gz");
    run(
        &["tar", "-zcf", &name, "diagnostics"],
        &tmp,
        opts.timeout,
        &opts.path,
    )
    .map_err(io::Error::other)?;
    let bundle = tmp.join(&name);
    writeln!(out, "\nDiags saved to {}", bundle.display())?;
    writeln!(
        out,
        "If required, you can upload the diagnostics bundle to a file sharing service."
    )?;
    Ok(bundle)
}
