/**
 * The receive pipeline of an interface: burst → parse → check → reassemble → demultiplex by UDP
 * port → the sockets' handlers, then one txBurst of what they sent meanwhile.
 *
 * Each frame is parsed in place in the region view, checked (IPv4 header checksum, lengths, UDP
 * checksum) and handed to its socket as (view, offset, length): nothing is copied or allocated by
 * the pipeline for a whole datagram. Views stay valid until the next burst, which releases the
 * buffers to the peer.
 */
import type { Batch } from "../batch.ts";
import { MemifError } from "../errors.ts";
import { armRxWake, type RxQueue } from "../rx.ts";
import { formatIp4, formatIp6, type Ip6, isGroupMac } from "./addr.ts";
import type { BindTable, Endpoint } from "./binds.ts";
import { LastFlow } from "./flow.ts";
import {
  ETH_HLEN,
  IPV4_HLEN,
  P_BAD_IP_CHECKSUM,
  P_FRAGMENT,
  P_MALFORMED,
  P_TRUNCATED,
  P_UDP,
  Parsed,
  parseFrame,
  parseUdp,
  udpChecksumOk,
} from "./headers.ts";
import { sum, sumIn, words16 } from "./checksum.ts";
import type { InterfaceStats, Settings } from "./options.ts";
import type { Reassembler, ReassemblyStats } from "./reassembly.ts";
import type { Transmitter } from "./transmit.ts";

/** Non-empty bursts in a row before the receive loop lets the event loop run. */
const BURSTS_PER_TURN = 8;
/**
 * While traffic flows (adaptive and polling modes), the next look runs as a microtask rather
 * than on the next event-loop turn, which costs a few µs (its I/O poll) and an Immediate; the
 * loop yields to the event loop (timers, other I/O) at least this often, ms. Promise
 * continuations of the handlers run between looks either way.
 */
const YIELD_MS = 0.05;
/** Address strings kept for reuse (one string per sender, not per datagram). */
const ADDRESS_CACHE = 65536;

export class Receiver {
  /** the IPv4 / IPv6 address datagrams to wildcard sockets arrived at (a wildcard socket sends from it) */
  local4 = -1;
  local6: Ip6 | null = null;
  readonly #rx: RxQueue;
  readonly #b: Batch;
  readonly #settings: Settings;
  readonly #stats: InterfaceStats;
  readonly #binds: BindTable;
  readonly #tx: Transmitter;
  readonly #reassembler: Reassembler | null;
  /** the port was closed under the loop: the interface closes */
  readonly #onClosed: () => void;
  readonly #p = new Parsed();
  /** the fast path for a run of datagrams of one flow (flow.ts) */
  readonly #flow: LastFlow;
  /** the bind table's version the flow was remembered under */
  #bindsVersion = -1;
  /** bytes of link header in front of the IP header: 14, or 0 in IP mode */
  readonly #l2: number;
  readonly #touched: Endpoint[] = [];
  readonly #addr4 = new Map<number, string>();
  #lastSrc4 = -1;
  #lastSrc4s = "";
  #last6: Ip6 = [-1, -1, -1, -1];
  #last6s = "";
  /** adaptive mode: keep looking this long after the last data before arming, ms */
  readonly #busyPollMs: number;
  /** performance.now() of the last burst that brought data */
  #lastRx = 0;
  /** performance.now() when the loop last yielded to the event loop (setImmediate) */
  #yieldedAt = 0;
  #running = false;
  #stopped = false;
  #expiryTimer: ReturnType<typeof setTimeout> | null = null;
  /** the region view frames were last read from, and its word view (for the checksums) */
  #view: Uint8Array | null = null;
  #words: Uint16Array<ArrayBufferLike> = new Uint16Array(0);

  constructor(
    rx: RxQueue,
    b: Batch,
    settings: Settings,
    stats: InterfaceStats,
    binds: BindTable,
    tx: Transmitter,
    reassembler: Reassembler | null,
    onClosed: () => void,
  ) {
    this.#rx = rx;
    this.#b = b;
    this.#settings = settings;
    this.#stats = stats;
    this.#binds = binds;
    this.#tx = tx;
    this.#reassembler = reassembler;
    this.#onClosed = onClosed;
    this.#busyPollMs = settings.busyPollUs / 1000;
    this.#flow = new LastFlow(settings.ipMode);
    this.#l2 = settings.ipMode ? 0 : ETH_HLEN;
  }

