/**
 * The transmit side of an interface: a reservation of up to TX_RESERVE ring buffers (`alloc`)
 * is filled datagram by datagram (template + payload + checksums, in place) and published with
 * one `txBurst` at the end of the receive burst, or of the current task (a microtask) for sends
 * made elsewhere, or when it is full. A datagram is "sent" once it is written into a reserved
 * buffer: only a disconnect before the publish can lose it, and that is counted
 * (`lostOnDisconnect`), like the packets the peer had not read yet when the connection ended.
 */
import { Batch, batchMapping, shiftBatch } from "../batch.ts";
import { MemifError } from "../errors.ts";
import type { Port } from "../port.ts";
import type { TxQueue } from "../tx.ts";
import { fold, knownWords16, sum, words16, words32 } from "./checksum.ts";
import { UdpError } from "./errors.ts";
import { ETH_HLEN, FRAG6_HLEN, IPV4_HLEN, type Template, UDP_HLEN } from "./headers.ts";
import type { InterfaceStats } from "./options.ts";

/** A word view over the whole buffer under `u8` (index = absolute byte offset / 2). */
function ownWords16(u8: Uint8Array): Uint16Array<ArrayBufferLike> {
  const buf = u8.buffer;
  return new Uint16Array(buf, 0, buf.byteLength >>> 1);
}

/** Payloads up to this many bytes from a plain array are copied and summed in one byte loop. */
const SMALL_PAYLOAD = 512;
/** Ring buffers reserved at once: a whole datagram of 65535 bytes in 576-byte fragments fits. */
const TX_RESERVE = 128;

