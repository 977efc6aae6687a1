/**
 * RxQueue: one receive ring of a port (as client: an S2C ring; as server: a C2S ring).
 *
 * Hot path (rxBurst): one native call with numbers only (the queue's handle, the batch's
 * descriptor address, a count) and no allocation.
 *
 * Waiting (the JS thread never blocks in the core):
 *  - adaptive (default) or interrupt mode: zmemif_rx_queue_arm, then the port's RX_READY event wakes
 *    us on this thread's loop (≈0 % CPU while idle);
 *  - in a Worker (a queue from RxQueue.adopt; port events go to the port's thread):
 *    zmemif_rx_queue_arm_cb with this thread's own event hook, so the Worker's loop is woken
 *    directly, also when the connection ends (a 100 ms re-check remains as a safety net); while
 *    not connected it tries to attach after 1, 2, 4, 8, 16, 16, ... ms;
 *  - polling mode: the next turn of the event loop (highest rate, one core busy).
 */
import { Batch, batchAddress, bindBatch, growBatch, type Mapping } from "./batch.ts";
import type { Capture, CaptureOptions } from "./capture/capture.ts";
import { MemifError } from "./errors.ts";
import { sleep, yieldLoop } from "./loop.ts";
import { E_NOT_CONNECTED, E_TOO_LARGE, EVENT_RX_READY, MAX_PACKET } from "./native/abi.ts";
import { backend, type EventHook, type NativeBackend } from "./native/backend.ts";
import { errorFor } from "./native/check.ts";
import {
  claimToken,
  openHandle,
  type PortLink,
  QueueCore,
  type QueueOptions,
  type QueueStats,
  type QueueToken,
  RX_MODES,
  type RxMode,
  rxModeOf,
} from "./queue.ts";

/** A Worker's armed rx queue looks again this often (a closed port's arm calls nobody). */
const WORKER_RECHECK_MS = 100;
/**
 * A Worker's queue that is not connected tries to attach after 1 ms, then twice as long each
 * time, up to this: a reconnect is noticed within this much, an absent peer costs ~60 wake-ups/s.
 */
const WORKER_ATTACH_MS = 16;
/** what readable() returns when there is nothing to wait for */
const RESOLVED = Promise.resolve();
/** what a finished iterator's next() resolves to */
const DONE: IteratorReturnResult<void> = Object.freeze({ value: undefined, done: true });
/** RxPackets.#step: armed, #onWake will run */
const ARMED = 0;
/** RxPackets.#step: wait through readable() (not connected, polling, adopted in a Worker) */
const WAIT_READABLE = 1;

// The hot-path function, bound when the first rx queue of this thread opens.
let rxBurstFn: NativeBackend["rxBurst"];

// ---- this thread's rx wake-up hook for queues adopted by this thread (Workers) ----

const armed = new Map<number, QueueCore>();
let nextArmKey = 1;
let armHook: EventHook | null = null;

function onArmEvent(ctx: number, event: number, _arg: number): void {
  if (event === EVENT_RX_READY) armed.get(ctx)?.wakeWaiter();
}

/**
 * Made on first use and never closed: the core may call it until it has fired or the port is
 * freed, and the port belongs to another thread (zmemif_rx_queue_arm_cb). A late call finds no key.
 * When this Worker ends, however it ends, the core stops calling it before Bun frees it (the
 * thread guard made when this thread loaded the library, ts/native/bun.ts).
 */
function threadArmHook(native: NativeBackend): EventHook {
  armHook ??= native.eventHook(onArmEvent);
  return armHook;
}

let make: (core: QueueCore) => RxQueue;
let armWakeOf: (q: RxQueue, wake: () => void) => number;

/**
 * readable() without a Promise, for a consumer that keeps one callback (the UDP interface's
 * receive loop): nothing is allocated per wait. Returns 0 when armed (`wake` runs once, on this
 * thread's loop, when data arrives, the port reconnects or disconnects, or the queue closes), 1
 * when data may be there now (nothing armed: look again), -1 when the caller must use readable()
 * instead (not connected, polling mode, a queue adopted in a Worker). Internal to ts/.
 * @internal
 */
export function armRxWake(q: RxQueue, wake: () => void): number {
  return armWakeOf(q, wake);
}

