#!/usr/bin/env bash
# Every test and check of zmemif, on a fresh Debian 12 machine (as root): installs what it needs
# (scripts/install-deps.sh), then formatting, lints, the generated C header, the Rust tests (with
# dpdk-testpmd peers), the TypeScript type check, the npm tarballs, the Bun tests (with Node.js
# peers and the tarballs installed without Rust), the benchmark's smoke run, the forwarder's
# end-to-end test, scripts/try-forwarder.sh and a self-test of this script.
#   bash scripts/test.sh            everything
#   bash scripts/test.sh --quick    without the benchmark smoke run and the forwarder tests in namespaces
#
# Every check is one `step NAME COMMAND...` line below: the step runs in a subshell with errexit
# on, and the first step that fails stops the run with a non-zero exit, naming the step. The last
# line is always `checks: N passed, N failed`. A step that is more than one command is a function
# (see check_header): a failing command in its middle fails the step.
#
# With CI=true nothing may skip: a test that lacks root, namespaces, DPDK, python3, ip/ethtool or
# the forwarder fails, the Rust and Bun test steps fail when their summary counts a skipped,
# ignored or todo test, and a step exiting 77 (it lacks a prerequisite: a skip outside CI) fails.
#
# A step that runs longer than its time limit (ZMEMIF_STEP_LIMIT seconds, 1200 unless set; the
# install step 2400) is a hang: the run prints the step's processes, kills them and fails, naming
# the step, so a wedged test costs minutes, not the CI's whole budget.
#
# ZMEMIF_CI_INJECT_FAIL=NAME and ZMEMIF_CI_INJECT_HANG=NAME are read only by the self-test
# (scripts/ci-selftest.sh): the step called NAME fails, or hangs, on purpose, to prove that a
# failing or hanging step turns the run red.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help) usage; exit 0 ;;
	*) printf 'test.sh: unknown argument %q\n' "$arg" >&2; usage >&2; exit 2 ;;
	esac
done
export PATH="$HOME/.cargo/bin:$PATH"
BUN="$ROOT/node_modules/.bin/bun"
INJECT="${ZMEMIF_CI_INJECT_FAIL:-}"
INJECT_HANG="${ZMEMIF_CI_INJECT_HANG:-}"
STEP_LIMIT="${ZMEMIF_STEP_LIMIT:-1200}"
injected=0
passed=0
skipped=()

# The command a step named by ZMEMIF_CI_INJECT_FAIL runs instead of its own: a failing command
# followed by one that succeeds, so the self-test also proves a failure inside a step stops it.
ci_injected_failure() {
	echo "ZMEMIF_CI_INJECT_FAIL: this step fails on purpose"
	false
	echo "NOT STOPPED: a failing command inside a step was ignored"
}

# The command a step named by ZMEMIF_CI_INJECT_HANG runs instead of its own: a child that never
# ends, as a wedged test would be.
ci_injected_hang() {
	echo "ZMEMIF_CI_INJECT_HANG: this step hangs on purpose"
	sleep 100000
	echo "NOT KILLED: a hanging step outlived its time limit"
}

# tree PID: PID and all its descendants, parents first.
tree() {
	local c
	echo "$1"
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		tree "$c"
	done
}

# limited LIMIT COMMAND...: COMMAND in a subshell with errexit on; after LIMIT seconds it is a hang:
# show its processes, kill them all and return 124.
limited() {
	local limit=$1 pid dog rc flag
	shift
	flag="$(mktemp)"
	(
		set -e
		"$@"
	) &
	pid=$!
	(
		sleep "$limit"
		echo hung >"$flag"
		local pids
		pids="$(tree "$pid")"
		printf '\nHUNG: still running after %s s; its processes:\n' "$limit"
		ps -o pid,ppid,etimes,stat,args -p "$(echo $pids | tr ' ' ,)" || true
		kill -TERM $pids 2>/dev/null || true
		sleep 5
		kill -KILL $(tree "$pid") 2>/dev/null || true
	) &
	dog=$!
	# The caller runs this with errexit off (step does), so a failing COMMAND returns here.
	wait "$pid"
	rc=$?
	kill -TERM $(tree "$dog") 2>/dev/null
	wait "$dog" 2>/dev/null
	if [[ -s $flag ]]; then
		rc=124
	fi
	rm -f "$flag"
	return "$rc"
}

summary() { printf '\nchecks: %d passed, %d failed\n' "$passed" "$1"; }

