/**
 * What RxQueue (rx.ts) and TxQueue (tx.ts) share: the types users see (QueueOptions, QueueStats,
 * QueueToken) and QueueCore, the internal state of one open queue: its handle, its attachment to
 * the port's current connection and the views of that connection.
 *
 * The queue's views (one per region) are made when it attaches to a connection and revoked when
 * that connection ends, always before zmemif_{rx,tx}_queue_detach lets the core unmap the memory (see
 * batch.ts for the lifetime rules). QueueCore is internal: index.ts does not export it, and the
 * public queue classes hold it in a #private field.
 *
 * A queue reaches its port only through PortLink, a small interface the port hands down, so this
 * module imports nothing from port.ts.
 */
import { type Batch, Mapping } from "./batch.ts";
import { Capture, type CaptureOptions, type Tap } from "./capture/capture.ts";
import { MemifError } from "./errors.ts";
import {
  E_NOT_CONNECTED,
  QUEUE_STATS_BAD_DESCS_OFF,
  QUEUE_STATS_BYTES_OFF,
  QUEUE_STATS_INTERRUPTS_OFF,
  QUEUE_STATS_PACKETS_OFF,
  QUEUE_STATS_RING_FULL_OFF,
  QUEUE_STATS_SIZE,
  QUEUE_STATS_UNREAD_AT_DISCONNECT_OFF,
  RX_MODE_ADAPTIVE,
  RX_MODE_INTERRUPT,
  RX_MODE_POLLING,
} from "./native/abi.ts";
import type { NativeBackend } from "./native/backend.ts";
import { check, errorFor } from "./native/check.ts";

export type Direction = "rx" | "tx";

/**
 * How an rx queue is woken:
 *  - 'adaptive' (default): bursts poll while traffic flows; the peer is asked to signal only while
 *    we wait (readable() / for await), so an idle queue costs ≈0 % CPU;
 *  - 'polling': never signalled; readable() resolves on the next loop turn (highest rate, one
 *    core busy);
 *  - 'interrupt': the peer signals after every burst it sends.
 */
export type RxMode = "adaptive" | "polling" | "interrupt";

export interface QueueOptions {
  /** rx: how the queue is woken; default 'adaptive' */
  rxMode?: RxMode;
}

export interface QueueStats {
  packets: number;
  bytes: number;
  /** descriptors from the peer that failed validation (counted and skipped) */
  badDescs: number;
  /** tx: allocs that found the ring full; rx: bursts that filled the batch */
  ringFull: number;
  /** eventfd signals sent (tx) or received (rx) */
  interrupts: number;
  /**
   * packets a connection's end left on the ring, counted once when the queue lets go of the ended
   * connection (at the port's 'disconnected' event, or the queue's next call or close()): rx:
   * published by the peer and not yet read; tx: sent and not yet given back by the peer (a zmemif
   * receiver gives a burst back at its next burst or release(), so its very last burst counts too)
   */
  unreadAtDisconnect: number;
}

/**
 * Hands one queue to a Worker: `port.shareQueue(...)` in the thread that owns the port,
 * `postMessage(token)`, then `RxQueue.adopt(token)` / `TxQueue.adopt(token)` in the Worker.
 * Opaque; adoptable once.
 */
export interface QueueToken<D extends Direction = Direction> {
  readonly kind: "zmemif.queue";
  readonly dir: D;
  readonly qid: number;
  readonly handle: number;
  readonly bufferSize: number;
  /** descriptors per ring (0: learned when adopted queue attaches) */
  readonly ringSize: number;
  /** 0 until adopted; shared so a second adopt() in any thread fails instead of double-freeing */
  readonly claim: Int32Array;
}

