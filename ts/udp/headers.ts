/**
 * Ethernet / IPv4 / IPv6 / UDP: parsing received frames into one reused `Parsed` record, and
 * header templates for sending (built once per destination, copied in front of each payload,
 * then the lengths, the IP id and the checksums are patched).
 *
 * Offsets in a `Parsed` are absolute indexes into the Uint8Array that was parsed (a memif
 * region view), so nothing is sliced or allocated per frame. Everything a peer sends is checked
 * against the frame's length before it is read: the peer is untrusted.
 */
import { fold, sum, sumIn, words16 } from "./checksum.ts";
import { readMac, readU32, writeMac, writeU32 } from "./addr.ts";

export const ETH_HLEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const IPV4_HLEN = 20;
export const IPV6_HLEN = 40;
export const UDP_HLEN = 8;
/** Ethernet + IPv4 without options + UDP */
const ETH_IP4_UDP_HLEN = ETH_HLEN + IPV4_HLEN + UDP_HLEN;
export const FRAG6_HLEN = 8;
export const PROTO_UDP = 17;
const PROTO6_HOPOPTS = 0;
const PROTO6_ROUTING = 43;
const PROTO6_FRAGMENT = 44;
const PROTO6_DSTOPTS = 60;
const IPV4_MF = 0x2000;
const IPV4_DF = 0x4000;
/** IPv6 extension headers walked before giving up on a frame */
const MAX_EXT_HEADERS = 8;

// parse() results
/** a whole UDP datagram: ports, lengths and payload are set */
export const P_UDP = 0;
/** an IPv4 or IPv6 fragment of a UDP datagram: fragment fields are set, ports are not */
export const P_FRAGMENT = 1;
/** shorter than its headers say */
export const P_TRUNCATED = 2;
/** headers that cannot be right (IHL < 5, UDP length < 8, version ≠ ethertype, jumbogram) */
export const P_MALFORMED = 3;
/** IPv4 header checksum wrong */
export const P_BAD_IP_CHECKSUM = 4;
/** not IPv4/IPv6 UDP (ARP, ICMP, TCP, another ethertype): the kernel's business, not ours */
export const P_OTHER = 5;

/** What a frame holds; one object is reused for every frame. Offsets are absolute. */
export class Parsed {
  /** 4 or 6 */
  family = 4;
  /** source and destination MAC (48-bit numbers); -1 in IP mode */
  srcMac = -1;
  dstMac = -1;
  /** offset of the IP header */
  l3 = 0;
  /** end of the IP datagram (Ethernet padding excluded) */
  ipEnd = 0;
  /** IPv4 addresses (family 4) */
  src4 = 0;
  dst4 = 0;
  /** IPv6 addresses as four words each (family 6) */
  s0 = 0;
  s1 = 0;
  s2 = 0;
  s3 = 0;
  d0 = 0;
  d1 = 0;
  d2 = 0;
  d3 = 0;
  /** fragments: identification, offset of this piece in the datagram (bytes), more to come */
  fragId = 0;
  fragOffset = 0;
  fragMore = false;
  /** offset of the UDP header (or, for a fragment, of its piece of the datagram) */
  l4 = 0;
  srcPort = 0;
  dstPort = 0;
  /** UDP length field (header + payload) */
  udpLen = 0;
  /** the UDP checksum field */
  udpCheck = 0;
  payload = 0;
  payloadLen = 0;
}

function u16(u8: Uint8Array, at: number): number {
  return (u8[at]! << 8) | u8[at + 1]!;
}

/** A 16-bit word read in host (little-endian) order with its bytes swapped: network order, and back. */
function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

function put16(u8: Uint8Array, at: number, v: number): void {
  u8[at] = v >>> 8;
  u8[at + 1] = v & 0xff;
}

/**
 * Parses the frame of `len` bytes at `off` of `u8`: Ethernet (unless `ipMode`: a memif port in
 * IP mode carries bare IP packets), IPv4 or IPv6, UDP. Returns one of the P_* results and fills
 * `p`. The IPv4 header checksum is verified here; the UDP checksum by `udpChecksumOk()`.
 * `w`: `words16(u8)`, when the caller keeps it (see `sumIn`).
 */