  /** Starts the loop (once). */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    // on a later turn: the socket that asked for this interface binds first (in microtasks), so
    // a datagram already waiting in the ring finds it
    setImmediate(this.#step);
  }

  /** Stops the loop for good (the interface closes; the queue is closed by the caller). */
  stop(): void {
    this.#stopped = true;
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#reassembler?.clear();
  }

  /**
   * One turn of the receive loop: up to BURSTS_PER_TURN bursts (each: parse, deliver, the
   * sockets' batch handlers, one txBurst of the replies), then the next turn is scheduled:
   *  - data came, or it came less than `busyPollUs` ago (adaptive mode), or polling mode: a
   *    bounded busy-poll, like Linux busy-poll: a request that follows a reply is met without a
   *    wake-up. The next look is a microtask, or on the next loop turn (setImmediate) once
   *    YIELD_MS have passed since the last, so I/O and timers still run (interrupt mode, after
   *    data: always the next loop turn);
   *  - otherwise the queue is armed and #wake runs on the peer's signal: no CPU while idle,
   *    and nothing allocated per wait (armRxWake keeps our one callback).
   */
  #turn(): void {
    if (this.#stopped) return;
    const b = this.#b;
    const tx = this.#tx;
    let got = 0;
    const st = this.#stats;
    for (let k = 0; k < BURSTS_PER_TURN; k++) {
      let n = 0;
      st.rxLooks++;
      try {
        n = this.#rx.rxBurst(b);
      } catch (e) {
        if (this.#stopped) return;
        if (e instanceof MemifError && e.code === "CLOSED") {
          // the port was closed under us (a port given in memif.port): the sockets are done
          this.#onClosed();
          return;
        }
        this.#report(e as Error);
        setImmediate(this.#step);
        return;
      }
      if (n === 0) {
        st.rxEmptyLooks++;
        break;
      }
      got += n;
      // the sends of the data and batch handlers are published by the flush below: none
      // schedules a flush of its own (a microtask per burst)
      tx.holdFlush = true;
      try {
        this.#burst(b, n);
      } finally {
        const t = this.#touched;
        try {
          for (let i = 0; i < t.length; i++) t[i]!.endBurst();
        } finally {
          t.length = 0;
          tx.holdFlush = false;
        }
      }
      tx.flush();
      if (this.#stopped) return;
    }
    tx.flush();
    const now = performance.now();
    if (got > 0) this.#lastRx = now;
    const mode = this.#rx.rxMode;
    if (got > 0 || mode === "polling" || (mode === "adaptive" && now - this.#lastRx < this.#busyPollMs)) {
      if (mode !== "interrupt" && now - this.#yieldedAt < YIELD_MS) queueMicrotask(this.#step);
      else {
        this.#yieldedAt = now;
        setImmediate(this.#step);
      }
      return;
    }
    let armed: number;
    try {
      armed = armRxWake(this.#rx, this.#wake);
    } catch (e) {
      this.#report(e as Error);
      armed = -1;
    }
    if (armed === 0) {
      st.rxWaits++;
      return;
    }
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
    const flow = this.#flow;
    if (this.#binds.version !== this.#bindsVersion) {
      this.#bindsVersion = this.#binds.version;
      flow.forget();
    }
    for (let i = 0; i < n; ) {
      const w0 = d[i * 4]!;
      this.#stats.frames++;
      if ((w0 & 1) !== 0) {
        // a chain (a frame larger than one buffer): joined in a copy, the slow path
        const copy = b.copyPacket(i);
        i = b.packetEnd(i);
        this.#frame(copy, 0, copy.byteLength, undefined);
        continue;
      }
      const view = b.view(w0 >>> 16);
      if (view !== this.#view) {
        this.#view = view;
        this.#words = words16(view);
      }
      const off = d[i * 4 + 2]!;
      const len = d[i * 4 + 1]!;
      const abs = view.byteOffset + off;
      if ((abs & 1) === 0 && flow.matches(this.#words, view, abs >>> 1, len)) this.#flowDatagram(view, abs >>> 1);
      else this.#frame(view, off, len, this.#words);
      i++;
    }
  }

  /** A frame of the remembered flow (LastFlow.matches checked it), at word `base`: deliver. */
  #flowDatagram(u8: Uint8Array, base: number): void {
    const f = this.#flow;
    const s = f.socket!;
    this.#stats.delivered++;
    const at = f.payloadAt(base) - u8.byteOffset;
    if (s.receive(u8, at, f.payloadLen(this.#words, base), f.srcPort, f.address, false, true)) this.#touched.push(s);
  }

  /**
   * One frame: parse, check, deliver (or reassemble), or count why not. `w`: the word view of
   * `u8` when it is a region view (stable for the connection), undefined for a copy.
   */
  #frame(u8: Uint8Array, off: number, len: number, w: Uint16Array<ArrayBufferLike> | undefined): void {
    const p = this.#p;
    const st = this.#stats;
    switch (parseFrame(u8, off, len, this.#settings.ipMode, p, w)) {
      case P_UDP:
        this.#datagram(u8, p, w);
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
      default: // P_OTHER
        st.notForUs++;
    }
  }

  /** A whole UDP datagram described by `p`, its header at `p.l4` of `u8`. */
  #datagram(u8: Uint8Array, p: Parsed, w: Uint16Array<ArrayBufferLike> | undefined): void {
    const st = this.#stats;
    const s = this.#binds.get(p.dstPort);
    if (s === undefined || !s.accepts(p)) {
      st.notForUs++;
      return;
    }
    const payloadSum = w === undefined ? sum(u8, p.payload, p.payloadLen) : sumIn(w, u8, p.payload, p.payloadLen);
    if (!udpChecksumOk(u8, p, payloadSum)) {
      st.badChecksum++;
      return;
    }
    const cfg = this.#settings;
    let address: string;
    if (p.family === 4) {
      if (!cfg.ipMode) {
        cfg.neighbours.learn4(p.src4, p.srcMac);
        if (cfg.mac < 0 && !isGroupMac(p.dstMac)) cfg.mac = p.dstMac;
      }
      if (this.local4 < 0) this.local4 = p.dst4;
      address = p.src4 === this.#lastSrc4 ? this.#lastSrc4s : this.#name4(p.src4);
    } else {
      address = this.#name6(p);
      if (!cfg.ipMode) {
        cfg.neighbours.learn6(address, p.srcMac);
        if (cfg.mac < 0 && !isGroupMac(p.dstMac)) cfg.mac = p.dstMac;
      }
      this.local6 ??= [p.d0, p.d1, p.d2, p.d3];
    }
    st.delivered++;
    // the next frames of this flow take the fast path (an IPv4 header without options, in the
    // region, word-aligned); any other delivery forgets the flow: it may have taught a neighbour
    const frame = u8.byteOffset + p.l3 - this.#l2;
    if (w !== undefined && p.family === 4 && p.l4 - p.l3 === IPV4_HLEN && (frame & 1) === 0) {
      this.#flow.remember(w, frame >>> 1, s, address, p.srcPort);
    } else this.#flow.forget();
    if (s.receive(u8, p.payload, p.payloadLen, p.srcPort, address, p.family === 6, w !== undefined)) {
      this.#touched.push(s);
    }
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

  #fragment(u8: Uint8Array, p: Parsed): void {
    const st = this.#stats;
    st.fragments++;
    const r = this.#reassembler;
    if (r === null) {
      st.fragmentsDropped++;
      return;
    }
    if (!this.#binds.wantsDst(p)) {
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
        this.#datagram(whole, p, undefined);
        return;
      case P_TRUNCATED:
        st.truncated++;
        return;
      default:
        st.malformed++;
    }
  }

  #syncReassembly(droppedBefore: number): void {
    const r = this.#reassembler!;
    const rs: ReassemblyStats = r.stats;
    const st = this.#stats;
    st.fragmentsDropped += rs.overMemory + rs.invalid + rs.tooBig - droppedBefore;
    st.fragmentTimeouts = rs.timeouts;
    st.reassemblyBytes = rs.bytesHeld;
    if (r.size > 0 && this.#expiryTimer === null) {
      this.#expiryTimer = setTimeout(this.#expire, r.nextExpiry() + 1);
      this.#expiryTimer.unref();
    }
  }

  readonly #expire = (): void => {
    this.#expiryTimer = null;
    const r = this.#reassembler;
    if (r === null || this.#stopped) return;
    r.expire();
    this.#syncReassembly(r.stats.overMemory + r.stats.invalid + r.stats.tooBig);
  };

  #report(e: Error): void {
    for (const s of this.#binds.endpoints()) s.error(e);
  }
}
