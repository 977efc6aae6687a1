/**
 * The zmemif UDP socket over a real memif connection, its peer a raw memif port in the same
 * process that plays the forwarder: it sends crafted frames and checks every frame the socket
 * sends. Covers: learning MACs and echoing; truncated / bad-checksum / foreign frames counted
 * and dropped; fragments reassembled, timed out, bounded, and our own fragmented sends; memif
 * IP mode; IPv6; backpressure (every send reported true arrives, in order, none lost), drain and
 * writable(); a disconnect; demultiplexing, connected sockets, the batch API, node:dgram shape;
 * the errors a user can act on.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { udpSocket, createSocket, UdpError, type UdpSocket, type UdpSocketHandler } from "../ts/index.ts";
import { formatMac } from "../ts/udp/addr.ts";
import { P_FRAGMENT, P_UDP, Parsed, parseFrame, parseUdp, udpChecksumOk } from "../ts/udp/headers.ts";
import { Reassembler } from "../ts/udp/reassembly.ts";
import { abstractName } from "./helpers/peers.ts";
import {
  bytes,
  CLIENT4,
  CLIENT6,
  CLIENT_MAC,
  fragments,
  frame,
  HOST4,
  HOST6,
  HOST_MAC,
  RawPeer,
} from "./helpers/udp_raw.ts";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) {
    try {
      c();
    } catch {
      // already closed
    }
  }
});

function peer(path: string, o: ConstructorParameters<typeof RawPeer>[1] = {}): RawPeer {
  const p = new RawPeer(path, o);
  cleanup.push(() => p.close());
  return p;
}

async function echo(
  path: string,
  extra: {
    hostname?: string;
    port?: number;
    memif?: Record<string, unknown>;
    handler?: UdpSocketHandler<"buffer">;
  } = {},
): Promise<{ s: UdpSocket<"buffer">; got: { data: Uint8Array; port: number; address: string; ipv6: boolean }[] }> {
  const got: { data: Uint8Array; port: number; address: string; ipv6: boolean }[] = [];
  const s = await udpSocket({
    hostname: extra.hostname ?? HOST4,
    port: extra.port ?? 5000,
    memif: { socket: path, connectTimeoutMs: 5000, ...extra.memif },
    socket: extra.handler ?? {
      data(s, data, port, address, flags) {
        got.push({ data: data.slice(), port, address, ipv6: flags.ipv6 });
        s.send(data, port, address);
      },
    },
  });
  cleanup.push(() => s.close());
  return { s, got };
}

/** Parses a frame the socket sent; checks its checksums. */
function parsed(f: Uint8Array, ipMode = false): Parsed {
  const p = new Parsed();
  expect(parseFrame(f, 0, f.byteLength, ipMode, p)).toBe(P_UDP);
  expect(udpChecksumOk(f, p)).toBe(true);
  return p;
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error("timed out waiting");
    await Bun.sleep(2);
  }
}

