#!/usr/bin/env bash
# Kubernetes datastore benchmark (issues 8, 18): in a real kube-apiserver with the Calico v1
# CRDs, lists of every KDD-backed kind at scale — 10,000 pods as WorkloadEndpoints, 2,000
# Nodes, 5,000 NetworkPolicies (4,000 Calico, 1,000 Kubernetes), IPAM blocks as CRs — and
# `ipam show --show-blocks` / `ipam check`; each against the reference calicoctl (when
# CALICOCTL_REFERENCE is set) and the floor of one unpaginated `curl` of the same objects.
source "$(dirname "$0")/lib.sh"
need python3 python3; need openssl openssl; need curl curl
start_kube || { echo "bench/kdd.sh: no kube-apiserver built (run .ci/build-kube-apiserver.sh)"; exit 1; }
PODS=${PODS:-10000} NODES=${NODES:-2000} NPS=${NPS:-4000} KNPS=${KNPS:-1000} BLOCKS=${BLOCKS:-1000}
echo "== creating the CRDs, $PODS pods, $NODES nodes, $NPS + $KNPS network policies, $BLOCKS IPAM blocks"
python3 - "$KUBE_URL" "$KUBE_TOKEN" "$ROOT/crds/crd.projectcalico.org_v1" "$PODS" "$NODES" "$NPS" "$KNPS" "$BLOCKS" <<'PY'
import http.client, json, os, ssl, sys, threading, time, yaml
from concurrent.futures import ThreadPoolExecutor
url, token, crds = sys.argv[1], sys.argv[2], sys.argv[3]
pods, nodes, nps, knps, blocks = map(int, sys.argv[4:9])
host, port = url.removeprefix("https://").split(":")
ctx = ssl._create_unverified_context()
local = threading.local()
def call(method, path, obj=None):
    if not hasattr(local, "c"):
        local.c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=60)
    local.c.request(method, path, json.dumps(obj) if obj is not None else None,
                    {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = local.c.getresponse(); body = r.read()
    if r.status not in (200, 201, 409):
        raise SystemExit(f"{method} {path}: HTTP {r.status} {body[:300]!r}")
    return json.loads(body) if body else None
def post_all(items):
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda pa: call("POST", pa[0], pa[1]), items))
names = []
for f in sorted(os.listdir(crds)):
    crd = yaml.safe_load(open(os.path.join(crds, f)))
    call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    names.append(crd["metadata"]["name"])
for n in names:
    for _ in range(600):
        c = call("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}")
        if any(x["type"] == "Established" and x["status"] == "True" for x in c.get("status", {}).get("conditions", [])):
            break
        time.sleep(0.1)
for k in range(20):
    call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{k}"}})
def pod(i):
    ns = f"ns-{i % 20}"
    return (f"/api/v1/namespaces/{ns}/pods", {"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"pod-{i:05d}", "namespace": ns, "labels": {"app": f"a{i % 7}"},
                     "annotations": {"cni.projectcalico.org/podIPs": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}/32",
                                     "cni.projectcalico.org/containerID": f"{i:064x}"}},
        "spec": {"nodeName": f"node-{i % 100:03d}", "containers": [{"name": "c", "image": "busybox",
                 "ports": [{"name": "http", "containerPort": 8080}]}]}})
def node(i):
    return ("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"node-{i:04d}", "labels": {"kubernetes.io/hostname": f"node-{i:04d}", "zone": f"z{i % 3}"},
                     "annotations": {"projectcalico.org/IPv4Address": f"172.16.{i // 256}.{i % 256}/16",
                                     "projectcalico.org/IPv4IPIPTunnelAddr": f"10.200.{i // 256}.{i % 256}"}},
        "spec": {"podCIDR": f"10.{100 + i // 256}.{i % 256}.0/24"}})
def np(i):
    ns = f"ns-{i % 20}"
    return (f"/apis/crd.projectcalico.org/v1/namespaces/{ns}/networkpolicies", {
        "apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"np-{i:05d}", "namespace": ns},
        "spec": {"tier": "default", "order": i, "selector": f"app == 'a{i % 7}'", "types": ["Ingress", "Egress"],
                 "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": f"role == 'r{i % 5}'"},
                              "destination": {"ports": [80, 443]}}],
                 "egress": [{"action": "Allow", "destination": {"nets": [f"10.{i % 256}.0.0/16"]}}]}})
def knp(i):
    ns = f"ns-{i % 20}"
    return (f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"knp-{i:05d}", "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {"app": f"a{i % 7}"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": f"r{i % 5}"}}}],
                              "ports": [{"protocol": "TCP", "port": 8080}]}]}})
