/**
 * A memif peer in its own process, for the Bun tests (and usable by hand):
 *
 *   bun tests/helpers/bun_peer.ts --socket PATH [--role server|client] [--id N] [--secret S] [--name NAME]
 *                     [--behaviour echo|sink|idle|send] [--delay-ms N] [--exit-after N] [--queues N]
 *                     [--count N --size BYTES --start-delay-ms N --interval-ms N]  (send)
 *                     [--check]  (sink: packet i must be payload(i, len), in order)
 *
 * It prints one line per event on stdout ("listening", "connected <peer>", "disconnected <reason>",
 * "received <packets> <bytes>", "exit"), so a test can follow it. echo: every packet goes back out;
 * sink: count packets (sleeping --delay-ms between bursts: a slow receiver); idle: receive nothing;
 * send: once connected, send --count packets of --size bytes on queue 0, packet i carrying i (u32)
 * at byte 0 and the send time (f64 ms, performance.timeOrigin + performance.now()) at byte 8.
 * echo/sink serve every queue. With --check, sink prints "check ok" or "check bad <first problem>"
 * before "received".
 */
import { parseArgs } from "node:util";
import { Batch, MemifSocket, type Role } from "../../ts/index.ts";
import { payload, sameBytes } from "./peers.ts";

const { values: a } = parseArgs({
  options: {
    socket: { type: "string" },
    role: { type: "string", default: "server" },
    id: { type: "string", default: "0" },
    secret: { type: "string" },
    name: { type: "string", default: "bun-peer" },
    behaviour: { type: "string", default: "echo" },
    "delay-ms": { type: "string", default: "0" },
    "exit-after": { type: "string", default: "0" },
    "buffer-size": { type: "string" },
    "ring-size": { type: "string" },
    queues: { type: "string", default: "1" },
    count: { type: "string", default: "10" },
    size: { type: "string", default: "64" },
    "start-delay-ms": { type: "string", default: "0" },
    "interval-ms": { type: "string", default: "0" },
    check: { type: "boolean", default: false },
  },
});
if (a.socket === undefined) throw new Error("--socket is required");

const socket = new MemifSocket(a.socket);
const port = socket.port({
  id: Number(a.id),
  role: a.role as Role,
  name: a.name,
  ...(a.secret !== undefined ? { secret: a.secret } : {}),
  ...(a["buffer-size"] !== undefined ? { bufferSize: Number(a["buffer-size"]) } : {}),
  ...(a["ring-size"] !== undefined ? { ringSize: Number(a["ring-size"]) } : {}),
  reconnectMs: 100,
  c2sQueues: Number(a.queues),
  s2cQueues: Number(a.queues),
});
const say = (line: string) => process.stdout.write(line + "\n");
port.on("connected", (e) => say(`connected ${e.peerName}`));
port.on("disconnected", (e) => say(`disconnected ${e.reason}`));
port.on("rejected", (e) => say(`rejected ${e.reason}`));
say("listening");

const exitAfter = Number(a["exit-after"]);
const delayMs = Number(a["delay-ms"]);
let packets = 0;
let bytes = 0;
let stopping = false;
let firstBad = "";

function stop(): void {
  if (stopping) return;
  stopping = true;
  if (a.check) say(firstBad === "" ? "check ok" : `check bad ${firstBad}`);
  say(`received ${packets} ${bytes}`);
  socket.close();
  say("exit");
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

async function serveQueue(qid: number): Promise<void> {
  const rx = port.rxQueue(qid);
  const tx = a.behaviour === "echo" ? port.txQueue(qid) : null;
  const batch = new Batch(32);
  for (;;) {
    const n = rx.rxBurst(batch);
    if (n === 0) {
      await rx.readable();
      continue;
    }
    for (let i = 0; i < n; i = batch.packetEnd(i)) {
      if (a.check && firstBad === "") {
        const got = batch.copyPacket(i);
        if (!sameBytes(got, payload(packets, got.byteLength))) {
          const seq = got.byteLength >= 4 ? new DataView(got.buffer, got.byteOffset).getUint32(0, true) : -1;
          firstBad = `packet ${packets}: got seq ${seq}, ${got.byteLength} bytes`;
        }
      }
      packets++;
      bytes += batch.packetLength(i);
      if (tx !== null) {
        const copy = batch.copyPacket(i);
        await tx.send(copy).catch((e) => say(`send failed ${e.code}`));
      }
    }
    if (exitAfter > 0 && packets >= exitAfter) stop();
    if (delayMs > 0) await Bun.sleep(delayMs);
  }
}

async function sendPackets(): Promise<void> {
  await port.connect();
  await Bun.sleep(Number(a["start-delay-ms"]));
  const tx = port.txQueue(0);
  const count = Number(a.count);
  const size = Number(a.size);
  for (let i = 0; i < count; i++) {
    const p = new Uint8Array(Math.max(size, 16)).fill(i & 0xff);
    const dv = new DataView(p.buffer);
    dv.setUint32(0, i, true);
    dv.setFloat64(8, performance.timeOrigin + performance.now(), true);
    await tx.send(p);
    if (Number(a["interval-ms"]) > 0) await Bun.sleep(Number(a["interval-ms"]));
  }
  say(`sent ${count}`);
}

if (a.behaviour === "echo" || a.behaviour === "sink") {
  for (let q = 0; q < Number(a.queues); q++) void serveQueue(q);
} else if (a.behaviour === "send") {
  await sendPackets();
}
