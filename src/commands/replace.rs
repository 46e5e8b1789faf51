//! `calicoctl replace`: every resource is attempted; any failure reports "Partial success …"
//! with the last error, as calicoctl does.

use std::io::Write;

use super::engine::{self, NsFlags};
use super::{CmdResult, Ctx, Failure};
use crate::cli::ReplaceArgs;

pub async fn run(ctx: &mut Ctx, args: &ReplaceArgs) -> CmdResult {
    let p = engine::prepare(ctx, &args.file, None, &[], true, "").await?;
    if p.input.resources.is_empty() {
        return engine::no_resources(&mut ctx.out);
    }
    p.client.ensure_initialized().await;
    let flags = NsFlags {
        namespace: args.ns.namespace.clone(),
        all_namespaces: false,
    };
    let mut resources = p.input.resources;
    let ns_errs: Vec<Option<engine::NamespaceError>> = resources
        .iter_mut()
        .map(|r| engine::resolve_namespace(r, &flags).err())
        .collect();
    let client = &p.client;
    let results = engine::run_all(&resources, |i, r| {
        let ns_err = ns_errs[i].clone();
        async move {
            if let Some(e) = ns_err {
                return Err(e.into());
            }
            engine::do_replace(client, r).await
        }
    })
    .await;
    let total = results.len();
    let last_err = results.iter().rev().find_map(|r| r.as_ref().err().cloned());
    let kind = p.input.single_kind;
    match last_err {
        None => {
            match kind {
                Some(k) => writeln!(ctx.out, "Successfully replaced {total} '{k}' resource(s)")?,
                None => writeln!(ctx.out, "Successfully replaced {total} resource(s)")?,
            }
            Ok(0)
        }
        Some(e) => {
            match kind {
                Some(k) => writeln!(
                    ctx.out,
                    "Partial success: replaced the first {total} out of {total} '{k}' resources:"
                )?,
                None => writeln!(
                    ctx.out,
                    "Partial success: replaced the first {total} out of {total} resources:"
                )?,
            }
            Err(Failure::Stderr(format!("hit error: {e}")))
        }
    }
}
