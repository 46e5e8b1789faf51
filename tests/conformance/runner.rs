//! Runs cases on a pair of sides (ours, reference) and collects the differences.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::allowlist::Entry;
use crate::case::{Action, By, Case, StoreKind};
use crate::compare::{Observed, normalise, unified_diff};
use crate::harness;
use crate::sides::{Kube, KubePool, Side};

/// Ours and the reference, each with its own datastore of one kind.
pub struct Pair {
    pub ours: Side,
    pub refr: Side,
}

impl Pair {
    pub fn start(store: StoreKind, reference: &Path) -> Pair {
        let reference = reference_as_calicoctl(reference);
        let (ours, refr) = std::thread::scope(|s| {
            let o = s.spawn(|| Side::start("ours", harness::bin(), store));
            let r = s.spawn(|| Side::start("reference", reference.clone(), store));
            (o.join().unwrap(), r.join().unwrap())
        });
        Pair { ours, refr }
    }
}

/// The reference binary under the name users run it by: client-go names the Kubernetes
/// field manager of calicoctl's writes after the program (`calicoctl/v0.0.0 ...`), so both
/// sides must be called `calicoctl`. A symlink next to our binary, made once per run.
fn reference_as_calicoctl(reference: &Path) -> std::path::PathBuf {
    let dir = harness::bin()
        .parent()
        .expect("binary directory")
        .join("conformance-reference");
    std::fs::create_dir_all(&dir).expect("reference directory");
    let link = dir.join("calicoctl");
    let target = std::fs::canonicalize(reference).unwrap_or_else(|_| reference.to_path_buf());
    if std::fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
        // Made under a unique name and renamed over the old one: concurrent runs never see
        // a missing link.
        let tmp = dir.join(format!(
            ".calicoctl-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).expect("symlink to the reference calicoctl");
        std::fs::rename(&tmp, &link).expect("rename the reference symlink");
    }
    link
}

/// `CONFORMANCE_FILTER` selects cases by a substring of their id.
pub fn selected(id: &str) -> bool {
    std::env::var("CONFORMANCE_FILTER").map_or(true, |f| id.contains(&f))
}

/// The outcome of one step that was compared.
/// The allowlist entry for steps where calicoctl crashes with a Go panic.
const PANIC: &str = "calicoctl-panic";

pub enum StepResult {
    Same,
    /// Differs only in the parts its allowlist entry names.
    Allowed(String),
    /// A difference: the rendered report.
    Differs(String),
}

/// The outcome of a case: one result per step that ran (a case stops at its first difference).
pub struct CaseOutcome {
    #[allow(dead_code)]
    pub id: String,
    pub steps: Vec<StepResult>,
    pub not_run: usize,
}

fn substitute(s: &str, ph: &[(&'static str, String)]) -> String {
    let mut s = s.to_string();
    for (k, v) in ph {
        s = s.replace(k, v);
    }
    repeat(&s)
}

/// Expands `${REPEAT:<n>:<text>}` into `<text>` n times (`\n` in the text is a newline): big
/// inputs (size limits) without big case files.
fn repeat(s: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"\$\{REPEAT:(\d+):([^}]*)\}").unwrap());
    if !s.contains("${REPEAT:") {
        return s.to_string();
    }
    re.replace_all(s, |c: &regex::Captures| {
        c[2].replace("\\n", "\n").repeat(c[1].parse().unwrap())
    })
    .into_owned()
}

/// One side's run of `calicoctl ARGS`: a hermetic environment, a 60 s limit.
fn exec(
    program: &Path,
    dir: &Path,
    env: &BTreeMap<String, String>,
    args: &[String],
    stdin: Option<&str>,
) -> (i32, String, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", dir.join(".home"))
        .env("LANG", "C.UTF-8")
        .envs(env)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    if let Some(input) = stdin {
        let mut sin = child.stdin.take().unwrap();
        let input = input.to_string();
        std::thread::spawn(move || {
            let _ = sin.write_all(input.as_bytes());
        });
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (code, hung) = loop {
        match child.try_wait().expect("wait") {
            Some(s) => break (s.code().unwrap_or(-1), false),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (-1, true);
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let mut stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    if hung {
        stderr.push_str("⟨killed: still running after 60 s⟩\n");
    }
    (
        code,
        String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr,
    )
}

/// What one side has while a case runs.
struct Run<'a> {
    side: &'a Side,
    /// The case's kube-apiserver: the KDD datastore, or one borrowed for an etcd case.
    kube: Option<&'a Kube>,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    ph: Vec<(&'static str, String)>,
}

impl<'a> Run<'a> {
    fn new(side: &'a Side, kube: Option<&'a Kube>) -> Run<'a> {
        let dir = harness::tempdir();
        std::fs::create_dir_all(dir.path().join(".home")).unwrap();
        let ph = side.placeholders(dir.path(), kube);
        Run {
            side,
            kube,
            env: side.base_env(),
            dir,
            ph,
        }
    }

    fn step(&self, program: &Path, args: &[String], stdin: Option<&str>) -> Observed {
        let args: Vec<String> = args.iter().map(|a| substitute(a, &self.ph)).collect();
        let stdin = stdin.map(|s| substitute(s, &self.ph));
        let (exit, stdout, stderr) =
            exec(program, self.dir.path(), &self.env, &args, stdin.as_deref());
        Observed {
            exit,
            stdout: normalise(&stdout, &self.ph),
            stderr: normalise(&stderr, &self.ph),
            state: normalise(&self.side.dump(), &self.ph),
        }
    }

    /// A file of the case directory as a step's output (exit 1 when it does not exist).
    fn cat(&self, name: &str) -> Observed {
        let (exit, stdout, stderr) = match std::fs::read_to_string(self.dir.path().join(name)) {
            Ok(text) => (0, text, String::new()),
            Err(e) => (1, String::new(), format!("cat {name}: {}\n", e.kind())),
        };
        Observed {
            exit,
            stdout: normalise(&stdout, &self.ph),
            stderr,
            state: normalise(&self.side.dump(), &self.ph),
        }
    }

    fn act(&mut self, a: &Action) -> Result<(), String> {
        match a {
            Action::File { name, content } => {
                let p = self.dir.path().join(name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).unwrap();
                }
                std::fs::write(p, substitute(content, &self.ph)).unwrap();
            }
            Action::Symlink { name, target } => {
                let p = self.dir.path().join(name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).unwrap();
                }
                std::os::unix::fs::symlink(target, p)
                    .map_err(|e| format!("symlink {name}: {e}"))?;
            }
            Action::EtcdPut { key, value } => self.side.etcd_put(key, &substitute(value, &self.ph)),
            Action::Kube { method, path, body } => self
                .kube
                .ok_or("a `kube` step but no kube-apiserver")?
                .request(method, path, &substitute(body, &self.ph))?,
            Action::Env { key, value } => match value {
                Some(v) => {
                    self.env.insert(key.clone(), substitute(v, &self.ph));
                }
                None => {
                    self.env.remove(key);
                }
            },
            Action::Run { .. } | Action::Cat { .. } => unreachable!(),
        }
        Ok(())
    }
}

