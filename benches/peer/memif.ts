/**
 * The Bun side of the memif scenarios, through the public API (ts/index.ts) in its fastest form:
 * one reusable Batch per direction, rxBurst / alloc + txBurst, polling, no allocation per packet.
 *
 * Actions:
 *   tx    send `size`-byte packets (chained when larger than a buffer) as fast as the ring takes
 *         them, after "go"; each packet carries a 32-bit sequence number at byte SEQ_AT
 *   rx    receive and count packets (descriptors without NEXT) and bytes; payloads are not read
 *   echo  send every packet back on the same queue index (one copy into a tx buffer)
 *   ping  one packet in flight: send, wait for it to come back, record the round trip
 *
 * `--rx-mode interrupt` makes the rx side of echo/ping sleep in `queue.readable()` (the peer
 * signals the eventfd) instead of spinning on rxBurst.
 */
import { Batch, MemifSocket, type QueueStats, type Role, type RxQueue, type TxQueue } from "../../ts/index.ts";
import { emit, listen, SLICE_MS, yieldLoop, type Command } from "./control.ts";
import { HeapWatch } from "./heap.ts";

export type MemifAction = "tx" | "rx" | "echo" | "ping";

export interface MemifPeerOptions {
  socket: string;
  role: Role;
  id: number;
  action: MemifAction;
  size: number;
  burst: number;
  queues: number;
  rxMode: "polling" | "interrupt";
  ringSize: number;
  bufferSize: number;
}

/** Where the sequence number goes: past the Ethernet addresses a macswap peer rewrites. */
export const SEQ_AT = 16;
const DESC_NEXT = 1;
/** A ping that has not come back after this long is counted lost and sent again. */
const PING_TIMEOUT_MS = 100;
/** Round trips recorded per window at most (8 MiB of float64). */
const MAX_SAMPLES = 1 << 20;

// ---- counters (read by "mark", "stop", "quit") ----
let rx = 0;
let tx = 0;
let rxb = 0;
let txb = 0;
let seq = 0;
let dropped = 0;

function counters(): Record<string, number> {
  return { t: performance.now(), rx, tx, rxb, txb, dropped };
}

// ---- helpers over descriptor words (4 u32 per descriptor: flags|region<<16, length, offset, 0) ----

function writeSeq(view: Uint8Array, at: number, value: number): void {
  view[at] = value & 0xff;
  view[at + 1] = (value >>> 8) & 0xff;
  view[at + 2] = (value >>> 16) & 0xff;
  view[at + 3] = value >>> 24;
}

function readSeq(view: Uint8Array, at: number): number {
  return (view[at]! | (view[at + 1]! << 8) | (view[at + 2]! << 16) | (view[at + 3]! << 24)) >>> 0;
}

/**
 * Shapes the first `packets * segs` allocated buffers into `packets` packets of `size` bytes
 * (lengths, NEXT flags) and stamps each with the next sequence number.
 */
export function fill(b: Batch, packets: number, segs: number, size: number): void {
  const d = b.descs;
  let region = -1;
  let view: Uint8Array | null = null;
  for (let p = 0; p < packets; p++) {
    const first = p * segs;
    if (segs === 1) {
      d[first * 4 + 1] = size;
    } else {
      let left = size;
      for (let s = 0; s < segs; s++) {
        const w = (first + s) * 4;
        const len = Math.min(left, d[w + 1]!);
        left -= len;
        d[w + 1] = len;
        d[w] = s + 1 < segs ? d[w]! | DESC_NEXT : d[w]! & ~DESC_NEXT;
      }
    }
    const r = d[first * 4]! >>> 16;
    if (r !== region) {
      region = r;
      view = b.view(r);
    }
    writeSeq(view!, d[first * 4 + 2]! + SEQ_AT, seq);
    seq = (seq + 1) >>> 0;
  }
}