/** What a queue needs from its port (handed down by Port; a Worker's adopted queue has none). @internal */
export interface PortLink {
  readonly id: number;
  /** the port's handle; throws CLOSED after close() */
  handle(): number;
  /** the negotiated sizes while connected (0 otherwise) */
  sizes(): { connected: boolean; bufferSize: number; ringSize: number; maxSegments: number };
  /** resolves on the next CONNECTED (at once when connected); rejects CLOSED / PEER_REJECTED */
  connect(): Promise<unknown>;
  /** calls `wake` once on the next RX_READY of rx queue `qid` */
  waitRx(qid: number, wake: () => void): void;
  cancelRx(qid: number, wake: () => void): void;
  /** a queue was opened (the port tells it CONNECTED / DISCONNECTED) */
  track(q: QueueCore): void;
  /** the queue was closed */
  forget(q: QueueCore): void;
}

/** @internal */
export const RX_MODES: Record<RxMode, number> = {
  adaptive: RX_MODE_ADAPTIVE,
  polling: RX_MODE_POLLING,
  interrupt: RX_MODE_INTERRUPT,
};

/** @internal */
export function rxModeOf(mode: RxMode | undefined): RxMode {
  if (mode === undefined) return "adaptive";
  if (!(mode in RX_MODES)) {
    throw new MemifError("INVALID_ARGUMENT", `Queue: rxMode must be 'adaptive', 'polling' or 'interrupt', got ${mode}`);
  }
  return mode;
}

/** Opens queue `qid` of `port` in the core; returns its handle (an rx or a tx queue's, as `dir`). @internal */
export function openHandle(native: NativeBackend, port: PortLink, dir: Direction, qid: number): number {
  if (!Number.isInteger(qid) || qid < 0 || qid > 254) {
    throw new MemifError("QUEUE_RANGE", `Queue: queue id must be an integer in 0..254, got ${qid}`);
  }
  const h = dir === "rx" ? native.rxQueueOpen(port.handle(), qid) : native.txQueueOpen(port.handle(), qid);
  check(h, `zmemif_${dir}_queue_open(port ${port.id}, ${qid})`);
  return h;
}

/**
 * The calls a queue makes on its handle: those of its direction (zmemif_rx_queue_* or
 * zmemif_tx_queue_*), since an rx and a tx queue are different handle types in the core.
 */
interface QueueCalls {
  attach(queue: number): number;
  detach(queue: number): number;
  numRegions(queue: number): number;
  region(queue: number, idx: number): ArrayBuffer | number;
  stats(queue: number, out: BigUint64Array): number;
  free(queue: number): void;
  share(queue: number): number;
  adopt(queue: number): number;
}

function queueCalls(native: NativeBackend, dir: Direction): QueueCalls {
  return dir === "rx"
    ? {
        attach: native.rxQueueAttach,
        detach: native.rxQueueDetach,
        numRegions: native.rxQueueNumRegions,
        region: native.rxQueueRegion,
        stats: native.rxQueueStats,
        free: native.rxQueueFree,
        share: native.rxQueueShare,
        adopt: native.rxQueueAdopt,
      }
    : {
        attach: native.txQueueAttach,
        detach: native.txQueueDetach,
        numRegions: native.txQueueNumRegions,
        region: native.txQueueRegion,
        stats: native.txQueueStats,
        free: native.txQueueFree,
        share: native.txQueueShare,
        adopt: native.txQueueAdopt,
      };
}

/**
 * Opens queue `qid` of `port` for another thread (Port.shareQueue): the handle is no thread's
 * until adopted, so this thread's end does not close it under its adopter. @internal
 */
export function openSharedHandle(native: NativeBackend, port: PortLink, dir: Direction, qid: number): number {
  const h = openHandle(native, port, dir, qid);
  const calls = queueCalls(native, dir);
  const rc = calls.share(h);
  if (rc < 0) {
    const err = errorFor(rc, `zmemif_${dir}_queue_share(port ${port.id}, ${qid})`);
    calls.free(h);
    throw err;
  }
  return h;
}

/**
 * Claims a token for this thread (throws if it is not one, or was adopted already) and makes its
 * queue this thread's in the core (closed when this thread ends). @internal
 */
