//! BIRD control-socket client and reply parser (BIRD 1.6 and 2.x). Nothing outside this module
//! knows the wire format (the same in BIRD 1.6.8 and 2.0.12): a greeting, one command per line,
//! reply lines `DDDD-text` / ` text` / `DDDD text` (final), read until the final line without
//! half-closing.

pub mod status;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why talking to BIRD failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BirdError {
    /// Could not connect (missing socket, stale socket, permissions).
    #[error("dial unix {path}: connect: {reason}")]
    Connect {
        path: String,
        reason: String,
        permission_denied: bool,
    },
    #[error("timed out after {secs}s waiting for BIRD on {path}")]
    Timeout { path: String, secs: f64 },
    #[error("{0}")]
    Io(String),
    /// BIRD answered with an error code (8xxx/9xxx).
    #[error("BIRD error {code}: {text}")]
    Reply { code: u16, text: String },
    #[error("unknown BIRD table output format")]
    UnknownFormat,
    #[error("unexpected output line from BIRD")]
    UnexpectedLine,
}

/// One reply line: its code (continuations have none) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub code: Option<u16>,
    pub text: String,
}

/// A connected client.
pub struct BirdClient {
    reader: BufReader<UnixStream>,
    path: String,
    timeout: Duration,
    /// The version from the greeting (`1.6.8`, `2.0.12`, `v0.3.3+birdv1.6.8`).
    pub version: String,
}

use crate::gocompat::goerr::errno_text;

impl BirdClient {
    /// Connects and reads the greeting.
    pub fn connect(path: &Path, timeout: Duration) -> Result<BirdClient, BirdError> {
        let p = path.display().to_string();
        let stream = UnixStream::connect(path).map_err(|e| BirdError::Connect {
            path: p.clone(),
            reason: errno_text(&e),
            permission_denied: e.kind() == ErrorKind::PermissionDenied,
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| BirdError::Io(e.to_string()))?;
        let mut c = BirdClient {
            reader: BufReader::new(stream),
            path: p,
            timeout,
            version: String::new(),
        };
        let greeting = c.read_line()?;
        if greeting.code == Some(1) {
            // `BIRD 1.6.8 ready.`
            c.version = greeting
                .text
                .trim()
                .strip_prefix("BIRD ")
                .and_then(|r| r.strip_suffix(" ready."))
                .unwrap_or_default()
                .to_string();
        }
        Ok(c)
    }

    fn read_line(&mut self) -> Result<Line, BirdError> {
        let mut buf = String::new();
        match self.reader.read_line(&mut buf) {
            Ok(0) => Err(BirdError::Io(format!(
                "BIRD closed the connection on {}",
                self.path
            ))),
            Ok(_) => Ok(parse_line(buf.trim_end_matches('\n'))),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(BirdError::Timeout {
                    path: self.path.clone(),
                    secs: self.timeout.as_secs_f64(),
                })
            }
            Err(e) => Err(BirdError::Io(e.to_string())),
        }
    }

    /// Sends one command and returns the reply lines up to and including the final one.
    pub fn command(&mut self, cmd: &str) -> Result<Vec<Line>, BirdError> {
        self.reader
            .get_mut()
            .write_all(format!("{cmd}\n").as_bytes())
            .map_err(|e| BirdError::Io(format!("unable to write to BIRD socket: {e}")))?;
        let mut lines = Vec::new();
        loop {
            let l = self.read_line()?;
            let fin = is_final(&l);
            lines.push(l);
            if fin {
                return Ok(lines);
            }
            if lines.len() > 100_000 {
                return Err(BirdError::Io("BIRD reply too long".into()));
            }
        }
    }
}

/// The raw text of a line is kept for final-line detection.
fn parse_line(raw: &str) -> Line {
    let b = raw.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && (b[4] == b'-' || b[4] == b' ') {
        let code: u16 = raw[..4].parse().unwrap_or(0);
        // Encode "final" in the text marker by keeping the separator.
        return Line {
            code: Some(code),
            text: format!("{}{}", b[4] as char, &raw[5..]),
        };
    }
    if b.len() == 4 && b.iter().all(u8::is_ascii_digit) {
        return Line {
            code: Some(raw.parse().unwrap_or(0)),
            text: " ".into(),
        };
    }
    Line {
        code: None,
        text: raw.to_string(),
    }
}

fn is_final(l: &Line) -> bool {
    l.code.is_some() && l.text.starts_with(' ')
}

impl Line {
    /// The text without the `-`/` ` separator (continuations: without the leading space).
    pub fn body(&self) -> &str {
        match self.code {
            Some(_) => &self.text[1..],
            None => self.text.strip_prefix(' ').unwrap_or(&self.text),
        }
    }
}

/// One row of `show protocols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub proto: String,
    pub table: String,
    pub state: String,
    pub since: String,
    pub info: String,
}

/// Parses the raw text of a whole `show protocols` reply (lines as read from the socket).
pub fn parse_reply(text: &str) -> Result<Vec<Protocol>, BirdError> {
    let lines: Vec<Line> = text.lines().map(parse_line).collect();
    parse_protocols(&lines)
}

