#!/usr/bin/env bash
# The forwarder's peer-departure stress (forwarder/tests/departures.sh) at soak size, on demand;
# CI runs 20 departures inside forwarder/tests/e2e.sh. Needs root (network namespaces). Takes the
# machine's heavy-test lock, as every long run should.
#   bash scripts/fwd-soak.sh [N]      N memif server departures (default 300, about 15 minutes)
#   bash scripts/fwd-soak.sh --help
# FWD=path runs another build of zmemif-fwd (for a before/after comparison).
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -p zmemif
make -s -C forwarder
exec flock -o /tmp/zmemif-heavy.lock bash forwarder/tests/departures.sh "${1:-300}"
