/**
 * The bun:ffi backend: the one place that talks to libzmemif.so under Bun. It holds the single
 * dlopen table, the lazy loader and call tracing, and implements NativeBackend (backend.ts) on top.
 *
 * Environment:
 *   ZMEMIF_LIB=/path/libzmemif.so   load this file (where the library is otherwise: locate.ts)
 *   ZMEMIF_TRACE=1                  print every FFI call and its result to stderr, except the hot
 *                                   path (rx_burst, rx_release, tx_alloc, tx_burst)
 *
 * Argument types follow docs/bun-ffi-notes.md: handles and caller buffers are `ptr` passed as
 * plain numbers (≈3 ns), never `u64`/bigint (≈9 ns) or an ArrayBuffer (≈17 ns). The hot-path
 * functions of the backend are the bun:ffi functions themselves, not wrappers.
 */
import { CString, dlopen, FFIType, JSCallback, type Library, type Pointer, ptr, toArrayBuffer } from "bun:ffi";
import { isMainThread } from "node:worker_threads";
import { MemifError } from "../errors.ts";
import type { EventHook, EventListener, NativeBackend } from "./backend.ts";
import { embedded } from "./embedded.ts";
import { locate } from "./locate.ts";

const { i32, u32, u64, u64_fast, ptr: P, void: VOID } = FFIType;

const SYMBOLS = {
  // errors
  zmemif_strerror: { args: [i32], returns: FFIType.cstring },
  zmemif_last_error: { args: [P, u32], returns: i32 },

  // socket
  zmemif_socket_new: { args: [P, u32, u32, u32, u32, u32, P], returns: i32 },
  zmemif_socket_free: { args: [P], returns: VOID },

  // port
  zmemif_port_new: { args: [P, P, P], returns: i32 },
  zmemif_port_free: { args: [P], returns: VOID },
  zmemif_port_set_callback: { args: [P, P, u64], returns: i32 }, // cb as a plain pointer (JSCallback.ptr)
  zmemif_port_info_get: { args: [P, P], returns: i32 },
  zmemif_port_peer_name: { args: [P, P, u32], returns: i32 },
  zmemif_port_reason: { args: [P, P, u32], returns: i32 },

  // queues: an rx and a tx queue are different handle types; life cycle, regions, waiting
  zmemif_rx_queue_open: { args: [P, u32, P], returns: i32 },
  zmemif_rx_queue_free: { args: [P], returns: VOID },
  zmemif_rx_queue_attach: { args: [P], returns: i32 },
  zmemif_rx_queue_detach: { args: [P], returns: i32 },
  zmemif_rx_queue_region: { args: [P, u32, P, P], returns: i32 },
  zmemif_rx_queue_num_regions: { args: [P], returns: i32 },
  zmemif_rx_queue_stats_get: { args: [P, P], returns: i32 },
  zmemif_rx_queue_share: { args: [P], returns: i32 },
  zmemif_rx_queue_adopt: { args: [P], returns: i32 },
  zmemif_tx_queue_open: { args: [P, u32, P], returns: i32 },
  zmemif_tx_queue_free: { args: [P], returns: VOID },
  zmemif_tx_queue_attach: { args: [P], returns: i32 },
  zmemif_tx_queue_detach: { args: [P], returns: i32 },
  zmemif_tx_queue_region: { args: [P, u32, P, P], returns: i32 },
  zmemif_tx_queue_num_regions: { args: [P], returns: i32 },
  zmemif_tx_queue_stats_get: { args: [P, P], returns: i32 },
  zmemif_tx_queue_share: { args: [P], returns: i32 },
  zmemif_tx_queue_adopt: { args: [P], returns: i32 },
  zmemif_rx_queue_set_mode: { args: [P, u32], returns: i32 },
  zmemif_rx_queue_wait: { args: [P, i32], returns: i32 },
  // a Worker: when it ends, stop the core calling its callbacks and close what it left open
  // (guardThread below)
  zmemif_thread_guard_napi: { args: [P], returns: i32 },
  // rx: RX_READY through the port callback (thread that owns the port) ...
  zmemif_rx_queue_arm: { args: [P], returns: i32 },
  // ... or through a callback of the caller's thread (a Worker): cb as JSCallback.ptr, ctx a key
  zmemif_rx_queue_arm_cb: { args: [P, P, u64], returns: i32 },
  // tx: are n buffers free? (called with timeout 0 from a backoff loop, never blocking the loop)
  zmemif_tx_wait: { args: [P, u32, i32], returns: i32 },

  // probing a server (zmemif info): blocks up to the timeout
  zmemif_probe: { args: [P, u32, u32, u32, u32, u32, P], returns: i32 },

  // hot path: numbers only, never traced
  zmemif_rx_burst: { args: [P, P, u32], returns: i32 },
  zmemif_rx_release: { args: [P], returns: i32 },
  zmemif_tx_alloc: { args: [P, P, u32], returns: i32 },
  zmemif_tx_burst: { args: [P, P, u32], returns: i32 },
} as const;

