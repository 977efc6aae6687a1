/**
 * A raw memif peer for the UDP socket tests: it sends frames we craft (good, truncated, with bad
 * checksums, fragments, ...) and keeps the frames the UDP socket sends, as the forwarder would
 * see them. Runs in the test's own process.
 */
import { Batch, MemifSocket, type Mode, type Port, type Role, type RxQueue, type TxQueue } from "../../ts/index.ts";
import { parseIp4, parseIp6, parseMac } from "../../ts/udp/addr.ts";
import { Template } from "../../ts/udp/headers.ts";

export const CLIENT_MAC = "02:00:00:00:00:0c";
export const HOST_MAC = "02:00:00:00:00:0f";
export const HOST4 = "192.0.2.1";
export const CLIENT4 = "198.51.100.9";
export const HOST6 = "2001:db8::1";
export const CLIENT6 = "2001:db8:1::9";

export interface FrameSpec {
  family?: 4 | 6;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  srcMac?: string;
  dstMac?: string;
  ipMode?: boolean;
  ttl?: number;
}

/** A template for datagrams from the client to the host (defaults) or as given. */
export function template(s: FrameSpec = {}): Template {
  const family = s.family ?? 4;
  const src = s.src ?? (family === 4 ? CLIENT4 : CLIENT6);
  const dst = s.dst ?? (family === 4 ? HOST4 : HOST6);
  return new Template({
    ipMode: s.ipMode ?? false,
    srcMac: parseMac(s.srcMac ?? CLIENT_MAC),
    dstMac: parseMac(s.dstMac ?? HOST_MAC),
    family,
    src4: family === 4 ? parseIp4(src) : 0,
    dst4: family === 4 ? parseIp4(dst) : 0,
    src6: family === 6 ? parseIp6(src)! : [0, 0, 0, 0],
    dst6: family === 6 ? parseIp6(dst)! : [0, 0, 0, 0],
    srcPort: s.srcPort ?? 40000,
    dstPort: s.dstPort ?? 5000,
    ttl: s.ttl ?? 64,
  });
}

/** One whole datagram as a frame. */
export function frame(payload: Uint8Array, s: FrameSpec = {}, id = 1): Uint8Array {
  const t = template(s);
  const f = new Uint8Array(t.hdrLen + payload.byteLength);
  f.set(payload, t.hdrLen);
  t.write(f, 0, payload.byteLength, id);
  return f;
}

/** The fragments of one datagram (UDP header + payload cut in pieces of `per` bytes). */
export function fragments(payload: Uint8Array, per: number, s: FrameSpec = {}, id = 7): Uint8Array[] {
  const t = template(s);
  // the whole UDP datagram, checksum included, from a whole frame of it
  const whole = frame(payload, s, id);
  const udp = whole.subarray(t.l2 + t.l3len);
  const out: Uint8Array[] = [];
  for (let off = 0; off < udp.byteLength; off += per) {
    const piece = udp.subarray(off, Math.min(udp.byteLength, off + per));
    const f = new Uint8Array(t.fragHdrLen + piece.byteLength);
    const h = t.writeFragment(f, 0, piece.byteLength, off, off + per < udp.byteLength, id);
    f.set(piece, h);
    out.push(f);
  }
  return out;
}

export function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 17 + i * 5 + (i >> 7)) & 0xff;
  return b;
}

export class RawPeer {
  readonly socket: MemifSocket;
  readonly port: Port;
  readonly rx: RxQueue;
  readonly tx: TxQueue;
  readonly #b = new Batch(256);

  constructor(path: string, o: { role?: Role; id?: number; mode?: Mode; ringSize?: number; bufferSize?: number } = {}) {
    this.socket = new MemifSocket(path);
    this.port = this.socket.port({
      role: o.role ?? "server",
      id: o.id ?? 0,
      mode: o.mode ?? "ethernet",
      name: "raw-peer",
      reconnectMs: 100,
      ...(o.ringSize !== undefined ? { ringSize: o.ringSize } : {}),
      ...(o.bufferSize !== undefined ? { bufferSize: o.bufferSize } : {}),
    });
    this.rx = this.port.rxQueue(0);
    this.tx = this.port.txQueue(0);
  }

  async send(...frames: Uint8Array[]): Promise<void> {
    // the socket's side may see the handshake finished a moment before this side does
    await this.port.connect({ timeoutMs: 5000 });
    for (const f of frames) await this.tx.send(f, { timeoutMs: 5000 });
  }

  /** What is in the rx ring now (copies). */
  take(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const n = this.rx.rxBurst(this.#b);
      if (n === 0) return out;
      for (let i = 0; i < n; i = this.#b.packetEnd(i)) out.push(this.#b.copyPacket(i));
    }
  }

  /** Frames until `count` arrived or `timeoutMs` passed. */
  async receive(count: number, timeoutMs = 3000): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const deadline = performance.now() + timeoutMs;
    while (out.length < count && performance.now() < deadline) {
      out.push(...this.take());
      if (out.length < count) await Bun.sleep(2);
    }
    return out;
  }

  close(): void {
    this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
