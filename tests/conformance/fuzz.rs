//! The differential fuzzer: manifests generated for every kind from the schemas in
//! `src/model/schema/` — valid ones and mutated ones (wrong types, boundary and out-of-range
//! numbers, unknown fields, empty maps and lists, missing fields, odd but legal YAML) — applied
//! through both binaries on fresh datastores and compared like a corpus step.
//!
//! `CONFORMANCE_FUZZ_SEED` (default 1) and `CONFORMANCE_FUZZ_DOCS` (default 2,000) choose the
//! documents; `make conformance-fuzz` runs many more. A difference prints the document.

use std::collections::BTreeMap;
use std::path::Path;

use calicoctl::model::kinds::{KINDS, KindInfo};
use calicoctl::model::schema::{Builtin, Field, Ty, schema};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::allowlist;
use crate::case::{Action, Case, StoreKind};
use crate::runner::{self, StepResult};

/// How many valid documents share one file (one `apply`): calicoctl applies them one by one.
const VALID_PER_FILE: usize = 5;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kinds a manifest can hold (ClusterInformation is read-only but still a manifest), or
/// those named in `CONFORMANCE_FUZZ_KINDS` (comma-separated) to aim at a few.
fn kinds() -> Vec<&'static KindInfo> {
    let only = std::env::var("CONFORMANCE_FUZZ_KINDS").unwrap_or_default();
    let only: Vec<&str> = only.split(',').filter(|k| !k.is_empty()).collect();
    KINDS
        .iter()
        .filter(|k| !k.flags.head_only)
        .filter(|k| only.is_empty() || only.contains(&k.kind))
        .collect()
}

/// A generator of manifests, deterministic for a seed.
pub struct Gen {
    rng: StdRng,
    serial: usize,
    /// Only values that usually validate (a document meant to be stored), or also the
    /// boundary and invalid ones.
    valid: bool,
}

/// A pool of values: the first `n_valid` usually validate, the rest are boundary or invalid.
struct Pool {
    values: &'static [&'static str],
    n_valid: usize,
}

