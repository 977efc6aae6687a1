/**
 * A memif client that keeps a window of packets in flight to an echo server and checks every
 * echo, for the chaos tests (and usable by hand):
 *
 *   bun tests/helpers/chaos_client.ts --socket PATH|@NAME [--id N] [--count N] [--window W]
 *                                     [--sizes 64,9000] [--flowing N] [--buffer-size B]
 *
 * Packet s has the size sizes[s % sizes.length] (by default 64 and 9000 bytes alternately: a
 * 9000-byte frame is a chain of 5 buffers of 2048) and carries pattern(s) (below). Echoes must
 * come back whole, unchanged and in order. When the server leaves, what was in flight is counted
 * as lost and the client reconnects (to the server restarted, or the next one) and goes on.
 *
 * Lines on stdout: "connected <peer> <connects>", "flowing <connects>" once --flowing echoes
 * came back on this connection, "disconnected <reason>", and at the end (after --count checked
 * echoes, or on SIGTERM) one JSON line {"echoed","sent","lost","unsent","bad","firstBad",
 * "connects"}. Exits 1 if an echo was wrong, 0 otherwise.
 */
import { parseArgs } from "node:util";
import { Batch, MemifError, MemifSocket } from "../../ts/index.ts";

const { values: a } = parseArgs({
  options: {
    socket: { type: "string" },
    id: { type: "string", default: "0" },
    count: { type: "string", default: "0" },
    window: { type: "string", default: "64" },
    sizes: { type: "string", default: "64,9000" },
    flowing: { type: "string", default: "50" },
    "buffer-size": { type: "string", default: "2048" },
  },
});
if (a.socket === undefined) throw new Error("--socket is required");
const sizes = a.sizes!.split(",").map(Number);
const count = Number(a.count);
const window = Number(a.window);
const flowingAt = Number(a.flowing);

/** The bytes of packet `seq`: seq (u32 LE), its length (u32 LE), then (seq * 7 + k) & 0xff. */
export function pattern(seq: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let k = 8; k < len; k++) b[k] = (seq * 7 + k) & 0xff;
  const dv = new DataView(b.buffer);
  dv.setUint32(0, seq, true);
  dv.setUint32(4, len, true);
  return b;
}

function same(x: Uint8Array, y: Uint8Array): boolean {
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}

const say = (line: string) => process.stdout.write(line + "\n");
const socket = new MemifSocket(a.socket);
const port = socket.port({
  id: Number(a.id),
  role: "client",
  name: "chaos-client",
  reconnectMs: 20,
  bufferSize: Number(a["buffer-size"]),
});
const tx = port.txQueue(0);
const rx = port.rxQueue(0);

let seq = 0; // the next sequence number to send
let sent = 0;
let echoed = 0;
let lost = 0;
let unsent = 0;
let bad = 0;
let firstBad = "";
let connects = 0;
let flowing = 0; // echoes on this connection
let inflight: number[] = [];
let head = 0; // index of the oldest packet in flight
let opened: (() => void) | null = null; // wakes the sender when the window opens

function done(): void {
  say(JSON.stringify({ echoed, sent, lost, unsent, bad, firstBad, connects }));
  socket.close();
  process.exit(bad > 0 ? 1 : 0);
}
process.on("SIGTERM", done);

port.on("connected", (e) => {
  connects++;
  flowing = 0;
  say(`connected ${e.peerName} ${connects}`);
});
port.on("disconnected", (e) => {
  lost += inflight.length - head;
  inflight = [];
  head = 0;
  say(`disconnected ${e.reason}`);
  opened?.();
});

function wrong(what: string): void {
  bad++;
  if (firstBad === "") firstBad = what;
}

async function receive(): Promise<void> {
  let batch = new Batch(64);
  for (;;) {
    let n: number;
    try {
      n = rx.rxBurst(batch);
    } catch (e) {
      // a packet of more segments than the batch holds (small buffers): grow the batch
      if (!(e instanceof MemifError && e.code === "TOO_LARGE" && batch.capacity < 65536)) throw e;
      batch = new Batch(batch.capacity * 2);
      continue;
    }
    if (n === 0) {
      await rx.readable();
      continue;
    }
    for (let i = 0; i < n; i = batch.packetEnd(i)) {
      const got = batch.copyPacket(i);
      const s = got.byteLength >= 4 ? new DataView(got.buffer, got.byteOffset).getUint32(0, true) : -1;
      // s must be the oldest in flight; ones before it that never came back are lost
      let at = head;
      while (at < inflight.length && inflight[at] !== s) at++;
      if (at === inflight.length) {
        wrong(`echo of seq ${s} (${got.byteLength} bytes) was not in flight (oldest ${inflight[head]})`);
        continue;
      }
      lost += at - head;
      head = at + 1;
      if (!same(got, pattern(s, sizes[s % sizes.length]!)))
        wrong(`echo of seq ${s}: ${got.byteLength} bytes, wrong content`);
      echoed++;
      if (++flowing === flowingAt) say(`flowing ${connects}`);
      if (count > 0 && echoed >= count) done();
    }
    if (head > 4096) {
      inflight = inflight.slice(head);
      head = 0;
    }
    opened?.();
  }
}

async function send(): Promise<void> {
  for (;;) {
    if (!port.connected) await port.connect();
    if (inflight.length - head >= window) {
      await new Promise<void>((r) => (opened = r));
      opened = null;
      continue;
    }
    const s = seq++;
    // In flight before it is sent: its echo can be received before send() resolves here.
    inflight.push(s);
    try {
      await tx.send(pattern(s, sizes[s % sizes.length]!), { timeoutMs: 5000 });
      sent++;
    } catch (e) {
      if (!(e instanceof MemifError) || !["NOT_CONNECTED", "STALE_VIEW", "TIMEOUT"].includes(e.code)) throw e;
      unsent++;
      const at = inflight.lastIndexOf(s);
      if (at >= head) inflight.splice(at, 1);
      else lost--; // the disconnect counted it as lost, but it never went out
    }
  }
}

say("waiting");
void receive();
await send();
