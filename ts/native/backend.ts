/**
 * The native backend: the C ABI of libzmemif (crates/zmemif/include/zmemif.h) as a TypeScript
 * interface, so that the public classes run on any JavaScript runtime that can call it. Bun
 * implements it with bun:ffi (ts/native/bun.ts); Node.js can implement it with N-API. The public
 * classes (MemifSocket, Port, RxQueue, TxQueue, Batch) only ever see this interface.
 *
 * Conventions (those of the C ABI):
 *  - numbers in, numbers out: every call returns an `i32`, >= 0 a result, < 0 a `ZMEMIF_E_*` code
 *    (ts/native/abi.ts); the backend never throws for a code the core returned;
 *  - handles (socket, port, rx queue, tx queue) are positive integers (the C pointers); 0 is never a
 *    handle; an rx queue's handle goes only to rx calls (rxQueue*, queue*, rxBurst, rxRelease) and a
 *    tx queue's only to tx calls (txQueue*, txWait, txAlloc, txBurst), as the C types say;
 *  - the hot path (rxBurst, rxRelease, txAlloc, txBurst) takes a descriptor array's byte address
 *    from `addressOf` (address + 16 * k is descriptor k): one call per burst, nothing allocated.
 *    An implementation hands out the native functions themselves, without a wrapper;
 *  - shared memory reaches JavaScript as one ArrayBuffer per region (`rxQueueRegion`,
 *    `txQueueRegion`), which the
 *    caller revokes with `revokeRegion` before it detaches the queue;
 *  - events reach JavaScript through an `EventHook`: a callback the core may call from its control
 *    thread, delivered on the event loop of the thread that made the hook.
 */
import { MemifError } from "../errors.ts";

/** `(ctx, event, arg)` as the core reports it: see `zmemif_event_cb` in zmemif.h. */
export type EventListener = (ctx: number, event: number, arg: number) => void;

/** A callback the core can call (made by `NativeBackend.eventHook`). Opaque to its users. */
export interface EventHook {
  /** Frees the callback. Only once the core can no longer call it (see Port.close). */
  close(): void;
}

export interface NativeBackend {
  /** e.g. "bun:ffi" or "napi"; for messages */
  readonly name: string;

  // ---- errors ----
  /** zmemif_strerror: the fixed text of a code */
  strerror(code: number): string;
  /** zmemif_last_error: this thread's message for its last failed call ("" when none) */
  lastError(): string;

  // ---- socket ----
  /** zmemif_socket_new: a socket handle (> 0) or a negative code */
  socketNew(path: Uint8Array, abstract: number, uid: number, gid: number, mode: number): number;
  socketFree(socket: number): void;

  // ---- port ----
  /** zmemif_port_new with a `zmemif_port_config` (PORT_CONFIG_SIZE bytes): a port handle (> 0) or a code */
  portNew(socket: number, config: Uint8Array): number;
  portFree(port: number): void;
  /** zmemif_port_set_callback; `hook` null clears it (returns once no call of the old one runs) */
  portSetCallback(port: number, hook: EventHook | null, ctx: number): number;
  /** zmemif_port_info_get into `out` (PORT_INFO_SIZE bytes) */
  portInfo(port: number, out: Uint8Array): number;
  /** zmemif_port_peer_name */
  portPeerName(port: number): string;
  /** zmemif_port_reason */
  portReason(port: number): string;

