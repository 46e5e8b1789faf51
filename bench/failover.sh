#!/usr/bin/env bash
# Failover benchmark (issue 17): a three-member etcd with the first member SIGSTOPped (it
# accepts TCP, answers nothing). Times get, apply, label, delete and `ipam release` with every
# member in ETCD_ENDPOINTS, ours and (when CALICOCTL_REFERENCE names the Go calicoctl) the
# reference. Target: < 2 s each. The stopped member is SIGCONTed and killed by PID at the end.
source "$(dirname "$0")/lib.sh"
REF=${CALICOCTL_REFERENCE:-}
ports=(); peers=()
for i in 0 1 2; do ports+=("$(free_port)"); peers+=("$(free_port)"); done
initial="m0=http://127.0.0.1:${peers[0]},m1=http://127.0.0.1:${peers[1]},m2=http://127.0.0.1:${peers[2]}"
for i in 0 1 2; do
  etcd --name "m$i" --data-dir "$WORK/m$i" --listen-client-urls "http://127.0.0.1:${ports[$i]}" \
    --advertise-client-urls "http://127.0.0.1:${ports[$i]}" --listen-peer-urls "http://127.0.0.1:${peers[$i]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${peers[$i]}" --initial-cluster "$initial" \
    --initial-cluster-state new >"$WORK/m$i.log" 2>&1 &
  PIDS+=($!)
done
STOPPED=${PIDS[0]}
# A stopped process ignores SIGTERM until continued: continue it before the cleanup kills it.
trap 'kill -CONT "$STOPPED" 2>/dev/null || true; cleanup' EXIT
for i in 0 1 2; do
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:${ports[$i]}/health" | grep -q '"health":"true"' && break; sleep 0.05; done
done
export DATASTORE_TYPE=etcdv3
export ETCD_ENDPOINTS="http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]}"
# etcdctl talks to the live members only.
export ETCDCTL_API=3 ETCDCTL_ENDPOINTS="http://127.0.0.1:${ports[1]},http://127.0.0.1:${ports[2]}"

P=/calico/resources/v3/projectcalico.org/ippools
BLK=/calico/ipam/v2/assignment/ipv4/block/10.66.1.0-29
pool_json() { echo "{\"kind\":\"IPPool\",\"apiVersion\":\"projectcalico.org/v3\",\"metadata\":{\"name\":\"$1\",\"uid\":\"u-$1\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},\"spec\":{\"cidr\":\"$2\",\"vxlanMode\":\"Never\",\"ipipMode\":\"Never\",\"blockSize\":29,\"nodeSelector\":\"all()\",\"allowedUses\":[\"Workload\",\"Tunnel\"],\"assignmentMode\":\"Automatic\"}}"; }
etcdctl put "$P/p1" "$(pool_json p1 10.66.0.0/16)" >/dev/null
# Re-created before each timed run of the commands that remove them.
cat >"$WORK/prep-delete.sh" <<PREP
etcdctl put $P/victim '$(pool_json victim 10.77.0.0/16)' >/dev/null
PREP
cat >"$WORK/prep-release.sh" <<'PREP'
etcdctl put /calico/ipam/v2/assignment/ipv4/block/10.66.1.0-29 '{"cidr":"10.66.1.0/29","affinity":"host:node1","allocations":[0,1,null,null,null,null,null,null],"unallocated":[2,3,4,5,6,7],"attributes":[{"handle_id":"h0","secondary":{"node":"node1"}},{"handle_id":"h1","secondary":{"node":"node1"}}],"sequenceNumber":2,"sequenceNumberForAllocation":{"0":0,"1":1},"deleted":false}' >/dev/null
etcdctl put /calico/ipam/v2/handle/h1 '{"block":{"10.66.1.0/29":1},"deleted":false}' >/dev/null
PREP
cat >"$WORK/pool2.yaml" <<Y
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p2
spec:
  cidr: 10.2.0.0/16
Y
bash "$WORK/prep-release.sh"

kill -STOP "$STOPPED"
echo "3-member etcd, first member (pid $STOPPED) SIGSTOPped; ETCD_ENDPOINTS=$ETCD_ENDPOINTS"
printf '%-40s %12s %12s\n' command ours reference
# name | prepare script (or empty) | arguments
while IFS='|' read -r name prep args; do
  row=()
  for b in "$BIN" ${REF:+"$REF"}; do
    cmd="$b $args --allow-version-mismatch"
    # Each binary must succeed once before it is timed (same results is what the CLI test checks).
    [ -n "$prep" ] && bash "$WORK/$prep"
    timeout 60 $cmd >/dev/null 2>"$WORK/err" || { echo "FAILED: $cmd: $(cat "$WORK/err")" >&2; row+=("failed"); continue; }
    PREPARE=${prep:+bash $WORK/$prep}
    row+=("$(median_ms "$name-$(basename "$b")" "$cmd") ms")
  done
  printf '%-40s %12s %12s\n' "$name" "${row[0]}" "${row[1]:--}"
done <<LIST
get ippools||get ippools
apply -f pool2.yaml||apply -f $WORK/pool2.yaml
label ippools p2 tier=gold --overwrite||label ippools p2 tier=gold --overwrite
delete ippool victim|prep-delete.sh|delete ippool victim
ipam release --ip=10.66.1.1|prep-release.sh|ipam release --ip=10.66.1.1
LIST
