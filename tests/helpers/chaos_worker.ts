/**
 * A Worker of tests/helpers/chaos_workers.ts: adopts one rx and one tx queue and echoes every
 * packet through the burst API, across connections coming and going. Posts {ready} once it holds
 * its queues and {echoed} when asked ("report"); an unexpected error is posted as {error}.
 */
import { Batch, MemifError, type QueueToken, RxQueue, TxQueue } from "../../ts/index.ts";

declare const self: Worker;
let echoed = 0;

self.onmessage = async (e: MessageEvent<{ rx: QueueToken<"rx">; tx: QueueToken<"tx"> } | "report">) => {
  if (e.data === "report") {
    postMessage({ echoed });
    return;
  }
  const rx = RxQueue.adopt(e.data.rx);
  const tx = TxQueue.adopt(e.data.tx);
  postMessage({ ready: true });
  const rb = new Batch(32);
  const tb = new Batch(32);
  for (;;) {
    try {
      const n = rx.rxBurst(rb);
      if (n === 0) {
        await rx.readable();
        continue;
      }
      let got = tx.alloc(tb, n);
      if (got < n) {
        // the ring is full, or tx still held the connection before this one (in a Worker no event
        // tells it): writable() attaches to the current connection and waits for room
        await tx.writable(1000, n);
        got = tx.alloc(tb, n);
      }
      for (let i = 0; i < got; i++) tb.write(i, rb.data(i));
      echoed += tx.txBurst(tb, got);
    } catch (err) {
      // the connection ended under the batch (or its peer stopped reading): serve the next one
      if (err instanceof MemifError && ["NOT_CONNECTED", "STALE_VIEW", "TIMEOUT"].includes(err.code)) continue;
      postMessage({ error: String(err) });
      return;
    }
  }
};
