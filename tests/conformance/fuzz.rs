//! The differential fuzzer (generated manifests through both binaries).

use std::path::Path;

pub fn run(_reference: &Path) {}
