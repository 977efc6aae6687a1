/**
 * The Internet checksum (RFC 1071): ones' complement sum of 16-bit big-endian words.
 *
 * `sum()` returns a *partial* sum folded to 16 bits, in network byte order; partial sums of
 * pieces that each start at an even offset of the checksummed message add up (then `fold()`),
 * and `finish()` turns the total into the value written in a header. Pseudo-header fields are
 * added as plain numbers (16-bit words in network order).
 *
 * Speed: words are read through a Uint16Array over the same ArrayBuffer in host (little-endian)
 * order; RFC 1071 §2(B): the ones' complement sum of byte-swapped words is the byte-swapped sum,
 * so the folded result is swapped once at the end. The word views are cached per view (a few
 * entries: the rx and tx region views of a connection), so a checksum over them allocates
 * nothing and reads no `buffer` property. A detached buffer (a revoked memif view) is never summed:
 * callers check their view first, and its cached views read as empty anyway.
 */

const CACHE = 4;
/** the views last summed (memif region views, stable for a connection) and their word views */
const views: (Uint8Array | null)[] = [null, null, null, null];
const w16: Uint16Array<ArrayBufferLike>[] = new Array<Uint16Array<ArrayBufferLike>>(CACHE).fill(new Uint16Array(0));
/** their 32-bit word views, made on first use */
const w32: (Int32Array<ArrayBufferLike> | null)[] = [null, null, null, null];
let nextSlot = 0;
let lastView: Uint8Array | null = null;
let lastWords: Uint16Array<ArrayBufferLike> = new Uint16Array(0);

/**
 * A Uint16Array over the whole ArrayBuffer under `u8` (index = absolute byte offset / 2), cached
 * by view: the region views of a connection hit the cache, so nothing is allocated per call.
 */
export function words16(u8: Uint8Array): Uint16Array<ArrayBufferLike> {
  if (u8 === lastView) return lastWords;
  let s = views.indexOf(u8);
  if (s < 0) {
    s = nextSlot;
    nextSlot = (nextSlot + 1) % CACHE;
    views[s] = u8;
    const buf = u8.buffer;
    w16[s] = new Uint16Array(buf, 0, buf.byteLength >>> 1);
    w32[s] = null;
  }
  lastView = u8;
  lastWords = w16[s]!;
  return lastWords;
}

/**
 * An Int32Array over the whole ArrayBuffer under `u8` (index = absolute byte offset / 4), cached
 * beside words16's view (the same slots): nothing is allocated per call for a region view.
 */
export function words32(u8: Uint8Array): Int32Array<ArrayBufferLike> {
  words16(u8); // its slot
  const s = views.indexOf(u8);
  let w = w32[s];
  if (w === null || w === undefined) {
    const buf = u8.buffer;
    w = w32[s] = new Int32Array(buf, 0, buf.byteLength >>> 2);
  }
  return w;
}

/** words16(u8) if `u8` is in the cache, else null (nothing is made). */
export function knownWords16(u8: Uint8Array): Uint16Array<ArrayBufferLike> | null {
  if (u8 === lastView) return lastWords;
  const s = views.indexOf(u8);
  return s < 0 ? null : w16[s]!;
}

/** Folds a sum of 16-bit words (up to 2^53) to 16 bits with end-around carry. */
export function fold(s: number): number {
  while (s > 0xffff) s = s < 0x100000000 ? (s & 0xffff) + (s >>> 16) : (s % 65536) + Math.floor(s / 65536);
  return s;
}

/**
 * Partial ones' complement sum of `len` bytes of `u8` from `start` (relative to `u8`), folded to
 * 16 bits, network order. An odd length is padded with a zero byte, as the checksum requires of
 * the message's last byte (so only the last piece of a message may be odd).
 */
export function sum(u8: Uint8Array, start: number, len: number): number {
  if (len <= 0) return 0;
  const abs = u8.byteOffset + start;
  if ((abs & 1) !== 0 || start + len > u8.byteLength) return sumBytes(u8, start, len);
  return sumIn(words16(u8), u8, start, len);
}

/**
 * sum() with `w = words16(u8)` given: a caller that sums many times in one view (the receive
 * loop, per region view) keeps its word view and skips the cache lookup per call.
 */
export function sumIn(w: Uint16Array<ArrayBufferLike>, u8: Uint8Array, start: number, len: number): number {
  if (len <= 0) return 0;
  const abs = u8.byteOffset + start;
  if ((abs & 1) !== 0 || start + len > u8.byteLength) return sumBytes(u8, start, len);
  let acc = 0; // little-endian words: RFC 1071 §2(B), swapped once at the end
  let i = abs >>> 1;
  const stop = i + (len >>> 1);
  // Unrolled by 4: at most 32 Ki words per datagram, so acc stays below 2^32.
  for (; i + 4 <= stop; i += 4) acc += w[i]! + w[i + 1]! + w[i + 2]! + w[i + 3]!;
  for (; i < stop; i++) acc += w[i]!;
  if ((len & 1) !== 0) acc += u8[start + len - 1]!; // odd last byte: the low byte in host order
  acc = fold(acc);
  return ((acc & 0xff) << 8) | (acc >>> 8);
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