fn describe(case: &Case, line: usize, args: &[String]) -> String {
    format!(
        "{}:{} [{}] step at line {line}: calicoctl {}",
        case.file,
        case.line,
        case.name,
        args.join(" ")
    )
}

/// Runs one case on a pair whose datastores are wiped first. An etcd case that talks to
/// Kubernetes borrows a pair of kube-apiservers from `pool` for its duration.
pub fn run_case(
    pair: &Pair,
    case: &Case,
    allow: &BTreeMap<String, Entry>,
    pool: &KubePool,
) -> CaseOutcome {
    std::thread::scope(|s| {
        let a = s.spawn(|| pair.ours.wipe());
        pair.refr.wipe();
        a.join().unwrap();
    });
    let lease = (pair.ours.kube().is_none() && case.needs_kube()).then(|| pool.take());
    let (kube_ours, kube_refr) = match &lease {
        Some(l) => (Some(l.ours()), Some(l.reference())),
        None => (pair.ours.kube(), pair.refr.kube()),
    };
    let mut ours = Run::new(&pair.ours, kube_ours);
    let mut refr = Run::new(&pair.refr, kube_refr);
    let mut out = CaseOutcome {
        id: case.id(),
        steps: Vec::new(),
        not_run: 0,
    };
    let mut stopped = false;
    for a in &case.actions {
        if !matches!(a, Action::Run { .. } | Action::Cat { .. }) {
            if !stopped {
                let (x, y) = (ours.act(a), refr.act(a));
                if let Err(e) = x.and(y) {
                    out.steps.push(StepResult::Differs(format!(
                        "{}: seeding failed: {e}",
                        case.id()
                    )));
                    stopped = true;
                }
            }
            continue;
        };
        if stopped {
            out.not_run += 1;
            continue;
        }
        let (o, r, title, allow_id) = match a {
            Action::Run {
                args,
                stdin,
                allow,
                line,
                by,
            } => {
                let (po, pr) = match by {
                    By::Each => (&pair.ours.program, &pair.refr.program),
                    By::Ours => (&pair.ours.program, &pair.ours.program),
                    By::Reference => (&pair.refr.program, &pair.refr.program),
                };
                let (o, r) = std::thread::scope(|s| {
                    let t = s.spawn(|| ours.step(po, args, stdin.as_deref()));
                    let r = refr.step(pr, args, stdin.as_deref());
                    (t.join().unwrap(), r)
                });
                let mut title = describe(case, *line, args);
                if *by != By::Each {
                    title.push_str(&format!(" (both sides: {by:?})"));
                }
                (o, r, title, allow)
            }
            Action::Cat { name, line } => (
                ours.cat(name),
                refr.cat(name),
                format!(
                    "{}:{} [{}] step at line {line}: cat {name}",
                    case.file, case.line, case.name
                ),
                &None,
            ),
            _ => unreachable!(),
        };
        let differing = o.differing(&r);
        let result = match (allow_id, differing.is_empty()) {
            (None, true) => StepResult::Same,
            (Some(id), _) => match allow.get(id) {
                None => StepResult::Differs(format!(
                    "{title}\n  `allow {id}`: no such entry in docs/compatibility.md's Allowlist\n"
                )),
                Some(_) if differing.is_empty() => StepResult::Differs(format!(
                    "{title}\n  `allow {id}` but the step does not differ: remove the allow\n"
                )),
                Some(e) if differing.iter().all(|p| e.parts.iter().any(|x| x == p)) => {
                    StepResult::Allowed(id.clone())
                }
                Some(e) => StepResult::Differs(format!(
                    "{title}\n  differs in {differing:?}; allowlist entry {id} allows only {:?}\n{}",
                    e.parts,
                    unified_diff(&r.render(), &o.render())
                )),
            },
            // calicoctl crashing is never the behaviour to keep: wherever it panics (the
            // fuzzer finds new places), the step counts under the `calicoctl-panic` entry
            // if only what that entry allows differs.
            (None, false)
                if r.exit == 2
                    && r.stderr.starts_with("panic: ")
                    && allow.get(PANIC).is_some_and(|e| {
                        differing.iter().all(|p| e.parts.iter().any(|x| x == p))
                    }) =>
            {
                StepResult::Allowed(PANIC.to_string())
            }
            (None, false) => StepResult::Differs(format!(
                "{title}\n{}",
                unified_diff(&r.render(), &o.render())
            )),
        };
        if matches!(result, StepResult::Differs(_)) {
            stopped = true;
        }
        out.steps.push(result);
    }
    out
}