const NAMES: Pool = Pool {
    values: &["a", "default", "node-1", "x.y", "web-2", "Bad_Name", ""],
    n_valid: 4,
};
const CIDRS: Pool = Pool {
    values: &[
        "10.0.0.0/16",
        "192.168.1.0/24",
        "fd00::/64",
        "10.1.2.3/16",
        "fd00::1/64",
        "0.0.0.0/0",
        "::/0",
        "10.0.0.1",
        "300.0.0.0/8",
        "10.2.0.0/33",
    ],
    n_valid: 3,
};
const IPS: Pool = Pool {
    values: &[
        "10.0.0.1",
        "192.168.0.10",
        "fd00::5",
        "::1",
        "1.2.3",
        "10.0.0.1:179",
        "",
    ],
    n_valid: 3,
};
const SELECTORS: Pool = Pool {
    values: &[
        "all()",
        "role == 'db'",
        "has(app) && env != 'prod'",
        "app in {'a', 'b'}",
        "!has(x) || y starts with 'z'",
        "global()",
        "",
        "role ==",
    ],
    n_valid: 5,
};
const WORDS: Pool = Pool {
    values: &[
        "eth0", "foo", "Allow", "Deny", "ingress", "x", "calico", "64512",
    ],
    n_valid: 2,
};
const DURATIONS: Pool = Pool {
    values: &["10s", "1m30s", "1h", "0s", "90", "-5s", "soon"],
    n_valid: 3,
};

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            serial: 0,
            valid: true,
        }
    }

    fn pooled(&mut self, p: &Pool) -> String {
        let n = if self.valid {
            p.n_valid
        } else {
            p.values.len()
        };
        p.values[self.rng.random_range(0..n)].to_string()
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.random_range(0..xs.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A string for a field, guessed from its name (CIDRs, IPs, selectors, …) or its enum.
    fn string_for(&mut self, field: Option<&Field>) -> Value {
        if let Some(e) = field.and_then(|f| f.enum_values.as_ref()) {
            if self.valid || self.chance(0.9) {
                return Value::String(self.pick(e).clone());
            }
            return Value::String("NotAnEnumValue".into());
        }
        let name = field.map(|f| f.json.to_lowercase()).unwrap_or_default();
        let s = if name.contains("cidr") || name.contains("net") {
            self.pooled(&CIDRS)
        } else if name.contains("selector") {
            self.pooled(&SELECTORS)
        } else if name.ends_with("ip") || name.contains("address") || name.contains("ips") {
            self.pooled(&IPS)
        } else if name.contains("node") || name.contains("name") {
            self.pooled(&NAMES)
        } else if name.contains("interval") || name.contains("timeout") || name.contains("time") {
            self.pooled(&DURATIONS)
        } else {
            self.pooled(&WORDS)
        };
        Value::String(s)
    }

    fn int(&mut self, bits: u8, signed: bool) -> Value {
        let max: i128 = if signed {
            (1i128 << (bits - 1)) - 1
        } else {
            (1i128 << bits) - 1
        };
        let min: i128 = if signed { -(1i128 << (bits - 1)) } else { 0 };
        let choices = [1, 2, 26, 100, 1000, 0, max, min, -1];
        let n = if self.valid { 5 } else { choices.len() };
        let v = choices[self.rng.random_range(0..n)];
        json!(v as i64)
    }

    fn scalar(&mut self, base: Builtin, field: Option<&Field>) -> Value {
        match base {
            Builtin::String => self.string_for(field),
            Builtin::Bool => Value::Bool(self.chance(0.5)),
            Builtin::Int { bits, signed } => self.int(bits, signed),
            Builtin::Float { .. } => json!(*self.pick(&[0.0, 1.5, 100.0, 1e6, -3.0])),
            Builtin::AsNumber => self
                .pick(&[
                    json!(64512),
                    json!(0),
                    json!(4294967295u64),
                    json!("1.10"),
                    json!(65000),
                ])
                .clone(),
            Builtin::Port => self
                .pick(&[
                    json!(80),
                    json!(0),
                    json!(1),
                    json!(65535),
                    json!(65536),
                    json!("8080:8090"),
                    json!("90:80"),
                    json!("http"),
                ])
                .clone(),
            Builtin::Protocol => self
                .pick(&[
                    json!("TCP"),
                    json!("UDP"),
                    json!("ICMP"),
                    json!("ICMPv6"),
                    json!("SCTP"),
                    json!("UDPLite"),
                    json!(6),
                    json!(0),
                    json!(255),
                    json!(256),
                ])
                .clone(),
            Builtin::IntOrString => self.pick(&[json!(1), json!("50%"), json!("x")]).clone(),
            Builtin::Time => json!("2026-01-01T00:00:00Z"),
            Builtin::Duration => Value::String(self.pooled(&DURATIONS)),
            Builtin::Any => json!({"a": 1}),
        }
    }

    /// A value of `ty`; structs get a random subset of their fields.
    fn value(&mut self, ty: &Ty, field: Option<&Field>, depth: usize) -> Value {
        match ty {
            Ty::Scalar { base, .. } => self.scalar(*base, field),
            Ty::Ptr(t) => self.value(t, field, depth),
            Ty::Slice(t) => {
                let n = if depth > 4 {
                    0
                } else {
                    self.rng.random_range(0..3)
                };
                Value::Array((0..n).map(|_| self.value(t, field, depth + 1)).collect())
            }
            Ty::Map(t) => {
                let n = if depth > 4 {
                    0
                } else {
                    self.rng.random_range(0..3)
                };
                let mut m = Map::new();
                for _ in 0..n {
                    let k = self
                        .pick(&["app", "role", "example.com/tier", "x"])
                        .to_string();
                    let v = self.value(t, None, depth + 1);
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            Ty::Struct(name) => self.object(name, depth),
        }
    }

    fn object(&mut self, name: &str, depth: usize) -> Value {
        let Some(def) = schema().get(name) else {
            return json!({});
        };
        let p = match (self.valid, depth) {
            (true, 0 | 1) => 0.3,
            (true, _) => 0.2,
            (false, 0 | 1) => 0.5,
            (false, 2) => 0.35,
            (false, _) => 0.2,
        };
        let mut m = Map::new();
        if depth > 5 {
            return Value::Object(m);
        }
        for f in &def.fields {
            if f.embed
                || matches!(
                    f.json.as_str(),
                    "kind" | "apiVersion" | "metadata" | "status"
                )
            {
                continue;
            }
            if self.chance(p) {
                let v = self.value(&f.ty, Some(f), depth + 1);
                m.insert(f.json.clone(), v);
            }
        }
        Value::Object(m)
    }

    /// A document of `kind` whose values come from the schema.
    pub fn document(&mut self, kind: &KindInfo) -> Value {
        self.serial += 1;
        let mut meta = json!({"name": format!("fz{}", self.serial)});
        if kind.namespaced {
            meta["namespace"] = json!("fz");
        }
        if self.chance(0.3) {
            meta["labels"] = json!({"app": "fuzz", "n": self.serial.to_string()});
        }
        let mut doc =
            json!({"apiVersion": "projectcalico.org/v3", "kind": kind.kind, "metadata": meta});
        if let Some(spec) = schema()
            .get(&kind.type_name())
            .and_then(|d| d.lookup("spec"))
            .map(|f| f.ty.clone())
        {
            doc["spec"] = self.value(&spec, None, 1);
        }
        doc
    }

    /// One mutation of a document, as a test of calicoctl's decoding and validation.
    pub fn mutate(&mut self, doc: &mut Value) -> &'static str {
        let mut paths = Vec::new();
        collect_paths(doc, &mut Vec::new(), &mut paths);
        let which = self.rng.random_range(0..6);
        let target = if paths.is_empty() {
            Vec::new()
        } else {
            self.pick(&paths).clone()
        };
        match which {
            0 => {
                let wrong = self
                    .pick(&[
                        json!("str"),
                        json!(7),
                        json!(true),
                        json!([1]),
                        json!({"k": "v"}),
                        json!(null),
                        json!(1.5),
                    ])
                    .clone();
                set_path(doc, &target, wrong);
                "wrong type"
            }
            1 => {
                let n = self
                    .pick(&[
                        json!(-1),
                        json!(65536),
                        json!(4294967296u64),
                        json!(2147483648u64),
                        json!(-2147483649i64),
                        json!(1e30),
                    ])
                    .clone();
                set_path(doc, &target, n);
                "out-of-range number"
            }
            2 => {
                let obj = object_at(doc, &target);
                if let Some(o) = obj {
                    o.insert("bogusField".into(), json!("x"));
                } else {
                    doc["spec"]["bogusField"] = json!(1);
                }
                "unknown field"
            }
            3 => {
                let v = if self.chance(0.5) {
                    json!({})
                } else {
                    json!([])
                };
                set_path(doc, &target, v);
                "empty map or list"
            }
            4 => {
                remove_path(doc, &target);
                if self.chance(0.3)
                    && let Some(m) = doc.as_object_mut()
                {
                    m.remove(if self.rng.random_bool(0.5) {
                        "spec"
                    } else {
                        "metadata"
                    });
                }
                "missing field"
            }
            _ => "odd YAML",
        }
    }
}

fn collect_paths(v: &Value, cur: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if cur.is_empty() && matches!(k.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                cur.push(k.clone());
                out.push(cur.clone());
                collect_paths(x, cur, out);
                cur.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                cur.push(i.to_string());
                out.push(cur.clone());
                collect_paths(x, cur, out);
                cur.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(p)?,
            Value::Array(a) => a.get_mut(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn set_path(v: &mut Value, path: &[String], new: Value) {
    if let Some(slot) = at_mut(v, path) {
        *slot = new;
    }
}

fn object_at<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Map<String, Value>> {
    match at_mut(v, path)? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match at_mut(v, parent) {
        Some(Value::Object(m)) => {
            m.remove(last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// YAML text for a value, with the legal variations users write: flow and block collections,
/// plain, single- and double-quoted strings, `~` for null, comments; `odd` adds YAML 1.1
/// booleans for strings that spell them and anchors with aliases.
pub struct Emitter<'g> {
    g: &'g mut Gen,
    odd: bool,
}

fn plain_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./()'!&|= ".contains(c))
        && !s.starts_with([' ', '-', '!', '&', '\''])
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
        )
        && s.parse::<f64>().is_err()
        && !s.contains(": ")
        && !s.contains(" #")
}

impl Emitter<'_> {
    fn scalar(&mut self, v: &Value) -> String {
        match v {
            Value::Null => {
                if self.g.chance(0.5) {
                    "~".into()
                } else {
                    "null".into()
                }
            }
            Value::Bool(b) => {
                if self.odd && self.g.chance(0.3) {
                    if *b { "yes".into() } else { "no".into() }
                } else {
                    b.to_string()
                }
            }
            Value::Number(n) => n.to_string(),
            Value::String(s) => {
                let r = self.g.rng.random_range(0..3);
                if r == 0 && plain_ok(s) {
                    s.clone()
                } else if r == 1 && !s.contains(['\n', '\\']) {
                    format!("'{}'", s.replace('\'', "''"))
                } else {
                    serde_json::to_string(s).unwrap()
                }
            }
            _ => unreachable!(),
        }
    }

    fn flow(&mut self, v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, x)| {
                        format!("{}: {}", serde_json::to_string(k).unwrap(), self.flow(x))
                    })
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::Array(a) => {
                let parts: Vec<String> = a.iter().map(|x| self.flow(x)).collect();
                format!("[{}]", parts.join(", "))
            }
            s => {
                // Flow context: quote everything that is a string.
                if let Value::String(st) = s {
                    serde_json::to_string(st).unwrap()
                } else {
                    self.scalar(s)
                }
            }
        }
    }

    fn key(&mut self, k: &str) -> String {
        if plain_ok(k) && !k.contains(' ') {
            k.to_string()
        } else {
            serde_json::to_string(k).unwrap()
        }
    }

    fn block(&mut self, v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = self.key(k);
                    match x {
                        Value::Object(xm) if !xm.is_empty() && !self.g.chance(0.15) => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            self.block(x, indent + 2, out);
                        }
                        Value::Array(xa) if !xa.is_empty() && !self.g.chance(0.15) => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            self.block(x, indent, out);
                        }
                        Value::Object(_) | Value::Array(_) => {
                            let f = self.flow(x);
                            out.push_str(&format!("{pad}{key}: {f}\n"));
                        }
                        s => {
                            let sc = self.scalar(s);
                            out.push_str(&format!("{pad}{key}: {sc}\n"));
                        }
                    }
                }
            }
            Value::Array(a) => {
                for x in a {
                    match x {
                        Value::Object(xm) if !xm.is_empty() => {
                            let mut inner = String::new();
                            self.block(x, indent + 2, &mut inner);
                            // The first line goes after the dash.
                            let inner = inner.trim_start().to_string();
                            out.push_str(&format!("{pad}- {inner}"));
                        }
                        Value::Array(_) | Value::Object(_) => {
                            let f = self.flow(x);
                            out.push_str(&format!("{pad}- {f}\n"));
                        }
                        s => {
                            let sc = self.scalar(s);
                            out.push_str(&format!("{pad}- {sc}\n"));
                        }
                    }
                }
            }
            s => {
                let sc = self.scalar(s);
                out.push_str(&format!("{pad}{sc}\n"));
            }
        }
    }

    pub fn document(&mut self, v: &Value) -> String {
        let mut out = String::new();
        if self.g.chance(0.2) {
            out.push_str("# generated\n");
        }
        if self.odd && self.g.chance(0.5) {
            // Anchors and aliases: the labels map reused as annotations.
            if let Some(labels) = v["metadata"].get("labels").cloned() {
                let mut v2 = v.clone();
                v2["metadata"].as_object_mut().unwrap().remove("labels");
                let mut body = String::new();
                self.block(&v2, 0, &mut body);
                let flow = self.flow(&labels);
                body = body.replacen(
                    "metadata:\n",
                    &format!("metadata:\n  labels: &l {flow}\n  annotations: *l\n"),
                    1,
                );
                out.push_str(&body);
                return out;
            }
        }
        if self.g.chance(0.1) {
            out.push_str(&self.flow(v));
            out.push('\n');
        } else {
            self.block(v, 0, &mut out);
        }
        out
    }
}