def block(i):
    # A /26 of node-(i % NODES) with 31 allocations, each with its handle, as calico-ipam writes.
    cidr = f"10.{64 + i // 1024}.{(i // 4) % 256}.{(i % 4) * 64}/26"
    nd = f"node-{i % max(nodes, 1):04d}"
    attrs, allocs = [], [None] * 64
    for o in range(31):
        h = f"k8s-pod-network.{i * 64 + o:064x}"
        attrs.append({"handle_id": h, "secondary": {"namespace": "ns-0", "node": nd, "pod": f"p-{i}-{o}",
                      "timestamp": "2025-06-01 10:05:12.123456789 +0000 UTC"}})
        allocs[o] = o
    name = cidr.replace(".", "-").replace("/", "-")
    return ("/apis/crd.projectcalico.org/v1/ipamblocks", {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
        "metadata": {"name": name}, "spec": {"cidr": cidr, "affinity": f"host:{nd}", "allocations": allocs,
        "unallocated": list(range(31, 64)), "attributes": attrs, "strictAffinity": False, "deleted": False}})
def handle(j):
    h = f"k8s-pod-network.{(j // 31) * 64 + j % 31:064x}"
    return ("/apis/crd.projectcalico.org/v1/ipamhandles", {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMHandle",
        "metadata": {"name": h}, "spec": {"handleID": h, "block": {}, "deleted": False}})
# `ipam check` reads ClusterInformation and KubeControllersConfiguration `default`.
call("POST", "/apis/crd.projectcalico.org/v1/clusterinformations", {"apiVersion": "crd.projectcalico.org/v1",
     "kind": "ClusterInformation", "metadata": {"name": "default"},
     "spec": {"clusterGUID": "bench", "clusterType": "k8s,bgp", "calicoVersion": "v3.32.1", "datastoreReady": True}})
call("POST", "/apis/crd.projectcalico.org/v1/kubecontrollersconfigurations", {"apiVersion": "crd.projectcalico.org/v1",
     "kind": "KubeControllersConfiguration", "metadata": {"name": "default"},
     "spec": {"controllers": {"node": {"reconcilerPeriod": "5m"}}}})
post_all([pod(i) for i in range(pods)])
post_all([node(i) for i in range(nodes)])
post_all([np(i) for i in range(nps)])
post_all([knp(i) for i in range(knps)])
post_all([block(i) for i in range(blocks)])
post_all([handle(j) for j in range(blocks * 31)])
PY
export DATASTORE_TYPE=kubernetes KUBECONFIG="$KUBECONFIG_FILE"
unset ETCD_ENDPOINTS
if [ -n "${HOLD:-}" ]; then
  # Keeps the seeded cluster for runs by hand: its settings in $HOLD, up until killed.
  declare -p KUBE_URL KUBE_TOKEN KUBECONFIG DATASTORE_TYPE | sed 's/^declare -x/export/' >"$HOLD"
  sleep infinity
fi
curl_floor() { echo "curl -sk -H 'Authorization: Bearer $KUBE_TOKEN' $KUBE_URL$1 -o /dev/null"; }
# Pods in protobuf, as calicoctl's Kubernetes client (and ours) asks for them, in the pages of
# 500 both ask for: the API server's own time to serve those pages to a raw client.
pages_floor() { echo "python3 $ROOT/bench/kube_pages.py $KUBE_URL $KUBE_TOKEN $1"; }
n=$("$BIN" get wep -A -o name | wc -l)
bytes=$(curl -sk -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_URL/api/v1/pods" | wc -c)
echo "   ($n WEPs; the unpaginated pod list is $bytes JSON bytes)"
compare "KDD get wep -A -o json, $PODS pods" "get workloadendpoints -A -o json" "$(pages_floor /api/v1/pods)" "raw client, /api/v1/pods in protobuf pages of 500"
compare "KDD get wep -A (table), $PODS pods" "get workloadendpoints -A" "$(pages_floor /api/v1/pods)" "raw client, /api/v1/pods in protobuf pages of 500"
compare "KDD get nodes -o yaml, $NODES nodes" "get nodes -o yaml" "$(curl_floor /api/v1/nodes)" "curl /api/v1/nodes"
compare "KDD get networkpolicy -A -o yaml, $NPS Calico + $KNPS Kubernetes" "get networkpolicy -A -o yaml" \
  "$(curl_floor /apis/crd.projectcalico.org/v1/networkpolicies); $(curl_floor /apis/networking.k8s.io/v1/networkpolicies)" "curl of both lists"
compare "KDD ipam show --show-blocks, $BLOCKS blocks" "ipam show --show-blocks" "$(curl_floor /apis/crd.projectcalico.org/v1/ipamblocks)" "curl ipamblocks"
RUNS=${CHECK_RUNS:-3} compare "KDD ipam check, $BLOCKS blocks / $((BLOCKS * 31)) allocations, $PODS pods" "ipam check" \
  "$(curl_floor /apis/crd.projectcalico.org/v1/ipamblocks); $(curl_floor /apis/crd.projectcalico.org/v1/ipamhandles); $(curl_floor /api/v1/pods); $(curl_floor /api/v1/nodes)" \
  "curl blocks, handles, pods, nodes" ipam-check