/// Counts over a whole run.
#[derive(Default)]
pub struct Report {
    pub outcomes: Vec<CaseOutcome>,
}

impl Report {
    /// Prints the counts (and every difference), keeps them in `target/<label>.txt`, and fails
    /// the test on any difference that is not a listed open divergence; a listed case that no
    /// longer differs is reported as a note. `complete` says that every case the list may name
    /// ran (no filter), so a line naming no case is stale and fails the test.
    pub fn finish_named(&self, label: &str, store: StoreKind, cases: &[Case], complete: bool) {
        let open = open_divergences();
        let total_steps: usize = cases.iter().map(Case::steps).sum();
        let mut same = 0;
        let mut allowed: BTreeMap<&str, usize> = BTreeMap::new();
        let mut failures: Vec<String> = Vec::new();
        let mut open_hit = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let mut not_run = 0;
        let mut seen = std::collections::BTreeSet::new();
        for (o, c) in self.outcomes.iter().zip(cases) {
            let key = open_key(store, c);
            let listed = open.contains(&key);
            seen.insert(key.clone());
            not_run += o.not_run;
            let mut differed = false;
            for s in &o.steps {
                match s {
                    StepResult::Same => same += 1,
                    StepResult::Allowed(id) => *allowed.entry(id.as_str()).or_default() += 1,
                    StepResult::Differs(d) => {
                        differed = true;
                        if listed {
                            open_hit.push(d.clone());
                        } else {
                            failures.push(d.clone());
                        }
                    }
                }
            }
            if listed && !differed {
                let note = format!(
                    "{key}: listed in {OPEN_FILE} but no longer differs: remove the line\n"
                );
                // Reported, not failed: some calicoctl texts come out in Go map order (which
                // address an `ipam release` names first, ...), so a listed case may pass on one
                // run and differ on the next. The line must still go once it is fixed.
                eprintln!("note: {note}");
                notes.push(note);
            }
        }
        if complete {
            let fuzz_run = label.starts_with("fuzz");
            let fuzz_prefix = format!("{} fuzz ", store.name());
            for k in &open {
                let this_run = k.starts_with(&format!("{} ", store.name()))
                    && k.starts_with(&fuzz_prefix) == fuzz_run;
                if this_run && !seen.contains(k) {
                    failures.push(format!(
                        "{k}: listed in {OPEN_FILE} but no such case ran: remove the line\n"
                    ));
                }
            }
        }
        let n_allowed: usize = allowed.values().sum();
        let summary = format!(
            "{label}: {} cases, {total_steps} steps: {same} identical, {n_allowed} allowed differences {allowed:?}, {} open divergences ({OPEN_FILE}), {} differing, {not_run} not run after a difference",
            cases.len(),
            open_hit.len(),
            failures.len(),
        );
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            dir.join(format!("{}.txt", label.replace(' ', "-"))),
            format!(
                "{summary}\n\n{}\n\n── open divergences (known, listed) ──\n\n{}\n{}",
                failures.join("\n"),
                notes.join(""),
                open_hit.join("\n")
            ),
        );
        eprintln!("{summary}");
        if !failures.is_empty() {
            for f in &failures {
                eprintln!("\n✗ {f}");
            }
            panic!("{summary}");
        }
    }
}

