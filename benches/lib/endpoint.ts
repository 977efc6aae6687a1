/**
 * One end of a scenario: a Bun bench peer, a zmemif-peer or a dpdk-testpmd, driven the same way
 * by benches/lib/measure.ts. Counters are cumulative; `t` is in ms on a clock of the endpoint's
 * choosing (its own for Bun, the arrival of the line here for the others): only differences of
 * two marks of the same endpoint are used.
 */
import type { Proc } from "../../support/proc.ts";
import type { HeapReport } from "../peer/heap.ts";

export class BenchError extends Error {
  override readonly name = "BenchError";
}

/** The exit code of `child`, which said it is leaving (its "done"); fails naming it after `ms`. */
export async function exitWithin(child: Proc, ms: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(child.fail(`still running ${ms} ms after its "done"`)), ms);
  });
  try {
    return await Promise.race([child.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Counters {
  t: number;
  rx: number;
  tx: number;
  rxb: number;
  txb: number;
}

/** Round-trip figures a pinger reports at the closing mark of a window. */
export interface Latency {
  samples: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  lost_pings: number;
}

export interface Mark extends Counters {
  latency?: Latency;
}

/** The core's per-direction queue counters, as a Bun peer reports them at exit. */
export interface CoreCounters {
  packets: number;
  bytes: number;
  badDescs: number;
  /** tx: allocs that found the ring full; rx: bursts that filled the batch */
  ringFull: number;
  /** eventfd signals sent (tx) or received (rx) */
  interrupts: number;
}

export interface Final extends Counters {
  heap?: HeapReport | null;
  queues?: { rx?: CoreCounters; tx?: CoreCounters };
}

export type Kind = "bun" | "rust" | "testpmd";

export interface Endpoint {
  /** e.g. "bun client", "testpmd server" */
  readonly label: string;
  readonly kind: Kind;
  readonly pid: number;
  /** Resolves once the server listens (so a client can be started). */
  listening(): Promise<void>;
  /** Resolves once the data path is up. */
  connected(): Promise<void>;
  /** Start moving packets (a transmitter sends; testpmd starts forwarding). */
  go(): Promise<void>;
  /** Before a window: a Bun peer runs a full GC and takes its heap baseline. */
  prep(): Promise<void>;
  /** Counters at this instant; the first of a pair opens a window, the second closes it. */
  mark(): Promise<Mark>;
  /** A transmitter stops sending (and stays connected where it can); its final counters. */
  stopTx(): Promise<Counters>;
  /** Final counters (and heap report), then the endpoint exits. */
  finish(): Promise<Final>;
  /** Cleanup; idempotent, safe after finish() or a failure. */
  kill(): Promise<void>;
}
