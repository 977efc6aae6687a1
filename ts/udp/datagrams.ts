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

const EMPTY = new Uint8Array(0);

export class Datagrams {
  /** datagrams in this burst */
  count = 0;
  readonly capacity: number;
  /**
   * the view every datagram of the burst so far lives in (the region's, the common case); once
   * two differ (#mixed), #views holds each one's (no array store per datagram until then)
   */
  #view: Uint8Array = EMPTY;
  #mixed = false;
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
    if (this.#mixed) this.#views[i] = u8;
    else if (u8 !== this.#view) {
      if (i === 0) this.#view = u8;
      else {
        // a second view in this burst (a reassembled datagram, a chain's copy): one each from now
        this.#mixed = true;
        this.#views.fill(this.#view, 0, i);
        this.#views[i] = u8;
      }
    }
    this.#offsets[i] = off;
    this.#lengths[i] = len;
    this.#ports[i] = port;
    this.#v6[i] = ipv6 ? 1 : 0;
    this.#addresses[i] = address;
  }

  /** The Uint8Array datagram i lives in (shared with other datagrams of the burst). */
  view(i: number): Uint8Array {
    return this.#mixed ? this.#views[i]! : this.#view;
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
    return this.view(i).subarray(off, off + this.#lengths[i]!);
  }

  /** A copy of datagram i's payload that outlives the burst. */
  copy(i: number): Uint8Array {
    const off = this.#offsets[i]!;
    return this.view(i).slice(off, off + this.#lengths[i]!);
  }

  /** end of the burst: drop the references */
  #clear(): void {
    if (this.#mixed) this.#views.fill(EMPTY, 0, this.count);
    this.#mixed = false;
    this.#view = EMPTY;
    this.count = 0;
  }
}

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
