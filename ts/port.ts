/**
 * Port: one memif interface on a MemifSocket (id + role), its connection state and events.
 *
 * The core runs the handshake on its control thread and reports CONNECTED / DISCONNECTED /
 * RX_READY / REJECTED through one C callback. Here a single threadsafe JSCallback per JS thread
 * receives them all (ctx = the port's key) and delivers them on this thread's event loop;
 * listeners are then run from a microtask so that a throwing listener never unwinds through the
 * FFI trampoline. Nothing here polls: connect() settles on the CONNECTED or REJECTED event.
 */
import { Capture, type CaptureOptions, type Tap } from "./capture/capture.ts";
import { MemifError } from "./errors.ts";
import { typedEmitter } from "./events.ts";
import { hold, release } from "./loop.ts";
import {
  CRED_NONE,
  E_PEER_REJECTED,
  EVENT_CONNECTED,
  EVENT_DISCONNECTED,
  EVENT_REJECTED,
  EVENT_RX_READY,
  MAX_ALLOW,
  MODE_ETHERNET,
  MODE_IP,
  MODE_PUNT_INJECT,
  PORT_CONFIG_BUFFER_SIZE_OFF,
  PORT_CONFIG_FLAGS_OFF,
  PORT_CONFIG_ID_OFF,
  PORT_CONFIG_LOG2_RING_SIZE_OFF,
  PORT_CONFIG_MODE_OFF,
  PORT_CONFIG_NAME_COUNT,
  PORT_CONFIG_NAME_OFF,
  PORT_CONFIG_NUM_C2S_OFF,
  PORT_CONFIG_NUM_S2C_OFF,
  PORT_CONFIG_RECONNECT_MS_OFF,
  PORT_CONFIG_ROLE_OFF,
  PORT_CONFIG_SECRET_COUNT,
  PORT_CONFIG_SECRET_LEN_OFF,
  PORT_CONFIG_SECRET_OFF,
  PORT_CONFIG_SIZE,
  PORT_CONFIG_ALLOW_GIDS_OFF,
  PORT_CONFIG_ALLOW_UIDS_OFF,
  PORT_CONFIG_EXPECT_SERVER_UID_OFF,
  PORT_CONFIG_N_ALLOW_GIDS_OFF,
  PORT_CONFIG_N_ALLOW_UIDS_OFF,
  PORT_EXPECT_SERVER_UID,
  PORT_INFO_BUFFER_SIZE_OFF,
  PORT_INFO_CONNECTS_OFF,
  PORT_INFO_DISCONNECTS_OFF,
  PORT_INFO_GENERATION_OFF,
  PORT_INFO_LOG2_RING_SIZE_OFF,
  PORT_INFO_MAX_SEGMENTS_OFF,
  PORT_INFO_NUM_C2S_OFF,
  PORT_INFO_NUM_REGIONS_OFF,
  PORT_INFO_NUM_S2C_OFF,
  PORT_INFO_PEER_GID_OFF,
  PORT_INFO_PEER_PID_OFF,
  PORT_INFO_PEER_UID_OFF,
  PORT_INFO_REJECTED_GID_OFF,
  PORT_INFO_REJECTED_PID_OFF,
  PORT_INFO_REJECTED_UID_OFF,
  PORT_INFO_REJECTS_OFF,
  PORT_INFO_ROLE_OFF,
  PORT_INFO_SIZE,
  PORT_INFO_STATE_OFF,
  PORT_REQUIRE_SECRET,
  ROLE_CLIENT,
  ROLE_SERVER,
  STATE_CLOSED,
  STATE_CONNECTED,
  STATE_CONNECTING,
  STATE_DISCONNECTED,
} from "./native/abi.ts";
import type { EventHook, NativeBackend } from "./native/backend.ts";
import { check, errorFor } from "./native/check.ts";
import {
  type Direction,
  openSharedHandle,
  type PortLink,
  type QueueCore,
  type QueueOptions,
  type QueueToken,
} from "./queue.ts";
import { openRxQueue, type RxQueue } from "./rx.ts";
import { openTxQueue, type TxQueue } from "./tx.ts";

