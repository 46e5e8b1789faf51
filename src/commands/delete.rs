//! `calicoctl delete`.

use std::fmt::Write as _;
use std::io::Write;

use super::engine::{self, NsFlags};
use super::{CmdResult, Ctx, Failure};
use crate::cli::DeleteArgs;

pub async fn run(ctx: &mut Ctx, args: &DeleteArgs) -> CmdResult {
    if args.file.filename.is_none() && args.names.iter().any(|n| n.is_empty()) {
        return Err(Failure::Stderr("resource name may not be empty".into()));
    }
    let p = engine::prepare(ctx, &args.file, args.kind.as_deref(), &args.names, true, "").await?;
    if p.input.resources.is_empty() {
        return engine::no_resources(&mut ctx.out);
    }
    let flags = NsFlags {
        namespace: args.ns.namespace.clone(),
        all_namespaces: false,
    };
    let from_file = p.input.from_file;
    let mut resources = p.input.resources;
    let ns_errs: Vec<Option<engine::NamespaceError>> = resources
        .iter_mut()
        .map(|r| engine::resolve_namespace(r, &flags).err())
        .collect();
    let client = &p.client;
    let skip = args.skip_not_exists;
    let results = engine::run_all(&resources, |i, r| {
        let ns_err = ns_errs[i].clone();
        async move {
            if let Some(e) = ns_err {
                return Err(e.into());
            }
            engine::do_delete(client, r, from_file, skip).await
        }
    })
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let kind = p.input.single_kind;
    if ok > 0 {
        match kind {
            Some(k) => writeln!(ctx.out, "Successfully deleted {ok} '{k}' resource(s)")?,
            None => writeln!(ctx.out, "Successfully deleted {ok} resource(s)")?,
        }
    }
    let mut msg = String::new();
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        match kind {
            Some(k) => writeln!(msg, "Failed to delete '{k}' resource: {e}")?,
            None => writeln!(msg, "Failed to delete resource: {e}")?,
        }
    }
    if msg.is_empty() {
        Ok(0)
    } else {
        Err(Failure::Stderr(msg))
    }
}
