/**
 * Shared by the chaos tests and the examples' peer-loss tests: programs to start as peers, and
 * the measurements taken of a target process from outside (/proc).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Proc } from "../../support/proc.ts";

const ROOT = join(import.meta.dir, "..", "..");
export const EXAMPLES = join(ROOT, "examples");
export const ZMEMIF_PEER = join(ROOT, "target", "release", "zmemif-peer");
const CHAOS_CLIENT = join(import.meta.dir, "chaos_client.ts");

let counter = 0;
/** A fresh abstract socket name with "chaos" in it. */
export function chaosSocket(what: string): string {
  return `@zmemif-chaos-${what}-${process.pid}-${++counter}-${Date.now()}`;
}

/** `bun examples/NAME.ts ARGS`, followed line by line. */
export function example(name: string, args: string[]): Proc {
  return new Proc([process.execPath, join(EXAMPLES, `${name}.ts`), ...args]);
}

/** tests/helpers/chaos_client.ts (see its header). */
export function chaosClient(socket: string, args: string[] = []): Proc {
  return new Proc([process.execPath, CHAOS_CLIENT, "--socket", socket, ...args]);
}

/** target/release/zmemif-peer (needs `cargo build --release`). */
export function rustPeer(args: string[]): Proc {
  return new Proc([ZMEMIF_PEER, ...args]);
}

/** A random integer in lo..hi. */
export function between(lo: number, hi: number): number {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

/** SIGKILL and wait for the exit (a killed process's memif connection ends at once). */
export async function kill9(p: Proc): Promise<void> {
  p.kill();
  await p.exited;
}

/** The process's open file descriptors. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The process's resident set, in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Whether the process still runs (not exited, not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Waits until `p` printed `n` lines matching `re`; throws with its last lines after `timeoutMs`. */
export async function waitCount(p: Proc, re: RegExp, n: number, timeoutMs = 10_000): Promise<void> {
  const t0 = performance.now();
  const count = () => p.lines.filter((l) => re.test(l)).length;
  while (count() < n) {
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(
        `${count()} of ${n} lines matching ${re} within ${timeoutMs} ms; ` +
          `last:\n${p.lines.slice(-8).join("\n")}\n${p.stderr}`,
      );
    }
    await Bun.sleep(5);
  }
}
