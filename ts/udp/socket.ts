/**
 * udpSocket(): a UDP socket over a memif port, shaped like `Bun.udpSocket` so a service moves by
 * changing its import and adding `memif` to the options:
 *
 *   const sock = await udpSocket({
 *     hostname: "192.0.2.1", port: 5000,
 *     memif: { socket: "/run/memif.sock" },                  // the forwarder's socket
 *     socket: { data(s, data, port, address) { s.send(data, port, address); } },
 *   });
 *
 * Differences from a kernel socket, all on purpose:
 *  - `data` is a zero-copy view into the memif buffer, valid until the handler returns (the next
 *    burst gives the buffer back to the peer): copy what you keep (`data.slice()`, or
 *    `binaryType: "arraybuffer"`, which copies);
 *  - `send()` returns false when the ring is full or the memif port is down (nothing is sent,
 *    the socket's `refused` counter moves) and the `drain` handler runs once it can send again,
 *    as Bun's does; `await socket.writable()` waits for the same;
 *  - a datagram is in the ring when `send()` returns true and goes to the peer at the end of the
 *    current receive burst or task (`flush()` publishes at once);
 *  - addresses are IP literals (no DNS); no multicast; MACs are learned (see neighbour.ts).
 *
 * Hot path: `batch(socket, datagrams)` instead of `data` receives a burst without allocating,
 * and `sendView(view, offset, length, port, address)` sends a slice of any Uint8Array without
 * allocating (a received payload is copied ring to ring).
 */
import type { BinaryTypeList, SocketAddress, udp } from "bun";
import { formatIp6, isMapped4, MAC_BROADCAST, parseIp4, parseIp6, type Ip6 } from "./addr.ts";
import type { Endpoint } from "./binds.ts";
import { clearDatagrams, Datagrams, pushDatagram } from "./datagrams.ts";
import { UdpError } from "./errors.ts";
import { Template, type Parsed, type TemplateSpec } from "./headers.ts";
import type { InterfaceCore } from "./interface.ts";
import type { InterfaceStats, MemifUdpOptions } from "./options.ts";
import { openInterface } from "./registry.ts";
import type { UdpInterface } from "./view.ts";

export type UdpBinaryType = "buffer" | "uint8array" | "arraybuffer";

type Payload<T extends UdpBinaryType> = BinaryTypeList[T];

/** Datagram contents send() takes, as Bun's (strings are sent as UTF-8). */
export type UdpData = string | ArrayBufferView | ArrayBufferLike;

export interface UdpSocketHandler<T extends UdpBinaryType = "buffer"> {
  /** one datagram: a zero-copy view valid until the handler returns */
  data?(
    socket: UdpSocket<T>,
    data: Payload<T>,
    port: number,
    address: string,
    flags: udp.ReceiveFlags,
  ): void | Promise<void>;
  /** the hot path: a burst of datagrams at once, nothing allocated; replaces `data` when given */
  batch?(socket: UdpSocket<T>, datagrams: Datagrams): void;
  /** the socket can send again after send() returned false */
  drain?(socket: UdpSocket<T>): void | Promise<void>;
  /** a handler threw, or the memif queue failed */
  error?(socket: UdpSocket<T>, error: Error): void | Promise<void>;
}

export interface UdpSocketOptions<T extends UdpBinaryType = "buffer"> {
  /** local address: an IPv4 or IPv6 literal; "0.0.0.0" (default) any IPv4, "::" any IPv4 or IPv6 */
  hostname?: string;
  /** local UDP port; 0 (default): a free one in 49152..65535 */
  port?: number;
  /** how `data` arrives: "buffer" (default, zero-copy), "uint8array" (zero-copy), "arraybuffer" (a copy) */
  binaryType?: T;
  socket?: UdpSocketHandler<T>;
  /** a connected socket: send(data) goes there, and only datagrams from there are received */
  connect?: { hostname: string; port: number };
  /** the memif port to use; the one option a kernel socket does not have */
  memif: MemifUdpOptions;
}

