/**
 * The N-API backend: NativeBackend (backend.ts) for Node.js, over the binding that the same
 * library carries beside its C ABI (crates/zmemif/src/node.rs, cargo feature `node`). The binding
 * mirrors the C ABI function by function and exports each under its NativeBackend name, so the
 * backend is the binding's own functions, without a wrapper (the hot path too: numbers in, handle,
 * descriptor address and count, a number out); this file only adapts the three calls that take or
 * make an event hook, and in a Worker has the core close what the Worker leaves open when it ends
 * (`guardThread`, zmemif_thread_guard_napi). Node 20 has no ArrayBuffer.prototype.transfer: `revokeRegion` is
 * napi_detach_arraybuffer.
 *
 * Environment: ZMEMIF_LIB (see locate.ts).
 */
import { isMainThread } from "node:worker_threads";
import { MemifError } from "../errors.ts";
import type { EventHook, EventListener, NativeBackend } from "./backend.ts";
import { locate } from "./locate.ts";

/** The calls whose event hook is the binding's own object (an External) rather than an EventHook. */
type HookCalls = "eventHook" | "portSetCallback" | "queueArmHook";

/**
 * The binding's exports (node.rs): NativeBackend's calls under the same names, so the list is
 * written once, in backend.ts; only the three that take or make a hook differ in type.
 */
type Binding = Omit<NativeBackend, "name" | HookCalls> & {
  /** zmemif_thread_guard_napi for this thread's environment (a Worker): 0 or a code */
  guardThread(): number;
  eventHook(listener: EventListener): object;
  portSetCallback(port: number, hook: object | null, ctx: number): number;
  queueArmHook(queue: number, hook: object, ctx: number): number;
};

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
  // A Worker: when it ends, however it ends, the core closes what it left open (its sockets,
  // ports, and the queues it opened or adopted), as close() would.
  if (!isMainThread) {
    const rc = b.guardThread();
    if (rc < 0) {
      process.stderr.write(
        `zmemif: warning: this Worker is not guarded (zmemif_thread_guard_napi: ${b.strerror(rc)}: ${b.lastError()}): what it leaves open stays open until the process exits: close its ports and queues before it ends.\n`,
      );
    }
  }
  // The binding's own functions (no wrapper, on the hot path too), and the hook calls adapted.
  const hooks: Pick<NativeBackend, "name" | HookCalls> = {
    name: "napi",
    eventHook: (listener) => new NodeHook(b, listener),
    portSetCallback: (port, hook, ctx) => b.portSetCallback(port, hookOf(hook), ctx),
    queueArmHook: (queue, hook, ctx) => b.queueArmHook(queue, hookOf(hook) as object, ctx),
  };
  return { ...b, ...hooks };
}
