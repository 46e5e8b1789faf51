#!/usr/bin/env bash
# Proves a clone stands on its own: clones the committed HEAD into an empty folder (nothing
# beside the clone) and runs the fast subset of `make test`'s suite there: one etcd, two KDD
# (both CRD API groups, from crds/), one BIRD 1.6 test, the repository checks and the fuzzers
# that read their seeds from the repository. The clone builds into the same target dir, so
# only the crate itself is compiled again, not its dependencies.
# `make test` runs it after the whole suite when CI=true or CALICOCTL_FRESH_CLONE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
# A fixed place per target dir, so that repeated runs overwrite their artifacts in it.
PARENT="${TMPDIR:-/tmp}/calicoctl-fresh-clone-$(printf %s "$TARGET" | sha1sum | cut -c1-12)"
rm -rf "$PARENT"
mkdir -p "$PARENT"
# On exit the crate's own artifacts built from the clone are dropped from the shared target
# dir: they carry the clone's paths (CARGO_MANIFEST_DIR), and cargo would otherwise reuse them
# for the next `cargo test` in the repository, whose tests would then look for their fixtures
# in the deleted clone. Dependencies stay built.
trap 'cargo clean -q -p calicoctl --target-dir "$TARGET" >/dev/null 2>&1 || true; rm -rf "$PARENT"' EXIT
echo "fresh-clone: git clone of HEAD ($(git rev-parse --short HEAD)) into $PARENT/calicoctl, alone in its folder"
git clone -q --no-hardlinks "$PWD" "$PARENT/calicoctl"
cd "$PARENT/calicoctl"
[ "$(ls -A "$PARENT")" = calicoctl ] || { echo "fresh-clone: $PARENT is not empty" >&2; exit 1; }
# The fuzzers run few cases: here they prove their seeds are found, the whole suite fuzzes.
CARGO_TARGET_DIR="$TARGET" CALICOCTL_SKIP_LOG="$TARGET/fresh-clone-skips.txt" FUZZ_CASES=500 scripts/test.sh \
  --test cli --test fuzz -- \
  backends::etcd::crud_lifecycle backends::kdd_v1::crud_lifecycle \
  backends::kdd_v3::crud_lifecycle bird::bird16_established_active_stopped_killed repo:: \
  fuzz_bird_reply_parser fuzz_manifest_decoder
