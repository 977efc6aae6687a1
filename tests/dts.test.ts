/**
 * The package's types show the public API only (issue 11): dist/ built as scripts/package.sh
 * builds it (`tsc -p tsconfig.build.json`, whose stripInternal leaves out what is marked
 * @internal, then scripts/prune-dts.ts), and every emitted .d.ts read with the TypeScript parser:
 *  - no class or interface member named `_...` (public classes keep their state in #private
 *    fields, and hand other modules small interfaces);
 *  - every exported declaration is exported by the package (ts/api.ts through the entries), or is
 *    a type a public declaration needs (SUPPORT, each still referenced): a new internal export
 *    that reaches the types fails here;
 *  - every exported class declares its constructor (private when users do not make it: a
 *    constructor stripped as @internal would show `new X()`);
 *  - UdpInterface (`socket.memif`) has the members a user reads, not the sockets' machinery;
 *  - the .d.ts files that remain compile on their own (nothing stripped that they still name).
 * The reading is tests/helpers/dts.ts's; tests/package.test.ts runs it on the installed package.
 */
import { beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DtsReport, readDts, UDP_INTERFACE_MEMBERS } from "./helpers/dts.ts";

const ROOT = join(import.meta.dir, "..");
const OUT = join(ROOT, "target", "dts-check");
const TSC = join(ROOT, "node_modules", ".bin", "tsc");

let report: DtsReport;

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  const build = Bun.spawnSync([TSC, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", OUT], { stderr: "pipe" });
  expect(build.exitCode, build.stdout.toString() + build.stderr.toString()).toBe(0);
  const prune = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "prune-dts.ts"), OUT], { stderr: "pipe" });
  expect(prune.exitCode, prune.stderr.toString()).toBe(0);
  report = readDts(OUT);
}, 120_000);

test("no .d.ts member is named _internal", () => {
  expect(report.underscored).toEqual([]);
});

test("every exported class declares its constructor (none stripped: users would see `new X()`)", () => {
  expect(report.undeclaredConstructor).toEqual([]);
});

test("every declaration in the .d.ts is public, or a type a public one needs", () => {
  expect(report.sawMemifSocket).toBe(true); // the walk itself works
  // Mark these @internal (tsconfig.build.json strips them) or export them from ts/api.ts.
  expect(report.internal).toEqual([]);
  // a support type no public declaration names any more goes from SUPPORT (tests/helpers/dts.ts)
  expect(report.unusedSupport).toEqual([]);
});

test("UdpInterface (socket.memif) shows what a user reads, none of the sockets' machinery", () => {
  // the sockets' calls (bind, send, flush, refused, writable, ...) live on interface.ts's class
  expect(report.udpInterface).toEqual(UDP_INTERFACE_MEMBERS);
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
