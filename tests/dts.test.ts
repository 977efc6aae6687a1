/**
 * The package's types show the public API only (issue 11): dist/ built as scripts/package.sh
 * builds it (`tsc -p tsconfig.build.json`, whose stripInternal leaves out what is marked
 * @internal, then scripts/prune-dts.ts), and every emitted .d.ts read with the TypeScript parser:
 *  - no class or interface member named `_...` (public classes keep their state in #private
 *    fields, and hand other modules small interfaces);
 *  - every exported declaration is exported by the package (ts/api.ts through the entries), or is
 *    a type a public declaration needs (SUPPORT, each still referenced): a new internal export
 *    that reaches the types fails here;
 *  - UdpInterface (`socket.memif`) has the members a user reads, not the sockets' machinery;
 *  - the .d.ts files that remain compile on their own (nothing stripped that they still name).
 */
import { beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const ROOT = join(import.meta.dir, "..");
const OUT = join(ROOT, "target", "dts-check");
const TSC = join(ROOT, "node_modules", ".bin", "tsc");

/** Types that public declarations name, though the package does not export them. */
const SUPPORT = new Set([
  "errors.d.ts:CORE_CODES", // CoreErrorCode = keyof typeof CORE_CODES
  "errors.d.ts:CoreErrorCode", // MemifErrorCode
  "errors.d.ts:LocalErrorCode", // MemifErrorCode
  "errors.d.ts:MemifErrorDetails", // MemifError's constructor
  "events.d.ts:TypedEmitter", // Port's base class
  "capture/capture.d.ts:Tap", // Capture.tap(), which queues call (ts/capture is the "tooling" worktree's)
]);

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith(".d.ts") ? [join(dir, d.name)] : [],
  );
}

const files = new Map<string, ts.SourceFile>();

function parse(file: string): ts.SourceFile {
  let sf = files.get(file);
  if (sf === undefined) {
    sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    files.set(file, sf);
  }
  return sf;
}

const isExported = (st: ts.Statement) =>
  (ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ===
  true;

/** The names a .d.ts declares with `export`. */
function declared(file: string): string[] {
  const names: string[] = [];
  for (const st of parse(file).statements) {
    if (!isExported(st)) continue;
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) names.push(d.name.getText());
    else if ("name" in st && st.name !== undefined) names.push((st.name as ts.Identifier).text);
  }
  return names;
}

function target(from: string, spec: string): string {
  return resolve(dirname(from), spec).replace(/\.(ts|js)$/, "") + ".d.ts";
}

/** "file:name" of every declaration the entry re-exports (export * / export { } from). */
function publicOf(file: string, out: Set<string>, only: Set<string> | null = null): void {
  for (const n of declared(file)) if (only === null || only.has(n)) out.add(`${relative(OUT, file)}:${n}`);
  for (const st of parse(file).statements) {
    if (!ts.isExportDeclaration(st) || st.moduleSpecifier === undefined) continue;
    const to = target(file, (st.moduleSpecifier as ts.StringLiteral).text);
    const clause = st.exportClause;
    if (clause === undefined) publicOf(to, out, only);
    else if (ts.isNamedExports(clause)) {
      publicOf(to, out, new Set(clause.elements.map((e) => (e.propertyName ?? e.name).getText())));
    }
  }
}

let all: string[] = [];

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  const build = Bun.spawnSync([TSC, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", OUT], { stderr: "pipe" });
  expect(build.exitCode, build.stdout.toString() + build.stderr.toString()).toBe(0);
  const prune = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "prune-dts.ts"), OUT], { stderr: "pipe" });
  expect(prune.exitCode, prune.stderr.toString()).toBe(0);
  all = walk(OUT);
}, 120_000);

test("no .d.ts member is named _internal", () => {
  const found: string[] = [];
  const visit = (file: string, node: ts.Node): void => {
    if (
      (ts.isClassElement(node) || ts.isTypeElement(node)) &&
      node.name !== undefined &&
      ts.isIdentifier(node.name) &&
      node.name.text.startsWith("_")
    ) {
      found.push(`${relative(OUT, file)}: ${node.name.text}`);
    }
    ts.forEachChild(node, (n) => visit(file, n));
  };
  for (const f of all) visit(f, parse(f));
  expect(found).toEqual([]);
});

test("every declaration in the .d.ts is public, or a type a public one needs", () => {
  const pub = new Set<string>();
  for (const entry of ["index.d.ts", "node.d.ts"]) publicOf(join(OUT, entry), pub);
  expect(pub.has("socket.d.ts:MemifSocket")).toBe(true); // the walk itself works
  const internal: string[] = [];
  for (const f of all) {
    for (const n of declared(f)) {
      const key = `${relative(OUT, f)}:${n}`;
      if (!pub.has(key) && !SUPPORT.has(key)) internal.push(key);
    }
  }
  // Mark these @internal (tsconfig.build.json strips them) or export them from ts/api.ts.
  expect(internal).toEqual([]);
  // a support type no public declaration names any more goes from SUPPORT
  const text = all.map((f) => readFileSync(f, "utf8")).join("\n");
  for (const key of SUPPORT) {
    const name = key.split(":")[1]!;
    const uses = text.match(new RegExp(`\\b${name}\\b`, "g"))?.length ?? 0;
    expect({ key, usedBesidesItsDeclaration: uses > 1 }).toEqual({ key, usedBesidesItsDeclaration: true });
  }
});

test("UdpInterface (socket.memif) shows what a user reads, none of the sockets' machinery", () => {
  const file = join(OUT, "udp", "view.d.ts");
  const cls = parse(file).statements.find((st) => ts.isClassDeclaration(st) && st.name?.text === "UdpInterface");
  expect(cls, `UdpInterface is declared in ${relative(OUT, file)}`).toBeDefined();
  const members = (cls as ts.ClassDeclaration).members.flatMap((m) => {
    if (ts.isConstructorDeclaration(m)) {
      const priv = ts.getModifiers(m)?.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword) === true;
      return [priv ? "private constructor" : "constructor"];
    }
    return m.name !== undefined && !ts.isPrivateIdentifier(m.name) ? [m.name.getText()] : [];
  });
  // the sockets' calls (bind, send, flush, refused, writable, ...) live on interface.ts's class
  expect(members.sort()).toEqual(
    ["private constructor", "port", "qid", "stats", "ipMode", "fragment", "mtu", "connected", "closed"].sort(),
  );
});

test("the emitted .d.ts compile on their own (stripping left no dangling name)", () => {
  const dir = join(OUT, "consumer");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "consumer.ts"),
    'import * as bun from "../index.js";\nimport * as node from "../node.js";\n' +
      "export const kinds: unknown[] = [bun.MemifSocket, bun.Batch, node.MemifSocket, node.createSocket, node.udpSocket];\n",
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../tsconfig.json",
      compilerOptions: { skipLibCheck: false, noEmit: true },
      include: ["consumer.ts"],
    }),
  );
  const r = Bun.spawnSync([TSC, "-p", join(dir, "tsconfig.json")], { stderr: "pipe" });
  expect(r.exitCode, r.stdout.toString() + r.stderr.toString()).toBe(0);
}, 60_000);
