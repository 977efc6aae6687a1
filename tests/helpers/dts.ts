/**
 * What a compiled dist/ shows in its .d.ts (issue 11: internals never appear in them), read with
 * the TypeScript parser. tests/dts.test.ts runs it on dist/ built as scripts/package.sh builds it,
 * tests/package.test.ts on the dist/ of the installed package; both expect every list empty and
 * UdpInterface's members to be the ones a user reads.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** Types that public declarations name, though the package does not export them. */
export const SUPPORT = new Set([
  "errors.d.ts:CORE_CODES", // CoreErrorCode = keyof typeof CORE_CODES
  "errors.d.ts:CoreErrorCode", // MemifErrorCode
  "errors.d.ts:LocalErrorCode", // MemifErrorCode
  "errors.d.ts:MemifErrorDetails", // MemifError's constructor
  "events.d.ts:TypedEmitter", // Port's base class
  "capture/capture.d.ts:Tap", // Capture.tap(), which queues call (ts/capture is the "tooling" worktree's)
]);

/** What `socket.memif` shows (ts/udp/view.ts): the sockets' calls live on interface.ts's class. */
export const UDP_INTERFACE_MEMBERS = [
  "private constructor",
  "port",
  "qid",
  "stats",
  "ipMode",
  "fragment",
  "mtu",
  "connected",
  "closed",
].sort();

export interface DtsReport {
  /** the .d.ts files, relative to the dist/ */
  files: string[];
  /** class or interface members named `_...` ("file: name") */
  underscored: string[];
  /** "file:name" of every exported declaration neither exported by the package nor in SUPPORT */
  internal: string[];
  /**
   * exported classes that declare no constructor: a constructor stripped as @internal shows users
   * `new X()` with no arguments, which throws (make it private, with a factory, as Port's)
   */
  undeclaredConstructor: string[];
  /** SUPPORT entries no declaration names any more (they go from SUPPORT) */
  unusedSupport: string[];
  /** UdpInterface's members (sorted), or null when udp/view.d.ts does not declare it */
  udpInterface: string[] | null;
  /** the walk found MemifSocket public (the walk itself works) */
  sawMemifSocket: boolean;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith(".d.ts") ? [join(dir, d.name)] : [],
  );
}

const isExported = (st: ts.Statement) =>
  (ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ===
  true;

function target(from: string, spec: string): string {
  return resolve(dirname(from), spec).replace(/\.(ts|js)$/, "") + ".d.ts";
}

/** Reads the .d.ts of `dist` (entries: index.d.ts and node.d.ts). */
export function readDts(dist: string): DtsReport {
  const files = new Map<string, ts.SourceFile>();
  const parse = (file: string): ts.SourceFile => {
    let sf = files.get(file);
    if (sf === undefined) {
      sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
      files.set(file, sf);
    }
    return sf;
  };
  /** The names a .d.ts declares with `export`. */
  const declared = (file: string): string[] => {
    const names: string[] = [];
    for (const st of parse(file).statements) {
      if (!isExported(st)) continue;
      if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) names.push(d.name.getText());
      else if ("name" in st && st.name !== undefined) names.push((st.name as ts.Identifier).text);
    }
    return names;
  };
  /** "file:name" of every declaration the entry re-exports (export * / export { } from). */
  const publicOf = (file: string, out: Set<string>, only: Set<string> | null = null): void => {
    for (const n of declared(file)) if (only === null || only.has(n)) out.add(`${relative(dist, file)}:${n}`);
    for (const st of parse(file).statements) {
      if (!ts.isExportDeclaration(st) || st.moduleSpecifier === undefined) continue;
      const to = target(file, (st.moduleSpecifier as ts.StringLiteral).text);
      const clause = st.exportClause;
      if (clause === undefined) publicOf(to, out, only);
      else if (ts.isNamedExports(clause)) {
        publicOf(to, out, new Set(clause.elements.map((e) => (e.propertyName ?? e.name).getText())));
      }
    }
  };

  const all = walk(dist);
  const underscored: string[] = [];
  const visit = (file: string, node: ts.Node): void => {
    if (
      (ts.isClassElement(node) || ts.isTypeElement(node)) &&
      node.name !== undefined &&
      ts.isIdentifier(node.name) &&
      node.name.text.startsWith("_")
    ) {
      underscored.push(`${relative(dist, file)}: ${node.name.text}`);
    }
    ts.forEachChild(node, (n) => visit(file, n));
  };
  for (const f of all) visit(f, parse(f));

  const undeclaredConstructor: string[] = [];
  for (const f of all) {
    for (const st of parse(f).statements) {
      if (ts.isClassDeclaration(st) && isExported(st) && !st.members.some(ts.isConstructorDeclaration)) {
        undeclaredConstructor.push(`${relative(dist, f)}:${st.name?.text}`);
      }
    }
  }

  const pub = new Set<string>();
  for (const entry of ["index.d.ts", "node.d.ts"]) publicOf(join(dist, entry), pub);
  const internal: string[] = [];
  for (const f of all) {
    for (const n of declared(f)) {
      const key = `${relative(dist, f)}:${n}`;
      if (!pub.has(key) && !SUPPORT.has(key)) internal.push(key);
    }
  }
  const text = all.map((f) => readFileSync(f, "utf8")).join("\n");
  const unusedSupport = [...SUPPORT].filter((key) => {
    const name = key.split(":")[1]!;
    return (text.match(new RegExp(`\\b${name}\\b`, "g"))?.length ?? 0) <= 1;
  });

  let udpInterface: string[] | null = null;
  const view = join(dist, "udp", "view.d.ts");
  const cls = all.includes(view)
    ? parse(view).statements.find((st) => ts.isClassDeclaration(st) && st.name?.text === "UdpInterface")
    : undefined;
  if (cls !== undefined) {
    udpInterface = (cls as ts.ClassDeclaration).members
      .flatMap((m) => {
        if (ts.isConstructorDeclaration(m)) {
          const priv = ts.getModifiers(m)?.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword) === true;
          return [priv ? "private constructor" : "constructor"];
        }
        return m.name !== undefined && !ts.isPrivateIdentifier(m.name) ? [m.name.getText()] : [];
      })
      .sort();
  }
  return {
    files: all.map((f) => relative(dist, f)).sort(),
    underscored,
    undeclaredConstructor,
    internal,
    unusedSupport,
    udpInterface,
    sawMemifSocket: pub.has("socket.d.ts:MemifSocket"),
  };
}