export class Transmitter {
  /** IP MTU in use (clamped to the buffers once connected) */
  mtu: number;
  /**
   * while true (a receive burst and its batch handlers run), a send does not schedule a flush:
   * the burst's end publishes
   */
  holdFlush = false;
  /** whether the port is connected, as its events last said */
  up = false;
  readonly #port: Port;
  readonly #tx: TxQueue;
  readonly #stats: InterfaceStats;
  readonly #ipMode: boolean;
  readonly #fragment: boolean;
  /** the receive batch: a payload received in it is copied ring to ring */
  readonly #rxb: Batch;
  readonly #b = new Batch(TX_RESERVE);
  #avail = 0;
  #used = 0;
  /** datagrams among the #used buffers */
  #datagrams = 0;
  #flushQueued = false;
  #id4 = (Math.random() * 0x10000) | 0;
  #id6 = (Math.random() * 0x100000000) >>> 0;
  /** the tx region view last written, and its word view */
  #txView: Uint8Array | null = null;
  #txWords: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  #txWords32: Int32Array<ArrayBufferLike> = new Int32Array(0);
  /** the last payload source whose word view the checksum knew (the rx region view, for an echo) */
  #srcView: Uint8Array | null = null;
  #srcWords: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  /** the last payload source the checksum did not know (a sender's own buffer, reused) */
  #plainSrc: Uint8Array | null = null;
  /** its word view, made when it is sent from a second time in a row (null until then) */
  #plainWords: Uint16Array<ArrayBufferLike> | null = null;
  readonly #flushTask = (): void => {
    this.#flushQueued = false;
    this.flush();
  };

  constructor(
    port: Port,
    tx: TxQueue,
    rxb: Batch,
    stats: InterfaceStats,
    ipMode: boolean,
    fragment: boolean,
    mtu: number,
  ) {
    this.#port = port;
    this.#tx = tx;
    this.#rxb = rxb;
    this.#stats = stats;
    this.#ipMode = ipMode;
    this.#fragment = fragment;
    this.mtu = mtu;
  }

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

  /** The connection ended: what was written and not published is gone with the ring (counted). */
  disconnected(): void {
    this.up = false;
    this.#stats.lostOnDisconnect += this.#datagrams;
    this.#avail = this.#used = this.#datagrams = 0;
  }

  /** Makes sure `k` reserved buffers are free to fill; false when the ring (or the connection) has not. */
  #reserve(k: number): boolean {
    const b = this.#b;
    if (this.#avail - this.#used >= k && b.valid) return true;
    // not connected, as far as the events said: ask the core (only on this slow path), the
    // CONNECTED event may still be on its way
    if (!this.up && !(this.up = this.#port.connected)) return false;
    this.flush();
    const got = this.#tx.alloc(b, TX_RESERVE);
    this.#avail = got;
    this.#used = 0;
    return got >= k;
  }

  /**
   * Writes one datagram (fragmented if it is larger than the MTU) into the ring: the template's
   * headers, `len` bytes of `src` from `off`, checksums. True when it is in the ring (published
   * by the next flush); false when the ring is full or the port not connected (nothing written).
   * Throws EMSGSIZE when it can never fit.
   */
  send(tpl: Template, src: Uint8Array, off: number, len: number): boolean {
    if (tpl.l3len + UDP_HLEN + len > this.mtu) return this.#sendFragments(tpl, src, off, len);
    if (!this.#reserve(1)) return false;
    const b = this.#b;
    const d = b.descs;
    const k = this.#used;
    const frame = tpl.hdrLen + len;
    const cap = d[k * 4 + 1]!;
    if (frame > cap) throw this.#tooBigForBuffer(frame, cap);
    const view = b.view(d[k * 4]! >>> 16);
    if (view !== this.#txView) {
      this.#txView = view;
      this.#txWords = words16(view);
      this.#txWords32 = words32(view);
    }
    const at = d[k * 4 + 2]!;
    const payloadSum = this.#copySum(view, at + tpl.hdrLen, src, off, len);
    const id = tpl.family === 4 ? (this.#id4 = (this.#id4 + 1) & 0xffff) : 0;
    d[k * 4 + 1] = tpl.write(view, at, len, id, payloadSum, this.#txWords, this.#txWords32); // its length (b is live)
    this.#used = k + 1;
    this.#datagrams++;
    this.#stats.txFrames++;
    this.#scheduleFlush();
    return true;
  }

  #sendFragments(tpl: Template, src: Uint8Array, off: number, len: number): boolean {
    const total = UDP_HLEN + len;
    const max = tpl.family === 4 ? 65535 - IPV4_HLEN : 65535;
    if (!this.#fragment || total > max) {
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
    const ring = this.#port.info().ringSize;
    if (k > TX_RESERVE || k > ring) {
      throw new UdpError(
        "EMSGSIZE",
        `a UDP datagram of ${len} bytes needs ${k} fragments at MTU ${this.mtu}, more than the ring ` +
          `can hold at once (${Math.min(TX_RESERVE, ring)}); raise memif.mtu or ringSize`,
      );
    }
    if (!this.#reserve(k)) return false;
    const b = this.#b;
    const d = b.descs;
    const first = this.#used;
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
      b.setLength(first + j, h + piece);
    }
    this.#used = first + k;
    this.#datagrams++;
    this.#stats.txFrames += k;
    this.#scheduleFlush();
    return true;
  }

  #tooBigForBuffer(frame: number, cap: number): UdpError {
    return new UdpError(
      "EMSGSIZE",
      `a ${frame}-byte frame does not fit the peer's ${cap}-byte memif buffers; ` +
        `lower memif.mtu below ${cap - (this.#ipMode ? 0 : ETH_HLEN)}`,
    );
  }

  /**
   * Copies the payload into the ring and returns its partial sum, in one pass: word by word when
   * both ends are 2-byte aligned and `src` is a view the checksum already knows (a memif region:
   * an echo or a forward of a received payload) or the sender's own array sent from again (its
   * word view is made on the second send in a row from it, once: a sender that reuses one
   * buffer, as a load generator does, copies words; one that sends a new array each time
   * allocates nothing more), byte pair by byte pair for a small payload of any other array; a
   * large one is copied, then summed. The sum is taken from the values read,
   * never by reading back the bytes just stored (a word load over two fresh byte stores stalls
   * the CPU: that read-back cost a third of a sender's time per datagram). `dst` is #txView.
   */
  #copySum(dst: Uint8Array, at: number, src: Uint8Array, off: number, len: number): number {
    if (len <= 0) return 0;
    const sAbs = src.byteOffset + off;
    const dAbs = dst.byteOffset + at;
    let ws: Uint16Array<ArrayBufferLike> | null = null;
    if (((sAbs | dAbs) & 1) === 0 && off + len <= src.byteLength) {
      if (src === this.#srcView) ws = this.#srcWords;
      else if (src === this.#plainSrc) ws = this.#plainWords ??= ownWords16(src);
      else {
        ws = knownWords16(src);
        if (ws !== null) {
          this.#srcView = src;
          this.#srcWords = ws;
        } else {
          this.#plainSrc = src;
          this.#plainWords = null;
        }
      }
      if (ws !== null && (sAbs >>> 1) + (len >>> 1) > ws.length) ws = null; // shrunk or detached since
    }
    if (ws === null) {
      if (len > SMALL_PAYLOAD) {
        this.#copy(dst, at, src, off, len);
        return sum(dst, at, len);
      }
      let acc = 0;
      const end = off + len - 1;
      let i = off;
      let j = at;
      for (; i < end; i += 2, j += 2) {
        const hi = src[i]!;
        const lo = src[i + 1]!;
        dst[j] = hi;
        dst[j + 1] = lo;
        acc += (hi << 8) | lo;
      }
      if (i === end) {
        const hi = src[i]!;
        dst[j] = hi;
        acc += hi << 8;
      }
      return fold(acc);
    }
    const wd = this.#txWords;
    let i = sAbs >>> 1;
    let j = dAbs >>> 1;
    const stop = i + (len >>> 1);
    let acc = 0;
    // unrolled by 4 (a tenth less time for 64 bytes); at most 32 Ki words: acc stays below 2^32
    for (; i + 4 <= stop; i += 4, j += 4) {
      const a = ws[i]!;
      const b = ws[i + 1]!;
      const c = ws[i + 2]!;
      const d = ws[i + 3]!;
      wd[j] = a;
      wd[j + 1] = b;
      wd[j + 2] = c;
      wd[j + 3] = d;
      acc += a + b + c + d;
    }
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
    const tm = batchMapping(this.#b);
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
    if (this.#used >= this.#avail) {
      this.flush(); // the reservation is full: publish now
      return;
    }
    if (this.holdFlush || this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flushTask);
  }

  /** Publishes what was written (one txBurst); keeps the rest of the reservation for later sends. */
  flush(): void {
    const used = this.#used;
    if (used === 0) return;
    const b = this.#b;
    try {
      this.#tx.txBurst(b, used);
    } catch (e) {
      if (e instanceof MemifError && (e.code === "NOT_CONNECTED" || e.code === "STALE_VIEW")) {
        this.#stats.lostOnDisconnect += this.#datagrams;
        this.#avail = this.#used = this.#datagrams = 0;
        return;
      }
      throw e;
    }
    shiftBatch(b, used); // the rest stays reserved, in order
    this.#avail -= used;
    this.#used = 0;
    this.#datagrams = 0;
  }
}
