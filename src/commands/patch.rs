//! `calicoctl patch`: a strategic-merge patch (Calico types have no merge keys, so it acts as a
//! JSON merge patch with `$patch` directives), strict decode, one CAS update.

use std::io::Write;

use serde_json::{Map, Value};

use super::engine::{self, NsFlags};
use super::{CmdResult, Ctx, Failure};
use crate::model::kinds::by_cli_name;
use crate::model::manifest::{Resource, decode_one};
use crate::model::meta;

pub async fn run(ctx: &mut Ctx, args: &crate::cli::PatchArgs) -> CmdResult {
    let client = ctx.client().await;
    if !ctx.allow_version_mismatch
        && let Ok(c) = &client
    {
        engine::version_check(c).await?;
    }
    if args.name.is_empty() {
        return Err(Failure::Stderr("resource name may not be empty".into()));
    }
    let kind = by_cli_name(&args.kind).ok_or_else(|| {
        Failure::Stderr(format!("resource type '{}' is not supported", args.kind))
    })?;
    let client = client.map_err(engine::client_failure)?;
    let hit = |e: &dyn std::fmt::Display| Failure::Stderr(format!("hit error: {e}"));
    let mut res = Resource {
        kind,
        obj: engine::skeleton(kind, &args.name),
    };
    let ns = engine::resolve_namespace(
        &mut res,
        &NsFlags {
            namespace: args.ns.namespace.clone(),
            all_namespaces: false,
        },
    )
    .map_err(|e| hit(&e))?;
    let current = client
        .get(kind, &ns, &args.name)
        .await
        .map_err(|e| hit(&e))?;
    // Strategic merge decodes the patch into a map; whatever does not decode into one is
    // "invalid JSON document", and `null` is an empty patch.
    let patch = match serde_json::from_str::<Value>(&args.patch) {
        Ok(Value::Null) => Value::Object(Map::new()),
        Ok(p @ Value::Object(_)) => p,
        _ => {
            return Err(hit(
                &"performing strategic merge patch: invalid JSON document",
            ));
        }
    };
    let patched = strategic_merge(&current, &patch);
    let decoded = decode_one(kind, &patched)
        .map_err(|e| hit(&format!("creating resource from patched data: {e}")))?;
    let mut obj = decoded.obj;
    // The update carries the revision just read.
    meta::set_meta_str(
        &mut obj,
        "resourceVersion",
        Some(&meta::resource_version(&current)),
    );
    client
        .update(kind, &obj)
        .await
        .map_err(|e| hit(&format!("updating existing resource: {e}")))?;
    writeln!(ctx.out, "Successfully patched 1 '{}' resource", kind.kind)?;
    Ok(0)
}

/// JSON merge patch plus the `$patch: replace|delete` directives of strategic merge.
pub fn strategic_merge(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            match p.get("$patch").and_then(Value::as_str) {
                Some("replace") => {
                    let mut m = p.clone();
                    m.remove("$patch");
                    return Value::Object(m);
                }
                Some("delete") => return Value::Null,
                _ => {}
            }
            let mut out: Map<String, Value> = target.as_object().cloned().unwrap_or_default();
            for (k, v) in p {
                if k == "$patch"
                    || k.starts_with("$setElementOrder")
                    || k.starts_with("$retainKeys")
                {
                    continue;
                }
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = strategic_merge(out.get(k).unwrap_or(&Value::Null), v);
                    if merged.is_null() && v.is_object() {
                        out.remove(k);
                    } else {
                        out.insert(k.clone(), merged);
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_semantics() {
        let t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "k": "v"});
        assert_eq!(
            strategic_merge(&t, &json!({"a": {"b": null, "d": 3}, "l": [3]})),
            json!({"a": {"c": 2, "d": 3}, "l": [3], "k": "v"})
        );
        assert_eq!(
            strategic_merge(&t, &json!({"a": {"$patch": "replace", "z": 1}})),
            json!({"a": {"z": 1}, "l": [1, 2], "k": "v"})
        );
        assert_eq!(
            strategic_merge(&t, &json!({"a": {"$patch": "delete"}})),
            json!({"l": [1, 2], "k": "v"})
        );
    }
}
