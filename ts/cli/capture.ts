/**
 * `zmemif capture SOCKET --write FILE.pcapng [--role client|server] [--id N] [--queue N]
 * [--count N] [--snaplen N] [--echo]`: stands as one end of a memif link and records what
 * crosses it on one queue pair (--queue, queue.ts; both directions) into a pcapng file that
 * tcpdump and Wireshark read. With --echo it sends back what it receives (so it can stand in for
 * an echo peer while recording both ways).
 * Stops after --count packets, or on Ctrl-C (the file is complete either way); with --echo, the
 * peer first gets up to 1 s to take the last echoes.
 */
import { Batch, MemifSocket } from "../api.ts";
import { MemifError } from "../errors.ts";
import { probeServer } from "../probe.ts";
import { type Command, parse, socketArg, type Specs, UsageError, usage } from "./args.ts";
import { EXIT, EXIT_TABLE } from "./exit.ts";
import { checkQueue, queueCounts, queueOption, queueRefused } from "./queue.ts";

const options = {
  write: { type: "string", arg: "FILE", help: "the pcapng file to write (required)" },
  role: { type: "choice", choices: ["client", "server"], default: "client", help: "our memif role" },
  id: { type: "int", min: 0, max: 0xffffffff, default: 0, help: "memif interface id" },
  queue: queueOption,
  count: { type: "int", min: 1, max: Number.MAX_SAFE_INTEGER, help: "stop after this many packets (default: Ctrl-C)" },
  snaplen: { type: "int", min: 1, max: 65535, default: 65535, arg: "BYTES", help: "bytes kept of each packet" },
  echo: { type: "flag", help: "send back every packet received (recorded too)" },
  secret: { type: "string", arg: "S", help: "the interface's secret (at most 24 bytes)" },
  timeout: { type: "int", min: 1, max: 3_600_000, default: 10_000, arg: "MS", help: "ms to wait for the link" },
} satisfies Specs;

export const captureCommand: Command<typeof options> = {
  name: "capture",
  positionals: "SOCKET",
  summary:
    "Stands as one end of a memif link on SOCKET and records every packet that crosses one queue\n" +
    "pair (--queue N: the peer needs more than N queues), each direction its own interface (rxN,\n" +
    "txN), into a pcapng file with nanosecond timestamps. With --echo, sends back what it receives.",
  options,
  more: `examples:
  zmemif capture @zmemif-dpdk --write link.pcapng --count 1000      as a client of testpmd
  zmemif capture /run/echo.sock --role server --echo --write e.pcapng
  zmemif capture @zmemif-dpdk --queue 1 --write q1.pcapng           testpmd's second queue (--rxq=2)
  tcpdump -r link.pcapng -nn -e

${EXIT_TABLE}`,
};

export async function runCapture(argv: readonly string[], out: (s: string) => void): Promise<number> {
  const p = parse(captureCommand, argv);
  if (p.help) {
    out(usage(captureCommand));
    return EXIT.OK;
  }
  const where = socketArg("capture", p.positionals);
  const o = p.values;
  if (o.write === undefined) throw new UsageError("capture", "--write FILE is required: where to write the pcapng");
  const role = o.role === "server" ? "server" : "client";
  using socket = new MemifSocket(where);
  using port = socket.port({
    id: o.id,
    role,
    name: "zmemif-capture",
    reconnectMs: 200,
    ...queueCounts(o.queue),
    ...(o.secret === undefined ? {} : { secret: o.secret }),
  });
  const cap = port.capture(o.write, { snaplen: o.snaplen, ...(o.count === undefined ? {} : { limit: o.count }) });
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    if (role === "server") out(`waiting for a memif client on ${where} (id ${o.id})`);
    await port.connect({ timeoutMs: o.timeout }).catch((e: unknown) => {
      if (role === "client" && e instanceof MemifError && e.code === "TIMEOUT") probeServer(where, { timeoutMs: 500 });
      throw queueRefused("capture", e, where, o.queue);
    });
    checkQueue("capture", port, where, o.queue);
    const queue = o.queue === 0 ? "" : ` queue ${o.queue}`;
    out(`capturing on ${where} id ${o.id}${queue} (peer "${port.peerName}") into ${o.write}; Ctrl-C to stop`);
    using rx = port.rxQueue(o.queue);
    using tx = port.txQueue(o.queue);
    const batch = new Batch(64);
    while (!stop && !cap.closed) {
      const n = rx.rxBurst(batch);
      if (n === 0) {
        await Promise.race([rx.readable(), new Promise((r) => setTimeout(r, 100))]);
        continue;
      }
      if (o.echo) {
        for (let i = 0; i < n && !cap.closed; i = batch.packetEnd(i)) {
          const bytes = batch.hasNext(i)
            ? batch.copyPacket(i)
            : batch.view(batch.region(i)).subarray(batch.offset(i), batch.offset(i) + batch.length(i));
          await tx.send(bytes, { timeoutMs: 1000 }).catch(() => {});
        }
      }
    }
    // Stopped (--count reached, or a signal): before the link goes down, the peer gets up to 1 s
    // to take what was echoed (it lost the last echo when we closed at once).
    if (o.echo) await tx.writable(1000, 0xffff).catch(() => {});
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    const st = await cap.close();
    out(`${st.packets} packets recorded to ${o.write} (${st.bytesWritten} bytes), ${st.dropped} records dropped`);
  }
  return EXIT.OK;
}
