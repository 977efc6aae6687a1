/**
 * UDP sockets over memif on Node.js (the N-API backend), against real peers in other processes:
 *  - a Node.js UDP echo service (udpSocket's data and batch handlers, createSocket) answering a
 *    Bun client: every datagram from 4 to 9000 bytes (fragmented and reassembled both ways) comes
 *    back intact from the right address and port, nothing counted bad on either side;
 *  - a Node.js client (udpSocket, createSocket) against the Bun echo service (examples/udp_echo.ts);
 *  - Node's frames checked by this file's own checksum code (not ts/udp's), and frames with a
 *    wrong IPv4 or UDP checksum dropped and counted by Node.
 * Runs what the package ships: dist/ compiled by `tsc -p tsconfig.build.json` (tests/helpers/node_udp.mjs).
 */
import { afterEach, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { udpSocket, type UdpSocket } from "../ts/index.ts";
import { abstractName } from "./helpers/peers.ts";
import { Proc } from "../support/proc.ts";
import { bytes, CLIENT4, CLIENT_MAC, frame, HOST4, HOST_MAC, RawPeer } from "./helpers/udp_raw.ts";
import { buildDist } from "./helpers/dist.ts";

const ROOT = join(import.meta.dir, "..");
const NODE_UDP = join(import.meta.dir, "helpers", "node_udp.mjs");
const BUN_ECHO = join(ROOT, "examples", "udp_echo.ts");

const running: Proc[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

function start(cmd: string[]): Proc {
  const p = new Proc(cmd);
  running.push(p);
  return p;
}

beforeAll(buildDist, 120_000);

/** Datagram i as the Node side makes it: bytes(size, i) with i in its first 4 bytes. */
function datagram(size: number, i: number): Uint8Array {
  const b = bytes(size, i);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}

const SIZES = [4, 5, 63, 64, 100, 511, 1024, 1472, 1473, 2000, 4000, 9000];
for (let i = 0; i < 200; i++) SIZES.push(4 + ((i * 97) % 1469));
const REASSEMBLED = SIZES.filter((n) => n > 1472).length;

for (const api of ["data", "batch", "dgram"] as const) {
  test(`Node.js echo service (${api}) answers a Bun client: every datagram back intact`, async () => {
    const path = abstractName();
    const echo = start(["node", NODE_UDP, "echo", path, api]);
    await echo.waitFor(/^listening/, 20_000);
    const replies = new Map<number, Uint8Array>();
    const wrong: string[] = [];
    const s: UdpSocket<"buffer"> = await udpSocket({
      hostname: CLIENT4,
      port: 40000,
      memif: { socket: path, connectTimeoutMs: 10_000, mac: CLIENT_MAC, nextHopMac: HOST_MAC },
      socket: {
        data(_s, data, port, address) {
          if (address !== HOST4 || (port !== 5000 && port !== 5001)) wrong.push(`${address}:${port}`);
          replies.set(data.readUInt32BE(0), data.slice());
        },
      },
    });
    try {
      for (let i = 0; i < SIZES.length; i++) {
        const deadline = performance.now() + 5000;
        while (i - replies.size >= 16) {
          if (performance.now() > deadline) throw new Error(`no replies: ${replies.size} of ${i} back`);
          await Bun.sleep(1);
        }
        const b = datagram(SIZES[i]!, i);
        while (!s.send(b, 5000 + (i % 2), HOST4)) await s.writable(5000);
      }
      const deadline = performance.now() + 5000;
      while (replies.size < SIZES.length && performance.now() < deadline) await Bun.sleep(2);
      expect(wrong).toEqual([]);
      expect(replies.size).toBe(SIZES.length);
      for (let i = 0; i < SIZES.length; i++) {
        expect(replies.get(i), `datagram ${i} (${SIZES[i]} bytes)`).toEqual(Buffer.from(datagram(SIZES[i]!, i)));
      }
      const st = s.stats();
      expect(st).toMatchObject({ badChecksum: 0, truncated: 0, malformed: 0, notForUs: 0, lostOnDisconnect: 0 });
      expect(st.rx).toBe(SIZES.length);
      expect(st.reassembled).toBe(REASSEMBLED);
    } finally {
      s.close();
    }
    echo.proc.kill("SIGTERM");
    expect(await echo.finished).toBe(0);
    expect(echo.lines).toContain(`echoed ${SIZES.length}`);
    const counters = JSON.parse(echo.lines.find((l) => l.startsWith("{"))!);
    expect(counters).toMatchObject({
      rx: SIZES.length,
      tx: SIZES.length,
      badChecksum: 0,
      truncated: 0,
      malformed: 0,
      notForUs: 0,
      fragmentsDropped: 0,
      reassembled: REASSEMBLED,
      lostOnDisconnect: 0,
    });
  }, 60_000);
}

for (const api of ["data", "dgram"] as const) {
  test(`Node.js client (${api}) against the Bun echo service: every reply checked`, async () => {
    const path = abstractName();
    const echo = start([
      process.execPath,
      BUN_ECHO,
      "--role",
      "server",
      "--host",
      HOST4,
      "--ports",
      "5000-5001",
      path,
      "0",
    ]);
    await echo.waitFor(/^waiting/, 20_000);
    const client = start(["node", NODE_UDP, "client", path, api]);
    expect(await client.finished, client.stderr).toBe(0);
    const r = JSON.parse(client.lines.find((l) => l.startsWith("{"))!);
    expect({ sent: r.sent, replies: r.replies, wrong: r.wrong, bad: r.bad }).toEqual({
      sent: SIZES.length,
      replies: SIZES.length,
      wrong: [],
      bad: [],
    });
    expect(r.stats).toMatchObject({
      rx: SIZES.length,
      tx: SIZES.length,
      badChecksum: 0,
      truncated: 0,
      malformed: 0,
      notForUs: 0,
      reassembled: REASSEMBLED,
      lostOnDisconnect: 0,
    });
    echo.proc.kill("SIGTERM");
    expect(await echo.finished).toBe(0);
    expect(echo.lines).toContain(`echoed ${SIZES.length} datagrams`);
  }, 60_000);
}

// ---- an independent check of the checksums Node writes (RFC 1071, RFC 768) ----

function onesSum(b: Uint8Array, from: number, to: number, acc = 0): number {
  for (let i = from; i < to; i += 2) acc += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/** Whether an Ethernet + IPv4 + UDP frame carries a right IPv4 header checksum and UDP checksum. */
function checksumsOk(f: Uint8Array): { ip: boolean; udp: boolean; payload: Uint8Array } {
  const ip = 14;
  const ihl = (f[ip]! & 0x0f) * 4;
  const udp = ip + ihl;
  const udpLen = (f[udp + 4]! << 8) | f[udp + 5]!;
  let pseudo = onesSum(f, ip + 12, ip + 20); // source and destination addresses
  pseudo += 17 + udpLen;
  const udpSum = onesSum(f, udp, udp + udpLen, pseudo);
  return {
    ip: onesSum(f, ip, ip + ihl) === 0xffff,
    udp: ((f[udp + 6]! << 8) | f[udp + 7]!) !== 0 && udpSum === 0xffff,
    payload: f.subarray(udp + 8, udp + udpLen),
  };
}

test("Node.js writes right IPv4 and UDP checksums, and drops frames with wrong ones", async () => {
  const path = abstractName();
  const echo = start(["node", NODE_UDP, "echo", path, "data"]);
  await echo.waitFor(/^listening/, 20_000);
  using raw = new RawPeer(path, { role: "client" });
  const sizes = [4, 5, 17, 64, 255, 1000, 1471, 1472];
  const good = sizes.map((n, i) => frame(datagram(n, i), {}, i + 1));
  // wrong UDP checksum, then a wrong IPv4 header checksum: both must be dropped and counted
  const badUdp = frame(datagram(100, 100), {}, 101);
  badUdp[14 + 20 + 6] = badUdp[14 + 20 + 6]! ^ 0x55;
  const badIp = frame(datagram(100, 101), {}, 102);
  badIp[14 + 10] = badIp[14 + 10]! ^ 0x55;
  await raw.send(good[0]!, badUdp, badIp, ...good.slice(1));
  const back = await raw.receive(good.length, 10_000);
  expect(back.length).toBe(good.length);
  for (const [k, f] of back.entries()) {
    const c = checksumsOk(f);
    expect({ k, ip: c.ip, udp: c.udp }).toEqual({ k, ip: true, udp: true });
    const i = new DataView(c.payload.buffer, c.payload.byteOffset).getUint32(0);
    expect(c.payload).toEqual(datagram(sizes[i]!, i));
  }
  await Bun.sleep(100);
  expect(raw.take()).toEqual([]); // nothing for the two bad frames
  echo.proc.kill("SIGTERM");
  expect(await echo.finished).toBe(0);
  const counters = JSON.parse(echo.lines.find((l) => l.startsWith("{"))!);
  expect(counters).toMatchObject({ rx: good.length, tx: good.length, badChecksum: 2 });
}, 60_000);
