#!/usr/bin/env bash
# The main job: the packets-per-second benchmark over memif (no NIC needed). Installs what it
# needs, builds the library, then runs `bun run benches/pps.ts` with the arguments given
# (see `bun run benches/pps.ts --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-deps.sh
cargo build --release -p zmemif --features node
exec "$ROOT/node_modules/.bin/bun" run benches/pps.ts "$@"
