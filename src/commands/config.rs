//! `calicoctl config get-contexts|current-context|use-context|view` (beyond calicoctl).

use std::io::Write;

use super::{CmdResult, Ctx, Failure};
use crate::cli::{ConfigCommand, ViewFormat};
use crate::config::{self, Source};
use crate::gocompat::{json::to_go_json_indent, tabwriter::tabwriter, yaml::to_yaml};

pub async fn run(ctx: &mut Ctx, cmd: &ConfigCommand) -> CmdResult {
    match cmd {
        ConfigCommand::GetContexts => {
            let path = ctx.config_path.clone();
            if std::fs::metadata(&path).is_err() {
                if path != config::DEFAULT_CONFIG_PATH {
                    return Err(Failure::Stdout(format!(
                        "Error reading config file: {path}"
                    )));
                }
                let mut rows = vec![vec![
                    "CURRENT".to_string(),
                    "NAME".to_string(),
                    "SOURCE".to_string(),
                ]];
                rows.push(vec!["*".into(), "default".into(), "environment".into()]);
                write!(ctx.out, "{}", tabwriter(&rows))?;
                return Ok(0);
            }
            let (names, current, _) =
                config::list_contexts(&path).map_err(|e| Failure::Stderr(e.to_string()))?;
            let mut rows = vec![vec![
                "CURRENT".to_string(),
                "NAME".to_string(),
                "SOURCE".to_string(),
            ]];
            for n in names {
                rows.push(vec![
                    if n == current {
                        "*".into()
                    } else {
                        String::new()
                    },
                    n,
                    path.clone(),
                ]);
            }
            write!(ctx.out, "{}", tabwriter(&rows))?;
            Ok(0)
        }
        ConfigCommand::CurrentContext => {
            let loaded = ctx
                .load_config()
                .map_err(|e| Failure::Stderr(e.to_string()))?;
            match loaded.source {
                Source::Context { name, .. } => writeln!(ctx.out, "{name}")?,
                Source::File(_) => writeln!(ctx.out, "default")?,
                Source::Env => writeln!(ctx.out, "default (environment)")?,
            }
            Ok(0)
        }
        ConfigCommand::UseContext { name } => {
            config::use_context(&ctx.config_path, name)
                .map_err(|e| Failure::Stderr(e.to_string()))?;
            writeln!(ctx.out, "Switched to context \"{name}\".")?;
            Ok(0)
        }
        ConfigCommand::View { output } => {
            let loaded = ctx
                .load_config()
                .map_err(|e| Failure::Stderr(e.to_string()))?;
            let source = match &loaded.source {
                Source::File(p) => p.display().to_string(),
                Source::Context { file, name } => format!("{} (context {name})", file.display()),
                Source::Env => "environment".to_string(),
            };
            let mut meta = serde_json::Map::new();
            meta.insert("name".into(), serde_json::Value::String(source));
            let v = serde_json::json!({
                "apiVersion": config::API_VERSION,
                "kind": "CalicoAPIConfig",
                "metadata": meta,
                "spec": config::spec_to_value(&loaded.spec, true),
            });
            match output {
                ViewFormat::Yaml => write!(ctx.out, "{}", to_yaml(&v))?,
                ViewFormat::Json => writeln!(ctx.out, "{}", to_go_json_indent(&v))?,
            }
            Ok(0)
        }
    }
}
