/** Worker for tests/workers.test.ts: adopts one tx and one rx queue, echoes through the peer, checks. */
import { Queue, type QueueToken } from "../../ts/index.ts";
import { payload, sameBytes } from "./peers.ts";

declare const self: Worker;

self.onmessage = async (e: MessageEvent<{ tx: QueueToken; rx: QueueToken; count: number; seed: number }>) => {
  const { count, seed } = e.data;
  using tx = Queue.adopt(e.data.tx);
  using rx = Queue.adopt(e.data.rx);
  const it = rx[Symbol.asyncIterator]();
  let ok = 0;
  try {
    for (let i = 0; i < count; i++) {
      const p = payload(seed + i, 64 + (i % 1000));
      await tx.send(p, { timeoutMs: 5000 });
      const r = await it.next();
      if (!r.done && sameBytes(r.value, p)) ok++;
    }
    await it.return?.();
    postMessage({ ok, qid: tx.qid, packets: tx.stats().packets });
  } catch (err) {
    postMessage({ error: String(err) });
  }
};
