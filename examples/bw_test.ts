/**
 * bw_test: packet rate over N ports × M queues, printed every second.
 *
 *   bun examples/bw_test.ts --role receiver --socket @zmemif-bw --ports 2 --queues 2
 *   bun examples/bw_test.ts --role sender   --socket @zmemif-bw --ports 2 --queues 2 --size 64
 *
 * The receiver is the memif server and the sender the client unless --memif-role says otherwise.
 * Both run the hot path in one thread: rxBurst / alloc + txBurst with reused Batches, numbers
 * only, nothing allocated per packet; payloads are not touched (the sender sets lengths only).
 * Queues poll (rx mode 'polling'); every pass over the queues checks the clock, and the loop
 * yields to the event loop now and then so timers and Ctrl-C still work. A peer that leaves is
 * waited for: the rates drop to 0 until the next one connects.
 */
import { Batch, MemifError, MemifSocket, type Port, type RxQueue, type TxQueue } from "zmemif";
import { cli, onStop } from "./cli.ts";

const o = cli("bw_test", "Memif packet-rate test: a sender and a receiver, N ports x M queues, Mpps each second.", {
  role: { type: "choice", choices: ["sender", "receiver"], help: "which end of the test this process is" },
  "memif-role": {
    type: "choice",
    default: "auto",
    choices: ["auto", "client", "server"],
    help: "auto: receiver is server, sender is client",
  },
  socket: { type: "string", default: "@zmemif-bw", help: "control socket: a path, or @name (abstract)" },
  id: {
    type: "int",
    default: "0",
    min: 0,
    max: 0xffffff00,
    help: "interface id of the first port (ports use id..id+N-1)",
  },
  ports: { type: "int", default: "1", min: 1, max: 64, help: "ports (memif interfaces) on the socket" },
  queues: { type: "int", default: "1", min: 1, max: 255, help: "queues per port and direction" },
  size: { type: "int", default: "64", min: 1, max: 65535, help: "sender: packet size in bytes (one buffer each)" },
  burst: { type: "int", default: "32", min: 1, max: 256, help: "descriptors per burst" },
  "ring-size": { type: "int", default: "1024", min: 2, max: 16384, help: "descriptors per ring (a power of two)" },
  seconds: {
    type: "number",
    default: "0",
    min: 0,
    max: 1e6,
    help: "stop after this long once connected (0: at Ctrl-C)",
  },
  "connect-timeout-ms": {
    type: "int",
    default: "30000",
    min: 1,
    max: 3600000,
    help: "give up if not all ports connect",
  },
});
if ((o["ring-size"] & (o["ring-size"] - 1)) !== 0) {
  console.error(`bw_test: --ring-size must be a power of two (e.g. 1024), got ${o["ring-size"]}`);
  process.exit(2);
}
if (o.size > 2048) {
  console.error(
    `bw_test: --size ${o.size} needs more than one 2048-byte buffer; ` +
      "use at most 2048 (queue.send() chains larger packets)",
  );
  process.exit(2);
}

const sender = o.role === "sender";
const memifRole =
  o["memif-role"] === "auto" ? (sender ? "client" : "server") : (o["memif-role"] as "client" | "server");
const socket = new MemifSocket(o.socket);
const ports: Port[] = [];
for (let p = 0; p < o.ports; p++) {
  ports.push(
    socket.port({
      id: o.id + p,
      role: memifRole,
      c2sQueues: o.queues,
      s2cQueues: o.queues,
      ringSize: o["ring-size"],
      name: `bw_test-${o.role}`,
    }),
  );
}
let stop = false;
onStop(() => (stop = true));
const peerRole = memifRole === "server" ? "client" : "server";
const ids = o.ports === 1 ? `id ${o.id}` : `ids ${o.id}..${o.id + o.ports - 1}`;
for (const p of ports) {
  p.on("disconnected", (e) => console.log(`port ${p.id} disconnected: ${e.reason}; waiting for the next ${peerRole}`));
  p.on("connected", (e) => e.generation > 1 && console.log(`port ${p.id} connected to ${e.peerName} again`));
}
console.log(
  `${o.role}: ${o.ports} port(s) x ${o.queues} queue(s) as memif ${memifRole}; ` +
    `waiting for a memif ${peerRole} on ${o.socket} (${ids}); --socket and --id to change`,
);
try {
  await Promise.all(ports.map((p) => p.connect({ timeoutMs: o["connect-timeout-ms"] })));
} catch (e) {
  console.error(`bw_test: ${(e as Error).message}`);
  process.exit(1);
}
console.log(`connected to ${ports[0]!.peerName}`);

const txQueues: TxQueue[] = [];
const rxQueues: RxQueue[] = [];
for (const p of ports) {
  for (let q = 0; q < o.queues; q++) {
    if (sender) txQueues.push(p.txQueue(q));
    else rxQueues.push(p.rxQueue(q, { rxMode: "polling" }));
  }
}
const nQueues = sender ? txQueues.length : rxQueues.length;
const batches = Array.from({ length: nQueues }, () => new Batch(o.burst));
const size = o.size;
const burst = o.burst;

let packets = 0;
let bytes = 0;
let lastPackets = 0;
let lastBytes = 0;
const t0 = performance.now();
let tick = t0;
const endAt = o.seconds > 0 ? t0 + o.seconds * 1000 : Infinity;
const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

while (!stop) {
  for (let round = 0; round < 256; round++) {
    let moved = 0;
    for (let k = 0; k < nQueues; k++) {
      const b = batches[k]!;
      if (sender) {
        const q = txQueues[k]!;
        const got = q.alloc(b, burst); // 0 also while the receiver is gone
        if (got === 0) continue;
        const d = b.descs;
        for (let i = 0; i < got; i++) d[i * 4 + 1] = size; // length; payload untouched
        let sent = 0;
        try {
          sent = q.txBurst(b, got);
        } catch (e) {
          // the receiver left between alloc and txBurst: those buffers went with it
          if (!(e instanceof MemifError) || e.code !== "NOT_CONNECTED") throw e;
        }
        moved += sent;
        bytes += sent * size;
      } else {
        const n = rxQueues[k]!.rxBurst(b); // 0 also while the sender is gone
        if (n === 0) continue;
        const d = b.descs;
        for (let i = 0; i < n; i++) bytes += d[i * 4 + 1]!;
        moved += n;
      }
    }
    packets += moved;
    if (moved === 0) break; // nothing to do: let the event loop run
  }
  const now = performance.now();
  if (now - tick >= 1000) {
    const secs = (now - tick) / 1000;
    const pps = (packets - lastPackets) / secs;
    const bps = ((bytes - lastBytes) * 8) / secs;
    console.log(
      `[${((now - t0) / 1000).toFixed(0)}s] ${sender ? "tx" : "rx"} ${(pps / 1e6).toFixed(3)} Mpps ` +
        `${(bps / 1e9).toFixed(3)} Gbit/s (${o.ports} port(s) x ${o.queues} queue(s))`,
    );
    lastPackets = packets;
    lastBytes = bytes;
    tick = now;
  }
  if (now >= endAt) break;
  await yieldLoop();
}
const secs = (performance.now() - t0) / 1000;
console.log(
  `total: ${sender ? "sent" : "received"} ${packets} packets in ${secs.toFixed(1)} s, ` +
    `${(packets / secs / 1e6).toFixed(3)} Mpps average`,
);
socket.close();
process.exit(0);
