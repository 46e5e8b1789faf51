//! `calicoctl version`: client, then cluster version and type. Never runs the mismatch check.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::{CmdResult, Ctx, Failure};
use crate::cli::VersionArgs;
use crate::model::kinds::KindId;
use crate::model::version::client_version;

/// The git commit baked in at build time.
pub const GIT_COMMIT: &str = env!("CALICOCTL_GIT_COMMIT");

pub async fn run(ctx: &mut Ctx, args: &VersionArgs) -> CmdResult {
    let poll = match args.poll.as_deref() {
        None | Some("") | Some("0") => None,
        Some(p) => match crate::model::gotypes::parse_go_duration(p) {
            Ok(n) if n > 0 => Some(Duration::from_nanos(n as u64)),
            Ok(_) => None,
            // calicoctl prints the zero duration it failed to parse into, not the input.
            Err(_) => {
                return Err(Failure::Stderr(
                    "invalid poll duration specified: 0s".into(),
                ));
            }
        },
    };
    writeln!(ctx.out, "Client Version:    {}", client_version())?;
    writeln!(ctx.out, "Git commit:        {GIT_COMMIT}")?;
    if args.client {
        return Ok(0);
    }
    let loaded = match ctx.load_config() {
        Ok(l) => l,
        Err(e) => return Err(Failure::Stderr(e.to_string())),
    };
    let client = match crate::datastore::connect(&loaded.spec, ctx.timeout).await {
        Ok(c) => c,
        // The KDD backend wraps client-construction failures as a datastore error; calicoctl
        // then prints this and exits 0.
        Err(_) if loaded.spec.datastore_type == "kubernetes" => {
            writeln!(ctx.out, "Unable to detect installed Calico version")?;
            return Ok(0);
        }
        Err(e) => return Err(Failure::Stderr(e.to_string())),
    };
    let ci = KindId::ClusterInformation.info();
    let mut last: Option<(String, String)> = None;
    loop {
        match client.get(ci, "", "default").await {
            Ok(info) => {
                let field = |f: &str| {
                    let s = info
                        .get("spec")
                        .and_then(|s| s.get(f))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if s.is_empty() {
                        "unknown".to_string()
                    } else {
                        s.to_string()
                    }
                };
                let now = (field("calicoVersion"), field("clusterType"));
                if last.as_ref() != Some(&now) {
                    writeln!(ctx.out, "Cluster Version:   {}", now.0)?;
                    writeln!(ctx.out, "Cluster Type:      {}", now.1)?;
                    ctx.out.flush()?;
                    last = Some(now);
                }
            }
            Err(e) => {
                let msg = format!("unable to retrieve Cluster Version or Type: {e}");
                match poll {
                    None => return Err(Failure::Stderr(msg)),
                    Some(_) => {
                        writeln!(ctx.err, "{msg}")?;
                        last = None;
                    }
                }
            }
        }
        match poll {
            None => return Ok(0),
            Some(d) => tokio::time::sleep(d).await,
        }
    }
}
