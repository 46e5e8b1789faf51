//! A tiny logrus-style logger to stderr. Default level `panic` (silent), like calicoctl.
//! Callers must never pass secrets (we log keys and endpoints, never config values).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(0);

/// Levels in logrus order (higher = more verbose).
pub const LEVELS: &[&str] = &["panic", "fatal", "error", "warn", "info", "debug", "trace"];

/// Parses a `--log-level` value (case-insensitive; `warning` = `warn`).
pub fn parse_level(s: &str) -> Option<u8> {
    let l = s.to_lowercase();
    let l = if l == "warning" {
        "warn".to_string()
    } else {
        l
    };
    LEVELS.iter().position(|x| *x == l).map(|p| p as u8)
}

pub fn set_level(level: u8) {
    LEVEL.store(level, Ordering::Relaxed);
}

fn log(level: u8, msg: &str) {
    if LEVEL.load(Ordering::Relaxed) >= level {
        let msg = &redact_url_passwords(msg);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = writeln!(
            crate::gocompat::stdio::stderr(),
            "time=\"{now}\" level={} msg={:?}",
            LEVELS[level as usize],
            msg
        );
    }
}

pub fn debug(msg: &str) {
    log(5, msg);
}

pub fn info(msg: &str) {
    log(4, msg);
}

pub fn warn(msg: &str) {
    log(3, msg);
}

/// Hides the password of every `scheme://user:password@host` in `text` (`user:REDACTED@`):
/// endpoint URLs may carry credentials, and they end up in errors, logs and `config view`.
pub fn redact_url_passwords(text: &str) -> String {
    static URL_PASSWORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s,]*):[^/@\s,]*@").expect("regex")
    });
    URL_PASSWORD
        .replace_all(text, "${1}:REDACTED@")
        .into_owned()
}

/// Go's `strconv.Quote`: `"` and `\` escaped, control characters as Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One klog text line at info level, as Go components (client-go) write them to stderr:
/// `Immdd hh:mm:ss.uuuuuu PID file:line] "message"` with local time; the message quoted as a
/// structured-logging call quotes it.
pub fn klog_info(source: &str, msg: &str) {
    let now = chrono::Local::now();
    let _ = writeln!(
        crate::gocompat::stdio::stderr(),
        "I{} {:>7} {source}] {}",
        now.format("%m%d %H:%M:%S%.6f"),
        std::process::id(),
        go_quote(msg)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(
            redact_url_passwords("at http://u:p%40ss@h:1,https://v:x@h2:2/a and ftp://u@h"),
            "at http://u:REDACTED@h:1,https://v:REDACTED@h2:2/a and ftp://u@h"
        );
        assert_eq!(redact_url_passwords("http://h:2379"), "http://h:2379");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(
            go_quote("Warning: unknown field \"status\""),
            r#""Warning: unknown field \"status\"""#
        );
        assert_eq!(go_quote("a\tb\u{1}é"), r#""a\tb\x01é""#);
    }
}
