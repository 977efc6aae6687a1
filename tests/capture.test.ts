/**
 * pcapng capture: a client port captured whole (tx0 and rx0) while 1000 packets, 9000-byte chains
 * among them, go to an echo server in another process and come back. The file is read back two
 * ways, every byte compared: with a pcapng parser written here (blocks, interfaces, nanosecond
 * resolution, lengths) and with Debian's `tcpdump -r`. Then a queue's capture with snaplen and
 * limit into a WritableStream, and a writer slower than the link: capture records are dropped and
 * counted, packets never. The `zmemif capture` command as the echoing server of `zmemif ping`
 * (queue 0, then --queue 1 on both), and as a client of dpdk-testpmd sending (txonly) on two
 * queues with --queue 1; a queue the connection does not have is a usage error (exit 2).
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Batch, MemifSocket, type RxQueue } from "../ts/index.ts";
import { Proc } from "../support/proc.ts";
import { abstractName, cleanupDirs, echoClient, echoPort, socketPath } from "./helpers/peers.ts";
import { Testpmd, uniqueAbstract } from "../support/testpmd.ts";

interface Pcap {
  interfaces: { linktype: number; snaplen: number; name: string; tsresol: number }[];
  packets: { iface: number; ns: bigint; data: Uint8Array; original: number }[];
}

/** A pcapng reader for what the test needs: SHB, IDB (if_name, if_tsresol), EPB; little-endian. */
function parsePcapng(buf: Uint8Array): Pcap {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Pcap = { interfaces: [], packets: [] };
  let at = 0;
  let first = true;
  while (at < buf.byteLength) {
    const type = v.getUint32(at, true);
    const len = v.getUint32(at + 4, true);
    if (len % 4 !== 0 || len < 12 || at + len > buf.byteLength) throw new Error(`bad block length ${len} at ${at}`);
    if (v.getUint32(at + len - 4, true) !== len) throw new Error(`trailing length differs at ${at}`);
    if (first) {
      if (type !== 0x0a0d0d0a || v.getUint32(at + 8, true) !== 0x1a2b3c4d) throw new Error("no SHB first");
      expect(v.getUint16(at + 12, true)).toBe(1);
      first = false;
    } else if (type === 1) {
      const iface = { linktype: v.getUint16(at + 8, true), snaplen: v.getUint32(at + 12, true), name: "", tsresol: 6 };
      let o = at + 16;
      while (o < at + len - 4) {
        const code = v.getUint16(o, true);
        const olen = v.getUint16(o + 2, true);
        if (code === 0) break;
        const val = buf.subarray(o + 4, o + 4 + olen);
        if (code === 2) iface.name = new TextDecoder().decode(val);
        if (code === 9) iface.tsresol = val[0]!;
        o += 4 + ((olen + 3) & ~3);
      }
      out.interfaces.push(iface);
    } else if (type === 6) {
      const captured = v.getUint32(at + 20, true);
      out.packets.push({
        iface: v.getUint32(at + 8, true),
        ns: (BigInt(v.getUint32(at + 12, true)) << 32n) | BigInt(v.getUint32(at + 16, true)),
        data: buf.slice(at + 28, at + 28 + captured),
        original: v.getUint32(at + 24, true),
      });
    } else {
      throw new Error(`unexpected block type ${type}`);
    }
    at += len;
  }
  return out;
}

/** Frame i: an Ethernet header (ethertype 0x88B5), then i and a pattern; sizes cycle, 9000 included. */
const SIZES = [64, 1500, 9000, 60, 2049, 128, 9000, 300];
function frame(i: number): Uint8Array {
  const f = new Uint8Array(SIZES[i % SIZES.length]!);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  new DataView(f.buffer).setUint32(14, i);
  for (let k = 18; k < f.length; k++) f[k] = (i * 7 + k) & 0xff;
  return f;
}

async function receive(rx: RxQueue, n: number, timeoutMs = 20_000): Promise<Uint8Array[]> {
  const batch = new Batch(64);
  const got: Uint8Array[] = [];
  const deadline = performance.now() + timeoutMs;
  while (got.length < n) {
    const k = rx.rxBurst(batch);
    for (let i = 0; i < k; i = batch.packetEnd(i)) got.push(batch.copyPacket(i));
    if (k === 0) {
      if (performance.now() > deadline) throw new Error(`received ${got.length} of ${n}`);
      await Promise.race([rx.readable(), Bun.sleep(20)]);
    }
  }
  rx.release();
  return got;
}

