# Shared helpers for the benchmark scripts: a private etcd on free ports, cleanup by PID,
# hyperfine medians and peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/calicoctl}
WORK=$(mktemp -d /tmp/calicoctl-bench.XXXXXX)
PIDS=()
# Stops processes newest first (an API server before its etcd), each by PID.
cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.05; done
    kill -9 "${PIDS[$i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
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

# median_ms NAME CMD...: hyperfine median in milliseconds (runs set by RUNS, default 10;
# PREPARE, when set, runs before each run, untimed).
median_ms() {
  local name=$1; shift
  local prep=(); [ -n "${PREPARE:-}" ] && prep=(--prepare "$PREPARE")
  hyperfine -N "${prep[@]}" --warmup 1 --runs "${RUNS:-10}" --export-json "$WORK/$name.json" "$*" >/dev/null 2>&1 || \
    hyperfine "${prep[@]}" --warmup 1 --runs "${RUNS:-10}" --export-json "$WORK/$name.json" "$*" >/dev/null
  python3 -c "import json;print('%.1f'%(json.load(open('$WORK/$name.json'))['results'][0]['median']*1000))"
}

# peak_rss_kb CMD...: maximum resident set size of one run.
peak_rss_kb() {
  /usr/bin/time -f '%M' -o "$WORK/rss" bash -c "$* >/dev/null" && cat "$WORK/rss"
}

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

# The reference calicoctl (the Go v3.32.1 binary) run side by side with ours when set.
REF=${CALICOCTL_REFERENCE:-}
[ -z "$REF" ] || [ -x "$REF" ] || { echo "bench: CALICOCTL_REFERENCE=$REF is not executable" >&2; exit 1; }

# compare TITLE "ARGS" "FLOOR_CMD" [FLOOR_NAME] [ipam-check]: times `$BIN ARGS`, the reference with
# the same ARGS (when CALICOCTL_REFERENCE is set) and the floor command alternately in one run
# (bench/measure.py: RUNS runs after one warm-up), prints medians, peak RSS and the ratios
# ours/calicoctl and ours/floor, checks that both binaries print the same bytes (after `sort`
# of the lines, top-node names blanked, when the fifth argument is `sort`: what calicoctl
# prints in Go map order), and
# appends a markdown row to $BENCH_TABLE when that is set. SETUP=CMD runs before every run
# (untimed): for commands that change the datastore.
compare() {
  local title=$1 args=$2 floor=$3 floor_name=${4:-floor} norm=${5:-} cmds out same="-" diff_text=""
  cmds=("ours=$BIN $args")
  [ -z "$REF" ] || cmds+=("calicoctl=$REF $args")
  [ -z "$floor" ] || cmds+=("floor=$floor")
  out=$(python3 "$ROOT/bench/measure.py" --runs "${RUNS:-10}" ${SETUP:+--setup "$SETUP"} "${cmds[@]}")
  local o_ms o_kb r_ms=- r_kb=- f_ms=- rt=- rr=- rf=-
  read -r _ o_ms _ _ o_kb < <(grep '^ours ' <<<"$out")
  if [ -n "$REF" ]; then
    read -r _ r_ms _ _ r_kb < <(grep '^calicoctl ' <<<"$out")
    rt=$(ratio "$o_ms" "$r_ms"); rr=$(ratio "$o_kb" "$r_kb")
    [ -z "${SETUP:-}" ] || bash -c "$SETUP" >/dev/null
    # shellcheck disable=SC2086
    $BIN $args >"$WORK/out.ours" 2>&1 || true
    [ -z "${SETUP:-}" ] || bash -c "$SETUP" >/dev/null
    # shellcheck disable=SC2086
    $REF $args >"$WORK/out.ref" 2>&1 || true
    # Byte for byte; `ipam-check`: the top-node lines calicoctl prints in Go map order are
    # compared as bench/same_output.py says. The verdict and any diff are printed below.
    local verdict
    verdict=$(python3 "$ROOT/bench/same_output.py" ${norm:+--$norm} "$WORK/out.ours" "$WORK/out.ref") || true
    same=$(head -1 <<<"$verdict")
    diff_text=$(tail -n +2 <<<"$verdict")
  fi
  [ -z "$floor" ] || { read -r _ f_ms _ _ _ < <(grep '^floor ' <<<"$out"); rf=$(ratio "$o_ms" "$f_ms"); }
  echo "== $title"
  echo "  ours      ${o_ms} ms, peak RSS $((o_kb / 1024)) MB"
  [ -z "$REF" ] || echo "  calicoctl ${r_ms} ms, peak RSS $((r_kb / 1024)) MB   ours/calicoctl: time x${rt}, RSS x${rr}; output ${same}"
  [ -z "$diff_text" ] || sed 's/^/    /' <<<"$diff_text"
  [ -z "$floor" ] || echo "  floor     ${f_ms} ms ($floor_name)   ours/floor: x${rf}"
  if [ -n "${BENCH_TABLE:-}" ]; then
    local r_mb=-; [ "$r_kb" = - ] || r_mb=$((r_kb / 1024))
    echo "| $title | ${o_ms} ms, $((o_kb / 1024)) MB | ${r_ms} ms, ${r_mb} MB | ${f_ms} ms ($floor_name) | ${rt}× | ${rr}× | ${rf}× | ${same} |" >>"$BENCH_TABLE"
  fi
}

