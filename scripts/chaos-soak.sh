#!/usr/bin/env bash
# The chaos tests (tests/chaos_*.test.ts) at soak size, on demand; CI runs them at their default
# size with the other Bun tests. Takes the machine's heavy-test lock, as every long run should.
#   bash scripts/chaos-soak.sh            ~10x the CI counts (about 10 minutes)
#   bash scripts/chaos-soak.sh --help
# The counts can be set one by one: CHAOS_KILLS (clients killed under each server, CI 100),
# CHAOS_SERVER_KILLS (servers killed under the client, CI 20), CHAOS_CYCLES (connect/disconnect
# cycles of the fd/RSS test, CI 3000; CHAOS_WARMUP cycles before the RSS reference, CI 1000),
# CHAOS_EVENT_CYCLES (connections into the 4-Worker server, CI 5000: twice as many events).
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -p zmemif
export CHAOS_KILLS="${CHAOS_KILLS:-1000}"
export CHAOS_SERVER_KILLS="${CHAOS_SERVER_KILLS:-200}"
export CHAOS_CYCLES="${CHAOS_CYCLES:-30000}"
export CHAOS_WARMUP="${CHAOS_WARMUP:-1000}"
export CHAOS_EVENT_CYCLES="${CHAOS_EVENT_CYCLES:-50000}"
echo "chaos soak: $CHAOS_KILLS client kills per server, $CHAOS_SERVER_KILLS server kills," \
	"$CHAOS_CYCLES cycles (warm-up $CHAOS_WARMUP), $CHAOS_EVENT_CYCLES event cycles"
exec flock /tmp/zmemif-heavy.lock "$ROOT/node_modules/.bin/bun" test \
	tests/chaos_kills.test.ts tests/chaos_cycles.test.ts tests/chaos_events.test.ts
