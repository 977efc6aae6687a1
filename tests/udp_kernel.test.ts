/**
 * The UDP layer against the Linux kernel, in two network namespaces made by the test
 * (zmf-udp-a…, zmf-udp-b…, a veth between them, checksum offloads off so checksums are real):
 *
 *  - kernel → us: datagrams sent by kernel sockets (IPv4 and IPv6, empty to 1472 bytes, and
 *    3000 bytes that the kernel fragments) are captured off the wire; every frame parses, every
 *    checksum verifies, our own build of the same datagram is byte for byte the kernel's, and
 *    the kernel's fragments reassemble;
 *  - us → kernel: datagrams sent by a zmemif UDP socket (taken off its memif port) are put on
 *    the wire; the kernel delivers every one intact to a kernel socket (it checks the checksums
 *    and reassembles our fragments), and counts the two we spoiled as InCsumErrors.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Batch, MemifSocket, udpSocket } from "../ts/index.ts";
import { P_FRAGMENT, P_UDP, Parsed, parseFrame, parseUdp, Template, udpChecksumOk } from "../ts/udp/headers.ts";
import { Reassembler } from "../ts/udp/reassembly.ts";
import { abstractName } from "./helpers/peers.ts";
import { KERNEL_PY, NetnsPair, netnsUnavailable } from "./helpers/netns.ts";
import { describeNeeding } from "./helpers/prereq.ts";

const why = netnsUnavailable();

/** udp_kernel.py's pattern(n, seed) */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7 + (i >> 8)) & 0xff;
  return b;
}