describe("receive and reply", () => {
  test("learns both MACs and the source address from the first datagram and echoes it", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { s, got } = await echo(path); // no mac, no nextHopMac, no neighbours
    await raw.send(frame(bytes(100, 1)));
    const [reply] = await raw.receive(1);
    const p = parsed(reply!);
    expect(formatMac(p.dstMac)).toBe(CLIENT_MAC);
    expect(formatMac(p.srcMac)).toBe(HOST_MAC);
    expect([p.src4, p.dst4, p.srcPort, p.dstPort]).toEqual([0xc0000201, 0xc6336409, 5000, 40000]);
    expect(reply!.subarray(p.payload, p.payload + p.payloadLen)).toEqual(bytes(100, 1));
    expect(got).toEqual([{ data: bytes(100, 1), port: 40000, address: CLIENT4, ipv6: false }]);
    expect(s.stats()).toMatchObject({ frames: 1, delivered: 1, rx: 1, rxBytes: 100, tx: 1, txBytes: 100, txFrames: 1 });
  });

  test("truncated, malformed, bad-checksum and foreign frames are counted and dropped; good ones still pass", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { s, got } = await echo(path);
    const good = () => frame(bytes(40, 2));
    const bad: [keyof ReturnType<typeof s.stats>, Uint8Array][] = [];
    bad.push(["truncated", good().subarray(0, 12)]); // not even Ethernet
    bad.push(["truncated", good().subarray(0, 30)]); // half an IPv4 header
    bad.push(["truncated", good().subarray(0, 60)]); // IP total length says more
    let f = good();
    f[14] = 0x43; // IHL 3
    bad.push(["malformed", f]);
    f = good();
    f[22] = f[22]! ^ 0x10; // TTL changed under the IPv4 header checksum
    bad.push(["badChecksum", f]);
    f = good();
    f[f.length - 1] = f[f.length - 1]! ^ 1; // one payload bit: the UDP checksum
    bad.push(["badChecksum", f]);
    f = frame(bytes(40, 2), { family: 6, src: CLIENT6, dst: HOST6 });
    f[f.length - 5] = f[f.length - 5]! ^ 0x80;
    bad.push(["notForUs", f]); // IPv6 to an IPv4-only socket: not for us (its checksum is not looked at)
    bad.push(["notForUs", frame(bytes(8), { dstPort: 5001 })]); // no socket on that port
    bad.push(["notForUs", frame(bytes(8), { dst: "192.0.2.99" })]); // another address
    f = good();
    f[12] = 0x08;
    f[13] = 0x06;
    bad.push(["notForUs", f]); // ARP: the kernel's
    for (const [, fr] of bad) await raw.send(fr);
    await raw.send(good());
    await until(() => got.length === 1);
    await Bun.sleep(20);
    const st = s.stats();
    expect(st).toMatchObject({
      frames: bad.length + 1,
      delivered: 1,
      truncated: 3,
      malformed: 1,
      badChecksum: 2,
      notForUs: 4,
      rx: 1,
    });
    expect(got.length).toBe(1);
    expect((await raw.receive(1)).length).toBe(1);
  });

  test("a run of one flow (the fast path): spoiled frames between good ones are counted as the full path counts them", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { s, got } = await echo(path);
    const other = await echo(path, { port: 6000 });
    const good = (n: number, seed: number, id: number) => frame(bytes(n, seed), {}, id);
    const run: Uint8Array[] = [good(40, 1, 1)];
    let f = good(40, 2, 2);
    f[f.length - 1] = f[f.length - 1]! ^ 1; // a payload bit under the UDP checksum
    run.push(f, good(41, 3, 3)); // an odd payload: its last byte is summed alone
    f = good(41, 4, 4);
    f[f.length - 1] = f[f.length - 1]! ^ 0x80;
    run.push(f, good(40, 5, 5));
    f = good(40, 6, 6);
    f[19] = f[19]! ^ 1; // the IPv4 id (a word that varies) changed under the header checksum
    run.push(f, good(40, 7, 7));
    run.push(good(40, 8, 8).subarray(0, 60), good(40, 9, 9)); // the IP total length says more
    f = good(40, 10, 10);
    f[39] = f[39]! + 2; // the UDP length says more than the IP datagram holds
    run.push(f, good(40, 11, 11));
    f = good(40, 12, 12);
    f[22] = f[22]! ^ 0x10; // the TTL (a fixed word) changed: the full path
    run.push(f, good(40, 13, 13));
    f = good(40, 14, 14);
    f[40] = 0; // no UDP checksum: IPv4 allows it
    f[41] = 0;
    run.push(f, frame(bytes(40, 15), { srcPort: 40001 }, 15), good(40, 16, 16));
    // another source address (its high half shares a 32-bit word with the IPv4 checksum)
    const OTHER4 = "203.0.113.7";
    run.push(frame(bytes(40, 17), { src: OTHER4 }, 17), good(40, 18, 18));
    await raw.send(...run);
    const want = [1, 3, 5, 7, 9, 11, 13, 14, 15, 16, 17, 18];
    await until(() => got.length === want.length);
    expect(got.map((g) => g.data)).toEqual(want.map((k) => bytes(k === 3 ? 41 : 40, k)));
    expect(got.map((g) => g.port)).toEqual(want.map((k) => (k === 15 ? 40001 : 40000)));
    expect(got.map((g) => g.address)).toEqual(want.map((k) => (k === 17 ? OTHER4 : CLIENT4)));
    expect(s.stats()).toMatchObject({ frames: run.length, delivered: want.length, badChecksum: 4, truncated: 2 });
    expect((await raw.receive(want.length)).length).toBe(want.length);
    // the socket the flow went to is closed: the next frame of the flow is not for anyone
    s.close();
    await raw.send(good(40, 19, 19));
    await until(() => other.s.stats().notForUs === 1);
    expect(other.s.stats()).toMatchObject({ delivered: want.length, badChecksum: 4, truncated: 2 });
  });

  test("IPv6: learns, echoes, checks the (mandatory) checksum", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { s, got } = await echo(path, { hostname: HOST6 });
    await raw.send(frame(bytes(333, 3), { family: 6 }));
    const f6 = frame(bytes(10, 3), { family: 6 });
    f6[f6.length - 1] = f6[f6.length - 1]! ^ 4;
    await raw.send(f6);
    const [reply] = await raw.receive(1);
    const p = parsed(reply!);
    expect(p.family).toBe(6);
    expect(formatMac(p.dstMac)).toBe(CLIENT_MAC);
    expect(got).toEqual([{ data: bytes(333, 3), port: 40000, address: CLIENT6, ipv6: true }]);
    await until(() => s.stats().badChecksum === 1);
  });

  test("a socket bound to :: takes both families; 0.0.0.0 learns the address it answers from", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { got } = await echo(path, { hostname: "::" });
    await raw.send(frame(bytes(5, 4)), frame(bytes(6, 4), { family: 6 }));
    const replies = await raw.receive(2);
    expect(got.map((g) => g.address)).toEqual([CLIENT4, CLIENT6]);
    expect(replies.map((r) => parsed(r).family)).toEqual([4, 6]);
  });

  test("memif IP mode: bare IPv4 and IPv6 packets in and out", async () => {
    const path = abstractName();
    const raw = peer(path, { mode: "ip" });
    const { got } = await echo(path, { hostname: "::", memif: { mode: "ip" } });
    await raw.send(frame(bytes(50, 5), { ipMode: true }), frame(bytes(51, 5), { ipMode: true, family: 6 }));
    const replies = await raw.receive(2);
    expect(replies.length).toBe(2);
    const p4 = parsed(replies[0]!, true);
    expect([p4.family, p4.dst4, p4.payloadLen]).toEqual([4, 0xc6336409, 50]);
    expect(replies[0]![0]! >>> 4).toBe(4); // no Ethernet header
    expect(parsed(replies[1]!, true).family).toBe(6);
    expect(got.length).toBe(2);
  });

  test("two sockets on one memif port, by UDP port; a connected socket takes only its peer", async () => {
    const path = abstractName();
    const raw = peer(path);
    const a = await echo(path, { port: 5000 });
    const b = await echo(path, { port: 6000 });
    expect(b.s.memif).toBe(a.s.memif); // shared
    const seen: string[] = [];
    const c = await udpSocket({
      hostname: HOST4,
      port: 7000,
      connect: { hostname: CLIENT4, port: 40000 },
      memif: { socket: path, nextHopMac: CLIENT_MAC },
      socket: {
        data(sock, data, port, address) {
          seen.push(`${address}:${port}`);
          sock.send(data); // to the connected peer
        },
      },
    });
    cleanup.push(() => c.close());
    await raw.send(
      frame(bytes(1), { dstPort: 5000 }),
      frame(bytes(2), { dstPort: 6000 }),
      frame(bytes(3), { dstPort: 7000 }),
      frame(bytes(4), { dstPort: 7000, srcPort: 40001 }), // not the connected peer
    );
    const replies = (await raw.receive(3)).map((r) => parsed(r));
    expect(replies.map((p) => p.srcPort).sort()).toEqual([5000, 6000, 7000]);
    expect([a.got.length, b.got.length, seen]).toEqual([1, 1, [`${CLIENT4}:40000`]]);
    await until(() => c.stats().notForUs === 1);
    await expect(udpSocket({ hostname: HOST4, port: 5000, memif: { socket: path } })).rejects.toMatchObject({
      code: "EADDRINUSE",
    });
    await expect(udpSocket({ port: 5002, memif: { socket: path, mtu: 1000 } })).rejects.toMatchObject({
      code: "EINVAL",
    });
  });

  test("batch handler and sendView: a burst at a time, echoed ring to ring", async () => {
    const path = abstractName();
    const raw = peer(path);
    let bursts = 0;
    let datagrams = 0;
    await echo(path, {
      handler: {
        batch(s, d) {
          bursts++;
          for (let i = 0; i < d.count; i++) {
            datagrams++;
            expect(s.sendView(d.view(i), d.offset(i), d.length(i), d.port(i), d.address(i))).toBe(true);
          }
        },
      },
    });
    const sent = Array.from({ length: 100 }, (_, i) => frame(bytes(20 + i * 10, i), { srcPort: 30000 + i }));
    await raw.send(...sent);
    const replies = await raw.receive(100);
    expect(replies.length).toBe(100);
    for (const r of replies) {
      const p = parsed(r);
      const i = p.dstPort - 30000;
      expect(r.subarray(p.payload, p.payload + p.payloadLen)).toEqual(bytes(20 + i * 10, i));
    }
    expect(datagrams).toBe(100);
    expect(bursts).toBeLessThanOrEqual(100);
  });
});

