/**
 * createSocket(): a node:dgram-shaped UDP socket over memif, for services written against Node's
 * API. It is the Bun-shaped socket (socket.ts) underneath, with Node's events and callbacks:
 *
 *   import { createSocket } from "zmemif";           // was: import { createSocket } from "node:dgram";
 *   const s = createSocket({ type: "udp4", memif: { socket: "/run/memif.sock" } });
 *   s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
 *   s.bind(5000, "192.0.2.1");
 *
 * Node semantics kept: send() never drops: what does not fit the ring now waits in a queue
 * (getSendQueueCount/Size) and its callback runs once it is in the ring; errors go to the
 * callback, or to 'error' without one. Different on purpose: `msg` in 'message' is a zero-copy
 * view valid until the listener returns (give `copy: true` to receive copies instead).
 */
import { EventEmitter } from "node:events";
import type { MemifUdpOptions } from "./options.ts";
import { UdpError } from "./errors.ts";
import { udpSocket, type UdpSocket } from "./socket.ts";

export interface DgramSocketOptions {
  type: "udp4" | "udp6";
  /**
   * the memif port (the one option node:dgram does not have); default `{ socket: "/run/memif.sock" }`,
   * the forwarder's
   */
  memif?: MemifUdpOptions;
  /** 'message' gets a copy of each datagram rather than a view valid during the listener; default false */
  copy?: boolean;
  /** bytes queued while the ring is full, at most; a send beyond fails with ENOBUFS; default 16 MiB */
  sendQueueLimit?: number;
}

export interface RemoteInfo {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
  size: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
}

type SendCallback = (error: Error | null, bytes: number) => void;

interface Queued {
  bytes: Uint8Array;
  port: number | undefined;
  address: string | undefined;
  cb: SendCallback | undefined;
}

const EMIT = EventEmitter.prototype.emit;

/** The memif port `createSocket("udp4")` uses: the forwarder's default socket. */
const DEFAULT_DGRAM_MEMIF: MemifUdpOptions = { socket: "/run/memif.sock" };

/** `createSocket("udp4")` and `createSocket({ type, memif, ... })`, as node:dgram takes them. */
export function createSocket(
  options: DgramSocketOptions | "udp4" | "udp6",
  onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void,
): DgramSocket {
  const s = new DgramSocket(typeof options === "string" ? { type: options } : options);
  if (onMessage !== undefined) s.on("message", onMessage);
  return s;
}

export class DgramSocket extends EventEmitter {
  readonly type: "udp4" | "udp6";
  readonly #memif: MemifUdpOptions;
  readonly #copy: boolean;
  readonly #limit: number;
  #sock: UdpSocket<"buffer"> | null = null;
  #binding: Promise<void> | null = null;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #remote: { port: number; address: string } | null = null;
  #closed = false;
  #refed = true;

  constructor(options: DgramSocketOptions) {
    super();
    if (options?.type !== "udp4" && options?.type !== "udp6") {
      throw new UdpError("EINVAL", `createSocket: type must be 'udp4' or 'udp6', got ${String(options?.type)}`);
    }
    this.type = options.type;
    this.#memif = options.memif ?? DEFAULT_DGRAM_MEMIF;
    this.#copy = options.copy ?? false;
    this.#limit = options.sendQueueLimit ?? 16 * 1024 * 1024;
  }

