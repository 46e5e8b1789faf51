//! `calicoctl label`.

use std::io::Write;

use super::engine::{self, NsFlags};
use super::{CmdResult, Ctx, Failure};
use crate::model::kinds::by_cli_name;
use crate::model::manifest::Resource;
use crate::model::meta;

pub async fn run(ctx: &mut Ctx, args: &crate::cli::LabelArgs) -> CmdResult {
    let (kind_arg, name) = (&args.kind, &args.name);
    let get_err = |e: &dyn std::fmt::Display| {
        Failure::Stderr(format!("failed to get {kind_arg} {name}, error {e}"))
    };
    let client = ctx.client().await;
    if !ctx.allow_version_mismatch
        && let Ok(c) = &client
    {
        engine::version_check(c).await.map_err(|e| get_err(&e))?;
    }
    if name.is_empty() {
        return Err(Failure::Stderr("resource name may not be empty".into()));
    }
    let (key, value) = if args.remove {
        (args.label.clone(), None)
    } else {
        // calicoctl splits on every '=' and wants exactly two parts.
        let parts: Vec<&str> = args.label.split('=').collect();
        if parts.len() != 2 {
            return Err(Failure::Stderr(format!("invalid label {}", args.label)));
        }
        (parts[0].to_string(), Some(parts[1].to_string()))
    };
    let kind = by_cli_name(kind_arg)
        .ok_or_else(|| get_err(&format!("resource type '{kind_arg}' is not supported")))?;
    let client = client.map_err(engine::client_failure)?;
    let mut res = Resource {
        kind,
        obj: engine::skeleton(kind, name),
    };
    let ns = engine::resolve_namespace(
        &mut res,
        &NsFlags {
            namespace: args.ns.namespace.clone(),
            all_namespaces: false,
        },
    )
    .map_err(|e| {
        // calicoctl looks a cluster-wide object up under the namespace given, and misses.
        if !kind.namespaced {
            Failure::Stderr(format!("{kind_arg} {name} not found"))
        } else {
            get_err(&e)
        }
    })?;
    // A label is one field: when another writer moved the object between our read and our
    // compare-and-swap, read again and re-apply (kubectl's label does not conflict either).
    let mut attempts = 0;
    let verb = loop {
        attempts += 1;
        // calicoctl's get collects per-object errors and yields nothing: whatever stopped the
        // read (absent object, unreachable datastore), the label sees no object.
        let Ok(mut obj) = client.get(kind, &ns, name).await else {
            return Err(Failure::Stderr(format!("{kind_arg} {name} not found")));
        };
        let labels = meta::labels(&obj);
        let verb = match &value {
            None => {
                if !labels.contains_key(&key) {
                    return Err(Failure::Stderr(format!(
                        "cannot remove label of {kind_arg} {name}, key {key} does not exist"
                    )));
                }
                meta::set_label(&mut obj, &key, None);
                "removed"
            }
            Some(v) => {
                let verb = match labels.get(&key) {
                    Some(cur) if cur != v && !args.overwrite => {
                        return Err(Failure::Stderr(format!(
                            "failed to update label of {kind_arg} {name}, key {key} is already present. please use '--overwrite' to set a new value"
                        )));
                    }
                    Some(_) => "updated",
                    None => "set",
                };
                meta::set_label(&mut obj, &key, Some(v));
                verb
            }
        };
        match client.update(kind, &obj).await {
            Ok(_) => break verb,
            Err(e) if e.is_conflict() && attempts < 8 => continue,
            Err(_) => {
                return Err(Failure::Stderr(format!(
                    "failed to update {kind_arg} {name}, label not changed"
                )));
            }
        }
    };
    match verb {
        "removed" => writeln!(
            ctx.out,
            "Successfully removed label {key} from {kind_arg} {name}"
        )?,
        v => writeln!(ctx.out, "Successfully {v} label {key} on {kind_arg} {name}")?,
    }
    Ok(0)
}
