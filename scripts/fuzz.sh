#!/usr/bin/env bash
# Long fuzz run (issue 9): every target of tests/fuzz.rs with FUZZ_CASES mutated inputs each
# (default 5,000,000), release build. CI runs the same targets with 20,000 cases each.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES="${FUZZ_CASES:-5000000}"
cargo test --release --test fuzz -- --nocapture --test-threads 2
