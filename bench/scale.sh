#!/usr/bin/env bash
# Scale benchmark (issues 8, 18): startup, `get ippools -o yaml` (100 pools), a 10,000-WEP list
# and `apply -f` of 2,000 GlobalNetworkSets, each against the reference calicoctl (when
# CALICOCTL_REFERENCE is set) and an etcdctl floor; `apply -f` of 10,000 mixed resources
# against serial and batched etcdctl floors.
source "$(dirname "$0")/lib.sh"
need python3 python3
start_etcd
R=/calico/resources/v3/projectcalico.org

compare "version --client (no datastore)" "version --client" "etcdctl version" "etcdctl version"

python3 - >"$WORK/pools.yaml" <<'PY'
for i in range(100):
    print(f"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: pool-{i:03d}\nspec:\n  cidr: 10.{i}.0.0/16\n  natOutgoing: true\n---")
PY
"$BIN" apply -f "$WORK/pools.yaml" >/dev/null
compare "etcd get ippools -o yaml, 100 pools" "get ippools -o yaml" "etcdctl get --prefix $R/ippools/" "etcdctl get --prefix"

etcdctl del --prefix "$R/ippools/" >/dev/null
"$BIN" dev seed --nodes 100 --blocks-per-node 4 --ips-per-block 25 --weps --leak-percent 0 --borrow-percent 0 --concurrency 128 >/dev/null
n=$("$BIN" get wep -A -o name | wc -l)
bytes=$(etcdctl get --prefix $R/workloadendpoints/ -w json | wc -c)
echo "   ($n WEPs, ${bytes} JSON bytes from etcd)"
compare "etcd get wep -A -o json, $n WEPs" "get workloadendpoints -A -o json" \
  "etcdctl get --prefix $R/workloadendpoints/ -w json" "etcdctl get -w json"

python3 - >"$WORK/gns.yaml" <<'PY'
for i in range(2000):
    print(f"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: gns-{i}\n  labels: {{app: a{i%7}}}\nspec:\n  nets: [198.51.{i%256}.0/24]\n---")
PY
SETUP="etcdctl del --prefix $R/globalnetworksets/" compare "etcd apply -f 2,000 GlobalNetworkSets" "apply -f $WORK/gns.yaml" "" ""
etcdctl del --prefix "$R/globalnetworksets/" >/dev/null

# MIXED=0 skips the 10,000-object apply (its serial floor alone takes minutes).
[ "${MIXED:-1}" = 0 ] && exit 0
echo "== apply -f of 10,000 mixed resources"
python3 - >"$WORK/mixed.yaml" <<'PY'
for i in range(10000):
    k = i % 4
    if k == 0:
        print(f"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: gns-{i}\n  labels: {{app: a{i%7}}}\nspec:\n  nets: [198.51.{i%256}.0/24]\n---")
    elif k == 1:
        print(f"apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: ns-{i}\n  namespace: default\nspec:\n  nets: [203.0.{i%256}.0/24]\n---")
    elif k == 2:
        print(f"apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: hep-{i}\n  labels: {{role: r{i%5}}}\nspec:\n  node: node-{i%50}\n  interfaceName: eth{i%3}\n---")
    else:
        print(f"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: gnp-{i}\nspec:\n  order: {i}\n  selector: app == 'a{i%7}'\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    source:\n      selector: role == 'r{i%5}'\n---")
PY
del_mixed() { for p in globalnetworksets networksets hostendpoints globalnetworkpolicies; do etcdctl del --prefix "$R/$p/" >/dev/null; done; }
t0=$(date +%s.%N); "$BIN" apply -f "$WORK/mixed.yaml" >/dev/null; t1=$(date +%s.%N)
apply_ms=$(python3 -c "print('%.0f' % (($t1-$t0)*1000))")
# The floors write exactly the keys and values calicoctl wrote.
etcdctl get --prefix "$R/" -w json >"$WORK/written.json"
python3 - "$WORK" <<'PY'
import base64, json, sys, shlex
w = sys.argv[1]
kvs = json.load(open(f"{w}/written.json"))["kvs"]
pre = ("globalnetworksets/", "networksets/", "hostendpoints/", "globalnetworkpolicies/")
items = []
for kv in kvs:
    k = base64.b64decode(kv["key"]).decode()
    if any(("/projectcalico.org/" + p) in k for p in pre):
        items.append((k, base64.b64decode(kv["value"]).decode()))
with open(f"{w}/serial.sh", "w") as f:
    for k, v in items:
        f.write(f"etcdctl put {shlex.quote(k)} {shlex.quote(v)} >/dev/null\n")
with open(f"{w}/batches.sh", "w") as f:
    for i in range(0, len(items), 100):
        ops = "".join(f"put {json.dumps(k)} {json.dumps(v)}\n" for k, v in items[i:i+100])
        f.write("etcdctl txn >/dev/null <<'TXN'\n\n" + ops + "\n\nTXN\n")
print(len(items), file=open(f"{w}/count", "w"))
PY
del_mixed
t0=$(date +%s.%N); bash "$WORK/batches.sh"; t1=$(date +%s.%N)
batch_ms=$(python3 -c "print('%.0f' % (($t1-$t0)*1000))")
del_mixed
t0=$(date +%s.%N); bash "$WORK/serial.sh"; t1=$(date +%s.%N)
serial_ms=$(python3 -c "print('%.0f' % (($t1-$t0)*1000))")
echo "  $(cat "$WORK/count") keys: calicoctl apply ${apply_ms} ms   serial etcdctl put loop ${serial_ms} ms (x$(ratio "$serial_ms" "$apply_ms") faster)   etcdctl txn of 100 puts x100 ${batch_ms} ms (apply is x$(ratio "$apply_ms" "$batch_ms") of it)"
# Re-applying objects that all exist (the serial floor left them stored): reads and
# compare-and-swap updates batched like the creates.
t0=$(date +%s.%N); "$BIN" apply -f "$WORK/mixed.yaml" >/dev/null; t1=$(date +%s.%N)
echo "  re-apply of the same file, every object existing: $(python3 -c "print('%.0f' % (($t1-$t0)*1000))") ms"
