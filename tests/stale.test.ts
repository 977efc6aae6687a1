/**
 * One error for "the connection under this batch ended": every accessor of a batch (or view) of
 * a connection that ended throws MemifError STALE_VIEW, rx and tx alike, whatever its count.
 */
import { expect, test } from "bun:test";
import { Batch, MemifError, type RxQueue, type TxQueue } from "../ts/index.ts";
import { echoClient, payload } from "./helpers/peers.ts";

/**
 * Waits until `want` descriptors are in the ring, then receives them in one burst (a burst gives
 * the previous one back, so receiving early would split them). The echo peer gives a burst's
 * buffers back (its next burst) only after it sent their echoes: once every buffer of our tx
 * ring is free again, all the echoes are in our rx ring.
 */
async function receiveAll(tx: TxQueue, rx: RxQueue, rb: Batch, want: number): Promise<void> {
  await tx.writable(5000, 0xffff); // at most the ring size: every buffer
  expect(rx.rxBurst(rb)).toBe(want);
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof MemifError ? e.code : `not a MemifError: ${e}`;
  }
  return "no error";
}

test("every accessor of a revoked rx or tx batch throws STALE_VIEW", async () => {
  await using scene = await echoClient({ bufferSize: 256 });
  const { tx, rx } = scene;
  // Two packets back: one single-buffer, one chained (600 bytes in 256-byte buffers).
  await tx.send(payload(1, 100));
  await tx.send(payload(2, 600));
  const rb = new Batch(8);
  await receiveAll(tx, rx, rb, 4);
  const tb = new Batch(4);
  expect(tx.alloc(tb, 2)).toBe(2);

  await scene.peerLeaves();

  for (const b of [rb, tb]) {
    const accessors: [string, () => unknown][] = [
      ["view", () => b.view(0)],
      ["data", () => b.data(0)],
      ["copyPacket", () => b.copyPacket(0)],
      ["copyPacket(1)", () => b.copyPacket(1)],
      ["region", () => b.region(0)],
      ["flags", () => b.flags(0)],
      ["hasNext", () => b.hasNext(0)],
      ["length", () => b.length(0)],
      ["offset", () => b.offset(0)],
      ["packetEnd", () => b.packetEnd(0)],
      ["packetLength", () => b.packetLength(0)],
      ["setLength", () => b.setLength(0, 1)],
      ["setNext", () => b.setNext(0, false)],
      ["write", () => b.write(0, new Uint8Array(1))],
    ];
    for (const [name, f] of accessors) expect(`${name}: ${codeOf(f)}`).toBe(`${name}: STALE_VIEW`);
    expect(b.valid).toBe(false);
  }
  expect(codeOf(() => tx.txBurst(tb, 2))).toBe("NOT_CONNECTED");
});

test("copyPacket after an awaited send on a batch whose connection ended: STALE_VIEW", async () => {
  // The echo loop of examples/simple_echo.ts: receive, then for each packet `await tx.send()`
  // and copy the next one. The peer leaves during the await.
  await using scene = await echoClient();
  const { tx, rx } = scene;
  for (let i = 0; i < 3; i++) await tx.send(payload(i, 64));
  const rb = new Batch(8);
  await receiveAll(tx, rx, rb, 3);
  const first = rb.copyPacket(0);
  await scene.peerLeaves();
  let sendCode = "";
  try {
    await tx.send(first);
  } catch (e) {
    sendCode = (e as MemifError).code;
  }
  expect(sendCode).toBe("NOT_CONNECTED");
  expect(codeOf(() => rb.copyPacket(1))).toBe("STALE_VIEW");
});
