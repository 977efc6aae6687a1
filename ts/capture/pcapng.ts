/**
 * pcapng blocks (draft-ietf-opsawg-pcapng), little-endian, as zmemif writes them: a Section
 * Header Block, one Interface Description Block per queue and direction (Ethernet, nanosecond
 * timestamps: if_tsresol = 9), and Enhanced Packet Blocks. Pure functions over bytes; no I/O.
 */

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
export const BLOCK_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const LINKTYPE_ETHERNET = 1;
const OPT_END = 0;
const OPT_COMMENT = 1;
const OPT_IF_NAME = 2;
const OPT_IF_TSRESOL = 9;
/** EPB fixed part: type, length, interface, ts high, ts low, captured length, original length */
export const EPB_HEADER = 28;

const pad4 = (n: number) => (n + 3) & ~3;

function option(code: number, value: Uint8Array): Uint8Array {
  const o = new Uint8Array(4 + pad4(value.byteLength));
  const v = new DataView(o.buffer);
  v.setUint16(0, code, true);
  v.setUint16(2, value.byteLength, true);
  o.set(value, 4);
  return o;
}

function block(type: number, body: Uint8Array[]): Uint8Array {
  const bodyLen = body.reduce((a, b) => a + b.byteLength, 0);
  const total = 12 + bodyLen;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, total, true);
  let at = 8;
  for (const b of body) {
    out.set(b, at);
    at += b.byteLength;
  }
  v.setUint32(total - 4, total, true);
  return out;
}

const text = (s: string) => new TextEncoder().encode(s);
const end = () => option(OPT_END, new Uint8Array(0));

/** The Section Header Block: version 1.0, section length unknown (-1). */
export function sectionHeader(comment?: string): Uint8Array {
  const fixed = new Uint8Array(16);
  const v = new DataView(fixed.buffer);
  v.setUint32(0, BYTE_ORDER_MAGIC, true);
  v.setUint16(4, 1, true);
  v.setUint16(6, 0, true);
  v.setBigInt64(8, -1n, true);
  return block(BLOCK_SHB, comment === undefined ? [fixed] : [fixed, option(OPT_COMMENT, text(comment)), end()]);
}

/** An Interface Description Block: Ethernet, `snaplen`, `name`, nanosecond timestamps. */
export function interfaceDescription(name: string, snaplen: number): Uint8Array {
  const fixed = new Uint8Array(8);
  const v = new DataView(fixed.buffer);
  v.setUint16(0, LINKTYPE_ETHERNET, true);
  v.setUint32(4, snaplen, true);
  return block(BLOCK_IDB, [fixed, option(OPT_IF_NAME, text(name)), option(OPT_IF_TSRESOL, Uint8Array.of(9)), end()]);
}

/** Bytes of an EPB holding `captured` bytes of packet data. */
export function packetBlockSize(captured: number): number {
  return EPB_HEADER + pad4(captured) + 4;
}

/**
 * Writes the header and trailer of an Enhanced Packet Block of `total` bytes
 * (packetBlockSize(captured)) at byte `at` of `v`; the caller copies the `captured` data bytes to
 * `at + EPB_HEADER`. The timestamp is `tsHigh * 2^32 + tsLow` units of if_tsresol.
 */
export function packetBlockFrame(
  v: DataView,
  at: number,
  total: number,
  iface: number,
  tsHigh: number,
  tsLow: number,
  captured: number,
  original: number,
): void {
  v.setUint32(at, BLOCK_EPB, true);
  v.setUint32(at + 4, total, true);
  v.setUint32(at + 8, iface, true);
  v.setUint32(at + 12, tsHigh, true);
  v.setUint32(at + 16, tsLow, true);
  v.setUint32(at + 20, captured, true);
  v.setUint32(at + 24, original, true);
  v.setUint32(at + total - 4, total, true);
}
