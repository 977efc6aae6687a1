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
 * "ok N" (N iterations).
 */
import { parseArgs } from "node:util";
import { Proc } from "../../support/proc.ts";
import { MemifSocket } from "../../ts/index.ts";
import { abstractName } from "./peers.ts";

const { values: a } = parseArgs({
  options: {
    case: { type: "string", default: "rx" },
    end: { type: "string", default: "terminate" },
    iterations: { type: "string", default: "10" },
  },
});
const kind = a.case === "port" ? "port" : "rx";
const end = a.end ?? "terminate";
if (!["terminate", "throw", "exit"].includes(end)) throw new Error(`--end ${end}: terminate, throw or exit`);
const iterations = Number(a.iterations);

const WORKER = new URL("./worker_exit_worker.ts", import.meta.url).href;
const SECRET = "worker-exit";
const path = abstractName();
const peer = new Proc([process.execPath, new URL("./command_peer.ts", import.meta.url).pathname, "--socket", path], {
  stdin: "pipe",
  name: "command_peer",
});
await peer.waitFor(/^ready$/);

/** Sends `command` to the peer and waits (10 s at most) for its answer line, or its error. */
async function tell(command: string, answer: string): Promise<void> {
  const from = peer.lines.length;
  peer.write(`${command}\n`);
  const said = (line: string) => (line === answer || line.startsWith("error ") ? line : undefined);
  const { value } = await peer.waitLine(from, said, 10_000, `'${answer}'`);
  if (value !== answer) throw new Error(`command_peer: ${command}: ${value}`);
}

/** Has the peer send `n` packets to interface `id` while it is connected (the Worker's port, closing). */
async function offer(id: number, n: number): Promise<void> {
  const from = peer.lines.length;
  peer.write(`offer ${id} ${n}\n`);
  const said = (line: string) => (line.startsWith(`offered ${id} `) || line.startsWith("error ") ? line : undefined);
  const { value } = await peer.waitLine(from, said, 10_000, `'offered ${id} …'`);
  if (value.startsWith("error ")) throw new Error(`command_peer: offer ${id} ${n}: ${value}`);
}

/** Resolves with the Worker's first message (its {armed} or {error}), within 10 s. */
function firstMessage(w: Worker): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the Worker did not say it waits within 10 s")), 10_000);
    w.onmessage = (m) => {
      clearTimeout(timer);
      resolve(m.data);
    };
  });
}

for (let i = 0; i < iterations; i++) {
  const id = i + 1;
  await tell(`listen ${id}`, `listening ${id}`);
  const w = new Worker(WORKER);
  w.onerror = (e) => e.preventDefault(); // the "throw" end: expected
  const closed = new Promise<void>((r) => w.addEventListener("close", () => r()));
  const armed = firstMessage(w);
  let socket: MemifSocket | null = null;
  if (kind === "rx") {
    socket = new MemifSocket(path);
    const port = socket.port({ role: "client", id, secret: SECRET, reconnectMs: 5 });
    await port.connect({ timeoutMs: 5000 });
    w.postMessage({ kind: "rx", rx: port.shareQueue("rx", 0) });
  } else {
    w.postMessage({ kind: "port", path, id });
  }
  const said = await armed;
  if (said.armed !== true) throw new Error(`iteration ${i}: the Worker says ${JSON.stringify(said)}`);
  if (end === "terminate") w.terminate();
  else w.postMessage({ end });
  if (i % 2 === 1) await closed;
  // data for the armed queue (every other pair of iterations), then the connection ends
  if (i % 4 < 2 && kind === "rx") await tell(`send ${id} 4`, `sent ${id} 4`);
  if (i % 4 < 2 && kind === "port") await offer(id, 4);
  await tell(`drop ${id}`, `dropped ${id}`);
  socket?.close(); // this thread's port, with the Worker's queue (and arm) still open
  await closed;
}

// This thread still works: a new port, and a packet received on it.
const id = iterations + 1;
await tell(`listen ${id}`, `listening ${id}`);
const socket = new MemifSocket(path);
const port = socket.port({ role: "client", id, secret: SECRET });
await port.connect({ timeoutMs: 5000 });
const rx = port.rxQueue(0);
const got = (async () => {
  for await (const p of rx) return p.byteLength;
  return -1;
})();
await tell(`send ${id} 1`, `sent ${id} 1`);
const timeout = new Promise<number>((_, reject) =>
  setTimeout(() => reject(new Error("no packet on the new port within 5 s")), 5000),
);
const len = await Promise.race([got, timeout]);
if (len !== 64) throw new Error(`the new port received ${len} bytes, not 64`);
socket.close();
console.log(`ok ${iterations}`);
process.exit(0);