export function parseFrame(
  u8: Uint8Array,
  off: number,
  len: number,
  ipMode: boolean,
  p: Parsed,
  w?: Uint16Array<ArrayBufferLike>,
): number {
  let l3 = off;
  let ethertype = 0;
  if (!ipMode) {
    if (len < ETH_HLEN) return P_TRUNCATED;
    p.dstMac = readMac(u8, off);
    p.srcMac = readMac(u8, off + 6);
    ethertype = u16(u8, off + 12);
    if (ethertype !== ETHERTYPE_IPV4 && ethertype !== ETHERTYPE_IPV6) return P_OTHER;
    l3 = off + ETH_HLEN;
  } else {
    p.dstMac = -1;
    p.srcMac = -1;
    if (len < 1) return P_TRUNCATED;
  }
  const end = off + len;
  const version = u8[l3]! >>> 4;
  p.l3 = l3;
  if (version === 4) {
    if (ethertype === ETHERTYPE_IPV6) return P_MALFORMED;
    return parseIp4(u8, l3, end, p, w);
  }
  if (version === 6) {
    if (ethertype === ETHERTYPE_IPV4) return P_MALFORMED;
    return parseIp6(u8, l3, end, p);
  }
  return ipMode ? P_OTHER : P_MALFORMED;
}

function parseIp4(
  u8: Uint8Array,
  l3: number,
  end: number,
  p: Parsed,
  w: Uint16Array<ArrayBufferLike> | undefined,
): number {
  p.family = 4;
  if (end - l3 < IPV4_HLEN) return P_TRUNCATED;
  const ihl = (u8[l3]! & 0xf) << 2;
  if (ihl < IPV4_HLEN) return P_MALFORMED;
  const total = u16(u8, l3 + 2);
  if (total < ihl) return P_MALFORMED;
  if (l3 + total > end) return P_TRUNCATED;
  if (fold(w === undefined ? sum(u8, l3, ihl) : sumIn(w, u8, l3, ihl)) !== 0xffff) return P_BAD_IP_CHECKSUM;
  p.ipEnd = l3 + total;
  p.src4 = readU32(u8, l3 + 12);
  p.dst4 = readU32(u8, l3 + 16);
  if (u8[l3 + 9] !== PROTO_UDP) return P_OTHER;
  const fo = u16(u8, l3 + 6);
  p.l4 = l3 + ihl;
  if ((fo & (IPV4_MF | 0x1fff)) !== 0) {
    p.fragId = u16(u8, l3 + 4);
    p.fragOffset = (fo & 0x1fff) << 3;
    p.fragMore = (fo & IPV4_MF) !== 0;
    return P_FRAGMENT;
  }
  return parseUdp(u8, p.l4, p.ipEnd, p);
}

