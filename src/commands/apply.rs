//! `calicoctl apply` (+ `--dry-run`, beyond calicoctl).

use std::io::Write;

use super::diff::{Change, compute, object_ref};
use super::engine::{self, NsFlags, Verb};
use super::{CmdResult, Ctx};
use crate::cli::ApplyArgs;

pub async fn run(ctx: &mut Ctx, args: &ApplyArgs) -> CmdResult {
    let p = engine::prepare(ctx, &args.file, None, &[], true, "").await?;
    if p.input.resources.is_empty() {
        return engine::no_resources(&mut ctx.out);
    }
    let flags = NsFlags {
        namespace: args.ns.namespace.clone(),
        all_namespaces: false,
    };
    let mut resources = p.input.resources;
    if args.dry_run {
        let changes = compute(&p.client, &mut resources, &flags).await;
        let (mut differs, mut failed) = (false, false);
        for (r, c) in resources.iter().zip(&changes) {
            let what = match c {
                Change::Create { .. } => {
                    differs = true;
                    "created"
                }
                Change::Update { .. } => {
                    differs = true;
                    "configured"
                }
                Change::Unchanged => "unchanged",
                Change::Error(e) => {
                    failed = true;
                    writeln!(ctx.err, "{}: {e}", object_ref(r))?;
                    continue;
                }
            };
            writeln!(ctx.out, "{} {what} (dry run)", object_ref(r))?;
        }
        return Ok(if failed {
            2
        } else if differs {
            1
        } else {
            0
        });
    }
    p.client.ensure_initialized().await;
    let ns_errs: Vec<Option<engine::NamespaceError>> = resources
        .iter_mut()
        .map(|r| engine::resolve_namespace(r, &flags).err())
        .collect();
    let client = &p.client;
    let mut batched = engine::create_batched(client, &resources, &ns_errs).await;
    engine::update_batched(client, &resources, &mut batched).await;
    let pre = batched.pre;
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
            engine::do_apply(client, r).await
        }
    })
    .await;
    engine::report_cav(
        &mut ctx.out,
        Verb::Apply,
        p.input.single_kind,
        &resources,
        &results,
    )
}
