//! Parsing, help, exit codes and plugin mode — no datastore needed.

use crate::harness::*;

#[test]
fn version_flag_points_at_version_command() {
    calicoctl(&["--version"])
        .run()
        .ok()
        .stdout_is("Run 'calicoctl version' to see version information.\n");
}

#[test]
fn client_version_lines() {
    let out = calicoctl(&["version", "--client"]).run();
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "Client Version:    v3.32.1");
    assert!(lines[1].starts_with("Git commit:        "), "{}", lines[1]);
}

#[test]
fn unknown_command_exits_1_with_doc() {
    let out = calicoctl(&["foo"]).run();
    out.fails(1);
    assert!(
        out.stderr.starts_with("unknown command: \"foo\"\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("\nUsage:\n  calicoctl [options] <command> [<args>...]\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_flag_is_a_usage_error_exit_1() {
    // calicoctl (docopt) prints the command's usage section on stderr, nothing on stdout.
    let out = calicoctl(&["get", "ippools", "--bogus"]).run();
    out.fails(1).stdout_is("");
    assert!(
        out.stderr
            .starts_with("Usage:\n  calicoctl get ( (<KIND> [<NAME>...]) |\n"),
        "{}",
        out.stderr
    );
    calicoctl(&["get", "ippools", "-o"])
        .run()
        .fails(1)
        .stderr_is("-o requires argument\nUsage:\n  calicoctl get ( (<KIND> [<NAME>...]) |\n                --filename=<FILENAME> [--recursive] [--skip-empty] )\n                [--output=<OUTPUT>] [--config=<CONFIG>] [--namespace=<NS>] [--all-namespaces] [--export] [--context=<context>] [--allow-version-mismatch]\n");
}

#[test]
fn unknown_log_level_on_stdout() {
    calicoctl(&["-l", "chatty", "version", "--client"])
        .run()
        .fails(1)
        .stdout_is("Unknown log level: chatty, expected one of: \npanic, fatal, error, warn, info, debug.\n");
}

#[test]
fn help_exits_0() {
    let out = calicoctl(&["get", "--help"]).run();
    out.ok();
    assert!(out.stdout.contains("Valid resource types are:"));
    assert!(out.stdout.contains("    - ippool\n"));
}

#[test]
fn long_options_may_be_abbreviated() {
    // docopt accepted unique prefixes (`--out=yaml`); so do we.
    let out = calicoctl(&["validate", "--filen=/nonexistent.yaml"]).run();
    out.fails(1).stderr_is(
        "failed to execute command: open /nonexistent.yaml: no such file or directory\n",
    );
}

#[test]
fn plugin_mode_help_says_kubectl_calico() {
    let dir = tempdir();
    let link = dir.path().join("kubectl-calico");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let out = calicoctl(&["--help"]).argv0(&link).run();
    out.ok();
    assert!(
        out.stdout.contains("calico kubectl plugin"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Usage: kubectl calico"),
        "{}",
        out.stdout
    );
    calicoctl(&["--version"])
        .argv0(&link)
        .run()
        .ok()
        .stdout_is("Run 'kubectl-calico version' to see version information.\n");
}

/// Every visible command that does something (not a group) shows examples in `--help`.
#[test]
fn every_command_has_examples() {
    fn walk(cmd: &clap::Command, path: String, missing: &mut Vec<String>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            let has = cmd
                .get_after_long_help()
                .is_some_and(|h| h.to_string().contains("Examples:\n  "));
            if !has {
                missing.push(path);
            }
            return;
        }
        for s in subs {
            walk(s, format!("{path} {}", s.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(
        &calicoctl::cli_command(false),
        "calicoctl".into(),
        &mut missing,
    );
    assert!(missing.is_empty(), "no Examples in --help of: {missing:?}");
}

/// `calicoctl … | head` once head has exited: calicoctl (a Go program) is killed by SIGPIPE
/// on its first write to the gone reader, stdout or stderr alike (the shell reports 141), and
/// prints nothing more. Checked against calicoctl v3.32.1 for each of these commands.
#[test]
fn a_gone_reader_ends_the_process_by_sigpipe() {
    for args in [
        &["version", "--client"][..],
        &["--help"],
        &["get", "--help"],
        &["--log-level=x", "version"],
        &["completion", "bash"],
    ] {
        let out = calicoctl(args).reader_gone(Stream::Stdout).run();
        assert_eq!(out.signal, Some(libc::SIGPIPE), "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}");
    }
    // The usage error goes to stderr.
    let out = calicoctl(&["foo"]).reader_gone(Stream::Stderr).run();
    assert_eq!(out.signal, Some(libc::SIGPIPE), "{out:?}");
    assert_eq!(out.stdout, "");
}
