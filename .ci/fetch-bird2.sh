#!/usr/bin/env bash
# BIRD 2 for the node-status tests: Debian's bird2 conflicts with bird (1.6), so it is downloaded
# and extracted into a cache outside the repository instead of installed (it runs from there).
# Prints the path of the extracted bird binary.
set -euo pipefail
CACHE=${CALICOCTL_CI_CACHE:-$HOME/.cache/calicoctl-ci}/bird2
BIN=$CACHE/root/usr/sbin/bird
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
if ! dpkg -s libssh-gcrypt-4 >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libssh-gcrypt-4 >/dev/null
fi
if [ ! -x "$BIN" ]; then
  mkdir -p "$CACHE" && cd "$CACHE"
  ls bird2_*.deb >/dev/null 2>&1 || apt-get download bird2 >/dev/null 2>&1
  dpkg-deb -x bird2_*.deb root
fi
"$BIN" --version >/dev/null 2>&1 || { echo "bird2 at $BIN does not run" >&2; exit 1; }
echo "$BIN"