/** Port.rxQueue (internal to ts/: not exported from index.ts) @internal */
export function openRxQueue(native: NativeBackend, port: PortLink, qid: number, options: QueueOptions): RxQueue {
  const mode = rxModeOf(options.rxMode);
  rxBurstFn = native.rxBurst;
  const core = new QueueCore(native, port, "rx", qid, openHandle(native, port, "rx", qid), mode, 0, 0);
  port.track(core);
  return make(core);
}

export class RxQueue implements AsyncIterable<Uint8Array> {
  readonly dir = "rx" as const;
  readonly qid: number;
  readonly #c: QueueCore;
  /** key of this queue for the thread's arm hook (adopted queues only; 0 otherwise) */
  readonly #armKey: number;
  #drainBatch: Batch | null = null;
  /** a Worker's queue: the next pause before trying to attach again (ms) */
  #attachPause = 1;

  private constructor(core: QueueCore) {
    this.#c = core;
    this.qid = core.qid;
    this.#armKey = core.port === null ? nextArmKey++ : 0;
    if (this.#armKey !== 0) armed.set(this.#armKey, core);
  }

  static {
    make = (core) => new RxQueue(core);
    armWakeOf = (q, wake) => q.#armWake(wake);
  }

  /**
   * Takes ownership of an rx queue shared by `port.shareQueue("rx", qid)` (typically in a
   * Worker). Port events do not reach a Worker: waits are woken by the Worker's own hook
   * (zmemif_rx_queue_arm_cb), and the queue re-attaches on its own after a reconnect.
   * The Worker should close() it before it ends. A Worker that ends without (terminate(), an
   * uncaught error, process.exit()) is not called afterwards, and the core closes the queue for
   * it: its id is free again (the port's thread may share it anew) and its hold on the
   * connection's memory is released; the port stays the port's thread's.
   */
  static adopt(token: QueueToken<"rx">, options: QueueOptions = {}): RxQueue {
    const native = backend();
    claimToken(native, token, "rx");
    rxBurstFn = native.rxBurst;
    const mode = rxModeOf(options.rxMode);
    return make(new QueueCore(native, null, "rx", token.qid, token.handle, mode, token.bufferSize, token.ringSize));
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
   * Receives up to `batch.capacity` descriptors (whole packets) into `batch` and returns how many.
   * Releases the previous burst of this queue first. Returns 0 while the port is not connected.
   */
  rxBurst(batch: Batch): number {
    const c = this.#c;
    const m = c.mapping ?? c.attach();
    if (m === null) {
      bindBatch(batch, null, 0);
      return 0;
    }
    const prev = c.lastRx;
    if (prev !== null && prev !== batch) prev.count = 0; // its buffers go back to the peer now
    const n = rxBurstFn(c.h, batchAddress(batch), batch.capacity);
    if (n >= 0) {
      bindBatch(batch, m, n);
      c.lastRx = batch;
      if (c.tap !== null && n > 0) c.tap.record(batch, 0, n);
      return n;
    }
    if (n === E_TOO_LARGE) return this.#burstLonger(batch, m);
    bindBatch(batch, null, 0);
    if (n === E_NOT_CONNECTED) return this.#burstAgain(batch);
    throw errorFor(n, `rxBurst(${c.name()})`);
  }

  /**
   * rxBurst() found its connection ended (the core checks that on every call). A new one may be
   * up already, and a queue adopted in a Worker hears of no port event: attach to it and receive
   * from it at once, rather than return 0 once more.
   */
  #burstAgain(batch: Batch): number {
    const c = this.#c;
    c.revokeAndDetach();
    const m = c.attach();
    if (m === null) return 0;
    const n = rxBurstFn(c.h, batchAddress(batch), batch.capacity);
    if (n >= 0) {
      bindBatch(batch, m, n);
      c.lastRx = batch;
      return n;
    }
    if (n === E_TOO_LARGE) return this.#burstLonger(batch, m);
    if (n === E_NOT_CONNECTED) {
      c.revokeAndDetach();
      return 0;
    }
    throw errorFor(n, `rxBurst(${c.name()})`);
  }

  /**
   * The first packet waiting is legal but spans more buffers than `batch` holds (say 71 buffers of
   * 128 bytes for 9000 bytes): the core consumed nothing. Enlarge the batch to the most a packet
   * can span on this connection (or double it, when that is unknown) and burst again.
   */
  #burstLonger(batch: Batch, m: Mapping): number {
    const c = this.#c;
    let n: number = E_TOO_LARGE;
    while (n === E_TOO_LARGE && batch.capacity < MAX_PACKET + 1) {
      growBatch(batch, Math.min(MAX_PACKET + 1, Math.max(c.maxSegments, batch.capacity * 2)));
      n = rxBurstFn(c.h, batchAddress(batch), batch.capacity);
    }
    if (n >= 0) {
      bindBatch(batch, m, n);
      c.lastRx = batch;
      if (c.tap !== null && n > 0) c.tap.record(batch, 0, n);
      return n;
    }
    bindBatch(batch, null, 0);
    if (n === E_NOT_CONNECTED) {
      c.revokeAndDetach();
      return 0;
    }
    throw errorFor(n, `rxBurst(${c.name()})`);
  }

