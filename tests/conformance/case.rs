//! The case language of `tests/conformance/cases/*.case`.
//!
//! ```text
//! stores: etcd kdd                 # file header: where the file's cases run (default: etcd)
//!
//! === tier then its policies in one file
//! stores: etcd                     # optional, overrides the file header for this case
//! file tier.yaml <<EOF             # write a file into the case directory (both sides)
//! apiVersion: projectcalico.org/v3
//! ...
//! EOF
//! symlink d/sub/up -> ..           # a symbolic link in the case directory (target as written)
//! $ apply -f tier.yaml             # a step: calicoctl ARGS, run by both binaries
//! $ apply -f - <<EOF               # a step with standard input
//! ...
//! EOF
//! etcd-put /calico/ipam/v2/... <<EOF   # seed etcd directly (never through either binary)
//! {"cidr": ...}
//! EOF
//! kube POST /api/v1/namespaces <<EOF   # seed the Kubernetes API with REST (YAML or JSON body)
//! ...
//! EOF
//! env CALICO_API_GROUP=projectcalico.org/v3   # environment of the following steps
//! env -DATASTORE_TYPE                          # drop a variable
//! allow usage-hint                 # the next step may differ as allowlist entry usage-hint says
//! by reference                     # the next step runs the reference binary on both sides
//! $ ipam check -o report.json      #   (or `by ours`): one binary's output fed to the other
//! cat report.json                  # a compared step: a file the previous steps wrote
//! include ipam-seed.inc            # the actions of cases/ipam-seed.inc (seeding shared by
//!                                  #   several cases; `.inc` files hold no `===`)
//! ```
//!
//! `${ENDPOINT}`, `${KUBECONFIG}` and `${DIR}` in arguments, file contents and seed values are
//! replaced by each side's etcd endpoint, kubeconfig path and case directory;
//! `${REPEAT:<n>:<text>}` by `<text>` n times (`\n` in it is a newline), for big inputs. An etcd case
//! with `kube` steps or `${KUBECONFIG}`/`${APISERVER}` in its inputs gets a real
//! kube-apiserver (started on first need, wiped before each such case) besides its etcd:
//! calicoctl reads Services through a kubeconfig in etcd mode. Its objects are not part of
//! the compared state.

use std::path::Path;

/// A datastore kind a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreKind {
    Etcd,
    Kdd,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Etcd => "etcd",
            StoreKind::Kdd => "kdd",
        }
    }
}

/// One action of a case.
#[derive(Debug, Clone)]
pub enum Action {
    /// Writes a file into the case directory of both sides.
    File { name: String, content: String },
    /// Makes a symbolic link `name` -> `target` in the case directory of both sides.
    Symlink { name: String, target: String },
    /// Puts a key into etcd (etcd cases only).
    EtcdPut { key: String, value: String },
    /// Sends a REST request to the kube-apiserver.
    Kube {
        method: String,
        path: String,
        body: String,
    },
    /// Sets (`Some`) or removes (`None`) an environment variable for the following steps.
    Env { key: String, value: Option<String> },
    /// Runs `calicoctl ARGS` on both sides and compares.
    Run {
        args: Vec<String>,
        stdin: Option<String>,
        allow: Option<String>,
        line: usize,
        by: By,
    },
    /// Compares a file of the case directory (e.g. an `ipam check` report) as a step's stdout.
    Cat { name: String, line: usize },
}

/// Which binary a step runs on each side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum By {
    /// Each side its own binary: the comparison.
    #[default]
    Each,
    /// Our binary on both sides (its output then read by the reference on the reference side).
    Ours,
    /// The reference binary on both sides.
    Reference,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub stores: Vec<StoreKind>,
    pub actions: Vec<Action>,
}

impl Case {
    /// How many compared steps the case has.
    pub fn steps(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, Action::Run { .. } | Action::Cat { .. }))
            .count()
    }

    /// Whether the case talks to Kubernetes: `kube` steps, or a kubeconfig or apiserver URL
    /// in its inputs (etcd cases then borrow a kube-apiserver).
    pub fn needs_kube(&self) -> bool {
        let named = |s: &str| s.contains("${KUBECONFIG}") || s.contains("${APISERVER}");
        self.actions.iter().any(|a| match a {
            Action::Kube { .. } => true,
            Action::File { content, .. } => named(content),
            Action::EtcdPut { value, .. } => named(value),
            Action::Env { value, .. } => value.as_deref().is_some_and(named),
            Action::Run { args, stdin, .. } => {
                args.iter().any(|a| named(a)) || stdin.as_deref().is_some_and(named)
            }
            Action::Cat { .. } | Action::Symlink { .. } => false,
        })
    }

    pub fn id(&self) -> String {
        format!("{}:{} {}", self.file, self.line, self.name)
    }
}

