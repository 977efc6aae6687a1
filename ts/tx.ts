/**
 * TxQueue: one transmit ring of a port (as client: a C2S ring; as server: an S2C ring).
 *
 * Hot path (alloc, txBurst): one native call with numbers only (the queue's handle, the batch's
 * descriptor address, a count) and no allocation.
 *
 * Waiting for space (backpressure): zmemif_tx_wait(q, n, 0) for the n buffers a packet needs,
 * asked again after a growing pause (two loop turns, then 1, 2, 4, 8 ms): the peer does not
 * signal freed buffers. The JS thread never blocks in the core.
 */
import { Batch, batchAddress, batchMapping, bindBatch } from "./batch.ts";
import type { Capture, CaptureOptions } from "./capture/capture.ts";
import { MemifError } from "./errors.ts";
import { sleep, yieldLoop } from "./loop.ts";
import { DESC_NEXT, DESC_SIZE, E_NOT_CONNECTED } from "./native/abi.ts";
import { backend, type NativeBackend } from "./native/backend.ts";
import { errorFor } from "./native/check.ts";
import { claimToken, openHandle, type PortLink, QueueCore, type QueueStats, type QueueToken } from "./queue.ts";

const TX_BACKOFF_MAX_MS = 8;

// The hot-path functions, bound when the first tx queue of this thread opens.
let txAllocFn: NativeBackend["txAlloc"];
let txBurstFn: NativeBackend["txBurst"];

function bindHotPath(native: NativeBackend): void {
  txAllocFn = native.txAlloc;
  txBurstFn = native.txBurst;
}

let make: (core: QueueCore) => TxQueue;

/** Port.txQueue (internal to ts/: not exported from index.ts) @internal */
export function openTxQueue(native: NativeBackend, port: PortLink, qid: number): TxQueue {
  bindHotPath(native);
  const core = new QueueCore(native, port, "tx", qid, openHandle(native, port, "tx", qid), "adaptive", 0, 0);
  port.track(core);
  return make(core);
}

export class TxQueue {
  readonly dir = "tx" as const;
  readonly qid: number;
  readonly #c: QueueCore;
  #sendBatch: Batch | null = null;
  /** true while send() bursts: it records the packet itself, once whole */
  #inSend = false;

  private constructor(core: QueueCore) {
    this.#c = core;
    this.qid = core.qid;
  }

  static {
    make = (core) => new TxQueue(core);
  }

  /**
   * Takes ownership of a tx queue shared by `port.shareQueue("tx", qid)` (typically in a Worker).
   * The queue re-attaches on its own after a reconnect. The Worker should close() it before it
   * ends; if it does not, the core closes it when the Worker ends (see RxQueue.adopt).
   */
  static adopt(token: QueueToken<"tx">): TxQueue {
    const native = backend();
    claimToken(native, token, "tx");
    bindHotPath(native);
    return make(
      new QueueCore(native, null, "tx", token.qid, token.handle, "adaptive", token.bufferSize, token.ringSize),
    );
  }

  get closed(): boolean {
    return this.#c.h === 0;
  }

  /** true while attached to a live connection (attaches if the port has connected meanwhile) */
  get connected(): boolean {
    const c = this.#c;
    return c.h !== 0 && (c.mapping ?? c.attach()) !== null;
  }

  // ---- hot path ----

  /**
   * Reserves up to `n` transmit buffers into `batch` (their lengths are the capacities) and returns
   * how many; 0 when the ring is full or the port is not connected. Fill them through
   * `batch.view(batch.region(i))` at `batch.offset(i)`, set lengths, then txBurst().
   */
  alloc(batch: Batch, n: number = batch.capacity): number {
    const c = this.#c;
    const m = c.mapping ?? c.attach();
    if (m === null) {
      bindBatch(batch, null, 0);
      return 0;
    }
    const got = txAllocFn(c.h, batchAddress(batch), Math.min(n, batch.capacity));
    if (got >= 0) {
      bindBatch(batch, m, got);
      return got;
    }
    bindBatch(batch, null, 0);
    if (got === E_NOT_CONNECTED) return this.#allocAgain(batch, n);
    throw errorFor(got, `alloc(${c.name()})`);
  }

