/**
 * The package's types show the public API only (issue 11): dist/ built as scripts/package.sh
 * builds it (`tsc -p tsconfig.build.json`, whose stripInternal leaves out what is marked
 * @internal, then scripts/prune-dts.ts), and every emitted .d.ts read with the TypeScript parser:
 *  - no class or interface member named `_...` (public classes keep their state in #private
 *    fields, and hand other modules small interfaces);
 *  - every exported declaration is exported by the package (ts/api.ts through the entries), or is
 *    a type a public declaration needs (SUPPORT, each still referenced), or one of ts/udp's
 *    helpers listed in KNOWN_UDP: a list that may only shrink (a new internal export fails here);
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

/**
 * ts/udp's exported helpers that still reach its .d.ts (ts/udp is the "udp" worktree's): may only
 * shrink. Mark them @internal (or keep them unexported) and remove them here.
 */
const KNOWN_UDP = new Set(
  [
    "udp/dgram.d.ts:DEFAULT_DGRAM_MEMIF",
    "udp/datagrams.d.ts:pushDatagram clearDatagrams",
    "udp/neighbour.d.ts:Neighbours",
    "udp/options.d.ts:newStats MIN_MTU check intIn Settings",
    "udp/reassembly.d.ts:FRAGMENT_OVERHEAD MAX_DATAGRAM Reassembler",
    "udp/interface.d.ts:makeInterface startInterface adoptOptions",
    "udp/headers.d.ts:ETH_HLEN ETHERTYPE_IPV4 ETHERTYPE_IPV6 IPV4_HLEN IPV6_HLEN UDP_HLEN FRAG6_HLEN PROTO_UDP P_UDP " +
      "P_FRAGMENT P_TRUNCATED P_MALFORMED P_BAD_IP_CHECKSUM P_OTHER Parsed parseFrame parseUdp pseudoSum " +
      "udpChecksumOk TemplateSpec Template",
    "udp/addr.d.ts:Ip6 parseIp4 formatIp4 parseIp6 formatIp6 isMapped4 parseMac formatMac MAC_BROADCAST isGroupMac " +
      "readMac writeMac readU32 writeU32",
    "udp/binds.d.ts:Endpoint BindTable",
  ].flatMap((line) => {
    const [file, names] = line.split(":") as [string, string];
    return names.split(" ").map((n) => `${file}:${n}`);
  }),
);

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

test("every declaration in the .d.ts is public, a type a public one needs, or a known ts/udp helper", () => {
  const pub = new Set<string>();
  for (const entry of ["index.d.ts", "node.d.ts"]) publicOf(join(OUT, entry), pub);
  expect(pub.has("socket.d.ts:MemifSocket")).toBe(true); // the walk itself works
  const internal: string[] = [];
  for (const f of all) {
    for (const n of declared(f)) {
      const key = `${relative(OUT, f)}:${n}`;
      if (!pub.has(key) && !SUPPORT.has(key) && !KNOWN_UDP.has(key)) internal.push(key);
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
