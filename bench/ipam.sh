#!/usr/bin/env bash
# IPAM benchmark (issues 4, 18): on a seeded etcd, times `ipam show`, `ipam show --show-blocks`
# and `ipam check` against the reference calicoctl (when CALICOCTL_REFERENCE is set) and the
# floor `etcdctl get --prefix` of what each reads, at 1k and 16k blocks (~31 allocations per
# block: 31k and 496k allocations, one WEP per allocation that is not leaked). `ipam check`
# also reads the Kubernetes Services, even on etcd: both binaries get the kubeconfig of a
# kube-apiserver started here (without one calicoctl refuses to run it). `--top-nodes 20` gives
# the 20 busiest nodes distinct counts: calicoctl lists tied nodes in Go's random map order, so
# only then can its `ipam check` output be compared byte for byte.
# ROWS="show blocks check" picks rows; HOLD=FILE keeps the first seeded etcd (and the
# kube-apiserver) running for runs by hand, its settings written to FILE, until killed.
# Issue 15's claim, re-checked in one command (the `output` verdict of the check row):
#   CALICOCTL_REFERENCE=/path/to/calicoctl-v3.32.1 SIZES=16000 ROWS=check bench/ipam.sh
source "$(dirname "$0")/lib.sh"
if start_kube; then export KUBECONFIG="$KUBECONFIG_FILE"; else
  echo "bench/ipam.sh: no kube-apiserver built (.ci/build-kube-apiserver.sh): ipam check is skipped"
fi
for blocks in ${SIZES:-1000 16000}; do
  rm -rf "$WORK/etcd"; start_etcd
  nodes=$((blocks / 10))
  t0=$(date +%s.%N)
  "$BIN" dev seed --nodes "$nodes" --blocks-per-node 10 --ips-per-block 31 --top-nodes 20 --concurrency 128 --weps >/dev/null
  seed_s=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
  # `ipam check` reads the KubeControllersConfiguration `default` (calicoctl fails without it).
  printf 'apiVersion: projectcalico.org/v3\nkind: KubeControllersConfiguration\nmetadata:\n  name: default\nspec:\n  controllers:\n    node:\n      reconcilerPeriod: 5m\n' >"$WORK/kcc.yaml"
  "$BIN" apply -f "$WORK/kcc.yaml" >/dev/null
  # Bytes read: the keys and values stored under the IPAM prefix (what any client must fetch).
  bytes=$(etcdctl --command-timeout=600s get --prefix /calico/ipam/v2/ | wc -c)
  echo "blocks=$blocks allocations=$((blocks * 31 + 1050)) seed=${seed_s}s ipam-key+value-bytes=$bytes"
  if [ -n "${HOLD:-}" ]; then
    declare -p ETCD_ENDPOINTS ETCDCTL_ENDPOINTS ETCDCTL_API DATASTORE_TYPE KUBECONFIG 2>/dev/null |
      sed 's/^declare -x/export/' >"$HOLD"
    sleep infinity
  fi
  rows=${ROWS:-show blocks check}
  floor_blocks="etcdctl --command-timeout=600s get --prefix /calico/ipam/v2/assignment/ -w json"
  [[ " $rows " != *" show "* ]] || compare "etcd ipam show, $blocks blocks" "ipam show" "$floor_blocks" "etcdctl get blocks"
  [[ " $rows " != *" blocks "* ]] || compare "etcd ipam show --show-blocks, $blocks blocks" "ipam show --show-blocks" "$floor_blocks" "etcdctl get blocks"
  if [ -n "${KUBECONFIG:-}" ] && [[ " $rows " == *" check "* ]]; then
    RUNS=${CHECK_RUNS:-3} compare "etcd ipam check, $blocks blocks / $((blocks * 31 + 1050)) allocations" "ipam check" \
      "etcdctl --command-timeout=600s get --prefix /calico/ipam/v2/ -w json; etcdctl --command-timeout=600s get --prefix /calico/resources/v3/projectcalico.org/workloadendpoints/ -w json" \
      "etcdctl get IPAM + WEPs" ipam-check
  fi
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  unset 'PIDS[-1]'
done
