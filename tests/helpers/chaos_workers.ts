/**
 * The target of tests/chaos_events.test.ts: a memif server with 4 queue pairs, each served by its
 * own Bun Worker (tests/helpers/chaos_worker.ts) that echoes what arrives, while this thread
 * follows the port's events. Every event the core's control thread delivers lands here through
 * threadsafe FFI callbacks: CONNECTED / DISCONNECTED on this thread, RX_READY in the Workers.
 *
 *   bun tests/helpers/chaos_workers.ts --socket PATH|@NAME [--queues 4]
 *
 * Prints "ready" once the Workers hold their queues, "connected <n>" / "disconnected <n>" on each
 * event (n counts them), and on SIGTERM one JSON line {"connected","disconnected","echoed":[per
 * Worker],"errors":[...],"connects","disconnects"} (the last two: the core's counters).
 */
import { parseArgs } from "node:util";
import { MemifSocket } from "../../ts/index.ts";

const { values: a } = parseArgs({ options: { socket: { type: "string" }, queues: { type: "string", default: "4" } } });
if (a.socket === undefined) throw new Error("--socket is required");
const queues = Number(a.queues);
const say = (line: string) => process.stdout.write(line + "\n");

const socket = new MemifSocket(a.socket);
const port = socket.port({ role: "server", c2sQueues: queues, s2cQueues: queues, name: "chaos-workers" });
let connected = 0;
let disconnected = 0;
port.on("connected", () => say(`connected ${++connected}`));
port.on("disconnected", () => say(`disconnected ${++disconnected}`));

const workers: Worker[] = [];
const echoed: number[] = new Array(queues).fill(0);
const errors: string[] = [];
let ready = 0;
let reported = 0;
let onReported: (() => void) | null = null;
for (let q = 0; q < queues; q++) {
  const w = new Worker(new URL("./chaos_worker.ts", import.meta.url).href);
  w.onmessage = (m: MessageEvent) => {
    const d = m.data as { ready?: true; echoed?: number; error?: string };
    if (d.error !== undefined) errors.push(`queue ${q}: ${d.error}`);
    if (d.ready === true && ++ready === queues) say("ready");
    if (d.echoed !== undefined) {
      echoed[q] = d.echoed;
      if (++reported === queues) onReported?.();
    }
  };
  w.onerror = (e) => errors.push(`queue ${q}: ${e.message}`);
  w.postMessage({ rx: port.shareQueue("rx", q), tx: port.shareQueue("tx", q) });
  workers.push(w);
}

process.on("SIGTERM", async () => {
  const all = new Promise<void>((r) => (onReported = r));
  for (const w of workers) w.postMessage("report");
  await Promise.race([all, Bun.sleep(3000)]);
  const info = port.info();
  say(
    JSON.stringify({ connected, disconnected, echoed, errors, connects: info.connects, disconnects: info.disconnects }),
  );
  process.exit(0);
});