describe("fragments", () => {
  test("reassembled out of order; the reply is fragmented by us and reassembles", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { s, got } = await echo(path);
    const big = bytes(4000, 6);
    const frs = fragments(big, 1480);
    expect(frs.length).toBe(3);
    await raw.send(frs[2]!, frs[0]!, frs[1]!);
    await until(() => got.length === 1);
    expect(got[0]!.data).toEqual(big);
    const replies = await raw.receive(3);
    const r = new Reassembler();
    const p = new Parsed();
    let whole: Uint8Array | null = null;
    for (const f of replies) {
      expect(parseFrame(f, 0, f.byteLength, false, p)).toBe(P_FRAGMENT);
      expect(f.byteLength).toBeLessThanOrEqual(1514);
      whole ??= r.add("x", p.fragOffset, p.fragMore, f, p.l4, p.ipEnd - p.l4);
    }
    expect(whole).not.toBeNull();
    expect(parseUdp(whole!, 0, whole!.byteLength, p)).toBe(P_UDP);
    expect(udpChecksumOk(whole!, p)).toBe(true);
    expect(whole!.subarray(8)).toEqual(big);
    expect(s.stats()).toMatchObject({ fragments: 3, reassembled: 1, tx: 1, txFrames: 3, reassemblyBytes: 0 });
  });

  test("IPv6 fragments reassemble too", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { got } = await echo(path, { hostname: HOST6 });
    const big = bytes(3001, 7);
    await raw.send(...fragments(big, 1232, { family: 6 }).reverse());
    await until(() => got.length === 1);
    expect(got[0]!.data).toEqual(big);
  });

  test("an incomplete datagram times out and its memory is freed; the bound holds; reassembly off drops", async () => {
    const path = abstractName();
    const raw = peer(path);
    const { s, got } = await echo(path, { memif: { reassembly: { timeoutMs: 150, maxBytes: 6000 } } });
    const frs = fragments(bytes(3000, 8), 1480, {}, 100);
    await raw.send(frs[0]!, frs[1]!); // never the last
    await until(() => s.stats().reassemblyBytes > 0);
    await until(() => s.stats().fragmentTimeouts === 1, 2000);
    expect(s.stats().reassemblyBytes).toBe(0);
    // five datagrams' first pieces: 1544 bytes each, new ones stop at 3/4 of 6000
    for (let id = 0; id < 5; id++) await raw.send(fragments(bytes(3000, id), 1480, {}, 200 + id)[0]!);
    await until(() => s.stats().fragments === 7);
    const st = s.stats();
    expect(st.reassemblyBytes).toBeLessThanOrEqual(6000);
    expect(st.fragmentsDropped).toBe(3);
    expect(got.length).toBe(0);

    const path2 = abstractName();
    const raw2 = peer(path2);
    const off = await echo(path2, { memif: { reassembly: false } });
    await raw2.send(...fragments(bytes(2000, 9), 1480));
    await until(() => off.s.stats().fragmentsDropped === 2);
    expect(off.got.length).toBe(0);
  });
});

