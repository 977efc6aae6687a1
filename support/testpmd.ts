/**
 * A real DPDK `dpdk-testpmd` with one `net_memif` port, for the Bun tests and the benches. What
 * there is to know about running testpmd (its command line, a failed start that still exits 0,
 * the link state in the driver's log, the stats prints, the clean-up) is in ONE place, the
 * launcher support/testpmd (Rust; the Rust tests use it as a library). This file runs its binary,
 * `target/release/zmemif-testpmd` (`cargo build --release -p zmemif-testpmd`), and follows its
 * JSON lines (`zmemif-testpmd --help` lists them).
 *
 * Rules that hold for the tests (DPDK 22.11): start a server before its client (a client connects
 * once and never retries); stop clients before servers (a transmitting client may segfault when
 * its server goes); don't assert on testpmd's exit code after a memif session (it sometimes
 * segfaults on SIGTERM). A testpmd of either role that forwards when its peer leaves may die of
 * SIGSEGV (its PMD unmaps the rings under a running burst: forwarder/README.md, "A peer leaving
 * mid-burst"): a test that still needs it runs it `interactive` and sends `stop` first. A server
 * with two or more queue pairs can die the same way when a client connects while it forwards:
 * there, `command("start")` once the link is up.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Proc, ProcError } from "./proc.ts";

export type Role = "server" | "client";

/** A filesystem socket (`socket-abstract=no`) or an abstract name without `@` (`=yes`). */
export type Socket = { readonly path: string } | { readonly abstract: string };

export type FwdMode = "io" | "macswap" | "5tswap" | "rxonly" | "txonly";

export interface TestpmdOptions {
  readonly role: Role;
  readonly socket: Socket;
  /** memif interface id (`id=`), default 0. */
  readonly id?: number;
  /** `--forward-mode`, default `rxonly`. */
  readonly mode?: FwdMode;
  /** txonly packet length (`--txpkts`), default 64. */
  readonly txPktLen?: number;
  /** `--burst`; testpmd's default is 32. */
  readonly burst?: number;
  /** Queue pairs (`--rxq/--txq`; net_memif takes its ring count from them), default 1. */
  readonly queues?: number;
  /** `secret=` (≤ 24 bytes). */
  readonly secret?: string;
  /** `rsize=` log2 ring size 1..14. */
  readonly rsize?: number;
  /** `bsize=` buffer size. */
  readonly bsize?: number;
  /** CPU both lcores run on, default 0. Pin peers to different CPUs. */
  readonly cpu?: number;
  /** Also pin the whole process (and its DPDK control threads) to `cpu` with taskset. */
  readonly taskset?: boolean;
  /** `--tx-first` (one burst once the link is up; implies testpmd's link check). */
  readonly txFirst?: boolean;
  /** `--total-num-mbufs`, default 16384. */
  readonly mbufs?: number;
  /** EAL `-m`, default 512. */
  readonly memMb?: number;
  /** `--mbuf-size`, for frames over 2048 bytes. */
  readonly mbufSize?: number;
  /** testpmd `-i`: forwarding starts with `command("start")`; no periodic stats prints. */
  readonly interactive?: boolean;
  readonly extraVdevArgs?: readonly string[];
  readonly extraEalArgs?: readonly string[];
  readonly extraAppArgs?: readonly string[];
  /** How long `start` waits for forwarding, default 20 000 ms (testpmd on a loaded machine). */
  readonly startTimeoutMs?: number;
  /** Short name for file names and messages, default the role. */
  readonly name?: string;
}

/** One port's counters from a stats print. */
export interface PortStats {
  rxPackets: number;
  rxMissed: number;
  rxBytes: number;
  rxErrors: number;
  rxNombuf: number;
  txPackets: number;
  txErrors: number;
  txBytes: number;
  /** testpmd's own rate since its previous print (its clock; prefer deltas over `at`). */
  rxPps: number;
  rxBps: number;
  txPps: number;
  txBps: number;
}

export interface StatsSnapshot {
  /** 0 for the first print. */
  readonly seq: number;
  /** ms on the launcher's clock when the print's header line arrived: only differences count. */
  readonly at: number;
  /** Indexed by port id. */
  readonly ports: readonly PortStats[];
}

