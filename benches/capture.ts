/**
 * What pcapng capture costs per packet: a Bun receiver (rxBurst, polling, 32-packet bursts) takes
 * packets from `zmemif-peer --action source` (Rust, another process, faster than the receiver),
 * in rounds that alternate capture off and capture on (`rx.capture(FILE)`), in one run. Per round:
 * packets received in the window, ns per packet; the capture's cost per packet is the difference
 * of the medians, and the ratio on/off is taken round by round. Records the capture dropped (its
 * writer behind) are printed: they are part of what "on" costs.
 *
 *   bun benches/capture.ts [--rounds 6] [--seconds 1] [--size 64] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Batch, MemifSocket } from "../ts/index.ts";
import { commandLine, decimal, flag, integer, option } from "./lib/args.ts";

const HELP = `usage: bun benches/capture.ts [--rounds N] [--seconds S] [--size BYTES] [--json]

  --rounds N      rounds, each one window with capture off, then one with it on (default 6)
  --seconds S     each window's length, > 0 (default 1)
  --size BYTES    packet size the source sends, 1..65535 (default 64; chained when larger than a buffer)
  --json          one JSON line: {size, rounds, windowMs, offNsPerPacket, onNsPerPacket, ...}`;

const a = commandLine("capture.ts", HELP, {
  rounds: option(integer({ min: 1 }), 6),
  seconds: option(decimal({ above: 0 }), 1),
  size: option(integer({ min: 1, max: 65535 }), 64),
  json: flag,
});
const { rounds, size } = a;
const windowMs = a.seconds * 1000;
const ROOT = join(import.meta.dir, "..");
const PEER = join(ROOT, "target", "release", "zmemif-peer");
const dir = mkdtempSync(join(tmpdir(), "zmemif-capture-bench-"));
const where = `@zmemif-capture-bench-${process.pid}`;

using socket = new MemifSocket(where);
using port = socket.port({ role: "server", secret: "bench" });
const connected = port.connect({ timeoutMs: 10_000 });
const source = Bun.spawn(
  [PEER, "--socket", where, "--role", "client", "--secret", "bench", "--action", "source", "--size", String(size)],
  { stdout: "ignore", stderr: "inherit" },
);
await connected;
using rx = port.rxQueue(0, { rxMode: "polling" });
const batch = new Batch(32);

/**
 * Receives for `ms`; yields to the event loop every 64 bursts (the capture writes there). A window
 * without a packet ends the bench (exit 1): the source is gone and there is nothing to time.
 */
async function window(ms: number): Promise<{ packets: number; ns: number }> {
  let packets = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  for (;;) {
    for (let k = 0; k < 64; k++) packets += rx.rxBurst(batch);
    const t = performance.now();
    if (t >= end) {
      if (packets === 0) {
        const state = source.exitCode === null ? "still running" : `exit code ${source.exitCode}`;
        console.error(`capture.ts: no packet from the zmemif-peer source within ${ms} ms (it is ${state})`);
        process.exit(1);
      }
      return { packets, ns: (t - t0) * 1e6 };
    }
    await new Promise((r) => setImmediate(r));
  }
}

await window(300); // warm-up
const off: number[] = [];
const on: number[] = [];
const ratios: number[] = [];
let dropped = 0;
let recorded = 0;
for (let r = 0; r < rounds; r++) {
  const a0 = await window(windowMs);
  const file = join(dir, `round${r}.pcapng`);
  const cap = rx.capture(file, { snaplen: 65535 });
  const b0 = await window(windowMs);
  const st = await cap.close();
  rmSync(file, { force: true });
  dropped += st.dropped;
  recorded += st.packets;
  const nsOff = a0.ns / a0.packets;
  const nsOn = b0.ns / b0.packets;
  off.push(nsOff);
  on.push(nsOn);
  ratios.push(nsOn / nsOff);
  if (!a.json) {
    console.log(
      `round ${r}: off ${nsOff.toFixed(1)} ns/pkt (${a0.packets} pkts), on ${nsOn.toFixed(1)} ns/pkt ` +
        `(${b0.packets} pkts, ${st.dropped} records dropped)`,
    );
  }
}
source.kill();
await source.exited;
rmSync(dir, { recursive: true, force: true });

const median = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]!;
const result = {
  size,
  rounds,
  windowMs,
  offNsPerPacket: median(off),
  onNsPerPacket: median(on),
  captureNsPerPacket: median(on) - median(off),
  ratioOnOff: median(ratios),
  ratioRange: [Math.min(...ratios), Math.max(...ratios)],
  recorded,
  dropped,
};
if (a.json) console.log(JSON.stringify(result));
else {
  console.log(
    `capture of ${size}-byte packets: off ${result.offNsPerPacket.toFixed(1)} ns/pkt, on ` +
      `${result.onNsPerPacket.toFixed(1)} ns/pkt: +${result.captureNsPerPacket.toFixed(1)} ns per packet, ` +
      `ratio on/off ${result.ratioOnOff.toFixed(2)} [${result.ratioRange.map((x) => x.toFixed(2)).join("–")}] ` +
      `(median of ${rounds} alternating rounds; ${recorded} recorded, ${dropped} records dropped)`,
  );
}
process.exit(0);