function parseIp6(u8: Uint8Array, l3: number, end: number, p: Parsed): number {
  p.family = 6;
  if (end - l3 < IPV6_HLEN) return P_TRUNCATED;
  const plen = u16(u8, l3 + 4);
  if (plen === 0) return P_MALFORMED; // a jumbogram (or nothing): not over memif
  if (l3 + IPV6_HLEN + plen > end) return P_TRUNCATED;
  p.ipEnd = l3 + IPV6_HLEN + plen;
  p.s0 = readU32(u8, l3 + 8);
  p.s1 = readU32(u8, l3 + 12);
  p.s2 = readU32(u8, l3 + 16);
  p.s3 = readU32(u8, l3 + 20);
  p.d0 = readU32(u8, l3 + 24);
  p.d1 = readU32(u8, l3 + 28);
  p.d2 = readU32(u8, l3 + 32);
  p.d3 = readU32(u8, l3 + 36);
  let nh = u8[l3 + 6]!;
  let at = l3 + IPV6_HLEN;
  for (let k = 0; k < MAX_EXT_HEADERS; k++) {
    if (nh === PROTO_UDP) {
      p.l4 = at;
      return parseUdp(u8, at, p.ipEnd, p);
    }
    if (nh === PROTO6_HOPOPTS || nh === PROTO6_ROUTING || nh === PROTO6_DSTOPTS) {
      if (at + 8 > p.ipEnd) return P_TRUNCATED;
      nh = u8[at]!;
      at += (u8[at + 1]! + 1) << 3;
      continue;
    }
    if (nh === PROTO6_FRAGMENT) {
      if (at + FRAG6_HLEN > p.ipEnd) return P_TRUNCATED;
      nh = u8[at]!;
      const fo = u16(u8, at + 2);
      p.fragId = readU32(u8, at + 4);
      p.fragOffset = fo & 0xfff8;
      p.fragMore = (fo & 1) !== 0;
      at += FRAG6_HLEN;
      if (p.fragOffset === 0 && !p.fragMore) continue; // an atomic fragment (RFC 6946): whole
      if (nh !== PROTO_UDP) return P_OTHER; // only UDP directly after the fragment header
      p.l4 = at;
      return P_FRAGMENT;
    }
    return P_OTHER;
  }
  return P_OTHER;
}

/**
 * Parses the UDP header at `l4` of a datagram that ends at `ipEnd` (also used on a reassembled
 * datagram). Bytes after the UDP length are ignored, as the kernel does.
 */
export function parseUdp(u8: Uint8Array, l4: number, ipEnd: number, p: Parsed): number {
  if (ipEnd - l4 < UDP_HLEN) return P_TRUNCATED;
  const ulen = u16(u8, l4 + 4);
  if (ulen < UDP_HLEN) return P_MALFORMED;
  if (l4 + ulen > ipEnd) return P_TRUNCATED;
  p.l4 = l4;
  p.srcPort = u16(u8, l4);
  p.dstPort = u16(u8, l4 + 2);
  p.udpLen = ulen;
  p.udpCheck = u16(u8, l4 + 6);
  p.payload = l4 + UDP_HLEN;
  p.payloadLen = ulen - UDP_HLEN;
  return P_UDP;
}

/** The pseudo-header's sum for `p`'s addresses and a UDP length (RFC 768, RFC 8200 §8.1). */
export function pseudoSum(p: Parsed, udpLen: number): number {
  if (p.family === 4) {
    return (p.src4 >>> 16) + (p.src4 & 0xffff) + (p.dst4 >>> 16) + (p.dst4 & 0xffff) + PROTO_UDP + udpLen;
  }
  return (
    words32(p.s0) +
    words32(p.s1) +
    words32(p.s2) +
    words32(p.s3) +
    words32(p.d0) +
    words32(p.d1) +
    words32(p.d2) +
    words32(p.d3) +
    PROTO_UDP +
    udpLen
  );
}

function words32(w: number): number {
  return (w >>> 16) + (w & 0xffff);
}

/**
 * Whether the UDP checksum of the datagram described by `p` (header at `p.l4` of `u8`) is right,
 * given the partial sum of its payload (by default `sum(u8, p.payload, p.payloadLen)`; the receive
 * loop passes the one it keeps, to answer with the same payload without summing it again). IPv4
 * allows "no checksum" (0); IPv6 does not (RFC 8200 §8.1), so 0 fails there.
 */
export function udpChecksumOk(u8: Uint8Array, p: Parsed, payloadSum = sum(u8, p.payload, p.payloadLen)): boolean {
  if (p.udpCheck === 0) return p.family === 4;
  const header = p.srcPort + p.dstPort + p.udpLen + p.udpCheck;
  return fold(pseudoSum(p, p.udpLen) + header + payloadSum) === 0xffff;
}

// ---- sending ----

