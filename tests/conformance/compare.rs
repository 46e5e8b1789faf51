//! What is compared after a step, the normalisation of values that differ on every run, and
//! the readable diff printed on a difference.

use std::sync::OnceLock;

use regex::Regex;

/// What one side produced for a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
    pub state: String,
}

/// The parts of a step that are compared (allowlist entries name them).
pub const PARTS: &[&str] = &["exit", "stdout", "stderr", "state"];

impl Observed {
    pub fn part(&self, name: &str) -> String {
        match name {
            "exit" => self.exit.to_string(),
            "stdout" => self.stdout.clone(),
            "stderr" => self.stderr.clone(),
            "state" => self.state.clone(),
            _ => unreachable!("unknown part {name}"),
        }
    }

    /// The parts that differ from `other`.
    pub fn differing(&self, other: &Observed) -> Vec<&'static str> {
        PARTS
            .iter()
            .copied()
            .filter(|p| self.part(p) != other.part(p))
            .collect()
    }

    /// The step as text, for diffs: each part under a header; a missing final newline shown.
    pub fn render(&self) -> String {
        let mut s = format!("exit code: {}\n", self.exit);
        for (name, text) in [
            ("stdout", &self.stdout),
            ("stderr", &self.stderr),
            ("stored state", &self.state),
        ] {
            s.push_str(&format!("──── {name}\n"));
            s.push_str(text);
            if !text.is_empty() && !text.ends_with('\n') {
                s.push_str("\n⟨no newline at end⟩\n");
            }
        }
        s
    }
}

struct Rule {
    re: Regex,
    with: &'static str,
}

/// Values that differ on every run, and only those: uids, creation and other timestamps,
/// resource versions, the cluster GUID, Go pointers (`ipam show --show-configuration`, the
/// `&{0x3a5e476234d8 <nil>}` values in validation errors).
fn rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        let r = |re: &str, with: &'static str| Rule {
            re: Regex::new(re).unwrap(),
            with,
        };
        vec![
            r(
                r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                "<UID>",
            ),
            r(
                r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z| ?[+-]\d\d:?\d\d( [A-Z]+)?)?",
                "<TIME>",
            ),
            r(r"\b[0-9a-f]{32}\b", "<GUID>"),
            // etcd revisions: resource versions (KDD Profiles carry `<namespace RV>/<service
            // account RV>`, either side may be empty) and the revisions `ipam check` reports.
            r(
                r#"((?:resourceVersion|[rR]evision)\\?"?:\s*\\?"?)([0-9]+/[0-9]*|/[0-9]+|[0-9]+)"#,
                "${1}<RV>",
            ),
            // Go's `%#v` of a pointer: `(*ipam.VMAddressPersistence)(0x3d9c4a27d4d0)`.
            r(r"(\(\*[\w.]+\))\(0x[0-9a-f]+\)", "${1}(<PTR>)"),
            r(r"\b0x[0-9a-f]{9,12}\b", "<PTR>"),
            // etcd's Go client's warnings name the first endpoint without its scheme.
            r(
                r#"("target":"etcd-endpoints://<PTR>/)[^"]+""#,
                "${1}<ENDPOINT>\"",
            ),
            // klog's line header: severity, date, time and the process id.
            r(
                r"(?m)^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ ",
                "${1}<KLOG> ",
            ),
        ]
    })
}

