// A node:worker_threads Worker for tests/helpers/node_workers.mjs (the Node.js twin of
// queue_worker.ts): adopts the queues it is given, then
//  - echo: sends `count` packets on tx in windows of `window`, receiving each window back from the
//    echoing peer (for await on rx) and checking every payload;
//  - wake: waits (idle) on rx for `count` packets carrying their send time (f64 at byte 8) and
//    reports each send → wake-up delay.
// Posts one result message ({error} on failure), closes its queues and ends.
import { parentPort } from "node:worker_threads";
import { RxQueue, TxQueue } from "../../dist/node.js";

function payload(i, len) {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = (i * 31 + k * 7) & 0xff;
  new DataView(b.buffer).setUint32(0, i, true);
  return b;
}

function same(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

parentPort.once("message", async (job) => {
  const open = [];
  try {
    if (job.kind === "wake") {
      const rx = RxQueue.adopt(job.rx);
      open.push(rx);
      const delays = [];
      parentPort.postMessage({ ready: true });
      for await (const p of rx) {
        const now = performance.timeOrigin + performance.now();
        delays.push(now - new DataView(p.buffer, p.byteOffset, p.byteLength).getFloat64(8, true));
        if (delays.length === job.count) break;
      }
      parentPort.postMessage({ delays });
      return;
    }
    const tx = TxQueue.adopt(job.tx);
    const rx = RxQueue.adopt(job.rx);
    open.push(tx, rx);
    const it = rx[Symbol.asyncIterator]();
    let ok = 0;
    let bad = 0;
    for (let start = 0; start < job.count; start += job.window) {
      const sent = [];
      for (let i = start; i < Math.min(job.count, start + job.window); i++) {
        const p = payload(job.seed + i, 64 + (i % 1000));
        await tx.send(p, { timeoutMs: 5000 });
        sent.push(p);
      }
      for (const p of sent) {
        const r = await it.next();
        if (!r.done && same(r.value, p)) ok++;
        else bad++;
      }
    }
    await it.return?.();
    parentPort.postMessage({ ok, bad, qid: tx.qid, packets: tx.stats().packets, rxPackets: rx.stats().packets });
  } catch (err) {
    parentPort.postMessage({ error: String(err?.stack ?? err) });
  } finally {
    for (const q of open) q.close();
  }
});