afterAll(cleanupDirs);

let testpmd: Testpmd | null = null;
afterEach(async () => {
  await testpmd?.kill();
  testpmd = null;
});

const CLI = join(import.meta.dir, "..", "ts", "cli", "bun.ts");

/** The zmemif command in its own process (killed after 30 s). */
async function zmemif(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

test("port.capture: 1000 packets out and back (9000-byte chains), read back by a parser and by tcpdump -r", async () => {
  await using echo = await echoPort();
  const { port } = echo;
  const file = join(dirname(socketPath()), "link.pcapng");
  const cap = port.capture(file); // before the queues open: they are recorded from their start
  using tx = port.txQueue(0);
  using rx = port.rxQueue(0);
  const N = 1000;
  const sent = Array.from({ length: N }, (_, i) => frame(i));
  const back: Uint8Array[] = [];
  for (let i = 0; i < N; i += 50) {
    for (let k = i; k < i + 50; k++) await tx.send(sent[k]!, { timeoutMs: 5000 });
    back.push(...(await receive(rx, 50)));
  }
  const st = await cap.close();
  expect(st).toMatchObject({ packets: 2 * N, dropped: 0 });

  const bytes = new Uint8Array(readFileSync(file));
  expect(st.bytesWritten).toBe(bytes.byteLength);
  const p = parsePcapng(bytes);
  expect(p.interfaces.map((i) => i.name).sort()).toEqual(["rx0", "tx0"]);
  for (const i of p.interfaces) expect(i).toMatchObject({ linktype: 1, snaplen: 65535, tsresol: 9 });
  const txIf = p.interfaces.findIndex((i) => i.name === "tx0");
  const rxIf = p.interfaces.findIndex((i) => i.name === "rx0");
  const txp = p.packets.filter((q) => q.iface === txIf);
  const rxp = p.packets.filter((q) => q.iface === rxIf);
  expect([txp.length, rxp.length]).toEqual([N, N]);
  for (let i = 0; i < N; i++) {
    expect(back[i]).toEqual(sent[i]!); // the echo itself
    expect(txp[i]!.data).toEqual(sent[i]!); // every byte recorded as sent ...
    expect(txp[i]!.original).toBe(sent[i]!.length);
    expect(rxp[i]!.data).toEqual(sent[i]!); // ... and as received
  }
  // Nanosecond wall-clock timestamps, in order per interface, within this test's run.
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  for (const list of [txp, rxp]) {
    for (let i = 1; i < list.length; i++) expect(list[i]!.ns >= list[i - 1]!.ns).toBe(true);
    expect(nowNs - list[0]!.ns < 120_000_000_000n && list[0]!.ns <= nowNs + 1_000_000_000n).toBe(true);
  }

  // Debian's tcpdump reads the file: 2000 packets, each with its length; the hex of two compared.
  const td = Bun.spawnSync(["tcpdump", "-r", file, "-nn", "-e", "-tt", "--time-stamp-precision=nano"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(td.exitCode).toBe(0);
  // One line per packet (a timestamp first); tcpdump adds hex lines for an unknown ethertype.
  const lines = td.stdout
    .toString()
    .split("\n")
    .filter((l) => /^\d+\.\d{9} /.test(l));
  expect(lines.length).toBe(2 * N);
  // tcpdump shows the nanosecond timestamps as recorded.
  expect(lines[0]!.split(" ")[0]).toBe(
    `${p.packets[0]!.ns / 1_000_000_000n}.${String(p.packets[0]!.ns % 1_000_000_000n).padStart(9, "0")}`,
  );
  expect(lines.filter((l) => l.includes("ethertype Unknown (0x88b5), length 9000")).length).toBe(
    2 * sent.filter((f) => f.length === 9000).length,
  );
  const hex = Bun.spawnSync(["tcpdump", "-r", file, "-nn", "-xx", "-c", "3"], { stdout: "pipe" }).stdout.toString();
  const dumped = hex
    .split("\n")
    .filter((l) => /^\s+0x[0-9a-f]{4}:/.test(l))
    .map((l) => l.replace(/^\s+0x[0-9a-f]{4}:\s+/, "").replace(/\s+/g, ""))
    .join("");
  const firstThree = [...p.packets.slice(0, 3)].map((q) => Buffer.from(q.data).toString("hex")).join("");
  expect(dumped).toBe(firstThree);
}, 60_000);

test("queue.capture with snaplen and limit into a WritableStream; a slow writer drops records, not packets", async () => {
  await using echo = await echoClient();
  const { tx, rx } = echo;

  const chunks: Uint8Array[] = [];
  const cap = rx.capture(new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c.slice()) }), {
    snaplen: 100,
    limit: 10,
  });
  expect(() => rx.capture(new WritableStream())).toThrow(/already captured/);
  for (let i = 0; i < 30; i++) await tx.send(frame(i));
  await receive(rx, 30);
  expect(cap.closed).toBe(true); // the limit closed it
  const st = await cap.close();
  expect(st).toMatchObject({ packets: 10, dropped: 0 });
  const p = parsePcapng(Buffer.concat(chunks));
  expect(p.interfaces).toEqual([{ linktype: 1, snaplen: 100, name: "rx0", tsresol: 9 }]);
  expect(p.packets.length).toBe(10);
  for (let i = 0; i < 10; i++) {
    const f = frame(i);
    expect(p.packets[i]!.original).toBe(f.length);
    expect(p.packets[i]!.data).toEqual(f.subarray(0, Math.min(100, f.length)));
  }

  // A writer that takes 100 ms per write, 64 KiB of room: records are dropped and counted, and
  // every packet still goes out and comes back.
  const slow = rx.capture(new WritableStream<Uint8Array>({ write: () => Bun.sleep(100) }), { bufferBytes: 65536 });
  const N = 200;
  let got = 0;
  for (let i = 0; i < N; i += 20) {
    for (let k = i; k < i + 20; k++) await tx.send(frame(2)); // 9000 bytes each
    got += (await receive(rx, 20)).length;
  }
  expect(got).toBe(N);
  const ss = await slow.close();
  expect(ss.dropped).toBeGreaterThan(0);
  expect(ss.packets + ss.dropped).toBe(N);
  expect(rx.stats().packets).toBe(30 + N);
}, 60_000);

