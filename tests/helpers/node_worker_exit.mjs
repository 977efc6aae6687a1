// tests/worker_exit.test.ts's case for Node.js (the N-API backend, dist/node.js), run by `node`:
//   node tests/helpers/node_worker_exit.mjs BUN rx|port terminate|throw|exit ITERATIONS
// As tests/helpers/worker_exit.ts, with the same steps (tests/helpers/worker_exit_steps.mjs): each
// iteration a node:worker_threads Worker waits armed on an rx queue (adopted from this thread's
// port, or of a port it opened itself), ends without closing anything, and then the peer
// (tests/helpers/command_peer.ts, started with BUN) sends to that queue (to the Worker's own port,
// which the core closes when the Worker ends, only while it is still connected: `offer`) and/or
// ends the connection. At the end this thread receives a packet on a new port and prints "ok N".
// This file is also the Worker (it runs itself).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { MemifSocket, RxQueue } from "../../dist/node.js";
import { commands, handle, run } from "./worker_exit_steps.mjs";

if (!isMainThread) {
  parentPort.on("message", async (job) => {
    const said = await handle(job, { MemifSocket, RxQueue });
    if (said !== undefined) parentPort.postMessage(said);
  });
} else {
  const [bun, kind, end, iterArg] = process.argv.slice(2);
  const iterations = Number(iterArg);
  const path = `@zmemif-worker-exit-node-${process.pid}`;
  const peer = spawn(bun, [fileURLToPath(new URL("./command_peer.ts", import.meta.url)), "--socket", path], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = [];
  let wake = () => {};
  let buf = "";
  peer.stdout.on("data", (d) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop();
    lines.push(...parts);
    wake();
  });
  /** The first peer line from index `from` that `match` accepts, within 10 s. */
  const waitLine = async (from, match, what) => {
    const deadline = Date.now() + 10_000;
    for (let i = from; ; ) {
      for (; i < lines.length; i++) if (match(lines[i])) return lines[i];
      if (Date.now() > deadline) throw new Error(`command_peer: no ${what} within 10 s: ${lines.slice(-5)}`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await waitLine(0, (l) => l === "ready", "ready");
  await run({
    ...commands({ lines, write: (text) => peer.stdin.write(text), waitLine }),
    MemifSocket,
    path,
    kind,
    end,
    iterations,
    startWorker: () => {
      const w = new Worker(new URL(import.meta.url));
      w.on("error", () => {}); // the "throw" end: expected
      return {
        post: (m) => w.postMessage(m),
        terminate: () => void w.terminate(),
        firstMessage: new Promise((r) => w.once("message", r)),
        ended: new Promise((r) => w.once("exit", r)),
      };
    },
  });
  peer.stdin.end();
  console.log(`ok ${iterations}`);
  process.exit(0);
}
