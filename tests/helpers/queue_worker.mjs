// The queue Worker of tests/workers.test.ts (Bun: a Web Worker on the package source, ts/index.ts)
// and of tests/helpers/node_workers.mjs (Node.js: a node:worker_threads Worker on what the package
// ships, dist/node.js). Plain JavaScript so that Node.js runs it as it is; both runtimes give it
// node:worker_threads' parentPort. It adopts the queues of the first message's job, then
//  - echo: sends `count` packets on tx in windows of `window`, receiving each window back from the
//    echoing peer (for await on rx) and checking every payload; posts {ok, bad, qid, packets, rxPackets};
//  - wake: waits (idle) on rx for `count` packets carrying their send time (f64 at byte 8) and
//    posts each send → wake-up delay ({ready: true} first, once it waits);
//  - follow: receives on rx for ever, posting each packet's number (u32 at byte 0) and send →
//    receive delay; sends packet k on tx when told `{ send: k }`, posting `{ sent: k }` or the
//    error. The port reconnects meanwhile: the queues must follow it by themselves. `{ stop: true }`
//    closes the queues, which ends it ({stopped: true}).
// A failure posts {error}. The queues are closed when the job ends, before its last message, as a
// Worker should (one that ends with them open is not called after its end,
// tests/worker_exit.test.ts, and has them closed for it, tests/worker_end.test.ts), so the parent
// terminates it only once that message came.
import { parentPort } from "node:worker_threads";

const lib = import(process.versions.bun ? "../../ts/index.ts" : "../../dist/node.js");

/** Deterministic payload `i` of `len` (≥ 4) bytes, as tests/helpers/peers.ts's payload(). */
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

const post = (m) => parentPort.postMessage(m);

parentPort.once("message", async (job) => {
  const open = [];
  let last;
  try {
    const { RxQueue, TxQueue } = await lib;
    if (job.kind === "wake") {
      const rx = RxQueue.adopt(job.rx);
      open.push(rx);
      const delays = [];
      post({ ready: true });
      for await (const p of rx) {
        const now = performance.timeOrigin + performance.now();
        delays.push(now - new DataView(p.buffer, p.byteOffset, p.byteLength).getFloat64(8, true));
        if (delays.length === job.count) break;
      }
      last = { delays };
      return;
    }
    const tx = TxQueue.adopt(job.tx);
    const rx = RxQueue.adopt(job.rx);
    open.push(tx, rx);
    if (job.kind === "follow") {
      parentPort.on("message", async (m) => {
        if (m.stop === true) {
          for (const q of open) q.close(); // ends the for await below
          return;
        }
        try {
          await tx.send(payload(m.send, 64), { timeoutMs: 2000 });
          post({ sent: m.send });
        } catch (err) {
          post({ error: String(err) });
        }
      });
      post({ ready: true });
      for await (const p of rx) {
        const now = performance.timeOrigin + performance.now();
        const d = new DataView(p.buffer, p.byteOffset, p.byteLength);
        post({ got: d.getUint32(0, true), delay: now - d.getFloat64(8, true) });
      }
      last = { stopped: true };
      return;
    }
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
    last = { ok, bad, qid: tx.qid, packets: tx.stats().packets, rxPackets: rx.stats().packets };
  } catch (err) {
    last = { error: String(err?.stack ?? err) };
  } finally {
    for (const q of open) q.close();
    if (last !== undefined) post(last);
  }
});
