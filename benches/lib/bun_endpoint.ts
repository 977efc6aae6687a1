/** A benches/bun_peer.ts process, driven over its stdin/stdout protocol (benches/peer/control.ts). */
import { fileURLToPath } from "node:url";
import { exitWithin, type Counters, type Endpoint, type Final, type Mark } from "./endpoint.ts";
import { Proc } from "../../support/proc.ts";

const PEER = fileURLToPath(new URL("../bun_peer.ts", import.meta.url));
const TIMEOUT_MS = 10_000;

export interface BunPeerArgs {
  action: "tx" | "rx" | "echo" | "ping" | "udp-tx" | "udp-rx";
  cpu: number;
  role?: "client" | "server";
  socket?: string;
  size: number;
  burst: number;
  queues?: number;
  /** bytes per memif buffer (lib/geometry.ts); default the peer's 2048 */
  bufferSize?: number;
  rxMode?: "polling" | "interrupt";
  /** udp-tx: the receiver's port */
  port?: number;
  /** "node": run the Node.js build of the peer (lib/node_peer.ts) at `script` */
  runtime?: "bun" | "node";
  /** the peer script (node: required; bun: another checkout's benches/bun_peer.ts) */
  script?: string | undefined;
}

type Json = Record<string, unknown>;

function counters(j: Json): Counters {
  return { t: Number(j.t), rx: Number(j.rx), tx: Number(j.tx), rxb: Number(j.rxb), txb: Number(j.txb) };
}

export class BunEndpoint implements Endpoint {
  readonly label: string;
  readonly kind = "bun" as const;
  readonly #child: Proc;

  constructor(a: BunPeerArgs) {
    const rt = a.runtime ?? "bun";
    this.label = a.role !== undefined ? `${rt} ${a.role}` : `${rt} ${a.action}`;
    const run = rt === "node" ? ["node", a.script ?? ""] : [process.execPath, a.script ?? PEER];
    const argv = [...run, "--action", a.action, "--size", String(a.size), "--burst", String(a.burst)];
    if (a.socket !== undefined) argv.push("--socket", a.socket);
    if (a.role !== undefined) argv.push("--role", a.role);
    if (a.queues !== undefined) argv.push("--queues", String(a.queues));
    if (a.bufferSize !== undefined) argv.push("--buffer-size", String(a.bufferSize));
    if (a.rxMode !== undefined) argv.push("--rx-mode", a.rxMode);
    if (a.port !== undefined) argv.push("--port", String(a.port));
    this.#child = new Proc(argv, { name: `${this.label} (${a.action})`, cpu: a.cpu, stdin: "pipe" });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** The next JSON event named `event` after line `from`. */
  #event(event: string, from: number, what = event): Promise<{ j: Json; index: number }> {
    return this.#child.waitEvent(event, from, TIMEOUT_MS, what);
  }

  async #command(cmd: string, reply: string): Promise<Json> {
    const from = this.#child.lines.length;
    this.#child.write(`${cmd}\n`);
    return (await this.#event(reply, from, `the reply to ${cmd}`)).j;
  }

  async listening(): Promise<void> {
    await this.#event("listening", 0);
  }

  /** The udp-rx peer's port (after listening()). */
  async udpPort(): Promise<number> {
    return Number((await this.#event("listening", 0)).j.port);
  }

  async connected(): Promise<void> {
    await this.#event("connected", 0);
  }

  async go(): Promise<void> {
    this.#child.write("go\n");
  }

  async prep(): Promise<void> {
    await this.#command("prep", "prepped");
  }

  async mark(): Promise<Mark> {
    const j = await this.#command("mark", "mark");
    const m: Mark = counters(j);
    if (j.samples !== undefined) {
      m.latency = {
        samples: Number(j.samples),
        p50_us: Number(j.p50_us),
        p99_us: Number(j.p99_us),
        p999_us: Number(j.p999_us),
        max_us: Number(j.max_us),
        lost_pings: Number(j.lost_pings),
      };
    }
    return m;
  }

  async stopTx(): Promise<Counters> {
    return counters(await this.#command("stop", "stopped"));
  }

  async finish(): Promise<Final> {
    const j = await this.#command("quit", "done");
    await exitWithin(this.#child, TIMEOUT_MS);
    return { ...counters(j), heap: (j.heap as Final["heap"]) ?? null, queues: (j.queues as Final["queues"]) ?? {} };
  }

  async kill(): Promise<void> {
    await this.#child.stop(2000);
  }
}
