#!/usr/bin/env bash
# Every benchmark in turn (`make bench`); each starts and stops its own processes.
set -euo pipefail
cd "$(dirname "$0")"
./scale.sh
./ipam.sh
./cleanup.sh
./policy.sh
if ./kdd.sh; then :; else echo "bench/kdd.sh skipped (no kube-apiserver built)"; fi
