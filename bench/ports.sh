#!/bin/sh
# make bench-ports: publish/unpublish cost at 1, 100 and 1,000 mappings, both firewall backends,
# in a throwaway network namespace (never the host's). Needs root.
set -e
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
SCRATCH=${SCRATCH:-.build}
$SWIFT build --scratch-path "$SCRATCH" --build-tests >/dev/null
out=$(mktemp)
HUTCH_BENCH=1 HUTCH_BENCH_OUT="$out" unshare --net $SWIFT test --scratch-path "$SCRATCH" --skip-build \
  --filter NetPortsBench >/dev/null 2>&1 || { echo "bench failed; rerun: HUTCH_BENCH=1 unshare --net $SWIFT test --filter NetPortsBench" >&2; exit 1; }
cat "$out"; rm -f "$out"
