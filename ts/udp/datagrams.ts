/**
 * Datagrams: the datagrams of one receive burst for one socket, for the zero-copy batch handler
 * (`socket: { batch(socket, datagrams) { ... } }`). One object per socket, reused for every
 * burst: datagram i is `length(i)` bytes at `offset(i)` of `view(i)` (the memif region's view,
 * or a reassembled datagram's own buffer), from `address(i)`:`port(i)`. Nothing is allocated per
 * datagram; `address(i)` returns a cached string (one per sender).
 *
 * Valid until the handler returns: the next burst hands the buffers back to the memif peer. Copy
 * what you keep (`copy(i)`).
 */
// Internal to ts/udp (set in the static block, not exported from index.ts): the receiver's side.
let push: (
  d: Datagrams,
  u8: Uint8Array,
  off: number,
  len: number,
  port: number,
  address: string,
  ipv6: boolean,
) => void;
let clear: (d: Datagrams) => void;

export class Datagrams {
  /** datagrams in this burst */
  count = 0;
  readonly capacity: number;
  readonly #views: Uint8Array[];
  readonly #offsets: Uint32Array;
  readonly #lengths: Uint32Array;
  readonly #ports: Uint16Array;
  readonly #v6: Uint8Array;
  readonly #addresses: string[];

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#views = new Array<Uint8Array>(capacity);
    this.#offsets = new Uint32Array(capacity);
    this.#lengths = new Uint32Array(capacity);
    this.#ports = new Uint16Array(capacity);
    this.#v6 = new Uint8Array(capacity);
    this.#addresses = new Array<string>(capacity).fill("");
  }

  static {
    push = (d, u8, off, len, port, address, ipv6) => d.#push(u8, off, len, port, address, ipv6);
    clear = (d) => d.#clear();
  }

  #push(u8: Uint8Array, off: number, len: number, port: number, address: string, ipv6: boolean): void {
    const i = this.count++;
    this.#views[i] = u8;
    this.#offsets[i] = off;
    this.#lengths[i] = len;
    this.#ports[i] = port;
    this.#v6[i] = ipv6 ? 1 : 0;
    this.#addresses[i] = address;
  }

  /** The Uint8Array datagram i lives in (shared with other datagrams of the burst). */
  view(i: number): Uint8Array {
    return this.#views[i]!;
  }

  /** Where datagram i's payload starts in `view(i)`. */
  offset(i: number): number {
    return this.#offsets[i]!;
  }

  /** Payload bytes of datagram i. */
  length(i: number): number {
    return this.#lengths[i]!;
  }

  /** The sender's UDP port. */
  port(i: number): number {
    return this.#ports[i]!;
  }

  /** The sender's address (dotted quad, or RFC 5952 IPv6). */
  address(i: number): string {
    return this.#addresses[i]!;
  }

  /** Whether the sender's address is IPv6. */
  ipv6(i: number): boolean {
    return this.#v6[i] === 1;
  }

  /** A zero-copy Uint8Array of datagram i's payload (allocates one small object). */
  data(i: number): Uint8Array {
    const off = this.#offsets[i]!;
    return this.#views[i]!.subarray(off, off + this.#lengths[i]!);
  }

  /** A copy of datagram i's payload that outlives the burst. */
  copy(i: number): Uint8Array {
    const off = this.#offsets[i]!;
    return this.#views[i]!.slice(off, off + this.#lengths[i]!);
  }

  /** end of the burst: drop the references */
  #clear(): void {
    for (let i = 0; i < this.count; i++) this.#views[i] = EMPTY;
    this.count = 0;
  }
}

const EMPTY = new Uint8Array(0);

/** Adds a datagram to the burst's batch (the socket's receive path). @internal */
export function pushDatagram(
  d: Datagrams,
  u8: Uint8Array,
  off: number,
  len: number,
  port: number,
  address: string,
  ipv6: boolean,
): void {
  push(d, u8, off, len, port, address, ipv6);
}

/** The end of the burst: the batch drops its references and is empty. @internal */
export function clearDatagrams(d: Datagrams): void {
  clear(d);
}
