/**
 * The one place that talks to libzmemif.so: the dlopen table, the lazy loader, call tracing, and
 * the helpers that turn return codes into MemifErrors. Nothing outside ts/ imports this module,
 * and no public class shows the numbers (pointers) it hands out.
 *
 * Environment:
 *   ZMEMIF_LIB=/path/libzmemif.so   load this file instead of <package>/target/release/libzmemif.so
 *   ZMEMIF_TRACE=1                  print every FFI call and its result to stderr, except the hot
 *                                   path (rx_burst, rx_release, tx_alloc, tx_burst)
 *
 * Argument types follow docs/bun-ffi-notes.md: handles and caller buffers are `ptr` passed as
 * plain numbers (≈3 ns), never `u64`/bigint (≈9 ns) or an ArrayBuffer (≈17 ns).
 */
import { dlopen, FFIType, ptr, CString, type Library, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { codeOf, hintFor, MemifError } from "./errors.ts";

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
  zmemif_port_wait_connected: { args: [P, i32], returns: i32 },
  zmemif_port_info_get: { args: [P, P], returns: i32 },
  zmemif_port_peer_name: { args: [P, P, u32], returns: i32 },
  zmemif_port_reason: { args: [P, P, u32], returns: i32 },

  // queue: life cycle, regions, waiting
  zmemif_queue_open: { args: [P, u32, u32, P], returns: i32 },
  zmemif_queue_free: { args: [P], returns: VOID },
  zmemif_queue_attach: { args: [P], returns: i32 },
  zmemif_queue_detach: { args: [P], returns: i32 },
  zmemif_queue_region: { args: [P, u32, P, P], returns: i32 },
  zmemif_queue_num_regions: { args: [P], returns: i32 },
  zmemif_queue_stats_get: { args: [P, P], returns: i32 },
  // 0 adaptive (default), 1 polling, 2 interrupt
  zmemif_queue_set_mode: { args: [P, u32], returns: i32 },
  zmemif_queue_wait: { args: [P, i32], returns: i32 },
  // rx: RX_READY through the port callback (thread that owns the port) ...
  zmemif_queue_arm: { args: [P], returns: i32 },
  // ... or through a callback of the caller's thread (a Worker): cb as JSCallback.ptr, ctx a key
  zmemif_queue_arm_cb: { args: [P, P, u64], returns: i32 },
  // tx: are n buffers free? (called with timeout 0 from a backoff loop, never blocking the loop)
  zmemif_tx_wait: { args: [P, u32, i32], returns: i32 },

  // hot path: numbers only, never traced
  zmemif_rx_burst: { args: [P, P, u32], returns: i32 },
  zmemif_rx_release: { args: [P], returns: i32 },
  zmemif_tx_alloc: { args: [P, P, u32], returns: i32 },
  zmemif_tx_burst: { args: [P, P, u32], returns: i32 },
} as const;

const HOT = new Set<string>(["zmemif_rx_burst", "zmemif_rx_release", "zmemif_tx_alloc", "zmemif_tx_burst"]);

export type Native = Library<typeof SYMBOLS>["symbols"];

/** The callback signature the core calls from its control thread: (ctx, event, arg). */
export const EVENT_CALLBACK = { args: [u64_fast, u32, u32], returns: VOID, threadsafe: true } as const;

// Numbers from zmemif.h.
export const ROLE_CLIENT = 0;
export const ROLE_SERVER = 1;
export const MODE_ETHERNET = 0;
export const MODE_IP = 1;
export const MODE_PUNT_INJECT = 2;
export const DESC_NEXT = 1;
export const DESC_SIZE = 16;
export const EVENT_CONNECTED = 1;
export const EVENT_DISCONNECTED = 2;
export const EVENT_RX_READY = 3;
export const EVENT_REJECTED = 4;
export const DIR_RX = 0;
export const DIR_TX = 1;
export const RX_MODE_ADAPTIVE = 0;
export const RX_MODE_POLLING = 1;
export const RX_MODE_INTERRUPT = 2;
export const STATE_DISCONNECTED = 0;
export const STATE_CONNECTING = 1;
export const STATE_CONNECTED = 2;
export const STATE_CLOSED = 3;
export const PORT_REQUIRE_SECRET = 1;
export const PORT_EXPECT_SERVER_UID = 2;
export const CRED_NONE = 0xffffffff;
export const MAX_ALLOW = 16;
export const PORT_CONFIG_SIZE = 216;
export const PORT_INFO_SIZE = 80;
export const QUEUE_STATS_SIZE = 64;
export const E_NOT_CONNECTED = -6;
export const E_TIMEOUT = -7;

