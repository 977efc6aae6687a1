/**
 * Bun only: the native library inside a `bun build --compile` executable. The bundler follows
 * these static require()s into the platform package's bun.js, whose `with { type: "file" }`
 * import embeds the library; at run time the path points into the executable and bun:ffi's
 * dlopen opens it from there. Outside an executable (a plain `bun` run) that import throws, as
 * does a platform package that is not installed: undefined then, and locate.ts looks on disk (and
 * says what to do when the package is missing).
 */
import type { Embedded } from "./locate.ts";

interface PlatformModule {
  default: string;
  version: string;
}

/**
 * One literal per platform, each require() directly in its own try block: the bundler follows
 * static specifiers only, and tolerates a missing package only inside a try.
 */
function load(key: string): PlatformModule | undefined {
  switch (key) {
    case "linux-x64-gnu":
      try {
        return require("zmemif-linux-x64-gnu/bun");
      } catch {
        return undefined;
      }
    case "linux-x64-musl":
      try {
        return require("zmemif-linux-x64-musl/bun");
      } catch {
        return undefined;
      }
    case "linux-arm64-gnu":
      try {
        return require("zmemif-linux-arm64-gnu/bun");
      } catch {
        return undefined;
      }
  }
  return undefined;
}

export function embedded(key: string): Embedded | undefined {
  const m = load(key);
  if (m === undefined || typeof m.default !== "string") return undefined;
  return { path: m.default, version: m.version, mainVersion: require("../../package.json").version };
}
