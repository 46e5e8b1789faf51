//! `calicoctl node status` (needs a running calico-node/felix process, then one report per
//! running bird/bird6): calicoctl's exact text and exit codes by default; beyond it: explicit
//! sockets, BIRD 2, JSON/YAML, and `--check`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{BirdClient, BirdError, default_sockets, parse_protocols, peer_from_name};
use crate::gocompat::boxtable::render_box_table;

/// Exit code of `--check` when a peer is not Established or BIRD could not be queried.
pub const EXIT_PEERS_DOWN: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFormat {
    Table,
    Json,
    Yaml,
}

/// Options of `node status`.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub bird_socket: Option<PathBuf>,
    pub bird6_socket: Option<PathBuf>,
    pub format: StatusFormat,
    pub check: bool,
    pub timeout: Duration,
    /// `/proc`, overridable for tests.
    pub proc_root: PathBuf,
}

/// Errors calicoctl prints to stderr (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("Calico process is not running.")]
    NotRunning,
    #[error("error executing command: {0}")]
    Exec(String),
    /// Printed on stdout by calicoctl.
    #[error("Need super user privileges: Operation not permitted")]
    NotRoot,
}

/// One BGP peer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Peer {
    pub address: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub since: String,
    pub info: String,
    pub protocol: String,
}

/// What one family's query produced.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FamilyReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    #[serde(rename = "birdVersion", skip_serializing_if = "String::is_empty")]
    pub bird_version: String,
    pub peers: Vec<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<QueryError>,
    /// Not queried (the daemon is not running).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// A query failure with every socket tried.
#[derive(Debug, Clone, Serialize)]
pub struct QueryError {
    pub class: String,
    pub message: String,
    #[serde(rename = "attemptedSockets")]
    pub attempted_sockets: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(rename = "calicoProcess")]
    pub calico_process: String,
    pub ipv4: FamilyReport,
    pub ipv6: FamilyReport,
}

/// argv of every readable process.
fn processes(proc_root: &Path) -> Vec<Vec<String>> {
    let Ok(rd) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).to_string())
                .collect()
        })
        .collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A client and its socket path, or the last connection error and every path tried.
type Connected = Result<(BirdClient, String), (BirdError, Vec<String>)>;

/// Connects to the first socket that accepts. A socket that accepts but then misbehaves is an
/// execution error, not a connection error.
fn connect(paths: &[PathBuf], timeout: Duration) -> Result<Connected, StatusError> {
    let mut last = None;
    for p in paths {
        match BirdClient::connect(p, timeout) {
            Ok(c) => return Ok(Ok((c, p.display().to_string()))),
            Err(e @ BirdError::Connect { .. }) => last = Some(e),
            Err(e) => return Err(StatusError::Exec(e.to_string())),
        }
    }
    Ok(Err((
        last.unwrap_or(BirdError::Io("no socket".into())),
        paths.iter().map(|p| p.display().to_string()).collect(),
    )))
}

fn error_class(e: &BirdError) -> &'static str {
    match e {
        BirdError::Connect { reason, .. } if reason.contains("no such file") => "SocketMissing",
        BirdError::Connect { reason, .. } if reason.contains("refused") => "SocketStale",
        BirdError::Connect { .. } => "SocketUnreachable",
        BirdError::Timeout { .. } => "Timeout",
        BirdError::Reply { .. } => "BirdError",
        BirdError::UnknownFormat | BirdError::UnexpectedLine => "UnknownFormat",
        BirdError::Io(_) => "Io",
    }
}