export type Role = "client" | "server";
export type Mode = "ethernet" | "ip" | "punt-inject";
export type PortState = "disconnected" | "connecting" | "connected" | "closed";

export interface PortOptions {
  /** interface id, matched against the peer's (0..2^32-1); default 0 */
  id?: number;
  /** client connects to a server listening on the socket; default 'client' */
  role?: Role;
  /** shared secret the client presents (≤ 24 bytes); default none */
  secret?: string | Uint8Array;
  /**
   * client-to-server queue count, 1..255; default 1. A connection has the smaller of both sides'
   * counts: a client asking for more gets the server's (the server's HELLO limits them), a client
   * asking for fewer gets what it asked for. `info()` has the connection's counts; a queue id at
   * or above them throws QUEUE_RANGE naming both counts.
   */
  c2sQueues?: number;
  /** server-to-client queue count, 1..255; default 1; negotiated as `c2sQueues` is */
  s2cQueues?: number;
  /** descriptors per ring: a power of two, 2..16384; default 1024 */
  ringSize?: number;
  /** bytes per packet buffer, 1..65535; default 2048 (larger packets are chained) */
  bufferSize?: number;
  /** default 'ethernet' */
  mode?: Mode;
  /** our interface name as the peer sees it (≤ 32 bytes); default "zmemif" */
  name?: string;
  /** client: how often to retry connecting, ms; default 1000 */
  reconnectMs?: number;
  /**
   * server: only peers running as one of these uids (or with one of `allowGids`) may connect;
   * others get a DISCONNECT saying why and show as 'rejected'. Up to 16. Default: anyone who can
   * reach the socket
   */
  allowUids?: number[];
  /** server: as `allowUids`, for the peer's gid (its effective gid when it connected) */
  allowGids?: number[];
  /**
   * server: on an abstract socket, neither a secret nor an allow-list is an error (default: a
   * warning on stderr, once): any process in the network namespace could connect
   */
  requireSecret?: boolean;
  /** client: connect only to a server running as this uid (checked before the secret is sent) */
  expectServerUid?: number;
}

/** A process at the other end of the control socket, as the kernel saw it (`SO_PEERCRED`). */
export interface PeerCredentials {
  /** 0 when not visible from our pid namespace */
  pid: number;
  uid: number;
  gid: number;
}

/** A port's state and counters; the negotiated sizes are 0 while it is not connected. */
export interface PortInfo {
  state: PortState;
  /** increments on each successful connect */
  generation: number;
  c2sQueues: number;
  s2cQueues: number;
  /** descriptors per ring */
  ringSize: number;
  role: Role;
  regions: number;
  /** bytes per packet buffer (as the client allocated them) */
  bufferSize: number;
  /** the most buffers one received packet can span (rxBurst sizes its batch to it when needed) */
  maxSegments: number;
  connects: number;
  disconnects: number;
  /** handshakes refused, by us or by the peer */
  rejects: number;
  /** the connected peer's credentials; null while not connected */
  peer: PeerCredentials | null;
  /** the process at the other end of the last refused handshake; null: none yet */
  rejectedPeer: PeerCredentials | null;
}

export interface ConnectedEvent {
  peerName: string;
  generation: number;
  info: PortInfo;
}

export interface DisconnectedEvent {
  peerName: string;
  /** why the connection ended (the peer's disconnect message, or ours) */
  reason: string;
  generation: number;
}

export interface RejectedEvent {
  reason: string;
  rejects: number;
  /** the other side: for a server, the client it refused (uid, pid) */
  peer: PeerCredentials | null;
}

export interface ConnectOptions {
  /** reject with MemifError TIMEOUT after this many ms; default: wait forever */
  timeoutMs?: number;
  /** reject with `signal.reason` when it aborts (as fetch() does) */
  signal?: AbortSignal;
}

/** The events a Port emits, with their listener arguments. */
export interface PortEvents {
  connected: [ConnectedEvent];
  disconnected: [DisconnectedEvent];
  rejected: [RejectedEvent];
  close: [];
}

/** What a port shows of its socket (a MemifSocket). */
export interface PortSocket {
  /** the path as given: a filesystem path, or `@name` for an abstract socket */
  readonly path: string;
  readonly abstract: boolean;
  readonly closed: boolean;
}

