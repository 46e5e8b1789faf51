//! `calicoctl validate`: offline; parses and validates, never connects or writes.

use super::engine::{self, InputError, Verb};
use super::{CmdResult, Ctx, Failure};
use crate::cli::ValidateArgs;
use crate::model::validate::validate;

pub async fn run(ctx: &mut Ctx, args: &ValidateArgs) -> CmdResult {
    let input = engine::build_input(&args.file, None, &[]).map_err(|e| match e {
        InputError::Parse(m) => Failure::Stderr(format!("failed to execute command: {m}")),
        InputError::Raw(m) => Failure::Stderr(m),
    })?;
    if input.resources.is_empty() {
        return engine::no_resources(&mut ctx.out);
    }
    let results: Vec<Result<serde_json::Value, engine::ResourceError>> = input
        .resources
        .iter()
        .map(|r| {
            validate(r.kind, &r.obj)
                .map(|_| r.obj.clone())
                .map_err(engine::ResourceError::from)
        })
        .collect();
    engine::report_cav(
        &mut ctx.out,
        Verb::Validate,
        input.single_kind,
        &input.resources,
        &results,
    )
}