/// Queries one socket list; `family` filters peers (None = BIRD 2 single socket: both).
fn query(
    paths: &[PathBuf],
    timeout: Duration,
    v6: bool,
    both: bool,
) -> Result<(FamilyReport, FamilyReport), StatusError> {
    match connect(paths, timeout)? {
        Err((e, attempted)) => {
            if let BirdError::Connect {
                permission_denied: true,
                ..
            } = e
                && !is_root()
            {
                return Err(StatusError::NotRoot);
            }
            let err = QueryError {
                class: error_class(&e).into(),
                message: e.to_string(),
                attempted_sockets: attempted,
            };
            let r = FamilyReport {
                error: Some(err),
                ..Default::default()
            };
            Ok((r.clone(), r))
        }
        Ok((mut c, path)) => {
            let lines = c
                .command("show protocols")
                .map_err(|e| StatusError::Exec(e.to_string()))?;
            let protos = parse_protocols(&lines).map_err(|e| StatusError::Exec(e.to_string()))?;
            let bird2 = c.version.starts_with('2');
            let mut v4 = FamilyReport {
                socket: Some(path.clone()),
                bird_version: c.version.clone(),
                ..Default::default()
            };
            let mut v6r = v4.clone();
            for p in protos.iter().filter(|p| p.proto == "BGP") {
                let fam = if both || bird2 { None } else { Some(v6) };
                let Some((kind, addr)) = peer_from_name(&p.name, fam) else {
                    continue;
                };
                let peer = Peer {
                    address: addr.clone(),
                    kind: kind.into(),
                    state: p.state.clone(),
                    since: p.since.clone(),
                    info: p.info.clone(),
                    protocol: p.name.clone(),
                };
                let is_v6 = match fam {
                    Some(b) => b,
                    None => addr.contains(':'),
                };
                if is_v6 {
                    v6r.peers.push(peer)
                } else {
                    v4.peers.push(peer)
                }
            }
            Ok((v4, v6r))
        }
    }
}