  /** Gives the last burst's buffers back to the peer without receiving more. */
  release(): void {
    const c = this.#c;
    if (c.mapping === null) return;
    const rc = c.native.rxRelease(c.h);
    if (c.lastRx !== null) c.lastRx.count = 0;
    c.lastRx = null;
    if (rc === E_NOT_CONNECTED) c.revokeAndDetach();
    else if (rc < 0) throw errorFor(rc, `release(${c.name()})`);
  }

  // ---- waiting ----

  /**
   * Resolves when data may be available (a following rxBurst can still return 0), when the
   * port (re)connects, or when the queue is closed. Calls made while one waits share its Promise.
   */
  readable(): Promise<void> {
    try {
      const c = this.#c;
      const h = c.h;
      if (h === 0) return RESOLVED;
      if (c.mapping === null && c.attach() === null) return this.#waitConnected();
      this.#attachPause = 1;
      if (c.rxMode === "polling") return yieldLoop();
      if (c.port === null) return this.#readableAdopted(h);
      if (this.#readable !== null) return this.#readable;
      // 0: armed, #onReadable resolves; 1: data (or a state change) came before the arm took
      // effect; -1: the connection ended meanwhile (the caller looks again and finds it gone)
      if (this.#armWake(this.#onReadable) !== 0) return RESOLVED;
      this.#readable = new Promise<void>(this.#parkReadable);
      return this.#readable;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** the pending readable() Promise and its resolve (one per wait, nothing else allocated) */
  #readable: Promise<void> | null = null;
  #resolveReadable: (() => void) | null = null;
  readonly #parkReadable = (resolve: () => void): void => {
    this.#resolveReadable = resolve;
  };
  readonly #onReadable = (): void => {
    const resolve = this.#resolveReadable;
    this.#readable = null;
    this.#resolveReadable = null;
    resolve?.();
  };

  /**
   * Arms the queue for `wake` (see armRxWake). Every caller waiting at once is woken by the one
   * arm: `wake` joins #wakes, and the queue is armed once (port waiter + zmemif_rx_queue_arm).
   */
  #armWake(wake: () => void): number {
    const c = this.#c;
    const h = c.h;
    const port = c.port;
    if (h === 0 || port === null || c.rxMode === "polling") return -1;
    if (c.mapping === null && c.attach() === null) return -1;
    if (this.#wakes.includes(wake)) return 0;
    this.#wakes.push(wake);
    if (this.#isArmed) return 0;
    const native = c.native;
    c.wake = this.#armedWake;
    port.waitRx(c.qid, this.#armedWake);
    const rc = native.queueArm(h);
    if (rc === 0 && native.queueWait(h, 0) === 0) {
      this.#isArmed = true;
      return 0;
    }
    port.cancelRx(c.qid, this.#armedWake);
    c.wake = null;
    this.#wakes.length = 0;
    if (rc === E_NOT_CONNECTED) {
      c.revokeAndDetach();
      return -1;
    }
    if (rc < 0) throw errorFor(rc, `zmemif_rx_queue_arm(${c.name()})`);
    return 1; // data (or a state change) arrived before the arm took effect
  }

  /** the callbacks the pending arm wakes, and a spare list to swap with (no allocation per wake) */
  #wakes: (() => void)[] = [];
  #spareWakes: (() => void)[] = [];
  #isArmed = false;

  readonly #armedWake = (): void => {
    const c = this.#c;
    c.port?.cancelRx(c.qid, this.#armedWake);
    if (c.wake === this.#armedWake) c.wake = null;
    this.#isArmed = false;
    // a callback may wait again at once: it then joins the other list
    const run = this.#wakes;
    this.#wakes = this.#spareWakes;
    this.#spareWakes = run;
    for (let i = 0; i < run.length; i++) run[i]!();
    run.length = 0;
  };

  /**
   * readable() for a queue adopted in a Worker: the core wakes this thread's own hook
   * (zmemif_rx_queue_arm_cb), on data and when the connection ends. Look again after
   * WORKER_RECHECK_MS all the same (≈10 loop wake-ups a second while idle): an arm dropped with
   * its port (closed) or socket calls nobody.
   */
  #readableAdopted(h: number): Promise<void> {
    const c = this.#c;
    const rc = c.native.queueArmHook(h, threadArmHook(c.native), this.#armKey);
    if (rc === 1) return Promise.resolve(); // data is there already
    if (rc === E_NOT_CONNECTED) {
      c.revokeAndDetach();
      return Promise.resolve();
    }
    if (rc < 0) return Promise.reject(errorFor(rc, `zmemif_rx_queue_arm_cb(${c.name()})`));
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => wake(), WORKER_RECHECK_MS);
      const wake = () => {
        clearTimeout(timer);
        if (c.wake === wake) c.wake = null;
        resolve();
      };
      c.wake = wake;
    });
  }

  async #waitConnected(): Promise<void> {
    const port = this.#c.port;
    if (port === null) {
      const ms = this.#attachPause;
      this.#attachPause = Math.min(WORKER_ATTACH_MS, ms * 2);
      await sleep(ms);
      return;
    }
    try {
      await port.connect();
    } catch (e) {
      if (e instanceof MemifError && e.code === "CLOSED") return;
      await sleep(100); // a refused handshake: the client retries; so do we
    }
  }

  /**
   * Receives packets until the queue or port is closed, waiting in interrupt mode (or polling, per
   * options) when the ring is empty. Each packet is a Uint8Array valid until the next iteration:
   * zero-copy for a single buffer, a copy for a chained packet. Copy it (`packet.slice()`) to keep it.
   * One consumer per queue.
   */
  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return new RxPackets(this, this.#c);
  }

  // ---- control ----

  /** How the queue is woken (see RxMode). Kept across reconnects. */
  get rxMode(): RxMode {
    return this.#c.rxMode;
  }

  set rxMode(mode: RxMode) {
    const c = this.#c;
    c.rxMode = rxModeOf(mode);
    if (c.h !== 0) {
      const rc = c.native.queueSetMode(c.h, RX_MODES[c.rxMode]);
      if (rc < 0 && rc !== E_NOT_CONNECTED) throw errorFor(rc, "zmemif_rx_queue_set_mode");
    }
  }

  stats(): QueueStats {
    return this.#c.stats();
  }

  /** Revokes this queue's views, detaches it and frees it. Idempotent. */
  /**
   * Records the packets this queue receives into a pcapng file (`path`) or stream, until the
   * capture's close() or its `limit`; see ts/capture/capture.ts. Costs one branch per burst when
   * off; a slow writer drops capture records (counted in its stats()), never packets.
   */
  capture(target: string | WritableStream<Uint8Array>, options: CaptureOptions = {}): Capture {
    return this.#c.capture(target, options);
  }

  close(): void {
    const c = this.#c;
    if (c.h === 0) return;
    if (this.#armKey !== 0) {
      this.#disarm(c.h);
      armed.delete(this.#armKey);
    }
    c.close();
  }

  /**
   * An adopted queue's pending arm would call this thread's hook until it fires or the port is
   * freed, perhaps after this Worker has exited: hand it back to the port's callback (the owning
   * thread ignores an RX_READY nobody waits for). zmemif_rx_queue_arm replaces the callback of a
   * pending arm, but arms nothing when data is waiting, so drain that first (the queue is
   * closing: nobody will read it).
   */
  #disarm(h: number): void {
    const c = this.#c;
    const drain = (this.#drainBatch ??= new Batch(32));
    for (let i = 0; i < 64; i++) {
      const rc = c.native.queueArm(h);
      if (rc !== 1) return; // 0: re-armed to the port's callback; < 0: not connected (no arm left)
      if (c.mapping === null) return;
      if (rxBurstFn(h, batchAddress(drain), drain.capacity) < 0) return;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * What `for await (const packet of rx)` runs: the async generator it replaces, written out so that
 * a wait allocates nothing. The Promise next() returns is the one every packet needs anyway; when
 * the ring is empty it stays pending while the queue is armed with this iterator's one callback
 * (armRxWake), which bursts and resolves it. Not connected, polling or adopted in a Worker, it
 * waits through readable(). Same steps, in the same order, as the generator it replaces:
 * a packet's end is found when the next one is asked for (STALE_VIEW if the connection ended
 * meanwhile), the burst's buffers go back to the peer when the iteration ends.
 */
class RxPackets implements AsyncGenerator<Uint8Array, void, undefined> {
  readonly #q: RxQueue;
  readonly #c: QueueCore;
  readonly #batch = new Batch(32);
  /** the packet handed out last (-1: none): its end is found on the next call */
  #last = -1;
  /** the next packet to hand out (-1: burst first) */
  #next = -1;
  #done = false;
  /** while a next() waits: its Promise and how to settle it */
  #pending: Promise<IteratorResult<Uint8Array, void>> | null = null;
  #resolve: ((r: IteratorResult<Uint8Array, void>) => void) | null = null;
  #reject: ((e: unknown) => void) | null = null;

  constructor(q: RxQueue, c: QueueCore) {
    this.#q = q;
    this.#c = c;
  }

  next(): Promise<IteratorResult<Uint8Array, void>> {
    if (this.#pending !== null) return this.#pending.then(this.#again, this.#again);
    let r: IteratorResult<Uint8Array, void> | number;
    try {
      r = this.#step();
    } catch (e) {
      this.#finish();
      return Promise.reject(e);
    }
    if (typeof r !== "number") return Promise.resolve(r);
    this.#pending = new Promise(this.#park);
    if (r === WAIT_READABLE) this.#q.readable().then(this.#onWake, this.#onFail);
    return this.#pending;
  }

  readonly #again = () => this.next();

  readonly #park = (resolve: (r: IteratorResult<Uint8Array, void>) => void, reject: (e: unknown) => void): void => {
    this.#resolve = resolve;
    this.#reject = reject;
  };

  /** The next packet, DONE, or how to wait for one: ARMED (#onWake will run) or WAIT_READABLE. */
  #step(): IteratorResult<Uint8Array, void> | number {
    if (this.#done) return DONE;
    const b = this.#batch;
    if (this.#last >= 0) {
      const last = this.#last;
      this.#last = -1;
      this.#next = b.packetEnd(last);
    }
    for (;;) {
      const i = this.#next;
      if (i >= 0 && i < b.count) {
        this.#last = i;
        this.#next = -1;
        return { value: b.hasNext(i) ? b.copyPacket(i) : b.data(i), done: false };
      }
      this.#next = -1;
      if (this.#c.h === 0) {
        this.#finish();
        return DONE;
      }
      if (this.#q.rxBurst(b) > 0) {
        this.#next = 0;
        continue;
      }
      const rc = armRxWake(this.#q, this.#onWake);
      if (rc === 0) return ARMED;
      if (rc < 0) return WAIT_READABLE;
      // 1: data (or a state change) came before the arm took effect: burst again
    }
  }

  /** Woken (armed wait or readable()): settles the pending next(), or waits again. */
  readonly #onWake = (): void => {
    let r: IteratorResult<Uint8Array, void> | number;
    try {
      r = this.#step();
    } catch (e) {
      this.#finish();
      this.#settle(null, e);
      return;
    }
    if (r === ARMED) return;
    if (r === WAIT_READABLE) {
      this.#q.readable().then(this.#onWake, this.#onFail);
      return;
    }
    this.#settle(r as IteratorResult<Uint8Array, void>, null);
  };

  readonly #onFail = (e: unknown): void => {
    this.#finish();
    this.#settle(null, e);
  };

  #settle(r: IteratorResult<Uint8Array, void> | null, e: unknown): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#pending = null;
    this.#resolve = null;
    this.#reject = null;
    if (r !== null) resolve?.(r);
    else reject?.(e);
  }

  /** The generator's `finally`: the last burst's buffers go back to the peer. */
  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    const c = this.#c;
    if (c.h !== 0 && c.lastRx === this.#batch) this.#q.release();
  }

  return(): Promise<IteratorResult<Uint8Array, void>> {
    if (this.#pending !== null) return this.#pending.then(this.#end, this.#end);
    return this.#end();
  }

  readonly #end = (): Promise<IteratorResult<Uint8Array, void>> => {
    try {
      this.#finish();
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(DONE);
  };

  throw(e: unknown): Promise<IteratorResult<Uint8Array, void>> {
    const fail = () => {
      this.#finish();
      return Promise.reject(e);
    };
    if (this.#pending !== null) return this.#pending.then(fail, fail);
    return fail();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
