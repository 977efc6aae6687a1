/**
 * `zmemif ping SOCKET [--id N] [--queue N] [--count N] [--size N] [--role client|server]
 * [--interval MS]`: round trips through any memif peer that sends back what it receives (testpmd
 * `io` or `macswap`, examples/simple_echo.ts, the forwarder's echo), on one queue pair (--queue,
 * queue.ts), printed like ping: a line per reply and min/p50/p99/max with the losses.
 *
 * Each probe is a valid Ethernet frame (so `macswap` can swap its MACs; ethertype 0x88B5, "local
 * experimental") whose payload carries a magic, this run's random session, the sequence number
 * and the send time, then a pattern derived from the sequence: a reply is matched by session and
 * sequence (late, duplicated and foreign packets are counted, not mistaken for replies), and
 * every byte after the MAC addresses is checked.
 */
import { MemifError } from "../errors.ts";
import { Batch, MemifSocket } from "../api.ts";
import { probeServer } from "../probe.ts";
import { type Command, parse, socketArg, type Specs, usage } from "./args.ts";
import { EXIT, EXIT_TABLE } from "./exit.ts";
import { checkQueue, queueCounts, queueOption, queueRefused } from "./queue.ts";

const ETHERTYPE = 0x88b5;
const MAGIC = 0x7a6d_7069_6e67n; // "zmping"
/** header: dst(6) src(6) type(2) magic(6) pad(2) session(4) seq(4) sent-ns(8) */
const HEADER = 38;
const MAX_SIZE = 65535;

const options = {
  id: { type: "int", min: 0, max: 0xffffffff, default: 0, help: "memif interface id" },
  queue: queueOption,
  count: { type: "int", min: 1, max: 10_000_000, default: 5, help: "how many probes to send" },
  size: {
    type: "int",
    min: 64,
    max: MAX_SIZE,
    default: 64,
    arg: "BYTES",
    help: "frame size (Ethernet header included)",
  },
  role: { type: "choice", choices: ["client", "server"], default: "client", help: "our memif role" },
  interval: { type: "int", min: 0, max: 60_000, default: 1000, arg: "MS", help: "ms between probes" },
  wait: { type: "int", min: 1, max: 60_000, default: 1000, arg: "MS", help: "ms to wait for each reply" },
  timeout: {
    type: "int",
    min: 1,
    max: 600_000,
    default: 10_000,
    arg: "MS",
    help: "ms to wait for the link to come up",
  },
  secret: { type: "string", arg: "S", help: "the interface's secret (at most 24 bytes)" },
  quiet: { type: "flag", help: "print only the summary" },
} satisfies Specs;

export const pingCommand: Command<typeof options> = {
  name: "ping",
  positionals: "SOCKET",
  summary:
    "Sends Ethernet frames through a memif link to a peer that sends them back (testpmd io or\n" +
    "macswap, examples/simple_echo.ts, the forwarder's echo) and prints each round trip, then\n" +
    "min/p50/p99/max and the losses. Frames larger than a buffer travel as chains. One queue pair\n" +
    "carries them (--queue N: the peer needs more than N queues).",
  options,
  more: `examples:
  zmemif ping @zmemif-dpdk --count 10 --interval 100      testpmd as server, forwarding io
  zmemif ping /run/memif.sock --role server --size 9000   wait for a client that echoes
  zmemif ping @zmemif-dpdk --queue 1                      testpmd with --rxq=2 --txq=2: its second queue

${EXIT_TABLE}`,
};

/** The probe for sequence `seq`: a frame of `size` bytes. */
export function probeFrame(session: number, seq: number, size: number, sentNs: bigint): Uint8Array {
  const f = new Uint8Array(size);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0x7a, 0x6d, 0x65, 0x6d, 0x01]); // locally administered
  v.setUint16(12, ETHERTYPE);
  v.setUint32(14, Number(MAGIC >> 16n));
  v.setUint16(18, Number(MAGIC & 0xffffn));
  v.setUint32(22, session);
  v.setUint32(26, seq);
  v.setBigUint64(30, sentNs);
  for (let i = HEADER; i < size; i++) f[i] = (seq + i) & 0xff;
  return f;
}

type Reply = { kind: "reply"; seq: number; sentNs: bigint } | { kind: "foreign" } | { kind: "corrupt"; seq: number };

/** Reads a received frame: ours (this session) with its sequence, corrupted, or someone else's. */
function readFrame(bytes: Uint8Array, off: number, len: number, session: number, size: number): Reply {
  if (len < HEADER) return { kind: "foreign" };
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, len);
  if (
    v.getUint16(12) !== ETHERTYPE ||
    v.getUint32(14) !== Number(MAGIC >> 16n) ||
    v.getUint16(18) !== Number(MAGIC & 0xffffn) ||
    v.getUint32(22) !== session
  ) {
    return { kind: "foreign" };
  }
  const seq = v.getUint32(26);
  if (len !== size) return { kind: "corrupt", seq };
  for (let i = HEADER; i < len; i++) if (bytes[off + i] !== ((seq + i) & 0xff)) return { kind: "corrupt", seq };
  return { kind: "reply", seq, sentNs: v.getBigUint64(30) };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const us = (ns: number) => (ns / 1000).toFixed(1);
