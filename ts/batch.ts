/**
 * Batch: a reusable array of packet descriptors plus the views they point into.
 *
 * A descriptor is 16 bytes, laid out as `zmemif_desc` in zmemif.h:
 *   u32 word 0: flags (low 16 bits, DESC_NEXT = 1) | region (high 16 bits)
 *   u32 word 1: length   u32 word 2: offset   u32 word 3: reserved
 * The array lives in one ArrayBuffer allocated with the batch; its address is taken once and
 * passed to the core as a plain number, so a burst allocates nothing.
 *
 * Packet bytes are never copied: descriptor i names (region, offset, length) inside the view
 * `batch.view(region)`, one Uint8Array per shared-memory region of the connection, made once when
 * the queue attaches. Lifetime rules:
 *  - rx: a burst's packets stay valid until the next rxBurst/release on the same queue, which
 *    hands their buffers back to the peer (the batch's count is then reset to 0);
 *  - tx: buffers from alloc() are yours until txBurst() sends them;
 *  - disconnect: every view of the connection is revoked (its ArrayBuffer detached) before the
 *    core unmaps the memory. Every method of a batch of that connection then throws MemifError
 *    STALE_VIEW (rx and tx alike); a Uint8Array you kept reads as empty (`length` 0, indexes
 *    `undefined`) and can never touch freed memory.
 */
import { MemifError } from "./errors.ts";
import {
  DESC_FLAGS_OFF,
  DESC_LENGTH_OFF,
  DESC_NEXT,
  DESC_OFFSET_OFF,
  DESC_REGION_OFF,
  DESC_SIZE,
} from "./native/abi.ts";
import { backend, type NativeBackend } from "./native/backend.ts";

// The accessors below index the descriptor words directly (word 0: flags | region << 16, word 1:
// length, word 2: offset); this pins that reading to the header's layout.
if (
  DESC_SIZE !== 16 ||
  DESC_FLAGS_OFF !== 0 ||
  DESC_REGION_OFF !== 2 ||
  DESC_LENGTH_OFF !== 4 ||
  DESC_OFFSET_OFF !== 8
) {
  throw new Error("zmemif: ts/batch.ts reads descriptors in a layout zmemif.h no longer has");
}

/**
 * The views of one attached connection, as seen by one queue: one ArrayBuffer and one Uint8Array
 * per region. Revoking detaches the buffers, which empties every view derived from them.
 * @internal
 */
export class Mapping {
  readonly generation: number;
  readonly views: readonly Uint8Array[];
  readonly #buffers: ArrayBuffer[];
  readonly #native: NativeBackend;
  /** set once by revoke() */
  revoked = false;

  constructor(native: NativeBackend, generation: number, buffers: ArrayBuffer[]) {
    this.generation = generation;
    this.#native = native;
    this.#buffers = buffers;
    this.views = buffers.map((b) => new Uint8Array(b));
  }

  /** Detaches every buffer (and so every view of it). Must run before the memory is unmapped. */
  revoke(): void {
    if (this.revoked) return;
    this.revoked = true;
    for (const b of this.#buffers) this.#native.revokeRegion(b);
  }
}

function stale(what: string): MemifError {
  return new MemifError(
    "STALE_VIEW",
    `${what}: the connection these buffers belonged to has ended and its views were revoked; ` +
      "burst again once the port reconnects",
  );
}

// Internal to ts/ (set in Batch's static block; not exported from index.ts): what the queues need.
let addressOf: (b: Batch) => number;
let bind: (b: Batch, mapping: Mapping | null, count: number) => void;
let mappingOf: (b: Batch) => Mapping | null;
let grow: (b: Batch, capacity: number) => void;

export class Batch {
  /**
   * how many descriptors the batch holds at most (the burst size). rxBurst enlarges a batch that
   * cannot hold one whole packet (a long chain of small buffers): `capacity` and `descs` are
   * then new, so read `descs` after each burst.
   */
  readonly capacity: number;
  /** descriptors filled by the last rxBurst/alloc; for txBurst, how many to send */
  count = 0;
  /** the raw descriptor words (4 per descriptor), for loops that want no method calls */
  readonly descs: Uint32Array;
  /** the descriptor array's address for the core (0 until the first burst) */
  #address = 0;
  #mapping: Mapping | null = null;

