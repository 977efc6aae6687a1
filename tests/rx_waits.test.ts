/**
 * Waiting for packets in interrupt mode allocates nothing per wait beyond the Promise machinery
 * itself (issue 12): counted with bun:jsc's heap census in tests/helpers/rx_wait_alloc.ts, a
 * receiver in its own process, a peer process sending 64-byte packets either all at once (no
 * wait: the baseline) or one every 2 ms (a wait before each packet).
 *  - `for await`: a packet costs the same with or without a wait, except the two resolving
 *    functions (and their scope) JavaScriptCore makes for a Promise left pending: next() returns
 *    one Promise per packet in both cases, and a wait adds no other. (The async generator this
 *    replaced allocated 13 cells per wait.)
 *  - `readable()`: the Promise it returns, its two resolving functions and their scope, nothing
 *    else (was 12.7 cells per wait: an async function's Promise, closures, another Promise).
 * Cancellation, STALE_VIEW and close through the iterator are tested where they were (stale,
 * interrupt, two_process, workers).
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Proc } from "../support/proc.ts";

const HELPER = join(import.meta.dir, "helpers", "rx_wait_alloc.ts");
/** packets per window: a window must end before JavaScriptCore's own GC timers fire (~1 s) */
const COUNT = 300;

interface Row {
  shape: "iterator" | "readable";
  queued: number;
  paced: number;
  perWait: number;
  waits: number | null;
  pacedCpu: number;
  gcRetries: number;
}

test("a wait in interrupt mode allocates only the Promise's own resolving functions", async () => {
  const p = new Proc([process.execPath, HELPER, String(COUNT)], {}, { ...process.env, BUN_GC_TIMER_DISABLE: "1" });
  expect(await p.finished, p.stderr).toBe(0);
  const rows = p.json<Row>();
  const by = Object.fromEntries(rows.map((r) => [r.shape, r]));
  const iterator = by.iterator!;
  const readable = by.readable!;
  const report = JSON.stringify(rows);
  // every window measured without a GC in it (a GC would hide allocations)
  expect(iterator.gcRetries + readable.gcRetries, report).toBeLessThan(8);
  // the paced windows did wait: readable() found the ring empty before nearly every packet, and
  // the iterator slept (its CPU time is a fraction of the wall time, not a busy poll's 100 %)
  expect(readable.waits!, report).toBeGreaterThan(COUNT * 0.8);
  expect(iterator.pacedCpu, report).toBeLessThan(0.5);
  // 3 cells: two resolving functions and their scope (the census counts ±0.3 per packet)
  expect(iterator.perWait, report).toBeLessThan(3.5);
  // 4 cells: the Promise, its two resolving functions and their scope
  expect(readable.paced, report).toBeLessThan(4.5);
}, 60_000);