/// Parses a `show protocols` reply of BIRD 1.6 or 2.x.
pub fn parse_protocols(lines: &[Line]) -> Result<Vec<Protocol>, BirdError> {
    let mut out = Vec::new();
    for l in lines {
        match l.code {
            Some(0) | Some(1) => continue,
            Some(2002) => {
                let heads: Vec<String> =
                    l.body().split_whitespace().map(str::to_lowercase).collect();
                if heads != ["name", "proto", "table", "state", "since", "info"] {
                    return Err(BirdError::UnknownFormat);
                }
            }
            Some(1002) | None => {
                if let Some(p) = parse_row(l.body()) {
                    out.push(p);
                }
            }
            Some(c) if c >= 8000 => {
                return Err(BirdError::Reply {
                    code: c,
                    text: l.body().to_string(),
                });
            }
            Some(_) => return Err(BirdError::UnexpectedLine),
        }
    }
    Ok(out)
}

/// Splits a row on whitespace (long names push columns, so no fixed offsets): name proto table
/// state since [info…]. A `since` written as date plus time (a custom `timeformat`) is kept
/// together.
fn parse_row(text: &str) -> Option<Protocol> {
    let f: Vec<&str> = text.split_whitespace().collect();
    if f.len() < 5 {
        return None;
    }
    let mut since = f[4].to_string();
    let mut rest = 5;
    if f.get(5).is_some_and(|t| {
        t.len() >= 8 && t.as_bytes()[2] == b':' && t.as_bytes().get(5) == Some(&b':')
    }) && since.len() == 10
    {
        since = format!("{since} {}", f[5]);
        rest = 6;
    }
    Some(Protocol {
        name: f[0].to_string(),
        proto: f[1].to_string(),
        table: f[2].to_string(),
        state: f[3].to_string(),
        since,
        info: f[rest.min(f.len())..].join(" "),
    })
}

/// Peer type and address from a Calico protocol name (`Mesh_10_0_0_1`, `Node_fd00__2`).
pub fn peer_from_name(name: &str, v6: Option<bool>) -> Option<(&'static str, String)> {
    let (kind, rest) = name.split_once('_')?;
    let kind = match kind {
        "Mesh" => "node-to-node mesh",
        "Node" => "node specific",
        "Global" => "global",
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let as_v4 = rest.replace('_', ".");
    let is_v6 = match v6 {
        Some(b) => b,
        None => as_v4.parse::<std::net::Ipv4Addr>().is_err(),
    };
    Some((kind, if is_v6 { rest.replace('_', ":") } else { as_v4 }))
}

/// The default socket paths calicoctl tries, in order.
pub fn default_sockets(v6: bool) -> Vec<PathBuf> {
    let f = if v6 { "bird6.ctl" } else { "bird.ctl" };
    vec![
        PathBuf::from(format!("/var/run/calico/{f}")),
        PathBuf::from(format!("/var/run/bird/{f}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(raw: &str) -> Vec<Line> {
        raw.lines().map(parse_line).collect()
    }

    #[test]
    fn bird16_rows() {
        let l = lines(
            "0001 BIRD 1.6.8 ready.\n2002-name     proto    table    state  since       info\n1002-kernel1  Kernel   master   up     01:04:50    \n Mesh_127_0_0_2 BGP      master   up     01:04:54    Established   \n Mesh_127_0_0_3 BGP      master   start  01:04:50    Active        Socket: Connection refused\n Node_10_0_0_9 BGP      master   down   01:09:48    \n0000 ",
        );
        let p = parse_protocols(&l).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[1].info, "Established");
        assert_eq!(p[2].info, "Active Socket: Connection refused");
        assert_eq!(p[3].state, "down");
        assert_eq!(p[3].info, "");
        assert!(is_final(l.last().unwrap()));
    }

    #[test]
    fn bird2_heading_and_errors() {
        let l = lines(
            "2002-Name       Proto      Table      State  Since         Info\n1002-Mesh_127_0_0_1 BGP        ---        up     01:10:50.789  Established   \n0000 ",
        );
        let p = parse_protocols(&l).unwrap();
        assert_eq!(p[0].since, "01:10:50.789");
        let bad = lines("2002-Foo bar\n0000 ");
        assert_eq!(parse_protocols(&bad), Err(BirdError::UnknownFormat));
        let err = lines("9001 syntax error");
        assert!(matches!(
            parse_protocols(&err),
            Err(BirdError::Reply { code: 9001, .. })
        ));
    }

    #[test]
    fn peer_names() {
        assert_eq!(
            peer_from_name("Mesh_172_17_8_102", None),
            Some(("node-to-node mesh", "172.17.8.102".into()))
        );
        assert_eq!(
            peer_from_name("Node_fd00__2", None),
            Some(("node specific", "fd00::2".into()))
        );
        assert_eq!(
            peer_from_name("Global_10_0_0_1", Some(false)),
            Some(("global", "10.0.0.1".into()))
        );
        assert_eq!(peer_from_name("kernel1", None), None);
        assert_eq!(peer_from_name("Local_x", None), None);
    }
}