test("capture: bad options say what to do", async () => {
  using s = new MemifSocket(abstractName());
  using port = s.port({ role: "server" });
  using rx = port.rxQueue(0);
  expect(() => rx.capture("/tmp/x.pcapng", { snaplen: 0 })).toThrow(/snaplen must be an integer in 1..65535/);
  expect(() => rx.capture("/tmp/x.pcapng", { limit: -1 })).toThrow(/limit must be a positive integer/);
  expect(() => rx.capture("")).toThrow(/give a file path or a WritableStream/);
  const c = rx.capture(new WritableStream());
  expect(() => port.capture(new WritableStream())).toThrow(/already captured/);
  await c.close();
});

/**
 * `zmemif capture SOCKET --role server --echo ...capture` and `zmemif ping SOCKET ...ping` against
 * it, both in their own process; both must exit 0. What capture printed.
 */
async function captureOfPing(where: string, capture: string[], ping: string[]): Promise<string> {
  const cap = new Proc([process.execPath, CLI, "capture", where, "--role", "server", "--echo", ...capture]);
  await cap.waitFor(/^waiting for a memif client/);
  const pinger = new Proc([process.execPath, CLI, "ping", where, ...ping]);
  const output = () =>
    `ping:\n${pinger.lines.join("\n")}\n${pinger.stderr}\ncapture:\n${cap.lines.join("\n")}\n${cap.stderr}`;
  expect(await pinger.finished, output()).toBe(0);
  expect(await cap.finished, output()).toBe(0);
  return cap.lines.join("\n");
}

