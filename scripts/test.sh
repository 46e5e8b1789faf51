#!/usr/bin/env bash
# The body of `make test` (after setup and lint): the whole test suite, then how many tests
# were skipped and why. Tests that cannot run their real component append "<test><TAB><reason>"
# to the skip log (tests/cli/harness.rs `skip`); under CI=true a skip is a test failure instead.
# With arguments, runs `cargo test ARGS…` instead of the whole suite (scripts/fresh-clone.sh).
# Under CI=true (or CALICOCTL_FRESH_CLONE=1) the whole suite is followed by
# scripts/fresh-clone.sh: a fast subset again, in a clone with nothing beside it.
set -uo pipefail
cd "$(dirname "$0")/.."
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
export CALICOCTL_SKIP_LOG="${CALICOCTL_SKIP_LOG:-$TARGET/test-skips.txt}"
mkdir -p "$TARGET"
rm -f "$CALICOCTL_SKIP_LOG"
# The conformance suite's summaries (tests/conformance/runner.rs writes them into ./target).
reports=(target/conformance-etcd.txt target/conformance-kdd.txt target/fuzz-etcd.txt)
rm -f "${reports[@]}"
args=("$@")
((${#args[@]})) || args=(--all-targets)
rc=0

echo "test: cargo test ${args[*]} (the tests start their own etcd, kube-apiserver and BIRD)"
cargo test "${args[@]}" || rc=1

for r in "${reports[@]}"; do
  [ -f "$r" ] && echo "test: $(head -1 "$r")"
done

if [ -s "$CALICOCTL_SKIP_LOG" ]; then
  echo "test: $(wc -l <"$CALICOCTL_SKIP_LOG") test(s) SKIPPED (count, reason):"
  cut -f2 "$CALICOCTL_SKIP_LOG" | sort | uniq -c | sort -rn
  echo "test: skipped tests: $(cut -f1 "$CALICOCTL_SKIP_LOG" | sort | tr '\n' ' ')"
else
  echo "test: no test skipped"
fi

if (($# == 0)) && { [ "${CI:-}" = true ] || [ "${CALICOCTL_FRESH_CLONE:-}" = 1 ]; }; then
  scripts/fresh-clone.sh || rc=1
fi
[ "$rc" = 0 ] && echo "test: passed" || echo "test: FAILED"
exit "$rc"
