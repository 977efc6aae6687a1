/**
 * How fast a thread other than JavaScript's can wake Bun's event loop, three ways in alternating
 * rounds of one run (issue 12: interrupt mode's wake-up). See --help.
 *
 * The foreign thread is a Worker blocked in Atomics.wait (a plain native wait, as the core's
 * control thread sits in epoll); the main thread notifies it and times, on its own clock, until
 * its own code runs again:
 *   jscallback   the Worker calls a threadsafe JSCallback (zmemif's path: the control thread
 *                calls the port's event callback)
 *   fifo         the Worker writes one byte into a FIFO that Bun reads with Bun.file(fd).stream()
 *   unix         the Worker write(2)s one byte into a unix stream socket served by Bun.listen
 */
import { mkdtempSync, openSync, constants, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FFIType, JSCallback } from "bun:ffi";
import { commandLine, flag, integer, option } from "./lib/args.ts";
import { median } from "./lib/stats.ts";

/** A wake-up (or the Worker's start) not seen in this time ends the bench with an error. */
const WAIT_MS = 5000;

const HELP = `usage: bun benches/wake_paths.ts [--count N] [--json]

Wakes Bun's event loop from a foreign thread (a Worker blocked in Atomics.wait) N times each way,
alternating: a threadsafe JSCallback (zmemif's path today), a byte in a FIFO read by
Bun.file(fd).stream(), a byte in a unix socket served by Bun.listen. Prints p50/p99 per way.

  --count N   wake-ups per way (default 2000)
  --json      one JSON line: {count, rows: [{way, p50us, p99us}]}

A wake-up (or the Worker's start) not seen within ${WAIT_MS} ms ends the bench (exit 1) naming it.`;

const { count, json } = commandLine("wake_paths.ts", HELP, { count: option(integer({ min: 1 }), 2000), json: flag });

const dir = mkdtempSync(join(tmpdir(), "zmemif-wake-udp-"));
const fifo = join(dir, "fifo");
const sockPath = join(dir, "wake.sock");
if (Bun.spawnSync(["mkfifo", fifo]).exitCode !== 0) throw new Error(`mkfifo ${fifo} failed`);
const fifoFd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);

/**
 * What the main thread awaits now, and since when: a watchdog ends the bench when it takes longer
 * than WAIT_MS (one timer for the whole run, so no wake-up is timed with a timer of its own).
 */
let awaiting: string | null = null;
let awaitingSince = 0;
const watchdog = setInterval(() => {
  if (awaiting !== null && performance.now() - awaitingSince > WAIT_MS) {
    console.error(`wake_paths.ts: no ${awaiting} within ${WAIT_MS} ms (is the Worker alive?)`);
    process.exit(1);
  }
}, 250);
function expect(what: string): void {
  awaiting = what;
  awaitingSince = performance.now();
}

const ctl = new Int32Array(new SharedArrayBuffer(8));
let wake: (() => void) | null = null;
const fire = (): void => {
  const w = wake;
  wake = null;
  w?.();
};
const cb = new JSCallback(fire, { args: [FFIType.u64], returns: FFIType.void, threadsafe: true });
const server = Bun.listen({ unix: sockPath, socket: { data: fire, open() {} } });
const worker = new Worker(new URL("./wake_paths_worker.ts", import.meta.url).href);
const ready = new Promise<void>((r) => worker.addEventListener("message", () => r(), { once: true }));
worker.addEventListener("error", (e) => {
  console.error(`wake_paths.ts: the Worker failed: ${e.message}`);
  process.exit(1);
});
expect("ready message from the Worker");
worker.postMessage({ ctl: ctl.buffer, ptr: Number(cb.ptr), fifo, sockPath });
await ready;
const reader = Bun.file(fifoFd).stream().getReader();

const WAYS = ["jscallback", "fifo", "unix"] as const;
const CODE = { jscallback: 1, fifo: 2, unix: 4 } as const;
const times: Record<string, number[]> = { jscallback: [], fifo: [], unix: [] };

async function once(way: (typeof WAYS)[number]): Promise<number> {
  const arrived = way === "fifo" ? reader.read() : new Promise<void>((r) => (wake = r));
  expect(`wake-up by ${way}`);
  const t0 = performance.now();
  Atomics.store(ctl, 0, CODE[way]);
  Atomics.notify(ctl, 0);
  await arrived;
  const us = (performance.now() - t0) * 1000;
  awaiting = null;
  return us;
}

for (let i = 0; i < count; i++) {
  for (const w of WAYS) {
    times[w]!.push(await once(w));
    await Bun.sleep(1); // let the loop go idle: a wake-up, not a busy loop
  }
}
clearInterval(watchdog);
Atomics.store(ctl, 0, 3);
Atomics.notify(ctl, 0);
server.stop(true);
rmSync(dir, { recursive: true, force: true });

const q = (v: number[], p: number) => v[Math.min(v.length - 1, Math.floor(p * v.length))]!;
const rows = WAYS.map((w) => {
  const v = times[w]!.sort((x, y) => x - y);
  return { way: w, p50us: +median(v).toFixed(1), p99us: +q(v, 0.99).toFixed(1) };
});
if (json) {
  console.log(JSON.stringify({ count, rows }));
} else {
  for (const r of rows) console.log(`${r.way.padEnd(11)} p50 ${r.p50us} µs  p99 ${r.p99us} µs  (${count} wake-ups)`);
}
process.exit(0);
