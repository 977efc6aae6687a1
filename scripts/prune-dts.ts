/**
 * Drops from a compiled dist/ the declaration files that no public one needs: keeps the .d.ts
 * files reachable from the entries' (relative `import`/`export ... from` and `import("...")`
 * types), removes the others (the native backend, the loop helpers, ...), so the package's types
 * show only the public API. Run after `tsc -p tsconfig.build.json` (whose stripInternal leaves
 * out the declarations marked @internal); tests/dts.test.ts checks the result.
 *   bun scripts/prune-dts.ts DIST [ENTRY.d.ts ...]     (default entries: index.d.ts node.d.ts)
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const [dist, ...given] = process.argv.slice(2);
if (dist === undefined || dist === "-h" || dist === "--help") {
  console.log("usage: bun scripts/prune-dts.ts DIST [ENTRY.d.ts ...]");
  process.exit(dist === undefined ? 2 : 0);
}
const root = resolve(dist);
const entries = (given.length > 0 ? given : ["index.d.ts", "node.d.ts"]).map((e) => join(root, e));

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** The .d.ts a relative specifier in a .d.ts names ("./port.ts", "./port.js" → port.d.ts). */
function declarationOf(from: string, spec: string): string {
  return resolve(dirname(from), spec).replace(/\.(ts|js|mts|mjs)$/, "") + ".d.ts";
}

const keep = new Set<string>();
const todo = [...entries];
while (todo.length > 0) {
  const file = todo.pop()!;
  if (keep.has(file)) continue;
  keep.add(file);
  for (const m of readFileSync(file, "utf8").matchAll(SPECIFIER)) todo.push(declarationOf(file, m[1]!));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith(".d.ts") ? [join(dir, d.name)] : [],
  );
}

const dropped = walk(root).filter((f) => !keep.has(f));
for (const f of dropped) rmSync(f);
console.log(
  `prune-dts: kept ${keep.size} declaration files, dropped ${dropped.length}: ` +
    dropped.map((f) => relative(root, f)).join(" "),
);