let native: Native | null = null;
let loadedFrom = "";

/** Where the library is looked for: $ZMEMIF_LIB, else <package>/target/release/libzmemif.so. */
export function libraryPath(): string {
  const override = process.env.ZMEMIF_LIB;
  if (override !== undefined && override !== "") return override;
  return fileURLToPath(new URL("../target/release/libzmemif.so", import.meta.url));
}

/** The loaded symbols; loads the library on first use. Throws MemifError when it cannot. */
export function lib(): Native {
  if (native !== null) return native;
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new MemifError(
      "UNSUPPORTED_PLATFORM",
      `zmemif supports linux-x64 only (this is ${process.platform}-${process.arch}): memif needs Linux ` +
        "shared memory, eventfd and SCM_RIGHTS",
    );
  }
  const path = libraryPath();
  if (!existsSync(path)) {
    const how =
      process.env.ZMEMIF_LIB !== undefined && process.env.ZMEMIF_LIB !== ""
        ? "ZMEMIF_LIB points to a file that does not exist; fix it or unset it"
        : "build it with `cargo build --release -p zmemif` in the zmemif repository, or set ZMEMIF_LIB to its path";
    throw new MemifError("LIBRARY_NOT_FOUND", `libzmemif.so not found at ${path}: ${how}`);
  }
  let opened: Library<typeof SYMBOLS>;
  try {
    opened = dlopen(path, SYMBOLS);
  } catch (cause) {
    throw new MemifError(
      "LIBRARY_LOAD_FAILED",
      `cannot load ${path}: ${(cause as Error).message}; rebuild it with \`cargo build --release -p zmemif\``,
      { cause },
    );
  }
  loadedFrom = path;
  native = process.env.ZMEMIF_TRACE === "1" ? traced(opened.symbols) : opened.symbols;
  return native;
}

/** The path the library was loaded from ("" before the first load). */
export function loadedPath(): string {
  return loadedFrom;
}

function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) && v > 0xffff ? `0x${v.toString(16)}` : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${v.byteLength}B>`;
  if (v === null || v === undefined) return String(v);
  if (v instanceof CString) return JSON.stringify(String(v));
  return typeof v;
}

function traced(symbols: Native): Native {
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
  return out as Native;
}

// ---- scratch buffers for out-params (not the hot path) ----

const text = new Uint8Array(1024);
const textPtr = ptr(text);
const out64 = new BigUint64Array(2);
const out64Ptr = ptr(out64);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Calls `f(buf, len)` that returns a length, and decodes that many bytes as UTF-8. */
export function readString(f: (buf: Pointer, len: number) => number): string {
  const n = f(textPtr, text.byteLength);
  if (n <= 0) return "";
  return decoder.decode(text.subarray(0, Math.min(n, text.byteLength)));
}

/** The calling thread's message for the last failure in the core. */
export function lastError(): string {
  return readString((b, l) => lib().zmemif_last_error(b, l));
}

/** Calls `f(out)` with a pointer to one u64 out-param; returns [rc, value]. */
export function withOutHandle(f: (out: Pointer) => number): [number, number] {
  out64[0] = 0n;
  const rc = f(out64Ptr);
  return [rc, Number(out64[0])];
}

/** Calls `f(a, b)` with two u64 out-params; returns [rc, a, b]. */
export function withOut2(f: (a: Pointer, b: Pointer) => number): [number, number, number] {
  out64[0] = 0n;
  out64[1] = 0n;
  const rc = f(out64Ptr, (out64Ptr + 8) as Pointer);
  return [rc, Number(out64[0]), Number(out64[1])];
}

/** A MemifError for a negative return code, with the core's message for this thread. */
export function errorFor(rc: number, op: string, extra: { reason?: string; context?: string } = {}): MemifError {
  const code = codeOf(rc);
  let msg = "";
  try {
    msg = lastError();
  } catch {
    // library not loaded: keep the generic text
  }
  if (msg === "") {
    try {
      msg = String(lib().zmemif_strerror(rc));
    } catch {
      msg = code;
    }
  }
  const parts = [`${op}: ${msg}`];
  if (extra.context !== undefined) parts.push(extra.context);
  if (extra.reason !== undefined && extra.reason !== "") parts.push(`peer's reason: ${extra.reason}`);
  const hint = hintFor(code);
  if (hint !== undefined && !msg.includes(hint)) parts.push(hint);
  return new MemifError(code, parts.join("; "), {
    errno: rc,
    op,
    ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
  });
}

/** Throws a MemifError when rc < 0; returns rc otherwise. */
export function check(rc: number, op: string): number {
  if (rc < 0) throw errorFor(rc, op);
  return rc;
}

export type { Pointer };