export interface UdpSocketStats extends InterfaceStats {
  /** datagrams received by this socket, and their payload bytes */
  rx: number;
  rxBytes: number;
  /** datagrams this socket put in the ring, and their payload bytes */
  tx: number;
  txBytes: number;
  /** sends that returned false (nothing sent): ring full or memif port down */
  refused: number;
  /** of which the memif port was not connected */
  refusedNotConnected: number;
}

const FLAGS4: udp.ReceiveFlags = Object.freeze({ truncated: false, ipv6: false });
const FLAGS6: udp.ReceiveFlags = Object.freeze({ truncated: false, ipv6: true });
const BT_BUFFER = 0;
const BT_U8 = 1;
const BT_AB = 2;
const TEMPLATE_CACHE = 4096;
/** `data` views kept for reuse (a few per ring buffer) */
const VIEW_CACHE = 8192;
const encoder = new TextEncoder();

/** A destination's headers, and what they were made from (rebuilt when that changes). */
class Dest {
  constructor(
    readonly tpl: Template,
    readonly neighbours: number,
    readonly srcMac: number,
  ) {}
}

/** Parsed address: family 4 → v4, family 6 → v6 words. */
interface Addr {
  family: 4 | 6;
  v4: number;
  v6: Ip6 | null;
}

/** A connected socket's peer: where send(data) goes, and the only source it receives from. */
interface Remote {
  addr: Addr;
  port: number;
  /** as the user gave it */
  hostname: string;
}

function parseAddress(s: string, what: string): Addr {
  if (typeof s !== "string") throw new UdpError("EINVAL", `${what} must be a string, got ${typeof s}`);
  const v4 = parseIp4(s);
  if (v4 >= 0) return { family: 4, v4, v6: null };
  const v6 = parseIp6(s);
  if (v6 !== null) {
    if (isMapped4(v6)) return { family: 4, v4: v6[3], v6: null };
    return { family: 6, v4: -1, v6 };
  }
  throw new UdpError(
    "EINVAL",
    `${what} ${JSON.stringify(s)} is not an IPv4 or IPv6 address (there is no DNS over memif)`,
  );
}

function portOf(port: number, what: string, allowZero: boolean): number {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new UdpError("EINVAL", `${what} must be an integer in ${allowZero ? 0 : 1}..65535, got ${port}`);
  }
  return port;
}

function bytesOf(data: UdpData): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data);
  throw new UdpError("EINVAL", `send: data must be a string, an ArrayBuffer or a view of one, got ${typeof data}`);
}

/**
 * Opens a UDP socket on a memif port; resolves once the memif port is connected (see
 * `memif.connectTimeoutMs`) and the socket is bound. Sockets given the same memif port (same
 * `port` object, or same socket path, id and role) share it, demultiplexed by UDP port.
 */
export async function udpSocket<T extends UdpBinaryType = "buffer">(
  options: UdpSocketOptions<T>,
): Promise<UdpSocket<T>> {
  if (options === null || typeof options !== "object") throw new UdpError("EINVAL", "udpSocket: options are required");
  const bt = options.binaryType ?? "buffer";
  if (bt !== "buffer" && bt !== "uint8array" && bt !== "arraybuffer") {
    throw new UdpError("EINVAL", `binaryType must be 'buffer', 'uint8array' or 'arraybuffer', got ${bt}`);
  }
  const hostname = options.hostname ?? "0.0.0.0";
  const local = hostname === "::" || hostname === "0.0.0.0" ? null : parseAddress(hostname, "hostname");
  if (local !== null && (local.family === 4 ? local.v4 >>> 24 === 127 : local.v6!.join() === "0,0,0,1")) {
    // The kernel's usual local default; over memif nothing for it ever arrives (no host puts a
    // loopback address on a wire, and the forwarder steers its --host address to memif).
    throw new UdpError(
      "EADDRNOTAVAIL",
      `hostname ${hostname} is a loopback address: no datagram for it arrives over memif. Bind the host ` +
        `address the forwarder steers to memif (its --host, e.g. hostname: "192.0.2.1"), or "0.0.0.0" for any`,
    );
  }
  const lport = portOf(options.port ?? 0, "port", true);
  let remote: Remote | null = null;
  if (options.connect !== undefined) {
    const c = options.connect;
    remote = {
      addr: parseAddress(c.hostname, "connect.hostname"),
      port: portOf(c.port, "connect.port", false),
      hostname: c.hostname,
    };
  }
  const family = local !== null ? local.family : hostname === "::" ? 0 : 4;
  if (remote !== null && family !== 0 && remote.addr.family !== family) {
    throw new UdpError("EINVAL", `connect.hostname ${remote.hostname} is not of the socket's family (IPv${family})`);
  }
  const iface = await openInterface(options.memif);
  try {
    return make({ iface, hostname, local, lport, binaryType: bt as T, handler: options.socket ?? {}, remote });
  } catch (e) {
    iface.closeIfUnused(); // a port made for this socket alone must not stay open
    throw e;
  }
}

