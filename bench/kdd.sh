#!/usr/bin/env bash
# Kubernetes datastore list benchmark (issue 8): `get workloadendpoints -A -o json` over 10,000
# pods in a real kube-apiserver, against the floor of one unpaginated `curl` of /api/v1/pods;
# peak RSS against the JSON bytes the API server sends.
source "$(dirname "$0")/lib.sh"
need python3 python3; need openssl openssl; need curl curl
start_kube || { echo "bench/kdd.sh: no kube-apiserver built (run .ci/build-kube-apiserver.sh)"; exit 1; }
N=${PODS:-10000}
echo "== creating $N pods through the API server"
python3 - "$KUBE_URL" "$KUBE_TOKEN" "$N" <<'PY'
import http.client, json, ssl, sys, threading
from concurrent.futures import ThreadPoolExecutor
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = url.removeprefix("https://").split(":")
ctx = ssl._create_unverified_context()
local = threading.local()
def conn():
    if not hasattr(local, "c"):
        local.c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    return local.c
def create(i):
    ns = f"ns-{i % 20}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"pod-{i:05d}", "namespace": ns, "labels": {"app": f"a{i % 7}"},
                        "annotations": {"cni.projectcalico.org/podIPs": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}/32"}},
           "spec": {"nodeName": f"node-{i % 100:03d}", "containers": [{"name": "c", "image": "busybox"}]}}
    body = json.dumps(pod)
    c = conn()
    c.request("POST", f"/api/v1/namespaces/{ns}/pods", body,
              {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status not in (201, 409):
        raise SystemExit(f"pod {i}: HTTP {r.status}")
c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
for k in range(20):
    c.request("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{k}"}}),
              {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
with ThreadPoolExecutor(16) as ex:
    list(ex.map(create, range(n)))
PY
export DATASTORE_TYPE=kubernetes KUBECONFIG="$KUBECONFIG_FILE"
unset ETCD_ENDPOINTS
n=$("$BIN" get wep -A -o name | wc -l)
floor="curl -sk -H 'Authorization: Bearer $KUBE_TOKEN' $KUBE_URL/api/v1/pods -o /dev/null"
bytes=$(curl -sk -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_URL/api/v1/pods" | wc -c)
pages=$(( (n + 499) / 500 ))
a=$(median_ms kdd_weps "$BIN get workloadendpoints -A -o json")
b=$(median_ms kdd_floor "$floor")
rss=$(peak_rss_kb "$BIN get workloadendpoints -A -o json")
out_bytes=$("$BIN" get workloadendpoints -A -o json | wc -c)
echo "== get workloadendpoints -A -o json, $n WEPs (Kubernetes API, $pages pages of 500)"
echo "  calicoctl ${a} ms   curl /api/v1/pods (one unpaginated request) ${b} ms   (x$(ratio "$a" "$b"))"
echo "  peak RSS ${rss} KiB = x$(ratio "$rss*1024" "$bytes") of the ${bytes} JSON bytes of the pod list (output ${out_bytes} bytes)"