export function claimToken<D extends Direction>(native: NativeBackend, token: QueueToken<D>, dir: D): void {
  const op = dir === "rx" ? "RxQueue.adopt" : "TxQueue.adopt";
  if (token?.kind !== "zmemif.queue" || !(token.claim instanceof Int32Array)) {
    throw new MemifError("INVALID_ARGUMENT", `${op}: not a token from port.shareQueue()`);
  }
  if (token.dir !== dir) {
    throw new MemifError(
      "INVALID_ARGUMENT",
      `${op}: a token of a ${token.dir} queue; adopt it with ${token.dir === "rx" ? "RxQueue" : "TxQueue"}.adopt`,
    );
  }
  if (Atomics.compareExchange(token.claim, 0, 0, 1) !== 0) {
    throw new MemifError("BUSY", `${op}: ${token.dir} queue ${token.qid} was already adopted`);
  }
  check(queueCalls(native, dir).adopt(token.handle), `${op}(${dir} queue ${token.qid})`);
}

/** The state of one open queue, shared by RxQueue and TxQueue. Internal to ts/. @internal */
export class QueueCore {
  readonly native: NativeBackend;
  /** the backend's calls for this queue's direction */
  readonly #calls: QueueCalls;
  readonly dir: Direction;
  readonly qid: number;
  /** null for a queue adopted by a Worker (port events do not reach it) */
  readonly port: PortLink | null;
  /** the core's handle; 0 once closed */
  h: number;
  /** the views of the attached connection (null: not attached) */
  mapping: Mapping | null = null;
  /** rx: the batch of the last burst (its buffers are the peer's again at the next burst) */
  lastRx: Batch | null = null;
  rxMode: RxMode;
  bufferSize: number;
  ringSize: number;
  /** rx: the most descriptors one packet can have on the attached connection (0: unknown) */
  maxSegments = 0;
  /** whether the queue was ever attached to a connection (for messages) */
  attachedOnce = false;
  /** the capture recording this queue's bursts (null: none; the hot path's one branch per burst) */
  tap: Tap | null = null;
  /** whoever waits for this queue (readable, a Worker's arm) */
  wake: (() => void) | null = null;
  readonly #stats = new BigUint64Array(QUEUE_STATS_SIZE / 8);

  constructor(
    native: NativeBackend,
    port: PortLink | null,
    dir: Direction,
    qid: number,
    handle: number,
    rxMode: RxMode,
    bufferSize: number,
    ringSize: number,
  ) {
    this.native = native;
    this.#calls = queueCalls(native, dir);
    this.port = port;
    this.dir = dir;
    this.qid = qid;
    this.h = handle;
    this.rxMode = rxMode;
    this.bufferSize = bufferSize;
    this.ringSize = ringSize;
  }

  /** Attaches to the port's current connection and makes one view per region. null: not connected. */
  attach(): Mapping | null {
    const h = this.h;
    if (h === 0) throw new MemifError("CLOSED", `${this.name()} is closed`);
    const native = this.native;
    const calls = this.#calls;
    const gen = calls.attach(h);
    if (gen === E_NOT_CONNECTED) return null;
    check(gen, `zmemif_${this.dir}_queue_attach(${this.name()})`);
    const buffers: ArrayBuffer[] = [];
    try {
      const n = check(calls.numRegions(h), `zmemif_${this.dir}_queue_num_regions`);
      for (let i = 0; i < n; i++) {
        const b = calls.region(h, i);
        if (typeof b === "number") check(b, `zmemif_${this.dir}_queue_region(${i})`);
        else buffers.push(b);
      }
      if (this.dir === "rx" && this.rxMode !== "adaptive") {
        check(native.queueSetMode(h, RX_MODES[this.rxMode]), "zmemif_rx_queue_set_mode");
      }
      if (this.port !== null) {
        const s = this.port.sizes();
        this.bufferSize = s.bufferSize;
        this.ringSize = s.ringSize;
        this.maxSegments = s.maxSegments;
      }
    } catch (e) {
      for (const b of buffers) native.revokeRegion(b);
      calls.detach(h);
      if (e instanceof MemifError && e.code === "NOT_CONNECTED") return null;
      throw e;
    }
    this.mapping = new Mapping(native, gen, buffers);
    this.attachedOnce = true;
    return this.mapping;
  }

