/**
 * A zmemif-peer process (the crate's own Rust peer, target/release/zmemif-peer). It has no
 * control channel: it moves packets from connect on, prints a stats line every STATS_MS (marks
 * take the next one, timed by its arrival here), a source stops sending at its --seconds deadline
 * and leaves once the sink took everything on its rings ("drained"), and a sink ends when its peer
 * disconnects; both then print their totals ("done").
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Proc } from "../../support/proc.ts";
import { BenchError, exitWithin, type Counters, type Endpoint, type Final, type Mark } from "./endpoint.ts";

const STATS_MS = 100;
const TIMEOUT_MS = 10_000;

/** This checkout's zmemif-peer (or $ZMEMIF_PEER); with `checkout`, that checkout's. */
export function rustPeerPath(checkout?: string): string {
  const p =
    checkout !== undefined
      ? `${checkout}/target/release/zmemif-peer`
      : (process.env.ZMEMIF_PEER ?? fileURLToPath(new URL("../../target/release/zmemif-peer", import.meta.url)));
  if (!existsSync(p)) {
    const where = checkout !== undefined ? ` in ${checkout}` : " (or set ZMEMIF_PEER)";
    throw new BenchError(`zmemif-peer not found at ${p}: build it with \`cargo build --release -p zmemif\`${where}`);
  }
  return p;
}

export interface RustPeerArgs {
  action: "source" | "sink";
  cpu: number;
  role: "client" | "server";
  socket: string;
  size: number;
  burst: number;
  queues: number;
  /** bytes per memif buffer (lib/geometry.ts); default the peer's 2048 */
  bufferSize?: number;
  /** source: stop sending after this many seconds of traffic */
  seconds?: number;
  /** the checkout whose zmemif-peer runs (pps.ts --base); default this one's */
  checkout?: string | undefined;
}

type Json = Record<string, unknown>;

export class RustEndpoint implements Endpoint {
  readonly label: string;
  readonly kind = "rust" as const;
  readonly #child: Proc;
  readonly #socket: string;
  readonly #size: number;
  readonly #sourceSeconds: number;

  constructor(a: RustPeerArgs) {
    this.label = `rust ${a.role}`;
    this.#socket = a.socket;
    this.#size = a.size;
    this.#sourceSeconds = a.seconds ?? 0;
    const argv = [
      rustPeerPath(a.checkout),
      "--socket",
      a.socket,
      "--role",
      a.role,
      "--action",
      a.action,
      "--size",
      String(a.size),
      "--burst",
      String(a.burst),
      "--queues",
      String(a.queues),
      "--interval-ms",
      String(STATS_MS),
    ];
    if (a.seconds !== undefined) argv.push("--seconds", String(a.seconds));
    if (a.bufferSize !== undefined) argv.push("--buffer-size", String(a.bufferSize));
    this.#child = new Proc(argv, { name: `${this.label} (${a.action})`, cpu: a.cpu, stdin: "pipe" });
  }

  get pid(): number {
    return this.#child.pid;
  }

  async #event(event: string, from: number, timeoutMs = TIMEOUT_MS): Promise<{ j: Json; at: number }> {
    const r = await this.#child.waitEvent(event, from, timeoutMs);
    return { j: r.j, at: r.line.at };
  }

  #counters(j: Json, at: number): Counters {
    const rx = Number(j.rx);
    const tx = Number(j.tx);
    const rxb = j.rx_bytes !== undefined ? Number(j.rx_bytes) : rx * this.#size;
    const txb = j.tx_bytes !== undefined ? Number(j.tx_bytes) : tx * this.#size;
    return { t: at, rx, tx, rxb, txb };
  }

  async listening(): Promise<void> {
    const deadline = performance.now() + TIMEOUT_MS;
    while (!existsSync(this.#socket)) {
      if (!this.#child.running) throw this.#child.fail(`exited before listening on ${this.#socket}`);
      if (performance.now() >= deadline) throw this.#child.fail(`no socket at ${this.#socket} within ${TIMEOUT_MS} ms`);
      await Bun.sleep(10);
    }
  }

  async connected(): Promise<void> {
    await this.#event("connected", 0);
  }

  async go(): Promise<void> {}

  async prep(): Promise<void> {}

  async mark(): Promise<Mark> {
    const { j, at } = await this.#event("stats", this.#child.lines.length);
    return this.#counters(j, at);
  }

  async stopTx(): Promise<Counters> {
    const { j, at } = await this.#event("done", 0, (this.#sourceSeconds + 10) * 1000);
    return this.#counters(j, at);
  }

  async finish(): Promise<Final> {
    const { j, at } = await this.#event("done", 0);
    await exitWithin(this.#child, TIMEOUT_MS);
    return this.#counters(j, at);
  }

  async kill(): Promise<void> {
    await this.#child.stop(2000);
  }
}
