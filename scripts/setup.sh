#!/usr/bin/env bash
# Installs what building and testing need on a Debian machine (only what is missing), and
# builds/caches the real kube-apiserver used by the Kubernetes-datastore tests.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(bird etcd-server etcd-client protobuf-compiler libprotobuf-dev openssl curl iproute2 zsh fish socat faketime hyperfine time)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is missing; install it with rustup (https://rustup.rs), then re-run" >&2
  exit 1
fi

# The real kube-apiserver (Kubernetes datastore tests) and BIRD 2, cached outside the repo.
if [ -x .ci/build-kube-apiserver.sh ] && command -v go >/dev/null 2>&1; then
  .ci/build-kube-apiserver.sh >/dev/null
fi
if [ -x .ci/fetch-bird2.sh ]; then
  .ci/fetch-bird2.sh >/dev/null || echo "setup: BIRD 2 could not be fetched; its tests will say why" >&2
fi
