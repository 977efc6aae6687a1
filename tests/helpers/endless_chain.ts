/**
 * A hostile memif client for tests/examples.test.ts: it fills its whole C2S ring 0 with one chain
 * (NEXT on every descriptor, 64 bytes each: 65,536 bytes in 1024 segments, longer than any legal
 * packet) sent through alloc + txBurst, which publishes it and wakes the server; then it sets
 * NEXT on the last descriptor too, in the ring itself (ring C2S 0 sits at offset 0 of region 0,
 * the memory this client owns; descriptors from byte 128, 16 bytes each, flags u16 first), so the
 * chain never ends. Then it stays connected.
 *
 *   bun tests/helpers/endless_chain.ts --socket PATH|@NAME
 *
 * Prints "chained <segments>" once the ring is published, then "given back <segments>" once the
 * server dropped the chain and every buffer is free again.
 */
import { parseArgs } from "node:util";
import { Batch, MemifSocket } from "../../ts/index.ts";

const { values: a } = parseArgs({ options: { socket: { type: "string" } } });
if (a.socket === undefined) throw new Error("--socket is required");
const socket = new MemifSocket(a.socket);
const port = socket.port({ role: "client", name: "endless-chain" });
await port.connect({ timeoutMs: 10_000 });
const size = port.info().ringSize;
const tx = port.txQueue(0);
const b = new Batch(size);
const got = tx.alloc(b, size);
if (got !== size) throw new Error(`alloc gave ${got} of ${size} buffers`);
for (let i = 0; i < size; i++) {
  b.setLength(i, 64);
  b.setNext(i, i + 1 < size); // txBurst refuses a last descriptor with NEXT: set it below
}
const ring = b.view(0);
const dv = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
const head = dv.getUint16(6, true);
tx.txBurst(b, size);
const last = 128 + ((head + size - 1) & (size - 1)) * 16;
dv.setUint16(last, dv.getUint16(last, true) | 1, true);
process.stdout.write(`chained ${size}\n`);
// The server drops the chain and moves on: every buffer comes back to this ring.
tx.writable(20_000, size).then(
  () => process.stdout.write(`given back ${size}\n`),
  (e: unknown) => process.stdout.write(`not given back: ${e}\n`),
);
setInterval(() => {}, 1000);