const HOT = new Set<string>(["zmemif_rx_burst", "zmemif_rx_release", "zmemif_tx_alloc", "zmemif_tx_burst"]);

type Symbols = Library<typeof SYMBOLS>["symbols"];

/** The callback signature the core calls from its control thread: (ctx, event, arg). */
const EVENT_CALLBACK = { args: [u64_fast, u32, u32], returns: VOID, threadsafe: true } as const;

/** The library this process loads (see locate.ts): $ZMEMIF_LIB, the platform package, or a build. */
export function libraryPath(): string {
  return locate(embedded).path;
}

/** Opens the library. Throws MemifError when it cannot. */
function open(): Symbols {
  const where = locate(embedded);
  let opened: Library<typeof SYMBOLS>;
  try {
    opened = dlopen(where.path, SYMBOLS);
  } catch (cause) {
    const fix =
      where.from === "ZMEMIF_LIB"
        ? "ZMEMIF_LIB must name a zmemif library (libzmemif.so or zmemif.<platform>.node); fix it or unset it"
        : where.from === "build"
          ? "rebuild it with `cargo build --release -p zmemif --features node`"
          : "reinstall zmemif";
    throw new MemifError("LIBRARY_LOAD_FAILED", `cannot load ${where.path}: ${(cause as Error).message}; ${fix}`, {
      cause,
    });
  }
  return process.env.ZMEMIF_TRACE === "1" ? traced(opened.symbols) : opened.symbols;
}

