//! `calicoctl create`.

use super::engine::{self, NsFlags, Verb};
use super::{CmdResult, Ctx};
use crate::cli::CreateArgs;

pub async fn run(ctx: &mut Ctx, args: &CreateArgs) -> CmdResult {
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
    // Large files: batched creates where the backend has them; the rest one at a time.
    let pre = engine::create_batched(client, &resources, &ns_errs)
        .await
        .pre;
    let results = engine::run_all(&resources, |i, r| {
        let ns_err = ns_errs[i].clone();
        let done = pre[i].clone();
        async move {
            if let Some(e) = ns_err {
                return Err(e.into());
            }
            if let Some(r) = done {
                return r;
            }
            engine::do_create(client, r, args.skip_exists).await
        }
    })
    .await;
    engine::report_cav(
        &mut ctx.out,
        Verb::Create,
        p.input.single_kind,
        &resources,
        &results,
    )
}
