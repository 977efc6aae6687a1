/**
 * dpdk-testpmd with one net_memif port, in interactive mode (`-i`) so the bench can drive it:
 * `start` when the peer is ready, `show port stats 0` at the marks (counters exactly when asked,
 * instead of the ~2 s `--stats-period` prints), `stop` to stop sending while staying connected
 * (its "Forward statistics" are the exact totals since `start`; net_memif zeroes its counters on
 * disconnect, so they must be read before the link goes down), then `quit`.
 *
 * Shares the log vocabulary and the stats parser with tests/helpers/testpmd.ts.
 */
import { rmdirSync } from "node:fs";
import { join } from "node:path";
import { Proc } from "../../support/proc.ts";
import { findTestpmd, LINK_UP, parseStats, START_FAILURES } from "../../tests/helpers/testpmd.ts";
import type { Counters, Endpoint, Final, Mark } from "./endpoint.ts";

const PROMPT = "testpmd> ";
const TIMEOUT_MS = 15_000;
/** Frames up to this size fit testpmd's default mbuf (2048 bytes of data room). */
const DEFAULT_DATA_ROOM = 2048;

export type FwdMode = "txonly" | "rxonly" | "io" | "macswap";

export interface TestpmdArgs {
  role: "client" | "server";
  mode: FwdMode;
  cpu: number;
  socket: string;
  size: number;
  burst: number;
  queues: number;
}

let seq = 0;

/**
 * A line holding a prompt. The driver's log comes from another thread, so a prompt can share its
 * line with a log message ("testpmd> memif_msg_receive(): ..."); during the memif handshake at
 * start-up it can even be cut in two (the prompt is written a character at a time), so the
 * first one is not waited for: the "Done" that ends port start-up is.
 */
function isPrompt(text: string): boolean {
  return text.includes(PROMPT);
}

/**
 * The last line of the replies the bench parses (a stale or garbled prompt must not cut them
 * short); other commands end at the next prompt.
 */
function lastLine(cmd: string): ((text: string, seen: readonly string[]) => boolean) | null {
  if (cmd.startsWith("show port stats")) {
    return (t, seen) => /^\s*#{20,}\s*$/.test(t) && seen.some((l) => l.includes("NIC statistics"));
  }
  if (cmd === "stop") return (t) => t.trim() === "Done.";
  return null;
}

export class TestpmdEndpoint implements Endpoint {
  readonly label: string;
  readonly kind = "testpmd" as const;
  readonly #child: Proc;
  readonly #a: TestpmdArgs;
  readonly #prefix: string;
  #ready: Promise<void> | null = null;
  #stopped: Counters | null = null;

  constructor(a: TestpmdArgs) {
    this.#a = a;
    this.label = `testpmd ${a.role}`;
    this.#prefix = `zmemif-pps-${process.pid}-${seq++}`;
    const vdev = `net_memif0,role=${a.role},id=0,socket=${a.socket},socket-abstract=no`;
    const app = ["-i", "--total-num-mbufs=16384"];
    // --mbuf-size must come before --txpkts, which is checked against it when parsed.
    if (a.size > DEFAULT_DATA_ROOM) app.push(`--mbuf-size=${Math.ceil((a.size + 128) / 64) * 64}`);
    app.push(`--forward-mode=${a.mode}`, `--rxq=${a.queues}`, `--txq=${a.queues}`, `--burst=${a.burst}`);
    if (a.mode === "txonly") app.push(`--txpkts=${a.size}`);
    app.push("--disable-link-check");
    const argv: string[] = [];
    const setpriv = Bun.which("setpriv");
    if (setpriv !== null) argv.push(setpriv, "--pdeathsig", "TERM");
    const stdbuf = Bun.which("stdbuf");
    if (stdbuf !== null) argv.push(stdbuf, "-oL", "-eL");
    argv.push(
      findTestpmd(),
      // Both lcores on one CPU: the main lcore sleeps in the command line, lcore 1 forwards.
      `--lcores=0@${a.cpu},1@${a.cpu}`,
      "--no-huge",
      "-m",
      "512",
      "--no-pci",
      "--no-telemetry",
      "--no-shconf",
      `--file-prefix=${this.#prefix}`,
      "--log-level=pmd.net.memif:debug",
      `--vdev=${vdev}`,
      "--",
      ...app,
    );
    this.#child = new Proc(argv, {
      name: `${this.label} (${a.mode})`,
      cpu: a.cpu,
      stdin: "pipe",
      prompts: [PROMPT],
      mergeStderr: true,
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Runs one command and returns the lines printed before the next prompt. */
  async #command(cmd: string): Promise<{ lines: string[]; at: number }> {
    await this.#started();
    const from = this.#child.lines.length;
    this.#child.write(`${cmd}\n`);
    const last = lastLine(cmd);
    const seen: string[] = [];
    const r = await this.#child.waitLine(
      from,
      (text) => {
        if (last === null) return isPrompt(text) ? true : undefined;
        seen.push(text);
        return last(text, seen) ? true : undefined;
      },
      TIMEOUT_MS,
      `the reply to ${cmd}`,
    );
    const lines = this.#child.lines.slice(from, last !== null ? r.index + 1 : r.index);
    if (last !== null) await this.#prompt(r.index + 1);
    return { lines, at: this.#child.times[from] ?? r.line.at };
  }

