/**
 * Addresses as numbers: IPv4 as one u32, IPv6 as four u32 words (network order, most
 * significant first), MAC as one 48-bit integer (exact in a double). Text forms in both
 * directions: dotted quad, RFC 5952 IPv6 (lowercase, longest zero run compressed, `::ffff:a.b.c.d`
 * for IPv4-mapped), and `aa:bb:cc:dd:ee:ff`. No DNS: memif carries no resolver.
 */

/** An IPv6 address: four u32 words, most significant first. */
export type Ip6 = [number, number, number, number];

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** "a.b.c.d" → u32, or -1 when `s` is not an IPv4 literal. */
export function parseIp4(s: string): number {
  const m = V4.exec(s);
  if (m === null) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    const b = Number(part);
    if (b > 255 || (part.length > 1 && part[0] === "0")) return -1;
    v = v * 256 + b;
  }
  return v;
}

export function formatIp4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** IPv6 text → four words, or null when `s` is not an IPv6 literal (zone ids are refused). */
export function parseIp6(s: string): Ip6 | null {
  if (s.length < 2 || s.length > 45 || s.includes("%")) return null;
  const groups: number[] = [];
  let tail = s;
  let v4 = -1;
  const lastColon = s.lastIndexOf(":");
  if (s.indexOf(".", lastColon) > 0) {
    // an embedded IPv4 address stands for the last two groups: "::ffff:1.2.3.4", "64:ff9b::1.2.3.4"
    v4 = parseIp4(s.slice(lastColon + 1));
    if (v4 < 0) return null;
    tail = s.slice(0, lastColon + 1);
    if (!tail.endsWith("::")) tail = tail.slice(0, -1);
  }
  const dbl = tail.indexOf("::");
  if (dbl !== tail.lastIndexOf("::")) return null;
  const want = v4 >= 0 ? 6 : 8;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  if (dbl >= 0) {
    const head = parseGroups(tail.slice(0, dbl));
    const rest = parseGroups(tail.slice(dbl + 2));
    if (head === null || rest === null || head.length + rest.length >= want) return null;
    groups.push(...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest);
  } else {
    const all = parseGroups(tail);
    if (all === null || all.length !== want) return null;
    groups.push(...all);
  }
  if (v4 >= 0) groups.push(v4 >>> 16, v4 & 0xffff);
  return [
    (groups[0]! * 65536 + groups[1]!) >>> 0,
    (groups[2]! * 65536 + groups[3]!) >>> 0,
    (groups[4]! * 65536 + groups[5]!) >>> 0,
    (groups[6]! * 65536 + groups[7]!) >>> 0,
  ];
}

/** Four words → RFC 5952 text. */
export function formatIp6(a: number, b: number, c: number, d: number): string {
  if (a === 0 && b === 0 && c === 0xffff) return `::ffff:${formatIp4(d)}`;
  const g = [a >>> 16, a & 0xffff, b >>> 16, b & 0xffff, c >>> 16, c & 0xffff, d >>> 16, d & 0xffff];
  // the longest run of two or more zero groups (the first one on a tie) becomes "::"
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** Whether four words are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isMapped4(w: Ip6): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

const MAC = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;

/** "aa:bb:cc:dd:ee:ff" (or with dashes) → 48-bit number, or -1. */
export function parseMac(s: string): number {
  const m = MAC.exec(s);
  if (m === null) return -1;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

export function formatMac(v: number): string {
  const out: string[] = [];
  for (let i = 5; i >= 0; i--) out.push((Math.floor(v / 2 ** (8 * i)) % 256).toString(16).padStart(2, "0"));
  return out.join(":");
}

export const MAC_BROADCAST = 0xffff_ffff_ffff;

/** A MAC's group bit (multicast or broadcast). */
export function isGroupMac(v: number): boolean {
  return Math.floor(v / 2 ** 40) % 2 === 1;
}

/** Reads a 48-bit MAC at `at`. */
export function readMac(u8: Uint8Array, at: number): number {
  const lo = ((u8[at + 2]! << 24) | (u8[at + 3]! << 16) | (u8[at + 4]! << 8) | u8[at + 5]!) >>> 0;
  return (u8[at]! * 256 + u8[at + 1]!) * 4294967296 + lo;
}

/** Writes a 48-bit MAC at `at`. */
export function writeMac(u8: Uint8Array, at: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  const lo = v >>> 0;
  u8[at] = hi >>> 8;
  u8[at + 1] = hi & 0xff;
  u8[at + 2] = lo >>> 24;
  u8[at + 3] = (lo >>> 16) & 0xff;
  u8[at + 4] = (lo >>> 8) & 0xff;
  u8[at + 5] = lo & 0xff;
}

/** Reads a u32 in network order at `at`. */
export function readU32(u8: Uint8Array, at: number): number {
  return ((u8[at]! << 24) | (u8[at + 1]! << 16) | (u8[at + 2]! << 8) | u8[at + 3]!) >>> 0;
}

export function writeU32(u8: Uint8Array, at: number, v: number): void {
  u8[at] = v >>> 24;
  u8[at + 1] = (v >>> 16) & 0xff;
  u8[at + 2] = (v >>> 8) & 0xff;
  u8[at + 3] = v & 0xff;
}