export interface TemplateSpec {
  ipMode: boolean;
  srcMac: number;
  dstMac: number;
  family: 4 | 6;
  /** family 4 */
  src4?: number;
  dst4?: number;
  /** family 6: four words each */
  src6?: readonly number[];
  dst6?: readonly number[];
  srcPort: number;
  dstPort: number;
  /** IPv4 TTL / IPv6 hop limit */
  ttl: number;
  /** IPv4 DF flag (default clear) */
  df?: boolean;
  /** IPv4 TOS / IPv6 traffic class */
  tos?: number;
}

/**
 * The headers of every datagram to one destination: made once, copied in front of each payload.
 * Variable fields (lengths, IPv4 id and both checksums) are zero in `bytes`; their partial sums
 * are kept so a send only adds the lengths, the id and the payload's sum.
 */
export class Template {
  /** Ethernet (unless IP mode) + IP + UDP headers, variable fields zero */
  readonly bytes: Uint8Array;
  /** Ethernet header length: 14, or 0 in IP mode */
  readonly l2: number;
  /** IP header length: 20 or 40 */
  readonly l3len: number;
  /** l2 + l3len + 8 */
  readonly hdrLen: number;
  readonly family: 4 | 6;
  /** IPv4: sum of the header words, lengths/id/checksum excluded */
  readonly ipSum: number;
  /** pseudo-header addresses + protocol + the two ports, excluding lengths */
  readonly udpSum: number;
  readonly spec: TemplateSpec;
  /** link + IP headers, and the UDP header: views of `bytes` for fragments */
  readonly #ipPart: Uint8Array;
  readonly #udpPart: Uint8Array;
  /**
   * `bytes` as little-endian 16-bit words (hdrLen is even), and as 32-bit ones (without the last
   * 2 bytes, the UDP checksum, when hdrLen is not a multiple of 4)
   */
  readonly #words: Uint16Array;
  readonly #words32: Int32Array;
  /**
   * Ethernet + IPv4 (the common case): the 10 words of `bytes` before the UDP checksum as fields
   * (the varying ones zero), for write's unrolled path: each of the frame's first 40 bytes is
   * stored once, 4 at a time, with no typed-array loads
   */
  readonly #eth4: boolean;
  readonly #t0: number;
  readonly #t1: number;
  readonly #t2: number;
  readonly #t3: number;
  readonly #t5: number;
  readonly #t6: number;
  readonly #t7: number;
  readonly #t8: number;
  readonly #t9: number;

