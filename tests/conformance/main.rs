//! The differential conformance suite: every case of `cases/*.case` (and the generated
//! documents of the fuzzer) runs once through our calicoctl and once through the reference
//! calicoctl v3.32.1, each against its own fresh datastore of the same kind, and after every
//! step the exit code, stdout, stderr and the whole stored state must be the same, up to the
//! values that differ on every run (compare.rs) and the documented allowlist
//! (docs/compatibility.md, `## Allowlist`).
//!
//! The reference binary comes from `CALICOCTL_REFERENCE` (set by `.ci/run`). Without it (or,
//! for KDD, without a kube-apiserver) the suite skips through the CLI harness's `skip`: printed,
//! counted in `make test`'s summary, a failure under `CI=true`. `CONFORMANCE_FILTER=text` runs
//! only the cases whose file, line or name contains `text`; `CONFORMANCE_JOBS=N` sets the
//! number of datastore pairs for etcd (default 3).

#[path = "../cli/harness.rs"]
mod harness;

mod allowlist;
mod case;
mod compare;
mod fuzz;
mod runner;
mod sides;

use std::path::{Path, PathBuf};

use case::StoreKind;

/// The reference calicoctl, or why the suite cannot run.
pub fn reference() -> Option<PathBuf> {
    match std::env::var_os("CALICOCTL_REFERENCE") {
        Some(p) if Path::new(&p).is_file() => Some(PathBuf::from(p)),
        Some(p) => {
            let why = format!(
                "CALICOCTL_REFERENCE={} is not a file",
                Path::new(&p).display()
            );
            harness::skip(&why);
            None
        }
        None => {
            harness::skip(
                "CALICOCTL_REFERENCE is not set (the path of the reference calicoctl v3.32.1 binary)",
            );
            None
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(store: StoreKind) {
    let Some(reference) = reference() else { return };
    if store == StoreKind::Kdd && harness::kube_apiserver_or_skip().is_none() {
        return;
    }
    let allow = allowlist::load(&repo().join("docs/compatibility.md"));
    let cases: Vec<case::Case> = case::load_dir(&repo().join("tests/conformance/cases"))
        .into_iter()
        .filter(|c| c.stores.contains(&store))
        .filter(|c| runner::selected(&c.id()))
        .collect();
    let report = runner::run_all(store, &reference, &cases, &allow);
    let complete = std::env::var_os("CONFORMANCE_FILTER").is_none();
    report.finish_named(
        &format!("conformance {}", store.name()),
        store,
        &cases,
        complete,
    );
}

#[test]
fn conformance_etcd() {
    corpus(StoreKind::Etcd);
}

#[test]
fn conformance_kdd() {
    corpus(StoreKind::Kdd);
}

#[test]
fn fuzz_etcd() {
    let Some(reference) = reference() else { return };
    fuzz::run(&reference);
}
