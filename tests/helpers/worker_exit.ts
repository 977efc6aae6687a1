/**
 * A Bun process whose Workers end while zmemif may still call them, run by tests/worker_exit.test.ts
 * as a child process so that a crash is its exit status, not the test runner's:
 *
 *   bun tests/helpers/worker_exit.ts --case rx|port --end terminate|throw|exit --iterations N
 *
 * Each iteration starts a Worker (tests/helpers/worker_exit_worker.ts) that waits armed on
 *  - rx:   an rx queue of this thread's port, shared with it (the core calls the Worker's own
 *          callback, zmemif_rx_queue_arm_cb, on data or when the connection ends);
 *  - port: an rx queue of a port the Worker opened itself (the core calls the Worker's port
 *          callback on data, disconnect, reconnect);
 * then ends it (terminate(), an uncaught error, process.exit()) without closing anything, and then
 * makes the peer (tests/helpers/command_peer.ts, another process) send to that queue and/or end
 * the connection, so the core has something to report to the Worker that is gone. Even
 * iterations go on at once (the Worker is being torn down), odd ones after its 'close' event.
 * The core closes a port whose Worker ended (tests/worker_end.test.ts), so in the port case the
 * peer sends only while that port is still connected (`offer`), racing its close.
 * At the end this thread opens a new port to the peer and receives a packet on it, and prints
 * "ok N" (N iterations). The steps are tests/helpers/worker_exit_steps.mjs, shared with Node.js.
 */
import { parseArgs } from "node:util";
import { Proc } from "../../support/proc.ts";
import { MemifSocket } from "../../ts/index.ts";
import { abstractName } from "./peers.ts";
import { commands, run } from "./worker_exit_steps.mjs";

const { values: a } = parseArgs({
  options: {
    case: { type: "string", default: "rx" },
    end: { type: "string", default: "terminate" },
    iterations: { type: "string", default: "10" },
  },
});
const kind = a.case === "port" ? "port" : "rx";
const end = a.end ?? "terminate";
if (end !== "terminate" && end !== "throw" && end !== "exit") throw new Error(`--end ${end}: terminate, throw or exit`);
const iterations = Number(a.iterations);

const WORKER = new URL("./worker_exit_worker.ts", import.meta.url).href;
const path = abstractName();
const peer = new Proc([process.execPath, new URL("./command_peer.ts", import.meta.url).pathname, "--socket", path], {
  stdin: "pipe",
  name: "command_peer",
});
await peer.waitFor(/^ready$/);

const told = commands({
  lines: peer.lines,
  write: (text) => peer.write(text),
  waitLine: async (from, match, what) =>
    (await peer.waitLine(from, (l) => (match(l) ? l : undefined), 10_000, what)).value,
});

await run({
  ...told,
  MemifSocket,
  path,
  kind,
  end,
  iterations,
  startWorker: () => {
    const w = new Worker(WORKER);
    w.onerror = (e) => e.preventDefault(); // the "throw" end: expected
    return {
      post: (m) => w.postMessage(m),
      terminate: () => w.terminate(),
      firstMessage: new Promise((r) => {
        w.onmessage = (m) => r(m.data);
      }),
      ended: new Promise((r) => w.addEventListener("close", r)),
    };
  },
});
console.log(`ok ${iterations}`);
process.exit(0);