/** What udpSocket() checked and opened for a socket: the constructor's arguments. */
interface SocketArgs<T extends UdpBinaryType> {
  iface: InterfaceCore;
  hostname: string;
  /** the bound address, null for any */
  local: Addr | null;
  /** the port asked for, 0 for a free one */
  lport: number;
  binaryType: T;
  handler: UdpSocketHandler<T>;
  remote: Remote | null;
}

// Set in UdpSocket's static block: udpSocket() makes the sockets (the constructor is private).
let make: <T extends UdpBinaryType>(args: SocketArgs<T>) => UdpSocket<T>;

export class UdpSocket<T extends UdpBinaryType = "buffer"> implements udp.Socket<T> {
  readonly hostname: string;
  readonly binaryType: T;
  readonly #iface: InterfaceCore;
  readonly #bt: number;
  #port: number;
  /** bound IPv4 address, or -1 for any */
  readonly #addr4: number;
  /** bound IPv6 address, or null for any */
  readonly #addr6: Ip6 | null;
  readonly #addr6s: string | null;
  /** 4, 6, or 0 for both */
  readonly #family: 0 | 4 | 6;
  #handler: UdpSocketHandler<T>;
  #batch: Datagrams | null = null;
  #touched = false;
  readonly #remote: Remote | null;
  #closed = false;
  #refed = true;
  /** what the interface sees of this socket */
  readonly #ep: Endpoint;
  #ttl = 64;
  #broadcast = false;
  readonly #dests = new Map<string, Map<number, Dest>>();
  #destCount = 0;
  #lastAddr = "";
  #lastPort = -1;
  #last: Dest | null = null;
  /** the `data` last handed to the handler, and where it lives in the memif region */
  #lastData: unknown = null;
  /** `data` views made for datagrams in the region view `#viewsOf`, by absolute offset */
  readonly #views = new Map<number, Uint8Array>();
  #viewsOf: Uint8Array | null = null;
  #lastView: Uint8Array = new Uint8Array(0);
  #lastOff = 0;
  #lastLen = 0;
  readonly #stats = { rx: 0, rxBytes: 0, tx: 0, txBytes: 0, refused: 0, refusedNotConnected: 0 };

