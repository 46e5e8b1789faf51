#!/usr/bin/env bash
# The demo: a local etcd (and two BIRD daemons peering over loopback), sample Calico data
# applied with calicoctl, and what calicoctl shows about it. Everything started here is
# stopped on exit unless KEEP=1 (then the script prints how to stop it).
set -euo pipefail
cd "$(dirname "$0")/.."
# The `demo` profile's build (Cargo.toml): the quickest clean build; `make demo` makes it.
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/demo/calicoctl}
[ -x "$BIN" ] || cargo build --profile demo
WORK=$(mktemp -d /tmp/calicoctl-demo.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(free_port); PPORT=$(free_port); BGP=$(free_port)
PIDS=()
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo; echo "Left running (KEEP=1): pids ${PIDS[*]} in $WORK"
    echo "Stop with: kill ${PIDS[*]}; rm -rf $WORK"
  else
    echo; echo "== stopping etcd and BIRD (pids ${PIDS[*]}) and removing $WORK"
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

echo "== starting etcd on 127.0.0.1:$CPORT"
etcd --name demo --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$CPORT" --advertise-client-urls "http://127.0.0.1:$CPORT" \
  --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster "demo=http://127.0.0.1:$PPORT" --heartbeat-interval=10 --election-timeout=50 \
  --logger zap --log-outputs stderr >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$CPORT/health" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$CPORT/health" >/dev/null 2>&1 ||
  { echo "demo: etcd is not healthy after 5 s; its log:" >&2; cat "$WORK/etcd.log" >&2; exit 1; }

cat >"$WORK/calicoctl.cfg" <<CFG
apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata:
spec:
  datastoreType: etcdv3
  etcdEndpoints: http://127.0.0.1:$CPORT
CFG
# calicoctl takes `-c` after the subcommand, as each command's own option.
ctl() { echo; echo "\$ calicoctl $*"; "$BIN" "$@" -c "$WORK/calicoctl.cfg"; }

echo "== starting two BIRD daemons peering over loopback (port $BGP)"
for me in 1 2; do
  peer=$((3 - me))
  cat >"$WORK/bird$me.conf" <<BIRD
router id 127.0.0.$me;
listen bgp address 127.0.0.$me port $BGP;
protocol device { scan time 10; }
protocol kernel { learn; scan time 10; import none; export none; }
protocol static { route 10.244.$me.0/26 blackhole; }
protocol bgp Mesh_127_0_0_$peer {
  local as 64512; neighbor 127.0.0.$peer port $BGP as 64512; source address 127.0.0.$me;
  multihop; import all; export all; connect delay time 1; connect retry time 2; error wait time 1,5;
}
BIRD
  bird -f -c "$WORK/bird$me.conf" -s "$WORK/bird$me.ctl" -P "$WORK/bird$me.pid" >"$WORK/bird$me.log" 2>&1 &
  PIDS+=($!)
done

echo; echo "== applying demo/sample-data.yaml and showing what calicoctl sees"
ctl apply -f demo/sample-data.yaml
ctl get ippools -o wide
ctl get nodes -o wide
ctl get bgppeers
ctl get globalnetworkpolicy allow-dns -o yaml
ctl get networkpolicy -A -o wide
ctl get clusterinformation
ctl version
echo; echo "== BGP sessions of the first BIRD daemon, read from its control socket"
sleep 2
# `node status` reads no datastore, so it has no -c.
echo; echo "\$ calicoctl node status --bird-socket $WORK/bird1.ctl"
"$BIN" node status --bird-socket "$WORK/bird1.ctl" || true
