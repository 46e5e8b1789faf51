//! `calicoctl completion SHELL`: prints the registration script of clap_complete's dynamic
//! completion, which calls back into this binary to complete kinds, names and contexts.

use super::{CmdResult, Ctx};
use crate::cli::CompletionArgs;

/// The registration script for a shell (the same text `COMPLETE=<shell> calicoctl` prints).
pub fn registration(shell: clap_complete::Shell, program: &str) -> Result<String, String> {
    let name = match shell {
        clap_complete::Shell::Bash => "bash",
        clap_complete::Shell::Zsh => "zsh",
        clap_complete::Shell::Fish => "fish",
        clap_complete::Shell::PowerShell => "powershell",
        clap_complete::Shell::Elvish => "elvish",
        _ => return Err("unsupported shell".into()),
    };
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(name)
        .ok_or_else(|| format!("unsupported shell {name}"))?;
    let mut buf = Vec::new();
    completer
        .write_registration("COMPLETE", program, program, program, &mut buf)
        .map_err(|e| e.to_string())?;
    String::from_utf8(buf).map_err(|e| e.to_string())
}

pub async fn run(ctx: &mut Ctx, args: &CompletionArgs) -> CmdResult {
    let script = registration(args.shell, "calicoctl").map_err(super::stderr_fail)?;
    ctx.out.write_all(script.as_bytes())?;
    Ok(0)
}
