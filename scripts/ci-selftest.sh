#!/usr/bin/env bash
# Self-test of scripts/test.sh (CI runs it as test.sh's last step): runs the real test.sh, not a
# copy, with ZMEMIF_CI_INJECT_FAIL=rustfmt and checks that the run goes red: a non-zero exit, a
# line naming the failed step, no step after it, a failing command inside the step stopping it,
# and `checks: 1 passed, 1 failed` as the last line. Then with ZMEMIF_CI_INJECT_HANG=rustfmt and a
# 3 s step limit: the same, the hang named as one, and nothing it started left running. Takes
# about 15 s once scripts/install-deps.sh finds everything installed (test.sh's first step).
#   bash scripts/ci-selftest.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/scripts/test.sh"
STEP=rustfmt

if [[ -n ${ZMEMIF_CI_INJECT_FAIL:-}${ZMEMIF_CI_INJECT_HANG:-} ]]; then
	echo "ci-selftest: ZMEMIF_CI_INJECT_FAIL/HANG=${ZMEMIF_CI_INJECT_FAIL:-}${ZMEMIF_CI_INJECT_HANG:-} is set: a self-test inside a" \
		"self-test means the injected step was never reached (renamed?)"
	exit 1
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# run_injected VAR=VALUE...: test.sh --quick with those variables, its output in $out, its exit
# status in $rc. In a session of its own, so that a runner that fails to stop (the bug this test
# is for) is killed with everything it started after LIMIT seconds.
LIMIT=300
run_injected() {
	echo "ci-selftest: $* bash $TARGET --quick"
	env "$@" setsid bash "$TARGET" --quick >"$out" 2>&1 &
	local pid=$! i
	for ((i = 0; i < LIMIT * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "ci-selftest: test.sh still running after ${LIMIT} s: killing it"
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
	fi
	set +e
	wait "$pid"
	rc=$?
	set -e
	sed 's/^/    | /' "$out"
}

fails=0
expect() { # expect DESCRIPTION TEST...: one line per check
	local what=$1
	shift
	if "$@"; then
		echo "ci-selftest: ok    $what"
	else
		echo "ci-selftest: WRONG $what"
		fails=$((fails + 1))
	fi
}
has_line() { grep -qxF -- "$1" "$out"; }
lacks() { ! grep -qF -- "$1" "$out"; }
# stopped_at STEP: the run is red, stopped at STEP, with nothing after it and the right last line.
stopped_at() {
	expect "exit status is not 0 (it is $rc)" test "$rc" -ne 0
	expect "the step before it ran and passed" has_line "=== install dependencies"
	expect "the injected step ran" has_line "=== $1"
	expect "no step ran after it" lacks "=== clippy"
	expect "the last line counts the pass and the failure" \
		test "$(tail -n 1 "$out")" = "checks: 1 passed, 1 failed"
}

run_injected ZMEMIF_CI_INJECT_FAIL=$STEP
stopped_at "$STEP"
expect "a failing command inside the step stopped it" lacks "NOT STOPPED"
expect "the failure names the step" has_line "FAILED step: $STEP (exit 1)"

# A hanging step: with a 3 s limit it is killed, with the processes it started, and named.
run_injected ZMEMIF_CI_INJECT_HANG=$STEP ZMEMIF_STEP_LIMIT=3
stopped_at "$STEP"
expect "the hang was cut at its limit" has_line "FAILED step: $STEP (hung: over its limit of 3 s)"
expect "the hang's processes were shown" grep -q "sleep 100000" "$out"
expect "the hanging step did not run on" lacks "NOT KILLED"
sleep 1
expect "nothing of the hanging step is left running" \
	bash -c '! pgrep -f "^sleep 100000$" >/dev/null'

if ((fails > 0)); then
	echo "ci-selftest: $fails check(s) wrong: scripts/test.sh can pass with a failing step"
	exit 1
fi
echo "ci-selftest: a failing or hanging step turns scripts/test.sh red, naming the step"