/** The reply to an interactive command. */
export interface Reply {
  readonly cmd: string;
  /** ms on the launcher's clock when the reply's first line arrived. */
  readonly t: number;
  readonly lines: readonly string[];
  /** `show port stats N`: port N's counters. */
  readonly stats?: PortStats;
  /** `stop`: packets received and sent since `start` (its "Forward statistics"). */
  readonly forward?: { readonly rx: number; readonly tx: number };
}

export class TestpmdError extends Error {
  override readonly name = "TestpmdError";
}

const ROOT = join(import.meta.dir, "..");
/** How long the launcher may take to stop testpmd (SIGTERM, SIGKILL after 3 s) and clean up. */
const STOP_TIMEOUT_MS = 10_000;

let seq = 0;

function uniqueName(tag: string): string {
  return `zmemif-tp-${process.pid}-${seq++}-${tag}`;
}

/** A fresh filesystem socket path under the temp dir. */
export function uniqueSocketPath(tag: string): Socket {
  return { path: join(tmpdir(), `${uniqueName(tag)}.sock`) };
}

/** A fresh abstract socket name. */
export function uniqueAbstract(tag: string): Socket {
  return { abstract: uniqueName(tag) };
}

/** The launcher binary: `$ZMEMIF_TESTPMD_LAUNCHER`, else target/release/zmemif-testpmd. */
export function launcherPath(): string {
  const p = process.env.ZMEMIF_TESTPMD_LAUNCHER ?? join(ROOT, "target", "release", "zmemif-testpmd");
  if (!existsSync(p)) {
    throw new TestpmdError(
      `the testpmd launcher is not built (${p}): run \`cargo build --release -p zmemif-testpmd\` ` +
        "(scripts/test.sh does), or set ZMEMIF_TESTPMD_LAUNCHER",
    );
  }
  return p;
}