  /** Revokes every view of the current connection, then lets the core unmap it. */
  revokeAndDetach(): void {
    const m = this.mapping;
    if (m === null) return;
    this.mapping = null;
    m.revoke(); // first: no JS view may outlive the mapping
    if (this.lastRx !== null) this.lastRx.count = 0;
    this.lastRx = null;
    if (this.h !== 0) this.#calls.detach(this.h);
  }

  /** port event: a new connection is up */
  onConnected(): void {
    this.wakeWaiter();
  }

  /** port event: connection `generation` ended */
  /** Starts recording this queue's packets (queue.capture()); BUSY while another capture runs. */
  capture(target: string | WritableStream<Uint8Array>, options: CaptureOptions = {}): Capture {
    if (this.h === 0) throw new MemifError("CLOSED", `${this.name()} is closed`);
    if (this.tap !== null) {
      throw new MemifError("BUSY", `${this.name()} is already captured: close() that capture first`);
    }
    const cap = new Capture(target, options);
    const tap = cap.tap(`${this.dir}${this.qid}`);
    this.tap = tap;
    cap.onClose = () => {
      if (this.tap === tap) this.tap = null;
    };
    return cap;
  }

  onDisconnected(generation: number): void {
    const m = this.mapping;
    if (m !== null && m.generation <= generation) this.revokeAndDetach();
    this.wakeWaiter();
  }

  wakeWaiter(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  name(): string {
    return `${this.dir} queue ${this.qid}${this.port !== null ? ` of port ${this.port.id}` : ""}`;
  }

  /** NOT_CONNECTED for `op`: the connection this queue used has ended, or there was none yet. */
  notConnected(op: string, lost: number): MemifError {
    const ended = this.attachedOnce;
    const what = ended ? "the connection ended" : "the port is not connected yet";
    return new MemifError(
      "NOT_CONNECTED",
      `${op} on ${this.name()}: ${what}` +
        (lost > 0 ? `; the ${lost} buffer(s) in the batch were not sent` : "") +
        (ended ? "; wait for the port to reconnect (port.connect())" : "; wait for it with port.connect()") +
        (lost > 0 ? " and alloc again" : ""),
      { errno: E_NOT_CONNECTED, op },
    );
  }

  stats(): QueueStats {
    if (this.h === 0) throw new MemifError("CLOSED", `${this.name()} is closed`);
    check(this.#calls.stats(this.h, this.#stats), `zmemif_${this.dir}_queue_stats_get`);
    const s = this.#stats;
    return {
      packets: Number(s[QUEUE_STATS_PACKETS_OFF / 8]),
      bytes: Number(s[QUEUE_STATS_BYTES_OFF / 8]),
      badDescs: Number(s[QUEUE_STATS_BAD_DESCS_OFF / 8]),
      ringFull: Number(s[QUEUE_STATS_RING_FULL_OFF / 8]),
      interrupts: Number(s[QUEUE_STATS_INTERRUPTS_OFF / 8]),
      unreadAtDisconnect: Number(s[QUEUE_STATS_UNREAD_AT_DISCONNECT_OFF / 8]),
    };
  }

  /** Revokes the views, detaches and frees the queue. Idempotent. */
  close(): void {
    const h = this.h;
    if (h === 0) return;
    this.revokeAndDetach();
    this.h = 0;
    this.port?.forget(this);
    this.#calls.free(h);
    this.wakeWaiter();
  }
}
