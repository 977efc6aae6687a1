/**
 * LastFlow: the receive fast path for a run of datagrams of one flow (same MACs, addresses,
 * ports, IPv4 header without options), the common case of a busy socket: a frame whose fixed
 * header words equal those of the last datagram the full path delivered is checked and
 * delivered without parsing it again. Only what changes from datagram to datagram is read: the
 * IPv4 total length, id and checksum, the UDP length and checksum; the rest compares equal word
 * by word (16-bit words of the region's word view, in host order, never converted).
 *
 * Nothing is trusted that the full path did not check: the checksums of both headers are
 * verified here (the constant words' sums kept from the checked frame), the lengths against the
 * frame's; a frame that fails anything goes to the full path, which counts why. The flow is
 * forgotten whenever what decided the delivery may have changed: a bind or unbind (the
 * socket), a datagram the full path delivered without remembering it (a neighbour or an
 * address learned meanwhile).
 */
import type { Endpoint } from "./binds.ts";
import { fold } from "./checksum.ts";
import { ETH_HLEN, IPV4_HLEN, PROTO_UDP, UDP_HLEN } from "./headers.ts";

/** words of Ethernet + IPv4 (no options) + UDP headers: 7 + 10 + 4 */
const HDR_WORDS = (ETH_HLEN + IPV4_HLEN + UDP_HLEN) >>> 1;
/** the frame's words that vary per datagram, relative to the IPv4 header (in words) */
const W_TOTAL = 1;
const W_ID = 2;
const W_IPCHECK = 5;
const W_UDPLEN = 12;
const W_UDPCHECK = 13;

/** The bytes of a 16-bit word read in host (little-endian) order, in network order. */
function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/** Whether a header word (index from the IPv4 header) varies per datagram. */
function varies(k: number): boolean {
  return k === W_TOTAL || k === W_ID || k === W_IPCHECK || k === W_UDPLEN || k === W_UDPCHECK;
}

export class LastFlow {
  /** Ethernet header words before the IPv4 header: 7, or 0 in IP mode */
  readonly #l2w: number;
  /** the header words of the remembered frame (the varying ones unused) */
  readonly #key = new Uint16Array(HDR_WORDS);
  #valid = false;
  /** host-order sum of the IPv4 header's fixed words */
  #ipSum = 0;
  /** network-order sum of the UDP pseudo-header's addresses and protocol, and the two ports */
  #udpSum = 0;
  /** what the full path decided for this flow */
  socket: Endpoint | null = null;
  address = "";
  srcPort = 0;

  constructor(ipMode: boolean) {
    this.#l2w = ipMode ? 0 : ETH_HLEN >>> 1;
  }

  /** Forget the flow (the next frame takes the full path). */
  forget(): void {
    this.#valid = false;
    this.socket = null;
  }

  /**
   * Remember the frame at word `base` of `w` (even-aligned), an IPv4 datagram without options
   * that the full path has just checked and delivered to `socket`.
   */
  remember(w: Uint16Array<ArrayBufferLike>, base: number, socket: Endpoint, address: string, srcPort: number): void {
    const key = this.#key;
    const ip = this.#l2w;
    for (let k = 0; k < ip + ((IPV4_HLEN + UDP_HLEN) >>> 1); k++) key[k] = w[base + k]!;
    let ipSum = 0;
    for (let k = 0; k < IPV4_HLEN >>> 1; k++) if (!varies(k)) ipSum += key[ip + k]!;
    this.#ipSum = ipSum;
    let udpSum = PROTO_UDP;
    for (let k = 6; k < 10; k++) udpSum += swap16(key[ip + k]!); // source and destination address
    udpSum += swap16(key[ip + 10]!) + swap16(key[ip + 11]!); // the ports
    this.#udpSum = fold(udpSum);
    this.socket = socket;
    this.address = address;
    this.srcPort = srcPort;
    this.#valid = true;
  }

  /**
   * Whether the frame of `len` bytes at word `base` of `w` (region bytes `u8`) belongs to the
   * remembered flow and is whole and correct: then its payload is `payloadLen(w, base)` bytes at
   * `payloadAt(base)` (absolute byte offsets). False sends it to the full path.
   */
  matches(w: Uint16Array<ArrayBufferLike>, u8: Uint8Array, base: number, len: number): boolean {
    if (!this.#valid || len < HDR_WORDS * 2 - (this.#l2w === 0 ? ETH_HLEN : 0)) return false;
    // the fixed words, unrolled (a loop over their indexes cost a third of the look)
    const k = this.#key;
    const l2 = this.#l2w;
    if (
      l2 !== 0 &&
      (w[base] !== k[0] ||
        w[base + 1] !== k[1] ||
        w[base + 2] !== k[2] ||
        w[base + 3] !== k[3] ||
        w[base + 4] !== k[4] ||
        w[base + 5] !== k[5] ||
        w[base + 6] !== k[6]) // MACs, ethertype
    ) {
      return false;
    }
    const ip = base + l2;
    if (
      w[ip] !== k[l2] || // version, IHL, TOS
      w[ip + 3] !== k[l2 + 3] || // flags, fragment offset
      w[ip + 4] !== k[l2 + 4] || // TTL, protocol
      w[ip + 6] !== k[l2 + 6] || // source address
      w[ip + 7] !== k[l2 + 7] ||
      w[ip + 8] !== k[l2 + 8] || // destination address
      w[ip + 9] !== k[l2 + 9] ||
      w[ip + 10] !== k[l2 + 10] || // ports
      w[ip + 11] !== k[l2 + 11]
    ) {
      return false;
    }
    const total = swap16(w[ip + W_TOTAL]!);
    if (total < IPV4_HLEN + UDP_HLEN || this.#l2w * 2 + total > len) return false;
    // host-order words: the ones' complement sum of byte-swapped words is the swapped sum, and
    // 0xffff reads the same either way (RFC 1071 §2(B))
    if (fold(this.#ipSum + w[ip + W_TOTAL]! + w[ip + W_ID]! + w[ip + W_IPCHECK]!) !== 0xffff) return false;
    const udpLen = swap16(w[ip + W_UDPLEN]!);
    if (udpLen < UDP_HLEN || IPV4_HLEN + udpLen > total) return false;
    const check = w[ip + W_UDPCHECK]!;
    if (check === 0) return true; // IPv4: no checksum
    const n = udpLen - UDP_HLEN;
    let acc = 0; // host order, swapped once below
    let i = ip + ((IPV4_HLEN + UDP_HLEN) >>> 1);
    const stop = i + (n >>> 1);
    for (; i + 4 <= stop; i += 4) acc += w[i]! + w[i + 1]! + w[i + 2]! + w[i + 3]!;
    for (; i < stop; i++) acc += w[i]!;
    if ((n & 1) !== 0) acc += u8[(stop << 1) - u8.byteOffset]!;
    return fold(this.#udpSum + udpLen + udpLen + swap16(fold(acc)) + swap16(check)) === 0xffff;
  }

  /** Payload bytes of the frame `matches` accepted. */
  payloadLen(w: Uint16Array<ArrayBufferLike>, base: number): number {
    return swap16(w[base + this.#l2w + W_UDPLEN]!) - UDP_HLEN;
  }

  /** Where its payload starts, an absolute byte offset into the region's ArrayBuffer. */
  payloadAt(base: number): number {
    return (base + this.#l2w) * 2 + IPV4_HLEN + UDP_HLEN;
  }
}