function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) && v > 0xffff ? `0x${v.toString(16)}` : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${v.byteLength}B>`;
  if (v === null || v === undefined) return String(v);
  if (v instanceof CString) return JSON.stringify(String(v));
  return typeof v;
}

function traced(symbols: Symbols): Symbols {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(symbols) as [string, (...a: unknown[]) => unknown][]) {
    if (HOT.has(name)) {
      out[name] = fn;
      continue;
    }
    out[name] = (...args: unknown[]) => {
      const t = performance.now();
      const r = fn(...args);
      const us = ((performance.now() - t) * 1000).toFixed(0);
      process.stderr.write(`[zmemif] ${name}(${args.map(fmt).join(", ")}) = ${fmt(r)} (${us} µs)\n`);
      return r;
    };
  }
  return out as Symbols;
}

class BunHook implements EventHook {
  readonly callback: JSCallback;
  constructor(listener: EventListener) {
    this.callback = new JSCallback(listener, EVENT_CALLBACK);
  }
  close(): void {
    this.callback.close();
  }
}

/**
 * In a Worker, when it loads the library (before its first handle or callback goes to the core):
 * asks the core, for when the Worker ends, to stop calling this thread's callbacks and then to
 * close what the Worker left open (its sockets, ports, queues it opened or adopted). Bun frees a
 * Worker's JSCallbacks when it ends, and it may end without running any more of its JavaScript
 * (`worker.terminate()`), so a port or an armed rx queue it did not close would have the core
 * call freed code: a crash (docs/bun-ffi-notes.md), and would stay open (connected, mapped)
 * until the process exits. The hook for that is N-API's environment cleanup hook, which Bun runs
 * however a Worker ends and before it frees the callbacks; the environment comes from loading the
 * same library as an N-API module (its `napiEnv()`), and `zmemif_thread_guard_napi` registers the
 * hook in the copy bun:ffi loaded. Without an N-API binding (a library built without
 * `--features node`) it warns once per Worker and goes on unguarded.
 */
function guardThread(s: Symbols, path: string): void {
  const module = { exports: {} as { napiEnv?: () => number } };
  let why: string;
  try {
    process.dlopen(module, path);
    const env = module.exports.napiEnv?.();
    if (typeof env !== "number") {
      why = `${path} has no N-API binding (build it with \`cargo build --release -p zmemif --features node\`)`;
    } else {
      const rc = s.zmemif_thread_guard_napi(env as unknown as Pointer);
      if (rc >= 0) return;
      why = `zmemif_thread_guard_napi: ${String(s.zmemif_strerror(rc))}`;
    }
  } catch (e) {
    why = `cannot load ${path} as an N-API module (${(e as Error).message}): build it with \`cargo build --release -p zmemif --features node\``;
  }
  process.stderr.write(
    `zmemif: warning: this Worker is not guarded: ${why}. A Worker that ends without closing its ports and queues can then crash the process, and leaves them open: close them before it ends.\n`,
  );
}

function hookPtr(hook: EventHook | null): Pointer | null {
  if (hook === null) return null;
  if (!(hook instanceof BunHook)) throw new TypeError("zmemif: an EventHook of another backend");
  return hook.callback.ptr as Pointer;
}

