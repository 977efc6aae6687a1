/**
 * Finding the native library, for both runtimes. One file per platform carries the C ABI (for
 * bun:ffi) and the N-API binding (for Node.js); it ships as its own npm package, an optional
 * dependency of `zmemif` with the same version. Looked for, in order:
 *   1. $ZMEMIF_LIB, when set (any path: a built libzmemif.so or a package's .node file);
 *   2. the platform package `zmemif-<platform>` (napi-rs naming), e.g. zmemif-linux-x64-gnu;
 *   3. in a clone of the repository, target/release/libzmemif.so (`cargo build --release`).
 * Every failure is a MemifError that says what to do.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { MemifError } from "../errors.ts";

/** The platforms a package can be built for (scripts/package.sh), as napi-rs names them. */
export const PLATFORMS = ["linux-x64-gnu", "linux-x64-musl", "linux-arm64-gnu"] as const;
export type PlatformKey = (typeof PLATFORMS)[number];

/** The oldest Node.js zmemif runs on. */
export const MIN_NODE_MAJOR = 20;

const requireHere = createRequire(import.meta.url);
/** The package's root: ts/native/ and dist/native/ are both two levels below it. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface Located {
  /** the file to load */
  path: string;
  /** how it was found, for messages */
  from: "ZMEMIF_LIB" | "package" | "build";
}

/** The version of the zmemif package this module belongs to. */
export function mainVersion(): string {
  return (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { version: string }).version;
}

/**
 * The C library a Linux process runs on, read from the files mapped into it (`/proc/self/maps`):
 * glibc's `libc.so.6` (`libc-2.NN.so` before glibc 2.34), or musl's loader (`ld-musl-<arch>.so.1`
 * on Alpine, `<arch>-linux-musl/libc.so` on Debian). The same for Node.js and Bun, whatever they
 * report about themselves; undefined when neither is there (a static binary, no /proc).
 */
export function libcFromMaps(maps: string): "gnu" | "musl" | undefined {
  if (/\/libc(\.so\.6|-2\.\d+\.so)$/m.test(maps)) return "gnu";
  if (/\/(ld-musl-[^/\s]+\.so\.1|libc\.musl-[^/\s]+\.so\.1|[^/\s]+-linux-musl[^/\s]*\/libc\.so)$/m.test(maps))
    return "musl";
  return undefined;
}

function isMusl(): boolean {
  let maps = "";
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    // no /proc: fall through to the runtime's own report
  }
  const libc = libcFromMaps(maps);
  if (libc !== undefined) return libc === "musl";
  // Node.js reports the glibc it runs on; musl has none.
  const report = (process as { report?: { getReport?: () => unknown } }).report?.getReport?.() as
    | { header?: { glibcVersionRuntime?: string } }
    | undefined;
  if (report?.header !== undefined) return report.header.glibcVersionRuntime === undefined;
  return existsSync("/etc/alpine-release");
}

/** This machine's platform as napi-rs names it ("linux-x64-gnu"), whether supported or not. */
export function platformKey(): string {
  const base = `${process.platform}-${process.arch}`;
  return process.platform === "linux" ? `${base}-${isMusl() ? "musl" : "gnu"}` : base;
}

/** `zmemif-linux-x64-gnu`: the npm package that carries this platform's library. */
export function packageName(key: string): string {
  return `zmemif-${key}`;
}

/** `zmemif.linux-x64-gnu.node`: the library's file name in its package. */
export function binaryName(key: string): string {
  return `zmemif.${key}.node`;
}

/** Throws UNSUPPORTED_PLATFORM unless Node.js is recent enough (no-op under Bun). */
export function checkRuntime(): void {
  if (process.versions.bun !== undefined) return;
  const major = Number(process.versions.node.split(".")[0]);
  if (major < MIN_NODE_MAJOR) {
    throw new MemifError(
      "UNSUPPORTED_PLATFORM",
      `zmemif needs Node.js >= ${MIN_NODE_MAJOR}, this is ${process.versions.node}: upgrade Node.js ` +
        `(or run it with Bun)`,
    );
  }
}

/** The library inside a `bun build --compile` executable, and its package's version. */
export interface Embedded {
  path: string;
  /** the platform package's version */
  version: string;
  /** this package's version (an executable has no package.json to read it from) */
  mainVersion: string;
}

function checkVersion(pkg: string, theirs: string, version = mainVersion()): void {
  if (theirs !== version) {
    throw new MemifError(
      "LIBRARY_LOAD_FAILED",
      `zmemif ${version} found ${pkg} ${theirs}: the versions must be equal; install ` +
        `${pkg}@${version} (\`npm install ${pkg}@${version}\` or \`bun add ${pkg}@${version}\`)`,
    );
  }
}

/**
 * Where the library is. `embedded` (Bun) returns the file a `bun build --compile` executable
 * carries, when the bundler found the platform package; undefined otherwise.
 */
export function locate(embedded?: (key: string) => Embedded | undefined): Located {
  const override = process.env.ZMEMIF_LIB;
  if (override !== undefined && override !== "") {
    if (!existsSync(override)) {
      throw new MemifError(
        "LIBRARY_NOT_FOUND",
        `ZMEMIF_LIB=${override}: no such file; point it at a zmemif library (libzmemif.so or ` +
          `zmemif.<platform>.node) or unset it`,
      );
    }
    return { path: override, from: "ZMEMIF_LIB" };
  }
  const key = platformKey();
  if (!(PLATFORMS as readonly string[]).includes(key)) {
    throw new MemifError(
      "UNSUPPORTED_PLATFORM",
      `zmemif has no native library for ${key}; supported: ${PLATFORMS.join(", ")} (memif needs Linux ` +
        "shared memory, eventfd and SCM_RIGHTS). Set ZMEMIF_LIB to a library you built for this machine",
    );
  }
  const pkg = packageName(key);
  const inside = embedded?.(key);
  if (inside !== undefined) {
    checkVersion(pkg, inside.version, inside.mainVersion);
    return { path: inside.path, from: "package" };
  }

  let pkgJson: string | undefined;
  try {
    pkgJson = requireHere.resolve(`${pkg}/package.json`);
  } catch {
    pkgJson = undefined;
  }
  if (pkgJson !== undefined) {
    const theirs = (JSON.parse(readFileSync(pkgJson, "utf8")) as { version: string }).version;
    checkVersion(pkg, theirs);
    const path = pkgJson.replace(/package\.json$/, binaryName(key));
    if (!existsSync(path)) {
      throw new MemifError(
        "LIBRARY_NOT_FOUND",
        `${pkg} ${theirs} is installed but has no ${binaryName(key)}: reinstall it`,
      );
    }
    return { path, from: "package" };
  }
  const built = `${ROOT}target/release/libzmemif.so`;
  if (existsSync(built)) return { path: built, from: "build" };
  const clone = existsSync(`${ROOT}Cargo.toml`)
    ? "; in this clone of the repository, `cargo build --release -p zmemif --features node` builds it instead"
    : "";
  throw new MemifError(
    "LIBRARY_NOT_FOUND",
    `zmemif's native library for ${key} is missing: the package ${pkg} is not installed (were optional ` +
      `dependencies skipped?). Add it: \`npm install ${pkg}@${mainVersion()}\` ` +
      `or \`bun add ${pkg}@${mainVersion()}\`${clone}; ` +
      "or set ZMEMIF_LIB to the library's path",
  );
}
