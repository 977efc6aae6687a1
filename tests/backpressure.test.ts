/** A slow receiver loses nothing the sender was told was sent. */
import { afterEach, expect, test } from "bun:test";
import { MemifSocket } from "../ts/index.ts";
import { abstractName, Peer } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

test("send() waits for ring space instead of dropping", async () => {
  const path = abstractName();
  const N = 3000;
  peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "sink", "--delay-ms", "5",
    "--exit-after", String(N)]);
  await peer.waitFor(/^listening/);
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "client", ringSize: 64, reconnectMs: 50 });
  await port.connect({ timeoutMs: 5000 });
  using tx = port.txQueue(0);
  const p = new Uint8Array(64).fill(7);
  for (let i = 0; i < N; i++) await tx.send(p, { timeoutMs: 5000 });
  expect(tx.stats().packets).toBe(N);
  const line = await peer.waitFor(/^received /, 20_000);
  expect(line).toBe(`received ${N} ${N * 64}`);
  expect(tx.stats().ringFull).toBeGreaterThan(0); // the ring did fill up: backpressure was exercised
}, 30_000);