  constructor(capacity = 32) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 65536) {
      throw new MemifError("INVALID_ARGUMENT", `Batch: capacity must be an integer in 1..65536, got ${capacity}`);
    }
    this.capacity = capacity;
    // A dedicated ArrayBuffer: its backing store is malloc'd and does not move; the batch keeps
    // it alive for as long as the address is used.
    this.descs = new Uint32Array(new ArrayBuffer(capacity * DESC_SIZE));
  }

  static {
    addressOf = (b) => {
      if (b.#address === 0) b.#address = backend().addressOf(b.descs);
      return b.#address;
    };
    bind = (b, mapping, count) => {
      b.#mapping = mapping;
      b.count = count;
    };
    mappingOf = (b) => b.#mapping;
    grow = (b, capacity) => {
      const w = b as { capacity: number; descs: Uint32Array };
      w.capacity = capacity;
      w.descs = new Uint32Array(new ArrayBuffer(capacity * DESC_SIZE));
      b.#address = 0;
      b.#mapping = null;
      b.count = 0;
    };
  }

  /** true while the descriptors point into a live connection */
  get valid(): boolean {
    return this.#mapping !== null && !this.#mapping.revoked;
  }

  /**
   * The Uint8Array of a region: packet i's bytes are
   * `view(region(i)).subarray(offset(i), offset(i) + length(i))`. One object per region per
   * connection; fetch it after each burst (cheap) rather than keeping it across reconnects.
   */
  view(region: number): Uint8Array {
    const m = this.#mapping;
    if (m === null) throw new MemifError("NOT_CONNECTED", "Batch.view: the batch holds no packets yet; burst first");
    if (m.revoked) throw stale("Batch.view");
    const v = m.views[region];
    if (v === undefined) {
      throw new MemifError(
        "INVALID_ARGUMENT",
        `Batch.view: region ${region} does not exist (${m.views.length} regions)`,
      );
    }
    return v;
  }

  /** the region index of descriptor i */
  region(i: number): number {
    this.#live("Batch.region");
    return this.descs[i * 4]! >>> 16;
  }

  /** the flags of descriptor i (DESC_NEXT = 1: the packet continues in descriptor i + 1) */
  flags(i: number): number {
    this.#live("Batch.flags");
    return this.descs[i * 4]! & 0xffff;
  }

  /** whether descriptor i is followed by more segments of the same packet */
  hasNext(i: number): boolean {
    this.#live("Batch.hasNext");
    return (this.descs[i * 4]! & DESC_NEXT) !== 0;
  }

  /** rx: bytes of data; after alloc: the buffer's capacity; for txBurst: bytes to send */
  length(i: number): number {
    this.#live("Batch.length");
    return this.descs[i * 4 + 1]!;
  }

  /** byte offset of descriptor i in its region's view */
  offset(i: number): number {
    this.#live("Batch.offset");
    return this.descs[i * 4 + 2]!;
  }

  /** tx: set how many bytes of buffer i to send */
  setLength(i: number, length: number): void {
    this.#live("Batch.setLength");
    this.descs[i * 4 + 1] = length;
  }

  /** tx: mark buffer i as continued by buffer i + 1 (a chained packet) */
  setNext(i: number, next: boolean): void {
    this.#live("Batch.setNext");
    const w = this.descs[i * 4]!;
    this.descs[i * 4] = next ? w | DESC_NEXT : w & ~DESC_NEXT;
  }

  /**
   * A zero-copy Uint8Array of descriptor i's bytes. Allocates one small object: convenient, but
   * hot loops should use view()/offset()/length() instead.
   */
  data(i: number): Uint8Array {
    this.#checkIndex(i, "Batch.data");
    const off = this.descs[i * 4 + 2]!;
    return this.view(this.descs[i * 4]! >>> 16).subarray(off, off + this.descs[i * 4 + 1]!);
  }

  /**
   * tx: copies `bytes` into buffer i at `at` and sets its length to `at + bytes.length`.
   * Throws TOO_LARGE when it does not fit the buffer's capacity (its length after alloc).
   */
  write(i: number, bytes: Uint8Array, at = 0): void {
    this.#checkIndex(i, "Batch.write");
    const cap = this.descs[i * 4 + 1]!;
    if (at + bytes.byteLength > cap) {
      throw new MemifError(
        "TOO_LARGE",
        `Batch.write: ${bytes.byteLength} bytes at ${at} do not fit buffer ${i} (${cap} bytes); ` +
          "use queue.send() to chain buffers, or a larger bufferSize",
      );
    }
    this.view(this.descs[i * 4]! >>> 16).set(bytes, this.descs[i * 4 + 2]! + at);
    this.descs[i * 4 + 1] = at + bytes.byteLength;
  }

  /** The index after the last segment of the packet that starts at descriptor i. */
  packetEnd(i: number): number {
    this.#live("Batch.packetEnd");
    let j = i;
    while (j < this.count - 1 && (this.descs[j * 4]! & DESC_NEXT) !== 0) j++;
    return j + 1;
  }

  /** Total bytes of the packet that starts at descriptor i (all its segments). */
  packetLength(i: number): number {
    this.#live("Batch.packetLength");
    let n = 0;
    const end = this.packetEnd(i);
    for (let j = i; j < end; j++) n += this.descs[j * 4 + 1]!;
    return n;
  }

  /**
   * Copies the packet starting at descriptor i (all segments) into `into` (or a new array) and
   * returns the filled part. The copy outlives the burst and the connection.
   */
  copyPacket(i: number, into?: Uint8Array): Uint8Array {
    this.#checkIndex(i, "Batch.copyPacket");
    const total = this.packetLength(i);
    const dst = into ?? new Uint8Array(total);
    if (dst.byteLength < total) {
      throw new MemifError("TOO_LARGE", `Batch.copyPacket: packet of ${total} bytes does not fit ${dst.byteLength}`);
    }
    const end = this.packetEnd(i);
    let at = 0;
    for (let j = i; j < end; j++) {
      const off = this.descs[j * 4 + 2]!;
      const len = this.descs[j * 4 + 1]!;
      dst.set(this.view(this.descs[j * 4]! >>> 16).subarray(off, off + len), at);
      at += len;
    }
    return dst.subarray(0, total);
  }

  /** Throws STALE_VIEW when the connection under this batch has ended. */
  #live(op: string): void {
    const m = this.#mapping;
    if (m?.revoked) throw stale(op);
  }

  #checkIndex(i: number, op: string): void {
    const m = this.#mapping;
    if (m?.revoked) throw stale(op); // first: revoking also empties the batch
    if (!(i >= 0 && i < this.count)) {
      throw new MemifError("INVALID_ARGUMENT", `${op}: index ${i} out of range (count ${this.count})`);
    }
  }
}

/** The descriptor array's address, for the core's hot path. @internal */
export function batchAddress(b: Batch): number {
  return addressOf(b);
}

/** Binds `b` to the views of the connection that filled its first `count` descriptors. @internal */
export function bindBatch(b: Batch, mapping: Mapping | null, count: number): void {
  bind(b, mapping, count);
}

/** Gives `b` room for `capacity` descriptors (it holds none afterwards). @internal */
export function growBatch(b: Batch, capacity: number): void {
  grow(b, capacity);
}

/**
 * tx: forgets the first `n` descriptors of `b` (sent by txBurst) and moves the rest, still
 * reserved and in order, to the front, where the next txBurst sends them from.
 * @internal
 */
export function shiftBatch(b: Batch, n: number): void {
  const left = b.count - n;
  if (left > 0) b.descs.copyWithin(0, n * 4, b.count * 4);
  b.count = Math.max(left, 0);
}

/** The connection `b`'s descriptors point into (null: none yet). @internal */
export function batchMapping(b: Batch): Mapping | null {
  return mappingOf(b);
}
