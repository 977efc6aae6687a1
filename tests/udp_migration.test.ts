/**
 * What a migrated UDP service meets first (issue 14, "the first hour", docs/udp-migration.md):
 * node:dgram's `createSocket("udp4")`, a loopback hostname refused with the fix, and the send
 * queue's limit reported as ENOBUFS (it can succeed later), not EINVAL.
 */
import { afterEach, expect, test } from "bun:test";
import { createSocket, udpSocket, UdpError } from "../ts/index.ts";
import { abstractName } from "./helpers/peers.ts";
import { bytes, CLIENT4, CLIENT_MAC, HOST4, HOST_MAC, RawPeer } from "./helpers/udp_raw.ts";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) c();
});

test('createSocket("udp4") and createSocket("udp6", listener) work as node:dgram takes them', () => {
  const listener = () => {};
  const s4 = createSocket("udp4");
  const s6 = createSocket("udp6", listener);
  expect(s4.type).toBe("udp4");
  expect(s6.type).toBe("udp6");
  expect(s6.listeners("message")).toEqual([listener]);
  s4.close();
  s6.close();
  expect(() => createSocket("udp5" as "udp4")).toThrow(/type must be 'udp4' or 'udp6', got udp5/);
});

for (const hostname of ["127.0.0.1", "127.1.2.3", "::1"]) {
  test(`hostname ${hostname} over memif is refused with the fix`, async () => {
    const path = abstractName(); // never connected: the refusal comes first
    const err = await udpSocket({ hostname, port: 5000, memif: { socket: path, connectTimeoutMs: 0 } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UdpError);
    expect((err as UdpError).code).toBe("EADDRNOTAVAIL");
    expect((err as UdpError).message).toContain(`hostname ${hostname} is a loopback address`);
    expect((err as UdpError).message).toContain('"0.0.0.0"');
    expect((err as UdpError).message).toContain("--host");
  });
}

test("a send beyond sendQueueLimit fails with ENOBUFS; what was queued still arrives", async () => {
  const path = abstractName();
  const raw = new RawPeer(path);
  cleanup.push(() => raw.close());
  const s = createSocket({
    type: "udp4",
    memif: { socket: path, ringSize: 16, mac: HOST_MAC, nextHopMac: CLIENT_MAC },
    sendQueueLimit: 300,
  });
  cleanup.push(() => s.close());
  await new Promise<void>((r) => s.bind(5000, HOST4, r));
  const results: (string | null)[] = [];
  for (let i = 0; i < 16 + 10 + 1; i++) {
    s.send(bytes(30, i), 40000, CLIENT4, (err: Error | null) =>
      results.push(err === null ? null : (err as UdpError).code),
    );
  }
  // 16 in the ring, 10 x 30 bytes queued (the limit), the 27th refused.
  expect(s.getSendQueueCount()).toBe(10);
  await Bun.sleep(0);
  expect(results).toContain("ENOBUFS");
  let got = 0;
  const deadline = performance.now() + 5000;
  while (got < 26 && performance.now() < deadline) {
    got += raw.take().length;
    await Bun.sleep(2);
  }
  expect(got).toBe(26);
  expect(results.filter((r) => r === null).length).toBe(26);
});
