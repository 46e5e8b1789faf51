//! The allowlist of intentional differences, read from the table under `## Allowlist` in
//! docs/compatibility.md, so the documented list and what the suite accepts cannot drift.

use std::collections::BTreeMap;
use std::path::Path;

use crate::compare::PARTS;

/// One documented difference: which parts of a step may differ when a case says `allow ID`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub parts: Vec<String>,
}

/// At most this many entries (issue: keep the list short).
pub const MAX_ENTRIES: usize = 15;

pub fn load(path: &Path) -> BTreeMap<String, Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<BTreeMap<String, Entry>, String> {
    let mut in_section = false;
    let mut header_seen = false;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            in_section = line.trim() == "## Allowlist";
            continue;
        }
        if !in_section || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !header_seen {
            if cells.first() != Some(&"id") || cells.get(1) != Some(&"parts") {
                return Err(format!(
                    "the Allowlist table must start with `| id | parts |`: {line}"
                ));
            }
            header_seen = true;
            continue;
        }
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
        {
            continue;
        }
        let id = cells[0].trim_matches('`').to_string();
        if id.is_empty() || cells.len() < 5 || cells[2..].iter().any(|c| c.is_empty()) {
            return Err(format!(
                "allowlist row needs id, parts, calicoctl, ours, why: {line}"
            ));
        }
        let parts: Vec<String> = cells[1].split(',').map(|p| p.trim().to_string()).collect();
        if let Some(bad) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
            return Err(format!(
                "allowlist {id}: unknown part {bad:?} (one of {PARTS:?})"
            ));
        }
        if out.insert(id.clone(), Entry { parts }).is_some() {
            return Err(format!("allowlist {id} listed twice"));
        }
    }
    if out.len() > MAX_ENTRIES {
        return Err(format!(
            "{} allowlist entries; at most {MAX_ENTRIES}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_table() {
        let t = "# x\n## Allowlist\n\n| id | parts | calicoctl | ours | why |\n|---|---|---|---|---|\n| `hint` | stderr | a | b | c |\n## Other\n| `x` | exit | a | b | c |\n";
        let m = parse(t).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m["hint"].parts, ["stderr"]);
        assert!(
            parse("## Allowlist\n| id | parts | a | b | c |\n| `h` | color | a | b | c |\n")
                .is_err()
        );
        assert!(
            parse("## Allowlist\n| id | parts | a | b | c |\n| `h` | exit | a |  | c |\n").is_err()
        );
    }
}
