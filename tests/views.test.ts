/** Views are revoked when the connection ends: stale access throws, the process survives. */
import { afterEach, expect, test } from "bun:test";
import { Batch, MemifError, MemifSocket } from "../ts/index.ts";
import { abstractName, echoClient, payload, Peer } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

test("a stale view throws after the peer disconnects", async () => {
  await using scene = await echoClient();
  const { tx, rx } = scene;
  await tx.send(payload(1, 200));

  const batch = new Batch(8);
  while (rx.rxBurst(batch) === 0) await rx.readable();
  const view = batch.view(batch.region(0));
  const data = batch.data(0);
  expect(data[4]).toBe(payload(1, 200)[4]);
  expect(batch.valid).toBe(true);

  const ev = await scene.peerLeaves();
  expect(typeof ev.reason).toBe("string");

  // Accessors of the API throw a MemifError that says what happened.
  let err: unknown;
  try {
    batch.view(0);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MemifError);
  expect((err as MemifError).code).toBe("STALE_VIEW");
  expect(batch.valid).toBe(false);
  // Views the user kept are empty: reads give undefined, methods throw, nothing touches memory.
  expect(view.length).toBe(0);
  expect(view[0]).toBeUndefined();
  expect(data.length).toBe(0);
  expect(() => data.subarray(0, 1)).toThrow(TypeError);
  expect(() => new DataView(view.buffer)).toThrow(TypeError);
  // The queue reports the state instead of crashing.
  expect(rx.rxBurst(batch)).toBe(0);
  expect(rx.connected).toBe(false);
  await expect(tx.send(payload(2, 10))).rejects.toMatchObject({ code: "NOT_CONNECTED" });
});

test("queues re-attach with fresh views when the port reconnects", async () => {
  const path = abstractName();
  peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo"]);
  await peer.waitFor(/^listening/);
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "client", reconnectMs: 50 });
  const first = await port.connect({ timeoutMs: 5000 });
  using tx = port.txQueue(0);
  using rx = port.rxQueue(0);
  await tx.send(payload(1, 64));
  const batch = new Batch(8);
  while (rx.rxBurst(batch) === 0) await rx.readable();
  const oldView = batch.view(0);

  const gone = new Promise((r) => port.once("disconnected", r));
  await peer.stop();
  await gone;
  peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo"]);
  const second = await port.connect({ timeoutMs: 5000 });
  expect(second.generation).toBeGreaterThan(first.generation);

  await tx.send(payload(2, 64));
  while (rx.rxBurst(batch) === 0) await rx.readable();
  expect(batch.data(0)[4]).toBe(payload(2, 64)[4]);
  expect(batch.view(0)).not.toBe(oldView);
  expect(oldView.length).toBe(0);
});
