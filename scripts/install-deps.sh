#!/usr/bin/env bash
# Installs what zmemif needs to build and test on Debian 12, as root. Idempotent: when
# everything is present it only checks, in well under a second.
#   DPDK 22.11 (dpdk-testpmd, headers, pkg-config), meson/ninja for forwarder/, iproute2/ethtool,
#   Bun 1.4.4 from npm into ./node_modules (package.json devDependency), and a Rust toolchain check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(dpdk-dev libdpdk-dev meson ninja-build pkg-config iproute2 ethtool)
BUN_VERSION=1.4.4

step() { printf '[install-deps] %s\n' "$*"; }
die() { printf '[install-deps] ERROR: %s\n' "$*" >&2; exit 1; }

# --- apt ---------------------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
	status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	step "apt: all present (${APT_PACKAGES[*]})"
else
	[[ $(id -u) -eq 0 ]] || die "apt packages missing (${missing[*]}): run as root"
	command -v apt-get >/dev/null || die "apt-get not found: this script targets Debian 12"
	step "apt: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not in PATH after installing dpdk-dev"
step "dpdk: $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), testpmd at $(command -v dpdk-testpmd)"

# --- node/npm (only to fetch Bun) --------------------------------------------------------------
BUN="$ROOT/node_modules/.bin/bun"
if [[ ! -x $BUN ]]; then
	if ! command -v npm >/dev/null; then
		[[ $(id -u) -eq 0 ]] || die "npm missing: run as root or install nodejs/npm"
		step "apt: installing nodejs npm (to fetch Bun)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	if [[ ! -f $ROOT/package.json ]]; then
		step "package.json: none, writing a minimal one"
		cat >"$ROOT/package.json" <<EOF
{
  "name": "zmemif",
  "private": false,
  "devDependencies": {
    "bun": "$BUN_VERSION",
    "bun-types": "$BUN_VERSION",
    "typescript": "5.9.3"
  }
}
EOF
	fi
	step "npm: installing devDependencies (bun $BUN_VERSION) into $ROOT/node_modules"
	(cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error)
fi
# With npm's ignore-scripts set, the bun package's postinstall (which puts the platform binary
# in place) did not run and `bun` only prints "Bun's postinstall script was not run": run it.
if ! "$BUN" --version >/dev/null 2>&1 && [[ -f $ROOT/node_modules/bun/install.js ]]; then
	step "bun: postinstall was not run, running node_modules/bun/install.js"
	(cd "$ROOT/node_modules/bun" && node install.js)
fi
have="$("$BUN" --version 2>/dev/null)" || die "$BUN does not run: rm -rf node_modules and retry"
[[ $have == "$BUN_VERSION" ]] || step "bun: WARNING: $have found, $BUN_VERSION expected (npm install)"
step "bun: $have at node_modules/.bin/bun"

# --- Rust --------------------------------------------------------------------------------------
if command -v cargo >/dev/null || [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
	cargo_bin="$(command -v cargo || echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo")"
	step "rust: $("$cargo_bin" --version)"
else
	step "rust: cargo NOT found; install with:"
	step "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\""
	exit 1
fi

# --- machine notes -----------------------------------------------------------------------------
step "cpus: $(nproc) (DPDK peers in tests need 2: one per busy poller); hugepages not needed (--no-huge)"
step "done"
