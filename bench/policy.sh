#!/usr/bin/env bash
# Policy evaluation benchmark (issue 20): `policy explain` and `policy trace` on 50 tiers,
# 5,000 policies and 20,000 workload endpoints in etcd (target: under 1 s each). BASE=<binary>
# times another build in the same run (alternately, same output checked): a fair before/after.
source "$(dirname "$0")/lib.sh"
need python3 python3
start_etcd
R=/calico/resources/v3/projectcalico.org

echo "== seeding 50 tiers, 5,000 policies, 50 namespace profiles, 20,000 WEPs, 200 network sets"
python3 - >"$WORK/policies.yaml" <<'PY'
for t in range(50):
    action = "Deny" if t % 10 == 9 else "Pass"
    print(f"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: tier-{t:02d}}}\nspec: {{order: {t * 10 + 1}, defaultAction: {action}}}\n---")
for n in range(50):
    print(f"apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {{name: kns.ns-{n:02d}}}\nspec:\n  labelsToApply: {{pcns.team: t{n % 5}}}\n  ingress: [{{action: Allow}}]\n  egress: [{{action: Allow}}]\n---")
for i in range(200):
    print(f"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {{name: gns-{i}, labels: {{feed: f{i % 20}}}}}\nspec: {{nets: [198.{i // 256}.{i % 256}.0/24]}}\n---")
for i in range(5000):
    t = i % 50
    name = f"tier-{t:02d}.pol-{i}"
    ns = f"ns-{i % 50:02d}"
    app = f"a{i % 400}"
    rules = (f"  ingress:\n  - action: Deny\n    source: {{selector: feed == 'f{i % 20}', namespaceSelector: global()}}\n"
             f"  - action: Allow\n    protocol: TCP\n    source: {{selector: app == 'a{(i + 1) % 400}'}}\n    destination: {{ports: [80, 443]}}\n"
             f"  - action: Pass\n    source: {{nets: [10.{i % 200}.0.0/16]}}\n"
             f"  egress:\n  - action: Allow\n    protocol: UDP\n    destination: {{ports: [53]}}\n"
             f"  - action: Deny\n    destination: {{notNets: [10.0.0.0/8]}}\n")
    if i % 2:
        print(f"apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  tier: tier-{t:02d}\n  order: {i % 100}\n  selector: app == '{app}'\n  types: [Ingress, Egress]\n{rules}---")
    else:
        print(f"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: tier-{t:02d}\n  order: {i % 100}\n  selector: app == '{app}' && pcns.team == 't{i % 5}'\n  types: [Ingress, Egress]\n{rules}---")
PY
python3 - >"$WORK/weps.yaml" <<'PY'
for i in range(20000):
    ns = f"ns-{i % 50:02d}"
    print(f"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: node{i % 100}-k8s-pod{i}-eth0\n  namespace: {ns}\n  labels: {{app: a{i % 400}, projectcalico.org/namespace: {ns}, projectcalico.org/orchestrator: k8s}}\nspec:\n  orchestrator: k8s\n  node: node{i % 100}\n  pod: pod{i}\n  endpoint: eth0\n  interfaceName: cali{i:011d}\n  ipNetworks: [10.{i // 65536 + 1}.{(i // 256) % 256}.{i % 256}/32]\n  profiles: [kns.{ns}]\n  ports: [{{name: http, protocol: TCP, port: 8080}}]\n---")
PY
"$BIN" apply -f "$WORK/policies.yaml" >/dev/null
"$BIN" apply -f "$WORK/weps.yaml" >/dev/null
echo "  $(etcdctl get --prefix "$R/" --keys-only | grep -c .) keys, $(etcdctl get --prefix "$R/" -w json | wc -c) JSON bytes"

# pod0 (ns-00, app a0, 10.1.0.0) -> pod1 (ns-01, app a1, 10.1.0.1): policies select both.
EXPLAIN="policy explain ns-00/pod0"
TRACE="policy trace --from ns-00/pod0 --to ns-01/pod1 --port 80"
TRACE_IP="policy trace --from 10.1.0.0 --to 10.1.0.1 --port 80"
# shellcheck disable=SC2086
"$BIN" $TRACE | sed -n '/^Verdict/p'
cmds=("explain=$BIN $EXPLAIN" "trace=$BIN $TRACE" "trace-ip=$BIN $TRACE_IP")
# BASE=<another calicoctl> (e.g. main's release build) is timed in the same run, alternately
# with BIN, and must print the same bytes.
if [ -n "${BASE:-}" ]; then
  for a in "$EXPLAIN" "$TRACE" "$TRACE_IP" "$EXPLAIN -o json" "$TRACE -o yaml"; do
    # shellcheck disable=SC2086
    if cmp -s <("$BIN" $a 2>&1) <("$BASE" $a 2>&1); then
      echo "  same output as BASE: $a"
    else
      echo "  OUTPUT DIFFERS from BASE: $a"
      # shellcheck disable=SC2086
      diff <("$BIN" $a 2>&1) <("$BASE" $a 2>&1) | head -20 || true
    fi
  done
  cmds+=("base-explain=$BASE $EXPLAIN" "base-trace=$BASE $TRACE" "base-trace-ip=$BASE $TRACE_IP")
fi
cmds+=("floor=etcdctl get --prefix $R/ -w json")
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(python3 "$ROOT/bench/measure.py" --runs "${RUNS:-10}" "${cmds[@]}")
echo "  load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
ms() { awk -v l="$1" '$1 == l {print $2}' <<<"$out"; }
mb() { awk -v l="$1" '$1 == l {printf "%d", $5 / 1024}' <<<"$out"; }
for l in explain trace trace-ip; do
  line="  policy $l: $(ms "$l") ms, peak RSS $(mb "$l") MB"
  [ -z "${BASE:-}" ] || line+="   BASE $(ms "base-$l") ms, $(mb "base-$l") MB   BIN/BASE x$(ratio "$(ms "$l")" "$(ms "base-$l")")"
  echo "$line"
done
echo "  floor: etcdctl get --prefix (everything, -w json) : $(ms floor) ms"