  bind(port?: number | BindOptions | (() => void), address?: string | (() => void), callback?: () => void): this {
    let p = 0;
    let a: string | undefined;
    let cb: (() => void) | undefined;
    if (typeof port === "function") cb = port;
    else if (typeof port === "object" && port !== null) {
      p = port.port ?? 0;
      a = port.address;
      cb = typeof address === "function" ? address : callback;
    } else {
      p = port ?? 0;
      if (typeof address === "function") cb = address;
      else {
        a = address;
        cb = callback;
      }
    }
    if (this.#binding !== null) throw new UdpError("EINVAL", "bind: the socket is already bound");
    this.#bind(p, a, cb);
    return this;
  }

  #bind(port: number, address: string | undefined, cb?: () => void): Promise<void> {
    const hostname = address ?? (this.type === "udp4" ? "0.0.0.0" : "::");
    this.#binding = udpSocket({
      hostname,
      port,
      binaryType: "buffer",
      memif: this.#memif,
      ...(this.#remote !== null ? { connect: { hostname: this.#remote.address, port: this.#remote.port } } : {}),
      socket: {
        data: (_s, data, rport, raddr, flags) => {
          const msg = this.#copy ? Buffer.from(data) : data;
          const family = flags.ipv6 ? "IPv6" : "IPv4";
          const rinfo: RemoteInfo = { address: raddr, family, port: rport, size: data.byteLength };
          // One listener (a function in `_events`, as Node keeps it; a `once` one is its
          // wrapper), emit not replaced, no captureRejections: call it as emit would, without
          // emit's per-call work (a fifth of the time per datagram). Else through emit.
          const one = (this as unknown as { _events?: Record<string, unknown> })._events?.message;
          if (typeof one === "function" && this.emit === EMIT && !EventEmitter.captureRejections) {
            one.call(this, msg, rinfo);
          } else this.emit("message", msg, rinfo);
        },
        drain: () => this.#pump(),
        error: (_s, e) => {
          this.emit("error", e);
        },
      },
    }).then(
      (s) => {
        if (this.#closed) {
          s.close();
          return;
        }
        this.#sock = s;
        if (!this.#refed) s.unref();
        this.emit("listening");
        cb?.();
        this.#pump();
      },
      (e: Error) => {
        this.#binding = null;
        this.#failQueue(e);
        this.emit("error", e);
      },
    );
    return this.#binding;
  }

  /**
   * send(msg, [offset, length,] port, address, [callback]); on a connected socket
   * send(msg, [offset, length,] [callback]). `msg`: Buffer, TypedArray, DataView, string, or an
   * array of those (sent as one datagram).
   */
  send(msg: unknown, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown): void {
    // the arguments read in place (no rest array: this runs per datagram)
    // biome-ignore lint/complexity/noArguments: how many were given, without an array per call
    let n = arguments.length - 1;
    let cb: SendCallback | undefined;
    const last = n === 1 ? a1 : n === 2 ? a2 : n === 3 ? a3 : n === 4 ? a4 : n >= 5 ? a5 : undefined;
    if (typeof last === "function") {
      cb = last as SendCallback;
      n--;
    }
    let bytes = toBytes(msg);
    let x0 = a1;
    let x1 = a2;
    if (typeof a1 === "number" && typeof a2 === "number" && (n >= 4 || this.#remote !== null)) {
      bytes = bytes.subarray(a1, a1 + a2);
      x0 = a3;
      x1 = a4;
      n -= 2;
    }
    let port = n >= 1 ? (x0 as number | undefined) : undefined;
    let address = n >= 2 ? (x1 as string | undefined) : undefined;
    if (this.#remote !== null) {
      if (port !== undefined) throw new UdpError("EINVAL", "send: the socket is connected; do not give a port");
      port = undefined;
      address = undefined;
    } else {
      if (typeof port !== "number") throw new UdpError("EINVAL", "send: a port is required on an unconnected socket");
      address ??= this.type === "udp4" ? "127.0.0.1" : "::1";
    }
    if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "send on a closed socket");
    if (this.#binding === null) void this.#bind(0, undefined);
    const s = this.#sock;
    if (s !== null && this.#queue.length === 0) {
      let ok: boolean;
      try {
        ok = s.send(bytes, port, address);
      } catch (e) {
        this.#fail(e as Error, cb);
        return;
      }
      if (ok) {
        if (cb !== undefined) queueMicrotask(() => cb(null, bytes.byteLength));
        return;
      }
    }
    if (this.#queuedBytes + bytes.byteLength > this.#limit) {
      // ENOBUFS, "no buffer space": the send could succeed later, unlike an invalid argument.
      const e = new UdpError(
        "ENOBUFS",
        `send: ${this.#queuedBytes} bytes already wait for ring space (sendQueueLimit ${this.#limit}); ` +
          "wait for earlier sends' callbacks, or raise sendQueueLimit",
      );
      this.#fail(e, cb);
      return;
    }
    // a view of a received datagram dies with its burst: the queue keeps a copy
    this.#queue.push({ bytes: bytes.slice(), port, address, cb });
    this.#queuedBytes += bytes.byteLength;
  }

  #pump(): void {
    const s = this.#sock;
    if (s === null) return;
    while (this.#queue.length > 0) {
      const q = this.#queue[0]!;
      let ok: boolean;
      try {
        ok = s.send(q.bytes, q.port, q.address);
      } catch (e) {
        this.#queue.shift();
        this.#queuedBytes -= q.bytes.byteLength;
        this.#fail(e as Error, q.cb);
        continue;
      }
      if (!ok) return; // drain calls us again
      this.#queue.shift();
      this.#queuedBytes -= q.bytes.byteLength;
      if (q.cb !== undefined) queueMicrotask(() => q.cb!(null, q.bytes.byteLength));
    }
  }