  /** use udpSocket() */
  private constructor({ iface, hostname, local, lport, binaryType, handler, remote }: SocketArgs<T>) {
    this.#iface = iface;
    this.hostname = hostname;
    this.binaryType = binaryType;
    this.#bt = binaryType === "buffer" ? BT_BUFFER : binaryType === "uint8array" ? BT_U8 : BT_AB;
    this.#addr4 = local?.family === 4 ? local.v4 : -1;
    this.#addr6 = local?.family === 6 ? local.v6 : null;
    this.#addr6s = this.#addr6 !== null ? formatIp6(...this.#addr6) : null;
    this.#family = local !== null ? local.family : hostname === "::" ? 0 : 4;
    this.#remote = remote;
    this.#handler = handler;
    this.#setHandler(handler);
    const self = this;
    this.#ep = {
      family: this.#family,
      get refed() {
        return self.#refed;
      },
      accepts: (p) => this.#accepts(p),
      receive: (u8, off, len, srcPort, address, ipv6, inRegion) =>
        this.#receive(u8, off, len, srcPort, address, ipv6, inRegion),
      endBurst: () => this.#endBurst(),
      drained: () => this.#drained(),
      error: (e) => this.#error(e),
    };
    this.#port = iface.bind(this.#ep, lport, this.#addr4, this.#addr6s);
  }

  static {
    make = (args) => new UdpSocket(args);
  }

  // ---- Bun's udp.Socket surface ----

  get port(): number {
    return this.#port;
  }

  get address(): SocketAddress {
    return { address: this.hostname, family: this.#family === 4 ? "IPv4" : "IPv6", port: this.#port };
  }

  /** connected sockets: where send(data) goes */
  get remoteAddress(): SocketAddress {
    const r = this.#remote;
    if (r === null) throw new UdpError("EINVAL", "remoteAddress: the socket is not connected");
    return { address: r.hostname, family: r.addr.family === 6 ? "IPv6" : "IPv4", port: r.port };
  }

  /** closed by close(), or its memif port was closed */
  get closed(): boolean {
    return this.#closed || this.#iface.closed;
  }

  /**
   * Sends one datagram: to `port`/`address`, or to the connected peer. True when it is in the
   * memif ring; false when the ring is full or the memif port is down (nothing sent; `drain`
   * runs when it can send again). Throws UdpError for what can never be sent (see UdpErrorCode).
   */
  send(data: UdpData, port?: number, address?: string): boolean {
    if (data === this.#lastData && data !== null) {
      // the payload just received (an echo, a forward): the ring-to-ring path, as sendView
      return this.#sendVia(this.#destFor(port, address), this.#lastView, this.#lastOff, this.#lastLen);
    }
    const bytes = bytesOf(data);
    return this.#sendVia(this.#destFor(port, address), bytes, 0, bytes.byteLength);
  }

  /**
   * Sends `length` bytes of `view` from `offset`: the zero-allocation send (a payload from a
   * `batch` handler's `datagrams.view(i)` goes ring to ring).
   */
  sendView(view: Uint8Array, offset: number, length: number, port?: number, address?: string): boolean {
    if (!(offset >= 0 && length >= 0 && offset + length <= view.byteLength)) {
      throw new UdpError(
        "EINVAL",
        `sendView: ${length} bytes at ${offset} are outside the view (${view.byteLength} bytes)`,
      );
    }
    return this.#sendVia(this.#destFor(port, address), view, offset, length);
  }

  /**
   * Sends several datagrams: `[data, port, address, data, port, address, ...]`, or `[data, ...]`
   * on a connected socket. Returns how many went into the ring; it stops at the first that did
   * not (the rest are not sent; `drain` runs when it can send again).
   */
  sendMany(packets: readonly (UdpData | number)[]): number {
    const connected = this.#remote !== null;
    const step = connected ? 1 : 3;
    if (packets.length % step !== 0) {
      throw new UdpError(
        "EINVAL",
        "sendMany: give [data, port, address] triples (a flat array) on an unconnected socket",
      );
    }
    let sent = 0;
    for (let i = 0; i < packets.length; i += step) {
      const data = packets[i] as UdpData;
      const ok = connected
        ? this.send(data)
        : this.send(data, packets[i + 1] as number, packets[i + 2] as unknown as string);
      if (!ok) break;
      sent++;
    }
    return sent;
  }

  /** Replaces the handlers. */
  reload(handler: UdpSocketHandler<T>): void {
    this.#setHandler(handler);
  }

  ref(): void {
    this.#refed = true;
    if (!this.#closed) this.#iface.updateRef();
  }

  unref(): void {
    this.#refed = false;
    if (!this.#closed) this.#iface.updateRef();
  }

  /** Unbinds; the memif port closes with its last socket (unless you passed it in `memif.port`). */
  close(): void {
    if (this.#closed) return;
    this.#iface.flush();
    this.#closed = true;
    this.#iface.unbind(this.#ep, this.#port, this.#addr4, this.#addr6s);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  setBroadcast(enabled: boolean): boolean {
    this.#broadcast = enabled;
    return enabled;
  }

  /** IPv4 TTL / IPv6 hop limit of sent datagrams, 1..255; default 64. */
  setTTL(ttl: number): number {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) {
      throw new UdpError("EINVAL", `setTTL: ttl must be 1..255, got ${ttl}`);
    }
    this.#ttl = ttl;
    this.#forgetDests();
    return ttl;
  }

  setMulticastTTL(_ttl: number): number {
    throw noMulticast();
  }

  setMulticastLoopback(_enabled: boolean): boolean {
    throw noMulticast();
  }

  setMulticastInterface(_interfaceAddress: string): boolean {
    throw noMulticast();
  }

  addMembership(_multicastAddress: string, _interfaceAddress?: string): boolean {
    throw noMulticast();
  }

  dropMembership(_multicastAddress: string, _interfaceAddress?: string): boolean {
    throw noMulticast();
  }

  addSourceSpecificMembership(_s: string, _g: string, _i?: string): boolean {
    throw noMulticast();
  }

  dropSourceSpecificMembership(_s: string, _g: string, _i?: string): boolean {
    throw noMulticast();
  }

  // ---- beyond Bun ----

  /** Resolves when a send can go into the ring again (after a false from send()); rejects on close or timeout. */
  writable(timeoutMs = -1): Promise<void> {
    if (this.#closed) return Promise.reject(new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket was closed"));
    return this.#iface.writable(1, timeoutMs);
  }

  /** Publishes the datagrams written so far to the peer now (otherwise: at the end of the burst or task). */
  flush(): void {
    this.#iface.flush();
  }

  /** This socket's counters and its memif interface's (shared by the sockets on the same memif port). */
  stats(): UdpSocketStats {
    const i = this.#iface.stats;
    const r = this.#iface.reassembler?.stats;
    return {
      ...i,
      fragmentTimeouts: r?.timeouts ?? 0,
      reassemblyBytes: r?.bytesHeld ?? 0,
      ...this.#stats,
    };
  }

  /** The memif interface under this socket (its port, MTU, counters, connection state). */
  get memif(): UdpInterface {
    return this.#iface.view;
  }

  // ---- receive (called by the interface) ----

  #accepts(p: Parsed): boolean {
    if (p.family === 4) {
      if (this.#family === 6) return false;
      if (this.#addr4 >= 0 && p.dst4 !== this.#addr4) return false;
    } else {
      if (this.#family === 4) return false;
      const a = this.#addr6;
      if (a !== null && (p.d0 !== a[0] || p.d1 !== a[1] || p.d2 !== a[2] || p.d3 !== a[3])) return false;
    }
    const r = this.#remote;
    if (r === null) return true;
    if (p.srcPort !== r.port || p.family !== r.addr.family) return false;
    if (p.family === 4) return p.src4 === r.addr.v4;
    const w = r.addr.v6!;
    return p.s0 === w[0] && p.s1 === w[1] && p.s2 === w[2] && p.s3 === w[3];
  }

  /** One datagram; true when it is the first this burst kept for the batch handler. */
  #receive(
    u8: Uint8Array,
    off: number,
    len: number,
    srcPort: number,
    address: string,
    ipv6: boolean,
    inRegion: boolean,
  ): boolean {
    const st = this.#stats;
    st.rx++;
    st.rxBytes += len;
    const b = this.#batch;
    if (b !== null) {
      pushDatagram(b, u8, off, len, srcPort, address, ipv6);
      if (this.#touched) return false;
      this.#touched = true;
      return true;
    }
    const fn = this.#handler.data;
    if (fn === undefined) return false;
    let data: Payload<T>;
    const abs = u8.byteOffset + off;
    if (this.#bt === BT_AB) data = u8.buffer.slice(abs, abs + len) as Payload<T>;
    else if (inRegion) data = this.#regionView(u8, abs, len);
    else data = this.#newView(u8, abs, len);
    if (this.#bt !== BT_AB) {
      // a view of the region (a copy is not: it may have been changed since)
      this.#lastData = data;
      this.#lastView = u8;
      this.#lastOff = off;
      this.#lastLen = len;
    }
    try {
      const r = fn(this, data, srcPort, address, ipv6 ? FLAGS6 : FLAGS4);
      if (r !== undefined) r.catch((e: unknown) => this.#error(e as Error));
    } catch (e) {
      this.#error(e as Error);
    }
    return false;
  }

  /**
   * The `data` view of `len` bytes at `abs` of a memif region's view `u8`: the one made last time
   * a datagram of that length sat there (a ring buffer is reused for datagram after datagram,
   * mostly of one size), else a new one, kept for next time. A view is valid during the handler
   * only (the docs say so), so handing the same object out again changes nothing it promised;
   * the views of a connection that ended are dropped with its region view.
   */
  #regionView(u8: Uint8Array, abs: number, len: number): Payload<T> {
    if (u8 !== this.#viewsOf) {
      this.#views.clear();
      this.#viewsOf = u8;
    }
    const views = this.#views;
    const v = views.get(abs);
    if (v !== undefined && v.byteLength === len) return v as Payload<T>;
    const made = this.#newView(u8, abs, len);
    if (views.size >= VIEW_CACHE && v === undefined) views.clear();
    views.set(abs, made as Uint8Array);
    return made;
  }

  #newView(u8: Uint8Array, abs: number, len: number): Payload<T> {
    if (this.#bt === BT_BUFFER) return Buffer.from(u8.buffer, abs, len) as Payload<T>;
    return new Uint8Array(u8.buffer, abs, len) as Payload<T>;
  }

  #endBurst(): void {
    this.#touched = false;
    const b = this.#batch;
    if (b === null || b.count === 0) return;
    try {
      this.#handler.batch?.(this, b);
    } catch (e) {
      this.#error(e as Error);
    } finally {
      clearDatagrams(b);
    }
  }

  #drained(): void {
    const fn = this.#handler.drain;
    if (fn === undefined) return;
    try {
      const r = fn(this);
      if (r !== undefined) r.catch((e: unknown) => this.#error(e as Error));
    } catch (e) {
      this.#error(e as Error);
    }
  }

  /** A handler threw: its `error` handler, else an uncaught error (as Bun does). */
  #error(e: Error): void {
    const fn = this.#handler.error;
    if (fn === undefined) {
      queueMicrotask(() => {
        throw e;
      });
      return;
    }
    try {
      void fn(this, e);
    } catch (e2) {
      queueMicrotask(() => {
        throw e2;
      });
    }
  }

  // ---- send ----

  #setHandler(h: UdpSocketHandler<T>): void {
    if (h === null || typeof h !== "object") throw new UdpError("EINVAL", "socket: the handlers must be an object");
    this.#handler = h;
    this.#batch = h.batch !== undefined ? (this.#batch ?? new Datagrams(256)) : null;
  }

  #sendVia(dest: Dest, src: Uint8Array, off: number, len: number): boolean {
    const iface = this.#iface;
    if (iface.send(dest.tpl, src, off, len)) {
      this.#stats.tx++;
      this.#stats.txBytes += len;
      return true;
    }
    this.#stats.refused++;
    if (!iface.connected) this.#stats.refusedNotConnected++;
    iface.refused(this.#ep, iface.framesFor(dest.tpl, len));
    return false;
  }

  /** The headers for (port, address): the last one, a cached one, or new ones. */
  #destFor(port: number | undefined, address: string | undefined): Dest {
    if (this.#closed || this.#iface.closed) {
      throw new UdpError(
        "ERR_SOCKET_DGRAM_NOT_RUNNING",
        this.#closed ? "send on a closed socket" : "send on a socket whose memif port was closed",
      );
    }
    const r = this.#remote;
    if (port === undefined || address === undefined) {
      if (r === null) throw new UdpError("EINVAL", "send: give a port and an address (the socket is not connected)");
      port = r.port;
      address = r.hostname;
    }
    const iface = this.#iface;
    const ver = iface.neighbours.version;
    const mac = iface.localMac;
    const last = this.#last;
    // the fast path: the same destination as the last send, nothing learned since
    if (address === this.#lastAddr && port === this.#lastPort && last !== null) {
      if (last.neighbours === ver && last.srcMac === mac) return last;
    }
    let byPort = this.#dests.get(address);
    let d = byPort?.get(port);
    if (d === undefined || d.neighbours !== ver || d.srcMac !== mac) {
      d = this.#makeDest(portOf(port, "send: port", false), address);
      if (this.#destCount >= TEMPLATE_CACHE) this.#forgetDests();
      if (byPort === undefined) this.#dests.set(address, (byPort = new Map()));
      if (!byPort.has(port)) this.#destCount++;
      byPort.set(port, d);
    }
    this.#lastAddr = address;
    this.#lastPort = port;
    this.#last = d;
    return d;
  }

  #forgetDests(): void {
    this.#dests.clear();
    this.#destCount = 0;
    this.#last = null;
    this.#lastPort = -1;
  }

  #makeDest(port: number, address: string): Dest {
    const iface = this.#iface;
    const a = parseAddress(address, "send: address");
    if (this.#family !== 0 && a.family !== this.#family) {
      throw new UdpError(
        "EINVAL",
        `send: ${address} is IPv${a.family} but the socket is IPv${this.#family} (bound to ${this.hostname})`,
      );
    }
    const ver = iface.neighbours.version;
    const srcMac = iface.localMac;
    let dstMac = 0;
    let ends: Pick<TemplateSpec, "family" | "src4" | "dst4" | "src6" | "dst6">;
    if (a.family === 4) {
      if (a.v4 >>> 28 === 0xe) throw noMulticast();
      const src = this.#addr4 >= 0 ? this.#addr4 : iface.local4;
      if (src < 0) throw noSource(this.hostname);
      if (!iface.ipMode) {
        if (a.v4 === 0xffffffff) {
          if (!this.#broadcast) throw new UdpError("EACCES", `send to ${address}: call setBroadcast(true) first`);
          dstMac = MAC_BROADCAST;
        } else {
          dstMac = iface.neighbours.lookup4(a.v4);
          if (dstMac < 0) throw noNeighbour(address);
        }
        if (srcMac < 0) throw noMac();
      }
      ends = { family: 4, src4: src, dst4: a.v4 };
    } else {
      const v6 = a.v6!;
      if (v6[0] >>> 24 === 0xff) throw noMulticast();
      const src = this.#addr6 ?? iface.local6;
      if (src === null) throw noSource(this.hostname);
      if (!iface.ipMode) {
        dstMac = iface.neighbours.lookup6(formatIp6(...v6));
        if (dstMac < 0) throw noNeighbour(address);
        if (srcMac < 0) throw noMac();
      }
      ends = { family: 6, src6: src, dst6: v6 };
    }
    const tpl = new Template({
      ...ends,
      ipMode: iface.ipMode,
      srcMac,
      dstMac,
      srcPort: this.#port,
      dstPort: port,
      ttl: this.#ttl,
    });
    return new Dest(tpl, ver, srcMac);
  }
}

function noMulticast(): UdpError {
  return new UdpError("ENOTSUP", "multicast is not supported over memif (the forwarder steers unicast UDP only)");
}

function noSource(hostname: string): UdpError {
  return new UdpError(
    "EADDRNOTAVAIL",
    `no source address: the socket is bound to ${hostname} and has not received a datagram yet; ` +
      "bind it to the host's address (hostname)",
  );
}

function noNeighbour(address: string): UdpError {
  return new UdpError(
    "EHOSTUNREACH",
    `no MAC address known for ${address}: it has not sent to this memif port yet, and there is no ARP over memif; ` +
      "give memif.nextHopMac (the router's MAC) or memif.neighbours",
  );
}

function noMac(): UdpError {
  return new UdpError(
    "EADDRNOTAVAIL",
    "our MAC address is not known yet (it is learned from the first frame received): " +
      "give memif.mac (behind the forwarder: the uplink NIC's MAC)",
  );
}
