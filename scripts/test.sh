#!/usr/bin/env bash
# The body of `make test` (after setup and lint): the whole test suite, then how many tests
# were skipped and why. Tests that cannot run their real component append "<test><TAB><reason>"
# to the skip log (tests/cli/harness.rs `skip`); under CI=true a skip is a test failure instead.
set -uo pipefail
cd "$(dirname "$0")/.."
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
export CALICOCTL_SKIP_LOG="$TARGET/test-skips.txt"
mkdir -p "$TARGET"
rm -f "$CALICOCTL_SKIP_LOG"
rc=0

echo "test: cargo test --all-targets (the tests start their own etcd, kube-apiserver and BIRD)"
cargo test --all-targets || rc=1

if [ -s "$CALICOCTL_SKIP_LOG" ]; then
  echo "test: $(wc -l <"$CALICOCTL_SKIP_LOG") test(s) SKIPPED (count, reason):"
  cut -f2 "$CALICOCTL_SKIP_LOG" | sort | uniq -c | sort -rn
  echo "test: skipped tests: $(cut -f1 "$CALICOCTL_SKIP_LOG" | sort | tr '\n' ' ')"
else
  echo "test: no test skipped"
fi
[ "$rc" = 0 ] && echo "test: passed" || echo "test: FAILED"
exit "$rc"
