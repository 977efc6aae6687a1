/**
 * dpdk_co_worker: Bun produces and consumes packets that a DPDK application forwards.
 *
 * Both ends are memif clients of a DPDK server (dpdk-testpmd, or the zmemif forwarder) that
 * forwards its interface `id 0` to `id 1`. For example, testpmd with two memif ports in `io` mode:
 * the commands are in ./dpdk_recipe.ts (one place for README.md, `--help` and the tests).
 *
 * The sender writes Ethernet frames (ethertype 0x88b5, a local experimental type) carrying a
 * magic and a sequence number; the receiver checks them and counts what is lost or out of order,
 * printing the rate every second. A DPDK 22.11 server must be running before the clients start
 * (it accepts reconnects, but its own clients do not retry: start servers first).
 */
import { Batch, MemifSocket, type MemifError } from "zmemif";
import { cli, onStop } from "./cli.ts";
import { RECIPE } from "./dpdk_recipe.ts";

const o = cli(
  "dpdk_co_worker",
  `Sender and receiver as memif clients of a DPDK server that forwards id 0 -> id 1.\n\n${RECIPE}`,
  {
    role: {
      type: "choice",
      choices: ["sender", "receiver"],
      help: "sender transmits on its interface, receiver counts",
    },
    socket: { type: "string", default: "@zmemif-dpdk", help: "the DPDK server's socket: a path, or @name (abstract)" },
    id: {
      type: "int",
      default: "-1",
      min: -1,
      max: 0xffffffff,
      help: "interface id (-1: 0 for the sender, 1 for the receiver)",
    },
    count: {
      type: "int",
      default: "0",
      min: 0,
      max: 2 ** 52,
      help: "sender: packets to send (0: until --seconds or Ctrl-C)",
    },
    pps: {
      type: "int",
      default: "0",
      min: 0,
      max: 1e9,
      help: "sender: packets per second (0: as fast as the ring allows)",
    },
    size: { type: "int", default: "64", min: 64, max: 2048, help: "frame size in bytes" },
    seconds: {
      type: "number",
      default: "0",
      min: 0,
      max: 1e6,
      help: "stop after this long once connected (0: no limit)",
    },
    "idle-exit-ms": {
      type: "int",
      default: "0",
      min: 0,
      max: 3600000,
      help: "receiver: stop when nothing arrived for this long after the first packet (0: never)",
    },
    "connect-timeout-ms": {
      type: "int",
      default: "10000",
      min: 1,
      max: 3600000,
      help: "give up if the DPDK server does not answer",
    },
  },
);

const MAGIC = 0x5a4d454d; // "ZMEM"
const HDR = 14; // Ethernet: dst(6) src(6) type(2); then magic (u32 LE) and seq (u32 LE lo, u32 LE hi)
const template = new Uint8Array(HDR + 4);
template.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
template.set([MAGIC & 0xff, (MAGIC >>> 8) & 0xff, (MAGIC >>> 16) & 0xff, MAGIC >>> 24], HDR);

const sender = o.role === "sender";
const id = o.id >= 0 ? o.id : sender ? 0 : 1;
const socket = new MemifSocket(o.socket);
const port = socket.port({ id, role: "client", name: `dpdk_co_worker-${o.role}`, reconnectMs: 200 });
port.on("disconnected", (e) => console.log(`disconnected: ${e.reason}; reconnecting`));
port.on("connected", (e) => e.generation > 1 && console.log(`connected to ${e.peerName} again`));
let stop = false;
onStop(() => (stop = true));

console.log(`${o.role}: waiting for the DPDK memif server on ${o.socket} (id ${id}); --socket and --id to change`);
try {
  const ev = await port.connect({ timeoutMs: o["connect-timeout-ms"] });
  console.log(`connected to ${ev.peerName}`);
} catch (e) {
  console.error(
    `dpdk_co_worker: ${(e as MemifError).message}` +
      "\n(is the DPDK server running, with a memif interface of this id on this socket?)",
  );
  process.exit(1);
}

