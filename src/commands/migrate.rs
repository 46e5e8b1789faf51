//! `datastore migrate export|import` (being written).

use super::{CmdResult, Ctx, Failure};

pub async fn export(_ctx: &mut Ctx) -> CmdResult {
    Err(Failure::Stderr(
        "datastore migrate export is not available in this build yet".into(),
    ))
}

pub async fn import(_ctx: &mut Ctx, _f: &str) -> CmdResult {
    Err(Failure::Stderr(
        "datastore migrate import is not available in this build yet".into(),
    ))
}
