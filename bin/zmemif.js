#!/usr/bin/env node
// The `zmemif` command (package.json "bin"): Bun runs the TypeScript (ts/cli/bun.ts, bun:ffi),
// Node.js the compiled JavaScript (dist/cli/node.js, N-API). `zmemif --help` lists the commands.
if (process.versions.bun !== undefined) await import("../ts/cli/bun.ts");
else await import("../dist/cli/node.js");
