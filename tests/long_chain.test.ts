/**
 * A legitimate packet never needs the user to size an array: with 128-byte buffers a 9000-byte
 * packet spans 71 of them, more than the default Batch of 32, and still arrives, through
 * `for await` (its own Batch) and through rxBurst with a small Batch, on both sides.
 */
import { afterEach, expect, test } from "bun:test";
import { Batch, MemifSocket } from "../ts/index.ts";
import { abstractName, payload, Peer, sameBytes } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

test("a 9000-byte packet in 128-byte buffers (71 segments) arrives whatever the batch size", async () => {
  const path = abstractName();
  // The echo server receives with rxBurst(new Batch(32)) and sends back with send().
  peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo"]);
  await peer.waitFor(/^listening/);
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "client", reconnectMs: 50, bufferSize: 128 });
  const ev = await port.connect({ timeoutMs: 5000 });
  expect(ev.info.maxSegments).toBe(512); // ceil(65535 / 128)
  using tx = port.txQueue(0);
  using rx = port.rxQueue(0);

  const big = payload(1, 9000);
  await tx.send(big);
  for await (const p of rx) {
    expect(p.byteLength).toBe(9000);
    expect(sameBytes(p, big)).toBe(true);
    break;
  }

  const small = new Batch(4);
  const other = payload(2, 9000);
  await tx.send(other);
  let n = 0;
  while ((n = rx.rxBurst(small)) === 0) await rx.readable();
  expect(n).toBe(71);
  expect(small.capacity).toBeGreaterThanOrEqual(71);
  expect(sameBytes(small.copyPacket(0), other)).toBe(true);
  expect(rx.stats().badDescs).toBe(0);
});
