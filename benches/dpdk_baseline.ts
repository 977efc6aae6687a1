/**
 * The DPDK baseline every zmemif bench carries: testpmd txonly -> testpmd rxonly over memif,
 * each pinned to its own CPU. Rates come from the difference of two `--stats-period` prints
 * taken after the link is up (startup and the first partial second excluded), timed on our
 * clock rather than testpmd's (its 1 s period drifts to ~2 s on some VMs).
 */
import {
  type Role,
  type StatsSnapshot,
  Testpmd,
  uniqueSocketPath,
} from "../tests/helpers/testpmd.ts";

export interface DpdkBaselineOptions {
  /** Measuring window, at least; rounded up to the next stats print. */
  readonly seconds: number;
  /** Frame length in bytes (`--txpkts`), default 64. */
  readonly pktLen?: number;
  /** `--burst` on both sides, default 32. */
  readonly burst?: number;
  /** Which memif role transmits (txonly); the other receives (rxonly). Default "client". */
  readonly txRole?: Role;
  /** Queue pairs on both sides, default 1. */
  readonly queues?: number;
  /** CPU of the transmitter, default 1. */
  readonly txCpu?: number;
  /** CPU of the receiver, default 0. Must differ from txCpu (one CPU per busy poller). */
  readonly rxCpu?: number;
  /** Extra vdev args for both sides, e.g. ["rsize=11", "bsize=2048"]. */
  readonly vdevArgs?: readonly string[];
}

export interface DpdkBaselineResult {
  /** Mpps leaving the transmitter (its TX-packets delta). */
  readonly txMpps: number;
  /** Mpps counted by the receiver (its RX-packets delta). */
  readonly rxMpps: number;
  /** The receiver's Gbit/s of frame bytes (no preamble/IFG). */
  readonly rxGbps: number;
  /** Length of the receiver's measuring window in seconds. */
  readonly seconds: number;
  readonly pktLen: number;
  readonly burst: number;
  readonly txRole: Role;
  readonly queues: number;
}

function delta(a: StatsSnapshot, b: StatsSnapshot): { secs: number; rx: number; tx: number; rxBytes: number } {
  const pa = a.ports[0];
  const pb = b.ports[0];
  if (pa === undefined || pb === undefined) throw new Error("stats print without port 0");
  return {
    secs: (b.at - a.at) / 1000,
    rx: pb.rxPackets - pa.rxPackets,
    tx: pb.txPackets - pa.txPackets,
    rxBytes: pb.rxBytes - pa.rxBytes,
  };
}

/** Two stats prints at least `seconds` apart, the first one after the link is up. */
async function window(tp: Testpmd, seconds: number): Promise<[StatsSnapshot, StatsSnapshot]> {
  const timeoutMs = 5000;
  await tp.nextStats(timeoutMs); // the first print after link up may cover a partial second
  const a = await tp.nextStats(timeoutMs);
  const b = await tp.waitForStats((s) => s.at - a.at >= seconds * 1000, seconds * 1000 + timeoutMs);
  return [a, b];
}

/** Runs testpmd txonly -> testpmd rxonly over memif and measures both ends. */
export async function runDpdkBaseline(opts: DpdkBaselineOptions): Promise<DpdkBaselineResult> {
  const pktLen = opts.pktLen ?? 64;
  const burst = opts.burst ?? 32;
  const txRole = opts.txRole ?? "client";
  const queues = opts.queues ?? 1;
  const txCpu = opts.txCpu ?? 1;
  const rxCpu = opts.rxCpu ?? 0;
  if (txCpu === rxCpu) throw new Error("txCpu and rxCpu must differ: two pollers on one CPU collapse");
  const socket = uniqueSocketPath("baseline");
  const common = { socket, burst, queues, extraVdevArgs: opts.vdevArgs ?? [] };
  const tx = { ...common, role: txRole, mode: "txonly", txPktLen: pktLen, cpu: txCpu, name: "tx" } as const;
  const rxRole: Role = txRole === "client" ? "server" : "client";
  const rx = { ...common, role: rxRole, mode: "rxonly", cpu: rxCpu, name: "rx" } as const;

  // The server listens first; stop in reverse (a 22.11 client may crash if its server goes).
  const server = await Testpmd.start(txRole === "server" ? tx : rx);
  let client: Testpmd | undefined;
  try {
    client = await Testpmd.start(txRole === "client" ? tx : rx);
    await Promise.all([server.linkUp(5000), client.linkUp(5000)]);
    const [txp, rxp] = txRole === "client" ? [client, server] : [server, client];
    const [[ta, tb], [ra, rb]] = await Promise.all([window(txp, opts.seconds), window(rxp, opts.seconds)]);
    const t = delta(ta, tb);
    const r = delta(ra, rb);
    return {
      txMpps: t.tx / t.secs / 1e6,
      rxMpps: r.rx / r.secs / 1e6,
      rxGbps: (r.rxBytes * 8) / r.secs / 1e9,
      seconds: r.secs,
      pktLen,
      burst,
      txRole,
      queues,
    };
  } finally {
    await client?.kill();
    await server.kill();
  }
}
