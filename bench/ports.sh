#!/bin/sh
# make bench-ports: publish/unpublish cost at 1, 100 and 1,000 mappings, both firewall backends,
# in a throwaway network namespace (never the host's). Needs root.
set -e
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
SCRATCH=${SCRATCH:-.build}
$SWIFT build --scratch-path "$SCRATCH" --product bench-ports >/dev/null
exec unshare --net "$($SWIFT build --scratch-path "$SCRATCH" --show-bin-path)/bench-ports"