# step NAME COMMAND...: run COMMAND; stop the run if it fails. COMMAND exiting SKIP (77) says it
# lacks a prerequisite: a skip outside CI, a failure under CI=true.
SKIP=77
step() {
	local name=$1 rc limit=${LIMIT:-$STEP_LIMIT}
	shift
	printf '\n=== %s\n' "$name"
	if [[ -n $INJECT && $name == "$INJECT" ]]; then
		injected=1
		set -- ci_injected_failure
	fi
	if [[ -n $INJECT_HANG && $name == "$INJECT_HANG" ]]; then
		injected=1
		set -- ci_injected_hang
	fi
	set +e
	limited "$limit" "$@"
	rc=$?
	set -e
	if ((rc == 124)); then
		printf '\nFAILED step: %s (hung: over its limit of %s s)\n' "$name" "$limit"
		summary 1
		exit 1
	fi
	if ((rc == SKIP)) && [[ ${CI:-} != true ]]; then
		printf '\n=== %s: SKIPPED (allowed outside CI only; under CI=true it fails)\n' "$name"
		skipped+=("$name")
		return 0
	fi
	if ((rc != 0)); then
		if ((rc == SKIP)); then
			printf '\nCI=true: a step that lacks a prerequisite fails, it does not skip\n'
		fi
		printf '\nFAILED step: %s (exit %d)\n' "$name" "$rc"
		summary 1
		exit 1
	fi
	passed=$((passed + 1))
}

full_step() { # full_step NAME COMMAND...: a step that --quick leaves out
	if ((QUICK == 1)); then
		printf '\n=== %s: left out by --quick\n' "$1"
		skipped+=("$1 (--quick)")
	else
		step "$@"
	fi
}

# ---- multi-command steps ----------------------------------------------------------------------

check_header() { # the C header is what cbindgen generates, and every declared function is exported
	local gen missing=0 f
	command -v cbindgen >/dev/null || { echo "cbindgen missing: run scripts/install-deps.sh"; return 1; }
	gen="$(mktemp)"
	(cd crates/zmemif && cbindgen --config cbindgen.toml -o "$gen" 2>/dev/null)
	if ! diff -u crates/zmemif/include/zmemif.h "$gen"; then
		echo "include/zmemif.h is stale: run (cd crates/zmemif && cbindgen --config cbindgen.toml -o include/zmemif.h)"
		rm -f "$gen"
		return 1
	fi
	rm -f "$gen"
	# The TypeScript's numbers (codes, flags, struct offsets) are generated from the header.
	"$BUN" scripts/gen-abi.ts --check || return 1
	for f in $(grep -oE '\bzmemif_[a-z_0-9]+\(' crates/zmemif/include/zmemif.h | tr -d '(' | sort -u); do
		if ! nm -D --defined-only target/release/libzmemif.so | grep -q " T $f$"; then
			echo "not exported: $f"
			missing=1
		fi
	done
	return "$missing"
}

# no_skips LOG REGEX WHAT: under CI=true, fail when LOG has a line matching REGEX (a summary that
# counts skipped tests); outside CI only say so.
no_skips() {
	local log=$1 re=$2 what=$3 hits
	hits="$(grep -E "$re" "$log" || true)"
	if [[ -z $hits ]]; then
		return 0
	fi
	printf '%s\n' "$hits"
	if [[ ${CI:-} == true ]]; then
		echo "CI=true: $what must be 0; a test whose prerequisite is missing fails under CI, it does not skip"
		return 1
	fi
	echo "note: $what is not 0 (allowed only outside CI)"
}

miri_tests() { # the tests that touch no syscall: ring and descriptor indexes, wire layout, bounds
	cargo +nightly miri test -p zmemif --lib -- ring:: wire:: conn::tests::default_layout \
		conn::tests::huge_layout conn::tests::descriptors region::tests::bounds
}

fuzz_smoke() { # 60 s per cargo-fuzz target from its committed corpus: no crash, no hang
	local t new
	(cd crates/zmemif/fuzz && cargo +nightly fuzz build -O) || return 1
	for t in control_decode handshake ring; do
		# New inputs go to a scratch directory (libFuzzer writes to the first), not the committed corpus.
		new="$(mktemp -d)"
		(cd crates/zmemif/fuzz && cargo +nightly fuzz run -O "$t" "$new" "corpus/$t" -- \
			-max_total_time=60 -timeout=10 -print_final_stats=1) || return 1
		rm -rf "$new"
	done
}

rust_tests() {
	local log
	log="$(mktemp)"
	# --features node as in the build step: the same library, so this does not rebuild it without
	# the N-API binding that the Node.js tests load.
	cargo test --release -p zmemif --features node 2>&1 | tee "$log"
	no_skips "$log" '^test result: .*; [1-9][0-9]* ignored;' "ignored Rust tests"
	rm -f "$log"
}

