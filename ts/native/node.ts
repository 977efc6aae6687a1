/**
 * The N-API backend: NativeBackend (backend.ts) for Node.js, over the binding that the same
 * library carries beside its C ABI (crates/zmemif/src/node.rs, cargo feature `node`). The binding
 * mirrors the C ABI function by function, so this file only adapts names; the hot-path functions
 * are the binding's own, without a wrapper: numbers in (handle, descriptor address, count), a
 * number out.
 *
 * Environment: ZMEMIF_LIB (see locate.ts).
 */
import { MemifError } from "../errors.ts";
import type { EventHook, EventListener, NativeBackend } from "./backend.ts";
import { locate } from "./locate.ts";

/** The binding's exports (node.rs); handles and addresses are numbers. */
interface Binding {
  strerror(code: number): string;
  lastError(): string;
  socketNew(path: Uint8Array, abstract: number, uid: number, gid: number, mode: number): number;
  socketFree(socket: number): void;
  portNew(socket: number, config: Uint8Array): number;
  portFree(port: number): void;
  eventHook(listener: EventListener): object;
  portSetCallback(port: number, hook: object | null, ctx: number): number;
  portInfoGet(port: number, out: Uint8Array): number;
  portPeerName(port: number): string;
  portReason(port: number): string;
  queueOpen(port: number, dir: number, qid: number): number;
  queueFree(queue: number): void;
  queueAttach(queue: number): number;
  queueDetach(queue: number): number;
  queueNumRegions(queue: number): number;
  queueRegion(queue: number, idx: number): ArrayBuffer | number;
  detachBuffer(buffer: ArrayBuffer): void;
  queueStatsGet(queue: number, out: BigUint64Array): number;
  queueSetMode(queue: number, mode: number): number;
  queueWait(queue: number, timeoutMs: number): number;
  queueArm(queue: number): number;
  queueArmCb(queue: number, hook: object, ctx: number): number;
  txWait(queue: number, n: number, timeoutMs: number): number;
  addressOf(descs: Uint32Array): number;
  rxBurst(queue: number, descs: number, max: number): number;
  rxRelease(queue: number): number;
  txAlloc(queue: number, descs: number, n: number): number;
  txBurst(queue: number, descs: number, n: number): number;
}

class NodeHook implements EventHook {
  /** the binding's thread-safe function (an External); weak, freed by the GC once unused */
  readonly external: object;
  constructor(b: Binding, listener: EventListener) {
    this.external = b.eventHook(listener);
  }
  close(): void {
    // Nothing to free by hand: the core holds its own reference while it may still call.
  }
}

function hookOf(hook: EventHook | null): object | null {
  if (hook === null) return null;
  if (!(hook instanceof NodeHook)) throw new TypeError("zmemif: an EventHook of another backend");
  return hook.external;
}

/** Loads the library with process.dlopen. Throws MemifError when it cannot. */
function open(): Binding {
  const where = locate();
  const module = { exports: {} as Record<string, unknown> };
  try {
    process.dlopen(module, where.path);
  } catch (cause) {
    const why = where.from === "ZMEMIF_LIB" ? "ZMEMIF_LIB names a file Node.js cannot load" : "reinstall zmemif";
    throw new MemifError("LIBRARY_LOAD_FAILED", `cannot load ${where.path}: ${(cause as Error).message}; ${why}`, {
      cause,
    });
  }
  if (typeof module.exports.rxBurst !== "function") {
    const fix =
      where.from === "build"
        ? "rebuild it with `cargo build --release -p zmemif --features node`"
        : "point ZMEMIF_LIB at a zmemif.<platform>.node from the zmemif-<platform> package, or at a " +
          "libzmemif.so built with `--features node`";
    throw new MemifError(
      "LIBRARY_LOAD_FAILED",
      `${where.path} has no zmemif N-API binding (a library built without the node feature, or not zmemif): ${fix}`,
    );
  }
  return module.exports as unknown as Binding;
}

/** Loads the library and returns the N-API NativeBackend over it. Throws MemifError when it cannot. */
export function loadNodeBackend(): NativeBackend {
  const b = open();
  return {
    name: "napi",
    strerror: (code) => b.strerror(code),
    lastError: () => b.lastError(),

    socketNew: (path, abstract, uid, gid, mode) => b.socketNew(path, abstract, uid, gid, mode),
    socketFree: (socket) => b.socketFree(socket),

    portNew: (socket, config) => b.portNew(socket, config),
    portFree: (port) => b.portFree(port),
    portSetCallback: (port, hook, ctx) => b.portSetCallback(port, hookOf(hook), ctx),
    portInfo: (port, out) => b.portInfoGet(port, out),
    portPeerName: (port) => b.portPeerName(port),
    portReason: (port) => b.portReason(port),

    queueOpen: (port, dir, qid) => b.queueOpen(port, dir, qid),
    queueFree: (queue) => b.queueFree(queue),
    queueAttach: (queue) => b.queueAttach(queue),
    queueDetach: (queue) => b.queueDetach(queue),
    queueNumRegions: (queue) => b.queueNumRegions(queue),
    queueRegion: (queue, idx) => b.queueRegion(queue, idx),
    // Node 20 has no ArrayBuffer.prototype.transfer: napi_detach_arraybuffer does the same.
    revokeRegion: (region) => b.detachBuffer(region),
    queueStats: (queue, out) => b.queueStatsGet(queue, out),
    queueSetMode: (queue, mode) => b.queueSetMode(queue, mode),
    queueWait: (queue, timeoutMs) => b.queueWait(queue, timeoutMs),
    queueArm: (queue) => b.queueArm(queue),
    queueArmHook: (queue, hook, ctx) => b.queueArmCb(queue, hookOf(hook) as object, ctx),
    txWait: (queue, n, timeoutMs) => b.txWait(queue, n, timeoutMs),

    eventHook: (listener) => new NodeHook(b, listener),

    addressOf: (descs) => b.addressOf(descs),
    // The binding's functions themselves: no wrapper on the hot path.
    rxBurst: b.rxBurst,
    rxRelease: b.rxRelease,
    txAlloc: b.txAlloc,
    txBurst: b.txBurst,
  };
}
