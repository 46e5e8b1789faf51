//! `calicoctl diff -f` and the engine behind `apply --dry-run` (beyond calicoctl): compare what
//! a file would write with the live objects. Exit codes as kubectl diff: 0 same, 1 differs,
//! 2 error.

use std::io::Write;

use serde_json::Value;

use super::engine::{self, NsFlags};
use super::{CmdResult, Ctx};
use crate::cli::DiffArgs;
use crate::datastore::client::Client;
use crate::gocompat::yaml::to_yaml;
use crate::model::manifest::Resource;
use crate::model::meta;

/// What applying one resource would do.
pub enum Change {
    Create { merged: Value },
    Update { live: Value, merged: Value },
    Unchanged,
    Error(String),
}

/// Strips what the server owns, so only user-visible intent is compared.
fn comparable(v: &Value) -> Value {
    let mut o = v.clone();
    meta::edit_meta(&mut o, |m| {
        for f in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            m.remove(f);
        }
    });
    o
}

/// Computes the change for each resource (apply semantics, nothing written).
pub async fn compute(client: &Client, resources: &mut [Resource], flags: &NsFlags) -> Vec<Change> {
    let mut out = Vec::with_capacity(resources.len());
    for r in resources.iter_mut() {
        if let Err(e) = engine::resolve_namespace(r, flags) {
            out.push(Change::Error(e.to_string()));
            continue;
        }
        let ns = meta::namespace(&r.obj);
        let name = meta::name(&r.obj);
        let change = match client.get(r.kind, &ns, &name).await {
            Err(e) if e.is_not_found() => match client
                .prepare_create(r.kind, &engine::reduce_metadata(&r.obj))
                .await
            {
                Ok(merged) => Change::Create {
                    merged: comparable(&merged),
                },
                Err(e) => Change::Error(e.to_string()),
            },
            Err(e) => Change::Error(e.to_string()),
            Ok(live) => {
                let merged = engine::merge_for_update(&live, &r.obj);
                match client.prepare_update(r.kind, &merged).await {
                    Ok(m) => {
                        let (l, m) = (comparable(&live), comparable(&m));
                        if l == m {
                            Change::Unchanged
                        } else {
                            Change::Update { live: l, merged: m }
                        }
                    }
                    Err(e) => Change::Error(e.to_string()),
                }
            }
        };
        out.push(change);
    }
    out
}

/// `kind.projectcalico.org/name`, kubectl's object reference.
pub fn object_ref(r: &Resource) -> String {
    format!(
        "{}.projectcalico.org/{}",
        r.kind.kind.to_lowercase(),
        meta::name(&r.obj)
    )
}

/// A unified diff of two texts (LCS over lines; inputs are small YAML documents).
pub fn unified_diff(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let al: Vec<&str> = a.lines().collect();
    let bl: Vec<&str> = b.lines().collect();
    let (n, m) = (al.len(), bl.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if al[i] == bl[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && al[i] == bl[j] {
            ops.push((' ', al[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', al[i]));
            i += 1;
        } else {
            ops.push(('+', bl[j]));
            j += 1;
        }
    }
    let mut out = format!("--- {a_name}\n+++ {b_name}\n");
    // One hunk per run of changes with 3 lines of context.
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 != ' ')
        .map(|(i, _)| i)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(3);
        let mut end = (changed[k] + 4).min(ops.len());
        while k + 1 < changed.len() && changed[k + 1] < end + 3 {
            k += 1;
            end = (changed[k] + 4).min(ops.len());
        }
        let a_start = ops[..start].iter().filter(|o| o.0 != '+').count();
        let b_start = ops[..start].iter().filter(|o| o.0 != '-').count();
        let a_len = ops[start..end].iter().filter(|o| o.0 != '+').count();
        let b_len = ops[start..end].iter().filter(|o| o.0 != '-').count();
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            if a_len == 0 { a_start } else { a_start + 1 },
            a_len,
            if b_len == 0 { b_start } else { b_start + 1 },
            b_len
        ));
        for (c, l) in &ops[start..end] {
            out.push_str(&format!("{c}{l}\n"));
        }
        k += 1;
    }
    out
}

pub async fn run(ctx: &mut Ctx, args: &DiffArgs) -> CmdResult {
    let p = match engine::prepare(ctx, &args.file, None, &[], true, "").await {
        Ok(p) => p,
        Err(f) => return Err(super::with_exit(f, 2)),
    };
    let flags = NsFlags {
        namespace: args.ns.namespace.clone(),
        all_namespaces: false,
    };
    let mut resources = p.input.resources;
    let changes = compute(&p.client, &mut resources, &flags).await;
    let mut differs = false;
    let mut errors = Vec::new();
    for (r, c) in resources.iter().zip(&changes) {
        let name = object_ref(r);
        match c {
            Change::Unchanged => {}
            Change::Create { merged } => {
                differs = true;
                write!(
                    ctx.out,
                    "{}",
                    unified_diff(
                        "",
                        &to_yaml(merged),
                        &format!("live/{name}"),
                        &format!("merged/{name}")
                    )
                )?;
            }
            Change::Update { live, merged } => {
                differs = true;
                write!(
                    ctx.out,
                    "{}",
                    unified_diff(
                        &to_yaml(live),
                        &to_yaml(merged),
                        &format!("live/{name}"),
                        &format!("merged/{name}")
                    )
                )?;
            }
            Change::Error(e) => errors.push(format!("{name}: {e}")),
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            writeln!(ctx.err, "{e}")?;
        }
        return Ok(2);
    }
    Ok(if differs { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shapes() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\n", "x", "y");
        assert_eq!(d, "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
        let d = unified_diff("", "a\n", "x", "y");
        assert_eq!(d, "--- x\n+++ y\n@@ -0,0 +1,1 @@\n+a\n");
    }
}