describe("transmit", () => {
  test("backpressure: sends refused when the ring is full, drain when it empties, nothing reported sent is lost", async () => {
    const path = abstractName();
    const raw = peer(path);
    let drains = 0;
    const s = await udpSocket({
      hostname: HOST4,
      port: 5000,
      memif: { socket: path, ringSize: 64, mac: HOST_MAC, nextHopMac: CLIENT_MAC },
      socket: { drain: () => void drains++ },
    });
    cleanup.push(() => s.close());
    const seq = (i: number) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, i);
      return b;
    };
    let next = 0;
    let refused = 0;
    const received: number[] = [];
    const collect = () => {
      for (const f of raw.take()) {
        const p = parsed(f);
        received.push(new DataView(f.buffer, f.byteOffset + p.payload).getUint32(0));
      }
    };
    for (let round = 0; round < 5; round++) {
      // fill the ring until it refuses, then refuse a few more
      while (s.send(seq(next), 40000, CLIENT4)) next++;
      refused++; // the false that ended the loop
      for (let k = 0; k < 3; k++) {
        expect(s.send(seq(next), 40000, CLIENT4)).toBe(false);
        refused++;
      }
      expect(s.sendMany([seq(next), 40000, CLIENT4, seq(next + 1), 40000, CLIENT4])).toBe(0);
      refused++;
      const drained = drains;
      const w = s.writable(3000);
      collect(); // the peer reads: space again
      await w;
      await until(() => drains > drained);
    }
    s.flush();
    collect();
    expect(received.length).toBe(next); // every true send arrived ...
    expect(received).toEqual(Array.from({ length: next }, (_, i) => i)); // ... once, in order
    expect(next).toBeGreaterThanOrEqual(5 * 63);
    expect(s.stats()).toMatchObject({ tx: next, refused, refusedNotConnected: 0, lostOnDisconnect: 0 });
  });

  test("sendMany sends up to the first refusal and returns the count", async () => {
    const path = abstractName();
    peer(path);
    const s = await udpSocket({
      hostname: HOST4,
      memif: { socket: path, ringSize: 16, mac: HOST_MAC, nextHopMac: CLIENT_MAC },
    });
    cleanup.push(() => s.close());
    const list: (Uint8Array | number | string)[] = [];
    for (let i = 0; i < 40; i++) list.push(bytes(10, i), 40000, CLIENT4);
    expect(s.sendMany(list)).toBe(16);
    expect(s.stats()).toMatchObject({ tx: 16, refused: 1 });
  });

  test("a disconnect: sends return false (counted), drain runs once the peer is back", async () => {
    const path = abstractName();
    let raw = peer(path);
    let drains = 0;
    const s = await udpSocket({
      hostname: HOST4,
      memif: { socket: path, reconnectMs: 100, mac: HOST_MAC, nextHopMac: CLIENT_MAC },
      socket: { drain: () => void drains++ },
    });
    cleanup.push(() => s.close());
    expect(s.send(bytes(10), 40000, CLIENT4)).toBe(true);
    s.flush();
    expect((await raw.receive(1)).length).toBe(1);
    raw.close();
    await until(() => !s.memif.connected);
    expect(s.send(bytes(10), 40000, CLIENT4)).toBe(false);
    expect(s.stats()).toMatchObject({ refused: 1, refusedNotConnected: 1 });
    raw = peer(path);
    await until(() => drains === 1, 5000);
    expect(s.send(bytes(11), 40000, CLIENT4)).toBe(true);
    expect((await raw.receive(1)).length).toBe(1);
  });

  test("errors a user can act on", async () => {
    const path = abstractName();
    peer(path);
    const any = await udpSocket({ memif: { socket: path } }); // 0.0.0.0, nothing learned yet
    cleanup.push(() => any.close());
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(UdpError);
        return (e as UdpError).code;
      }
      return "no error";
    };
    expect(code(() => any.send("x", 1, CLIENT4))).toBe("EADDRNOTAVAIL"); // no source address yet
    const s = await udpSocket({ hostname: HOST4, port: 5000, memif: { socket: path } });
    cleanup.push(() => s.close());
    expect(code(() => s.send("x", 1, CLIENT4))).toBe("EHOSTUNREACH"); // never heard from, no nextHopMac
    const t = await udpSocket({
      hostname: HOST4,
      port: 5001,
      memif: { socket: path, neighbours: { [CLIENT4]: CLIENT_MAC } },
    });
    cleanup.push(() => t.close());
    expect(code(() => t.send("x", 1, CLIENT4))).toBe("EADDRNOTAVAIL"); // our MAC unknown
    expect(code(() => s.send("x", 1, "localhost"))).toBe("EINVAL");
    expect(code(() => s.send("x", 0, CLIENT4))).toBe("EINVAL");
    expect(code(() => s.send("x", 1, "224.0.0.1"))).toBe("ENOTSUP");
    expect(code(() => s.send("x", 1, HOST6))).toBe("EINVAL"); // IPv6 on an IPv4 socket
    expect(code(() => s.addMembership("224.0.0.1"))).toBe("ENOTSUP");
    const path2 = abstractName();
    peer(path2);
    const u = await udpSocket({
      hostname: HOST4,
      memif: { socket: path2, mac: HOST_MAC, nextHopMac: CLIENT_MAC, fragment: false },
    });
    cleanup.push(() => u.close());
    expect(code(() => u.send(new Uint8Array(1472), 1, CLIENT4))).toBe("no error");
    expect(code(() => u.send(new Uint8Array(1473), 1, CLIENT4))).toBe("EMSGSIZE");
    expect(code(() => u.send("x", 1, "255.255.255.255"))).toBe("EACCES");
    u.setBroadcast(true);
    expect(code(() => u.send("x", 1, "255.255.255.255"))).toBe("no error");
    const path3 = abstractName();
    peer(path3);
    const v = await udpSocket({
      hostname: HOST4,
      port: 9,
      memif: { socket: path3, mac: HOST_MAC, nextHopMac: CLIENT_MAC },
    });
    cleanup.push(() => v.close());
    expect(code(() => v.send(new Uint8Array(65508), 1, CLIENT4))).toBe("EMSGSIZE");
    expect(code(() => v.send(new Uint8Array(65507), 1, CLIENT4))).toBe("no error"); // 45 fragments
    await expect(udpSocket({ memif: {} as never })).rejects.toMatchObject({ code: "EINVAL" });
    await expect(udpSocket({ memif: { socket: abstractName(), connectTimeoutMs: 200 } })).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    v.close();
    expect(code(() => v.send("x", 1, CLIENT4))).toBe("ERR_SOCKET_DGRAM_NOT_RUNNING");
  });
});

