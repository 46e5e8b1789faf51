#!/usr/bin/env bash
# IPAM benchmark (issue 4): on a seeded etcd, times `ipam show`, `ipam show --show-blocks` and
# `ipam check` against the floor `etcdctl get --prefix /calico/ipam/v2/ -w json`, at 1k and 16k
# blocks (~31 allocations per block: 31k and 496k allocations). Prints medians, ratios, RSS.
source "$(dirname "$0")/lib.sh"
for blocks in ${SIZES:-1000 16000}; do
  rm -rf "$WORK/etcd"; start_etcd
  nodes=$((blocks / 10))
  t0=$(date +%s.%N)
  "$BIN" dev seed --nodes "$nodes" --blocks-per-node 10 --ips-per-block 31 --concurrency 128 --weps >/dev/null
  seed_s=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
  # Bytes read: the keys and values stored under the IPAM prefix (what any client must fetch).
  bytes=$(etcdctl get --prefix /calico/ipam/v2/ | wc -c)
  floor=$(median_ms floor "etcdctl get --prefix /calico/ipam/v2/ -w json")
  show=$(median_ms show "$BIN ipam show")
  blocks_ms=$(median_ms blocks "$BIN ipam show --show-blocks")
  RUNS=${CHECK_RUNS:-3} check=$(median_ms check "$BIN ipam check")
  rss=$(peak_rss_kb "$BIN ipam show --show-blocks")
  rss_check=$(peak_rss_kb "$BIN ipam check")
  echo "blocks=$blocks allocations=$((blocks * 31)) seed=${seed_s}s ipam-key+value-bytes=$bytes"
  echo "  floor etcdctl get --prefix /calico/ipam/v2/ -w json : ${floor} ms"
  echo "  ipam show                                           : ${show} ms (x$(ratio "$show" "$floor"))"
  echo "  ipam show --show-blocks                             : ${blocks_ms} ms (x$(ratio "$blocks_ms" "$floor")), peak RSS ${rss} KiB (x$(ratio "$rss*1024" "$bytes") of bytes read)"
  echo "  ipam check                                          : ${check} ms (x$(ratio "$check" "$floor")), peak RSS ${rss_check} KiB"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
done
