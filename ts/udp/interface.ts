/**
 * UdpInterface: the memif side of the UDP sockets, one per (memif port, queue pair). It runs the
 * receive loop (burst → parse → check → reassemble → demultiplex by UDP port → the sockets'
 * handlers), owns the transmit reservation every socket on it writes into, learns MACs, and
 * counts everything it drops. Sockets bound on the same port share it, as sockets share a NIC.
 *
 * Receive (hot path): one rxBurst per up to `burst` frames; each frame is parsed in place in the
 * region view, checked (IPv4 header checksum, lengths, UDP checksum) and handed to its socket as
 * (view, offset, length): nothing is copied or allocated by the interface for a whole datagram.
 * Views stay valid until the next burst, which releases the buffers to the peer.
 *
 * Transmit: a reservation of up to TX_RESERVE ring buffers (`alloc`) is filled datagram by
 * datagram (template + payload + checksums, in place) and published with one `txBurst` at the
 * end of the receive burst, or of the current task (a microtask) for sends made elsewhere, or
 * when it is full. A send that finds no buffer returns false and is counted; the socket's
 * `drain` handler runs when buffers are free again. A datagram is "sent" once it is written into
 * a reserved buffer: only a disconnect before the publish can lose it, and that is counted
 * (`lostOnDisconnect`), like the packets the peer had not read yet when the connection ended.
 */
import { Batch, batchMapping } from "../batch.ts";
import { MemifError } from "../errors.ts";
import type { Mode, Port, PortOptions, Role } from "../port.ts";
import type { RxMode } from "../queue.ts";
import { armRxWake, type RxQueue } from "../rx.ts";
import type { TxQueue } from "../tx.ts";
import { MemifSocket } from "../socket.ts";
import { formatIp4, formatIp6, formatMac, isGroupMac, parseMac, parseIp4, parseIp6, type Ip6 } from "./addr.ts";
import { UdpError } from "./errors.ts";
import {
  ETH_HLEN,
  FRAG6_HLEN,
  IPV4_HLEN,
  P_BAD_IP_CHECKSUM,
  P_FRAGMENT,
  P_MALFORMED,
  P_TRUNCATED,
  P_UDP,
  Parsed,
  parseFrame,
  parseUdp,
  type Template,
  UDP_HLEN,
  udpChecksumOk,
} from "./headers.ts";
import { fold, knownWords16, sum, words16 } from "./checksum.ts";
import { Neighbours } from "./neighbour.ts";
import { Reassembler, type ReassemblyOptions, type ReassemblyStats } from "./reassembly.ts";

/** How the UDP socket reaches memif: an existing port, or the options to make one. */
export interface MemifUdpOptions {
  /** a port you made (and close yourself); otherwise `socket` and the port options below */
  port?: Port;
  /** control socket: a path (`/run/memif.sock`) or `@name` (abstract), or a MemifSocket */
  socket?: string | MemifSocket;
  /** memif interface id; default 0 */
  id?: number;
  /** default 'client' (the forwarder is the server) */
  role?: Role;
  secret?: string;
  ringSize?: number;
  bufferSize?: number;
  /** 'ethernet' (default) or 'ip' (memif IP mode: bare IPv4/IPv6 packets, no MACs) */
  mode?: Mode;
  /** our interface name as the memif peer sees it */
  name?: string;
  reconnectMs?: number;
  /** queue pair to use; default 0 */
  queue?: number;
  /** how the receive queue waits: 'adaptive' (default), 'interrupt' or 'polling' */
  rxMode?: RxMode;
  /** frames per receive burst, 1..256; default 32 */
  burst?: number;
  /**
   * adaptive mode: after the last datagram, keep looking for more this long (µs) before asking
   * the peer to signal, 0..1000000; default 100. A request that follows within it is met at
   * polling latency instead of after a wake-up; it costs up to that much CPU per quiet gap
   * (an idle socket uses none). 0: arm as soon as the ring is empty.
   */
  busyPollUs?: number;
  /** udpSocket() waits this long for the memif connection, ms; default 10000; -1: forever; 0: not at all */
  connectTimeoutMs?: number;
  /** our MAC, "aa:bb:cc:dd:ee:ff"; default: learned from the first frame received (the forwarder's uplink MAC) */
  mac?: string;
  /** the MAC for destinations never heard from (the router, or the forwarder's uplink peer); default none */
  nextHopMac?: string;
  /** static neighbours: address → MAC, never replaced by learning */
  neighbours?: Record<string, string>;
  /** learned neighbours kept at most; default 4096 */
  maxNeighbours?: number;
  /** IP MTU, 576..(buffer size - 14); default 1500 (less when the buffers are smaller) */
  mtu?: number;
  /** fragment datagrams larger than the MTU (default true); false: such a send throws EMSGSIZE */
  fragment?: boolean;
  /** reassembly bounds, or false to count and drop every fragment */
  reassembly?: ReassemblyOptions | false;
}

