/**
 * simple_echo: round-trip times over memif.
 *
 *   bun examples/simple_echo.ts --role server --socket @zmemif-echo
 *   bun examples/simple_echo.ts --role client --socket @zmemif-echo --count 1000
 *
 * The client sends packets carrying a sequence number and a timestamp, one at a time; the server
 * echoes every packet back; the client prints the round-trip times (min, p50, p99, max).
 * The server echoes through the burst API (rxBurst → alloc → copy → txBurst); the client uses the
 * conveniences (send, readable + rxBurst).
 */
import { Batch, MemifError, MemifSocket, type Queue, type RxMode } from "zmemif";
import { cli, onStop, percentile, us } from "./cli.ts";

const o = cli("simple_echo", "Echo server, or a client that measures round-trip times (p50/p99).", {
  role: { type: "choice", choices: ["server", "client"], help: "server echoes; client sends and measures" },
  socket: { type: "string", default: "@zmemif-echo", help: "control socket: a path, or @name (abstract)" },
  id: { type: "int", default: "0", min: 0, max: 0xffffffff, help: "memif interface id (same on both sides)" },
  count: { type: "int", default: "1000", min: 1, max: 1e9, help: "client: packets to send" },
  size: { type: "int", default: "64", min: 16, max: 65535, help: "client: packet size in bytes" },
  "interval-ms": { type: "number", default: "0", min: 0, max: 60000, help: "client: pause between packets" },
  "timeout-ms": { type: "int", default: "1000", min: 1, max: 600000, help: "client: wait this long for each echo" },
  "connect-timeout-ms": { type: "int", default: "10000", min: 1, max: 3600000, help: "client: give up connecting after this" },
  "rx-mode": { type: "choice", default: "adaptive", choices: ["adaptive", "interrupt", "polling"], help: "how rx waits" },
});

const socket = new MemifSocket(o.socket);
const port = socket.port({ id: o.id, role: o.role as "server" | "client", name: `simple_echo-${o.role}` });
const rx = port.rxQueue(0, { rxMode: o["rx-mode"] as RxMode });
const tx = port.txQueue(0);
port.on("connected", (e) => console.log(`connected to ${e.peerName}`));
port.on("disconnected", (e) => console.log(`disconnected: ${e.reason}`));
port.on("rejected", (e) => console.log(`handshake refused: ${e.reason}`));

if (o.role === "server") {
  let echoed = 0;
  let running = true;
  onStop(() => {
    running = false;
    console.log(`echoed ${echoed} packets`);
    socket.close();
    process.exit(0);
  });
  console.log(`listening on ${o.socket} (id ${o.id}); Ctrl-C to stop`);
  const rb = new Batch(32);
  const tb = new Batch(32);
  while (running) {
    const n = rx.rxBurst(rb);
    if (n === 0) {
      await rx.readable();
      continue;
    }
    let i = 0;
    try {
      while (i < n) {
        if (rb.hasNext(i)) {
          // a chained packet: the convenience path copies and chains it
          await tx.send(rb.copyPacket(i));
          i = rb.packetEnd(i);
          echoed++;
          continue;
        }
        // single-buffer packets: one alloc for the rest of the burst, one txBurst
        let end = i;
        while (end < n && !rb.hasNext(end)) end++;
        const got = tx.alloc(tb, end - i);
        if (got === 0) {
          await tx.writable(1000);
          continue;
        }
        for (let k = 0; k < got; k++, i++) {
          const off = rb.offset(i);
          tb.write(k, rb.view(rb.region(i)).subarray(off, off + rb.length(i)));
        }
        echoed += tx.txBurst(tb, got);
      }
    } catch (e) {
      // the client went away mid-burst: drop the rest and wait for the next one
      if (!(e instanceof MemifError) || !["NOT_CONNECTED", "STALE_VIEW", "TIMEOUT"].includes(e.code)) throw e;
    }
  }
} else {
  await port.connect({ timeoutMs: o["connect-timeout-ms"] }).catch((e: MemifError) => {
    console.error(`simple_echo: ${e.message}`);
    process.exit(1);
  });
  const rtts: number[] = [];
  let lost = 0;
  const batch = new Batch(32);
  const packet = new Uint8Array(o.size);
  const dv = new DataView(packet.buffer);
  for (let seq = 0; seq < o.count; seq++) {
    dv.setUint32(0, seq, true);
    dv.setFloat64(8, performance.now(), true);
    await tx.send(packet, { timeoutMs: o["timeout-ms"] });
    const rtt = await awaitEcho(rx, batch, seq, o["timeout-ms"]);
    if (rtt < 0) lost++;
    else rtts.push(rtt);
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

/** Receives until the echo of `seq` arrives; its round-trip time in ms, or -1 after `timeoutMs`. */
async function awaitEcho(rx: Queue, batch: Batch, seq: number, timeoutMs: number): Promise<number> {
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
