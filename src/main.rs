//! The `calicoctl` binary (also `kubectl-calico`).

fn main() {
    // Dynamic shell completion: `COMPLETE=bash calicoctl …` answers and exits.
    clap_complete::CompleteEnv::with_factory(|| calicoctl::cli_command(false)).complete();
    let code = calicoctl::run(std::env::args_os().collect());
    std::process::exit(code);
}
