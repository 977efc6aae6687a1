/**
 * IP fragment reassembly (IPv4 and IPv6) within bounded memory and time.
 *
 * A fragment's piece is copied out of the memif buffer (the buffer goes back to the peer with
 * its burst) and kept until the datagram is whole, then the pieces are joined into one new
 * Uint8Array: the UDP header and payload, ready for `parseUdp()` and the checksum. This is the
 * slow path and allocates; whole datagrams never come here.
 *
 * Bounds, all counted when they bite (`ReassemblyStats`):
 *  - time: a datagram not whole `timeoutMs` after its first piece arrived is dropped (`timeouts`);
 *  - memory: pieces held, plus FRAGMENT_OVERHEAD bytes each for the bookkeeping, stay below
 *    `maxBytes`: a piece that would pass it is dropped (`overMemory`). A *new* datagram is
 *    refused already above 3/4 of it, so the ones in progress keep room to complete, as Linux
 *    refuses new queues above ipfrag_high_thresh. Nothing is evicted: a flood of incomplete
 *    datagrams cannot push out the ones being completed, and it drains by timeout;
 *  - count: at most `maxDatagrams` datagrams in progress; a piece of a further one is dropped
 *    (`overMemory` too);
 *  - a datagram over 65535 bytes of IP payload (`tooBig`), a piece that overlaps another
 *    (RFC 5722; Linux drops those for IPv4 too) or a non-last piece that is not a multiple of 8
 *    bytes (`invalid`) drop the whole datagram.
 */
import { UdpError } from "./errors.ts";

export interface ReassemblyOptions {
  /** give up on a datagram this long after its first fragment; default 5000 ms */
  timeoutMs?: number;
  /** bytes held at most (pieces + FRAGMENT_OVERHEAD each); default 4 MiB */
  maxBytes?: number;
  /** datagrams in progress at most; default 256 */
  maxDatagrams?: number;
}

export interface ReassemblyStats {
  /** fragments received (every piece that reached the reassembler) */
  fragments: number;
  /** datagrams made whole */
  reassembled: number;
  /** datagrams dropped because their time ran out */
  timeouts: number;
  /** fragments dropped because the memory or datagram bound was reached */
  overMemory: number;
  /** datagrams dropped for overlapping pieces or a bad piece length */
  invalid: number;
  /** datagrams dropped for being larger than 65535 bytes */
  tooBig: number;
  /** bytes held now (pieces + bookkeeping) */
  bytesHeld: number;
  /** datagrams in progress now */
  inProgress: number;
}

/** Bookkeeping charged per piece on top of its bytes. @internal */
export const FRAGMENT_OVERHEAD = 64;
/** Above this share of maxBytes no new datagram is started (the rest is for completing). */
const NEW_DATAGRAM_SHARE = 0.75;
/** Largest reassembled IP payload (the UDP header and data). @internal */
export const MAX_DATAGRAM = 65535;

interface Piece {
  offset: number;
  bytes: Uint8Array;
}

interface Pending {
  readonly firstAt: number;
  /** sorted by offset, never overlapping */
  readonly pieces: Piece[];
  /** bytes received so far */
  have: number;
  /** datagram length once the last piece came, else -1 */
  total: number;
  /** charged against maxBytes */
  charged: number;
}

/** The reassembly of one interface (ts/udp's: not exported from index.ts). @internal */
export class Reassembler {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly maxDatagrams: number;
  readonly stats: ReassemblyStats = {
    fragments: 0,
    reassembled: 0,
    timeouts: 0,
    overMemory: 0,
    invalid: 0,
    tooBig: 0,
    bytesHeld: 0,
    inProgress: 0,
  };
  /** insertion order is arrival order of each datagram's first piece: the oldest come first */
  readonly #pending = new Map<string, Pending>();
  readonly #now: () => number;

  constructor(options: ReassemblyOptions = {}, now: () => number = () => performance.now()) {
    this.timeoutMs = positive(options.timeoutMs ?? 5000, "reassembly.timeoutMs");
    this.maxBytes = positive(options.maxBytes ?? 4 * 1024 * 1024, "reassembly.maxBytes");
    this.maxDatagrams = positive(options.maxDatagrams ?? 256, "reassembly.maxDatagrams");
    this.#now = now;
  }