fn parse_stores(s: &str, file: &str, line: usize) -> Result<Vec<StoreKind>, String> {
    let mut v = Vec::new();
    for w in s.split([' ', ',']).filter(|w| !w.is_empty()) {
        v.push(match w {
            "etcd" => StoreKind::Etcd,
            "kdd" => StoreKind::Kdd,
            _ => return Err(format!("{file}:{line}: unknown store {w:?}")),
        });
    }
    if v.is_empty() {
        return Err(format!("{file}:{line}: empty stores line"));
    }
    Ok(v)
}

/// Splits a command line like a POSIX shell does for words and quotes (no expansions).
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated ' in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated \" in {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Splits `text <<TAG` into (`text`, Some(TAG)).
fn heredoc_tag(rest: &str) -> (&str, Option<&str>) {
    match rest.rfind(" <<") {
        Some(i) if !rest[i + 3..].is_empty() && !rest[i + 3..].contains(char::is_whitespace) => {
            (rest[..i].trim_end(), Some(&rest[i + 3..]))
        }
        _ => (rest, None),
    }
}

/// Parses one `.case` file (without `include`s).
#[cfg(test)]
pub fn parse(file: &str, text: &str) -> Result<Vec<Case>, String> {
    parse_with(file, text, &|name| {
        Err(format!("include {name}: no includes here"))
    })
}

/// Parses one `.case` file; `include NAME` reads NAME's text with `read`.
pub fn parse_with(
    file: &str,
    text: &str,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Case>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases: Vec<Case> = Vec::new();
    let mut file_stores = vec![StoreKind::Etcd];
    let mut pending_allow: Option<String> = None;
    let mut pending_by: Option<By> = None;
    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let raw = lines[i];
        i += 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("=== ") {
            if pending_allow.is_some() || pending_by.is_some() {
                return Err(format!(
                    "{file}:{lineno}: `allow` or `by` not followed by a step"
                ));
            }
            cases.push(Case {
                file: file.to_string(),
                line: lineno,
                name: name.trim().to_string(),
                stores: file_stores.clone(),
                actions: Vec::new(),
            });
            continue;
        }
        if let Some(s) = line.strip_prefix("stores:") {
            let stores = parse_stores(s, file, lineno)?;
            match cases.last_mut() {
                Some(c) if c.actions.is_empty() => c.stores = stores,
                Some(_) => return Err(format!("{file}:{lineno}: `stores:` after a case's steps")),
                None => file_stores = stores,
            }
            continue;
        }
        let Some(case) = cases.last_mut() else {
            return Err(format!(
                "{file}:{lineno}: {line:?} before the first `=== case`"
            ));
        };
        // A directive, maybe with a here-document.
        let (head, tag) = heredoc_tag(line);
        let body = match tag {
            Some(tag) => {
                let mut b = String::new();
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(format!("{file}:{lineno}: here-document {tag} not closed"));
                    };
                    i += 1;
                    if *l == tag {
                        break;
                    }
                    b.push_str(l);
                    b.push('\n');
                }
                Some(b)
            }
            None => None,
        };
        let (verb, rest) = head.split_once(' ').unwrap_or((head, ""));
        let rest = rest.trim();
        let action = match verb {
            "$" => {
                let args = shell_words(rest).map_err(|e| format!("{file}:{lineno}: {e}"))?;
                Action::Run {
                    args,
                    stdin: body,
                    allow: pending_allow.take(),
                    line: lineno,
                    by: pending_by.take().unwrap_or_default(),
                }
            }
            "cat" if body.is_none() && !rest.is_empty() => Action::Cat {
                name: rest.to_string(),
                line: lineno,
            },
            "file" => Action::File {
                name: rest.to_string(),
                content: body.ok_or(format!("{file}:{lineno}: `file` needs a here-document"))?,
            },
            "symlink" if body.is_none() => {
                let (name, target) = rest
                    .split_once(" -> ")
                    .ok_or(format!("{file}:{lineno}: symlink LINK -> TARGET"))?;
                Action::Symlink {
                    name: name.trim().to_string(),
                    target: target.trim().to_string(),
                }
            }
            "etcd-put" => match body {
                Some(b) => Action::EtcdPut {
                    key: rest.to_string(),
                    value: b.trim_end_matches('\n').to_string(),
                },
                None => {
                    let (k, v) = rest
                        .split_once(' ')
                        .ok_or(format!("{file}:{lineno}: etcd-put KEY VALUE"))?;
                    Action::EtcdPut {
                        key: k.to_string(),
                        value: v.to_string(),
                    }
                }
            },
            "kube" => {
                let (m, p) = rest
                    .split_once(' ')
                    .ok_or(format!("{file}:{lineno}: kube METHOD PATH <<EOF"))?;
                Action::Kube {
                    method: m.to_string(),
                    path: p.trim().to_string(),
                    body: body.unwrap_or_default(),
                }
            }
            "env" => match rest.strip_prefix('-') {
                Some(k) => Action::Env {
                    key: k.to_string(),
                    value: None,
                },
                None => {
                    let (k, v) = rest
                        .split_once('=')
                        .ok_or(format!("{file}:{lineno}: env KEY=VALUE or env -KEY"))?;
                    Action::Env {
                        key: k.to_string(),
                        value: Some(v.to_string()),
                    }
                }
            },
            "allow" => {
                pending_allow = Some(rest.to_string());
                continue;
            }
            "include" if body.is_none() => {
                let inc = read(rest).map_err(|e| format!("{file}:{lineno}: {e}"))?;
                let mut parsed = parse_with(rest, &format!("=== include\n{inc}"), read)?;
                if parsed.len() != 1 {
                    return Err(format!("{file}:{lineno}: {rest} holds a `===` line"));
                }
                case.actions.append(&mut parsed[0].actions);
                continue;
            }
            "by" => {
                pending_by = Some(match rest {
                    "ours" => By::Ours,
                    "reference" => By::Reference,
                    _ => return Err(format!("{file}:{lineno}: by ours|reference")),
                });
                continue;
            }
            _ => return Err(format!("{file}:{lineno}: unknown directive {verb:?}")),
        };
        case.actions.push(action);
    }
    if pending_allow.is_some() || pending_by.is_some() {
        return Err(format!("{file}: `allow` or `by` at the end of the file"));
    }
    for c in cases.iter().filter(|c| c.name != "include") {
        if c.steps() == 0 {
            return Err(format!(
                "{}:{}: case {:?} has no step",
                c.file, c.line, c.name
            ));
        }
    }
    Ok(cases)
}

