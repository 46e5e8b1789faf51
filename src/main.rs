//! The `calicoctl` binary (also `kubectl-calico`).

fn main() {
    // Dynamic shell completion: `COMPLETE=bash calicoctl …` answers and exits.
    clap_complete::CompleteEnv::with_factory(|| calicoctl::cli_command(false)).complete();
    // Writing into a closed pipe (`calicoctl get … | head`) must end quietly, as for other
    // CLI tools: restore the default SIGPIPE action that Rust's runtime ignores.
    // SAFETY: signal() with SIG_DFL has no preconditions and runs before any threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = calicoctl::run(std::env::args_os().collect());
    std::process::exit(code);
}
