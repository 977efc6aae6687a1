/**
 * The Worker of tests/helpers/worker_exit.ts: it opens zmemif things, waits on them (armed), says
 * so, and then ends without closing anything, as told:
 *   {kind: "rx", rx}              adopt the shared rx queue and wait on it (zmemif_rx_queue_arm_cb)
 *   {kind: "port", path, id}      open its own socket and client port, and wait on rx queue 0
 *                                 (the port's callback is this Worker's)
 * It posts {armed: true} once it waits, or {error}. Then {end: "throw"} throws from a timer (an
 * uncaught error ends the Worker) and {end: "exit"} calls process.exit(7); the parent may also
 * terminate() it.
 */
import { MemifSocket, type QueueToken, RxQueue } from "../../ts/index.ts";

declare const self: Worker;

type Job = { kind: "rx"; rx: QueueToken<"rx"> } | { kind: "port"; path: string; id: number } | { end: string };

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
    let rx: RxQueue;
    if (job.kind === "rx") {
      rx = RxQueue.adopt(job.rx);
    } else {
      const socket = new MemifSocket(job.path);
      const port = socket.port({ role: "client", id: job.id, secret: "worker-exit", reconnectMs: 5 });
      await port.connect({ timeoutMs: 5000 });
      rx = port.rxQueue(0);
    }
    // The first next() arms the queue before it returns (there is nothing to read yet).
    void rx[Symbol.asyncIterator]().next();
    self.postMessage({ armed: true });
  } catch (e) {
    self.postMessage({ error: String((e as Error)?.stack ?? e) });
  }
};
