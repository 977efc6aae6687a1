/**
 * A case: one measurable configuration of a scenario (a direction, a role, a mode) at one packet
 * size. Scenario modules list their cases; pps.ts runs them in alternating rounds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sample, Timing } from "../lib/measure.ts";

export type ScenarioName =
  | "bun-bun"
  | "bun-dpdk"
  | "dpdk-dpdk"
  | "rust-rust"
  | "echo"
  | "udp"
  | "node-bun"
  | "node-node"
  | "dgram"
  | "bun-base"
  | "rust-base";
export const SCENARIOS: readonly ScenarioName[] = [
  "bun-bun",
  "bun-dpdk",
  "dpdk-dpdk",
  "rust-rust",
  "echo",
  "udp",
  "node-bun",
  "node-node",
  "dgram",
];

/** c2s: the client transmits; s2c: the server does. */
export type Direction = "c2s" | "s2c" | "loopback" | "round-trip";

/** Every pair of busy pollers gets two CPUs: the transmitter (or pinger) here, the other there. */
export const TX_CPU = 1;
export const RX_CPU = 0;

/** Both ends of a polling scenario. */
export const BOTH_BUSY = { tx: true, rx: true } as const;

export interface CaseOptions {
  size: number;
  /** bytes per memif buffer at this size, for every memif end (lib/geometry.ts bufferSize) */
  bufferSize: number;
  burst: number;
  queues: number;
  timing: Timing;
}

export interface Case {
  readonly scenario: ScenarioName;
  readonly direction: Direction;
  /** The role of the side under test: Bun's in bun-dpdk and echo, "both" where both ends are alike. */
  readonly role: "client" | "server" | "both" | "-";
  /** Who transmits and who receives, e.g. "bun client" → "testpmd server (rxonly)". */
  readonly tx: string;
  readonly rx: string;
  /** echo: "polling" or "interrupt" (the Bun side's rx mode) */
  readonly mode?: "polling" | "interrupt";
  /** echo: what echoes, "bun" or testpmd's forward mode */
  readonly peer?: string;
  /** run by --smoke (one or two cases per scenario, to keep CI short) */
  readonly smoke: boolean;
  /**
   * Which ends poll and so should own a whole CPU (tx: the transmitter or pinger, rx: the
   * receiver or echoer). A run where one got less than BUSY_SHARE of it shared the CPU with
   * something else on the machine, and is run again.
   */
  readonly busy: { readonly tx: boolean; readonly rx: boolean };
  run(o: CaseOptions): Promise<Sample>;
}

export function roles(direction: "c2s" | "s2c"): { txRole: "client" | "server"; rxRole: "client" | "server" } {
  return direction === "c2s" ? { txRole: "client", rxRole: "server" } : { txRole: "server", rxRole: "client" };
}

/** A stable name for a case across sizes and rounds. */
export function caseKey(c: Case): string {
  return [c.scenario, c.direction, c.role, c.peer, c.mode].filter((x) => x !== undefined && x !== "-").join(" ");
}

/** A fresh filesystem socket path for one run; the directory is removed afterwards. */
export async function withSocket<T>(body: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "zmemif-pps-"));
  try {
    return await body(join(dir, "memif.sock"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
