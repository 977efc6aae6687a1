// Node.js side of tests/node.test.ts, run by `node` on the compiled package (dist/node.js): a
// memif server that testpmd (client, io forwarding) connects to. It sends COUNT packets of
// several sizes in chunks smaller than the ring, receives each back through the burst API (one
// Batch, rxBurst, copyPacket) and checks it; then, when testpmd goes, checks that the views of
// the connection were revoked (a kept Uint8Array reads as empty, the batch throws STALE_VIEW).
//   node tests/helpers/node_testpmd.mjs SOCKET COUNT
// One JSON line per step on stdout: listening, exchanged {count}, revoked {...}; exit 1 on error.
import { Batch, MemifSocket } from "../../dist/node.js";

const [path, countArg] = process.argv.slice(2);
const count = Number(countArg);
const SIZES = [60, 64, 128, 512, 1000, 1500];
const CHUNK = 256;
const emit = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));

function payload(i, len) {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = (i * 31 + k * 7) & 0xff;
  new DataView(b.buffer).setUint32(0, i, true);
  return b;
}

const socket = new MemifSocket(path);
const port = socket.port({ id: 0, role: "server" });
const disconnected = new Promise((resolve) => port.once("disconnected", resolve));
emit("listening");
await port.connect({ timeoutMs: 20_000 });
const tx = port.txQueue(0);
const rx = port.rxQueue(0);
const batch = new Batch(32);
let kept = null;
let sameView = true;

for (let start = 0; start < count; start += CHUNK) {
  const n = Math.min(count, start + CHUNK) - start;
  for (let i = start; i < start + n; i++) await tx.send(payload(i, SIZES[i % SIZES.length]), { timeoutMs: 5000 });
  let got = 0;
  const deadline = performance.now() + 10_000;
  while (got < n) {
    const k = rx.rxBurst(batch);
    for (let i = 0; i < k; i = batch.packetEnd(i)) {
      const want = payload(start + got, SIZES[(start + got) % SIZES.length]);
      const p = batch.copyPacket(i);
      if (p.byteLength !== want.byteLength || p.some((v, j) => v !== want[j])) {
        throw new Error(
          `packet ${start + got}: ${p.byteLength} bytes came back, not the ${want.byteLength} sent (or changed)`,
        );
      }
      const v = batch.view(batch.region(i));
      if (kept !== null && v !== kept) sameView = false;
      kept = v;
      got++;
    }
    if (k === 0) {
      if (performance.now() > deadline) throw new Error(`received ${got} of ${n} back within 10 s`);
      await Promise.race([rx.readable(), new Promise((r) => setTimeout(r, 50))]);
    }
  }
  rx.release();
}
const stats = rx.stats();
emit("exchanged", { count, rx: stats.packets, badDescs: stats.badDescs, sameView });

await disconnected;
let stale = "";
try {
  batch.view(0);
} catch (e) {
  stale = e.code;
}
emit("revoked", { keptLength: kept.length, keptByte: kept[0] ?? null, stale, valid: batch.valid });
tx.close();
rx.close();
port.close();
socket.close();