/** Counters of one interface (all sockets on the memif queue pair). */
export interface InterfaceStats {
  /** frames received from memif */
  frames: number;
  /** datagrams handed to sockets */
  delivered: number;
  /** IPv4 header or UDP checksum wrong: dropped */
  badChecksum: number;
  /** frames shorter than their headers say: dropped */
  truncated: number;
  /** impossible headers (IHL < 5, UDP length < 8, version ≠ ethertype, jumbogram): dropped */
  malformed: number;
  /** not UDP over IPv4/IPv6 (ARP, ICMP, TCP: the kernel's), or for an address or port no socket is bound to: dropped */
  notForUs: number;
  /** fragments received, and what became of them */
  fragments: number;
  reassembled: number;
  fragmentTimeouts: number;
  /** fragments dropped: memory bound, overlap, bad length, too big, or reassembly off */
  fragmentsDropped: number;
  /** bytes held by reassembly now */
  reassemblyBytes: number;
  /** frames put in the ring (a fragmented datagram counts each fragment) */
  txFrames: number;
  /** datagrams written in the ring but not yet published when the connection ended */
  lostOnDisconnect: number;
}

/** What the interface needs of a socket (implemented by UdpSocket). */
export interface Endpoint {
  readonly _family: 0 | 4 | 6;
  /** whether it takes a datagram from this source to this local address (bound address, connected peer) */
  _accepts(p: Parsed): boolean;
  _receive(u8: Uint8Array, off: number, len: number, srcPort: number, address: string, ipv6: boolean): void;
  /** the end of a burst: hand batched datagrams over */
  _endBurst(): void;
  /** transmit buffers are free again after a refused send */
  _drained(): void;
  /** the rx loop met an error that is not the socket's fault */
  _error(e: Error): void;
  _refed: boolean;
}

/** Ring buffers reserved at once: a whole datagram of 65535 bytes in 576-byte fragments fits. */
const TX_RESERVE = 128;
/** Non-empty bursts in a row before the receive loop lets the event loop run. */
const BURSTS_PER_TURN = 8;
/** Adaptive mode's busy-poll after the last datagram, µs (see MemifUdpOptions.busyPollUs). */
const DEFAULT_BUSY_POLL_US = 100;
const DEFAULT_MTU = 1500;
const MIN_MTU = 576;
/** Address strings kept for reuse (one string per sender, not per datagram). */
const ADDRESS_CACHE = 65536;

const byPath = new Map<string, UdpInterface>();
const byPort = new WeakMap<Port, Map<number, UdpInterface>>();

function check(ok: boolean, what: string): void {
  if (!ok) throw new UdpError("EINVAL", what);
}

function intIn(v: number | undefined, lo: number, hi: number, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  check(Number.isInteger(v) && v >= lo && v <= hi, `memif.${name} must be an integer in ${lo}..${hi}, got ${v}`);
  return v;
}

function macOption(s: string | undefined, name: string): number {
  if (s === undefined) return -1;
  const v = parseMac(s);
  check(v >= 0, `memif.${name} must be a MAC address like 02:00:00:00:00:01, got ${s}`);
  return v;
}

export class UdpInterface {
  readonly port: Port;
  readonly qid: number;
  readonly ipMode: boolean;
  readonly neighbours: Neighbours;
  /** our MAC: from options, or the destination MAC of the first unicast frame accepted */
  localMac: number;
  #macConfigured: boolean;
  /** the IPv4 / IPv6 address datagrams to wildcard sockets arrived at (a wildcard socket sends from it) */
  local4 = -1;
  local6: Ip6 | null = null;
  readonly fragment: boolean;
  readonly reassembler: Reassembler | null;
  /** IP MTU in use (clamped to the buffers once connected) */
  mtu: number;
  readonly #mtuWanted: number;
  readonly stats: InterfaceStats = {
    frames: 0,
    delivered: 0,
    badChecksum: 0,
    truncated: 0,
    malformed: 0,
    notForUs: 0,
    fragments: 0,
    reassembled: 0,
    fragmentTimeouts: 0,
    fragmentsDropped: 0,
    reassemblyBytes: 0,
    txFrames: 0,
    lostOnDisconnect: 0,
  };

  readonly #key: string | null;
  readonly #ownsPort: boolean;
  readonly #ownsSocket: MemifSocket | null;
  readonly #rx: RxQueue;
  readonly #tx: TxQueue;
  readonly #rxb: Batch;
  readonly #txb = new Batch(TX_RESERVE);
  readonly #p = new Parsed();
  readonly #sockets = new Map<number, Endpoint>();
  readonly #touched: Endpoint[] = [];
  readonly #addr4 = new Map<number, string>();
  #lastSrc4 = -1;
  #lastSrc4s = "";