/** What a port needs from its socket (handed down by MemifSocket; internal to ts/). @internal */
export interface SocketLink {
  readonly socket: PortSocket;
  readonly native: NativeBackend;
  /** the socket's handle; throws CLOSED after close() */
  handle(): number;
  /** a port was opened (true) or closed (false) on the socket */
  track(port: Port, open: boolean): void;
}

const STATES: Record<number, PortState> = {
  [STATE_DISCONNECTED]: "disconnected",
  [STATE_CONNECTING]: "connecting",
  [STATE_CONNECTED]: "connected",
  [STATE_CLOSED]: "closed",
};

// ---- the per-thread event dispatcher ----

/** What the dispatcher calls on a port (closures over its private state). */
interface PortSink {
  onEvent(event: number, arg: number): void;
  silence(): void;
}

const ports = new Map<number, PortSink>();
let nextKey = 1;
let dispatcher: EventHook | null = null;
let exitHooked = false;

function onNativeEvent(ctx: number, event: number, arg: number): void {
  // A delivery queued by the core just before a port was closed still runs after close(): it
  // finds no key and is ignored.
  ports.get(ctx)?.onEvent(event, arg);
}

/**
 * This thread's event hook, made when its first port opens and closed when its last port
 * closes. Closing is safe because zmemif_port_set_callback(NULL) and zmemif_port_free return only
 * once no call of the callback is running, and none starts afterwards (a call made after close()
 * would crash the process, docs/bun-ffi-notes.md (a)); deliveries already queued on the loop
 * still run and are ignored by key.
 */
function threadDispatcher(native: NativeBackend): EventHook {
  if (dispatcher === null) {
    dispatcher = native.eventHook(onNativeEvent);
    if (!exitHooked) {
      exitHooked = true;
      // At exit, stop the core from calling into a VM that is being torn down.
      process.once("exit", () => {
        for (const p of ports.values()) p.silence();
      });
    }
  }
  return dispatcher;
}

function dropDispatcherIfUnused(): void {
  if (ports.size === 0 && dispatcher !== null) {
    dispatcher.close();
    dispatcher = null;
  }
}

// ---- option validation ----

function intIn(name: string, v: number | undefined, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new MemifError("INVALID_ARGUMENT", `Port: ${name} must be an integer in ${lo}..${hi}, got ${v}`);
  }
  return v;
}

function log2RingSize(ringSize: number | undefined): number {
  if (ringSize === undefined) return 0;
  if (!Number.isInteger(ringSize) || ringSize < 2 || ringSize > 16384 || (ringSize & (ringSize - 1)) !== 0) {
    let hint = "";
    if (Number.isInteger(ringSize) && ringSize > 2 && ringSize < 16384) {
      const lower = 2 ** Math.floor(Math.log2(ringSize));
      hint = ` (nearest: ${lower} or ${lower * 2})`;
    }
    throw new MemifError(
      "INVALID_ARGUMENT",
      `Port: ringSize must be a power of two between 2 and 16384, got ${ringSize}${hint}`,
    );
  }
  return Math.log2(ringSize);
}

const encoder = new TextEncoder();

function bytesOf(name: string, v: string | Uint8Array | undefined, max: number): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  const b = typeof v === "string" ? encoder.encode(v) : v;
  if (b.byteLength > max) {
    throw new MemifError("INVALID_ARGUMENT", `Port: ${name} must be at most ${max} bytes, got ${b.byteLength}`);
  }
  return b;
}

function idList(name: string, v: number[] | undefined): number[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_ALLOW) {
    throw new MemifError(
      "INVALID_ARGUMENT",
      `Port: ${name} must be an array of at most ${MAX_ALLOW} ids; to allow more, allow a group (allowGids)`,
    );
  }
  for (const id of v) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) {
      throw new MemifError("INVALID_ARGUMENT", `Port: ${name} must hold integer ids in 0..4294967294, got ${id}`);
    }
  }
  return v;
}

