/**
 * Two processes over memif: the UDP echo service (examples/udp_echo.ts, run as a user would, as
 * memif server) and a zmemif UDP client in this process. Every datagram, from 1 byte to 9000
 * (fragmented by the client, reassembled by the echo, fragmented again on the way back), comes
 * back intact from the right address and port; the echo's counters show nothing dropped. Once
 * per socket shape (Bun-style data handler, zero-copy batch handler, node:dgram) and in memif IP
 * mode.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { udpSocket, type UdpSocket } from "../ts/index.ts";
import { Proc } from "./helpers/netns.ts";
import { abstractName } from "./helpers/peers.ts";
import { bytes, CLIENT4, CLIENT_MAC, HOST4, HOST_MAC } from "./helpers/udp_raw.ts";

const ECHO = join(import.meta.dir, "..", "examples", "udp_echo.ts");
const running: Proc[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

function echoService(args: string[]): Proc {
  const p = new Proc([process.execPath, ECHO, ...args]);
  running.push(p);
  return p;
}

/** Sends `sizes` datagrams (at most `window` unanswered), returns the replies by sequence number. */
async function exchange(
  s: UdpSocket<"buffer">,
  replies: Map<number, Uint8Array>,
  sizes: number[],
  ports: number[],
): Promise<void> {
  const window = 16;
  for (let i = 0; i < sizes.length; i++) {
    const deadline = performance.now() + 5000;
    while (i - replies.size >= window) {
      if (performance.now() > deadline) throw new Error(`no replies: ${replies.size} of ${i} back`);
      await Bun.sleep(1);
    }
    const b = bytes(Math.max(4, sizes[i]!), i);
    new DataView(b.buffer).setUint32(0, i);
    while (!s.send(b.subarray(0, Math.max(sizes[i]!, 4)), ports[i % ports.length]!, HOST4)) await s.writable(5000);
  }
  const deadline = performance.now() + 5000;
  while (replies.size < sizes.length && performance.now() < deadline) await Bun.sleep(2);
}

for (const [api, mode] of [
  ["data", "ethernet"],
  ["batch", "ethernet"],
  ["dgram", "ethernet"],
  ["batch", "ip"],
] as const) {
  test(`echo service (${api} api, ${mode} mode) in another process answers every datagram intact`, async () => {
    const path = abstractName();
    const echo = echoService([
      "--role",
      "server",
      "--host",
      HOST4,
      "--ports",
      "5000-5001",
      "--api",
      api,
      "--mode",
      mode,
      path,
      "0",
    ]);
    const replies = new Map<number, Uint8Array>();
    const wrong: string[] = [];
    const s = await udpSocket({
      hostname: CLIENT4,
      port: 40000,
      memif: { socket: path, connectTimeoutMs: 10_000, mode, mac: CLIENT_MAC, nextHopMac: HOST_MAC },
      socket: {
        data(_s, data, port, address) {
          if (address !== HOST4 || (port !== 5000 && port !== 5001)) wrong.push(`${address}:${port}`);
          replies.set(data.readUInt32BE(0), data.slice());
        },
      },
    });
    try {
      await echo.waitFor(/^listening/);
      const sizes = [4, 5, 63, 64, 100, 511, 1024, 1472, 1473, 2000, 4000, 9000];
      for (let i = 0; i < 300; i++) sizes.push(4 + ((i * 97) % 1469));
      await exchange(s, replies, sizes, [5000, 5001]);
      expect(wrong).toEqual([]);
      expect(replies.size).toBe(sizes.length);
      for (let i = 0; i < sizes.length; i++) {
        const want = bytes(Math.max(4, sizes[i]!), i);
        new DataView(want.buffer).setUint32(0, i);
        expect(replies.get(i), `datagram ${i} (${sizes[i]} bytes)`).toEqual(want);
      }
      const st = s.stats();
      expect(st).toMatchObject({ badChecksum: 0, truncated: 0, malformed: 0, notForUs: 0, lostOnDisconnect: 0 });
      expect(st.rx).toBe(sizes.length);
      expect(st.reassembled).toBe(4); // 1473, 2000, 4000 and 9000 bytes come back in fragments
    } finally {
      s.close();
    }
    echo.proc.kill("SIGTERM");
    await echo.finished;
    const counters = JSON.parse(echo.lines.find((l) => l.startsWith("{"))!);
    expect(echo.lines).toContain(`echoed ${replies.size} datagrams`);
    expect(counters).toMatchObject({
      badChecksum: 0,
      truncated: 0,
      notForUs: 0,
      fragmentsDropped: 0,
      reassembled: 4,
      lostOnDisconnect: 0,
    });
  }, 30_000);
}

test("udp_echo documents itself and names what is wrong with a bad argument", async () => {
  const help = echoService(["--help"]);
  expect(await help.finished).toBe(0);
  expect(help.lines[0]).toBe("usage: bun examples/udp_echo.ts [options]");
  expect(help.lines.join("\n")).toContain("--ports");
  const bad = echoService(["--api", "tcp", "@x"]);
  expect(await bad.finished).toBe(2);
  expect(bad.stderr).toContain("--api must be one of data, batch, dgram");
});
