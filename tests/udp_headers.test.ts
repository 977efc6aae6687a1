/**
 * UDP layer, pure functions: the Internet checksum against published and independently built
 * vectors (RFC 1071, an IPv4 header, frames built by a separate Python implementation), the fast
 * word path against the byte path at every alignment, address text, header templates parsed
 * back, truncated/malformed/foreign frames classified, fragment reassembly with its time and
 * memory bounds, MAC learning. Vectors made by the kernel itself are in udp_kernel.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { checksum, fold, sum, sumBytes } from "../ts/udp/checksum.ts";
import { formatIp4, formatIp6, formatMac, parseIp4, parseIp6, parseMac } from "../ts/udp/addr.ts";
import {
  P_BAD_IP_CHECKSUM,
  P_FRAGMENT,
  P_MALFORMED,
  P_OTHER,
  P_TRUNCATED,
  P_UDP,
  Parsed,
  parseFrame,
  Template,
  udpChecksumOk,
} from "../ts/udp/headers.ts";
import { FRAGMENT_OVERHEAD, Reassembler } from "../ts/udp/reassembly.ts";
import { Neighbours } from "../ts/udp/neighbour.ts";
import { clearDatagrams, Datagrams, pushDatagram } from "../ts/udp/datagrams.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

// Built by an independent Python implementation (struct + RFC 1071 sum), see the test below.
const PY_V4 =
  "0200000000020200000000010800450000361234000040117c47c0000201c633640713889c400022a3827a6d656d6966207265666572656e636520646174616772616d21";
const PY_V6 =
  "02000000000202000000000186dd60000000001b114020010db800000000000000000000000120010db800000001000000000000000713889c40001b53f06f64642d6c656e6774682d7061796c6f616421";

describe("checksum", () => {
  test("RFC 1071 §3 example: the sum of 0001 f203 f4f5 f6f7 is ddf2", () => {
    const b = hex("0001f203f4f5f6f7");
    expect(sum(b, 0, 8)).toBe(0xddf2);
    expect(sumBytes(b, 0, 8)).toBe(0xddf2);
    expect(checksum(b)).toBe(0x220d);
  });

  test("an IPv4 header: its checksum b861, and a header carrying it verifies to 0", () => {
    const h = hex("450000730000400040110000c0a80001c0a800c7");
    expect(checksum(h)).toBe(0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    expect(checksum(h)).toBe(0);
  });

  test("the word path equals the byte path at every alignment, length and content", () => {
    const buf = new Uint8Array(4096 + 16);
    let seed = 12345;
    for (let i = 0; i < buf.length; i++) buf[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (const fill of ["random", "ff", "00"] as const) {
      const b = fill === "random" ? buf : new Uint8Array(buf.length).fill(fill === "ff" ? 0xff : 0);
      for (let start = 0; start < 8; start++) {
        for (const len of [0, 1, 2, 3, 5, 15, 16, 17, 31, 64, 65, 127, 1472, 1473, 4095]) {
          expect(sum(b, start, len)).toBe(sumBytes(b, start, len));
        }
      }
      // through a subarray with an odd byteOffset too
      const sub = b.subarray(3);
      expect(sum(sub, 0, 1001)).toBe(sumBytes(sub, 0, 1001));
    }
  });

  test("fold carries around", () => {
    expect(fold(0x1ffff)).toBe(1);
    expect(fold(0xffff)).toBe(0xffff);
    expect(fold(2 ** 40 + 5)).toBe(fold(fold(2 ** 40) + 5));
  });
});

describe("addresses", () => {
  test("IPv4", () => {
    expect(parseIp4("192.0.2.1")).toBe(0xc0000201);
    expect(formatIp4(0xc0000201)).toBe("192.0.2.1");
    expect(formatIp4(parseIp4("255.255.255.255"))).toBe("255.255.255.255");
    for (const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "a.b.c.d", ""]) expect(parseIp4(bad)).toBe(-1);
  });

  test("IPv6 text in, RFC 5952 text out", () => {
    const cases: [string, string][] = [
      ["2001:db8::1", "2001:db8::1"],
      ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["fe80::0001", "fe80::1"],
      ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ];
    for (const [input, out] of cases) {
      const w = parseIp6(input);
      expect(w, input).not.toBeNull();
      expect(formatIp6(...w!)).toBe(out);
    }
    for (const bad of ["1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "12345::", "fe80::1%eth0", "1:2", "::1.2.3", "g::"]) {
      expect(parseIp6(bad), bad).toBeNull();
    }
  });

  test("MAC", () => {
    expect(parseMac("02:00:5e:10:00:ff")).toBe(0x02005e1000ff);
    expect(formatMac(0x02005e1000ff)).toBe("02:00:5e:10:00:ff");
    expect(parseMac("ff-ff-ff-ff-ff-ff")).toBe(0xffffffffffff);
    expect(parseMac("02:00:5e:10:00")).toBe(-1);
  });
});

function template(
  family: 4 | 6,
  ipMode = false,
  extra: Partial<ConstructorParameters<typeof Template>[0]> = {},
): Template {
  return new Template({
    ipMode,
    srcMac: 0x020000000001,
    dstMac: 0x020000000002,
    family,
    src4: parseIp4("192.0.2.1"),
    dst4: parseIp4("198.51.100.7"),
    src6: parseIp6("2001:db8::1")!,
    dst6: parseIp6("2001:db8:0:1::7")!,
    srcPort: 5000,
    dstPort: 40000,
    ttl: 64,
    ...extra,
  });
}

function build(t: Template, payload: Uint8Array, id = 0x1234, at = 0): Uint8Array {
  const out = new Uint8Array(at + t.hdrLen + payload.byteLength);
  out.set(payload, at + t.hdrLen);
  const len = t.write(out, at, payload.byteLength, id);
  return out.subarray(at, at + len);
}

describe("headers", () => {
  test("IPv4 frame is byte for byte the independent Python build", () => {
    const payload = new TextEncoder().encode("zmemif reference datagram!");
    expect(Buffer.from(build(template(4), payload)).toString("hex")).toBe(PY_V4);
  });

  test("IPv6 frame (odd payload length) is byte for byte the independent Python build", () => {
    const payload = new TextEncoder().encode("odd-length-payload!");
    expect(Buffer.from(build(template(6), payload)).toString("hex")).toBe(PY_V6);
  });

  test("the word paths write the bytes the byte path writes (2- and 4-byte aligned frames, every header shape)", () => {
    for (const family of [4, 6] as const) {
      for (const ipMode of [false, true]) {
        const t = template(family, ipMode);
        for (const n of [0, 1, 2, 63, 64]) {
          const payload = new Uint8Array(n).map((_, i) => (i * 29 + n) & 0xff);
          const want = build(t, payload, 0xbeef, 1); // odd: bytes
          for (const at of [0, 2, 4, 6]) {
            const out = new Uint8Array(at + t.hdrLen + n + 8).fill(0xa5);
            out.set(payload, at + t.hdrLen);
            const w16 = new Uint16Array(out.buffer, 0, out.byteLength >>> 1);
            const w32 = new Int32Array(out.buffer, 0, out.byteLength >>> 2);
            expect(t.write(out, at, n, 0xbeef, -1, w16, w32)).toBe(t.hdrLen + n);
            expect(Buffer.from(out.subarray(at, at + t.hdrLen + n)).toString("hex")).toBe(
              Buffer.from(want).toString("hex"),
            );
            expect(out[at + t.hdrLen + n]).toBe(0xa5); // nothing written past the frame
            if (at > 0) expect(out[at - 1]).toBe(0xa5);
          }
        }
      }
    }
  });

  test("built frames parse back, both families, Ethernet and IP mode, any payload size", () => {
    const p = new Parsed();
    for (const family of [4, 6] as const) {
      for (const ipMode of [false, true]) {
        for (const n of [0, 1, 17, 64, 1472]) {
          const payload = new Uint8Array(n).map((_, i) => (i * 13 + n) & 0xff);
          // at an odd offset in a bigger buffer, to exercise the unaligned path too
          const t = template(family, ipMode);
          const f = build(t, payload, 7, 3);
          expect(parseFrame(f, 0, f.byteLength, ipMode, p)).toBe(P_UDP);
          expect(p.family).toBe(family);
          expect([p.srcPort, p.dstPort, p.payloadLen]).toEqual([5000, 40000, n]);
          expect(udpChecksumOk(f, p)).toBe(true);
          expect(Buffer.from(f.subarray(p.payload, p.payload + n)).equals(Buffer.from(payload))).toBe(true);
          if (!ipMode) expect([p.srcMac, p.dstMac]).toEqual([0x020000000001, 0x020000000002]);
          if (n > 0) {
            f[p.payload] = f[p.payload]! ^ 0x40; // one flipped bit: the checksum no longer matches
            expect(udpChecksumOk(f, p)).toBe(false);
          }
        }
      }
    }
  });

  test("UDP checksum 0: 'none' over IPv4 (accepted), invalid over IPv6 (refused)", () => {
    const p = new Parsed();
    for (const family of [4, 6] as const) {
      const f = build(template(family), new Uint8Array(10));
      parseFrame(f, 0, f.byteLength, false, p);
      f[p.l4 + 6] = 0;
      f[p.l4 + 7] = 0;
      parseFrame(f, 0, f.byteLength, false, p);
      expect(udpChecksumOk(f, p)).toBe(family === 4);
    }
  });

  test("a computed UDP checksum of 0 is sent as ffff", () => {
    // find a payload whose checksum comes out 0, then check the field
    const t = template(4);
    const p = new Parsed();
    for (let x = 0; x < 65536; x++) {
      const payload = new Uint8Array([x >>> 8, x & 0xff]);
      const f = build(t, payload);
      parseFrame(f, 0, f.byteLength, false, p);
      if (p.udpCheck === 0xffff) {
        expect(udpChecksumOk(f, p)).toBe(true);
        return;
      }
    }
    throw new Error("no payload gives checksum 0xffff");
  });

  test("Ethernet padding is not payload", () => {
    const f = new Uint8Array(60);
    f.set(build(template(4), new Uint8Array([1, 2, 3])));
    const p = new Parsed();
    expect(parseFrame(f, 0, 60, false, p)).toBe(P_UDP);
    expect(p.payloadLen).toBe(3);
  });

  test("truncated, malformed, bad IP checksum and foreign frames are classified", () => {
    const p = new Parsed();
    const good = () => build(template(4), new Uint8Array(20));
    const good6 = () => build(template(6), new Uint8Array(20));
    const cases: [string, Uint8Array, number][] = [];
    cases.push(["shorter than Ethernet", good().subarray(0, 10), P_TRUNCATED]);
    cases.push(["shorter than an IPv4 header", good().subarray(0, 30), P_TRUNCATED]);
    cases.push(["cut inside the payload", good().subarray(0, 50), P_TRUNCATED]);
    cases.push(["shorter than an IPv6 header", good6().subarray(0, 40), P_TRUNCATED]);
    cases.push(["IPv6 cut inside the payload", good6().subarray(0, 70), P_TRUNCATED]);
    let f = good();
    f[14] = 0x44; // IHL 4
    cases.push(["IHL < 5", f, P_MALFORMED]);
    f = good();
    f[12] = 0x86;
    f[13] = 0xdd; // IPv6 ethertype, IPv4 packet
    cases.push(["version ≠ ethertype", f, P_MALFORMED]);
    f = good();
    f[38] = 0;
    f[39] = 7; // UDP length 7 (IP header checksum unaffected: UDP is not in it)
    cases.push(["UDP length < 8", f, P_MALFORMED]);
    f = good();
    f[38] = 0;
    f[39] = 200; // UDP length beyond the IP payload
    cases.push(["UDP length > IP payload", f, P_TRUNCATED]);
    f = good();
    f[22] = f[22]! ^ 1; // TTL changed, header checksum not
    cases.push(["IPv4 header checksum", f, P_BAD_IP_CHECKSUM]);
    f = good();
    f[12] = 0x08;
    f[13] = 0x06;
    cases.push(["ARP", f, P_OTHER]);
    f = good();
    f[23] = 6; // TCP (and fix the header checksum)
    f[24] = f[25] = 0;
    const c = checksum(f, 14, 20);
    f[24] = c >>> 8;
    f[25] = c & 0xff;
    cases.push(["TCP", f, P_OTHER]);
    for (const [what, frame, want] of cases) expect(parseFrame(frame, 0, frame.byteLength, false, p), what).toBe(want);
    expect(parseFrame(new Uint8Array([0x45]), 0, 1, true, p)).toBe(P_TRUNCATED);
  });

  test("IPv4 and IPv6 fragments are recognised with their offsets", () => {
    const p = new Parsed();
    const t = template(4);
    const f = new Uint8Array(14 + 20 + 64);
    const h = t.writeFragment(f, 0, 64, 1480, true, 0x4242);
    expect(parseFrame(f, 0, h + 64, false, p)).toBe(P_FRAGMENT);
    expect([p.fragId, p.fragOffset, p.fragMore, p.l4]).toEqual([0x4242, 1480, true, 34]);
    const t6 = template(6);
    const g = new Uint8Array(14 + 48 + 64);
    const h6 = t6.writeFragment(g, 0, 64, 1232, false, 0xdeadbeef);
    expect(parseFrame(g, 0, h6 + 64, false, p)).toBe(P_FRAGMENT);
    expect([p.fragId, p.fragOffset, p.fragMore, p.l4]).toEqual([0xdeadbeef, 1232, false, 62]);
  });
});

describe("datagrams (the batch handler's burst)", () => {
  test("one view for a burst from the region; each datagram its own once a second view comes; none kept after", () => {
    const region = new Uint8Array(64).map((_, i) => i);
    const copy = new Uint8Array([200, 201, 202]);
    const d = new Datagrams(8);
    pushDatagram(d, region, 4, 2, 1000, "198.51.100.9", false);
    pushDatagram(d, region, 10, 3, 1001, "198.51.100.9", false);
    expect([d.count, d.view(0), d.view(1)]).toEqual([2, region, region]);
    pushDatagram(d, copy, 0, 3, 1002, "2001:db8::9", true); // a reassembled datagram: its own buffer
    pushDatagram(d, region, 20, 1, 1003, "198.51.100.9", false);
    expect([d.view(0), d.view(1), d.view(2), d.view(3)]).toEqual([region, region, copy, region]);
    expect([0, 1, 2, 3].map((i) => [...d.data(i)])).toEqual([[4, 5], [10, 11, 12], [200, 201, 202], [20]]);
    expect([d.port(2), d.address(2), d.ipv6(2), d.ipv6(3)]).toEqual([1002, "2001:db8::9", true, false]);
    clearDatagrams(d);
    expect([d.count, d.view(0).byteLength, d.view(2).byteLength]).toEqual([0, 0, 0]);
    pushDatagram(d, copy, 1, 2, 1004, "198.51.100.9", false); // the next burst starts over
    expect([d.count, [...d.data(0)], d.view(0)]).toEqual([1, [201, 202], copy]);
  });
});

describe("reassembly", () => {
  const piece = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (seed + i) & 0xff);

  test("in order and out of order; the memory held returns to 0", () => {
    const r = new Reassembler();
    const whole = piece(3000, 1);
    expect(r.add("a", 0, true, whole, 0, 1480)).toBeNull();
    expect(r.stats.bytesHeld).toBe(1480 + FRAGMENT_OVERHEAD);
    expect(r.add("a", 1480, true, whole, 1480, 1480)).toBeNull();
    const got = r.add("a", 2960, false, whole, 2960, 40);
    expect(got).toEqual(whole);
    expect(r.add("b", 2960, false, whole, 2960, 40)).toBeNull();
    expect(r.add("b", 0, true, whole, 0, 1480)).toBeNull();
    expect(r.add("b", 1480, true, whole, 1480, 1480)).toEqual(whole);
    expect(r.stats).toMatchObject({ fragments: 6, reassembled: 2, bytesHeld: 0, inProgress: 0 });
  });

  test("overlaps and duplicates drop the datagram (RFC 5722)", () => {
    const r = new Reassembler();
    const w = piece(100, 2);
    r.add("x", 0, true, w, 0, 48);
    expect(r.add("x", 40, false, w, 40, 60)).toBeNull(); // overlaps 40..48
    expect(r.stats.invalid).toBe(1);
    expect(r.size).toBe(0);
    r.add("y", 0, true, w, 0, 48);
    r.add("y", 0, true, w, 0, 48);
    expect(r.stats.invalid).toBe(2);
    expect(r.stats.bytesHeld).toBe(0);
  });

  test("a non-last piece not a multiple of 8, a second different end, a datagram over 64 KiB", () => {
    const r = new Reassembler();
    const w = piece(200, 3);
    expect(r.add("a", 0, true, w, 0, 50)).toBeNull();
    expect(r.stats.invalid).toBe(1);
    r.add("b", 96, false, w, 0, 8);
    r.add("b", 200, false, w, 0, 8);
    expect(r.stats.invalid).toBe(2);
    r.add("c", 65528, false, w, 0, 16);
    expect(r.stats.tooBig).toBe(1);
    expect(r.stats.bytesHeld).toBe(0);
  });

  test("time bound: an incomplete datagram expires after timeoutMs", () => {
    let now = 1000;
    const r = new Reassembler({ timeoutMs: 500 }, () => now);
    const w = piece(100, 4);
    r.add("old", 0, true, w, 0, 48);
    now += 300;
    r.add("young", 0, true, w, 0, 48);
    expect(r.nextExpiry()).toBe(200);
    now += 250; // old is 550 ms old, young 250
    expect(r.expire()).toBe(1);
    expect(r.size).toBe(1);
    // the late last piece of "old" starts a new datagram, never completes the dropped one
    expect(r.add("old", 48, false, w, 48, 52)).toBeNull();
    now += 1000;
    expect(r.expire()).toBe(2);
    expect(r.stats).toMatchObject({ timeouts: 3, bytesHeld: 0, inProgress: 0 });
  });

  test("memory bound: pieces beyond maxBytes are dropped and counted; datagrams in progress can complete", () => {
    const r = new Reassembler({ maxBytes: 4 * (1480 + FRAGMENT_OVERHEAD) });
    const w = piece(1480, 5);
    for (let i = 0; i < 10; i++) r.add(`d${i}`, 0, true, w, 0, 1480);
    // new datagrams stop at 3/4 of the bound
    expect(r.size).toBe(3);
    expect(r.stats.overMemory).toBe(7);
    // the last quarter is for the ones in progress: they grow and complete
    expect(r.add("d0", 1480, false, w, 0, 100)).not.toBeNull();
    expect(r.add("d1", 1480, true, w, 0, 1480)).toBeNull();
    expect(r.add("d2", 1480, true, w, 0, 1480)).toBeNull();
    expect(r.stats.bytesHeld).toBe(r.maxBytes);
    expect(r.add("d1", 2960, false, w, 0, 100)).toBeNull(); // over the hard bound: dropped
    expect(r.stats.overMemory).toBe(8);
    expect(r.stats.bytesHeld).toBe(r.maxBytes);
  });

  test("count bound: maxDatagrams in progress at most", () => {
    const r = new Reassembler({ maxDatagrams: 3 });
    const w = piece(64, 6);
    for (let i = 0; i < 5; i++) r.add(`d${i}`, 0, true, w, 0, 16);
    expect(r.size).toBe(3);
    expect(r.stats.overMemory).toBe(2);
  });
});

describe("neighbours", () => {
  test("learns, keeps static entries, bumps the version when a MAC changes, stays bounded", () => {
    const n = new Neighbours(3, 0xaa);
    expect(n.lookup4(1)).toBe(0xaa); // the default next hop
    n.add4(1, 0x11);
    n.learn4(1, 0x99); // static: not replaced
    expect(n.lookup4(1)).toBe(0x11);
    n.learn4(2, 0x22);
    const v = n.version;
    n.learn4(2, 0x22);
    expect(n.version).toBe(v);
    n.learn4(2, 0x23);
    expect(n.version).toBe(v + 1);
    n.learn6("2001:db8::1", 0x66);
    n.learn4(3, 0x33); // 4th entry: the oldest learned one (2) goes, the static one stays
    expect(n.size).toBe(3);
    expect(n.lookup4(1)).toBe(0x11);
    expect(n.lookup4(2)).toBe(0xaa);
    expect(n.lookup6("2001:db8::1")).toBe(0x66);
  });
});
