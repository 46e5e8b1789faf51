//! Completion scripts and man pages: the checked-in copies match what the clap definition
//! generates now, and the scripts complete live resource names in real bash, zsh and fish.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn checked_in_completions_and_man_pages_are_fresh() {
    let d = tempdir();
    let (c, m, r) = (d.path().join("c"), d.path().join("m"), d.path().join("r"));
    calicoctl(&[
        "dev",
        "gen",
        "--completions",
        c.to_str().unwrap(),
        "--man",
        m.to_str().unwrap(),
        "--reference",
        r.to_str().unwrap(),
    ])
    .run()
    .ok();
    for (fresh, checked_in) in [
        (c, repo().join("completions")),
        (m, repo().join("docs/man")),
        (r, repo().join("docs/reference")),
    ] {
        let want = files(&fresh);
        let got = files(&checked_in);
        let names = |v: &[(String, String)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&got),
            names(&want),
            "{} is stale: run `make gen`",
            checked_in.display()
        );
        for ((n, g), (_, w)) in got.iter().zip(&want) {
            assert!(
                g == w,
                "{}/{n} is stale: run `make gen`",
                checked_in.display()
            );
        }
    }
    assert!(
        std::fs::read_to_string(repo().join("docs/man/calicoctl-node-cleanup.1"))
            .unwrap()
            .contains("stale\\-after")
    );
}

/// A shell with only the binary's directory and the system on PATH.
fn shell(prog: &str, script: &str) -> (String, String, i32) {
    let home = tempdir();
    let bindir = bin().parent().unwrap().to_path_buf();
    let out = Command::new(prog)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
        .env("HOME", home.path())
        .env("LANG", "C.UTF-8")
        .arg("-c")
        .arg(script)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        out.status.code().unwrap_or(-1),
    )
}

fn have(prog: &str) -> bool {
    let ok = Path::new(&format!("/usr/bin/{prog}")).exists();
    if !ok {
        skip(&format!("{prog} is not installed (apt-get install {prog})"));
    }
    ok
}

fn env_with_pools() -> Env {
    let env = Env::new();
    env.apply("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool-alpha\nspec:\n  cidr: 10.1.0.0/16\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool-beta\nspec:\n  cidr: 10.2.0.0/16\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: other\nspec:\n  cidr: 10.3.0.0/16\n");
    env
}

#[test]
fn bash_completes_kinds_and_live_names() {
    if !have("bash") {
        return;
    }
    let env = env_with_pools();
    let cfg = env.cfg.display();
    let (out, err, code) = shell(
        "bash",
        &format!(
            "source completions/calicoctl.bash\n\
             COMP_WORDS=(calicoctl get ippool -c {cfg} pool-); COMP_CWORD=5; COMP_TYPE=9\n\
             _clap_complete_calicoctl calicoctl pool- ippool\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n\
             COMP_WORDS=(calicoctl get bgpp); COMP_CWORD=2\n\
             _clap_complete_calicoctl calicoctl bgpp get\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"pool-alpha") && lines.contains(&"pool-beta"),
        "{out}\n{err}"
    );
    assert!(!lines.contains(&"other"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("bgppeer")), "{out}");
}

#[test]
fn fish_completes_live_names() {
    if !have("fish") {
        return;
    }
    let env = env_with_pools();
    let (out, err, code) = shell(
        "fish",
        &format!(
            "source completions/calicoctl.fish; complete -C 'calicoctl get ippool -c {} pool-'",
            env.cfg.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["pool-alpha", "pool-beta"], "{out}\n{err}");
}

#[test]
fn zsh_loads_the_script_and_gets_live_names() {
    if !have("zsh") {
        return;
    }
    let env = env_with_pools();
    // The script parses and registers under compinit.
    let (reg, err, code) = shell(
        "zsh",
        "autoload -U compinit; compinit -u -d $HOME/.zcompdump; fpath=(completions $fpath); source completions/_calicoctl; print -r -- ${_comps[calicoctl]}",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(reg.trim(), "_clap_dynamic_completer_calicoctl", "{err}");
    // The callback the zsh function makes returns the live names.
    let (out, err, code) = shell(
        "zsh",
        &format!(
            "_CLAP_IFS=$'\\n' _CLAP_COMPLETE_INDEX=5 COMPLETE=zsh calicoctl -- calicoctl get ippool -c {} pool-",
            env.cfg.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["pool-alpha", "pool-beta"],
        "{out}"
    );
}
