//! `calicoctl datastore migrate lock|unlock|export|import`: etcdv3 → Kubernetes; "locked" means
//! ClusterInformation `default` has `spec.datastoreReady: false`.

use std::io::Write;

use serde_json::Value;

use super::engine;
use super::{CmdResult, Ctx, Failure};
use crate::cli::{DatastoreArgs, DatastoreCommand, MigrateCommand};
use crate::model::kinds::KindId;

/// Sets ClusterInformation `datastoreReady` (false = locked).
async fn set_ready(ctx: &mut Ctx, ready: bool) -> CmdResult {
    let (verb, past) = if ready {
        ("unlocking", "unlocked")
    } else {
        ("locking", "locked")
    };
    let c = ctx.client().await.map_err(engine::bare_client_failure)?;
    if !ctx.allow_version_mismatch {
        engine::version_check(&c).await?;
    }
    // Only locking initialises the datastore; unlocking needs the ClusterInformation there.
    if !ready {
        c.ensure_initialized().await;
    }
    let ci = KindId::ClusterInformation.info();
    let mut cur = c.get(ci, "", "default").await.map_err(|e| {
        Failure::Stderr(format!(
            "error retrieving ClusterInformation for {verb}: {e}"
        ))
    })?;
    if let Some(s) = cur.get_mut("spec").and_then(Value::as_object_mut) {
        s.insert("datastoreReady".into(), Value::Bool(ready));
    }
    // ClusterInformation is read-only for users; lock/unlock writes it directly.
    c.datastore().update(ci, &cur).await.map_err(|e| {
        Failure::Stderr(format!("error updating ClusterInformation for {verb}: {e}"))
    })?;
    writeln!(ctx.out, "Datastore {past}.")?;
    Ok(0)
}

pub async fn run(ctx: &mut Ctx, args: &DatastoreArgs) -> CmdResult {
    let DatastoreCommand::Migrate(m) = &args.command;
    match &m.command {
        MigrateCommand::Lock => set_ready(ctx, false).await,
        MigrateCommand::Unlock => set_ready(ctx, true).await,
        MigrateCommand::Export => crate::commands::migrate::export(ctx).await,
        MigrateCommand::Import {
            filename,
            stop_after_steps,
        } => crate::commands::migrate::import(ctx, filename, *stop_after_steps).await,
    }
}
