#!/usr/bin/env bash
# Writes the npm tarballs of zmemif into OUTDIR: the main package (compiled JavaScript + .d.ts in
# dist/ for Node.js, the TypeScript in ts/ for Bun) and one package per platform built here, each
# carrying the one native file (C ABI for bun:ffi + N-API binding for Node.js), napi-rs naming.
#   bash scripts/package.sh OUTDIR
# Platforms: every target of package.json's "napi.targets" whose Rust target is installed
# (`rustup target list --installed`) and, when cross-compiling, whose linker is in PATH; the
# others are named and skipped. The main package lists the ones built as optionalDependencies of
# the same version. No install script anywhere: the main package picks its platform's package at
# run time (ts/native/locate.ts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-}"
if [[ -z $OUT || $OUT == -h || $OUT == --help ]]; then
	sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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

# The napi-rs package directories (npm/<platform>/package.json with os/cpu/libc).
rm -rf "$STAGE"
"$NAPI" create-npm-dirs --npm-dir target/npm >/dev/null

# triple -> napi-rs platform name, and the C linker a cross build needs.
declare -A PLATFORM=([x86_64-unknown-linux-gnu]=linux-x64-gnu [x86_64-unknown-linux-musl]=linux-x64-musl [aarch64-unknown-linux-gnu]=linux-arm64-gnu)
declare -A LINKER=([x86_64-unknown-linux-musl]=musl-gcc [aarch64-unknown-linux-gnu]=aarch64-linux-gnu-gcc)
built=()
for triple in $("$BUN" -e 'console.log(require("./package.json").napi.targets.join(" "))'); do
	key="${PLATFORM[$triple]:-}"
	[[ -n $key ]] || die "no platform name for $triple: add it to scripts/package.sh"
	if ! grep -qx "$triple" <<<"$INSTALLED"; then
		step "skip $key: Rust target $triple is not installed (rustup target add $triple)"
		continue
	fi
	if [[ $triple != "$HOST" ]] && ! command -v "${LINKER[$triple]}" >/dev/null; then
		step "skip $key: linker ${LINKER[$triple]} not in PATH"
		continue
	fi
	step "build $key ($triple)"
	env_linker=()
	if [[ $triple != "$HOST" ]]; then
		var="CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$triple")_LINKER"
		env_linker=("$var=${LINKER[$triple]}")
	fi
	env "${env_linker[@]}" "$NAPI" build --platform --release --strip --features node --target "$triple" \
		--manifest-path crates/zmemif/Cargo.toml --output-dir "target/npm/$key" --no-js >/dev/null
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
