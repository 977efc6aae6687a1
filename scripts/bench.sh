#!/usr/bin/env bash
# The main job: the packets-per-second benchmark over memif (no NIC needed). Installs what it
# needs, builds the library, then runs `bun run benches/pps.ts` with the arguments given
# (see `bash scripts/bench.sh --help`, which installs and builds nothing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for a in "$@"; do
	if [[ $a == --help || $a == -h ]]; then
		echo "usage: bash scripts/bench.sh [options of benches/pps.ts]"
		echo
		echo "Installs what the benchmark needs (scripts/install-deps.sh), builds the library and the"
		echo "testpmd launcher (cargo build --release -p zmemif -p zmemif-testpmd), then runs"
		echo "bun run benches/pps.ts with these options:"
		echo
		# The benchmark's own help (benches/lib/cli.ts HELP), read without Bun: --help must work
		# on a fresh clone, before anything is installed.
		awk '/^export const HELP = `/ { f = 1; sub(/^export const HELP = `/, "") }
			f && /`;$/ { sub(/`;$/, ""); print; exit }
			f { print }' benches/lib/cli.ts
		exit 0
	fi
done

export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-deps.sh
cargo build --release -p zmemif --features node
cargo build --release -p zmemif-testpmd
exec "$ROOT/node_modules/.bin/bun" run benches/pps.ts "$@"
