/**
 * Backpressure: a slow receiver loses nothing the sender was told was sent. The receiver (another
 * process) sleeps 5 ms between bursts and checks that packet i is payload(i) in order; the sender
 * fills a 64-slot ring far faster, so it must wait for space (ringFull > 0) instead of dropping.
 */
import { afterEach, expect, test } from "bun:test";
import { Batch, MemifSocket } from "../ts/index.ts";
import { abstractName, payload, Peer } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

const N = 3000;
const len = (i: number) => 64 + (i % 200);
const totalBytes = Array.from({ length: N }, (_, i) => len(i)).reduce((a, b) => a + b, 0);

async function slowReceiver() {
  const path = abstractName();
  peer = new Peer([
    "--socket",
    path,
    "--role",
    "server",
    "--behaviour",
    "sink",
    "--delay-ms",
    "5",
    "--exit-after",
    String(N),
    "--check",
  ]);
  await peer.waitFor(/^listening/);
  const socket = new MemifSocket(path);
  const port = socket.port({ role: "client", ringSize: 64, reconnectMs: 50 });
  await port.connect({ timeoutMs: 5000 });
  return { socket, port, peer };
}

test("send() waits for ring space: every packet it resolved arrives, in order, intact", async () => {
  const { socket, port, peer } = await slowReceiver();
  using _s = socket;
  using tx = port.txQueue(0);
  let told = 0;
  for (let i = 0; i < N; i++) {
    await tx.send(payload(i, len(i)), { timeoutMs: 5000 });
    told++;
  }
  expect(told).toBe(N);
  expect(tx.stats().packets).toBe(N);
  expect(await peer.waitFor(/^check /, 20_000)).toBe("check ok");
  expect(await peer.waitFor(/^received /)).toBe(`received ${N} ${totalBytes}`);
  expect(tx.stats().ringFull).toBeGreaterThan(0); // the ring did fill: backpressure was exercised
}, 30_000);

test("burst API: what txBurst reports sent arrives; a full ring means alloc 0 and writable()", async () => {
  const { socket, port, peer } = await slowReceiver();
  using _s = socket;
  using tx = port.txQueue(0);
  const batch = new Batch(32);
  let told = 0;
  let fullRing = 0;
  while (told < N) {
    const got = tx.alloc(batch, Math.min(batch.capacity, N - told));
    if (got === 0) {
      fullRing++;
      await tx.writable(5000);
      continue;
    }
    for (let k = 0; k < got; k++) batch.write(k, payload(told + k, len(told + k)));
    told += tx.txBurst(batch, got); // only what the core accepted counts as sent
  }
  expect(told).toBe(N);
  expect(fullRing).toBeGreaterThan(0);
  expect(await peer.waitFor(/^check /, 20_000)).toBe("check ok");
  expect(await peer.waitFor(/^received /)).toBe(`received ${N} ${totalBytes}`);
}, 30_000);