function credentials(d: DataView, pidAt: number, uidAt: number, gidAt: number): PeerCredentials | null {
  const pid = d.getUint32(pidAt, true);
  return pid === CRED_NONE ? null : { pid, uid: d.getUint32(uidAt, true), gid: d.getUint32(gidAt, true) };
}

function modeNumber(mode: Mode | undefined): number {
  switch (mode ?? "ethernet") {
    case "ethernet":
      return MODE_ETHERNET;
    case "ip":
      return MODE_IP;
    case "punt-inject":
      return MODE_PUNT_INJECT;
    default:
      throw new MemifError("INVALID_ARGUMENT", `Port: mode must be 'ethernet', 'ip' or 'punt-inject', got ${mode}`);
  }
}

/** Encodes options as `zmemif_port_config` (little-endian). */
function encodeConfig(o: PortOptions): Uint8Array {
  const role = o.role ?? "client";
  if (role !== "client" && role !== "server") {
    throw new MemifError("INVALID_ARGUMENT", `Port: role must be 'client' or 'server', got ${role}`);
  }
  const secret = bytesOf("secret", o.secret, PORT_CONFIG_SECRET_COUNT);
  const name = bytesOf("name", o.name, PORT_CONFIG_NAME_COUNT);
  const buf = new Uint8Array(PORT_CONFIG_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setUint32(PORT_CONFIG_ID_OFF, intIn("id", o.id, 0, 0xffffffff, 0), true);
  dv.setUint8(PORT_CONFIG_ROLE_OFF, role === "server" ? ROLE_SERVER : ROLE_CLIENT);
  dv.setUint8(PORT_CONFIG_MODE_OFF, modeNumber(o.mode));
  dv.setUint8(PORT_CONFIG_LOG2_RING_SIZE_OFF, log2RingSize(o.ringSize));
  dv.setUint8(PORT_CONFIG_SECRET_LEN_OFF, secret.byteLength);
  dv.setUint16(PORT_CONFIG_NUM_C2S_OFF, intIn("c2sQueues", o.c2sQueues, 1, 255, 0), true);
  dv.setUint16(PORT_CONFIG_NUM_S2C_OFF, intIn("s2cQueues", o.s2cQueues, 1, 255, 0), true);
  dv.setUint32(PORT_CONFIG_BUFFER_SIZE_OFF, intIn("bufferSize", o.bufferSize, 1, 65535, 0), true);
  dv.setUint32(PORT_CONFIG_RECONNECT_MS_OFF, intIn("reconnectMs", o.reconnectMs, 1, 0xffffffff, 0), true);
  buf.set(secret, PORT_CONFIG_SECRET_OFF);
  buf.set(name, PORT_CONFIG_NAME_OFF);
  const uids = idList("allowUids", o.allowUids);
  const gids = idList("allowGids", o.allowGids);
  let flags = o.requireSecret === true ? PORT_REQUIRE_SECRET : 0;
  if (o.expectServerUid !== undefined) {
    flags |= PORT_EXPECT_SERVER_UID;
    dv.setUint32(
      PORT_CONFIG_EXPECT_SERVER_UID_OFF,
      intIn("expectServerUid", o.expectServerUid, 0, 0xfffffffe, 0),
      true,
    );
  }
  dv.setUint32(PORT_CONFIG_FLAGS_OFF, flags, true);
  dv.setUint16(PORT_CONFIG_N_ALLOW_UIDS_OFF, uids.length, true);
  dv.setUint16(PORT_CONFIG_N_ALLOW_GIDS_OFF, gids.length, true);
  for (const [i, id] of uids.entries()) dv.setUint32(PORT_CONFIG_ALLOW_UIDS_OFF + 4 * i, id, true);
  for (const [i, id] of gids.entries()) dv.setUint32(PORT_CONFIG_ALLOW_GIDS_OFF + 4 * i, id, true);
  return buf;
}

interface Waiter {
  resolve: (e: ConnectedEvent) => void;
  reject: (e: unknown) => void;
}

let make: (link: SocketLink, options: PortOptions) => Port;

/** MemifSocket.port (internal to ts/: not exported from index.ts) @internal */
export function openPort(link: SocketLink, options: PortOptions): Port {
  return make(link, options);
}

export class Port extends typedEmitter<PortEvents>() {
  readonly socket: PortSocket;
  readonly id: number;
  readonly role: Role;
  readonly #link: SocketLink;
  readonly #native: NativeBackend;
  readonly #key: number;
  #handle: number;
  #refed = false;
  #peerName = "";
  #generation = 0;
  /** handshake refusals already reported (through connect() or the 'rejected' event) */
  #rejectsSeen = 0;
  readonly #queues = new Set<QueueCore>();
  /** port.capture(): the capture every queue of this port records into, and each queue's tap */
  #capture: Capture | null = null;
  readonly #taps = new Map<QueueCore, Tap>();
  /** rx queue id → the wakes waiting for its RX_READY (kept across waits: none allocated per wait) */
  readonly #rxWaiters = new Map<number, (() => void)[]>();
  #connectWaiters: Waiter[] = [];
  readonly #infoBuf = new Uint8Array(PORT_INFO_SIZE);
  readonly #infoView = new DataView(this.#infoBuf.buffer);
  /** what this port's queues see of it */
  readonly #queueLink: PortLink;

  private constructor(link: SocketLink, options: PortOptions = {}) {
    super();
    const cfg = encodeConfig(options);
    const native = link.native;
    const handle = native.portNew(link.handle(), cfg);
    check(handle, `zmemif_port_new(id ${options.id ?? 0}, ${options.role ?? "client"}, socket ${link.socket.path})`);
    this.socket = link.socket;
    this.id = options.id ?? 0;
    this.role = options.role ?? "client";
    this.#link = link;
    this.#native = native;
    this.#handle = handle;
    this.#key = nextKey++;
    this.#queueLink = this.#makeQueueLink();
    ports.set(this.#key, {
      onEvent: (event, arg) => this.#onEvent(event, arg),
      silence: () => {
        if (this.#handle !== 0) native.portSetCallback(this.#handle, null, 0);
      },
    });
    const cb = native.portSetCallback(this.#handle, threadDispatcher(native), this.#key);
    if (cb < 0) {
      const err = errorFor(cb, "zmemif_port_set_callback");
      this.#free();
      dropDispatcherIfUnused();
      throw err;
    }
    link.track(this, true);
    this.ref();
    // The core starts connecting in zmemif_port_new: a handshake that completed before the
    // callback was set sent its CONNECTED to nobody. Report that connection now.
    const info = this.info();
    if (info.state === "connected") this.#noteConnected(info, true);
  }

  static {
    make = (link, options) => new Port(link, options);
  }

  #makeQueueLink(): PortLink {
    return {
      id: this.id,
      handle: () => this.#checkedHandle(),
      sizes: () => {
        const i = this.info();
        return {
          connected: i.state === "connected",
          bufferSize: i.bufferSize,
          ringSize: i.ringSize,
          maxSegments: i.maxSegments,
        };
      },
      connect: () => this.connect(),
      waitRx: (qid, wake) => {
        let list = this.#rxWaiters.get(qid);
        if (list === undefined) this.#rxWaiters.set(qid, (list = []));
        if (!list.includes(wake)) list.push(wake);
      },
      cancelRx: (qid, wake) => {
        const list = this.#rxWaiters.get(qid);
        if (list === undefined) return;
        const i = list.indexOf(wake);
        if (i < 0) return;
        list[i] = list[list.length - 1]!;
        list.pop();
      },
      track: (q) => {
        this.#queues.add(q);
        this.#tapQueue(q);
      },
      forget: (q) => {
        this.#queues.delete(q);
      },
    };
  }

  /** the native handle; throws CLOSED after close() */
  #checkedHandle(): number {
    if (this.#handle === 0) throw new MemifError("CLOSED", `Port ${this.id} (${this.role}) is closed`);
    return this.#handle;
  }

  get closed(): boolean {
    return this.#handle === 0;
  }

  get connected(): boolean {
    return this.#handle !== 0 && this.info().state === "connected";
  }

  /** the peer's interface name while connected (or of the last connection) */
  get peerName(): string {
    return this.#peerName;
  }

  /** Keep the process alive while this port is open (the default, like a listening server). */
  ref(): this {
    if (!this.#refed && this.#handle !== 0) {
      this.#refed = true;
      hold();
    }
    return this;
  }

  /** Let the process exit even though this port is open. */
  unref(): this {
    if (this.#refed) {
      this.#refed = false;
      release();
    }
    return this;
  }

  info(): PortInfo {
    check(this.#native.portInfo(this.#checkedHandle(), this.#infoBuf), "zmemif_port_info_get");
    const d = this.#infoView;
    const log2 = d.getUint8(PORT_INFO_LOG2_RING_SIZE_OFF);
    return {
      state: STATES[d.getUint32(PORT_INFO_STATE_OFF, true)] ?? "disconnected",
      generation: d.getUint32(PORT_INFO_GENERATION_OFF, true),
      c2sQueues: d.getUint16(PORT_INFO_NUM_C2S_OFF, true),
      s2cQueues: d.getUint16(PORT_INFO_NUM_S2C_OFF, true),
      ringSize: log2 === 0 ? 0 : 2 ** log2,
      role: d.getUint8(PORT_INFO_ROLE_OFF) === ROLE_SERVER ? "server" : "client",
      regions: d.getUint16(PORT_INFO_NUM_REGIONS_OFF, true),
      bufferSize: d.getUint32(PORT_INFO_BUFFER_SIZE_OFF, true),
      maxSegments: d.getUint32(PORT_INFO_MAX_SEGMENTS_OFF, true),
      connects: Number(d.getBigUint64(PORT_INFO_CONNECTS_OFF, true)),
      disconnects: Number(d.getBigUint64(PORT_INFO_DISCONNECTS_OFF, true)),
      rejects: Number(d.getBigUint64(PORT_INFO_REJECTS_OFF, true)),
      peer: credentials(d, PORT_INFO_PEER_PID_OFF, PORT_INFO_PEER_UID_OFF, PORT_INFO_PEER_GID_OFF),
      rejectedPeer: credentials(d, PORT_INFO_REJECTED_PID_OFF, PORT_INFO_REJECTED_UID_OFF, PORT_INFO_REJECTED_GID_OFF),
    };
  }

  /** The last disconnect (or rejection) reason the core recorded. */
  reason(): string {
    return this.#native.portReason(this.#checkedHandle());
  }

  /**
   * Resolves when the port is connected (at once if it already is). A client rejects with
   * MemifError PEER_REJECTED (carrying the peer's reason) if a handshake is refused meanwhile;
   * a server keeps waiting for a client that gets it right (listen to 'rejected' to see them).
   * Rejects with `signal.reason` when `signal` aborts. Settled by the core's CONNECTED / REJECTED
   * events: nothing polls while it waits.
   */
  connect(options: ConnectOptions = {}): Promise<ConnectedEvent> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const info = this.info();
    if (info.state === "connected") return Promise.resolve(this.#noteConnected(info));
    return new Promise<ConnectedEvent>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const cleanup = () => {
        if (timer !== null) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#connectWaiters = this.#connectWaiters.filter((w) => w !== waiter);
      };
      const waiter: Waiter = {
        resolve: (e) => {
          cleanup();
          resolve(e);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = () => waiter.reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          // The core's last reason: why a client could not connect ("no server at …: no such
          // file …"), or why a server refused its clients ("Incorrect secret").
          const reason = this.reason();
          const refused = this.info().rejects - info.rejects;
          const why =
            this.role === "client"
              ? (reason !== "" ? `${reason}; ` : "") +
                "is a server listening on that socket with the same interface id?"
              : refused > 0
                ? `${refused} client${refused === 1 ? "" : "s"} refused: ${reason}`
                : "no client connected; check the client's socket path and interface id";
          waiter.reject(
            new MemifError(
              "TIMEOUT",
              `Port ${this.id} (${this.role}) on ${this.socket.path}: ` +
                `not connected after ${options.timeoutMs} ms; ${why}`,
              { op: "connect", reason },
            ),
          );
        }, options.timeoutMs);
      }
      this.#connectWaiters.push(waiter);
      // A refusal whose REJECTED event is still queued on the loop is reported now (the event
      // then finds it seen and is ignored).
      if (info.rejects > this.#rejectsSeen) this.#noteRejected(info.rejects);
    });
  }

  /** A handshake was refused (`rejects` refusals so far): emit 'rejected', fail a client's connect(). */
  #noteRejected(rejects: number): void {
    if (rejects <= this.#rejectsSeen) return;
    this.#rejectsSeen = rejects;
    const reason = this.reason();
    const peer = this.info().rejectedPeer;
    queueMicrotask(() => this.emit("rejected", { reason, rejects, peer }));
    if (this.role !== "client") return;
    for (const w of [...this.#connectWaiters]) {
      w.reject(
        new MemifError(
          "PEER_REJECTED",
          `Port ${this.id} (client) on ${this.socket.path}: the handshake was refused` +
            (reason !== "" ? `: ${reason}` : "") +
            "; check the interface id, secret and mode on both sides",
          { errno: E_PEER_REJECTED, op: "connect", reason },
        ),
      );
    }
  }

  #connectedEvent(info: PortInfo): ConnectedEvent {
    this.#peerName = this.#native.portPeerName(this.#checkedHandle());
    return { peerName: this.#peerName, generation: info.generation, info };
  }

  /**
   * A connection is up (seen through the event or connect(), whichever came first):
   * wake the queues, settle connect() waiters and emit 'connected' once per generation.
   */
  #noteConnected(info: PortInfo, first = false): ConnectedEvent {
    // Connections before this one whose events are still queued (connect() can see a newer one
    // first): announce them now, so their 'disconnected' follows a 'connected'. Not in the
    // constructor: events from before the port's callback was set went to nobody.
    if (!first) for (let g = this.#generation + 1; g < info.generation; g++) this.#noteEnded(g, info);
    const e = this.#connectedEvent(info);
    if (info.generation > this.#generation) {
      this.#generation = info.generation;
      for (const q of this.#queues) q.onConnected();
      queueMicrotask(() => this.emit("connected", e));
    }
    for (const w of [...this.#connectWaiters]) w.resolve(e);
    return e;
  }

  /**
   * Connection `generation` came up but is over by the time its event is handled (its
   * DISCONNECTED is queued behind): emit its 'connected' all the same, so that every
   * 'disconnected' a listener sees was announced, in order. `info` is the port as it is now (not
   * connected, or a later connection); connect() waiters keep waiting for a live one.
   */
  #noteEnded(generation: number, info: PortInfo): void {
    this.#generation = generation;
    const e: ConnectedEvent = { peerName: this.#native.portPeerName(this.#checkedHandle()), generation, info };
    this.#peerName = e.peerName;
    queueMicrotask(() => this.emit("connected", e));
  }

  /** An event from the core, delivered on this thread's loop by the dispatcher. */
  #onEvent(event: number, arg: number): void {
    if (this.#handle === 0) return;
    switch (event) {
      case EVENT_CONNECTED: {
        if (arg <= this.#generation) return; // seen already (through connect())
        const info = this.info();
        if (info.state === "connected" && info.generation === arg) this.#noteConnected(info);
        else this.#noteEnded(arg, info);
        return;
      }
      case EVENT_DISCONNECTED:
        this.#noteDisconnected(arg);
        return;
      case EVENT_REJECTED:
        this.#noteRejected(arg);
        return;
      case EVENT_RX_READY: {
        const list = this.#rxWaiters.get(arg);
        if (list === undefined || list.length === 0) return;
        if (list.length === 1) {
          const wake = list.pop()!;
          wake();
          return;
        }
        // a wake may wait again at once: run the ones waiting now
        const wakes = list.slice();
        list.length = 0;
        for (const wake of wakes) wake();
        return;
      }
      default:
        return; // events added to the ABI later are ignored here
    }
  }

  /**
   * Not in #onEvent: a closure there (capturing `this`) would make every call of it allocate a
   * scope, RX_READY's included (the JavaScriptCore behaviour tests/rx_waits.test.ts measures).
   */
  #noteDisconnected(generation: number): void {
    if (generation > this.#generation) this.#noteEnded(generation, this.info()); // its 'connected' first
    // Revoke first: the core may unmap as soon as every queue has detached.
    for (const q of this.#queues) q.onDisconnected(generation);
    const e: DisconnectedEvent = { peerName: this.#peerName, reason: this.reason(), generation };
    queueMicrotask(() => this.emit("disconnected", e));
  }

  /** Opens receive queue `qid` (as client: an S2C ring; as server: a C2S ring). */
  /**
   * Records the packets of every queue of this port, open now or later, rx and tx, into one
   * pcapng file (`path`) or stream: one interface per queue and direction ("rx0", "tx0", ...).
   * See RxQueue.capture(); BUSY while another capture of this port runs.
   */
  capture(target: string | WritableStream<Uint8Array>, options: CaptureOptions = {}): Capture {
    if (this.#capture !== null) {
      throw new MemifError("BUSY", `Port ${this.id} is already captured: close() that capture first`);
    }
    for (const q of this.#queues) {
      if (q.tap !== null) throw new MemifError("BUSY", `${q.name()} is already captured: close() that capture first`);
    }
    const cap = new Capture(target, options);
    this.#capture = cap;
    cap.onClose = () => {
      for (const [q, tap] of this.#taps) if (q.tap === tap) q.tap = null;
      this.#taps.clear();
      if (this.#capture === cap) this.#capture = null;
    };
    for (const q of this.#queues) this.#tapQueue(q);
    return cap;
  }

  #tapQueue(q: QueueCore): void {
    const cap = this.#capture;
    if (cap === null || cap.closed || q.tap !== null) return;
    const tap = cap.tap(`${q.dir}${q.qid}`);
    q.tap = tap;
    this.#taps.set(q, tap);
  }

  rxQueue(qid = 0, options: QueueOptions = {}): RxQueue {
    return openRxQueue(this.#native, this.#queueLink, qid, options);
  }

  /** Opens transmit queue `qid` (as client: a C2S ring; as server: an S2C ring). */
  txQueue(qid = 0): TxQueue {
    return openTxQueue(this.#native, this.#queueLink, qid);
  }

  /**
   * Opens queue `qid` for another thread: post the token to a Worker and call
   * `RxQueue.adopt(token)` / `TxQueue.adopt(token)` there (one queue per Worker, so N queue pairs
   * use N cores). The Worker owns it and should close it; a Worker that ends without closing it
   * has it closed for it (see RxQueue.adopt). Until adopted the queue is no thread's: a token
   * never adopted keeps the queue id taken until the process exits.
   */
  shareQueue<D extends Direction>(dir: D, qid = 0): QueueToken<D> {
    if (dir !== "rx" && dir !== "tx") {
      throw new MemifError("INVALID_ARGUMENT", `Port.shareQueue: direction must be 'rx' or 'tx', got ${dir}`);
    }
    const handle = openSharedHandle(this.#native, this.#queueLink, dir, qid);
    let bufferSize = 0;
    let ringSize = 0;
    try {
      const info = this.info();
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
   * Disconnects and frees the port: closes its queues in this thread (revoking their views),
   * rejects pending connect() calls with CLOSED, and lets the process exit if nothing else holds it.
   */
  close(): void {
    if (this.#handle === 0) return;
    // Once this returns no callback for this port is running or will start (the core waits for
    // one in flight); only then may the key be dropped and the hook closed. Deliveries already
    // queued on the loop find no key and are ignored.
    this.#native.portSetCallback(this.#handle, null, 0);
    for (const q of [...this.#queues]) q.close();
    this.#free();
    dropDispatcherIfUnused();
    const err = new MemifError("CLOSED", `Port ${this.id} (${this.role}) was closed`);
    for (const w of [...this.#connectWaiters]) w.reject(err);
    const lists = [...this.#rxWaiters.values()];
    this.#rxWaiters.clear();
    for (const list of lists) for (const wake of list) wake();
    queueMicrotask(() => this.emit("close"));
  }

  #free(): void {
    const h = this.#handle;
    if (h === 0) return;
    this.#handle = 0;
    ports.delete(this.#key);
    this.#link.track(this, false);
    this.unref();
    this.#native.portFree(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