/** Loads libzmemif.so and returns the bun:ffi NativeBackend over it. Throws MemifError when it cannot. @internal */
export function loadBunBackend(): NativeBackend {
  const s = open();
  if (!isMainThread) guardThread(s, libraryPath());
  // Scratch buffers for out-params (never the hot path; this thread only).
  const text = new Uint8Array(1024);
  const textPtr = ptr(text);
  const out64 = new BigUint64Array(2);
  const out64Ptr = ptr(out64);
  const decoder = new TextDecoder();
  const h = (n: number) => n as Pointer;

  /** Calls `f(buf, len)` that returns a length, and decodes that many bytes as UTF-8. */
  const readString = (f: (buf: Pointer, len: number) => number): string => {
    const n = f(textPtr, text.byteLength);
    if (n <= 0) return "";
    return decoder.decode(text.subarray(0, Math.min(n, text.byteLength)));
  };
  /** `f(base, size)` with two u64 out-params: an ArrayBuffer over that memory, or the negative code. */
  const region = (f: (base: Pointer, size: Pointer) => number): ArrayBuffer | number => {
    out64[0] = 0n;
    out64[1] = 0n;
    const rc = f(out64Ptr, (out64Ptr + 8) as Pointer);
    if (rc < 0) return rc;
    return toArrayBuffer(Number(out64[0]) as Pointer, 0, Number(out64[1]));
  };
  /** `f(out)` with one u64 out-param: the handle, or the negative code. */
  const newHandle = (f: (out: Pointer) => number): number => {
    out64[0] = 0n;
    const rc = f(out64Ptr);
    return rc < 0 ? rc : Number(out64[0]);
  };

  return {
    name: "bun:ffi",
    strerror: (code) => String(s.zmemif_strerror(code)),
    lastError: () => readString((b, l) => s.zmemif_last_error(b, l)),

    socketNew: (path, abstract, uid, gid, mode) =>
      newHandle((out) => s.zmemif_socket_new(path, path.byteLength, abstract, uid, gid, mode, out)),
    socketFree: (socket) => s.zmemif_socket_free(h(socket)),

    portNew: (socket, config) => newHandle((out) => s.zmemif_port_new(h(socket), config, out)),
    portFree: (port) => s.zmemif_port_free(h(port)),
    portSetCallback: (port, hook, ctx) => s.zmemif_port_set_callback(h(port), hookPtr(hook), ctx),
    portInfo: (port, out) => s.zmemif_port_info_get(h(port), out),
    portPeerName: (port) => readString((b, l) => s.zmemif_port_peer_name(h(port), b, l)),
    portReason: (port) => readString((b, l) => s.zmemif_port_reason(h(port), b, l)),

    rxQueueOpen: (port, qid) => newHandle((out) => s.zmemif_rx_queue_open(h(port), qid, out)),
    rxQueueFree: (queue) => s.zmemif_rx_queue_free(h(queue)),
    rxQueueAttach: (queue) => s.zmemif_rx_queue_attach(h(queue)),
    rxQueueDetach: (queue) => s.zmemif_rx_queue_detach(h(queue)),
    rxQueueNumRegions: (queue) => s.zmemif_rx_queue_num_regions(h(queue)),
    rxQueueRegion: (queue, idx) => region((base, size) => s.zmemif_rx_queue_region(h(queue), idx, base, size)),
    rxQueueStats: (queue, out) => s.zmemif_rx_queue_stats_get(h(queue), out),
    rxQueueShare: (queue) => s.zmemif_rx_queue_share(h(queue)),
    rxQueueAdopt: (queue) => s.zmemif_rx_queue_adopt(h(queue)),
    txQueueOpen: (port, qid) => newHandle((out) => s.zmemif_tx_queue_open(h(port), qid, out)),
    txQueueFree: (queue) => s.zmemif_tx_queue_free(h(queue)),
    txQueueAttach: (queue) => s.zmemif_tx_queue_attach(h(queue)),
    txQueueDetach: (queue) => s.zmemif_tx_queue_detach(h(queue)),
    txQueueNumRegions: (queue) => s.zmemif_tx_queue_num_regions(h(queue)),
    txQueueRegion: (queue, idx) => region((base, size) => s.zmemif_tx_queue_region(h(queue), idx, base, size)),
    txQueueStats: (queue, out) => s.zmemif_tx_queue_stats_get(h(queue), out),
    txQueueShare: (queue) => s.zmemif_tx_queue_share(h(queue)),
    txQueueAdopt: (queue) => s.zmemif_tx_queue_adopt(h(queue)),
    revokeRegion: (region) => {
      if (!region.detached) region.transfer(0);
    },
    queueSetMode: (queue, mode) => s.zmemif_rx_queue_set_mode(h(queue), mode),
    queueWait: (queue, timeoutMs) => s.zmemif_rx_queue_wait(h(queue), timeoutMs),
    queueArm: (queue) => s.zmemif_rx_queue_arm(h(queue)),
    queueArmHook: (queue, hook, ctx) => s.zmemif_rx_queue_arm_cb(h(queue), hookPtr(hook), ctx),
    txWait: (queue, n, timeoutMs) => s.zmemif_tx_wait(h(queue), n, timeoutMs),

    probe: (path, abstract, id, flags, timeoutMs, out) =>
      s.zmemif_probe(path, path.byteLength, abstract, id, flags, timeoutMs, out),

    eventHook: (listener) => new BunHook(listener),

    addressOf: (descs) => ptr(descs),
    // The bun:ffi functions themselves: no wrapper on the hot path.
    rxBurst: s.zmemif_rx_burst as unknown as NativeBackend["rxBurst"],
    rxRelease: s.zmemif_rx_release as unknown as NativeBackend["rxRelease"],
    txAlloc: s.zmemif_tx_alloc as unknown as NativeBackend["txAlloc"],
    txBurst: s.zmemif_tx_burst as unknown as NativeBackend["txBurst"],
  };
}
