/**
 * The Internet checksum (RFC 1071): ones' complement sum of 16-bit big-endian words.
 *
 * `sum()` returns a *partial* sum folded to 16 bits, in network byte order; partial sums of
 * pieces that each start at an even offset of the checksummed message add up (then `fold()`),
 * and `finish()` turns the total into the value written in a header. Pseudo-header fields are
 * added as plain numbers (16-bit words in network order).
 *
 * Speed: words are read through a Uint32Array (or Uint16Array) over the same ArrayBuffer in host
 * (little-endian) order; RFC 1071 §2(B): the ones' complement sum of byte-swapped words is the
 * byte-swapped sum, so the folded result is swapped once at the end. The word views are cached
 * per ArrayBuffer (a few entries: the rx and tx regions of a connection and a scratch buffer),
 * so a checksum allocates nothing. A detached buffer (a revoked memif view) is never summed:
 * callers check their view first, and its cached views read as empty anyway.
 */

const CACHE = 4;
const keys: (ArrayBufferLike | null)[] = [null, null, null, null];
const w16: Uint16Array[] = new Array<Uint16Array>(CACHE);
const w32: Uint32Array[] = new Array<Uint32Array>(CACHE);
let nextSlot = 0;

function slotOf(buf: ArrayBufferLike): number {
  for (let i = 0; i < CACHE; i++) if (keys[i] === buf) return i;
  const s = nextSlot;
  nextSlot = (nextSlot + 1) % CACHE;
  keys[s] = buf;
  w16[s] = new Uint16Array(buf, 0, buf.byteLength >>> 1);
  w32[s] = new Uint32Array(buf, 0, buf.byteLength >>> 2);
  return s;
}

/** Folds a sum of 16-bit words (up to 2^53) to 16 bits with end-around carry. */
export function fold(s: number): number {
  while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
  return s;
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * Partial ones' complement sum of `len` bytes of `u8` from `start` (relative to `u8`), folded to
 * 16 bits, network order. An odd length is padded with a zero byte, as the checksum requires of
 * the message's last byte (so only the last piece of a message may be odd).
 */
export function sum(u8: Uint8Array, start: number, len: number): number {
  if (len <= 0) return 0;
  let abs = u8.byteOffset + start;
  const end = abs + len;
  if ((abs & 1) !== 0 || len < 16) return sumBytes(u8, start, len);
  const s = slotOf(u8.buffer);
  const h = w16[s]!;
  const w = w32[s]!;
  let acc = 0; // little-endian domain
  if ((abs & 2) !== 0) {
    acc += h[abs >>> 1]!;
    abs += 2;
  }
  const words = (end - abs) >>> 2;
  let i = abs >>> 2;
  const stop = i + words;
  // Unrolled by 4: at most 16 Ki words per datagram, far below 2^53 / 2^32.
  for (; i + 4 <= stop; i += 4) acc += w[i]! + w[i + 1]! + w[i + 2]! + w[i + 3]!;
  for (; i < stop; i++) acc += w[i]!;
  abs = stop << 2;
  if (end - abs >= 2) {
    acc += h[abs >>> 1]!;
    abs += 2;
  }
  if (abs < end) acc += u8[abs - u8.byteOffset]!; // odd last byte: the low byte in host order
  return swap16(fold(acc));
}

/** The same sum, byte by byte (any alignment). */
export function sumBytes(u8: Uint8Array, start: number, len: number): number {
  let acc = 0;
  let i = start;
  const end = start + len - 1;
  for (; i < end; i += 2) acc += (u8[i]! << 8) | u8[i + 1]!;
  if (i === end) acc += u8[i]! << 8;
  return fold(acc);
}

/** The value to write into a checksum field: the complement of the folded total. */
export function finish(total: number): number {
  return ~fold(total) & 0xffff;
}

/**
 * The checksum of `len` bytes (an IPv4 header, or anything checksummed alone). A header that
 * carries its own correct checksum sums to 0xffff, so `checksum(header) === 0` verifies it.
 */
export function checksum(u8: Uint8Array, start = 0, len = u8.byteLength - start): number {
  return finish(sum(u8, start, len));
}