  /** Waits (briefly) for the prompt after line `from`, so the next reply starts after it. */
  async #prompt(from: number): Promise<void> {
    await this.#child.waitLine(from, (text) => (isPrompt(text) ? true : undefined), 1000, "the prompt").catch(() => {});
  }

  #started(): Promise<void> {
    this.#ready ??= this.#waitStarted();
    return this.#ready;
  }

  async #waitStarted(): Promise<void> {
    await this.#child.waitLine(
      0,
      (text) => {
        for (const f of START_FAILURES) if (text.includes(f)) throw this.#child.fail(`port did not start: ${text}`);
        return isPrompt(text) || text.trim() === "Done" ? true : undefined;
      },
      TIMEOUT_MS,
      "the end of port start-up",
    );
    await this.#prompt(0);
    // net_memif 22.11 drops ALL its arguments when one key is unknown: check ours were used.
    const want =
      this.#a.role === "server"
        ? `Memif listener socket ${this.#a.socket} created.`
        : `Memif socket: ${this.#a.socket} connected.`;
    if (!this.#child.lines.some((l) => l.includes(want))) {
      throw this.#child.fail(`no "${want}" in the log: were the vdev arguments ignored?`);
    }
  }

  async listening(): Promise<void> {
    await this.#started();
  }

  async connected(): Promise<void> {
    await this.#started();
    await this.#child.waitLine(0, (text) => (text.includes(LINK_UP) ? true : undefined), TIMEOUT_MS, "link up");
  }

  async go(): Promise<void> {
    await this.#command("start");
  }

  async prep(): Promise<void> {}

  async mark(): Promise<Mark> {
    const { lines, at } = await this.#command("show port stats 0");
    const s = parseStats(`Port statistics ====\n${lines.join("\n")}`, 1)[0]?.[0];
    if (s === undefined) throw this.#child.fail("no NIC statistics in the reply to show port stats 0");
    return { t: at, rx: s.rxPackets, tx: s.txPackets, rxb: s.rxBytes, txb: s.txBytes };
  }

  /** `stop`: forwarding stops, the link stays up; totals since `start` from Forward statistics. */
  async stopTx(): Promise<Counters> {
    if (this.#stopped !== null) return this.#stopped;
    const { lines, at } = await this.#command("stop");
    // Per-stream blocks ("Forward Stats for RX Port= 0/Queue= 1 ...") come first with several
    // queues; the port's totals follow "Forward statistics for port 0".
    const from = lines.findIndex((l) => l.includes("Forward statistics for port 0"));
    if (from < 0) throw this.#child.fail("no Forward statistics for port 0 in the reply to stop");
    const field = (name: string): number => {
      for (const l of lines.slice(from)) {
        const m = new RegExp(`${name}:\\s+(\\d+)`).exec(l);
        if (m?.[1] !== undefined) return Number(m[1]);
      }
      throw this.#child.fail(`no ${name} in the reply to stop`);
    };
    const rx = field("RX-packets");
    const tx = field("TX-packets");
    this.#stopped = { t: at, rx, tx, rxb: rx * this.#a.size, txb: tx * this.#a.size };
    return this.#stopped;
  }

  async finish(): Promise<Final> {
    const c = await this.stopTx();
    this.#child.write("quit\n");
    // 22.11 sometimes segfaults on the way out after a memif session: the exit code is not ours.
    const timer = setTimeout(() => this.#child.kill(), 3000);
    await this.#child.exited;
    clearTimeout(timer);
    return c;
  }

  async kill(): Promise<void> {
    await this.#child.stop(2000);
    for (const base of ["/var/run/dpdk", join(process.env.XDG_RUNTIME_DIR ?? "/nonexistent", "dpdk")]) {
      try {
        rmdirSync(join(base, this.#prefix));
      } catch {
        // not there or not empty
      }
    }
  }
}