  /**
   * Adds the piece `u8[at .. at+len)` found at byte `offset` of the datagram identified by `key`
   * (addresses, protocol and id), `more` unless it is the last piece. Returns the whole datagram
   * when this piece completed it, else null (kept, or dropped and counted).
   */
  add(key: string, offset: number, more: boolean, u8: Uint8Array, at: number, len: number): Uint8Array | null {
    const st = this.stats;
    st.fragments++;
    const now = this.#now();
    this.expire(now);
    let d = this.#pending.get(key);
    if (offset + len > MAX_DATAGRAM) {
      st.tooBig++;
      if (d !== undefined) this.#drop(key, d);
      return null;
    }
    if (more && (len === 0 || (len & 7) !== 0)) {
      st.invalid++;
      if (d !== undefined) this.#drop(key, d);
      return null;
    }
    const cost = len + FRAGMENT_OVERHEAD;
    const limit = d === undefined ? this.maxBytes * NEW_DATAGRAM_SHARE : this.maxBytes;
    if (st.bytesHeld + cost > limit || (d === undefined && this.#pending.size >= this.maxDatagrams)) {
      st.overMemory++;
      return null;
    }
    if (d === undefined) {
      d = { firstAt: now, pieces: [], have: 0, total: -1, charged: 0 };
      this.#pending.set(key, d);
      st.inProgress++;
    }
    const end = offset + len;
    // the last piece fixes the length; pieces beyond it, or a second different "last", are invalid
    if (!more) {
      if ((d.total >= 0 && d.total !== end) || d.pieces.some((p) => p.offset + p.bytes.byteLength > end)) {
        st.invalid++;
        this.#drop(key, d);
        return null;
      }
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      st.invalid++;
      this.#drop(key, d);
      return null;
    }
    // insert sorted, refusing overlaps (an exact duplicate too: RFC 5722)
    const ps = d.pieces;
    let i = ps.length;
    while (i > 0 && ps[i - 1]!.offset > offset) i--;
    const prev = ps[i - 1];
    const next = ps[i];
    const overlapsPrev = prev !== undefined && prev.offset + prev.bytes.byteLength > offset;
    if (overlapsPrev || (next !== undefined && end > next.offset)) {
      st.invalid++;
      this.#drop(key, d);
      return null;
    }
    ps.splice(i, 0, { offset, bytes: u8.slice(at, at + len) });
    d.have += len;
    d.charged += cost;
    st.bytesHeld += cost;
    if (d.total < 0 || d.have !== d.total) return null;
    // whole: no overlaps and `have` equal to the length means no holes either
    const out = new Uint8Array(d.total);
    for (const p of ps) out.set(p.bytes, p.offset);
    this.#drop(key, d);
    st.reassembled++;
    return out;
  }

  /** Drops the datagrams whose time ran out; returns how many. Called on every add, and by a timer. */
  expire(now: number = this.#now()): number {
    let n = 0;
    for (const [key, d] of this.#pending) {
      if (now - d.firstAt < this.timeoutMs) break; // the rest are younger
      this.#drop(key, d);
      this.stats.timeouts++;
      n++;
    }
    return n;
  }

  /** Datagrams in progress. */
  get size(): number {
    return this.#pending.size;
  }

  /** The time left before the oldest datagram in progress expires, or -1 when none. */
  nextExpiry(now: number = this.#now()): number {
    for (const d of this.#pending.values()) return Math.max(0, d.firstAt + this.timeoutMs - now);
    return -1;
  }

  clear(): void {
    for (const [key, d] of this.#pending) this.#drop(key, d);
  }

  #drop(key: string, d: Pending): void {
    if (this.#pending.delete(key)) {
      this.stats.bytesHeld -= d.charged;
      this.stats.inProgress--;
    }
  }
}

function positive(v: number, name: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new UdpError("EINVAL", `memif.${name} must be a positive number, got ${v}`);
  }
  return v;
}