  #fail(e: Error, cb: SendCallback | undefined): void {
    if (cb !== undefined) queueMicrotask(() => cb(e, 0));
    else queueMicrotask(() => this.emit("error", e));
  }

  #failQueue(e: Error): void {
    for (const q of this.#queue.splice(0)) this.#fail(e, q.cb);
    this.#queuedBytes = 0;
  }

  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    const cb = typeof address === "function" ? address : callback;
    const a = typeof address === "string" ? address : this.type === "udp4" ? "127.0.0.1" : "::1";
    if (this.#remote !== null) {
      throw new UdpError("EINVAL", "connect: already connected (ERR_SOCKET_DGRAM_IS_CONNECTED)");
    }
    if (this.#sock !== null || this.#binding !== null) {
      throw new UdpError(
        "ENOTSUP",
        "connect: connect before bind or send (a bound memif UDP socket cannot be connected later)",
      );
    }
    this.#remote = { port, address: a };
    void this.#bind(0, undefined, () => {
      this.emit("connect");
      cb?.();
    });
  }

  remoteAddress(): { address: string; family: "IPv4" | "IPv6"; port: number } {
    if (this.#remote === null) {
      throw new UdpError("EINVAL", "remoteAddress: not connected (ERR_SOCKET_DGRAM_NOT_CONNECTED)");
    }
    return this.#need().remoteAddress as { address: string; family: "IPv4" | "IPv6"; port: number };
  }

  address(): { address: string; family: "IPv4" | "IPv6"; port: number } {
    return this.#need().address as { address: string; family: "IPv4" | "IPv6"; port: number };
  }

  close(callback?: () => void): this {
    if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "close: not running");
    this.#closed = true;
    this.#failQueue(new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket was closed before the datagram was sent"));
    this.#sock?.close();
    this.#sock = null;
    if (callback !== undefined) this.once("close", callback);
    queueMicrotask(() => this.emit("close"));
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#closed) await new Promise<void>((r) => this.close(r));
  }

  ref(): this {
    this.#refed = true;
    this.#sock?.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#sock?.unref();
    return this;
  }

  setBroadcast(flag: boolean): void {
    this.#need().setBroadcast(flag);
  }

  setTTL(ttl: number): number {
    return this.#need().setTTL(ttl);
  }

  /** Datagrams waiting for ring space. */
  getSendQueueCount(): number {
    return this.#queue.length;
  }

  /** Bytes waiting for ring space. */
  getSendQueueSize(): number {
    return this.#queuedBytes;
  }

  /** The zmemif socket underneath (counters: `.stats()`), once bound. */
  get socket(): UdpSocket<"buffer"> | null {
    return this.#sock;
  }

  setMulticastTTL(): never {
    throw noMulticast();
  }

  setMulticastLoopback(): never {
    throw noMulticast();
  }

  setMulticastInterface(): never {
    throw noMulticast();
  }

  addMembership(): never {
    throw noMulticast();
  }

  dropMembership(): never {
    throw noMulticast();
  }

  #need(): UdpSocket<"buffer"> {
    if (this.#sock === null) {
      throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket is not bound yet (wait for 'listening')");
    }
    return this.#sock;
  }
}

function noMulticast(): UdpError {
  return new UdpError("ENOTSUP", "multicast is not supported over memif");
}

function toBytes(msg: unknown): Uint8Array {
  if (msg instanceof Uint8Array) return msg;
  if (typeof msg === "string") return Buffer.from(msg);
  if (ArrayBuffer.isView(msg)) return new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
  if (Array.isArray(msg)) return Buffer.concat(msg.map((m) => toBytes(m)));
  throw new UdpError("EINVAL", "send: msg must be a Buffer, TypedArray, DataView, string or an array of them");
}