  /**
   * alloc() found its connection ended (the core checks that on every call). A new one may be up
   * already, and a queue adopted in a Worker hears of no port event: attach to it and allocate
   * there at once, rather than return 0 once more.
   */
  #allocAgain(batch: Batch, n: number): number {
    const c = this.#c;
    c.revokeAndDetach();
    const m = c.attach();
    if (m === null) return 0;
    const got = txAllocFn(c.h, batchAddress(batch), Math.min(n, batch.capacity));
    if (got >= 0) {
      bindBatch(batch, m, got);
      return got;
    }
    if (got === E_NOT_CONNECTED) {
      c.revokeAndDetach();
      return 0;
    }
    throw errorFor(got, `alloc(${c.name()})`);
  }

  /**
   * Sends the first `n` (default `batch.count`) allocated buffers with the lengths and NEXT flags in
   * `batch`; returns how many were sent. Throws MemifError NOT_CONNECTED if the connection ended
   * since alloc() (those buffers are gone), STALE_VIEW if the batch came from an older connection.
   */
  txBurst(batch: Batch, n: number = batch.count): number {
    const c = this.#c;
    const m = c.mapping;
    if (m === null || batchMapping(batch) !== m) {
      if (n === 0) return 0;
      if (m === null) throw c.notConnected("txBurst", n);
      throw new MemifError(
        "STALE_VIEW",
        `txBurst on ${c.name()}: the batch was allocated on another connection or queue`,
      );
    }
    const sent = txBurstFn(c.h, batchAddress(batch), n);
    if (sent >= 0) {
      // send() records its packet once whole (it may go out in two bursts).
      if (c.tap !== null && sent > 0 && !this.#inSend) c.tap.record(batch, 0, sent);
      return sent;
    }
    if (sent === E_NOT_CONNECTED) {
      c.revokeAndDetach();
      throw c.notConnected("txBurst", n);
    }
    throw errorFor(sent, `txBurst(${c.name()})`);
  }

  // ---- waiting ----

  /**
   * Resolves when at least `n` transmit buffers are free (backpressure; a chained packet needs
   * several). Rejects with NOT_CONNECTED if the connection is down, TIMEOUT after `timeoutMs`
   * (-1: wait as long as it takes). Never blocks the event loop.
   */
  async writable(timeoutMs = -1, n = 1): Promise<void> {
    const c = this.#c;
    const start = performance.now();
    let delay = 0;
    for (;;) {
      if (c.mapping === null && c.attach() === null) throw c.notConnected("writable", 0);
      const rc = c.native.txWait(c.h, n, 0);
      if (rc === 1) return;
      if (rc === E_NOT_CONNECTED) {
        c.revokeAndDetach();
        if (c.attach() === null) throw c.notConnected("writable", 0);
        continue; // a new connection is up already: wait on it
      }
      if (rc < 0) throw errorFor(rc, `zmemif_tx_wait(${c.name()}, ${n})`);
      if (timeoutMs >= 0 && performance.now() - start >= timeoutMs) {
        throw new MemifError(
          "TIMEOUT",
          `${c.name()}: ${n} transmit buffer(s) not free after ${timeoutMs} ms; is the peer reading?`,
        );
      }
      // backoff: two loop turns, then 1, 2, 4, 8, 8, ... ms
      if (delay < 2) {
        delay++;
        await yieldLoop();
      } else {
        const ms = Math.min(TX_BACKOFF_MAX_MS, 2 ** (delay - 2));
        delay++;
        await sleep(ms);
      }
    }
  }

  // ---- conveniences, built on the same path ----

  /**
   * Sends one packet, chaining buffers when it is larger than one. Waits for ring space
   * (backpressure) rather than dropping. Throws NOT_CONNECTED when the port is not connected,
   * TOO_LARGE when the packet needs more buffers than the ring can ever give.
   */
  async send(bytes: Uint8Array, options: { timeoutMs?: number } = {}): Promise<void> {
    const c = this.#c;
    const timeoutMs = options.timeoutMs ?? -1;
    const total = bytes.byteLength;
    if (total === 0) throw new MemifError("INVALID_ARGUMENT", `send on ${c.name()}: a packet needs at least 1 byte`);
    let batch = this.#sendBatch ?? (this.#sendBatch = new Batch(32));
    for (;;) {
      // A zero-copy rx view reads as empty once its connection ended (maybe during a wait below):
      // never send what a new connection's buffer happens to hold in its place.
      if (bytes.byteLength !== total) throw this.#staleBytes(total);
      if (c.mapping === null && c.attach() === null) throw c.notConnected("send", 0);
      if (c.bufferSize === 0) {
        // learn the buffer capacity (a queue adopted before the port connected)
        if (this.alloc(batch, 1) === 1) c.bufferSize = batch.length(0);
        else {
          await this.writable(timeoutMs);
          continue;
        }
      }
      const need = Math.max(1, Math.ceil(total / c.bufferSize));
      if (need > 65536 || (c.ringSize > 0 && need > c.ringSize)) throw this.#tooLarge(total, need);
      if (need > batch.capacity) batch = this.#sendBatch = new Batch(2 ** Math.ceil(Math.log2(need)));
      // Reserving again replaces an earlier, partial reservation.
      const got = this.alloc(batch, need);
      if (got < need) {
        if (c.mapping === null) throw c.notConnected("send", 0);
        await this.writable(timeoutMs, need); // one wait for the whole packet's buffers
        continue;
      }
      const d = batch.descs;
      let room = 0;
      let smallest = Number.MAX_SAFE_INTEGER;
      for (let i = 0; i < need; i++) {
        room += d[i * 4 + 1]!;
        smallest = Math.min(smallest, d[i * 4 + 1]!);
      }
      if (room < total) {
        // The peer's buffers are smaller than the size we assumed (a server learns it from them):
        // size the packet by the smallest and reserve again, rather than cut it short.
        c.bufferSize = Math.max(1, smallest);
        continue;
      }
      let at = 0;
      for (let i = 0; i < need; i++) {
        const cap = d[i * 4 + 1]!;
        const len = Math.min(cap, total - at);
        batch.view(d[i * 4]! >>> 16).set(bytes.subarray(at, at + len), d[i * 4 + 2]!);
        d[i * 4 + 1] = len;
        d[i * 4] = i + 1 < need ? d[i * 4]! | DESC_NEXT : d[i * 4]! & ~DESC_NEXT;
        at += len;
      }
      this.#inSend = true;
      let sent: number;
      try {
        sent = this.txBurst(batch, need);
      } finally {
        this.#inSend = false;
      }
      while (sent < need) {
        // Partial send: the rest stays reserved; send it from where the core stopped.
        await this.writable(timeoutMs);
        const rc = txBurstFn(c.h, batchAddress(batch) + sent * DESC_SIZE, need - sent);
        if (rc === E_NOT_CONNECTED) {
          c.revokeAndDetach();
          throw c.notConnected("send", need - sent);
        }
        if (rc < 0) throw errorFor(rc, `txBurst(${c.name()})`);
        sent += rc;
      }
      if (c.tap !== null) c.tap.record(batch, 0, need);
      return;
    }
  }

  #staleBytes(total: number): MemifError {
    return new MemifError(
      "STALE_VIEW",
      `send on ${this.#c.name()}: the ${total} bytes to send were a view of a connection that has ended; ` +
        "copy a received packet (p.slice()) before an await if it must outlive its connection",
    );
  }

  #tooLarge(total: number, need: number): MemifError {
    const c = this.#c;
    return new MemifError(
      "TOO_LARGE",
      `send on ${c.name()}: ${total} bytes need ${need} buffers of ${c.bufferSize} bytes` +
        (c.ringSize > 0 ? ` but the ring has ${c.ringSize}` : "") +
        "; use a larger bufferSize or ringSize",
    );
  }

  // ---- control ----

  stats(): QueueStats {
    return this.#c.stats();
  }

  /** Revokes this queue's views, detaches it and frees it. Idempotent. */
  /**
   * Records the packets this queue sends into a pcapng file (`path`) or stream, until the
   * capture's close() or its `limit`; see ts/capture/capture.ts. Costs one branch per burst when
   * off; a slow writer drops capture records (counted in its stats()), never packets.
   */
  capture(target: string | WritableStream<Uint8Array>, options: CaptureOptions = {}): Capture {
    return this.#c.capture(target, options);
  }

  close(): void {
    this.#c.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
