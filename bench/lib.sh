# Shared helpers for the benchmark scripts: a private etcd on free ports, cleanup by PID,
# hyperfine medians and peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/calicoctl}
WORK=$(mktemp -d /tmp/calicoctl-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
need() { command -v "$1" >/dev/null || { echo "bench: $1 is required (apt-get install $2)" >&2; exit 1; }; }
need hyperfine hyperfine; need etcd etcd-server; need etcdctl etcd-client
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --quiet)

start_etcd() {
  local c p; c=$(free_port); p=$(free_port)
  etcd --name bench --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$c" \
    --advertise-client-urls "http://127.0.0.1:$c" --listen-peer-urls "http://127.0.0.1:$p" \
    --initial-advertise-peer-urls "http://127.0.0.1:$p" --initial-cluster "bench=http://127.0.0.1:$p" \
    --heartbeat-interval=10 --election-timeout=50 --quota-backend-bytes=8589934592 \
    --max-request-bytes=33554432 >"$WORK/etcd.log" 2>&1 &
  PIDS+=($!)
  export ETCD_ENDPOINTS="http://127.0.0.1:$c" DATASTORE_TYPE=etcdv3
  # etcdctl 3.4 reads ETCDCTL_*, not ETCD_*.
  export ETCDCTL_API=3 ETCDCTL_ENDPOINTS="http://127.0.0.1:$c"
  for _ in $(seq 200); do curl -sf "$ETCD_ENDPOINTS/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "etcd did not start" >&2; exit 1
}

# median_ms NAME CMD...: hyperfine median in milliseconds (runs set by RUNS, default 10).
median_ms() {
  local name=$1; shift
  hyperfine -N --warmup 1 --runs "${RUNS:-10}" --export-json "$WORK/$name.json" "$*" >/dev/null 2>&1 || \
    hyperfine --warmup 1 --runs "${RUNS:-10}" --export-json "$WORK/$name.json" "$*" >/dev/null
  python3 -c "import json;print('%.1f'%(json.load(open('$WORK/$name.json'))['results'][0]['median']*1000))"
}

# peak_rss_kb CMD...: maximum resident set size of one run.
peak_rss_kb() {
  /usr/bin/time -f '%M' -o "$WORK/rss" bash -c "$* >/dev/null" && cat "$WORK/rss"
}

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