function sha(b: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(b).digest("hex");
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

describeNeeding("udp_kernel.test.ts", why, "UDP against the kernel", () => {
  let ns: NetnsPair;
  beforeAll(() => {
    ns = new NetnsPair();
  });
  afterAll(() => ns?.destroy());

  test("kernel → us: frames parse, checksums verify, our build is the kernel's, fragments reassemble", async () => {
    const sizes4 = [0, 1, 7, 64, 1472, 3000];
    const sizes6 = [0, 1, 19, 1452, 3000];
    const frames = 5 + 3 + 4 + 3; // 3000 bytes: 3 fragments either way at MTU 1500
    const cap = ns.py(ns.b, ["capture", ns.vb, String(frames), "10"]);
    await cap.waitFor(/^ready/);
    await ns.py(ns.a, ["send", ns.ip4b, "9", ...sizes4.map(String)]).waitFor(/^sent/);
    await ns.py(ns.a, ["send", ns.ip6b, "9", ...sizes6.map(String)]).waitFor(/^sent/);
    await cap.waitFor(/^done/, 15_000);
    const got = cap.json<{ hex: string }>().map((j) => Uint8Array.from(Buffer.from(j.hex, "hex")));
    expect(got.length).toBe(frames);

    const p = new Parsed();
    const r = new Reassembler();
    const whole: { family: number; payload: Uint8Array }[] = [];
    for (const f of got) {
      const kind = parseFrame(f, 0, f.byteLength, false, p);
      if (kind === P_FRAGMENT) {
        const key = p.family === 4 ? `${p.src4} ${p.dst4} ${p.fragId}` : `${p.s0} ${p.s3} ${p.fragId}`;
        const d = r.add(key, p.fragOffset, p.fragMore, f, p.l4, p.ipEnd - p.l4);
        if (d === null) continue;
        expect(parseUdp(d, 0, d.byteLength, p)).toBe(P_UDP);
        expect(udpChecksumOk(d, p)).toBe(true);
        whole.push({ family: p.family, payload: d.slice(8, p.udpLen) });
        continue;
      }
      expect(kind).toBe(P_UDP);
      expect(udpChecksumOk(f, p)).toBe(true);
      const payload = f.slice(p.payload, p.payload + p.payloadLen);
      whole.push({ family: p.family, payload });
      // the same datagram built by us: identical, given the kernel's id and DF choice
      const t = new Template({
        ipMode: false,
        srcMac: parseInt(hexOf(f.subarray(6, 12)), 16),
        dstMac: parseInt(hexOf(f.subarray(0, 6)), 16),
        family: p.family as 4 | 6,
        src4: p.src4,
        dst4: p.dst4,
        src6: [p.s0, p.s1, p.s2, p.s3],
        dst6: [p.d0, p.d1, p.d2, p.d3],
        srcPort: p.srcPort,
        dstPort: p.dstPort,
        ttl: f[p.family === 4 ? 22 : 21]!,
        df: p.family === 4 && (f[20]! & 0x40) !== 0,
      });
      const mine = new Uint8Array(t.hdrLen + payload.byteLength);
      mine.set(payload, t.hdrLen);
      t.write(mine, 0, payload.byteLength, p.family === 4 ? (f[18]! << 8) | f[19]! : 0);
      expect(hexOf(mine)).toBe(hexOf(f.subarray(0, p.ipEnd)));
    }
    expect(r.stats.reassembled).toBe(2);
    const want = [...sizes4.map((n, i) => ({ family: 4, n, i })), ...sizes6.map((n, i) => ({ family: 6, n, i }))];
    expect(whole.length).toBe(want.length);
    for (const w of want) {
      const match = whole.find((x) => x.family === w.family && sha(x.payload) === sha(pattern(w.n, w.i)));
      expect(match, `IPv${w.family} datagram ${w.i} (${w.n} bytes)`).toBeDefined();
    }
  }, 30_000);

  test("us → kernel: the kernel takes every datagram we build (and reassembles our fragments), refuses spoiled checksums", async () => {
    const path = abstractName();
    // a raw memif peer that keeps every frame the UDP socket sends
    using ms = new MemifSocket(path);
    using raw = ms.port({ role: "server", bufferSize: 2048 });
    using rawRx = raw.rxQueue(0);
    const frames: Uint8Array[] = [];
    const common = { socket: path, mac: ns.macA, nextHopMac: ns.macB, bufferSize: 2048 };
    // the IPv6 socket is on interface id 1: its own raw port
    using raw6 = ms.port({ id: 1, role: "server", bufferSize: 2048 });
    using raw6Rx = raw6.rxQueue(0);
    const s4 = await udpSocket({ hostname: ns.ip4a, port: 4444, memif: common });
    const s6 = await udpSocket({ hostname: ns.ip6a, port: 6666, memif: { ...common, id: 1 } });

    const sizes4 = [0, 1, 100, 1472, 1473, 3000, 20000];
    const sizes6 = [0, 19, 1452, 1453, 3000, 9000];
    for (const [i, n] of sizes4.entries()) expect(s4.send(pattern(n, i), 7777, ns.ip4b)).toBe(true);
    for (const [i, n] of sizes6.entries()) expect(s6.send(pattern(n, 100 + i), 7777, ns.ip6b)).toBe(true);
    // one buffer of the sender's own, rewritten and sent from again and again (from its second
    // send on, the transmitter copies and sums it word by word), at an odd offset once
    const own = new Uint8Array(4096);
    const reused = [64, 65, 1472, 101, 0, 3000, 64, 63];
    const ownAt = (j: number) => (j === 7 ? 3 : 2);
    for (const [j, n] of reused.entries()) {
      own.set(pattern(n, 200 + j), ownAt(j));
      expect(s4.sendView(own, ownAt(j), n, 7777, ns.ip4b)).toBe(true);
    }
    s4.flush();
    s6.flush();
    const b = new Batch(64);
    const deadline = performance.now() + 5000;
    const want = s4.stats().txFrames + s6.stats().txFrames;
    while (frames.length < want && performance.now() < deadline) {
      for (const q of [rawRx, raw6Rx]) {
        const n = q.rxBurst(b);
        for (let i = 0; i < n; i = b.packetEnd(i)) frames.push(b.copyPacket(i));
      }
      await Bun.sleep(5);
    }
    expect(frames.length).toBe(want);

    // two more, spoiled: the last byte of a whole IPv4 and a whole IPv6 datagram flipped
    const spoil = (f: Uint8Array) => {
      const c = f.slice();
      c[c.length - 1] = c[c.length - 1]! ^ 0xff;
      return c;
    };
    const p = new Parsed();
    const whole4 = frames.find(
      (f) => parseFrame(f, 0, f.byteLength, false, p) === P_UDP && p.family === 4 && p.payloadLen === 100,
    )!;
    const whole6 = frames.find(
      (f) => parseFrame(f, 0, f.byteLength, false, p) === P_UDP && p.family === 6 && p.payloadLen === 19,
    )!;
    const bad = [spoil(whole4), spoil(whole6)];

    const before = JSON.parse(ns.run(ns.b, ["python3", KERNEL_PY, "csum-errors"]));
    // reads on until idle: the kernel finds (and counts) a bad checksum when a read reaches it
    const total = sizes4.length + sizes6.length + reused.length + bad.length;
    const recv = ns.py(ns.b, ["recv", "::", "7777", String(total), "10", "0.5"]);
    await recv.waitFor(/^ready/);
    const inj = ns.py(ns.a, ["inject", ns.va], "pipe");
    const stdin = inj.proc.stdin as import("bun").FileSink;
    for (const f of [...frames, ...bad]) stdin.write(hexOf(f) + "\n");
    await stdin.end();
    await inj.waitFor(/^injected/);
    await recv.waitFor(/^done/, 15_000);
    // Both spoiled datagrams reached the (dual-stack) socket and were refused by the kernel at
    // the read: counted in InCsumErrors (a v4 one on a v6 socket may count as either family).
    const after = JSON.parse(ns.run(ns.b, ["python3", KERNEL_PY, "csum-errors"]));
    const spoiled = (c: { ipv4: number; ipv6: number }) => c.ipv4 + c.ipv6 - before.ipv4 - before.ipv6;

    const rows = recv.json<{ src: string; port: number; len: number; sha: string }>();
    const expected = [
      ...sizes4.map((n, i) => ({ src: `::ffff:${ns.ip4a}`, port: 4444, len: n, sha: sha(pattern(n, i)) })),
      ...sizes6.map((n, i) => ({ src: ns.ip6a, port: 6666, len: n, sha: sha(pattern(n, 100 + i)) })),
      ...reused.map((n, j) => ({ src: `::ffff:${ns.ip4a}`, port: 4444, len: n, sha: sha(pattern(n, 200 + j)) })),
    ];
    // by content, then sender (empty payloads share a hash)
    const order = (x: { sha: string; src: string }, y: { sha: string; src: string }) =>
      x.sha.localeCompare(y.sha) || x.src.localeCompare(y.src);
    expect(rows.sort(order)).toEqual(expected.sort(order));
    expect(spoiled(after)).toBe(2);
    expect(s4.stats()).toMatchObject({ tx: sizes4.length + reused.length, refused: 0, lostOnDisconnect: 0 });
    expect(s6.stats()).toMatchObject({ tx: sizes6.length, refused: 0 });
    s4.close();
    s6.close();
  }, 30_000);
});
