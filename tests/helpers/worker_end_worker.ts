/**
 * The Worker of tests/helpers/worker_end.ts: it opens or adopts zmemif things, attaches to the
 * connection (views of its memory in this Worker's heap), waits on rx (armed), says so, and then
 * ends without closing anything, as told:
 *   {kind: "port", path, id}   its own socket and client port; rx queue 0 armed, tx queue 0 with
 *                              a buffer allocated and written
 *   {kind: "queue", rx, tx}    adopts the shared rx and tx queues; the same waits and views
 *   {kind: "give", path, id}   its own socket and client port, whose rx and tx queue 0 it shares
 *                              with the parent: posts {ready, rx, tx} (the tokens) at once
 *   {close: true}              closes all it has (the warm-up: what a Worker leaves when it
 *                              closes everything), then says {closed: true}
 * It posts {ready: true} once it waits, or {error}. Then {end: "throw"} throws from a timer (an
 * uncaught error ends the Worker) and {end: "exit"} calls process.exit(7); the parent may also
 * terminate() it.
 */
import { Batch, MemifSocket, type QueueToken, RxQueue, TxQueue } from "../../ts/index.ts";

declare const self: Worker;

type Job =
  | { kind: "port"; path: string; id: number }
  | { kind: "queue"; rx: QueueToken<"rx">; tx: QueueToken<"tx"> }
  | { kind: "give"; path: string; id: number }
  | { close: true }
  | { end: string };

const opened: { close(): void }[] = [];

self.onmessage = async (m: MessageEvent<Job>) => {
  const job = m.data;
  try {
    if ("end" in job) {
      if (job.end === "throw") {
        setTimeout(() => {
          throw new Error("the Worker's script fails (on purpose)");
        }, 0);
      } else if (job.end === "exit") {
        process.exit(7);
      }
      return;
    }
    if ("close" in job) {
      for (const o of opened.reverse()) o.close();
      self.postMessage({ closed: true });
      return;
    }
    if (job.kind === "give") {
      const socket = new MemifSocket(job.path);
      opened.push(socket);
      const port = socket.port({ role: "client", id: job.id, secret: "worker-exit", reconnectMs: 5 });
      await port.connect({ timeoutMs: 5000 });
      self.postMessage({ ready: true, rx: port.shareQueue("rx", 0), tx: port.shareQueue("tx", 0) });
      return;
    }
    let rx: RxQueue;
    let tx: TxQueue;
    if (job.kind === "queue") {
      rx = RxQueue.adopt(job.rx);
      tx = TxQueue.adopt(job.tx);
    } else {
      const socket = new MemifSocket(job.path);
      opened.push(socket);
      const port = socket.port({ role: "client", id: job.id, secret: "worker-exit", reconnectMs: 5 });
      await port.connect({ timeoutMs: 5000 });
      rx = port.rxQueue(0);
      tx = port.txQueue(0);
    }
    opened.push(rx, tx);
    // A buffer of the shared memory, viewed and written from this Worker (and never sent).
    const batch = new Batch(1);
    if (tx.alloc(batch, 1) !== 1) throw new Error("tx.alloc: no buffer (not connected?)");
    batch.write(0, new Uint8Array(64).fill(0xab));
    // The first next() arms the queue before it returns (there is nothing to read yet).
    void rx[Symbol.asyncIterator]().next();
    self.postMessage({ ready: true });
  } catch (e) {
    self.postMessage({ error: String((e as Error)?.stack ?? e) });
  }
};