const now = () => process.hrtime.bigint();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runPing(argv: readonly string[], out: (s: string) => void): Promise<number> {
  const p = parse(pingCommand, argv);
  if (p.help) {
    out(usage(pingCommand));
    return EXIT.OK;
  }
  const where = socketArg("ping", p.positionals);
  const o = p.values;
  using socket = new MemifSocket(where);
  using port = socket.port({
    id: o.id,
    role: o.role === "server" ? "server" : "client",
    name: "zmemif-ping",
    reconnectMs: 200,
    ...queueCounts(o.queue),
    ...(o.secret === undefined ? {} : { secret: o.secret }),
  });
  if (o.role === "server") out(`waiting for a memif client on ${where} (id ${o.id})`);
  const ev = await port.connect({ timeoutMs: o.timeout }).catch((e: unknown) => {
    // A client that never got connected: say why when the socket tells (absent, not memif, ...).
    if (o.role === "client" && e instanceof MemifError && e.code === "TIMEOUT") probeServer(where, { timeoutMs: 500 });
    throw queueRefused("ping", e, where, o.queue);
  });
  checkQueue("ping", port, where, o.queue);
  using rx = port.rxQueue(o.queue);
  using tx = port.txQueue(o.queue);
  const batch = new Batch(256);
  const session = (Math.random() * 0x1_0000_0000) >>> 0;
  const queue = o.queue === 0 ? "" : ` queue ${o.queue}`;
  out(`PING ${where} id ${o.id}${queue} (peer "${ev.peerName}"): ${o.size}-byte frames`);

  const rtts: number[] = [];
  const seen = new Set<number>();
  let late = 0;
  let foreign = 0;
  let corrupt = 0;
  let duplicates = 0;
  let sent = 0;
  let disconnected = false;
  port.on("disconnected", () => {
    disconnected = true;
  });

  /** Takes what arrived; true when `seq` came back. */
  const drain = (seq: number): boolean => {
    let got = false;
    const n = rx.rxBurst(batch);
    for (let i = 0; i < n; i = batch.packetEnd(i)) {
      const len = batch.packetLength(i);
      // A chained reply is copied into one buffer first; a single buffer is read in place.
      const whole = batch.hasNext(i) ? batch.copyPacket(i) : batch.view(batch.region(i));
      const off = batch.hasNext(i) ? 0 : batch.offset(i);
      const r = readFrame(whole, off, len, session, o.size);
      if (r.kind === "foreign") foreign++;
      else if (r.kind === "corrupt") {
        corrupt++;
        if (!o.quiet) out(`seq=${r.seq}: the reply differs from what was sent (${len} bytes)`);
      } else if (seen.has(r.seq)) duplicates++;
      else if (r.seq !== seq) {
        late++;
        seen.add(r.seq);
        if (!o.quiet) out(`seq=${r.seq}: late reply (after its wait ended)`);
      } else {
        const rtt = Number(now() - r.sentNs);
        seen.add(r.seq);
        rtts.push(rtt);
        got = true;
        if (!o.quiet) out(`${len} bytes from ${where}: seq=${r.seq} time=${us(rtt)} µs`);
      }
    }
    if (n > 0) rx.release();
    return got;
  };

  const started = performance.now();
  for (let seq = 0; seq < o.count && !disconnected; seq++) {
    const t0 = performance.now();
    try {
      await tx.send(probeFrame(session, seq, o.size, now()), { timeoutMs: o.wait });
    } catch (e) {
      if (e instanceof MemifError && (e.code === "NOT_CONNECTED" || e.code === "STALE_VIEW")) break;
      throw e;
    }
    sent++;
    const deadline = t0 + o.wait;
    let got = drain(seq);
    // Spin for the first millisecond (a wake-up costs more than a fast echo), then sleep on the queue.
    while (!got && performance.now() < Math.min(deadline, t0 + 1)) got = drain(seq);
    while (!got && !disconnected) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await Promise.race([rx.readable(), sleep(Math.min(left, 50))]);
      got = drain(seq);
    }
    if (!got && !o.quiet) out(`seq=${seq}: no reply within ${o.wait} ms`);
    const pause = t0 + o.interval - performance.now();
    if (seq + 1 < o.count && pause > 0) await sleep(pause);
  }
  const elapsed = performance.now() - started;
  const received = rtts.length;
  const lost = sent - received;
  const sorted = [...rtts].sort((a, b) => a - b);
  out("");
  out(`--- ${where} zmemif ping statistics ---`);
  out(
    `${sent} sent, ${received} received, ${sent === 0 ? 0 : ((100 * lost) / sent).toFixed(1)}% loss, ` +
      `${late} late, ${duplicates} duplicate, ${corrupt} corrupted, ${foreign} foreign, time ${elapsed.toFixed(0)} ms`,
  );
  if (received > 0) {
    out(
      `rtt min/p50/p99/max = ${us(sorted[0]!)}/${us(percentile(sorted, 50))}/${us(percentile(sorted, 99))}/` +
        `${us(sorted[sorted.length - 1]!)} µs`,
    );
  }
  if (disconnected) out(`the link went down: ${port.reason() || "no reason given"}`);
  if (received === 0) return EXIT.TIMEOUT;
  return received === o.count && corrupt === 0 ? EXIT.OK : EXIT.PARTIAL;
}
