/**
 * `--queue N` of `zmemif ping` and `zmemif capture`: the queue pair a command sends and receives
 * on. The port asks for N + 1 queues each way; a memif connection has the smaller of both sides'
 * counts, so whether queue N exists is known only from the handshake, and a queue the peer does
 * not have is a usage error (exit 2) that gives the counts and what to do:
 *  - a zmemif server's HELLO offers its counts (a client gets the smaller), and a client says
 *    its own: the connection has fewer than N + 1 (`checkQueue`);
 *  - a DPDK or VPP server offers 255 in its HELLO and checks its real count only when a client
 *    adds a ring past it, refusing the handshake with "Invalid ring index" (`queueRefused`).
 */
import { MemifError } from "../errors.ts";
import type { Port, PortOptions } from "../port.ts";
import { type OptionSpec, UsageError } from "./args.ts";

/** The highest queue id: a memif connection has at most 255 queues each way. */
const MAX_QUEUE = 254;

export const queueOption = {
  type: "int",
  min: 0,
  max: MAX_QUEUE,
  default: 0,
  help: "the queue pair to use (the peer needs more than N queues)",
} as const satisfies OptionSpec;

/** The port options that ask for queue `queue` (and the ones below it) in both directions. */
export function queueCounts(queue: number): Pick<PortOptions, "c2sQueues" | "s2cQueues"> {
  return { c2sQueues: queue + 1, s2cQueues: queue + 1 };
}

/** Once connected: a UsageError unless the connection has queue `queue` in both directions. */
export function checkQueue(command: string, port: Port, where: string, queue: number): void {
  const { c2sQueues, s2cQueues, role } = port.info();
  const n = Math.min(c2sQueues, s2cQueues);
  if (queue < n) return;
  const who =
    role === "client"
      ? `the memif server on ${where} offers ${c2sQueues} client-to-server and ${s2cQueues} server-to-client queue(s)`
      : `the client on ${where} connected with ${c2sQueues} client-to-server and ${s2cQueues} server-to-client queue(s)`;
  throw new UsageError(
    command,
    `--queue ${queue} is out of range: ${who}, so --queue takes ${n === 1 ? "0 only" : `0..${n - 1}`}. ` +
      `Give one of those, or ${moreQueues(queue)}`,
  );
}

/** What to say to give the peer more queues. */
function moreQueues(queue: number): string {
  const n = queue + 1;
  return `give the peer more queues (dpdk-testpmd: --rxq=${n} --txq=${n}; zmemif: c2sQueues and s2cQueues ${n})`;
}

/**
 * What a failed connect turns into: the usage error for `--queue` when a server refused the
 * client's ring index (it has fewer queues than asked for); anything else as it was.
 */
export function queueRefused(command: string, e: unknown, where: string, queue: number): unknown {
  if (queue === 0 || !(e instanceof MemifError) || e.code !== "PEER_REJECTED") return e;
  if (!/Invalid ring index/i.test(e.reason ?? e.message)) return e;
  return new UsageError(
    command,
    `--queue ${queue} is out of range: the memif server on ${where} refused ${queue + 1} queues each way ` +
      `("${e.reason ?? e.message}"), so it has ${queue} or fewer and --queue takes ${queue === 1 ? "0 only" : `at most ${queue - 1}`}. ` +
      `Give a lower --queue, or ${moreQueues(queue)}`,
  );
}