/// Known divergences not fixed yet: bugs, not choices (those are the allowlist). One case per
/// line, `STORE FILE [CASE NAME]`; a line starting with `#` is a comment (case names hold
/// `#`). The list only shrinks.
pub const OPEN_FILE: &str = "tests/conformance/open-divergences.txt";

fn open_divergences() -> std::collections::BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(OPEN_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The line that names `case` in the open list.
pub fn open_key(store: StoreKind, case: &Case) -> String {
    format!("{} {} [{}]", store.name(), case.file, case.name)
}

/// Runs the cases on `jobs` pairs of datastores in parallel.
pub fn run_all(
    store: StoreKind,
    reference: &Path,
    cases: &[Case],
    allow: &BTreeMap<String, Entry>,
) -> Report {
    let jobs = match store {
        StoreKind::Etcd => std::env::var("CONFORMANCE_JOBS")
            .ok()
            .and_then(|j| j.parse().ok())
            .unwrap_or(3usize),
        StoreKind::Kdd => 1,
    }
    .clamp(1, cases.len().max(1));
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    // One pair of kube-apiservers is enough for the few etcd cases that need one.
    let pool = KubePool::new(1);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                let pair = Pair::start(store, reference);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let o = run_case(&pair, case, allow, &pool);
                    outcomes.lock().unwrap().push((i, o));
                }
            });
        }
    });
    let mut v = outcomes.into_inner().unwrap();
    v.sort_by_key(|(i, _)| *i);
    Report {
        outcomes: v.into_iter().map(|(_, o)| o).collect(),
    }
}
