/**
 * Fails (exit 1) on an import cycle:
 *  - among the Rust modules crates/zmemif/src/*.rs (edges from `use crate::...` and `crate::x::`
 *    paths in the module's file and in its folder src/<module>/, if it has one; names re-exported
 *    by lib.rs resolve to the module that defines them), except for the
 *    edges listed in scripts/cycles-allow.txt (known cycles being taken apart; a new one fails);
 *  - among ts/**\/*.ts (relative imports and re-exports, `import type` included): none allowed.
 *
 *   bun scripts/check-cycles.ts
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

type Graph = Map<string, Set<string>>;

function addEdge(g: Graph, from: string, to: string): void {
  if (from === to) return;
  let s = g.get(from);
  if (s === undefined) g.set(from, (s = new Set()));
  s.add(to);
}

/** Strongly connected components with more than one node (Tarjan). */
export function cycles(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One path around a cycle inside `scc`, for the message. */
function cyclePath(g: Graph, scc: string[]): string {
  const inScc = new Set(scc);
  const start = scc[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of g.get(v) ?? []) {
      if (!inScc.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)!) path.splice(1, 0, u);
        return [...path, start].join(" -> ");
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return scc.join(", ");
}

// ---- Rust ----

function rustGraph(): Graph {
  const dir = join(ROOT, "crates/zmemif/src");
  const mods = readdirSync(dir)
    .filter((f) => f.endsWith(".rs") && f !== "lib.rs")
    .map((f) => f.slice(0, -3));
  const modSet = new Set(mods);
  // lib.rs: `pub use module::{A, B};` / `pub use module::A;` -> where crate::A lives
  const reexport = new Map<string, string>();
  const lib = readFileSync(join(dir, "lib.rs"), "utf8");
  for (const m of lib.matchAll(/pub use (\w+)::(?:\{([^}]*)\}|(\w+));/g)) {
    const names = m[2] !== undefined ? m[2].split(",") : [m[3]!];
    for (const n of names) if (n.trim() !== "") reexport.set(n.trim(), m[1]!);
  }
  const target = (name: string): string | undefined => (modSet.has(name) ? name : reexport.get(name));
  const g: Graph = new Map();
  for (const mod of mods) {
    g.set(mod, g.get(mod) ?? new Set());
    // A module's files: mod.rs and, for a module split into a folder, every file under src/mod/.
    const src = moduleFiles(dir, mod)
      .map((f) => readFileSync(f, "utf8"))
      .join("\n")
      .replace(/\/\/.*$/gm, "");
    // use crate::{a, b::C, D};
    for (const m of src.matchAll(/crate::\{([^}]*)\}/g)) {
      for (const part of m[1]!.split(",")) {
        const t = target(part.trim().split("::")[0]!.trim());
        if (t !== undefined) addEdge(g, mod, t);
      }
    }
    // crate::a::... and crate::Name
    for (const m of src.matchAll(/crate::(\w+)/g)) {
      const t = target(m[1]!);
      if (t !== undefined) addEdge(g, mod, t);
    }
  }
  return g;
}

/** `src/<mod>.rs` and every `.rs` file under `src/<mod>/` (its submodules belong to it). */
function moduleFiles(dir: string, mod: string): string[] {
  const files = [join(dir, `${mod}.rs`)];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".rs")) files.push(p);
    }
  };
  if (existsSync(join(dir, mod))) walk(join(dir, mod));
  return files;
}

function allowList(): { edges: [string, string][]; file: string } {
  const file = join(ROOT, "scripts/cycles-allow.txt");
  const edges: [string, string][] = [];
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const m = /^(\w+)\s*->\s*(\w+)$/.exec(line);
    if (m === null) throw new Error(`${file}: cannot read "${raw}" (want "from -> to")`);
    edges.push([m[1]!, m[2]!]);
  }
  return { edges, file };
}

// ---- TypeScript ----

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function tsGraph(): Graph {
  const g: Graph = new Map();
  const files = tsFiles(join(ROOT, "ts"));
  for (const f of files) {
    const from = relative(ROOT, f);
    g.set(from, g.get(from) ?? new Set());
    const src = readFileSync(f, "utf8");
    // import ... from "./x.ts"; import type ...; export ... from "./x.ts"; import "./x.ts";
    const re = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']/g;
    for (const m of src.matchAll(re)) addEdge(g, from, relative(ROOT, resolve(dirname(f), m[1]!)));
  }
  return g;
}

if (import.meta.main) {
  let failed = false;

  const rust = rustGraph();
  const { edges, file } = allowList();
  for (const [a, b] of edges) {
    if (!rust.get(a)?.has(b)) {
      console.log(`note: ${relative(ROOT, file)} allows ${a} -> ${b}, which no longer exists: remove that line`);
    }
    rust.get(a)?.delete(b);
  }
  const rc = cycles(rust);
  for (const scc of rc) {
    failed = true;
    console.error(`Rust import cycle among crates/zmemif/src: ${cyclePath(rust, scc)}`);
  }
  if (rc.length === 0) {
    console.log(
      `Rust: no import cycle among ${rust.size} modules ` +
        `(${edges.length} known edge(s) allowed in ${relative(ROOT, file)})`,
    );
  }

  const ts = tsGraph();
  const tc = cycles(ts);
  for (const scc of tc) {
    failed = true;
    console.error(`TypeScript import cycle: ${cyclePath(ts, scc)}`);
  }
  if (tc.length === 0) console.log(`TypeScript: no import cycle among ${ts.size} files in ts/`);
  if (failed) {
    console.error("import cycles: make the dependency run one way (pass a small interface down instead)");
    process.exit(1);
  }
}
