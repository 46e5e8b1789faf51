//! The repository stands on its own: nothing it tracks reads from beside the clone, and the
//! seed manifests the fuzzer starts from are real.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

/// The tracked files (`git ls-files`), or a skip outside a git checkout.
fn tracked_files(repo: &Path) -> Option<Vec<String>> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo)
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(out) = out else {
        skip("not a git checkout: git ls-files failed");
        return None;
    };
    Some(
        String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
    )
}

#[test]
fn only_ci_run_looks_beside_the_clone() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(files) = tracked_files(repo) else {
        return;
    };
    // Built at run time so this file does not mention it.
    let needle = ["..", "shared"].join("/");
    let offenders: Vec<&String> = files
        .iter()
        .filter(|f| f.as_str() != ".ci/run")
        .filter(|f| {
            std::fs::read(repo.join(f))
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "only .ci/run may refer to {needle}; also: {offenders:?}"
    );
    assert!(files.len() > 100, "only {} tracked files", files.len());
}

#[test]
fn fuzz_seed_manifests_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/fixtures");
    calicoctl(&["validate", "-f", dir.to_str().unwrap()])
        .run()
        .ok()
        .stdout_is("Successfully validated 17 resource(s)\n");
}

/// `make demo`'s script runs from the repository alone (etcd, BIRD 1.6, the binary): every
/// command succeeds and the first BIRD daemon reports its peer (in whatever state).
#[test]
fn demo_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(repo.join("scripts/demo.sh"))
        .env("BIN", bin())
        .env_remove("KEEP")
        .output()
        .expect("scripts/demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for needle in [
        "Successfully applied 8 resource(s)",
        "allow-dns",
        "| 127.0.0.2 ",
    ] {
        assert!(
            stdout.contains(needle),
            "no {needle:?} in the demo:\n{stdout}\n{stderr}"
        );
    }
}
