/**
 * Worker for tests/workers.test.ts. Adopts the queues it is given, then:
 *  - echo: sends `count` packets on tx in windows of `window`, receiving each window back from
 *    the echoing peer and checking every payload;
 *  - wake: waits (idle) on rx for `count` packets that carry their send time (f64 at byte 8) and
 *    reports each send → wake-up delay.
 *  - follow: receives on rx for ever, reporting each packet's number (u32 at byte 0) and send →
 *    receive delay; sends packet k on tx when told `{ send: k }`, reporting `{ sent: k }` or the
 *    error. The port reconnects meanwhile: the queues must follow it by themselves.
 */
import { type QueueToken, RxQueue, TxQueue } from "../../ts/index.ts";
import { payload, sameBytes } from "./peers.ts";

declare const self: Worker;

export type WorkerJob =
  | { kind: "echo"; tx: QueueToken<"tx">; rx: QueueToken<"rx">; count: number; window: number; seed: number }
  | { kind: "wake"; rx: QueueToken<"rx">; count: number }
  | { kind: "follow"; tx: QueueToken<"tx">; rx: QueueToken<"rx"> };

self.onmessage = async (e: MessageEvent<WorkerJob>) => {
  const job = e.data;
  try {
    if (job.kind === "wake") {
      using rx = RxQueue.adopt(job.rx);
      const delays: number[] = [];
      postMessage({ ready: true });
      for await (const p of rx) {
        const now = performance.timeOrigin + performance.now();
        delays.push(now - new DataView(p.buffer, p.byteOffset, p.byteLength).getFloat64(8, true));
        if (delays.length === job.count) break;
      }
      postMessage({ delays });
      return;
    }
    if (job.kind === "follow") {
      const tx = TxQueue.adopt(job.tx);
      const rx = RxQueue.adopt(job.rx);
      self.onmessage = async (m: MessageEvent<{ send: number }>) => {
        try {
          await tx.send(payload(m.data.send, 64), { timeoutMs: 2000 });
          postMessage({ sent: m.data.send });
        } catch (err) {
          postMessage({ error: String(err) });
        }
      };
      postMessage({ ready: true });
      for await (const p of rx) {
        const now = performance.timeOrigin + performance.now();
        const d = new DataView(p.buffer, p.byteOffset, p.byteLength);
        postMessage({ got: d.getUint32(0, true), delay: now - d.getFloat64(8, true) });
      }
      return;
    }
    using tx = TxQueue.adopt(job.tx);
    using rx = RxQueue.adopt(job.rx);
    const it = rx[Symbol.asyncIterator]();
    let ok = 0;
    for (let start = 0; start < job.count; start += job.window) {
      const sent: Uint8Array[] = [];
      for (let i = start; i < Math.min(job.count, start + job.window); i++) {
        const p = payload(job.seed + i, 64 + (i % 1000));
        await tx.send(p, { timeoutMs: 5000 });
        sent.push(p);
      }
      for (const p of sent) {
        const r = await it.next();
        if (!r.done && sameBytes(r.value, p)) ok++;
      }
    }
    await it.return?.();
    postMessage({ ok, qid: tx.qid, packets: tx.stats().packets });
  } catch (err) {
    postMessage({ error: String(err) });
  }
};