function launcherSync(args: string[], stdin?: string): string {
  const r = Bun.spawnSync([launcherPath(), ...args], {
    stdin: stdin !== undefined ? Buffer.from(stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new TestpmdError(r.stderr.toString().trim());
  return r.stdout.toString();
}

/** The dpdk-testpmd the launcher runs: `$ZMEMIF_TESTPMD`, else PATH. Missing is an error, not a skip. */
export function findTestpmd(): string {
  return launcherSync(["--which"]).trim();
}

/** Parses printed testpmd output into complete stats prints (for tests of the parser). */
export function parseStats(text: string, ports = 1): PortStats[][] {
  return launcherSync(["--parse-stats", "--ports", String(ports)], text)
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => (JSON.parse(l) as { ports: PortStats[] }).ports);
}

/** rx and tx packets per second of `port` between two prints. */
export function ratesBetween(a: StatsSnapshot, b: StatsSnapshot, port = 0): { rxPps: number; txPps: number } {
  const secs = (b.at - a.at) / 1000;
  const pa = a.ports[port];
  const pb = b.ports[port];
  if (secs <= 0 || pa === undefined || pb === undefined) return { rxPps: 0, txPps: 0 };
  return { rxPps: (pb.rxPackets - pa.rxPackets) / secs, txPps: (pb.txPackets - pa.txPackets) / secs };
}

function launcherArgs(o: TestpmdOptions, socket: Socket): string[] {
  const a = ["--role", o.role];
  a.push(...("path" in socket ? ["--socket", socket.path] : ["--abstract", socket.abstract]));
  const num = (flag: string, v: number | undefined): void => {
    if (v !== undefined) a.push(flag, String(v));
  };
  num("--id", o.id);
  if (o.mode !== undefined) a.push("--mode", o.mode);
  num("--pkt-len", o.txPktLen);
  num("--burst", o.burst);
  num("--queues", o.queues);
  if (o.secret !== undefined) a.push("--secret", o.secret);
  num("--rsize", o.rsize);
  num("--bsize", o.bsize);
  num("--cpu", o.cpu);
  if (o.txFirst === true) a.push("--tx-first");
  num("--mbufs", o.mbufs);
  num("--mem-mb", o.memMb);
  num("--mbuf-size", o.mbufSize);
  if (o.interactive === true) a.push("--interactive");
  for (const v of o.extraVdevArgs ?? []) a.push("--vdev-arg", v);
  for (const v of o.extraEalArgs ?? []) a.push("--eal-arg", v);
  for (const v of o.extraAppArgs ?? []) a.push("--app-arg", v);
  num("--start-timeout-ms", o.startTimeoutMs);
  if (o.name !== undefined) a.push("--name", o.name);
  return a;
}

type Check<T> = () => { ok: T } | { err: string } | undefined;

interface Event {
  event: string;
  line?: string;
  up?: boolean;
  seq?: number;
  t?: number;
  ports?: PortStats[];
  code?: number | null;
  message?: string;
}

/** A running dpdk-testpmd (through the launcher); `kill()` (or `await using`) stops it and cleans up. */
export class Testpmd {
  readonly opts: TestpmdOptions;
  readonly socket: Socket;
  /** testpmd's and DPDK's output, line by line (ANSI escapes removed). */
  readonly lines: string[] = [];
  readonly snapshots: StatsSnapshot[] = [];
  /** The full log (removed at kill unless ZMEMIF_KEEP_LOGS=1). */
  logPath = "";
  readonly #proc: Proc;
  #pid = 0;
  #read = 0;
  #up = false;
  #refused: string | undefined;
  #ended = false;
  #exitCode: number | null = null;
  #killed: Promise<number | null> | undefined;

  private constructor(opts: TestpmdOptions, socket: Socket, proc: Proc) {
    this.opts = opts;
    this.socket = socket;
    this.#proc = proc;
  }

  /** Starts testpmd and waits until it forwards (interactive: until it takes commands). Server first. */
  static async start(opts: TestpmdOptions): Promise<Testpmd> {
    const socket: Socket =
      "abstract" in opts.socket ? { abstract: opts.socket.abstract.replace(/^@/, "") } : opts.socket;
    const who = opts.name ?? opts.role;
    const argv = [launcherPath(), ...launcherArgs(opts, socket)];
    const proc = new Proc(opts.taskset === true ? ["taskset", "-c", String(opts.cpu ?? 0), ...argv] : argv, {
      stdin: "pipe",
      name: `testpmd[${who}]`,
    });
    const t = new Testpmd(opts, socket, proc);
    try {
      const ready = await proc.waitEvent("ready", 0, (opts.startTimeoutMs ?? 20_000) + STOP_TIMEOUT_MS, "start");
      t.#pid = Number(ready.j.pid);
      t.logPath = String(ready.j.log);
      return t;
    } catch (e) {
      proc.kill();
      await proc.finished;
      const error = proc.json<Event>().find((j) => j.event === "error");
      if (error !== undefined) throw new TestpmdError(String(error.message));
      throw e instanceof ProcError ? new TestpmdError(e.message) : e;
    }
  }

  /** Takes in what the launcher printed since the last call. */
  #sync(): void {
    const out = this.#proc.lines;
    for (; this.#read < out.length; this.#read++) {
      const l = out[this.#read]!;
      if (!l.startsWith("{")) continue;
      const j = JSON.parse(l) as Event;
      if (j.event === "log") this.lines.push(j.line ?? "");
      else if (j.event === "link") this.#up = j.up === true;
      else if (j.event === "refused") this.#refused = j.line;
      else if (j.event === "stats") this.snapshots.push({ seq: j.seq ?? 0, at: j.t ?? 0, ports: j.ports ?? [] });
      else if (j.event === "ended") this.#ended = true;
      else if (j.event === "exit") this.#exitCode = j.code ?? null;
    }
  }

  /** Resolves when `check` gives a result; rejects on timeout or exit with the log's tail. */
  async #wait<T>(timeoutMs: number, what: string, check: Check<T>): Promise<T> {
    const from = Math.max(0, this.#proc.lines.length - 1);
    try {
      const r = await this.#proc.waitLine(
        from,
        () => {
          this.#sync();
          const c = check();
          if (c === undefined) {
            if (this.#ended) throw this.#fail(`testpmd exited while waiting for ${what}`);
            return undefined;
          }
          if ("err" in c) throw this.#fail(c.err);
          return { v: c.ok };
        },
        timeoutMs,
        what,
      );
      return r.value.v;
    } catch (e) {
      if (e instanceof TestpmdError) throw e;
      throw this.#fail(e instanceof ProcError ? (e.message.split("\n")[0] ?? e.message) : String(e));
    }
  }

  #fail(msg: string): TestpmdError {
    this.#sync();
    const tail = this.lines.slice(-40).join("\n");
    const kept = process.env.ZMEMIF_KEEP_LOGS !== undefined ? "" : " (removed at kill unless ZMEMIF_KEEP_LOGS=1)";
    return new TestpmdError(
      `testpmd[${this.opts.name ?? this.opts.role}]: ${msg}\nlog: ${this.logPath}${kept}\n--- last lines ---\n${tail}`,
    );
  }

  /** testpmd's pid. */
  get pid(): number {
    return this.#pid;
  }

  get exited(): boolean {
    this.#sync();
    return this.#ended || !this.#proc.running;
  }

  logText(): string {
    this.#sync();
    return this.lines.join("\n");
  }

  /** Waits until `n` log lines match `pattern` (substring or RegExp); returns the n-th. */
  waitForLog(pattern: string | RegExp, timeoutMs: number, n = 1): Promise<string> {
    return this.#wait(timeoutMs, `${n} x ${String(pattern)}`, () => {
      const hits = this.lines.filter((l) => (typeof pattern === "string" ? l.includes(pattern) : pattern.test(l)));
      const hit = hits[n - 1];
      return hit !== undefined ? { ok: hit } : undefined;
    });
  }

  /** Up when the last link event in the log is a connect. */
  linkIsUp(): boolean {
    this.#sync();
    return this.#up;
  }

  /** Waits for link up; a client rejects at once when the server refused it (`Disconnect received`). */
  linkUp(timeoutMs: number): Promise<void> {
    return this.#wait(timeoutMs, "link up", () => {
      if (this.#up) return { ok: undefined };
      if (this.opts.role === "client" && this.#refused !== undefined) {
        return { err: `peer refused the connection: ${JSON.stringify(this.#refused)}` };
      }
      return undefined;
    });
  }

  linkDown(timeoutMs: number): Promise<void> {
    return this.#wait(timeoutMs, "link down", () => (this.#up ? undefined : { ok: undefined }));
  }

  /** The latest complete stats print. */
  stats(): StatsSnapshot | undefined {
    this.#sync();
    return this.snapshots[this.snapshots.length - 1];
  }

  /** The next stats print after this call. */
  nextStats(timeoutMs: number): Promise<StatsSnapshot> {
    this.#sync();
    const seen = this.snapshots.length;
    return this.#wait(timeoutMs, "a stats print", () => {
      const s = this.snapshots[seen];
      return s !== undefined ? { ok: s } : undefined;
    });
  }

  /** A stats print (past or future) satisfying `pred`. */
  waitForStats(pred: (s: StatsSnapshot) => boolean, timeoutMs: number): Promise<StatsSnapshot> {
    return this.#wait(timeoutMs, "stats matching the condition", () => {
      const s = this.snapshots.findLast(pred);
      return s !== undefined ? { ok: s } : undefined;
    });
  }

  /** Interactive: sends `cmd` to testpmd and returns its reply. */
  async command(cmd: string, timeoutMs = 15_000): Promise<Reply> {
    const from = this.#proc.lines.length;
    this.#proc.write(`cmd ${cmd}\n`);
    try {
      return (await this.#proc.waitEvent("reply", from, timeoutMs, `the reply to ${cmd}`)).j as unknown as Reply;
    } catch (e) {
      throw this.#fail(e instanceof ProcError ? (e.message.split("\n")[0] ?? e.message) : String(e));
    }
  }

  /**
   * Stops testpmd (SIGTERM, SIGKILL after 3 s) and removes the socket file it served, its DPDK
   * runtime directory and its temp files; resolves with its exit code. Idempotent.
   */
  kill(): Promise<number | null> {
    this.#killed ??= this.#kill();
    return this.#killed;
  }

  async #kill(): Promise<number | null> {
    if (this.#proc.running) {
      try {
        this.#proc.write("stop\n");
      } catch {
        // the launcher is gone already
      }
      const timer = setTimeout(() => this.#proc.kill(), STOP_TIMEOUT_MS);
      await this.#proc.finished;
      clearTimeout(timer);
    }
    this.#sync();
    return this.#exitCode;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}