describe("node:dgram shape", () => {
  test("createSocket: bind, 'message' with rinfo, send with a callback, close", async () => {
    const path = abstractName();
    const raw = peer(path);
    const s = createSocket({ type: "udp4", memif: { socket: path } });
    const messages: string[] = [];
    s.on("message", (msg, rinfo) => {
      messages.push(`${rinfo.address}:${rinfo.port} ${rinfo.family} ${rinfo.size} ${msg.toString()}`);
      s.send(msg, rinfo.port, rinfo.address, (err: Error | null, n: number) =>
        messages.push(`sent ${err === null} ${n}`),
      );
    });
    await new Promise<void>((r) => s.bind(5000, HOST4, r));
    cleanup.push(() => s.close());
    expect(s.address()).toEqual({ address: HOST4, family: "IPv4", port: 5000 });
    await raw.send(frame(new TextEncoder().encode("hello dgram")));
    const [reply] = await raw.receive(1);
    const p = parsed(reply!);
    expect(new TextDecoder().decode(reply!.subarray(p.payload, p.payload + p.payloadLen))).toBe("hello dgram");
    await until(() => messages.length === 2);
    expect(messages).toEqual([`${CLIENT4}:40000 IPv4 11 hello dgram`, "sent true 11"]);
  });

  test("createSocket: sends beyond the ring wait in the queue and all arrive", async () => {
    const path = abstractName();
    const raw = peer(path);
    const s = createSocket({
      type: "udp4",
      memif: { socket: path, ringSize: 16, mac: HOST_MAC, nextHopMac: CLIENT_MAC },
    });
    cleanup.push(() => s.close());
    await new Promise<void>((r) => s.bind(5000, HOST4, r));
    let acked = 0;
    for (let i = 0; i < 100; i++) s.send(bytes(30, i), 40000, CLIENT4, () => acked++);
    expect(s.getSendQueueCount()).toBe(100 - 16);
    const got: Uint8Array[] = [];
    await until(() => {
      got.push(...raw.take());
      return got.length === 100;
    }, 5000);
    await until(() => acked === 100);
    got.forEach((f, i) => {
      const p = parsed(f);
      expect(f.subarray(p.payload, p.payload + p.payloadLen)).toEqual(bytes(30, i));
    });
    expect(s.getSendQueueSize()).toBe(0);
  });
});
