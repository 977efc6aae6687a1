/**
 * Node.js (the N-API backend) against a real dpdk-testpmd: zmemif on Node as the memif server,
 * testpmd as client forwarding back (`io`, `--no-flush-rx`), every payload checked; then testpmd
 * goes and the views of the connection must be revoked in Node too (napi_detach_arraybuffer).
 * Runs what the package ships: dist/ compiled by `tsc -p tsconfig.build.json`, and
 * target/release/libzmemif.so built with `--features node` (scripts/test.sh builds it so).
 */
import { afterEach, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Proc } from "../support/proc.ts";
import { Testpmd, uniqueSocketPath } from "../support/testpmd.ts";
import { buildDist } from "./helpers/dist.ts";

let testpmd: Testpmd | null = null;
let node: Proc | null = null;

beforeAll(buildDist, 120_000);

afterEach(async () => {
  if (testpmd !== null) await testpmd.kill();
  node?.kill();
  testpmd = null;
  node = null;
});

test("Node.js server ↔ dpdk-testpmd client (io): 1000 packets back unchanged, views revoked after", async () => {
  const socket = uniqueSocketPath("node-io");
  const path = "path" in socket ? socket.path : "";
  node = new Proc(["node", join(import.meta.dir, "helpers", "node_testpmd.mjs"), path, "1000"]);
  await node.waitFor(/"listening"/, 20_000);
  testpmd = await Testpmd.start({
    role: "client",
    socket,
    mode: "io",
    cpu: 0,
    extraAppArgs: ["--no-flush-rx"],
    name: "node-io",
  });
  const exchanged = JSON.parse(await node.waitFor(/"exchanged"/, 60_000));
  expect(exchanged).toEqual({ event: "exchanged", count: 1000, rx: 1000, badDescs: 0, sameView: true });
  await testpmd.kill();
  testpmd = null;
  const revoked = JSON.parse(await node.waitFor(/"revoked"/, 20_000));
  expect(revoked).toEqual({ event: "revoked", keptLength: 0, keptByte: null, stale: "STALE_VIEW", valid: false });
  expect(await node.exited).toBe(0);
}, 120_000);
