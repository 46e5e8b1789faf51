#!/usr/bin/env bash
# Installs what is missing on a Debian machine, saying what it does at each step.
#   scripts/setup.sh demo   only what `make demo` builds and runs: etcd, BIRD 1.6, protoc
#   scripts/setup.sh        (= test) also the test tools, the real kube-apiserver (built once
#                           into a cache outside the repository) and BIRD 2
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
step() { echo "setup($what): $*"; }

# Building needs protoc (etcd-client); the demo runs etcd and BIRD, and uses curl and python3.
demo_pkgs=(bird etcd-server protobuf-compiler libprotobuf-dev curl python3)
test_pkgs=(etcd-client openssl iproute2 zsh fish socat faketime hyperfine time git python3-yaml)
case $what in
  demo) pkgs=("${demo_pkgs[@]}") ;;
  test) pkgs=("${demo_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac

step "checking Debian packages: ${pkgs[*]}"
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  step "apt-get installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "checking Rust"
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is missing; install it with rustup (https://rustup.rs), then re-run" >&2
  exit 1
fi
[ "$what" = demo ] && exit 0

# The real kube-apiserver (Kubernetes datastore tests) and BIRD 2, cached outside the repo.
if command -v go >/dev/null 2>&1; then
  step "kube-apiserver for the Kubernetes-datastore tests (.ci/build-kube-apiserver.sh; the first build takes ~8 min, then cached)"
  .ci/build-kube-apiserver.sh >/dev/null
else
  step "no Go here, so no kube-apiserver: the Kubernetes-datastore tests will be skipped (a failure under CI=true)"
fi
step "BIRD 2 for the node-status tests (.ci/fetch-bird2.sh; cached)"
.ci/fetch-bird2.sh >/dev/null || step "BIRD 2 could not be fetched; its tests will say why"