impl Gen {
    fn yaml(&mut self, v: &Value, odd: bool) -> String {
        Emitter { g: self, odd }.document(v)
    }
}

/// The fuzz cases for a seed: files of valid documents (several per apply) and single mutated
/// documents, `docs` documents in all.
pub fn cases(seed: u64, docs: usize) -> Vec<Case> {
    let mut g = Gen::new(seed);
    let kinds = kinds();
    let mut cases = Vec::new();
    let mut made = 0;
    while made < docs {
        let valid = g.chance(0.5);
        g.valid = valid;
        let (text, n, what) = if valid {
            let n = VALID_PER_FILE.min(docs - made);
            let parts: Vec<String> = (0..n)
                .map(|_| {
                    let k = *g.pick(&kinds);
                    let d = g.document(k);
                    g.yaml(&d, false)
                })
                .collect();
            (parts.join("---\n"), n, "valid")
        } else {
            let k = *g.pick(&kinds);
            let mut d = g.document(k);
            let what = g.mutate(&mut d);
            let odd = what == "odd YAML";
            (g.yaml(&d, odd), 1, what)
        };
        made += n;
        cases.push(Case {
            file: "fuzz".into(),
            line: cases.len() + 1,
            name: format!("seed {seed} #{} ({what})", cases.len() + 1),
            stores: vec![StoreKind::Etcd],
            actions: vec![
                Action::File {
                    name: "fuzz.yaml".into(),
                    content: text,
                },
                Action::Run {
                    args: vec!["apply".into(), "-f".into(), "fuzz.yaml".into()],
                    stdin: None,
                    allow: None,
                    line: 0,
                    by: Default::default(),
                },
            ],
        });
    }
    cases
}