  #last6: Ip6 = [-1, -1, -1, -1];
  #last6s = "";
  #txAvail = 0;
  #txUsed = 0;
  /** datagrams among the #txUsed buffers */
  #txDatagrams = 0;
  #flushQueued = false;
  #inBurst = false;
  #id4 = (Math.random() * 0x10000) | 0;
  #id6 = (Math.random() * 0x100000000) >>> 0;
  #closed = false;
  #running = false;
  /** performance.now() of the last burst that brought data */
  #lastRx = 0;
  /** adaptive mode: keep looking this long after the last data before arming, ms */
  readonly #busyPollMs: number;
  #up = false;
  #drainWanted = 0;
  #draining = false;
  #refused: Endpoint[] = [];
  #expiryTimer: ReturnType<typeof setTimeout> | null = null;
  #wild4 = 0;
  #wild6 = 0;
  readonly #bound4 = new Map<number, number>();
  readonly #bound6 = new Map<string, number>();
  readonly #flushTask = (): void => {
    this.#flushQueued = false;
    this.#flush();
  };

  private constructor(port: Port, qid: number, o: MemifUdpOptions, key: string | null, ownsSocket: MemifSocket | null) {
    this.port = port;
    this.qid = qid;
    this.#key = key;
    this.#ownsPort = o.port === undefined;
    this.#ownsSocket = ownsSocket;
    this.ipMode = (o.mode ?? "ethernet") === "ip";
    this.localMac = macOption(o.mac, "mac");
    this.neighbours = new Neighbours(
      intIn(o.maxNeighbours, 1, 1 << 20, 4096, "maxNeighbours"),
      macOption(o.nextHopMac, "nextHopMac"),
    );
    this.#macConfigured = o.mac !== undefined;
    this.#addNeighbours(o.neighbours);
    this.#mtuWanted = intIn(o.mtu, MIN_MTU, 65535, DEFAULT_MTU, "mtu");
    this.mtu = this.#mtuWanted;
    this.fragment = o.fragment ?? true;
    this.reassembler = o.reassembly === false ? null : new Reassembler(o.reassembly ?? {});
    this.#rxb = new Batch(intIn(o.burst, 1, 256, 32, "burst"));
    this.#busyPollMs = intIn(o.busyPollUs, 0, 1_000_000, DEFAULT_BUSY_POLL_US, "busyPollUs") / 1000;
    this.#rx = port.rxQueue(qid, o.rxMode !== undefined ? { rxMode: o.rxMode } : {});
    try {
      this.#tx = port.txQueue(qid);
    } catch (e) {
      this.#rx.close();
      throw e;
    }
  }

  #addNeighbours(table: Record<string, string> | undefined): void {
    for (const [addr, mac] of Object.entries(table ?? {})) {
      const m = macOption(mac, `neighbours["${addr}"]`);
      const a4 = parseIp4(addr);
      if (a4 >= 0) {
        this.neighbours.add4(a4, m);
        continue;
      }
      const a6 = parseIp6(addr);
      check(a6 !== null, `memif.neighbours: ${addr} is not an IPv4 or IPv6 address`);
      this.neighbours.add6(formatIp6(...a6!), m);
    }
  }

  /**
   * A further socket's options on an interface that exists: static neighbours add up, a MAC
   * not configured yet is taken, anything that contradicts the interface is refused.
   */
  #adopt(o: MemifUdpOptions): void {
    const where = `memif port ${this.port.id} queue ${this.qid}`;
    const clash = (name: string, have: unknown, want: unknown) => {
      if (want !== undefined && have !== want) {
        throw new UdpError(
          "EINVAL",
          `memif.${name} ${String(want)} contradicts ${String(have)}, which the sockets already on ${where} use; ` +
            "give the same options (or none) to every socket on one memif port",
        );
      }
    };
    clash("mode", this.ipMode ? "ip" : "ethernet", o.mode);
    clash("mtu", this.#mtuWanted, o.mtu);
    clash("fragment", this.fragment, o.fragment);
    clash("burst", this.#rxb.capacity, o.burst);
    clash("rxMode", this.#rx.rxMode, o.rxMode);
    if (o.busyPollUs !== undefined) clash("busyPollUs", this.#busyPollMs * 1000, o.busyPollUs);
    const r = this.reassembler;
    if (o.reassembly === false) clash("reassembly", r === null ? false : "on", false);
    else if (o.reassembly !== undefined) {
      if (r === null) clash("reassembly", false, "on");
      else {
        clash("reassembly.timeoutMs", r.timeoutMs, o.reassembly.timeoutMs);
        clash("reassembly.maxBytes", r.maxBytes, o.reassembly.maxBytes);
        clash("reassembly.maxDatagrams", r.maxDatagrams, o.reassembly.maxDatagrams);
      }
    }
    if (o.mac !== undefined) {
      const m = macOption(o.mac, "mac");
      if (this.#macConfigured) clash("mac", formatMac(this.localMac), formatMac(m));
      this.localMac = m;
      this.#macConfigured = true;
    }
    if (o.nextHopMac !== undefined) {
      const m = macOption(o.nextHopMac, "nextHopMac");
      if (this.neighbours.defaultMac >= 0) clash("nextHopMac", formatMac(this.neighbours.defaultMac), formatMac(m));
      this.neighbours.defaultMac = m;
    }
    this.#addNeighbours(o.neighbours);
  }

  /**
   * The interface for these options: an existing one when another socket already uses the same
   * memif port and queue (options that contradict it are refused), or a new one.
   */
  static async get(o: MemifUdpOptions | undefined): Promise<UdpInterface> {
    if (o === undefined || (o.port === undefined && o.socket === undefined)) {
      throw new UdpError(
        "EINVAL",
        "udpSocket over memif needs `memif: { socket: '/run/memif.sock' }` (the forwarder's socket) " +
          "or `memif: { port }`",
      );
    }
    const qid = intIn(o.queue, 0, 254, 0, "queue");
    const mode = o.mode ?? "ethernet";
    check(mode === "ethernet" || mode === "ip", `memif.mode must be 'ethernet' or 'ip', got ${mode}`);
    const timeoutMs = o.connectTimeoutMs ?? 10_000;
    check(
      Number.isInteger(timeoutMs) && timeoutMs >= -1,
      `memif.connectTimeoutMs must be -1 or a non-negative integer, got ${timeoutMs}`,
    );
    const found = UdpInterface.#find(o, qid);
    if (found !== undefined) found.#adopt(o);
    const iface = found ?? UdpInterface.#make(o, qid, mode);
    if (timeoutMs !== 0) {
      try {
        await iface.port.connect(timeoutMs > 0 ? { timeoutMs } : {});
      } catch (e) {
        if (iface.#sockets.size === 0) iface.#close();
        throw e;
      }
    }
    iface.#start();
    return iface;
  }

  static #find(o: MemifUdpOptions, qid: number): UdpInterface | undefined {
    const found = o.port !== undefined ? byPort.get(o.port)?.get(qid) : byPath.get(UdpInterface.#pathKey(o, qid));
    return found !== undefined && !found.#closed ? found : undefined;
  }

  static #pathKey(o: MemifUdpOptions, qid: number): string {
    const path = typeof o.socket === "string" ? o.socket : o.socket!.path;
    return `${path}\0${o.id ?? 0}\0${o.role ?? "client"}\0${qid}`;
  }

  static #make(o: MemifUdpOptions, qid: number, mode: Mode): UdpInterface {
    if (o.port !== undefined) {
      let m = byPort.get(o.port);
      if (m === undefined) byPort.set(o.port, (m = new Map()));
      const iface = new UdpInterface(o.port, qid, o, null, null);
      m.set(qid, iface);
      return iface;
    }
    const key = UdpInterface.#pathKey(o, qid);
    const own = typeof o.socket === "string" ? new MemifSocket(o.socket) : null;
    const sock = own ?? (o.socket as MemifSocket);
    let iface: UdpInterface;
    try {
      const po: PortOptions = { role: o.role ?? "client", mode, name: o.name ?? "zmemif-udp" };
      if (o.id !== undefined) po.id = o.id;
      if (o.secret !== undefined) po.secret = o.secret;
      if (o.ringSize !== undefined) po.ringSize = o.ringSize;
      if (o.bufferSize !== undefined) po.bufferSize = o.bufferSize;
      if (o.reconnectMs !== undefined) po.reconnectMs = o.reconnectMs;
      if (qid > 0) po.c2sQueues = po.s2cQueues = qid + 1;
      const port = sock.port(po);
      try {
        iface = new UdpInterface(port, qid, o, key, own);
      } catch (e) {
        port.close();
        throw e;
      }
    } catch (e) {
      own?.close();
      throw e;
    }
    byPath.set(key, iface);
    return iface;
  }

  /** Whether the memif port is connected, as its events last said (no FFI call). */
  get connected(): boolean {
    return this.#up;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- sockets ----

  /** Binds `s` to UDP port `lport` (0: a free ephemeral port); returns the port. */
  bind(s: Endpoint, lport: number, addr4: number, addr6: string | null): number {
    if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the memif interface was closed");
    if (lport === 0) {
      for (let tries = 0; tries < 65536; tries++) {
        const p = 49152 + ((Math.random() * 16384) | 0);
        if (!this.#sockets.has(p)) {
          lport = p;
          break;
        }
      }
      if (lport === 0) throw new UdpError("EADDRINUSE", "no free ephemeral UDP port (49152..65535) on this memif port");
    } else if (this.#sockets.has(lport)) {
      throw new UdpError(
        "EADDRINUSE",
        `UDP port ${lport} is already bound on memif port ${this.port.id} queue ${this.qid}; ` +
          "close that socket or choose another port",
      );
    }
    this.#sockets.set(lport, s);
    if (s._family !== 6) {
      if (addr4 < 0) this.#wild4++;
      else this.#bound4.set(addr4, (this.#bound4.get(addr4) ?? 0) + 1);
    }
    if (s._family !== 4) {
      if (addr6 === null) this.#wild6++;
      else this.#bound6.set(addr6, (this.#bound6.get(addr6) ?? 0) + 1);
    }
    this.updateRef();
    return lport;
  }

  unbind(s: Endpoint, lport: number, addr4: number, addr6: string | null): void {
    if (this.#sockets.get(lport) !== s) return;
    this.#sockets.delete(lport);
    if (s._family !== 6) {
      if (addr4 < 0) this.#wild4--;
      else decrement(this.#bound4, addr4);
    }
    if (s._family !== 4) {
      if (addr6 === null) this.#wild6--;
      else decrement(this.#bound6, addr6);
    }
    this.#refused = this.#refused.filter((e) => e !== s);
    if (this.#sockets.size === 0) this.#close();
    else this.updateRef();
  }

  /** Closes the interface when no socket is bound to it (a socket that failed to bind). */
  closeIfUnused(): void {
    if (this.#sockets.size === 0) this.#close();
  }

  /** The port keeps the process alive while any socket on it is ref'd (ports we were given: untouched). */
  updateRef(): void {
    if (!this.#ownsPort || this.port.closed) return;
    let any = false;
    for (const s of this.#sockets.values()) any ||= s._refed;
    if (any) this.port.ref();
    else this.port.unref();
  }

  // ---- receive ----

  #start(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    if (this.port.connected) this.#onConnected();
    this.port.on("connected", this.#onConnected);
    this.port.on("disconnected", this.#onDisconnected);
    // on a later turn: the socket that asked for this interface binds first (in microtasks), so
    // a datagram already waiting in the ring finds it
    setImmediate(this.#step);
  }

  /** Called for each connection: the buffers decide how large a frame can be. */
  readonly #onConnected = (): void => {
    if (this.port.closed) return;
    this.#up = true;
    const bufferSize = this.port.info().bufferSize;
    const l2 = this.ipMode ? 0 : ETH_HLEN;
    this.mtu = bufferSize > 0 ? Math.max(MIN_MTU, Math.min(this.#mtuWanted, bufferSize - l2)) : this.#mtuWanted;
  };

  /**
   * The connection ended: what was written and not yet published is gone with the ring (counted),
   * and sends are refused until the next connection.
   */
  readonly #onDisconnected = (): void => {
    this.#up = false;
    this.stats.lostOnDisconnect += this.#txDatagrams;
    this.#txAvail = this.#txUsed = this.#txDatagrams = 0;
  };

  /**
   * One turn of the receive loop: up to BURSTS_PER_TURN bursts (each: parse, deliver, the
   * sockets' batch handlers, one txBurst of the replies), then the next turn is scheduled:
   *  - data came, or it came less than `busyPollUs` ago (adaptive mode), or polling mode: on the
   *    next loop turn (setImmediate), a bounded busy-poll that lets I/O and timers run between
   *    looks, like Linux busy-poll: a request that follows a reply is met without a wake-up;
   *  - otherwise the queue is armed and #wake runs on the peer's signal: no CPU while idle,
   *    and nothing allocated per wait (armRxWake keeps our one callback).
   */
  #turn(): void {
    if (this.#closed) return;
    const b = this.#rxb;
    let got = 0;
    for (let k = 0; k < BURSTS_PER_TURN; k++) {
      let n = 0;
      try {
        n = this.#rx.rxBurst(b);
      } catch (e) {
        if (this.#closed) return;
        if (e instanceof MemifError && e.code === "CLOSED") {
          // the port was closed under us (a port given in memif.port): the sockets are done
          this.#close();
          return;
        }
        this.#report(e as Error);
        setImmediate(this.#step);
        return;
      }
      if (n === 0) break;
      got += n;
      this.#inBurst = true;
      try {
        this.#burst(b, n);
      } finally {
        this.#inBurst = false;
        const t = this.#touched;
        for (let i = 0; i < t.length; i++) t[i]!._endBurst();
        t.length = 0;
      }
      this.#flush();
      if (this.#closed) return;
    }
    this.#flush();
    const now = performance.now();
    if (got > 0) this.#lastRx = now;
    const mode = this.#rx.rxMode;
    if (got > 0 || mode === "polling" || (mode === "adaptive" && now - this.#lastRx < this.#busyPollMs)) {
      setImmediate(this.#step);
      return;
    }
    let armed: number;
    try {
      armed = armRxWake(this.#rx, this.#wake);
    } catch (e) {
      this.#report(e as Error);
      armed = -1;
    }
    if (armed === 0) return;
    if (armed === 1) setImmediate(this.#step);
    else this.#rx.readable().then(this.#step, this.#step); // not connected: the slow path
  }

  readonly #step = (): void => {
    this.#turn();
  };

  /** The queue's wake-up (on the loop, from the port's event): run a turn after this task. */
  readonly #wake = (): void => {
    queueMicrotask(this.#step);
  };

  #burst(b: Batch, n: number): void {
    const d = b.descs;
    for (let i = 0; i < n; ) {
      const w0 = d[i * 4]!;
      this.stats.frames++;
      if ((w0 & 1) !== 0) {
        // a chain (a frame larger than one buffer): joined in a copy, the slow path
        const copy = b.copyPacket(i);
        i = b.packetEnd(i);
        this.#frame(copy, 0, copy.byteLength);
        continue;
      }
      this.#frame(b.view(w0 >>> 16), d[i * 4 + 2]!, d[i * 4 + 1]!);
      i++;
    }
  }

  /** One frame: parse, check, deliver (or reassemble), or count why not. */
  #frame(u8: Uint8Array, off: number, len: number): void {
    const p = this.#p;
    const st = this.stats;
    switch (parseFrame(u8, off, len, this.ipMode, p)) {
      case P_UDP:
        this.#datagram(u8, p);
        return;
      case P_FRAGMENT:
        this.#fragment(u8, p);
        return;
      case P_TRUNCATED:
        st.truncated++;
        return;
      case P_MALFORMED:
        st.malformed++;
        return;
      case P_BAD_IP_CHECKSUM:
        st.badChecksum++;
        return;
      default:
        st.notForUs++;
    }
  }

  /** A whole UDP datagram described by `p`, its header at `p.l4` of `u8`. */
  #datagram(u8: Uint8Array, p: Parsed): void {
    const st = this.stats;
    const s = this.#sockets.get(p.dstPort);
    if (s === undefined || !s._accepts(p)) {
      st.notForUs++;
      return;
    }
    const payloadSum = sum(u8, p.payload, p.payloadLen);
    if (!udpChecksumOk(u8, p, payloadSum)) {
      st.badChecksum++;
      return;
    }

    let address: string;
    if (p.family === 4) {
      if (!this.ipMode) {
        this.neighbours.learn4(p.src4, p.srcMac);
        if (this.localMac < 0 && !isGroupMac(p.dstMac)) this.localMac = p.dstMac;
      }
      if (this.local4 < 0) this.local4 = p.dst4;
      address = p.src4 === this.#lastSrc4 ? this.#lastSrc4s : this.#name4(p.src4);
    } else {
      address = this.#name6(p);
      if (!this.ipMode) {
        this.neighbours.learn6(address, p.srcMac);
        if (this.localMac < 0 && !isGroupMac(p.dstMac)) this.localMac = p.dstMac;
      }
      this.local6 ??= [p.d0, p.d1, p.d2, p.d3];
    }
    st.delivered++;
    s._receive(u8, p.payload, p.payloadLen, p.srcPort, address, p.family === 6);
  }

  /** @internal the socket collected a datagram for the end of the burst */
  _touch(s: Endpoint): void {
    this.#touched.push(s);
  }

  #name4(a: number): string {
    let s = this.#addr4.get(a);
    if (s === undefined) {
      if (this.#addr4.size >= ADDRESS_CACHE) this.#addr4.clear();
      s = formatIp4(a);
      this.#addr4.set(a, s);
    }
    this.#lastSrc4 = a;
    this.#lastSrc4s = s;
    return s;
  }

  #name6(p: Parsed): string {
    const l = this.#last6;
    if (l[0] !== p.s0 || l[1] !== p.s1 || l[2] !== p.s2 || l[3] !== p.s3) {
      l[0] = p.s0;
      l[1] = p.s1;
      l[2] = p.s2;
      l[3] = p.s3;
      this.#last6s = formatIp6(p.s0, p.s1, p.s2, p.s3);
    }
    return this.#last6s;
  }

  /** Whether some socket takes datagrams to this destination address (checked before reassembling). */
  #wantsDst(p: Parsed): boolean {
    if (p.family === 4) return this.#wild4 > 0 || this.#bound4.has(p.dst4);
    return this.#wild6 > 0 || this.#bound6.has(formatIp6(p.d0, p.d1, p.d2, p.d3));
  }

  #fragment(u8: Uint8Array, p: Parsed): void {
    const st = this.stats;
    st.fragments++;
    const r = this.reassembler;
    if (r === null) {
      st.fragmentsDropped++;
      return;
    }
    if (!this.#wantsDst(p)) {
      st.notForUs++;
      return;
    }
    const key =
      p.family === 4
        ? `4 ${p.src4} ${p.dst4} ${p.fragId}`
        : `6 ${p.s0} ${p.s1} ${p.s2} ${p.s3} ${p.d0} ${p.d1} ${p.d2} ${p.d3} ${p.fragId}`;
    const before = r.stats.overMemory + r.stats.invalid + r.stats.tooBig;
    const whole = r.add(key, p.fragOffset, p.fragMore, u8, p.l4, p.ipEnd - p.l4);
    this.#syncReassembly(before);
    if (whole === null) return;
    st.reassembled++;
    switch (parseUdp(whole, 0, whole.byteLength, p)) {
      case P_UDP:
        this.#datagram(whole, p);
        return;
      case P_TRUNCATED:
        st.truncated++;
        return;
      default:
        st.malformed++;
    }
  }

  #syncReassembly(droppedBefore: number): void {
    const r = this.reassembler!;
    const rs: ReassemblyStats = r.stats;
    this.stats.fragmentsDropped += rs.overMemory + rs.invalid + rs.tooBig - droppedBefore;
    this.stats.fragmentTimeouts = rs.timeouts;
    this.stats.reassemblyBytes = rs.bytesHeld;
    if (r.size > 0 && this.#expiryTimer === null) {
      this.#expiryTimer = setTimeout(this.#expire, r.nextExpiry() + 1);
      this.#expiryTimer.unref();
    }
  }

  readonly #expire = (): void => {
    this.#expiryTimer = null;
    const r = this.reassembler;
    if (r === null || this.#closed) return;
    r.expire();
    this.#syncReassembly(r.stats.overMemory + r.stats.invalid + r.stats.tooBig);
  };

  #report(e: Error): void {
    for (const s of this.#sockets.values()) s._error(e);
  }

  // ---- transmit ----

  /** The next IPv4 identification (16 bits) or IPv6 fragment id (32 bits). */
  nextId(family: 4 | 6): number {
    if (family === 4) return (this.#id4 = (this.#id4 + 1) & 0xffff);
    return (this.#id6 = (this.#id6 + 1) >>> 0);
  }

  /** Buffers a datagram of `len` payload bytes takes (1, or its fragments). */
  framesFor(tpl: Template, len: number): number {
    if (tpl.l3len + UDP_HLEN + len <= this.mtu) return 1;
    const per = (this.mtu - tpl.l3len - (tpl.family === 6 ? FRAG6_HLEN : 0)) & ~7;
    return Math.ceil((UDP_HLEN + len) / per);
  }

  /** Makes sure `k` reserved buffers are free to fill; false when the ring (or the connection) has not. */
  #reserve(k: number): boolean {
    const b = this.#txb;
    if (this.#txAvail - this.#txUsed >= k && b.valid) return true;
    // not connected, as far as the events said: ask the core (only on this slow path), the
    // CONNECTED event may still be on its way
    if (!this.#up && !(this.#up = this.port.connected)) return false;
    this.#flush();
    const got = this.#tx.alloc(b, TX_RESERVE);
    this.#txAvail = got;
    this.#txUsed = 0;
    return got >= k;
  }

  /**
   * Writes one datagram (fragmented if it is larger than the MTU) into the ring: the template's
   * headers, `len` bytes of `src` from `off`, checksums. True when it is in the ring (published
   * by the next flush); false when the ring is full or the port not connected (nothing written).
   * Throws EMSGSIZE when it can never fit.
   */
  send(tpl: Template, src: Uint8Array, off: number, len: number): boolean {
    if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the memif interface was closed");
    if (tpl.l3len + UDP_HLEN + len > this.mtu) return this.#sendFragments(tpl, src, off, len);
    if (!this.#reserve(1)) return false;
    const b = this.#txb;
    const d = b.descs;
    const k = this.#txUsed;
    const frame = tpl.hdrLen + len;
    const cap = d[k * 4 + 1]!;
    if (frame > cap) throw this.#tooBigForBuffer(frame, cap);
    const view = b.view(d[k * 4]! >>> 16);
    const at = d[k * 4 + 2]!;
    const payloadSum = this.#copySum(view, at + tpl.hdrLen, src, off, len);
    d[k * 4 + 1] = tpl.write(view, at, len, tpl.family === 4 ? this.nextId(4) : 0, payloadSum);
    d[k * 4] = d[k * 4]! & ~1;
    this.#txUsed = k + 1;
    this.#txDatagrams++;
    this.stats.txFrames++;
    this.#scheduleFlush();
    return true;
  }

  #sendFragments(tpl: Template, src: Uint8Array, off: number, len: number): boolean {
    const total = UDP_HLEN + len;
    const max = tpl.family === 4 ? 65535 - IPV4_HLEN : 65535;
    if (!this.fragment || total > max) {
      throw new UdpError(
        "EMSGSIZE",
        total > max
          ? `a UDP datagram of ${len} bytes is larger than IPv${tpl.family} allows (${max - UDP_HLEN})`
          : `a UDP datagram of ${len} bytes does not fit the MTU of ${this.mtu} ` +
              `(at most ${this.mtu - tpl.l3len - UDP_HLEN} bytes) and fragmentation is off (memif.fragment: false)`,
      );
    }
    const per = (this.mtu - tpl.l3len - (tpl.family === 6 ? FRAG6_HLEN : 0)) & ~7;
    const k = Math.ceil(total / per);
    const ring = this.port.info().ringSize;
    if (k > TX_RESERVE || k > ring) {
      throw new UdpError(
        "EMSGSIZE",
        `a UDP datagram of ${len} bytes needs ${k} fragments at MTU ${this.mtu}, more than the ring ` +
          `can hold at once (${Math.min(TX_RESERVE, ring)}); raise memif.mtu or ringSize`,
      );
    }
    if (!this.#reserve(k)) return false;
    const b = this.#txb;
    const d = b.descs;
    const first = this.#txUsed;
    for (let j = 0; j < k; j++) {
      const cap = d[(first + j) * 4 + 1]!;
      const need = tpl.fragHdrLen + Math.min(per, total - j * per);
      if (need > cap) throw this.#tooBigForBuffer(need, cap);
    }
    const payloadSum = sum(src, off, len);
    const id = this.nextId(tpl.family);
    for (let j = 0; j < k; j++) {
      const s = (first + j) * 4;
      const view = b.view(d[s]! >>> 16);
      const at = d[s + 2]!;
      const from = j * per;
      const piece = Math.min(per, total - from);
      const h = tpl.writeFragment(view, at, piece, from, j + 1 < k, id);
      if (j === 0) {
        tpl.writeUdpHeader(view, at + h, len, payloadSum);
        this.#copy(view, at + h + UDP_HLEN, src, off, piece - UDP_HLEN);
      } else {
        this.#copy(view, at + h, src, off + from - UDP_HLEN, piece);
      }
      d[s + 1] = h + piece;
      d[s] = d[s]! & ~1;
    }
    this.#txUsed = first + k;
    this.#txDatagrams++;
    this.stats.txFrames += k;
    this.#scheduleFlush();
    return true;
  }

  #tooBigForBuffer(frame: number, cap: number): UdpError {
    return new UdpError(
      "EMSGSIZE",
      `a ${frame}-byte frame does not fit the peer's ${cap}-byte memif buffers; ` +
        `lower memif.mtu below ${cap - (this.ipMode ? 0 : ETH_HLEN)}`,
    );
  }

  /**
   * Copies the payload into the ring and returns its partial sum, in one pass when both ends are
   * 2-byte aligned and `src` is a view the checksum already knows (a memif region: an echo or a
   * forward of a received payload, or a buffer the sender reuses); otherwise copy, then sum.
   */
  #copySum(dst: Uint8Array, at: number, src: Uint8Array, off: number, len: number): number {
    if (len <= 0) return 0;
    const sAbs = src.byteOffset + off;
    const dAbs = dst.byteOffset + at;
    const ws = ((sAbs | dAbs) & 1) === 0 && off + len <= src.byteLength ? knownWords16(src) : null;
    if (ws === null) {
      this.#copy(dst, at, src, off, len);
      return sum(dst, at, len);
    }
    const wd = words16(dst);
    let i = sAbs >>> 1;
    let j = dAbs >>> 1;
    const stop = i + (len >>> 1);
    let acc = 0;
    for (; i < stop; i++, j++) {
      const v = ws[i]!;
      wd[j] = v;
      acc += v;
    }
    if ((len & 1) !== 0) {
      const v = src[off + len - 1]!;
      dst[at + len - 1] = v;
      acc += v;
    }
    acc = fold(acc);
    return ((acc & 0xff) << 8) | (acc >>> 8);
  }

  /**
   * Copies `len` bytes of `src` from `off` to `dst` at `at` without allocating: a payload
   * received on this interface's rx queue lives in the same shared memory as the tx buffers,
   * seen through another ArrayBuffer; copyWithin on the tx view of that region moves it.
   */
  #copy(dst: Uint8Array, at: number, src: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    if (off === 0 && len === src.byteLength) {
      dst.set(src, at);
      return;
    }
    if (len <= 64) {
      for (let i = 0; i < len; i++) dst[at + i] = src[off + i]!;
      return;
    }
    const rm = batchMapping(this.#rxb);
    const tm = batchMapping(this.#txb);
    if (rm !== null && tm !== null && rm.generation === tm.generation && !rm.revoked && !tm.revoked) {
      const rv = rm.views;
      for (let r = 0; r < rv.length; r++) {
        if (rv[r]!.buffer === src.buffer && tm.views[r] === dst) {
          const from = src.byteOffset + off;
          dst.copyWithin(at, from, from + len);
          return;
        }
      }
    }
    dst.set(src.subarray(off, off + len), at);
  }

  #scheduleFlush(): void {
    if (this.#txUsed >= this.#txAvail) {
      this.#flush(); // the reservation is full: publish now
      return;
    }
    if (this.#inBurst || this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flushTask);
  }

  /** Publishes what was written (one txBurst); keeps the rest of the reservation for later sends. */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    const used = this.#txUsed;
    if (used === 0) return;
    const b = this.#txb;
    try {
      this.#tx.txBurst(b, used);
    } catch (e) {
      if (e instanceof MemifError && (e.code === "NOT_CONNECTED" || e.code === "STALE_VIEW")) {
        this.stats.lostOnDisconnect += this.#txDatagrams;
        this.#txAvail = this.#txUsed = this.#txDatagrams = 0;
        return;
      }
      throw e;
    }
    const avail = this.#txAvail;
    if (avail > used) b.descs.copyWithin(0, used * 4, avail * 4); // the rest stays reserved, in order
    this.#txAvail = avail - used;
    this.#txUsed = 0;
    this.#txDatagrams = 0;
  }

  /**
   * A send of `slots` buffers was refused: remember the socket, and once that many buffers are
   * free (or the port is back), run its drain handler.
   */
  refused(s: Endpoint, slots: number): void {
    if (!this.#refused.includes(s)) this.#refused.push(s);
    if (slots > this.#drainWanted) this.#drainWanted = slots;
    if (!this.#draining) void this.#waitDrain();
  }

  /** Resolves when `slots` transmit buffers are free (after reconnecting, if need be). */
  async writable(slots: number, timeoutMs: number): Promise<void> {
    const start = performance.now();
    for (;;) {
      if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket was closed");
      const left = timeoutMs < 0 ? -1 : Math.max(0, timeoutMs - (performance.now() - start));
      try {
        if (!this.port.connected) {
          await this.port.connect(left >= 0 ? { timeoutMs: Math.max(1, left) } : {});
        }
        await this.#tx.writable(left >= 0 ? Math.max(0, left) : -1, slots);
        return;
      } catch (e) {
        if (e instanceof MemifError && e.code === "NOT_CONNECTED") continue;
        if (e instanceof MemifError && e.code === "CLOSED") {
          throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket was closed", { cause: e });
        }
        throw e;
      }
    }
  }

  async #waitDrain(): Promise<void> {
    this.#draining = true;
    try {
      while (!this.#closed && this.#refused.length > 0) {
        const slots = this.#drainWanted;
        try {
          await this.writable(slots, -1);
        } catch {
          return; // closed
        }
        if (slots === this.#drainWanted) {
          this.#drainWanted = 0;
          const list = this.#refused;
          this.#refused = [];
          for (const s of list) s._drained();
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.reassembler?.clear();
    this.port.off("connected", this.#onConnected);
    this.port.off("disconnected", this.#onDisconnected);
    try {
      this.#flush();
    } catch {
      // closing anyway
    }
    if (this.#key !== null) byPath.delete(this.#key);
    else byPort.get(this.port)?.delete(this.qid);
    this.#rx.close();
    this.#tx.close();
    if (this.#ownsPort) this.port.close();
    this.#ownsSocket?.close();
  }
}

function decrement<K>(m: Map<K, number>, k: K): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