test("zmemif capture --echo as the server of zmemif ping: both directions recorded, every byte the same", async () => {
  const where = abstractName();
  const file = join(dirname(socketPath()), "cli.pcapng");
  const said = await captureOfPing(
    where,
    ["--write", file, "--count", "20"],
    ["--count", "10", "--interval", "5", "--size", "3000"],
  );
  expect(said).toContain(`20 packets recorded to ${file}`);
  expect(said).toContain("0 records dropped");
  const p = parsePcapng(new Uint8Array(readFileSync(file)));
  const rx = p.packets.filter((q) => p.interfaces[q.iface]!.name === "rx0");
  const tx = p.packets.filter((q) => p.interfaces[q.iface]!.name === "tx0");
  expect([rx.length, tx.length]).toEqual([10, 10]);
  for (let i = 0; i < 10; i++) {
    expect(rx[i]!.data.length).toBe(3000);
    expect(tx[i]!.data).toEqual(rx[i]!.data);
    expect(new DataView(rx[i]!.data.buffer).getUint32(26)).toBe(i); // ping's sequence number
  }
}, 30_000);

test("zmemif capture --queue 1 --echo as the server of zmemif ping --queue 1: recorded as rx1 and tx1", async () => {
  const where = abstractName();
  const file = join(dirname(socketPath()), "cli-q1.pcapng");
  const said = await captureOfPing(
    where,
    ["--queue", "1", "--write", file, "--count", "10"],
    ["--queue", "1", "--count", "5", "--interval", "5"],
  );
  expect(said).toContain(`capturing on ${where} id 0 queue 1 (peer "zmemif-ping")`);
  const p = parsePcapng(new Uint8Array(readFileSync(file)));
  expect(p.interfaces.map((i) => i.name).sort()).toEqual(["rx1", "tx1"]);
  const rx = p.packets.filter((q) => p.interfaces[q.iface]!.name === "rx1");
  const tx = p.packets.filter((q) => p.interfaces[q.iface]!.name === "tx1");
  expect([rx.length, tx.length]).toEqual([5, 5]);
  for (let i = 0; i < 5; i++) {
    expect(tx[i]!.data).toEqual(rx[i]!.data);
    expect(new DataView(rx[i]!.data.buffer).getUint32(26)).toBe(i); // ping's sequence number
  }
}, 30_000);

test("zmemif capture --queue 1 as a client of dpdk-testpmd sending on 2 queues (txonly); --queue 2 is out of range (2)", async () => {
  const socket = uniqueAbstract("capture-q1");
  const where = "abstract" in socket ? `@${socket.abstract}` : socket.path;
  // interactive: it sends once capture is connected (a 22.11 server with two queue pairs that
  // forwards while a client connects may die of it: support/testpmd.ts)
  testpmd = await Testpmd.start({
    role: "server",
    socket,
    mode: "txonly",
    queues: 2,
    txPktLen: 100,
    interactive: true,
    name: "capture-q1",
  });
  const file = join(dirname(socketPath()), "testpmd-q1.pcapng");
  const capturing = zmemif(["capture", where, "--queue", "1", "--write", file, "--count", "20"]);
  await testpmd.linkUp(10_000);
  await testpmd.command("start");
  const r = await capturing;
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain(`capturing on ${where} id 0 queue 1 (peer "net_memif0")`);
  expect(r.stdout).toContain(`20 packets recorded to ${file}`);
  const p = parsePcapng(new Uint8Array(readFileSync(file)));
  expect(p.interfaces.map((i) => i.name).sort()).toEqual(["rx1", "tx1"]);
  expect(p.packets.length).toBe(20);
  for (const q of p.packets) {
    expect(p.interfaces[q.iface]!.name).toBe("rx1");
    expect([q.original, q.data.length]).toEqual([100, 100]); // testpmd's --txpkts
  }

  // capture left while testpmd sent, which a 22.11 testpmd may not survive (support/testpmd.ts):
  // the refusal comes from a testpmd of its own.
  await testpmd.kill();
  const socket2 = uniqueAbstract("capture-q2");
  const where2 = "abstract" in socket2 ? `@${socket2.abstract}` : socket2.path;
  testpmd = await Testpmd.start({ role: "server", socket: socket2, mode: "txonly", queues: 2, name: "capture-q2" });
  const out = await zmemif(["capture", where2, "--queue", "2", "--write", file]);
  expect(out.code, out.stdout + out.stderr).toBe(2);
  // DPDK's HELLO offers 255 queues; it refuses a ring index past its count at ADD_RING.
  expect(out.stderr).toContain(
    `zmemif capture: --queue 2 is out of range: the memif server on ${where2} refused 3 queues each way ` +
      '("Invalid ring index"), so it has 2 or fewer and --queue takes at most 1.',
  );
}, 60_000);