/// Normalises one output of one side: the side's own paths and endpoints become their
/// placeholders, then the run-specific values become tags.
pub fn normalise(text: &str, placeholders: &[(&'static str, String)]) -> String {
    let mut s = text.to_string();
    // Longest first, so a path is not half-replaced by a shorter one it contains.
    let mut ph: Vec<&(&str, String)> = placeholders.iter().filter(|(_, v)| !v.is_empty()).collect();
    ph.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    for (name, value) in ph {
        s = s.replace(value.as_str(), name);
    }
    for rule in rules() {
        if rule.re.is_match(&s) {
            s = rule.re.replace_all(&s, rule.with).into_owned();
        }
    }
    // A table holding a Go pointer is as wide as that run's address: compare it without the
    // padding and border lengths.
    if s.contains(")(<PTR>)") {
        static PAD: OnceLock<Regex> = OnceLock::new();
        let pad = PAD.get_or_init(|| Regex::new(r"(?m)^([+|].*)$").unwrap());
        s = pad
            .replace_all(&s, |c: &regex::Captures| {
                let mut line = String::new();
                for ch in c[1].chars() {
                    if !((ch == ' ' || ch == '-') && line.ends_with(ch)) {
                        line.push(ch);
                    }
                }
                line
            })
            .into_owned();
    }
    sort_unordered_runs(&s)
}

/// calicoctl prints some lists in Go map order, different on every run: a CRD schema's errors
/// (`-  spec.x (...)`, a lower-case JSON path) and `ipam check`'s leaked addresses
/// (`  IP leaked; attrs ...`). Each run of such lines is compared sorted.
fn sort_unordered_runs(s: &str) -> String {
    static LINE: OnceLock<Regex> = OnceLock::new();
    let line = LINE.get_or_init(|| {
        Regex::new(r"^(-  [a-z][\w.\[\]-]* \(|  [0-9a-fA-F.:]+ leaked; attrs )").unwrap()
    });
    let mut out: Vec<&str> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for l in s.split('\n') {
        if line.is_match(l) {
            run.push(l);
            continue;
        }
        run.sort_unstable();
        out.append(&mut run);
        out.push(l);
    }
    run.sort_unstable();
    out.append(&mut run);
    out.join("\n")
}

/// A unified diff of two texts (`---` the reference, `+++` ours), three lines of context.
pub fn unified_diff(reference: &str, ours: &str) -> String {
    similar::TextDiff::from_lines(reference, ours)
        .unified_diff()
        .context_radius(3)
        .header("calicoctl v3.32.1 (reference)", "ours")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_only_run_specific_values() {
        let ph = vec![("${DIR}", "/tmp/x-1".to_string())];
        let s = normalise(
            "uid: 0558cbd9-2025-4260-b376-b047fc6b24ce\ncreationTimestamp: \"2026-12-01T20:09:08Z\"\nresourceVersion: \"12\"\n{\"resourceVersion\":\"7\"}\nresourceVersion: 12/\nresourceVersion: /7\nresourceVersion: 3/4\nfile /tmp/x-1/a.yaml\nclusterGUID: cc33bd66a2ec403f962c8ba283a3b7f5\nport: 5473\n&{0xc000123456}\n  \"clusterInformationRevision\": \"61\",\n\"Revision\": \"60\"\n(*ipam.X)(0x3d9c4a27d4d0)\nI1201 20:15:53.537365   21933 warnings.go:107] \"W\"",
            &ph,
        );
        assert_eq!(
            s,
            "uid: <UID>\ncreationTimestamp: \"<TIME>\"\nresourceVersion: \"<RV>\"\n{\"resourceVersion\":\"<RV>\"}\nresourceVersion: <RV>\nresourceVersion: <RV>\nresourceVersion: <RV>\nfile ${DIR}/a.yaml\nclusterGUID: <GUID>\nport: 5473\n&{<PTR>}\n  \"clusterInformationRevision\": \"<RV>\",\n\"Revision\": \"<RV>\"\n(*ipam.X)(<PTR>)\nI<KLOG> warnings.go:107] \"W\""
        );
    }

    #[test]
    fn tables_with_a_pointer_compare_without_padding() {
        let a = normalise(
            "+---+----------+\n| K | (*x.Y)(0x1fe83f3bb850) |\n| M |        0 |\n",
            &[],
        );
        let b = normalise(
            "+---+---------+\n| K | (*x.Y)(0x5e83f3bb850)  |\n| M |       0 |\n",
            &[],
        );
        assert_eq!(a, b);
        assert_eq!(a, "+-+-+\n| K | (*x.Y)(<PTR>) |\n| M | 0 |\n");
    }

    #[test]
    fn render_marks_missing_newline() {
        let o = Observed {
            exit: 1,
            stdout: "x".into(),
            stderr: String::new(),
            state: "k\nv\n".into(),
        };
        assert!(o.render().contains("x\n⟨no newline at end⟩\n"));
    }
}