pub fn run(reference: &Path) {
    let seed = env_num("CONFORMANCE_FUZZ_SEED", 1);
    let docs = env_num("CONFORMANCE_FUZZ_DOCS", 2000) as usize;
    let cases: Vec<Case> = cases(seed, docs)
        .into_iter()
        .filter(|c| runner::selected(&c.id()))
        .collect();
    // Only the entry for calicoctl's crashes applies to generated documents.
    let allow: BTreeMap<String, allowlist::Entry> =
        allowlist::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compatibility.md"))
            .into_iter()
            .filter(|(id, _)| id == "calicoctl-panic")
            .collect();
    let report = runner::run_all(StoreKind::Etcd, reference, &cases, &allow);
    // A difference is reported with the document that caused it (all of them in
    // target/fuzz-etcd-docs.txt).
    let mut docs_text = String::new();
    for (o, c) in report.outcomes.iter().zip(&cases) {
        if o.steps.iter().any(|s| matches!(s, StepResult::Differs(_)))
            && let Some(Action::File { content, .. }) = c.actions.first()
        {
            let doc = format!("\n── fuzz document {}:\n{content}", c.name);
            if docs_text.matches("── fuzz document").count() < 30 {
                eprintln!("{doc}");
            }
            docs_text.push_str(&doc);
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("fuzz-etcd-docs.txt"), docs_text);
    eprintln!(
        "fuzz: seed {seed}, {docs} documents in {} applies",
        cases.len()
    );
    // The open list names the documents of the default run (seed 1, 2,000 documents).
    let complete = std::env::var_os("CONFORMANCE_FILTER").is_none() && seed == 1 && docs == 2000;
    report.finish_named("fuzz etcd", StoreKind::Etcd, &cases, complete);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_yaml_parses_to_the_same_value() {
        let mut g = Gen::new(7);
        for k in kinds() {
            for _ in 0..20 {
                let d = g.document(k);
                for odd in [false, true] {
                    let text = g.yaml(&d, odd);
                    let back = calicoctl::model::yaml_in::yaml_to_json(&text)
                        .unwrap_or_else(|e| panic!("{e}:\n{text}"))
                        .unwrap();
                    if !odd {
                        assert_eq!(back, d, "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_seed_same_documents() {
        let a: Vec<String> = cases(3, 50)
            .iter()
            .map(|c| format!("{:?}", c.actions))
            .collect();
        let b: Vec<String> = cases(3, 50)
            .iter()
            .map(|c| format!("{:?}", c.actions))
            .collect();
        assert_eq!(a, b);
        let n: usize = cases(3, 50)
            .iter()
            .map(|c| match &c.actions[0] {
                Action::File { content, .. } => content.matches("apiVersion").count(),
                _ => 0,
            })
            .sum();
        assert!(n >= 50, "{n} documents");
    }
}
