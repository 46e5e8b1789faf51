#!/usr/bin/env bash
# Stale-node cleanup benchmark (issue 6): 5,000 nodes of which 1,000 are dead (72 h old Felix
# reports while the others report), 100k blocks (20 per node, 2 allocations each). Times the
# plan (dry run) and the apply, checks the dead nodes are gone. Target: < 30 s together.
# calicoctl has no such command, so there is nothing to run side by side here.
source "$(dirname "$0")/lib.sh"
NODES=${NODES:-5000}; DEAD=${DEAD:-1000}; BPN=${BPN:-20}; IPB=${IPB:-2}
start_etcd
t0=$(date +%s.%N)
"$BIN" dev seed --nodes "$NODES" --dead-nodes "$DEAD" --felix-reports --blocks-per-node "$BPN" \
  --ips-per-block "$IPB" --leak-percent 0 --borrow-percent 0 --concurrency 128 >/dev/null
seed_s=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
keys_before=$(etcdctl get --prefix /calico/ --keys-only | grep -c .)
/usr/bin/time -f '%e %M' -o "$WORK/plan.t" "$BIN" node cleanup -o json >"$WORK/plan.json"
/usr/bin/time -f '%e %M' -o "$WORK/apply.t" "$BIN" node cleanup --apply --yes --concurrency "${CONC:-32}" >"$WORK/apply.txt"
keys_after=$(etcdctl get --prefix /calico/ --keys-only | grep -c .)
planned=$(python3 -c "import json;p=json.load(open('$WORK/plan.json'));print(sum(1 for n in p['nodes'] if n['remove']))")
removed=$(grep -c '^Removed node' "$WORK/apply.txt" || true)
left=$(etcdctl get --prefix /calico/resources/v3/projectcalico.org/nodes/ --keys-only | grep -c . || true)
read -r plan_s plan_kb <"$WORK/plan.t"; read -r apply_s apply_kb <"$WORK/apply.t"
echo "nodes=$NODES dead=$DEAD blocks=$((NODES * BPN)) allocations=$((NODES * BPN * IPB)) seed=${seed_s}s keys ${keys_before} -> ${keys_after}"
echo "  plan  (dry run) : ${plan_s} s, peak RSS ${plan_kb} KiB, ${planned} nodes planned for removal"
echo "  apply           : ${apply_s} s, peak RSS ${apply_kb} KiB, ${removed} nodes removed"
echo "  total           : $(python3 -c "print('%.1f' % ($plan_s + $apply_s))") s; Node resources left: ${left} (expected $((NODES - DEAD)))"
