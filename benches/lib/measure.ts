/**
 * How one round of one case is measured, the same for every kind of endpoint:
 *
 *  1. the server starts, then the client; both report the data path up;
 *  2. the receiver starts, then the transmitter (`go`);
 *  3. after `warmup` s: Bun peers take a heap baseline (`prep`), then both ends `mark` and the
 *     CPU time of both processes is read; `seconds` later, the same again: the window;
 *  4. the transmitter stops (staying connected where it can), the receiver drains for DRAIN_MS,
 *     then both report their totals: sent, received and lost are whole-run counts, not rates.
 *
 * Rates are each end's own counter difference over its own marks; CPU is (utime + stime) over
 * the window, in cores (1.0 = one CPU busy).
 */
import { readFileSync } from "node:fs";
import type { HeapReport } from "../peer/heap.ts";
import type { CoreCounters, Counters, Endpoint, Latency, Mark } from "./endpoint.ts";

/** How long the receiver may drain after the transmitter stopped, before its totals are read. */
const DRAIN_MS = 200;
/** How long before the window the Bun peers run their full GC (so it does not fall inside). */
const PREP_LEAD_MS = 300;
/** A polling end below this share of its CPU over the window was not alone on its CPU. */
export const BUSY_SHARE = 0.9;

export interface Timing {
  warmup: number;
  seconds: number;
}

export interface Sample {
  tx_mpps: number;
  rx_mpps: number;
  sent: number;
  received: number;
  lost: number;
  cpu_tx: number;
  cpu_rx: number;
  heap_tx: HeapReport | null;
  heap_rx: HeapReport | null;
  /** the core's counters of the transmitting Bun end's tx queues (null: not a Bun end) */
  core_tx: CoreCounters | null;
  /** the core's counters of the receiving Bun end's rx queues */
  core_rx: CoreCounters | null;
  latency?: Latency;
}

/**
 * Which polling end (if any) did not get its CPU to itself in this run. A CPU share that could
 * not be read (NaN: /proc/PID/stat unreadable) counts as starved: nothing shows it was not.
 */
export function starvedEnd(busy: { tx: boolean; rx: boolean }, s: Sample): "tx" | "rx" | null {
  if (busy.tx && !(s.cpu_tx >= BUSY_SHARE)) return "tx";
  if (busy.rx && !(s.cpu_rx >= BUSY_SHARE)) return "rx";
  return null;
}

function rate(a: Counters, b: Counters, key: "rx" | "tx"): number {
  const ms = b.t - a.t;
  return ms > 0 ? (b[key] - a[key]) / ms / 1e3 : 0; // packets per ms / 1e3 = Mpps
}

/** Starts server then client, waits for the link; kills both if anything fails. */
export async function withPair<T>(
  server: () => Endpoint,
  client: () => Endpoint,
  body: (s: Endpoint, c: Endpoint) => Promise<T>,
): Promise<T> {
  const s = server();
  let c: Endpoint | undefined;
  try {
    await s.listening();
    c = client();
    await Promise.all([s.connected(), c.connected()]);
    return await body(s, c);
  } finally {
    // Clients first: a 22.11 testpmd client may crash when its server goes first.
    await c?.kill();
    await s.kill();
  }
}

async function window(ends: Endpoint[], t: Timing): Promise<{ a: Mark[]; b: Mark[]; cpu: number[] }> {
  await Bun.sleep(Math.max(0, t.warmup * 1000 - PREP_LEAD_MS));
  await Promise.all(ends.map((e) => e.prep()));
  await Bun.sleep(PREP_LEAD_MS);
  const c0 = ends.map((e) => cpuSeconds(e.pid));
  const w0 = performance.now();
  const a = await Promise.all(ends.map((e) => e.mark()));
  await Bun.sleep(t.seconds * 1000);
  const b = await Promise.all(ends.map((e) => e.mark()));
  const secs = (performance.now() - w0) / 1000;
  const cpu = ends.map((e, i) => (cpuSeconds(e.pid) - c0[i]!) / secs);
  return { a, b, cpu };
}

/** One transmitter, one receiver. */
export async function throughput(tx: Endpoint, rx: Endpoint, t: Timing): Promise<Sample> {
  await rx.go();
  await tx.go();
  const { a, b, cpu } = await window([tx, rx], t);
  const sent = await tx.stopTx();
  await Bun.sleep(DRAIN_MS);
  const got = await rx.finish();
  const txEnd = await tx.finish();
  return {
    tx_mpps: rate(a[0]!, b[0]!, "tx"),
    rx_mpps: rate(a[1]!, b[1]!, "rx"),
    sent: sent.tx,
    received: got.rx,
    lost: sent.tx - got.rx,
    cpu_tx: cpu[0]!,
    cpu_rx: cpu[1]!,
    heap_tx: txEnd.heap ?? null,
    heap_rx: got.heap ?? null,
    core_tx: txEnd.queues?.tx ?? null,
    core_rx: got.queues?.rx ?? null,
  };
}

/**
 * A pinger (one packet in flight) and an echoing peer; the pinger reports the round trips of the
 * window. Sent, received and lost are the window's pings (lost: no reply within 100 ms).
 */
export async function echo(pinger: Endpoint, echoer: Endpoint, t: Timing): Promise<Sample> {
  await echoer.go();
  await pinger.go();
  const { a, b, cpu } = await window([pinger, echoer], t);
  // The echoer stops first: testpmd 22.11 may crash when its peer leaves while it forwards.
  await echoer.stopTx();
  const pingerEnd = await pinger.finish();
  const echoed = await echoer.finish();
  const latency = b[0]!.latency;
  const sent = b[0]!.tx - a[0]!.tx;
  return {
    tx_mpps: rate(a[0]!, b[0]!, "tx"),
    rx_mpps: rate(a[0]!, b[0]!, "rx"),
    sent,
    received: b[0]!.rx - a[0]!.rx,
    lost: latency?.lost_pings ?? sent - (b[0]!.rx - a[0]!.rx),
    cpu_tx: cpu[0]!,
    cpu_rx: cpu[1]!,
    heap_tx: pingerEnd.heap ?? null,
    heap_rx: echoed.heap ?? null,
    core_tx: pingerEnd.queues?.tx ?? null,
    core_rx: echoed.queues?.rx ?? null,
    ...(latency !== undefined ? { latency } : {}),
  };
}

const CLK_TCK = 100; // USER_HZ on Linux x86-64

/** User + system CPU seconds of a process (all its threads), from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
  } catch {
    return NaN;
  }
}
