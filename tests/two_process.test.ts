/** A Bun server and a Bun client in two processes, payloads checked both ways. */
import { afterAll, afterEach, expect, test } from "bun:test";
import { Batch, MemifSocket } from "../ts/index.ts";
import { abstractName, cleanupDirs, payload, Peer, sameBytes, socketPath } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});
afterAll(cleanupDirs);

/** Sends `sizes` through `tx` and checks each echo arriving on `rx`. */
async function roundTrip(sizes: number[], send: (p: Uint8Array) => Promise<void>, rx: AsyncIterable<Uint8Array>) {
  const it = rx[Symbol.asyncIterator]();
  for (let i = 0; i < sizes.length; i++) {
    const p = payload(i, sizes[i]!);
    await send(p);
    const r = await it.next();
    expect(r.done).toBe(false);
    expect(sameBytes(r.value as Uint8Array, p)).toBe(true);
  }
  await it.return?.();
}

test("client here, server in another process: echo incl. chained 9000-byte packets", async () => {
  const path = abstractName();
  peer = new Peer(["--socket", path, "--role", "server", "--id", "7", "--behaviour", "echo"]);
  await peer.waitFor(/^listening/);
  using socket = new MemifSocket(path);
  using port = socket.port({ id: 7, role: "client", name: "bun-client", reconnectMs: 50 });
  const ev = await port.connect({ timeoutMs: 5000 });
  expect(ev.peerName).toBe("bun-peer");
  expect(ev.info.bufferSize).toBe(2048);
  using tx = port.txQueue(0);
  using rx = port.rxQueue(0);
  const sizes = [1, 60, 64, 1500, 2048, 2049, 9000, 9000, 4096, 100];
  await roundTrip(sizes, (p) => tx.send(p), rx);
  const s = tx.stats();
  expect(s.packets).toBe(sizes.length);
  expect(s.bytes).toBe(sizes.reduce((a, b) => a + b, 0));
});

test("server here, client in another process (filesystem socket), burst API", async () => {
  const path = socketPath();
  using socket = new MemifSocket(path);
  using port = socket.port({ id: 1, role: "server", name: "bun-server" });
  const connected = port.connect({ timeoutMs: 5000 });
  peer = new Peer(["--socket", path, "--role", "client", "--id", "1", "--behaviour", "echo"]);
  const ev = await connected;
  expect(ev.peerName).toBe("bun-peer");
  using tx = port.txQueue(0);
  using rx = port.rxQueue(0);

  // tx through the burst API: alloc, write in place, send
  const out = new Batch(32);
  const N = 16;
  let got = 0;
  while (got === 0) {
    got = tx.alloc(out, N);
    if (got === 0) await tx.writable(2000);
  }
  expect(got).toBe(N);
  for (let i = 0; i < N; i++) out.write(i, payload(i, 100 + i));
  expect(tx.txBurst(out)).toBe(N);

  // rx through the burst API
  const inb = new Batch(32);
  const seen: Uint8Array[] = [];
  const deadline = Date.now() + 5000;
  while (seen.length < N && Date.now() < deadline) {
    const n = rx.rxBurst(inb);
    if (n === 0) {
      await rx.readable();
      continue;
    }
    for (let i = 0; i < n; i = inb.packetEnd(i)) seen.push(inb.copyPacket(i));
  }
  expect(seen.length).toBe(N);
  for (let i = 0; i < N; i++) expect(sameBytes(seen[i]!, payload(i, 100 + i))).toBe(true);
});