/** Copies `len` bytes between two views, by 32-bit words when both offsets allow it. */
const words = new WeakMap<Uint8Array, Uint32Array>();
function u32(view: Uint8Array): Uint32Array {
  let w = words.get(view);
  if (w === undefined) {
    w = new Uint32Array(view.buffer, view.byteOffset, view.byteLength >>> 2);
    words.set(view, w);
  }
  return w;
}
function copy(src: Uint8Array, from: number, dst: Uint8Array, to: number, len: number): void {
  let j = 0;
  if (((from | to) & 3) === 0 && len >= 4) {
    const s = u32(src);
    const t = u32(dst);
    const n = len >>> 2;
    const a = from >>> 2;
    const z = to >>> 2;
    for (let k = 0; k < n; k++) t[z + k] = s[a + k]!;
    j = n << 2;
  }
  for (; j < len; j++) dst[to + j] = src[from + j]!;
}

// ---- the peer ----

export async function runMemif(o: MemifPeerOptions): Promise<void> {
  const socket = new MemifSocket(o.socket);
  const port = socket.port({
    id: o.id,
    role: o.role,
    name: `bun-${o.action}`,
    c2sQueues: o.queues,
    s2cQueues: o.queues,
    ringSize: o.ringSize,
    bufferSize: o.bufferSize,
    reconnectMs: 50,
  });
  const heap = new HeapWatch();
  const rxq: RxQueue[] = [];
  const txq: TxQueue[] = [];
  let sending = false;
  let marks = 0;
  let quitting = false;
  const lat = new Float64Array(o.action === "ping" ? MAX_SAMPLES : 0);
  let nLat = 0;
  let recording = false;
  let lostPings = 0;

  listen((cmd: Command) => {
    switch (cmd) {
      case "go":
        sending = true;
        return;
      case "prep":
        heap.prep();
        emit("prepped");
        return;
      case "mark": {
        const c = counters();
        const opening = ++marks % 2 === 1;
        if (opening) heap.open();
        else heap.close(); // before the reply below allocates
        if (o.action !== "ping") emit("mark", c);
        else if (opening) {
          nLat = 0;
          lostPings = 0;
          recording = true;
          emit("mark", c);
        } else {
          recording = false;
          emit("mark", { ...c, ...percentiles(lat, nLat), lost_pings: lostPings });
        }
        return;
      }
      case "stop":
        sending = false;
        emit("stopped", counters());
        return;
      case "quit":
        if (quitting) return;
        quitting = true;
        emit("done", { ...counters(), heap: heap.report(), queues: queueStats() });
        socket.close();
        process.exit(0);
    }
  });

  /** The core's counters of every queue we opened, summed per direction. */
  function queueStats(): Record<string, QueueStats> {
    const out: Record<string, QueueStats> = {};
    for (const [dir, list] of [
      ["rx", rxq],
      ["tx", txq],
    ] as const) {
      if (list.length === 0) continue;
      const t: QueueStats = { packets: 0, bytes: 0, badDescs: 0, ringFull: 0, interrupts: 0, unreadAtDisconnect: 0 };
      for (const q of list) {
        const s = q.stats();
        t.packets += s.packets;
        t.bytes += s.bytes;
        t.badDescs += s.badDescs;
        t.ringFull += s.ringFull;
        t.interrupts += s.interrupts;
        t.unreadAtDisconnect += s.unreadAtDisconnect;
      }
      out[dir] = t;
    }
    return out;
  }

  port.on("disconnected", (e) => emit("disconnected", { reason: e.reason }));
  emit("listening");
  const ev = await port.connect();
  emit("connected", { peer: ev.peerName, buffer_size: ev.info.bufferSize, regions: ev.info.regions });

  const rxOpts = { rxMode: o.rxMode };
  for (let q = 0; q < o.queues; q++) {
    if (o.action !== "tx") rxq.push(port.rxQueue(q, rxOpts));
    if (o.action !== "rx") txq.push(port.txQueue(q));
  }
  // Buffers per packet, from the buffer size the connection settled on (a server learns the
  // client's only from the descriptors: assume it asked for the same as we did).
  const segs = Math.max(1, Math.ceil(o.size / (ev.info.bufferSize || o.bufferSize)));
  const cap = o.burst * segs;
  const rb = new Batch(Math.max(cap, 64));
  const tb = new Batch(cap);
  const size = o.size;
  const nq = o.queues;

  function txStep(deadline: number): boolean {
    if (!sending) return false;
    for (let k = 1; ; k++) {
      for (let q = 0; q < nq; q++) {
        const queue = txq[q]!;
        const got = queue.alloc(tb, cap);
        if (got >= segs) {
          const packets = segs === 1 ? got : (got / segs) | 0;
          fill(tb, packets, segs, size);
          const sent = queue.txBurst(tb, packets * segs);
          const sp = segs === 1 ? sent : (sent / segs) | 0;
          tx += sp;
          txb += sp * size;
        }
      }
      if ((k & 63) === 0 && performance.now() >= deadline) return true;
    }
  }

  function rxStep(deadline: number): boolean {
    const d = rb.descs;
    for (let k = 1; ; k++) {
      for (let q = 0; q < nq; q++) {
        const n = rxq[q]!.rxBurst(rb);
        if (n > 0) {
          let packets = 0;
          let bytes = 0;
          for (let i = 0; i < n; i++) {
            bytes += d[i * 4 + 1]!;
            packets += (d[i * 4]! & DESC_NEXT) ^ 1;
          }
          rx += packets;
          rxb += bytes;
        }
      }
      if ((k & 63) === 0 && performance.now() >= deadline) return true;
    }
  }

  /** Sends the `n` descriptors just received on queue q back out of tx queue q. */
  function forward(q: number, n: number): void {
    const queue = txq[q]!;
    let got = queue.alloc(tb, n);
    for (let spins = 0; got < n && spins < 100_000; spins++) got = queue.alloc(tb, n);
    const d = rb.descs;
    const t = tb.descs;
    let packets = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const len = d[i * 4 + 1]!;
      const flags = d[i * 4]! & DESC_NEXT;
      bytes += len;
      packets += flags ^ 1;
      if (i >= got || len > t[i * 4 + 1]!) continue;
      copy(rb.view(d[i * 4]! >>> 16), d[i * 4 + 2]!, tb.view(t[i * 4]! >>> 16), t[i * 4 + 2]!, len);
      t[i * 4 + 1] = len;
      t[i * 4] = flags !== 0 ? t[i * 4]! | DESC_NEXT : t[i * 4]! & ~DESC_NEXT;
    }
    rx += packets;
    rxb += bytes;
    // Send whole packets only: cut a chain the ring had no room for.
    let whole = Math.min(got, n);
    while (whole > 0 && (t[(whole - 1) * 4]! & DESC_NEXT) !== 0) whole--;
    const sent = whole > 0 ? queue.txBurst(tb, whole) : 0;
    let sentPackets = 0;
    for (let i = 0; i < sent; i++) {
      sentPackets += (t[i * 4]! & DESC_NEXT) ^ 1;
      txb += t[i * 4 + 1]!;
    }
    tx += sentPackets;
    dropped += packets - sentPackets;
  }

  function echoStep(deadline: number): boolean {
    for (let k = 1; ; k++) {
      for (let q = 0; q < nq; q++) {
        const n = rxq[q]!.rxBurst(rb);
        if (n > 0) forward(q, n);
      }
      if ((k & 63) === 0 && performance.now() >= deadline) return true;
    }
  }

  // ---- ping: one packet in flight on queue 0 ----
  let pingSeq = -1;
  let pingAt = 0;

  function sendPing(): boolean {
    const got = txq[0]!.alloc(tb, segs);
    if (got < segs) return false;
    pingSeq = seq;
    fill(tb, 1, segs, size);
    pingAt = performance.now();
    txq[0]!.txBurst(tb, segs);
    tx++;
    txb += size;
    return true;
  }

  /** Looks at one rx burst; true when it held the reply to the ping in flight. */
  function takeReply(n: number): boolean {
    const d = rb.descs;
    let mine = false;
    for (let i = 0; i < n; i++) {
      rxb += d[i * 4 + 1]!;
      if ((d[i * 4]! & DESC_NEXT) !== 0) continue;
      rx++;
    }
    // The sequence number is in the first buffer of the (only) packet.
    if (readSeq(rb.view(d[0]! >>> 16), d[2]! + SEQ_AT) === pingSeq) {
      mine = true;
      const rtt = performance.now() - pingAt;
      if (recording && nLat < MAX_SAMPLES) lat[nLat++] = rtt;
    }
    return mine;
  }

  function pingStep(deadline: number): boolean {
    const q = rxq[0]!;
    for (;;) {
      if (!sendPing()) {
        q.rxBurst(rb); // a ring full of stale replies: drain it
        if (performance.now() >= deadline) return true;
        continue;
      }
      for (;;) {
        const n = q.rxBurst(rb);
        if (n > 0 && takeReply(n)) break;
        if (performance.now() - pingAt > PING_TIMEOUT_MS) {
          lostPings++;
          break;
        }
      }
      if (performance.now() >= deadline) return true;
    }
  }

  async function pingInterrupt(): Promise<void> {
    const q = rxq[0]!;
    // A reply that never comes must not stall the loop: send another ping after a timeout.
    setInterval(() => {
      if (pingSeq >= 0 && performance.now() - pingAt > PING_TIMEOUT_MS) {
        lostPings++;
        sendPing();
      }
    }, PING_TIMEOUT_MS);
    for (;;) {
      if (!sendPing()) {
        q.rxBurst(rb);
        await yieldLoop();
        continue;
      }
      for (;;) {
        const n = q.rxBurst(rb);
        if (n > 0 && takeReply(n)) break;
        if (n === 0) await q.readable();
      }
    }
  }

  async function echoInterrupt(): Promise<void> {
    // One queue per waiter: each waits on its own ring's signal.
    await Promise.all(
      rxq.map(async (queue, q) => {
        for (;;) {
          const n = queue.rxBurst(rb);
          if (n > 0) forward(q, n);
          else await queue.readable();
        }
      }),
    );
  }

  /**
   * Runs `step` in slices of SLICE_MS with one event-loop turn between them (stdin commands,
   * port events). A turn through setImmediate costs one Immediate cell; awaiting a promise per
   * turn would cost three or more.
   */
  function pump(step: (deadline: number) => boolean): Promise<void> {
    return new Promise<void>(() => {
      const turn = (): void => {
        let busy = true;
        try {
          busy = step(performance.now() + SLICE_MS);
        } catch (e) {
          // The peer went away between alloc and txBurst: keep going, "quit" ends us.
          if ((e as { code?: string }).code !== "NOT_CONNECTED") throw e;
        }
        if (busy) setImmediate(turn);
        else setTimeout(turn, 1);
      };
      setImmediate(turn);
    });
  }

  const interrupt = o.rxMode === "interrupt";
  switch (o.action) {
    case "tx":
      return pump(txStep);
    case "rx":
      return pump(rxStep);
    case "echo":
      return interrupt ? echoInterrupt() : pump(echoStep);
    case "ping":
      return interrupt ? pingInterrupt() : pump(pingStep);
  }
}

/** p50/p99/p99.9 of the first n samples (ms in, µs out); allocates once, after the window. */
export function percentiles(samples: Float64Array, n: number): Record<string, number> {
  if (n === 0) return { samples: 0, p50_us: 0, p99_us: 0, p999_us: 0, max_us: 0 };
  const s = samples.slice(0, n).sort();
  const at = (p: number) => s[Math.min(n - 1, Math.floor(p * n))]! * 1000;
  return { samples: n, p50_us: at(0.5), p99_us: at(0.99), p999_us: at(0.999), max_us: s[n - 1]! * 1000 };
}