  constructor(spec: TemplateSpec) {
    this.spec = spec;
    this.family = spec.family;
    this.l2 = spec.ipMode ? 0 : ETH_HLEN;
    this.l3len = spec.family === 4 ? IPV4_HLEN : IPV6_HLEN;
    this.hdrLen = this.l2 + this.l3len + UDP_HLEN;
    const b = (this.bytes = new Uint8Array(this.hdrLen));
    if (!spec.ipMode) {
      writeMac(b, 0, spec.dstMac);
      writeMac(b, 6, spec.srcMac);
      put16(b, 12, spec.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
    }
    const l3 = this.l2;
    let addrSum = 0;
    if (spec.family === 4) {
      const src = spec.src4 ?? 0;
      const dst = spec.dst4 ?? 0;
      b[l3] = 0x45;
      b[l3 + 1] = spec.tos ?? 0;
      put16(b, l3 + 6, spec.df === true ? IPV4_DF : 0);
      b[l3 + 8] = spec.ttl;
      b[l3 + 9] = PROTO_UDP;
      writeU32(b, l3 + 12, src);
      writeU32(b, l3 + 16, dst);
      addrSum = words32(src) + words32(dst);
      this.ipSum = sum(b, l3, IPV4_HLEN);
    } else {
      const src = spec.src6 ?? [0, 0, 0, 0];
      const dst = spec.dst6 ?? [0, 0, 0, 0];
      const tc = spec.tos ?? 0;
      writeU32(b, l3, ((6 << 28) | (tc << 20)) >>> 0);
      b[l3 + 6] = PROTO_UDP;
      b[l3 + 7] = spec.ttl;
      for (let i = 0; i < 4; i++) {
        writeU32(b, l3 + 8 + 4 * i, src[i]!);
        writeU32(b, l3 + 24 + 4 * i, dst[i]!);
        addrSum += words32(src[i]!) + words32(dst[i]!);
      }
      this.ipSum = 0;
    }
    const l4 = l3 + this.l3len;
    put16(b, l4, spec.srcPort);
    put16(b, l4 + 2, spec.dstPort);
    this.udpSum = fold(addrSum + PROTO_UDP + spec.srcPort + spec.dstPort);
    this.#words = new Uint16Array(b.buffer, b.byteOffset, this.hdrLen >>> 1);
    const t = (this.#words32 = new Int32Array(b.buffer, b.byteOffset, this.hdrLen >>> 2));
    this.#eth4 = !spec.ipMode && spec.family === 4;
    // t[4] (total length, id) is all varying; t[6] and t[9] carry the IPv4 checksum and the UDP
    // length in their zero halves
    [this.#t0, this.#t1, this.#t2, this.#t3, this.#t5, this.#t6, this.#t7, this.#t8, this.#t9] = this.#eth4
      ? [t[0]!, t[1]!, t[2]!, t[3]!, t[5]!, t[6]!, t[7]!, t[8]!, t[9]!]
      : [0, 0, 0, 0, 0, 0, 0, 0, 0];
    this.#ipPart = b.subarray(0, l4);
    this.#udpPart = b.subarray(l4);
  }

  /**
   * Writes the headers of a whole (unfragmented) datagram in front of `payloadLen` bytes already
   * at `at + hdrLen` in `out`, summing them for the UDP checksum. Returns the frame length.
   * `words`, `words32`: `words16(out)` and an Int32Array over the same ArrayBuffer, when the
   * caller keeps them.
   */
  write(
    out: Uint8Array,
    at: number,
    payloadLen: number,
    id: number,
    payloadSum = -1,
    words?: Uint16Array<ArrayBufferLike>,
    words32?: Int32Array<ArrayBufferLike>,
  ): number {
    const abs = out.byteOffset + at;
    const udpLen = UDP_HLEN + payloadLen;
    const ps = payloadSum >= 0 ? payloadSum : sum(out, at + this.hdrLen, payloadLen);
    const udpCheck = ~fold(this.udpSum + udpLen + udpLen + ps) & 0xffff;
    if (this.#eth4 && (abs & 3) === 0 && words32 !== undefined && at + ETH_IP4_UDP_HLEN <= out.byteLength) {
      // Ethernet + IPv4 + UDP, 4-byte aligned (a memif buffer is): 10 stores of 4 bytes, the
      // varying fields (host-order words, so byte-swapped) merged into theirs, then the checksum
      const b4 = abs >>> 2;
      const total = IPV4_HLEN + udpLen;
      words32[b4] = this.#t0;
      words32[b4 + 1] = this.#t1;
      words32[b4 + 2] = this.#t2;
      words32[b4 + 3] = this.#t3;
      words32[b4 + 4] = swap16(total) | (swap16(id) << 16);
      words32[b4 + 5] = this.#t5;
      words32[b4 + 6] = this.#t6 | swap16(~fold(this.ipSum + total + id) & 0xffff);
      words32[b4 + 7] = this.#t7;
      words32[b4 + 8] = this.#t8;
      words32[b4 + 9] = this.#t9 | (swap16(udpLen) << 16);
      (words ?? words16(out))[(abs >>> 1) + 20] = udpCheck === 0 ? 0xffff : swap16(udpCheck);
      return ETH_IP4_UDP_HLEN + payloadLen;
    }
    if ((abs & 1) === 0 && at + this.hdrLen <= out.byteLength) {
      // by words, the varying fields too (host-order words, so swapped): cheaper than
      // TypedArray.set for a few dozen bytes, and 4 bytes a store where the frame is aligned
      // (a frame's buffer in a memif region is): half the stores into a line the peer last read
      const w = words ?? words16(out);
      const base = abs >>> 1;
      if ((abs & 3) === 0 && words32 !== undefined) {
        const t = this.#words32;
        const b4 = abs >>> 2;
        // without the last 2 bytes when hdrLen is 42 or 62: the UDP checksum, written below
        for (let k = 0; k < t.length; k++) words32[b4 + k] = t[k]!;
      } else {
        const t = this.#words;
        for (let k = 0; k < t.length; k++) w[base + k] = t[k]!;
      }
      const l3 = base + (this.l2 >>> 1);
      if (this.family === 4) {
        const total = IPV4_HLEN + udpLen;
        w[l3 + 1] = swap16(total);
        w[l3 + 2] = swap16(id);
        w[l3 + 5] = swap16(~fold(this.ipSum + total + id) & 0xffff);
      } else {
        w[l3 + 2] = swap16(udpLen);
      }
      const l4 = l3 + (this.l3len >>> 1);
      w[l4 + 2] = swap16(udpLen);
      w[l4 + 3] = udpCheck === 0 ? 0xffff : swap16(udpCheck);
      return this.hdrLen + payloadLen;
    }
    out.set(this.bytes, at);
    const l3 = at + this.l2;
    if (this.family === 4) {
      const total = IPV4_HLEN + udpLen;
      put16(out, l3 + 2, total);
      put16(out, l3 + 4, id);
      put16(out, l3 + 10, ~fold(this.ipSum + total + id) & 0xffff);
    } else {
      put16(out, l3 + 4, udpLen);
    }
    const l4 = l3 + this.l3len;
    put16(out, l4 + 4, udpLen);
    put16(out, l4 + 6, udpCheck === 0 ? 0xffff : udpCheck);
    return this.hdrLen + payloadLen;
  }

  /**
   * The UDP header of a datagram that will be fragmented, written at `out[at..at+8]`, with the
   * checksum over the whole payload whose partial sum is `payloadSum`.
   */
  writeUdpHeader(out: Uint8Array, at: number, payloadLen: number, payloadSum: number): void {
    const udpLen = UDP_HLEN + payloadLen;
    out.set(this.#udpPart, at);
    put16(out, at + 4, udpLen);
    const c = ~fold(this.udpSum + udpLen + udpLen + payloadSum) & 0xffff;
    put16(out, at + 6, c === 0 ? 0xffff : c);
  }

  /** Bytes of link + IP headers in front of each fragment's piece of the datagram. */
  get fragHdrLen(): number {
    return this.l2 + this.l3len + (this.family === 6 ? FRAG6_HLEN : 0);
  }

  /**
   * Writes the link + IP headers (and the IPv6 fragment header) of one fragment carrying
   * `pieceLen` bytes of the datagram from byte `offset`; `more` unless it is the last one.
   * Returns the header length (the piece goes right after).
   */
  writeFragment(out: Uint8Array, at: number, pieceLen: number, offset: number, more: boolean, id: number): number {
    out.set(this.#ipPart, at);
    const l3 = at + this.l2;
    if (this.family === 4) {
      const total = IPV4_HLEN + pieceLen;
      const fo = (offset >>> 3) | (more ? IPV4_MF : 0);
      put16(out, l3 + 2, total);
      put16(out, l3 + 4, id & 0xffff);
      put16(out, l3 + 6, fo); // DF is never set on a fragment
      // the template's flags word (DF) is in ipSum: take it out (ones' complement: add ~DF)
      const noDf = this.spec.df === true ? 0xffff - IPV4_DF : 0;
      put16(out, l3 + 10, ~fold(this.ipSum + noDf + total + (id & 0xffff) + fo) & 0xffff);
      return this.l2 + IPV4_HLEN;
    }
    put16(out, l3 + 4, FRAG6_HLEN + pieceLen);
    out[l3 + 6] = PROTO6_FRAGMENT;
    const f = l3 + IPV6_HLEN;
    out[f] = PROTO_UDP;
    out[f + 1] = 0;
    put16(out, f + 2, offset | (more ? 1 : 0));
    writeU32(out, f + 4, id >>> 0);
    return this.l2 + IPV6_HLEN + FRAG6_HLEN;
  }
}
