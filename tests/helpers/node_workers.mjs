// Node.js side of tests/node_workers.test.ts, run by `node` on the compiled package (dist/node.js):
// queues of one port driven by node:worker_threads (port.shareQueue here, RxQueue/TxQueue.adopt in
// tests/helpers/queue_worker.mjs), against an echoing memif server in another process.
//   node tests/helpers/node_workers.mjs SOCKET echo COUNT   two Workers, one queue pair each: each
//        sends COUNT packets in windows of 32 and checks every echo; one JSON line per Worker
//   node tests/helpers/node_workers.mjs SOCKET wake COUNT   a Worker waits (idle) on rx; this thread
//        sends COUNT stamped packets 60 ms apart; one JSON line with the send → wake-up delays
// Then the Workers exit, the port and socket close, and the process must end on its own.
import { Worker } from "node:worker_threads";
import { MemifSocket } from "../../dist/node.js";

const [path, kind, countArg] = process.argv.slice(2);
const count = Number(countArg);
const WORKER = new URL("./queue_worker.mjs", import.meta.url);

/** Runs a Worker on `job`; resolves with its last message (the one onMessage accepts). */
function runWorker(job, onMessage = () => true) {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER);
    let result = null;
    w.on("message", (m) => {
      if (onMessage(m)) result = m;
    });
    w.on("error", reject);
    w.on("exit", (code) =>
      code === 0 && result !== null
        ? resolve(result)
        : reject(new Error(`worker exited ${code}, result ${JSON.stringify(result)}`)),
    );
    w.postMessage(job);
  });
}

const socket = new MemifSocket(path);
const queues = kind === "echo" ? 2 : 1;
const port = socket.port({ role: "client", c2sQueues: queues, s2cQueues: queues, reconnectMs: 50 });
await port.connect({ timeoutMs: 10_000 });

if (kind === "echo") {
  const results = await Promise.all(
    [0, 1].map((qid) =>
      runWorker({
        kind: "echo",
        tx: port.shareQueue("tx", qid),
        rx: port.shareQueue("rx", qid),
        count,
        window: 32,
        seed: qid * 100000,
      }),
    ),
  );
  for (const r of results) console.log(JSON.stringify(r));
} else {
  let ready;
  const isReady = new Promise((r) => (ready = r));
  const result = runWorker({ kind: "wake", rx: port.shareQueue("rx", 0), count }, (m) => {
    if (m.ready === true) {
      ready();
      return false;
    }
    return true;
  });
  await isReady;
  const tx = port.txQueue(0);
  for (let i = 0; i < count; i++) {
    await new Promise((r) => setTimeout(r, 60)); // idle: the Worker is armed, not polling
    const p = new Uint8Array(64);
    new DataView(p.buffer).setFloat64(8, performance.timeOrigin + performance.now(), true);
    await tx.send(p, { timeoutMs: 5000 });
  }
  console.log(JSON.stringify(await result));
  tx.close();
}
port.close();
socket.close();