# start_kube: a real kube-apiserver (built by .ci/build-kube-apiserver.sh) on a second etcd,
# token auth; exports KUBE_URL, KUBE_TOKEN, KUBECONFIG_FILE. Returns 1 when no binary is built.
start_kube() {
  local cache=${CALICOCTL_CI_CACHE:-$HOME/.cache/calicoctl-ci} bin c p port
  bin=${CALICOCTL_KUBE_APISERVER:-$(ls "$cache"/*/kube-apiserver 2>/dev/null | sort | tail -1)}
  [ -x "$bin" ] || return 1
  c=$(free_port); p=$(free_port); port=$(free_port)
  etcd --name kube --data-dir "$WORK/kube-etcd" --listen-client-urls "http://127.0.0.1:$c" \
    --advertise-client-urls "http://127.0.0.1:$c" --listen-peer-urls "http://127.0.0.1:$p" \
    --initial-advertise-peer-urls "http://127.0.0.1:$p" --initial-cluster "kube=http://127.0.0.1:$p" \
    --heartbeat-interval=10 --election-timeout=50 >"$WORK/kube-etcd.log" 2>&1 &
  PIDS+=($!)
  mkdir -p "$WORK/kube/certs"
  openssl genrsa -out "$WORK/kube/sa.key" 2048 2>/dev/null
  openssl rsa -in "$WORK/kube/sa.key" -pubout -out "$WORK/kube/sa.pub" 2>/dev/null
  KUBE_TOKEN=bench-admin-token
  echo "$KUBE_TOKEN,admin,admin-uid,system:masters" >"$WORK/kube/tokens.csv"
  "$bin" --etcd-servers="http://127.0.0.1:$c" --bind-address=127.0.0.1 --secure-port="$port" \
    --cert-dir="$WORK/kube/certs" --token-auth-file="$WORK/kube/tokens.csv" \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$WORK/kube/sa.pub" --service-account-signing-key-file="$WORK/kube/sa.key" \
    --service-cluster-ip-range=10.96.0.0/12 --disable-admission-plugins=ServiceAccount \
    --enable-priority-and-fairness=false >"$WORK/kube/apiserver.log" 2>&1 &
  PIDS+=($!)
  KUBE_URL="https://127.0.0.1:$port"
  for _ in $(seq 600); do
    [ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_URL/readyz")" = 200 ] && break
    sleep 0.1
  done
  KUBECONFIG_FILE=$WORK/kube/kubeconfig
  cat >"$KUBECONFIG_FILE" <<KC
apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: $KUBE_URL
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $KUBE_TOKEN
contexts:
- name: bench
  context: {cluster: bench, user: admin}
current-context: bench
KC
  export KUBE_URL KUBE_TOKEN KUBECONFIG_FILE
}