fn render_family(out: &mut dyn Write, v: u8, r: &FamilyReport) -> std::io::Result<()> {
    writeln!(out, "\nIPv{v} BGP status")?;
    if let Some(e) = &r.error {
        write!(
            out,
            "Error querying BIRD: unable to connect to BIRDv{v} socket: {}",
            e.message
        )?;
        return Ok(());
    }
    if r.peers.is_empty() {
        writeln!(out, "No IPv{v} peers found.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = r
        .peers
        .iter()
        .map(|p| {
            vec![
                p.address.clone(),
                p.kind.clone(),
                p.state.clone(),
                p.since.clone(),
                p.info.clone(),
            ]
        })
        .collect();
    out.write_all(
        render_box_table(
            &["Peer address", "Peer type", "State", "Since", "Info"],
            &rows,
        )
        .as_bytes(),
    )
}

fn unhealthy(r: &Report) -> bool {
    [&r.ipv4, &r.ipv6].iter().any(|f| {
        !f.skipped
            && (f.error.is_some() || f.peers.iter().any(|p| !p.info.starts_with("Established")))
    })
}

/// Runs `node status`; returns the exit code.
pub fn run_node_status(opts: &StatusOptions, out: &mut dyn Write) -> Result<i32, StatusError> {
    let io = |e: std::io::Error| StatusError::Exec(e.to_string());
    let explicit = opts.bird_socket.is_some() || opts.bird6_socket.is_some();
    let mut report = Report {
        calico_process: "running".into(),
        ipv4: FamilyReport {
            skipped: true,
            ..Default::default()
        },
        ipv6: FamilyReport {
            skipped: true,
            ..Default::default()
        },
    };
    let table = opts.format == StatusFormat::Table;
    if explicit {
        report.calico_process = "not checked".into();
        if let Some(s) = &opts.bird_socket {
            let both = opts.bird6_socket.is_none();
            let (v4, v6) = query(std::slice::from_ref(s), opts.timeout, false, both)?;
            // BIRD 2 answers for both families on one socket: show both, as for 1.6's pair.
            let bird2 = v4.bird_version.starts_with('2');
            report.ipv4 = v4;
            if both && (!v6.peers.is_empty() || bird2) {
                report.ipv6 = v6;
            }
        }
        if let Some(s) = &opts.bird6_socket {
            let (_, v6) = query(std::slice::from_ref(s), opts.timeout, true, false)?;
            report.ipv6 = v6;
        }
        if table {
            if !report.ipv4.skipped {
                render_family(out, 4, &report.ipv4).map_err(io)?;
            }
            if !report.ipv6.skipped {
                render_family(out, 6, &report.ipv6).map_err(io)?;
            }
            writeln!(out).map_err(io)?;
        }
    } else {
        let procs = processes(&opts.proc_root);
        let calico = procs.iter().any(|a| {
            a.first()
                .is_some_and(|x| x == "calico-felix" || x == "calico-node")
                || a.get(1).is_some_and(|x| x == "-felix")
        });
        if !calico {
            return Err(StatusError::NotRunning);
        }
        let bird = procs.iter().any(|a| a.first().is_some_and(|x| x == "bird"));
        let bird6 = procs
            .iter()
            .any(|a| a.first().is_some_and(|x| x == "bird6"));
        if table {
            writeln!(out, "Calico process is running.").map_err(io)?;
        }
        if !bird && !bird6 {
            report.calico_process = "running; BIRD not running".into();
            if table {
                writeln!(out, "\nThe BGP backend process (BIRD) is not running.").map_err(io)?;
            }
        } else {
            if bird {
                report.ipv4 = query(&default_sockets(false), opts.timeout, false, false)?.0;
                if table {
                    render_family(out, 4, &report.ipv4).map_err(io)?;
                }
            } else if table {
                writeln!(out, "\nINFO: BIRDv4 process: 'bird' is not running.").map_err(io)?;
            }
            if bird6 {
                report.ipv6 = query(&default_sockets(true), opts.timeout, true, false)?.1;
                if table {
                    render_family(out, 6, &report.ipv6).map_err(io)?;
                }
            } else if table {
                writeln!(out, "\nINFO: BIRDv6 process: 'bird6' is not running.").map_err(io)?;
            }
        }
        if table {
            writeln!(out).map_err(io)?;
        }
    }
    match opts.format {
        StatusFormat::Table => {}
        StatusFormat::Json => {
            let v = serde_json::to_value(&report).map_err(|e| StatusError::Exec(e.to_string()))?;
            writeln!(out, "{}", crate::gocompat::json::to_go_json_indent(&v)).map_err(io)?;
        }
        StatusFormat::Yaml => {
            let v = serde_json::to_value(&report).map_err(|e| StatusError::Exec(e.to_string()))?;
            write!(out, "{}", crate::gocompat::yaml::to_yaml(&v)).map_err(io)?;
        }
    }
    Ok(if opts.check && unhealthy(&report) {
        EXIT_PEERS_DOWN
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_table() {
        let r = FamilyReport {
            peers: vec![Peer {
                address: "172.16.91.206".into(),
                kind: "node-to-node mesh".into(),
                state: "up".into(),
                since: "07:49:38".into(),
                info: "Established".into(),
                protocol: "Mesh_172_16_91_206".into(),
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        out.extend_from_slice(b"Calico process is running.\n");
        render_family(&mut out, 4, &r).unwrap();
        render_family(&mut out, 6, &FamilyReport::default()).unwrap();
        out.extend_from_slice(b"\n");
        let want = "Calico process is running.

IPv4 BGP status
+---------------+-------------------+-------+----------+-------------+
| PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+---------------+-------------------+-------+----------+-------------+
| 172.16.91.206 | node-to-node mesh | up    | 07:49:38 | Established |
+---------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.

";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn missing_sockets_report_both_paths() {
        let dir = std::env::temp_dir().join(format!("bird-none-{}", std::process::id()));
        let paths = vec![dir.join("a.ctl"), dir.join("b.ctl")];
        let (r, _) = query(&paths, Duration::from_millis(200), false, false).unwrap();
        let e = r.error.unwrap();
        assert_eq!(e.attempted_sockets.len(), 2);
        assert_eq!(
            e.message,
            format!(
                "dial unix {}: connect: no such file or directory",
                paths[1].display()
            )
        );
        assert_eq!(e.class, "SocketMissing");
    }
}
