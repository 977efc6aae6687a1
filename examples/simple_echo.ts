/**
 * simple_echo: round-trip times over memif.
 *
 *   bun examples/simple_echo.ts --role server --socket @zmemif-echo
 *   bun examples/simple_echo.ts --role client --socket @zmemif-echo --count 1000
 *
 * The client sends packets carrying a sequence number and a timestamp, one at a time; the server
 * echoes every packet back; the client prints the round-trip times (min, p50, p99, max).
 * The server echoes through the burst API (rxBurst → alloc → copy → txBurst, chained packets
 * rebuilt as chains), or with --api send through `send()`; the client uses the conveniences
 * (send, readable + rxBurst).
 *
 * A peer may leave at any moment, even in the middle of a burst. The server then drops the rest
 * of that burst and serves the next client; the client counts the packet in flight as lost and
 * waits for the server to come back.
 */
import { Batch, MemifError, MemifSocket, type RxMode, type RxQueue } from "zmemif";
import { cli, onStop, percentile, us } from "./cli.ts";

const o = cli("simple_echo", "Echo server, or a client that measures round-trip times (p50/p99).", {
  role: { type: "choice", choices: ["server", "client"], help: "server echoes; client sends and measures" },
  socket: { type: "string", default: "@zmemif-echo", help: "control socket: a path, or @name (abstract)" },
  id: { type: "int", default: "0", min: 0, max: 0xffffffff, help: "memif interface id (same on both sides)" },
  api: {
    type: "choice",
    default: "burst",
    choices: ["burst", "send"],
    help: "server: echo through the burst API or send()",
  },
  count: { type: "int", default: "1000", min: 1, max: 1e9, help: "client: packets to send" },
  size: { type: "int", default: "64", min: 16, max: 65535, help: "client: packet size in bytes" },
  "interval-ms": { type: "number", default: "0", min: 0, max: 60000, help: "client: pause between packets" },
  "timeout-ms": { type: "int", default: "1000", min: 1, max: 600000, help: "client: wait this long for each echo" },
  "connect-timeout-ms": {
    type: "int",
    default: "10000",
    min: 1,
    max: 3600000,
    help: "client: give up connecting after this",
  },
  "rx-mode": {
    type: "choice",
    default: "adaptive",
    choices: ["adaptive", "interrupt", "polling"],
    help: "how rx waits",
  },
});

/** The errors that mean "the peer left": the connection under a batch or queue ended. */
function peerLeft(e: unknown): boolean {
  return e instanceof MemifError && (e.code === "NOT_CONNECTED" || e.code === "STALE_VIEW");
}

const role = o.role as "server" | "client";
const peer = role === "server" ? "client" : "server";
const socket = new MemifSocket(o.socket);
const port = socket.port({ id: o.id, role, name: `simple_echo-${role}` });
const rx = port.rxQueue(0, { rxMode: o["rx-mode"] as RxMode });
const tx = port.txQueue(0);
port.on("connected", (e) => console.log(`connected to ${e.peerName}`));
port.on("disconnected", (e) => console.log(`disconnected: ${e.reason}; waiting for the next ${peer}`));
port.on("rejected", (e) => console.log(`handshake refused: ${e.reason}`));
console.log(`waiting for a memif ${peer} on ${o.socket} (id ${o.id}); --socket and --id to change, Ctrl-C to stop`);

