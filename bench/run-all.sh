#!/usr/bin/env bash
# Every benchmark in turn (`make bench`); each starts and stops its own processes. With
# CALICOCTL_REFERENCE set, every row also runs the reference calicoctl on the same data; the
# rows are gathered as one markdown table in $BENCH_TABLE (default target/bench-table.md).
set -euo pipefail
cd "$(dirname "$0")"
export BENCH_TABLE=${BENCH_TABLE:-$(cd .. && pwd)/target/bench-table.md}
mkdir -p "$(dirname "$BENCH_TABLE")"
{
  echo "Load: $(uptime | sed 's/.*load average/load average/') on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| workload | ours (median, peak RSS) | calicoctl | floor | ours/calicoctl time | ours/calicoctl RSS | ours/floor | output |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$BENCH_TABLE"
./scale.sh
./ipam.sh
./cleanup.sh
./policy.sh
if ./kdd.sh; then :; else echo "bench/kdd.sh skipped (no kube-apiserver built)"; fi
cat "$BENCH_TABLE"
