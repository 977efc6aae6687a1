#!/usr/bin/env bash
# Writes the npm tarballs of zmemif into OUTDIR: the main package (compiled JavaScript + .d.ts in
# dist/ for Node.js, the TypeScript in ts/ for Bun) and one package per platform built here, each
# carrying the one native file (C ABI for bun:ffi + N-API binding for Node.js), napi-rs naming.
#   bash scripts/package.sh OUTDIR
# Platforms: every target of package.json's "napi.targets" that can be built here; the others
# are named and skipped. A target whose Rust standard library is installed (`rustup target list
# --installed`) builds with the default toolchain; another one builds with nightly, which compiles
# the standard library from its rust-src component (`-Z build-std`, cached in target/<triple>/).
# A cross target also needs its linker in PATH (scripts/install-deps.sh installs them from Debian).
# The main package lists the ones built as optionalDependencies of the same version. No install
# script anywhere: the main package picks its platform's package at run time (ts/native/locate.ts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-}"
if [[ -z $OUT || $OUT == -h || $OUT == --help ]]; then
	sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	[[ -n $OUT ]] && exit 0
	exit 2
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
BUN="$ROOT/node_modules/.bin/bun"
NAPI="$ROOT/node_modules/.bin/napi"
STAGE="$ROOT/target/npm"
step() { printf '[package] %s\n' "$*"; }
die() { printf '[package] ERROR: %s\n' "$*" >&2; exit 1; }
[[ -x $NAPI ]] || die "@napi-rs/cli missing: run scripts/install-deps.sh (npm install)"

VERSION="$("$BUN" -e 'console.log(require("./package.json").version)')"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
INSTALLED="$(rustup target list --installed 2>/dev/null || echo "$HOST")"
# Targets nightly can build its standard library for (needs the rust-src component).
BUILD_STD=""
if rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
	BUILD_STD="$(rustc +nightly --print target-list)"
fi

# The napi-rs package directories (npm/<platform>/package.json with os/cpu/libc).
rm -rf "$STAGE"
"$NAPI" create-npm-dirs --npm-dir target/npm >/dev/null

# triple -> napi-rs platform name, and the C linker a cross build needs.
declare -A PLATFORM=(
	[x86_64-unknown-linux-gnu]=linux-x64-gnu
	[x86_64-unknown-linux-musl]=linux-x64-musl
	[aarch64-unknown-linux-gnu]=linux-arm64-gnu
)
# musl: Zig links (`napi build -x` runs cargo-zigbuild): Debian's musl-gcc has no libgcc_s to
# link the unwinder against, Zig builds LLVM's libunwind for musl and links it in statically.
declare -A LINKER=([x86_64-unknown-linux-musl]=zig [aarch64-unknown-linux-gnu]=aarch64-linux-gnu-gcc)
CROSS="${ZMEMIF_CROSS:-/opt/zmemif-cross}" # zig and cargo-zigbuild (scripts/install-deps.sh)
export PATH="$CROSS/bin:$PATH"
built=()
for triple in $("$BUN" -e 'console.log(require("./package.json").napi.targets.join(" "))'); do
	key="${PLATFORM[$triple]:-}"
	[[ -n $key ]] || die "no platform name for $triple: add it to scripts/package.sh"
	toolchain=() cargo_args=()
	if ! grep -qx "$triple" <<<"$INSTALLED"; then
		if ! grep -qx "$triple" <<<"$BUILD_STD"; then
			step "skip $key: Rust target $triple is not installed (rustup target add $triple)," \
				"nor nightly with rust-src to build its standard library"
			continue
		fi
		toolchain=(RUSTUP_TOOLCHAIN=nightly) cargo_args=(-- -Z build-std)
	fi
	linker="${LINKER[$triple]:-}" env_linker=() zig=()
	if [[ $linker == zig ]]; then
		if ! command -v zig >/dev/null || ! command -v cargo-zigbuild >/dev/null; then
			step "skip $key: zig and cargo-zigbuild not in PATH (scripts/install-deps.sh installs them in $CROSS)"
			continue
		fi
		zig=(--cross-compile)
	elif [[ -n $linker ]]; then
		if ! command -v "$linker" >/dev/null; then
			step "skip $key: linker $linker not in PATH (scripts/install-deps.sh installs it)"
			continue
		fi
		env_linker=("CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$triple")_LINKER=$linker")
	fi
	step "build $key ($triple${cargo_args[*]:+, nightly -Z build-std}${zig[*]:+, Zig links})"
	env "${toolchain[@]}" "${env_linker[@]}" "$NAPI" build --platform --release --strip --features node \
		"${zig[@]}" --target "$triple" --manifest-path crates/zmemif/Cargo.toml --output-dir "target/npm/$key" \
		--no-js "${cargo_args[@]}" >/dev/null
	rm -f "target/npm/$key/index.d.ts" # napi-rs' generated types: ours are ts/native/node.ts
	# Node's require() takes the .node file (package "main"); Bun takes its path through ./bun.js,
	# which `bun build --compile` follows to embed the file in the executable.
	"$BUN" scripts/package-manifest.ts platform "target/npm/$key" "$key"
	built+=("$key")
done
((${#built[@]} > 0)) || die "no platform could be built (need at least $HOST)"

step "compile ts/ to dist/ (JavaScript for Node.js >= 20, .d.ts)"
rm -rf dist
"$ROOT/node_modules/.bin/tsc" -p tsconfig.build.json
"$BUN" scripts/prune-dts.ts dist # the .d.ts no public one imports (tests/dts.test.ts checks)

step "main package zmemif $VERSION (optionalDependencies: ${built[*]})"
MAIN="$STAGE/zmemif"
mkdir -p "$MAIN/crates/zmemif"
cp -r bin dist ts README.md "$MAIN/"
cp -r crates/zmemif/include "$MAIN/crates/zmemif/"
[[ -f LICENSE ]] && cp LICENSE "$MAIN/"
"$BUN" scripts/package-manifest.ts main "$MAIN" "${built[@]}"

for dir in "$MAIN" "${built[@]/#/$STAGE/}"; do
	(cd "$dir" && "$BUN" pm pack --destination "$OUT" --quiet --ignore-scripts >/dev/null)
done
step "wrote:"
ls -1 "$OUT"/*.tgz | sed 's/^/  /'
