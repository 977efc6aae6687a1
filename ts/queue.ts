/**
 * Queue: one ring of a port, for receiving (rx) or transmitting (tx), and the hot path.
 *
 * Hot path (rxBurst, alloc, txBurst): one FFI call with numbers only (the queue's handle, the
 * batch's descriptor address, a count) and no allocation. The queue's views (one per region) are
 * made when it attaches to a connection and revoked when that connection ends, always before
 * zmemif_queue_detach lets the core unmap the memory (see batch.ts for the lifetime rules).
 *
 * Waiting (the JS thread never blocks in the core):
 *  - rx, adaptive (default) or interrupt mode: zmemif_queue_arm, then the port's RX_READY event
 *    wakes us on this thread's loop (≈0 % CPU while idle);
 *  - rx in a Worker (a queue from Queue.adopt; port events go to the port's thread):
 *    zmemif_queue_arm_cb with this thread's own threadsafe JSCallback, so the Worker's loop is
 *    woken directly; a 100 ms re-check notices a disconnect, which no event reports there;
 *  - rx, polling mode: the next turn of the event loop (highest rate, one core busy);
 *  - tx space (backpressure): zmemif_tx_wait(q, n, 0) for the n buffers a packet needs, asked
 *    again after a growing pause (two loop turns, then 1, 2, 4, 8 ms): the peer does not signal
 *    freed buffers.
 */
import { JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import { Batch, Mapping } from "./batch.ts";
import { MemifError } from "./errors.ts";
import {
  check,
  DIR_RX,
  DIR_TX,
  DESC_NEXT,
  DESC_SIZE,
  E_NOT_CONNECTED,
  errorFor,
  EVENT_CALLBACK,
  EVENT_RX_READY,
  lib,
  QUEUE_STATS_SIZE,
  RX_MODE_ADAPTIVE,
  RX_MODE_INTERRUPT,
  RX_MODE_POLLING,
  withOut2,
  withOutHandle,
  type Native,
} from "./ffi.ts";
import { sleep, yieldLoop } from "./loop.ts";
import type { Port } from "./port.ts";

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

const RX_MODES: Record<RxMode, number> = {
  adaptive: RX_MODE_ADAPTIVE,
  polling: RX_MODE_POLLING,
  interrupt: RX_MODE_INTERRUPT,
};

function rxModeOf(mode: RxMode | undefined): RxMode {
  if (mode === undefined) return "adaptive";
  if (!(mode in RX_MODES)) {
    throw new MemifError("INVALID_ARGUMENT", `Queue: rxMode must be 'adaptive', 'polling' or 'interrupt', got ${mode}`);
  }
  return mode;
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
}

/**
 * Hands one queue to a Worker: `port.shareQueue(...)` in the thread that owns the port,
 * `postMessage(token)`, then `Queue.adopt(token)` in the Worker. Opaque; adoptable once.
 */
export interface QueueToken {
  readonly kind: "zmemif.queue";
  readonly dir: Direction;
  readonly qid: number;
  readonly handle: number;
  readonly bufferSize: number;
  /** descriptors per ring (0: learned when adopted queue attaches) */
  readonly ringSize: number;
  /** 0 until adopted; shared so a second adopt() in any thread fails instead of double-freeing */
  readonly claim: Int32Array;
}

// Hot-path functions, bound once when the first queue opens.
let rxBurstFn: Native["zmemif_rx_burst"];
let rxReleaseFn: Native["zmemif_rx_release"];
let txAllocFn: Native["zmemif_tx_alloc"];
let txBurstFn: Native["zmemif_tx_burst"];

function bindHotPath(native: Native): void {
  rxBurstFn = native.zmemif_rx_burst;
  rxReleaseFn = native.zmemif_rx_release;
  txAllocFn = native.zmemif_tx_alloc;
  txBurstFn = native.zmemif_tx_burst;
}

/** A Worker's armed rx queue looks again this often: a disconnect sends it no event. */
const WORKER_RECHECK_MS = 100;
/** A Worker's queue that is not connected tries to attach this often. */
const WORKER_ATTACH_MS = 50;
const TX_BACKOFF_MAX_MS = 8;

// ---- the per-thread rx wake-up callback for queues adopted by this thread (Workers) ----

const armed = new Map<number, Queue>();
let nextArmKey = 1;
let armCallback: JSCallback | null = null;

function onArmEvent(ctx: number, event: number, _arg: number): void {
  if (event === EVENT_RX_READY) armed.get(ctx)?._onRxReady();
}

/**
 * Made on first use and never closed: the core may call it until it has fired or the port is
 * freed, and the port belongs to another thread (zmemif_queue_arm_cb). A late call finds no key.
 */
function armCallbackPtr(): Pointer {
  armCallback ??= new JSCallback(onArmEvent, EVENT_CALLBACK);
  return armCallback.ptr as Pointer;
}

export class Queue implements AsyncIterable<Uint8Array> {
  readonly dir: Direction;
  readonly qid: number;
  readonly #port: Port | null;
  #h: Pointer | 0;
  #mapping: Mapping | null = null;
  #lastRx: Batch | null = null;
  #rxMode: RxMode;
  #bufferSize: number;
  #ringSize: number;
  #sendBatch: Batch | null = null;
  #wake: (() => void) | null = null;
  /** the callback of the pending _armWake() */
  #armedFor: (() => void) | null = null;
  /** key of this queue for the thread's arm callback (adopted queues only; 0 otherwise) */
  readonly #armKey: number;
  readonly #statsBuf = new BigUint64Array(QUEUE_STATS_SIZE / 8);

  private constructor(
    port: Port | null,
    dir: Direction,
    qid: number,
    handle: Pointer,
    rxMode: RxMode,
    bufferSize: number,
    ringSize: number,
  ) {
    this.#port = port;
    this.dir = dir;
    this.qid = qid;
    this.#h = handle;
    this.#rxMode = rxMode;
    this.#bufferSize = bufferSize;
    this.#ringSize = ringSize;
    this.#armKey = port === null && dir === "rx" ? nextArmKey++ : 0;
    if (this.#armKey !== 0) armed.set(this.#armKey, this);
  }

  /** @internal Port.rxQueue / Port.txQueue */
  static _open(port: Port, dir: Direction, qid: number, options: QueueOptions): Queue {
    const mode = rxModeOf(options.rxMode);
    return new Queue(port, dir, qid, Queue.#openHandle(port, dir, qid), mode, 0, 0);
  }

  static #openHandle(port: Port, dir: Direction, qid: number): Pointer {
    if (dir !== "rx" && dir !== "tx") {
      throw new MemifError("INVALID_ARGUMENT", `Queue: direction must be 'rx' or 'tx', got ${dir}`);
    }
    if (!Number.isInteger(qid) || qid < 0 || qid > 254) {
      throw new MemifError("QUEUE_RANGE", `Queue: queue id must be an integer in 0..254, got ${qid}`);
    }
    const native = lib();
    bindHotPath(native);
    const ph = port._handle();
    const [rc, h] = withOutHandle((out) => native.zmemif_queue_open(ph, dir === "rx" ? DIR_RX : DIR_TX, qid, out));
    check(rc, `zmemif_queue_open(port ${port.id}, ${dir}, ${qid})`);
    return h as Pointer;
  }

  /** @internal Port.shareQueue */
  static _share(port: Port, dir: Direction, qid: number): QueueToken {
    const handle = Queue.#openHandle(port, dir, qid);
    let bufferSize = 0;
    let ringSize = 0;
    try {
      const info = port.info();
      if (info.state === "connected") ({ bufferSize, ringSize } = info);
    } catch {
      // learned when the adopted queue attaches
    }
    return {
      kind: "zmemif.queue",
      dir,
      qid,
      handle,
      bufferSize,
      ringSize,
      claim: new Int32Array(new SharedArrayBuffer(4)),
    };
  }

  /**
   * Takes ownership of a queue shared by `port.shareQueue()` (typically in a Worker). The Worker
   * must close() it (before the Worker exits). Port events do not reach a Worker: rx waits are
   * woken by the Worker's own callback (zmemif_queue_arm_cb), and the queue re-attaches on its
   * own after a reconnect.
   */
  static adopt(token: QueueToken, options: QueueOptions = {}): Queue {
    if (token?.kind !== "zmemif.queue" || !(token.claim instanceof Int32Array)) {
      throw new MemifError("INVALID_ARGUMENT", "Queue.adopt: not a token from port.shareQueue()");
    }
    if (Atomics.compareExchange(token.claim, 0, 0, 1) !== 0) {
      throw new MemifError("BUSY", `Queue.adopt: ${token.dir} queue ${token.qid} was already adopted`);
    }
    bindHotPath(lib());
    return new Queue(
      null,
      token.dir,
      token.qid,
      token.handle as Pointer,
      rxModeOf(options.rxMode),
      token.bufferSize,
      token.ringSize ?? 0,
    );
  }

  get closed(): boolean {
    return this.#h === 0;
  }

  /** true while attached to a live connection (attaches if the port has connected meanwhile) */
  get connected(): boolean {
    return this.#h !== 0 && (this.#mapping ?? this.#attach()) !== null;
  }

  // ---- attach / revoke ----

  /** Attaches to the port's current connection and makes one view per region. null: not connected. */
  #attach(): Mapping | null {
    const h = this.#h;
    if (h === 0) throw new MemifError("CLOSED", `${this.#name()} is closed`);
    const native = lib();
    const gen = native.zmemif_queue_attach(h);
    if (gen === E_NOT_CONNECTED) return null;
    check(gen, `zmemif_queue_attach(${this.#name()})`);
    let buffers: ArrayBuffer[] = [];
    try {
      const n = check(native.zmemif_queue_num_regions(h), "zmemif_queue_num_regions");
      for (let i = 0; i < n; i++) {
        const [rc, base, size] = withOut2((b, s) => native.zmemif_queue_region(h, i, b, s));
        check(rc, `zmemif_queue_region(${i})`);
        buffers.push(toArrayBuffer(base as Pointer, 0, size));
      }
      if (this.dir === "rx" && this.#rxMode !== "adaptive") {
        check(native.zmemif_queue_set_mode(h, RX_MODES[this.#rxMode]), "zmemif_queue_set_mode");
      }
      if (this.#port !== null) ({ bufferSize: this.#bufferSize, ringSize: this.#ringSize } = this.#port.info());
    } catch (e) {
      for (const b of buffers) b.transfer(0);
      buffers = [];
      native.zmemif_queue_detach(h);
      if (e instanceof MemifError && e.code === "NOT_CONNECTED") return null;
      throw e;
    }
    this.#mapping = new Mapping(gen, buffers);
    return this.#mapping;
  }

  /** Revokes every view of the current connection, then lets the core unmap it. */
  #revokeAndDetach(): void {
    const m = this.#mapping;
    if (m === null) return;
    this.#mapping = null;
    m.revoke(); // first: no JS view may outlive the mapping
    if (this.#lastRx !== null) this.#lastRx.count = 0;
    this.#lastRx = null;
    if (this.#h !== 0) lib().zmemif_queue_detach(this.#h);
  }

  /** @internal port event: a new connection is up */
  _onConnected(): void {
    this.#wakeWaiter();
  }

  /** @internal port event: connection `generation` ended */
  _onDisconnected(generation: number): void {
    const m = this.#mapping;
    if (m !== null && m.generation <= generation) this.#revokeAndDetach();
    this.#wakeWaiter();
  }

  /** @internal this thread's arm callback: data arrived on an adopted rx queue */
  _onRxReady(): void {
    this.#wakeWaiter();
  }

  #wakeWaiter(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #name(): string {
    return `${this.dir} queue ${this.qid}${this.#port !== null ? ` of port ${this.#port.id}` : ""}`;
  }

  #notConnected(op: string, lost: number): MemifError {
    return new MemifError(
      "NOT_CONNECTED",
      `${op} on ${this.#name()}: the connection ended` +
        (lost > 0 ? `; the ${lost} buffer(s) in the batch were not sent` : "") +
        "; wait for the port to reconnect (port.connect()) and alloc again",
      { errno: E_NOT_CONNECTED, op },
    );
  }

  // ---- hot path ----

  /**
   * Receives up to `batch.capacity` descriptors (whole packets) into `batch` and returns how many.
   * Releases the previous burst of this queue first. Returns 0 while the port is not connected.
   */
  rxBurst(batch: Batch): number {
    const m = this.#mapping ?? this.#attach();
    if (m === null) {
      batch._bind(null, 0);
      return 0;
    }
    const prev = this.#lastRx;
    if (prev !== null && prev !== batch) prev.count = 0; // its buffers go back to the peer now
    const n = rxBurstFn(this.#h as Pointer, batch._address, batch.capacity);
    if (n >= 0) {
      batch._bind(m, n);
      this.#lastRx = batch;
      return n;
    }
    batch._bind(null, 0);
    if (n === E_NOT_CONNECTED) {
      this.#revokeAndDetach();
      return 0;
    }
    throw errorFor(n, `rxBurst(${this.#name()})`);
  }

  /** Gives the last burst's buffers back to the peer without receiving more. */
  release(): void {
    if (this.#mapping === null) return;
    const rc = rxReleaseFn(this.#h as Pointer);
    if (this.#lastRx !== null) this.#lastRx.count = 0;
    this.#lastRx = null;
    if (rc === E_NOT_CONNECTED) this.#revokeAndDetach();
    else if (rc < 0) throw errorFor(rc, `release(${this.#name()})`);
  }

  /**
   * Reserves up to `n` transmit buffers into `batch` (their lengths are the capacities) and returns
   * how many; 0 when the ring is full or the port is not connected. Fill them through
   * `batch.view(batch.region(i))` at `batch.offset(i)`, set lengths, then txBurst().
   */
  alloc(batch: Batch, n: number = batch.capacity): number {
    const m = this.#mapping ?? this.#attach();
    if (m === null) {
      batch._bind(null, 0);
      return 0;
    }
    const got = txAllocFn(this.#h as Pointer, batch._address, n < batch.capacity ? n : batch.capacity);
    if (got >= 0) {
      batch._bind(m, got);
      return got;
    }
    batch._bind(null, 0);
    if (got === E_NOT_CONNECTED) {
      this.#revokeAndDetach();
      return 0;
    }
    throw errorFor(got, `alloc(${this.#name()})`);
  }

  /**
   * Sends the first `n` (default `batch.count`) allocated buffers with the lengths and NEXT flags in
   * `batch`; returns how many were sent. Throws MemifError NOT_CONNECTED if the connection ended
   * since alloc() (those buffers are gone), STALE_VIEW if the batch came from an older connection.
   */
  txBurst(batch: Batch, n: number = batch.count): number {
    const m = this.#mapping;
    if (m === null || batch._mapping !== m) {
      if (n === 0) return 0;
      if (m === null) throw this.#notConnected("txBurst", n);
      throw new MemifError("STALE_VIEW", `txBurst on ${this.#name()}: the batch was allocated on another connection or queue`);
    }
    const sent = txBurstFn(this.#h as Pointer, batch._address, n);
    if (sent >= 0) return sent;
    if (sent === E_NOT_CONNECTED) {
      this.#revokeAndDetach();
      throw this.#notConnected("txBurst", n);
    }
    throw errorFor(sent, `txBurst(${this.#name()})`);
  }

  // ---- waiting ----

  /**
   * Resolves when at least `n` transmit buffers are free (backpressure; a chained packet needs
   * several). Rejects with NOT_CONNECTED if the connection is down, TIMEOUT after `timeoutMs`
   * (-1: wait as long as it takes). Never blocks the event loop.
   */
  async writable(timeoutMs = -1, n = 1): Promise<void> {
    if (this.dir !== "tx") throw new MemifError("INVALID_ARGUMENT", `writable() needs a tx queue; ${this.#name()} is rx`);
    const native = lib();
    const start = performance.now();
    let delay = 0;
    for (;;) {
      if (this.#mapping === null && this.#attach() === null) throw this.#notConnected("writable", 0);
      const rc = native.zmemif_tx_wait(this.#h as Pointer, n, 0);
      if (rc === 1) return;
      if (rc === E_NOT_CONNECTED) {
        this.#revokeAndDetach();
        throw this.#notConnected("writable", 0);
      }
      if (rc < 0) throw errorFor(rc, `zmemif_tx_wait(${this.#name()}, ${n})`);
      if (timeoutMs >= 0 && performance.now() - start >= timeoutMs) {
        throw new MemifError(
          "TIMEOUT",
          `${this.#name()}: ${n} transmit buffer(s) not free after ${timeoutMs} ms; is the peer reading?`,
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

  /**
   * Resolves when rx data may be available (a following rxBurst can still return 0), when the
   * port (re)connects, or when the queue is closed.
   */
  async readable(): Promise<void> {
    const h = this.#h;
    if (h === 0) return;
    if (this.#mapping === null && this.#attach() === null) {
      await this.#waitConnected();
      return;
    }
    if (this.#rxMode === "polling") return yieldLoop();
    const native = lib();
    const port = this.#port;
    if (port === null) return this.#readableAdopted(h);
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        port._cancelRx(this.qid, wake);
        if (this.#wake === wake) this.#wake = null;
        resolve();
      };
      this.#wake = wake;
      port._waitRx(this.qid, wake);
      const rc = native.zmemif_queue_arm(h);
      if (rc === E_NOT_CONNECTED) {
        this.#revokeAndDetach();
        wake();
      } else if (rc < 0) {
        port._cancelRx(this.qid, wake);
        this.#wake = null;
        reject(errorFor(rc, `zmemif_queue_arm(${this.#name()})`));
      } else if (rc === 1 || native.zmemif_queue_wait(h, 0) !== 0) {
        wake(); // data (or a state change) arrived before the arm took effect
      }
    });
  }

  /**
   * @internal readable() without a Promise, for a consumer that keeps one callback (the UDP
   * interface's receive loop): nothing is allocated per wait. Returns 0 when armed (`wake` runs
   * once, on this thread's loop, when data arrives, the port reconnects or disconnects, or the
   * queue closes), 1 when data may be there now (nothing armed: look again), -1 when the caller
   * must use readable() instead (not connected, polling mode, a queue adopted in a Worker).
   */
  _armWake(wake: () => void): number {
    const h = this.#h;
    const port = this.#port;
    if (h === 0 || port === null || this.#rxMode === "polling") return -1;
    if (this.#mapping === null && this.#attach() === null) return -1;
    const native = lib();
    this.#armedFor = wake;
    this.#wake = this.#armedWake;
    port._waitRx(this.qid, this.#armedWake);
    const rc = native.zmemif_queue_arm(h);
    if (rc === 0 && native.zmemif_queue_wait(h, 0) === 0) return 0;
    port._cancelRx(this.qid, this.#armedWake);
    this.#wake = null;
    this.#armedFor = null;
    if (rc === E_NOT_CONNECTED) {
      this.#revokeAndDetach();
      return -1;
    }
    if (rc < 0) throw errorFor(rc, `zmemif_queue_arm(${this.#name()})`);
    return 1; // data (or a state change) arrived before the arm took effect
  }

  readonly #armedWake = (): void => {
    this.#port?._cancelRx(this.qid, this.#armedWake);
    if (this.#wake === this.#armedWake) this.#wake = null;
    const w = this.#armedFor;
    this.#armedFor = null;
    w?.();
  };

  /**
   * readable() for a queue adopted in a Worker: the core wakes this thread's own callback
   * (zmemif_queue_arm_cb). A disconnect drops the arm without a call, so look again after
   * WORKER_RECHECK_MS at most (≈10 loop wake-ups a second while idle).
   */
  #readableAdopted(h: Pointer): Promise<void> {
    const rc = lib().zmemif_queue_arm_cb(h, armCallbackPtr(), this.#armKey);
    if (rc === 1) return Promise.resolve(); // data is there already
    if (rc === E_NOT_CONNECTED) {
      this.#revokeAndDetach();
      return Promise.resolve();
    }
    if (rc < 0) return Promise.reject(errorFor(rc, `zmemif_queue_arm_cb(${this.#name()})`));
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => wake(), WORKER_RECHECK_MS);
      const wake = () => {
        clearTimeout(timer);
        if (this.#wake === wake) this.#wake = null;
        resolve();
      };
      this.#wake = wake;
    });
  }

  async #waitConnected(): Promise<void> {
    const port = this.#port;
    if (port === null) {
      await sleep(WORKER_ATTACH_MS);
      return;
    }
    try {
      await port.connect();
    } catch (e) {
      if (e instanceof MemifError && e.code === "CLOSED") return;
      await sleep(100); // a refused handshake: the client retries; so do we
    }
  }

  // ---- conveniences, built on the same path ----

  /**
   * Sends one packet, chaining buffers when it is larger than one. Waits for ring space
   * (backpressure) rather than dropping. Throws NOT_CONNECTED when the port is not connected,
   * TOO_LARGE when the packet needs more buffers than the ring can ever give.
   */
  async send(bytes: Uint8Array, options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.dir !== "tx") throw new MemifError("INVALID_ARGUMENT", `send() needs a tx queue; ${this.#name()} is rx`);
    const timeoutMs = options.timeoutMs ?? -1;
    const total = bytes.byteLength;
    if (total === 0) throw new MemifError("INVALID_ARGUMENT", `send on ${this.#name()}: a packet needs at least 1 byte`);
    let batch = this.#sendBatch ?? (this.#sendBatch = new Batch(32));
    for (;;) {
      if (this.#mapping === null && this.#attach() === null) throw this.#notConnected("send", 0);
      if (this.#bufferSize === 0) {
        // learn the buffer capacity (a queue adopted before the port connected)
        if (this.alloc(batch, 1) === 1) this.#bufferSize = batch.length(0);
        else {
          await this.writable(timeoutMs);
          continue;
        }
      }
      const need = Math.max(1, Math.ceil(total / this.#bufferSize));
      if (need > 65536 || (this.#ringSize > 0 && need > this.#ringSize)) throw this.#tooLarge(total, need);
      if (need > batch.capacity) batch = this.#sendBatch = new Batch(2 ** Math.ceil(Math.log2(need)));
      // Reserving again replaces an earlier, partial reservation.
      const got = this.alloc(batch, need);
      if (got < need) {
        if (this.#mapping === null) throw this.#notConnected("send", 0);
        await this.writable(timeoutMs, need); // one wait for the whole packet's buffers
        continue;
      }
      const d = batch.descs;
      let at = 0;
      for (let i = 0; i < need; i++) {
        const cap = d[i * 4 + 1]!;
        const len = Math.min(cap, total - at);
        batch.view(d[i * 4]! >>> 16).set(bytes.subarray(at, at + len), d[i * 4 + 2]!);
        d[i * 4 + 1] = len;
        d[i * 4] = i + 1 < need ? d[i * 4]! | DESC_NEXT : d[i * 4]! & ~DESC_NEXT;
        at += len;
      }
      let sent = this.txBurst(batch, need);
      while (sent < need) {
        // Partial send: the rest stays reserved; send it from where the core stopped.
        await this.writable(timeoutMs);
        const rc = txBurstFn(this.#h as Pointer, (batch._address + sent * DESC_SIZE) as Pointer, need - sent);
        if (rc === E_NOT_CONNECTED) {
          this.#revokeAndDetach();
          throw this.#notConnected("send", need - sent);
        }
        if (rc < 0) throw errorFor(rc, `txBurst(${this.#name()})`);
        sent += rc;
      }
      return;
    }
  }

  #tooLarge(total: number, need: number): MemifError {
    return new MemifError(
      "TOO_LARGE",
      `send on ${this.#name()}: ${total} bytes need ${need} buffers of ${this.#bufferSize} bytes` +
        (this.#ringSize > 0 ? ` but the ring has ${this.#ringSize}` : "") +
        "; use a larger bufferSize or ringSize",
    );
  }

  /**
   * Receives packets until the queue or port is closed, waiting in interrupt mode (or polling, per
   * options) when the ring is empty. Each packet is a Uint8Array valid until the next iteration:
   * zero-copy for a single buffer, a copy for a chained packet. Copy it (`packet.slice()`) to keep it.
   * One consumer per queue.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.dir !== "rx") throw new MemifError("INVALID_ARGUMENT", `iterating needs an rx queue; ${this.#name()} is tx`);
    const batch = new Batch(32);
    try {
      while (this.#h !== 0) {
        const n = this.rxBurst(batch);
        if (n === 0) {
          await this.readable();
          continue;
        }
        for (let i = 0; i < batch.count; i = batch.packetEnd(i)) {
          yield batch.hasNext(i) ? batch.copyPacket(i) : batch.data(i);
        }
      }
    } finally {
      if (this.#h !== 0 && this.#lastRx === batch) this.release();
    }
  }

  // ---- control ----

  /** rx: how the queue is woken (see RxMode). Kept across reconnects. */
  get rxMode(): RxMode {
    return this.#rxMode;
  }

  set rxMode(mode: RxMode) {
    if (this.dir !== "rx") throw new MemifError("INVALID_ARGUMENT", `rxMode applies to rx queues; ${this.#name()} is tx`);
    this.#rxMode = rxModeOf(mode);
    if (this.#h !== 0) {
      const rc = lib().zmemif_queue_set_mode(this.#h, RX_MODES[this.#rxMode]);
      if (rc < 0 && rc !== E_NOT_CONNECTED) throw errorFor(rc, "zmemif_queue_set_mode");
    }
  }

  stats(): QueueStats {
    if (this.#h === 0) throw new MemifError("CLOSED", `${this.#name()} is closed`);
    check(lib().zmemif_queue_stats_get(this.#h, this.#statsBuf), "zmemif_queue_stats_get");
    const s = this.#statsBuf;
    return {
      packets: Number(s[0]),
      bytes: Number(s[1]),
      badDescs: Number(s[2]),
      ringFull: Number(s[3]),
      interrupts: Number(s[4]),
    };
  }

  /** Revokes this queue's views, detaches it and frees it. Idempotent. */
  close(): void {
    const h = this.#h;
    if (h === 0) return;
    if (this.#armKey !== 0) {
      this.#disarm(h);
      armed.delete(this.#armKey);
    }
    this.#revokeAndDetach();
    this.#h = 0;
    this.#port?._forget(this);
    lib().zmemif_queue_free(h);
    this.#wakeWaiter();
  }

  /**
   * An adopted queue's pending arm would call this thread's callback until it fires or the port
   * is freed, perhaps after this Worker has exited: hand it back to the port's callback (the
   * owning thread ignores an RX_READY nobody waits for). zmemif_queue_arm replaces the callback
   * of a pending arm, but arms nothing when data is waiting, so drain that first (the queue is
   * closing: nobody will read it).
   */
  #disarm(h: Pointer): void {
    const native = lib();
    for (let i = 0; i < 64; i++) {
      const rc = native.zmemif_queue_arm(h);
      if (rc !== 1) return; // 0: re-armed to the port's callback; < 0: not connected (no arm left)
      if (this.#mapping === null) return;
      if (rxBurstFn(h, this.#drain._address, this.#drain.capacity) < 0) return;
    }
  }

  get #drain(): Batch {
    return (this.#sendBatch ??= new Batch(32));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
