//! A tiny logrus-style logger to stderr. Default level `panic` (silent), like calicoctl.
//! Callers must never pass secrets (we log keys and endpoints, never config values).

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
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        eprintln!(
            "time=\"{now}\" level={} msg={:?}",
            LEVELS[level as usize], msg
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
