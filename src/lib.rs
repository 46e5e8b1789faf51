//! calicoctl in Rust: a drop-in for Project Calico's calicoctl.
//!
//! Rooms (see docs/architecture.md): `cli` (flags) → `commands` (one file per command) →
//! domain logic (`ipam`, `bird`, `cleanup`) → `datastore` (trait + etcd/Kubernetes backends)
//! → `model` (types, validation, selectors) → `gocompat` (Go's text formats: JSON, YAML,
//! `%v`, tables, templates); `output` prints. `config` reads configuration.

pub mod bird;
pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod complete;
pub mod config;
pub mod datastore;
pub mod gocompat;
pub mod host;
pub mod ipam;
pub mod log;
pub mod model;
pub mod output;
pub mod policy;
pub mod usage;

use std::ffi::OsString;
use std::io::Write;

use clap::{CommandFactory, FromArgMatches};

use commands::{Ctx, Failure};
use gocompat::stdio;

/// The clap command, named for plugin mode when needed.
pub fn cli_command(plugin: bool) -> clap::Command {
    let cmd = cli::Cli::command();
    if plugin {
        cmd.name("kubectl-calico")
            .bin_name("kubectl calico")
            .about("calico kubectl plugin")
    } else {
        cmd
    }
}

/// True when invoked as `kubectl-calico` (a kubectl plugin).
pub fn is_plugin(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().starts_with("kubectl-"))
        .unwrap_or(false)
}

/// calicoctl's error massaging: strips Go's JSON-decoding prefix and rewrites `unknown field`.
pub fn massage_error(msg: &str) -> String {
    let msg = msg
        .strip_prefix("error unmarshaling JSON: while decoding JSON: json: ")
        .unwrap_or(msg);
    if let Some(i) = msg.find("unknown field \"") {
        let rest = &msg[i + "unknown field \"".len()..];
        if let Some(end) = rest.find('"') {
            return format!(
                "field in document is not recognized or is in the wrong location: {}",
                &rest[..end]
            );
        }
    }
    msg.to_string()
}

/// Runs the program with `args` (including argv[0]); returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let plugin = args.first().map(|a| is_plugin(a)).unwrap_or(false);
    let program = if plugin {
        "kubectl calico"
    } else {
        "calicoctl"
    };
    // calicoctl's grammar first: its usage errors, byte for byte; accepted lines are handed
    // to clap spelled out.
    let (args, calicoctl_usage) = match usage::check(&args, plugin) {
        usage::Verdict::Parse { args, usage } => (args, usage),
        usage::Verdict::Exit {
            code,
            stdout,
            stderr,
        } => {
            let _ = stdio::stdout().write_all(stdout.as_bytes());
            let _ = stdio::stderr().write_all(stderr.as_bytes());
            return code;
        }
    };
    let matches = match cli_command(plugin).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(e, calicoctl_usage),
    };
    let parsed = match cli::Cli::from_arg_matches(&matches) {
        Ok(p) => p,
        Err(e) => return usage_error(e, calicoctl_usage),
    };
    let Some(level) = log::parse_level(&parsed.global.log_level) else {
        let _ = writeln!(
            stdio::stdout(),
            "Unknown log level: {}, expected one of: \npanic, fatal, error, warn, info, debug.",
            parsed.global.log_level
        );
        return 1;
    };
    log::set_level(level);
    let (timeout, rt) = match timeout_and_runtime(&parsed.global.timeout) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(stdio::stderr(), "{e:#}");
            return 1;
        }
    };
    let mut ctx = Ctx {
        config_path: parsed.global.config.clone(),
        context: parsed.global.context.clone(),
        allow_version_mismatch: parsed.global.allow_version_mismatch,
        timeout,
        program: program.to_string(),
        out: Box::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            stdio::stdout(),
        )),
        err: Box::new(stdio::stderr()),
    };
    let result = rt.block_on(dispatch(&mut ctx, &parsed.command));
    let _ = ctx.out.flush();
    let code = report(result, &mut ctx);
    let _ = ctx.out.flush();
    // Do not wait for lingering connections.
    rt.shutdown_background();
    code
}

/// The `--timeout` value and the async runtime. Their failures have no calicoctl text: they
/// are only printed (with their causes) before exiting 1, which is what `anyhow` is for.
fn timeout_and_runtime(
    timeout: &str,
) -> anyhow::Result<(std::time::Duration, tokio::runtime::Runtime)> {
    use anyhow::Context;
    let timeout = match model::gotypes::parse_go_duration(timeout) {
        Ok(n) if n > 0 => std::time::Duration::from_nanos(n as u64),
        _ => anyhow::bail!("invalid --timeout {timeout:?}: use a duration such as 10s or 1m"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok((timeout, rt))
}

/// Prints a command's failure the way calicoctl does and returns the exit code.
fn report(result: commands::CmdResult, ctx: &mut Ctx) -> i32 {
    match result {
        Ok(code) => code,
        Err(f) => print_failure(f, ctx),
    }
}

fn print_failure(f: Failure, ctx: &mut Ctx) -> i32 {
    match f {
        Failure::Stderr(m) => {
            let _ = writeln!(ctx.err, "{}", massage_error(&m));
            1
        }
        Failure::Stdout(m) => {
            let _ = writeln!(ctx.out, "{m}");
            1
        }
        Failure::Exit(c) => c,
        Failure::Coded(inner, code) => {
            print_failure(*inner, ctx);
            code
        }
    }
}

async fn dispatch(ctx: &mut Ctx, cmd: &cli::Command) -> commands::CmdResult {
    use cli::Command as C;
    match cmd {
        C::Create(a) => commands::create::run(ctx, a).await,
        C::Replace(a) => commands::replace::run(ctx, a).await,
        C::Apply(a) => commands::apply::run(ctx, a).await,
        C::Patch(a) => commands::patch::run(ctx, a).await,
        C::Delete(a) => commands::delete::run(ctx, a).await,
        C::Get(a) => commands::get::run(ctx, a).await,
        C::Label(a) => commands::label::run(ctx, a).await,
        C::Validate(a) => commands::validate::run(ctx, a).await,
        C::Diff(a) => commands::diff::run(ctx, a).await,
        C::Version(a) => commands::version::run(ctx, a).await,
        C::Config(a) => commands::config::run(ctx, &a.command).await,
        C::Completion(a) => commands::completion::run(ctx, a).await,
        C::Node(a) => commands::node::run(ctx, a).await,
        C::Ipam(a) => commands::ipam::run(ctx, a).await,
        C::Policy(a) => commands::policy::run(ctx, a).await,
        C::Datastore(a) => commands::datastore::run(ctx, a).await,
        C::Dev(a) => commands::dev::run(ctx, a).await,
        C::Cluster(a) => commands::cluster::run(ctx, &a.command).await,
    }
}

/// A line calicoctl's grammar accepts but clap does not (a value clap cannot convert) gets
/// calicoctl's usage output; our own commands get clap's error. Help exits 0.
fn usage_error(e: clap::Error, calicoctl_usage: Option<String>) -> i32 {
    use clap::error::ErrorKind;
    match (e.kind(), calicoctl_usage) {
        (ErrorKind::DisplayHelp | ErrorKind::DisplayVersion, _) => {
            let _ = e.print().map_err(stdio::check);
            0
        }
        (_, Some(usage)) => {
            let _ = stdio::stderr().write_all(usage.as_bytes());
            1
        }
        _ => {
            let _ = e.print().map_err(stdio::check);
            1
        }
    }
}
