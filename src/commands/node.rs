//! `calicoctl node …`: thin wiring to `crate::bird` and `crate::node`.

use std::path::PathBuf;
use std::time::Duration;

use super::{CmdResult, Ctx, Failure};
use crate::bird::status::{StatusError, StatusFormat, StatusOptions, run_node_status};
use crate::cli::{NodeArgs, NodeCommand, ReportFormat};

fn format(f: ReportFormat) -> StatusFormat {
    match f {
        ReportFormat::Table => StatusFormat::Table,
        ReportFormat::Json => StatusFormat::Json,
        ReportFormat::Yaml => StatusFormat::Yaml,
    }
}

pub async fn run(ctx: &mut Ctx, args: &NodeArgs) -> CmdResult {
    match &args.command {
        NodeCommand::Status(a) => {
            let opts = StatusOptions {
                bird_socket: a.bird_socket.as_ref().map(PathBuf::from),
                bird6_socket: a.bird6_socket.as_ref().map(PathBuf::from),
                format: format(a.output),
                check: a.check,
                // calicoctl's per-read timeout; --timeout lowers or raises it.
                timeout: ctx
                    .timeout
                    .min(Duration::from_secs(2))
                    .max(Duration::from_millis(100)),
                proc_root: PathBuf::from("/proc"),
            };
            match run_node_status(&opts, &mut ctx.out) {
                Ok(code) => Ok(code),
                Err(StatusError::NotRoot) => Err(Failure::Stdout(StatusError::NotRoot.to_string())),
                Err(e) => Err(Failure::Stderr(e.to_string())),
            }
        }
        NodeCommand::Cleanup(a) => super::node_cleanup::run(ctx, a).await,
        NodeCommand::Diags(_) | NodeCommand::Checksystem(_) | NodeCommand::IpAutodetect(_) => Err(
            Failure::Stderr("this node command is not available in this build yet".into()),
        ),
    }
}