const batch = new Batch(32);
const t0 = performance.now();
const endAt = o.seconds > 0 ? t0 + o.seconds * 1000 : Infinity;
let tick = t0;
let packets = 0;
let lastPackets = 0;
const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

function report(now: number, extra: string): void {
  const pps = ((packets - lastPackets) * 1000) / (now - tick);
  console.log(`[${((now - t0) / 1000).toFixed(0)}s] ${sender ? "tx" : "rx"} ${(pps / 1e6).toFixed(3)} Mpps${extra}`);
  lastPackets = packets;
  tick = now;
}

if (sender) {
  using tx = port.txQueue(0);
  const limit = o.count > 0 ? o.count : Infinity;
  while (!stop && packets < limit) {
    const now = performance.now();
    if (now >= endAt) break;
    if (now - tick >= 1000) report(now, "");
    const allowed = o.pps > 0 ? Math.floor(((now - t0) * o.pps) / 1000) - packets : batch.capacity;
    const want = Math.min(batch.capacity, allowed, limit - packets);
    const got = want > 0 ? tx.alloc(batch, want) : 0;
    if (got === 0) {
      if (!port.connected) await port.connect().catch(() => {});
      if (o.pps > 0 && allowed <= 0) await Bun.sleep(1);
      else await yieldLoop();
      continue;
    }
    for (let i = 0; i < got; i++) {
      const view = batch.view(batch.region(i));
      const off = batch.offset(i);
      const seq = packets + i;
      view.set(template, off);
      view[off + 18] = seq & 0xff;
      view[off + 19] = (seq >>> 8) & 0xff;
      view[off + 20] = (seq >>> 16) & 0xff;
      view[off + 21] = (seq >>> 24) & 0xff;
      const hi = Math.floor(seq / 2 ** 32);
      view[off + 22] = hi & 0xff;
      view[off + 23] = (hi >>> 8) & 0xff;
      view[off + 24] = (hi >>> 16) & 0xff;
      view[off + 25] = (hi >>> 24) & 0xff;
      batch.setLength(i, o.size);
    }
    try {
      packets += tx.txBurst(batch, got);
    } catch (e) {
      console.log(`send failed: ${(e as MemifError).message}`);
    }
    if ((packets & 0x3ff) === 0) await yieldLoop();
  }
  console.log(`sent ${packets} packets of ${o.size} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} else {
  using rx = port.rxQueue(0);
  let next = 0; // the sequence number expected next
  let lost = 0;
  let reordered = 0;
  let bad = 0;
  let lastAt = 0;
  while (!stop) {
    const n = rx.rxBurst(batch);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const view = batch.view(batch.region(i));
      const off = batch.offset(i);
      const magic =
        (view[off + HDR]! |
          (view[off + HDR + 1]! << 8) |
          (view[off + HDR + 2]! << 16) |
          (view[off + HDR + 3]! << 24)) >>>
        0;
      if (batch.length(i) < HDR + 12 || magic !== MAGIC) {
        bad++;
        continue;
      }
      const lo = (view[off + 18]! | (view[off + 19]! << 8) | (view[off + 20]! << 16) | (view[off + 21]! << 24)) >>> 0;
      const hi = (view[off + 22]! | (view[off + 23]! << 8) | (view[off + 24]! << 16) | (view[off + 25]! << 24)) >>> 0;
      const seq = hi * 2 ** 32 + lo;
      if (seq >= next) {
        lost += seq - next;
        next = seq + 1;
      } else {
        reordered++;
        lost--; // it was counted as lost when a later one arrived first
      }
      packets++;
    }
    if (n > 0) lastAt = now;
    if (now - tick >= 1000) report(now, ` (received ${packets}, lost ${lost})`);
    if (now >= endAt) break;
    if (o["idle-exit-ms"] > 0 && lastAt > 0 && now - lastAt >= o["idle-exit-ms"]) break;
    if (n === 0) await Promise.race([rx.readable(), Bun.sleep(100)]);
  }
  console.log(`received ${packets} packets, lost ${lost}, out of order ${reordered}, bad ${bad}`);
}
socket.close();
process.exit(0);