/// Every case under `dir` (sorted by file name).
pub fn load_dir(dir: &Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let read = |inc: &str| {
            std::fs::read_to_string(dir.join(inc)).map_err(|e| format!("include {inc}: {e}"))
        };
        all.extend(parse_with(&name, &text, &read).unwrap_or_else(|e| panic!("{e}")));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            shell_words(r#"get ippool -o 'custom-columns=NAME,CIDR' "a b" c\ d"#).unwrap(),
            [
                "get",
                "ippool",
                "-o",
                "custom-columns=NAME,CIDR",
                "a b",
                "c d"
            ]
        );
        assert_eq!(shell_words("x ''").unwrap(), ["x", ""]);
    }

    #[test]
    fn parses_a_case() {
        let text = "stores: etcd kdd\n# c\n=== one\nfile a.yaml <<EOF\nx: 1\nEOF\nallow usage-hint\n$ apply -f a.yaml\n$ apply -f - <<END\ny\nEND\nenv -X\nby reference\n$ get x\ncat a.yaml\n";
        let cases = parse("t.case", text).unwrap();
        assert_eq!(cases.len(), 1);
        let c = &cases[0];
        assert_eq!(c.stores, [StoreKind::Etcd, StoreKind::Kdd]);
        assert_eq!(c.steps(), 4);
        match &c.actions[1] {
            Action::Run { args, allow, .. } => {
                assert_eq!(args, &["apply", "-f", "a.yaml"]);
                assert_eq!(allow.as_deref(), Some("usage-hint"));
            }
            a => panic!("{a:?}"),
        }
        match &c.actions[2] {
            Action::Run { stdin, .. } => assert_eq!(stdin.as_deref(), Some("y\n")),
            a => panic!("{a:?}"),
        }
        assert!(matches!(
            &c.actions[4],
            Action::Run {
                by: By::Reference,
                ..
            }
        ));
        assert!(matches!(&c.actions[5], Action::Cat { name, .. } if name == "a.yaml"));
        assert!(parse("t.case", "=== x\nby x\n$ get\n").is_err());
        let inc = |n: &str| match n {
            "s.inc" => Ok("etcd-put /k v\nenv A=1\n".to_string()),
            _ => Err("none".to_string()),
        };
        let c = &parse_with("t.case", "=== x\ninclude s.inc\n$ get\n", &inc).unwrap()[0];
        assert_eq!(c.actions.len(), 3);
        assert!(parse_with("t.case", "=== x\ninclude t.inc\n$ get\n", &inc).is_err());
        assert!(parse("t.case", "=== x\nfile a\n").is_err());
        assert!(parse("t.case", "=== x\n$ get <<EOF\n").is_err());
        assert!(parse("t.case", "=== x\nenv A=1\n").is_err());
    }
}
