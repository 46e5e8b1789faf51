//! `calicoctl node …`: thin wiring to `crate::bird` and `crate::node`.

use super::{CmdResult, Ctx, Failure};
use crate::cli::{NodeArgs, NodeCommand};

pub async fn run(ctx: &mut Ctx, args: &NodeArgs) -> CmdResult {
    match &args.command {
        NodeCommand::Status(_)
        | NodeCommand::Diags(_)
        | NodeCommand::Checksystem(_)
        | NodeCommand::IpAutodetect(_)
        | NodeCommand::Cleanup(_) => {
            let _ = ctx;
            Err(Failure::Stderr(
                "this node command is not available in this build yet".into(),
            ))
        }
    }
}
