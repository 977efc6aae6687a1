#!/usr/bin/env bash
# Every test and check of zmemif, on a fresh Debian 12 machine (as root): installs what it needs
# (scripts/install-deps.sh), then formatting, lints, the generated C header, the Rust tests (with
# dpdk-testpmd peers), the TypeScript type check, the Bun tests, the benchmark's smoke run and
# the forwarder's end-to-end test. Stops at the first failure.
#   bash scripts/test.sh            everything
#   bash scripts/test.sh --quick    skip the benchmark smoke run and the forwarder's e2e test
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0
[[ ${1:-} == --quick ]] && QUICK=1
export PATH="$HOME/.cargo/bin:$PATH"
BUN="$ROOT/node_modules/.bin/bun"
passed=0
step() { printf '\n=== %s\n' "$*"; }
ok() { passed=$((passed + 1)); }

step "install dependencies"
bash scripts/install-deps.sh && ok

step "rustfmt"
cargo fmt --all --check && ok

step "clippy (-D warnings)"
cargo clippy --release --all-targets -- -D warnings && ok

step "build"
cargo build --release -p zmemif && ok

step "C header is what cbindgen generates, and every declared function is exported"
if ! command -v cbindgen >/dev/null; then
	echo "installing cbindgen 0.29.4 from crates.io (once)"
	cargo install cbindgen --locked --version 0.29.4 --quiet
fi
gen="$(mktemp)"
(cd crates/zmemif && cbindgen --config cbindgen.toml -o "$gen" 2>/dev/null)
diff -u crates/zmemif/include/zmemif.h "$gen" ||
	{ echo "include/zmemif.h is stale: run (cd crates/zmemif && cbindgen --config cbindgen.toml -o include/zmemif.h)"; exit 1; }
rm -f "$gen"
missing=0
for f in $(grep -oE '\bzmemif_[a-z_0-9]+\(' crates/zmemif/include/zmemif.h | tr -d '(' | sort -u); do
	nm -D --defined-only target/release/libzmemif.so | grep -q " T $f$" || { echo "not exported: $f"; missing=1; }
done
((missing == 0)) && ok

step "Rust tests (unit, two-process, hostile peer, dpdk-testpmd interop)"
cargo test --release -p zmemif && ok

step "TypeScript type check (strict)"
"$ROOT/node_modules/.bin/tsc" --noEmit && ok

step "forwarder: build (the Bun UDP tests use it)"
make -s -C forwarder && ok

step "Bun tests"
"$BUN" test && ok

if ((QUICK == 0)); then
	if [[ -f benches/pps.ts ]]; then
		step "benchmark smoke run"
		"$BUN" run benches/pps.ts --smoke && ok
	fi
	step "forwarder: end-to-end test (network namespaces, Bun echo)"
	bash forwarder/tests/e2e.sh && ok
fi

printf '\nchecks: %d passed, 0 failed\n' "$passed"