bun_tests() {
	local log
	log="$(mktemp)"
	"$BUN" test 2>&1 | tee "$log"
	no_skips "$log" '^ *[1-9][0-9]* (skip|todo)$' "skipped/todo Bun tests"
	rm -f "$log"
}

# The tarballs tests/package.test.ts installs (bun add, npm install) in projects without Rust.
export ZMEMIF_PACKAGES="$ROOT/target/packages"
package_tarballs() {
	rm -rf "$ZMEMIF_PACKAGES"
	bash scripts/package.sh "$ZMEMIF_PACKAGES"
}

forwarder_e2e() { # e2e.sh exits 2 when it lacks root, ip, ethtool or python3
	local rc=0
	bash forwarder/tests/e2e.sh || rc=$?
	if ((rc == 2)) && [[ $(id -u) != 0 ]]; then
		echo "forwarder/tests/e2e.sh needs root (network namespaces)"
		return "$SKIP"
	fi
	return "$rc"
}

try_forwarder() { # the README's walk-through run as written; then nothing of it may be left
	local log ns pids n p
	log=$(mktemp)
	bash scripts/try-forwarder.sh 20 >"$log" 2>&1 || { cat "$log"; rm -f "$log"; return 1; }
	cat "$log"
	ns=$(sed -n 's/.*1\. namespaces \([^ ]*\) (forwarder) and \([^ ]*\) (client).*/\1 \2/p' "$log")
	pids=$(sed -n 's/.*stopped pids \([0-9]*\) (forwarder) \([0-9]*\) (echo).*/\1 \2/p' "$log")
	rm -f "$log"
	[[ -n $ns && -n $pids ]] || { echo "try-forwarder.sh did not name its namespaces and pids"; return 1; }
	for n in $ns; do
		if ip netns list | grep -qw "$n"; then echo "namespace $n left behind"; return 1; fi
	done
	for p in $pids; do
		if kill -0 "$p" 2>/dev/null; then echo "pid $p left running"; return 1; fi
	done
}

# ---- the steps, in order (one line each) ------------------------------------------------------

LIMIT=2400 step "install dependencies" bash scripts/install-deps.sh
step "rustfmt" cargo fmt --all --check
step "clippy (-D warnings)" cargo clippy --release --all-targets -- -D warnings
step "clippy with the N-API binding (--features node)" cargo clippy --release -p zmemif --all-targets --features node -- -D warnings
step "build (C ABI + N-API binding)" cargo build --release -p zmemif --features node
step "build the testpmd launcher (support/testpmd: the Bun tests and the benches run it)" cargo build --release -p zmemif-testpmd
step "C header is what cbindgen generates (ts/native/abi.ts what it gives); every function exported" check_header
step "no import cycle (crates/zmemif/src, except scripts/cycles-allow.txt; ts/, none)" "$BUN" scripts/check-cycles.ts
step "Rust tests (unit, two-process, hostile peer, dpdk-testpmd interop)" rust_tests
step "miri: ring and index tests (cargo +nightly miri test)" miri_tests
full_step "fuzz: 60 s per cargo-fuzz target (crates/zmemif/fuzz)" fuzz_smoke
step "TypeScript type check (strict)" "$ROOT/node_modules/.bin/tsc" --noEmit
step "TypeScript format and lint (Biome: bun run lint; bun run format fixes)" "$BUN" run lint
step "forwarder: build (the Bun UDP tests use it)" make -s -C forwarder
step "npm tarballs (scripts/package.sh; tests/package.test.ts installs them)" package_tarballs
step "Bun tests" bun_tests
full_step "benchmark smoke run" "$BUN" run benches/pps.ts --smoke
full_step "forwarder: end-to-end test (network namespaces, Bun echo)" forwarder_e2e
full_step "forwarder: scripts/try-forwarder.sh as written, leaving nothing behind" try_forwarder
# Add steps above this line; the self-test stays last (its inner run stops at an early step).
step "CI script self-test (an injected failing or hanging step turns the run red)" bash scripts/ci-selftest.sh

if [[ -n $INJECT$INJECT_HANG && $injected == 0 ]]; then
	printf '\nFAILED: ZMEMIF_CI_INJECT_FAIL/HANG=%q names no step that ran\n' "$INJECT$INJECT_HANG"
	summary 1
	exit 1
fi
if ((${#skipped[@]} > 0)); then
	printf '\nsteps not run: %s\n' "$(IFS=';'; echo "${skipped[*]}" | sed 's/;/; /g')"
fi
summary 0
