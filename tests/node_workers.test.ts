/**
 * Queues driven by node:worker_threads on Node.js (the N-API backend), against an echoing memif
 * server in another process (tests/helpers/bun_peer.ts): port.shareQueue in the main thread,
 * RxQueue.adopt / TxQueue.adopt in the Workers, which wake on their own thread's callback
 * (zmemif_rx_queue_arm_cb through a thread-safe function of the Worker). The Node.js process must end
 * on its own once the Workers and the port close.
 * Runs what the package ships: dist/ compiled by `tsc -p tsconfig.build.json`
 * (tests/helpers/node_workers.mjs, tests/helpers/queue_worker.mjs).
 */
import { afterEach, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { abstractName, Peer } from "./helpers/peers.ts";
import { Proc } from "../support/proc.ts";
import { buildDist } from "./helpers/dist.ts";

const NODE_WORKERS = join(import.meta.dir, "helpers", "node_workers.mjs");

const running: Proc[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) p.kill();
});

beforeAll(buildDist, 120_000);

async function echoPeer(queues: number): Promise<string> {
  const path = abstractName();
  const peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo", "--queues", String(queues)]);
  running.push(peer);
  await peer.waitFor(/^listening/);
  return path;
}

async function node(path: string, kind: "echo" | "wake", count: number): Promise<Record<string, unknown>[]> {
  const p = new Proc(["node", NODE_WORKERS, path, kind, String(count)]);
  running.push(p);
  const timer = setTimeout(() => p.kill(), 25_000); // a process that does not end on its own fails
  const code = await p.exited;
  clearTimeout(timer);
  expect(code, `node exited ${code}: ${p.lines.join("\n")}\n${p.stderr}`).toBe(0);
  return p.json();
}

test("Node.js: two worker_threads, one adopted queue pair each, every payload checked", async () => {
  const path = await echoPeer(2);
  const count = 500;
  const results = await node(path, "echo", count);
  expect(results.length).toBe(2);
  for (const [qid, r] of results.entries()) {
    expect(r.error).toBeUndefined();
    expect(r).toEqual({ ok: count, bad: 0, qid, packets: count, rxPackets: count });
  }
}, 30_000);

test("Node.js: an idle Worker's queue wakes on the Worker's own callback within milliseconds", async () => {
  const path = await echoPeer(1);
  const count = 10;
  const [r] = await node(path, "wake", count);
  expect(r?.error).toBeUndefined();
  const delays = (r!.delays as number[]).sort((a, b) => a - b);
  expect(delays.length).toBe(count);
  // send → echo by the peer process → Worker wake-up; the 100 ms re-check alone would give ~50 ms
  expect(delays[Math.floor(count / 2)]!).toBeLessThan(10);
}, 30_000);