  // ---- queues: an rx and a tx queue are different handles (zmemif_rx_queue, zmemif_tx_queue);
  // each direction has its own life-cycle and region calls, and only rx queues wait and arm ----
  /** zmemif_rx_queue_open: an rx queue handle (> 0) or a code */
  rxQueueOpen(port: number, qid: number): number;
  rxQueueFree(queue: number): void;
  /** zmemif_rx_queue_attach: the connection's generation, or NOT_CONNECTED */
  rxQueueAttach(queue: number): number;
  rxQueueDetach(queue: number): number;
  rxQueueNumRegions(queue: number): number;
  /** region `idx` of the attached connection as an ArrayBuffer over the shared memory, or a code */
  rxQueueRegion(queue: number, idx: number): ArrayBuffer | number;
  /** zmemif_rx_queue_stats_get into `out` (QUEUE_STATS_SIZE bytes) */
  rxQueueStats(queue: number, out: BigUint64Array): number;
  /**
   * zmemif_rx_queue_share: the queue is no thread's (to hand to another thread, which adopts it);
   * a queue is otherwise closed when the thread that owns it ends (a guarded Worker)
   */
  rxQueueShare(queue: number): number;
  /** zmemif_rx_queue_adopt: the queue is this thread's (closed when this Worker ends) */
  rxQueueAdopt(queue: number): number;
  /** zmemif_tx_queue_open: a tx queue handle (> 0) or a code */
  txQueueOpen(port: number, qid: number): number;
  txQueueFree(queue: number): void;
  /** zmemif_tx_queue_attach: the connection's generation, or NOT_CONNECTED */
  txQueueAttach(queue: number): number;
  txQueueDetach(queue: number): number;
  txQueueNumRegions(queue: number): number;
  /** as rxQueueRegion */
  txQueueRegion(queue: number, idx: number): ArrayBuffer | number;
  /** zmemif_tx_queue_stats_get into `out` (QUEUE_STATS_SIZE bytes) */
  txQueueStats(queue: number, out: BigUint64Array): number;
  /** as rxQueueShare */
  txQueueShare(queue: number): number;
  /** as rxQueueAdopt */
  txQueueAdopt(queue: number): number;
  /** Detaches a region's ArrayBuffer (every view of it then reads as empty). Idempotent. */
  revokeRegion(region: ArrayBuffer): void;
  /** zmemif_rx_queue_set_mode (an rx queue) */
  queueSetMode(queue: number, mode: number): number;
  /** zmemif_rx_queue_wait (called with timeout 0 only: the JS thread never blocks in the core) */
  queueWait(queue: number, timeoutMs: number): number;
  /** zmemif_rx_queue_arm: RX_READY through the port's callback; 1 data already there, 0 armed */
  queueArm(queue: number): number;
  /** zmemif_rx_queue_arm_cb: RX_READY through `hook` (a Worker's own); 1 data already there, 0 armed */
  queueArmHook(queue: number, hook: EventHook, ctx: number): number;
  /** zmemif_tx_wait (a tx queue; timeout 0 only) */
  txWait(queue: number, n: number, timeoutMs: number): number;

  /**
   * zmemif_probe into `out` (PROBE_RESULT_SIZE bytes): reads a server's HELLO, blocking this
   * thread up to `timeoutMs` per answer (for command-line tools, not a program's event loop).
   */
  probe(path: Uint8Array, abstract: number, id: number, flags: number, timeoutMs: number, out: Uint8Array): number;

  /** A callback the core may call from its control thread, run on this thread's event loop. */
  eventHook(listener: EventListener): EventHook;

  // ---- hot path: numbers only, one native call per burst ----
  /** The byte address of a descriptor array, stable for the array's life. */
  addressOf(descs: Uint32Array): number;
  rxBurst(queue: number, descs: number, max: number): number;
  rxRelease(queue: number): number;
  txAlloc(queue: number, descs: number, n: number): number;
  txBurst(queue: number, descs: number, n: number): number;
}

// ---- which backend this thread uses ----

let loader: (() => NativeBackend) | null = null;
let loaded: NativeBackend | null = null;

/**
 * Chooses the backend: the runtime's entry module (ts/index.ts for Bun) calls this before the
 * first socket is made. `load` runs once, on first use, and may throw a MemifError (library not
 * found, unsupported platform) that then reaches the caller who made the socket.
 */
export function useBackend(load: () => NativeBackend): void {
  loader = load;
  loaded = null;
}

/** This thread's backend, loaded on first use. */
export function backend(): NativeBackend {
  if (loaded !== null) return loaded;
  if (loader === null) {
    throw new MemifError(
      "LIBRARY_NOT_FOUND",
      "zmemif: no native backend was chosen; import zmemif through its entry module (ts/index.ts for Bun)",
    );
  }
  loaded = loader();
  return loaded;
}