if (role === "server") {
  let echoed = 0;
  let cut = 0;
  onStop(() => {
    const bad = rx.stats().badDescs; // descriptors a client got wrong: dropped, never delivered
    console.log(
      `echoed ${echoed} packets${cut > 0 ? `; ${cut} burst(s) cut short (client gone or not reading)` : ""}` +
        `${bad > 0 ? `; ${bad} bad descriptor(s) dropped` : ""}`,
    );
    socket.close();
    process.exit(0);
  });
  let rb = new Batch(32);
  const tb = new Batch(256); // room for a 65535-byte packet even in small buffers

  /** Copies packet i of rb into tx buffers k.. of tb (chaining them); how many it used, or -1. */
  const copyInto = (i: number, k: number, got: number): number => {
    const end = rb.packetEnd(i);
    let used = 0;
    let room = 0; // bytes left in tx buffer k + used - 1
    for (let j = i; j < end; j++) {
      const src = rb.view(rb.region(j));
      let at = rb.offset(j);
      let left = rb.length(j);
      while (left > 0) {
        if (room === 0) {
          if (k + used === got) return -1;
          if (used > 0) tb.setNext(k + used - 1, true);
          room = tb.length(k + used); // after alloc: the buffer's capacity
          tb.setLength(k + used, 0);
          tb.setNext(k + used, false);
          used++;
        }
        const b = k + used - 1;
        const take = Math.min(room, left);
        tb.view(tb.region(b)).set(src.subarray(at, at + take), tb.offset(b) + tb.length(b));
        tb.setLength(b, tb.length(b) + take);
        at += take;
        left -= take;
        room -= take;
      }
    }
    return used;
  };

  /** Echoes the n descriptors of rb through alloc + txBurst. */
  const echoBurst = async (n: number): Promise<void> => {
    let i = 0;
    while (i < n) {
      const got = tx.alloc(tb);
      let k = 0;
      while (i < n) {
        if (rb.packetLength(i) === 0) {
          i = rb.packetEnd(i); // nothing to echo
          continue;
        }
        const used = copyInto(i, k, got);
        if (used < 0) break; // the rest of the reservation is too small for it
        k += used;
        i = rb.packetEnd(i);
      }
      if (k > 0) {
        echoed += countPackets(tb, tx.txBurst(tb, k));
        continue;
      }
      if (i === n) break;
      if (got === tb.capacity) {
        // larger than 256 buffers can carry (a peer's tiny buffers): let send() size its batch
        await tx.send(rb.copyPacket(i), { timeoutMs: 1000 });
        echoed++;
        i = rb.packetEnd(i);
      } else {
        await tx.writable(1000, Math.min(tb.capacity, got + 1)); // the ring is full: wait for room
      }
      if (!rb.valid) return; // the client left while we waited: this burst is gone with it
    }
  };

  /** Echoes the n descriptors of rb one packet at a time through send(). */
  const echoSend = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i = rb.packetEnd(i)) {
      if (rb.packetLength(i) === 0) continue; // nothing to echo
      await tx.send(rb.copyPacket(i), { timeoutMs: 1000 }); // waits for ring space
      echoed++;
      if (!rb.valid) return; // the client left while we waited: this burst is gone with it
    }
  };

  for (;;) {
    let n: number;
    try {
      n = rx.rxBurst(rb);
    } catch (e) {
      // a packet of more segments than the batch holds (a client with small buffers): grow it
      if (!(e instanceof MemifError && e.code === "TOO_LARGE" && rb.capacity < 65536)) throw e;
      rb = new Batch(rb.capacity * 2);
      continue;
    }
    if (n === 0) {
      await rx.readable(); // also resolves when the next client connects
      continue;
    }
    try {
      await (o.api === "send" ? echoSend(n) : echoBurst(n));
    } catch (e) {
      // The client left mid-burst (or stopped reading for a second): drop the rest of the burst.
      if (!peerLeft(e) && !(e instanceof MemifError && e.code === "TIMEOUT")) throw e;
      cut++;
    }
  }
} else {
  const connect = () =>
    port.connect({ timeoutMs: o["connect-timeout-ms"] }).catch((e: MemifError) => {
      console.error(`simple_echo: ${e.message}`);
      process.exit(1);
    });
  await connect();
  const rtts: number[] = [];
  let lost = 0;
  const batch = new Batch(32);
  const packet = new Uint8Array(o.size);
  const dv = new DataView(packet.buffer);
  for (let seq = 0; seq < o.count; seq++) {
    dv.setUint32(0, seq, true);
    dv.setFloat64(8, performance.now(), true);
    try {
      await tx.send(packet, { timeoutMs: o["timeout-ms"] });
      const rtt = await awaitEcho(rx, batch, seq, o["timeout-ms"]);
      if (rtt < 0) lost++;
      else rtts.push(rtt);
    } catch (e) {
      if (!peerLeft(e) && !(e instanceof MemifError && e.code === "TIMEOUT")) throw e;
      lost++;
      if (!port.connected) await connect(); // the server left: wait for it (or the next one)
    }
    if (o["interval-ms"] > 0) await Bun.sleep(o["interval-ms"]);
  }
  rtts.sort((a, b) => a - b);
  console.log(
    `rtt over ${rtts.length} packets of ${o.size} bytes: min ${us(rtts[0] ?? NaN)}, p50 ${us(percentile(rtts, 50))}, ` +
      `p99 ${us(percentile(rtts, 99))}, max ${us(rtts[rtts.length - 1] ?? NaN)}; lost ${lost}`,
  );
  socket.close();
  process.exit(lost === 0 ? 0 : 1);
}

/** How many packets the first n descriptors of b hold (a packet ends at a buffer without NEXT). */
function countPackets(b: Batch, n: number): number {
  let packets = 0;
  for (let i = 0; i < n; i++) if (!b.hasNext(i)) packets++;
  return packets;
}

/** Receives until the echo of `seq` arrives; its round-trip time in ms, or -1 after `timeoutMs`. */
async function awaitEcho(rx: RxQueue, batch: Batch, seq: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const n = rx.rxBurst(batch);
    for (let i = 0; i < n; i = batch.packetEnd(i)) {
      if (batch.length(i) < 16) continue;
      const view = batch.view(batch.region(i));
      const off = batch.offset(i);
      const echoed = new DataView(view.buffer, view.byteOffset + off, 16);
      if (echoed.getUint32(0, true) === seq) return performance.now() - echoed.getFloat64(8, true);
    }
    const left = deadline - performance.now();
    if (left <= 0) return -1;
    if (n === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([rx.readable(), new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }
}
