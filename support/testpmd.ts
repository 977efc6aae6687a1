/**
 * Starts a real DPDK `dpdk-testpmd` with one `net_memif` port, for Bun tests and benches.
 * The TypeScript twin of `crates/zmemif/tests/common/testpmd.rs`; same log lines, same rules
 * (learned by running DPDK 22.11 from Debian 12 `dpdk-dev`):
 *
 * - A failed vdev or port start does not stop testpmd (exit code 0): `start` reads the log and
 *   throws on any of `START_FAILURES`.
 * - net_memif 22.11 accepts `id role bsize rsize socket socket-abstract mac zero-copy secret`;
 *   **one unknown key makes it ignore all of them** (it becomes a client on the abstract
 *   `/run/memif.sock`), so `start` checks that the driver's line names our socket.
 * - The link state is only in the driver's debug log (`memif_connect(): Connected.`).
 * - A 22.11 client connects once, at port start, and never retries: start the server first.
 *   A transmitting client may segfault when its server goes away: stop clients first. After a
 *   memif session testpmd sometimes segfaults (139) on SIGTERM: don't assert on that exit code.
 * - `--stats-period 1` prints about every second (~2 s on some VMs); stdout is line-buffered
 *   with `stdbuf -oL`, and stderr (DPDK's log) is merged into the same pipe to keep order.
 * - The process runs under `setpriv --pdeathsig TERM` and is SIGKILLed on Bun's exit.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

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
  /** `--tx-first` (one burst once the link is up; implies testpmd's link check). */
  readonly txFirst?: boolean;
  /** `--total-num-mbufs`, default 16384. */
  readonly mbufs?: number;
  /** EAL `-m`, default 512. */
  readonly memMb?: number;
  readonly extraVdevArgs?: readonly string[];
  readonly extraEalArgs?: readonly string[];
  readonly extraAppArgs?: readonly string[];
  /** How long `start` waits for forwarding, default 10 000 ms. */
  readonly startTimeoutMs?: number;
  /** Short name for file names and messages, default the role. */
  readonly name?: string;
}

/** One port's counters from a `--stats-period` print (format in `parseStats`). */
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
  /** `performance.now()` when the print's header line arrived. */
  readonly at: number;
  /** Indexed by port id. */
  readonly ports: readonly PortStats[];
}

export class TestpmdError extends Error {
  override readonly name = "TestpmdError";
}

/** Log lines meaning the vdev or the port did not come up (testpmd keeps running anyway). */
export const START_FAILURES: readonly string[] = [
  "failed to initialize", // vdev_probe(): failed to initialize net_memif0 device
  "probe failed", // EAL: Bus (vdev) probe failed.
  "No probed ethernet devices",
  "Fail to configure port",
  "Fail to start port", // Fail to start port 0: Operation not permitted
  "Not all ports were started",
  "Failed to setup socket",
  "EAL: Error",
  "EAL: FATAL",
  "Cannot init EAL",
];
export const READY = "packet forwarding - ports=";
export const LINK_UP = "memif_connect(): Connected.";
export const LINK_DOWN = "memif_disconnect(): Disconnected";
export const DISCONNECT_RECEIVED = "Disconnect received:";

const SIGTERM_GRACE_MS = 3000;
const MAX_SOCKET_PATH = 107;
const KEYS: Record<string, keyof PortStats> = {
  "RX-packets": "rxPackets",
  "RX-missed": "rxMissed",
  "RX-bytes": "rxBytes",
  "RX-errors": "rxErrors",
  "RX-nombuf": "rxNombuf",
  "TX-packets": "txPackets",
  "TX-errors": "txErrors",
  "TX-bytes": "txBytes",
  "Rx-pps": "rxPps",
  "Rx-bps": "rxBps",
  "Tx-pps": "txPps",
  "Tx-bps": "txBps",
};

let seq = 0;
const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

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

/** `$ZMEMIF_TESTPMD`, else `dpdk-testpmd` in PATH. Missing testpmd is an error, not a skip. */
export function findTestpmd(): string {
  const env = process.env.ZMEMIF_TESTPMD;
  if (env !== undefined) {
    if (!existsSync(env)) throw new TestpmdError(`ZMEMIF_TESTPMD=${env} is not a file`);
    return env;
  }
  const p = Bun.which("dpdk-testpmd");
  if (p === null) {
    throw new TestpmdError(
      "dpdk-testpmd not found in PATH: install DPDK with `apt-get install dpdk-dev` " +
        "(or run scripts/install-deps.sh), or set ZMEMIF_TESTPMD=/path/to/dpdk-testpmd",
    );
  }
  return p;
}

function emptyStats(): PortStats {
  return {
    rxPackets: 0,
    rxMissed: 0,
    rxBytes: 0,
    rxErrors: 0,
    rxNombuf: 0,
    txPackets: 0,
    txErrors: 0,
    txBytes: 0,
    rxPps: 0,
    rxBps: 0,
    txPps: 0,
    txBps: 0,
  };
}

/**
 * Reads testpmd's `--stats-period` prints line by line. One port's block in 22.11:
 * ```
 *   ######################## NIC statistics for port 0  ########################
 *   RX-packets: 42650976   RX-missed: 0          RX-bytes:  2729662976
 *   RX-errors: 0
 *   RX-nombuf:  0
 *   TX-packets: 0          TX-errors: 0          TX-bytes:  0
 *
 *   Throughput (since last show)
 *   Rx-pps:     20609711          Rx-bps:  10552174320
 *   Tx-pps:            0          Tx-bps:            0
 *   ############################################################################
 * ```
 * preceded by `Port statistics ====` (after a clear-screen escape) once per print.
 */
class StatsParser {
  expectedPorts: number;
  #pending: { at: number; ports: PortStats[] } | undefined;
  #port: { id: number; stats: PortStats } | undefined;

  constructor(expectedPorts = 0) {
    this.expectedPorts = expectedPorts;
  }

  feed(line: string, now: number): { at: number; ports: PortStats[] } | undefined {
    if (line.startsWith("Configuring Port ")) {
      this.expectedPorts++;
      return undefined;
    }
    if (line.startsWith("Port statistics =")) {
      this.#pending = { at: now, ports: [] };
      this.#port = undefined;
      return undefined;
    }
    const m = /NIC statistics for port (\d+)/.exec(line);
    if (m?.[1] !== undefined) {
      this.#port = { id: Number(m[1]), stats: emptyStats() };
      return undefined;
    }
    const port = this.#port;
    if (port === undefined) return undefined;
    const t = line.trim();
    if (/^#{8,}$/.test(t)) {
      this.#port = undefined;
      const pending = this.#pending;
      if (pending === undefined) return undefined;
      while (pending.ports.length <= port.id) pending.ports.push(emptyStats());
      pending.ports[port.id] = port.stats;
      if (pending.ports.length >= Math.max(1, this.expectedPorts)) {
        this.#pending = undefined;
        return pending;
      }
      return undefined;
    }
    for (const [, key, value] of t.matchAll(/([A-Za-z-]+):\s+(\d+)/g)) {
      const field = key === undefined ? undefined : KEYS[key];
      if (field !== undefined) port.stats[field] = Number(value);
    }
    return undefined;
  }
}

/** Parses printed testpmd output into complete stats prints (for tests of the parser). */
export function parseStats(text: string, ports = 1): PortStats[][] {
  const p = new StatsParser(ports);
  const out: PortStats[][] = [];
  for (const l of text.split("\n")) {
    const s = p.feed(stripAnsi(l), 0);
    if (s !== undefined) out.push(s.ports);
  }
  return out;
}

/** rx and tx packets per second of `port` between two prints, on our clock. */
export function ratesBetween(a: StatsSnapshot, b: StatsSnapshot, port = 0): { rxPps: number; txPps: number } {
  const secs = (b.at - a.at) / 1000;
  const pa = a.ports[port] ?? emptyStats();
  const pb = b.ports[port] ?? emptyStats();
  if (secs <= 0) return { rxPps: 0, txPps: 0 };
  return { rxPps: (pb.rxPackets - pa.rxPackets) / secs, txPps: (pb.txPackets - pa.txPackets) / secs };
}

function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the terminal sequences this strips
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

function socketLogName(s: Socket): string {
  return "path" in s ? s.path : s.abstract;
}

/** True if a process listens on this filesystem socket (from /proc/net/unix, flag ACCEPTCON). */
function hasListener(path: string): boolean {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return false;
  }
  return table.split("\n").some((l) => {
    const f = l.trim().split(/\s+/);
    return f.length >= 8 && f[7] === path && (parseInt(f[3] ?? "0", 16) & 0x10000) !== 0;
  });
}

function checkSocket(role: Role, socket: Socket): void {
  if (!("path" in socket)) return;
  const p = socket.path;
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH) {
    throw new TestpmdError(`socket path ${p} is longer than ${MAX_SOCKET_PATH} bytes`);
  }
  if (!p.startsWith("/")) throw new TestpmdError(`socket path ${p} must be absolute`);
  const exists = existsSync(p);
  if (role === "server" && exists) {
    if (hasListener(p)) {
      throw new TestpmdError(`socket ${p} already has a live listener (another test or engineer?): use a unique path`);
    }
    unlinkSync(p); // stale
  }
  if (role === "client" && !exists) {
    throw new TestpmdError(
      `no server socket at ${p}: start the server first ` +
        "(a DPDK 22.11 client connects once, at port start, and never retries)",
    );
  }
}

function buildArgs(o: TestpmdOptions, socket: Socket, filePrefix: string): string[] {
  const mode = o.mode ?? "rxonly";
  const cpu = o.cpu ?? 0;
  let vdev = `net_memif0,role=${o.role},id=${o.id ?? 0}`;
  vdev +=
    "path" in socket ? `,socket=${socket.path},socket-abstract=no` : `,socket=${socket.abstract},socket-abstract=yes`;
  if (o.secret !== undefined) vdev += `,secret=${o.secret}`;
  if (o.rsize !== undefined) vdev += `,rsize=${o.rsize}`;
  if (o.bsize !== undefined) vdev += `,bsize=${o.bsize}`;
  for (const a of o.extraVdevArgs ?? []) vdev += `,${a}`;
  const queues = o.queues ?? 1;
  const args = [
    `--lcores=0@${cpu},1@${cpu}`,
    "--no-huge",
    "-m",
    String(o.memMb ?? 512),
    "--no-pci",
    "--no-telemetry",
    "--no-shconf",
    `--file-prefix=${filePrefix}`,
    "--log-level=pmd.net.memif:debug",
    `--vdev=${vdev}`,
    ...(o.extraEalArgs ?? []),
    "--",
    `--total-num-mbufs=${o.mbufs ?? 16384}`,
    `--forward-mode=${mode}`,
    "--stats-period=1",
    "--auto-start",
    `--rxq=${queues}`,
    `--txq=${queues}`,
  ];
  if (mode === "txonly") args.push(`--txpkts=${o.txPktLen ?? 64}`);
  if (o.burst !== undefined) args.push(`--burst=${o.burst}`);
  args.push(o.txFirst === true ? "--tx-first" : "--disable-link-check");
  args.push(...(o.extraAppArgs ?? []));
  return args;
}

type Check<T> = () => { ok: T } | { err: string } | undefined;

/** A running dpdk-testpmd; `kill()` (or `await using`) stops it and cleans up. */
export class Testpmd {
  readonly opts: TestpmdOptions;
  readonly socket: Socket;
  readonly logPath: string;
  readonly lines: string[] = [];
  readonly snapshots: StatsSnapshot[] = [];
  readonly #proc: Subprocess<"ignore", "pipe", "ignore">;
  readonly #dir: string;
  readonly #filePrefix: string;
  readonly #logFd: number;
  readonly #parser = new StatsParser();
  readonly #wakers = new Set<() => void>();
  readonly #readDone: Promise<void>;
  #exited = false;
  #exitCode: number | null = null;
  #killed: Promise<number | null> | undefined;

  private constructor(opts: TestpmdOptions, socket: Socket, argv: string[], dir: string, filePrefix: string) {
    this.opts = opts;
    this.socket = socket;
    this.#dir = dir;
    this.#filePrefix = filePrefix;
    this.logPath = join(dir, "testpmd.log");
    this.#logFd = openSync(this.logPath, "w");
    writeSync(this.#logFd, `# ${argv.join(" ")}\n`);
    // DPDK logs to stderr, testpmd prints to stdout: one pipe keeps their order.
    this.#proc = Bun.spawn(["sh", "-c", 'exec 2>&1; exec "$@"', "sh", ...argv], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    live.add(this.#proc);
    this.#readDone = this.#read();
  }

  /** Starts testpmd and waits until it forwards. A server must start before its client. */
  static async start(opts: TestpmdOptions): Promise<Testpmd> {
    const bin = findTestpmd();
    const socket: Socket =
      "abstract" in opts.socket ? { abstract: opts.socket.abstract.replace(/^@/, "") } : opts.socket;
    checkSocket(opts.role, socket);
    const name = uniqueName(opts.name ?? opts.role);
    const dir = join(tmpdir(), name);
    mkdirSync(dir, { recursive: true });
    const argv: string[] = [];
    const setpriv = Bun.which("setpriv");
    if (setpriv !== null) argv.push(setpriv, "--pdeathsig", "TERM");
    const stdbuf = Bun.which("stdbuf");
    if (stdbuf !== null) argv.push(stdbuf, "-oL", "-eL");
    argv.push(bin, ...buildArgs(opts, socket, name));
    const t = new Testpmd(opts, socket, argv, dir, name);
    try {
      await t.#waitReady();
      return t;
    } catch (e) {
      await t.kill();
      throw e;
    }
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    const onLine = (raw: string): void => {
      const now = performance.now();
      const line = stripAnsi(raw).replace(/\r$/, "");
      writeSync(this.#logFd, `${line}\n`);
      const s = this.#parser.feed(line, now);
      if (s !== undefined) this.snapshots.push({ seq: this.snapshots.length, at: s.at, ports: s.ports });
      this.lines.push(line);
    };
    try {
      for await (const chunk of this.#proc.stdout) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        this.#wake();
      }
      if (buf.length > 0) onLine(buf);
    } finally {
      this.#exitCode = await this.#proc.exited;
      this.#exited = true;
      live.delete(this.#proc);
      closeSync(this.#logFd);
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  /** Resolves when `check` gives a result; rejects on timeout or exit with the log's tail. */
  #wait<T>(timeoutMs: number, what: string, check: Check<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(poll);
      };
      const poll = (): void => {
        const r = check();
        if (r !== undefined) {
          done();
          if ("ok" in r) resolve(r.ok);
          else reject(this.#fail(r.err));
        } else if (this.#exited) {
          done();
          reject(this.#fail(`testpmd exited (code ${this.#exitCode}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(this.#fail(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#wakers.add(poll);
      poll();
    });
  }

  #fail(msg: string): TestpmdError {
    const tail = this.lines.slice(-40).join("\n");
    const kept = process.env.ZMEMIF_KEEP_LOGS !== undefined ? "" : " (removed at kill unless ZMEMIF_KEEP_LOGS=1)";
    const who = this.opts.name ?? this.opts.role;
    return new TestpmdError(`testpmd[${who}]: ${msg}\nlog: ${this.logPath}${kept}\n--- last lines ---\n${tail}`);
  }

  #find(pattern: string | RegExp): string | undefined {
    return this.lines.find((l) => (typeof pattern === "string" ? l.includes(pattern) : pattern.test(l)));
  }

  async #waitReady(): Promise<void> {
    await this.#wait(this.opts.startTimeoutMs ?? 10_000, "start", () => {
      for (const p of START_FAILURES) {
        const l = this.#find(p);
        if (l !== undefined) return { err: `port did not start: ${JSON.stringify(l)}` };
      }
      return this.#find(READY) !== undefined ? { ok: undefined } : undefined;
    });
    // net_memif 22.11 ignores ALL its arguments when one key is unknown: check ours were used.
    const sock = socketLogName(this.socket);
    const server = this.opts.role === "server";
    const want = server ? `Memif listener socket ${sock} created.` : `Memif socket: ${sock} connected.`;
    if (this.#find(want) === undefined) {
      throw this.#fail(
        `no ${server ? "listener" : "connection"} on ${JSON.stringify(sock)} in the log: ` +
          "were the vdev arguments ignored? " +
          "(net_memif 22.11 drops ALL its arguments when one key is unknown; " +
          "valid keys: id role bsize rsize socket socket-abstract mac zero-copy secret)",
      );
    }
  }

  get pid(): number {
    return this.#proc.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  logText(): string {
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

  /** Up when the last link event in the log is `memif_connect(): Connected.`. */
  linkIsUp(): boolean {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i] ?? "";
      if (l.includes(LINK_UP)) return true;
      if (l.includes(LINK_DOWN)) return false;
    }
    return false;
  }

  /** Waits for link up; a client rejects at once on `Disconnect received: REASON`. */
  linkUp(timeoutMs: number): Promise<void> {
    return this.#wait(timeoutMs, "link up", () => {
      if (this.linkIsUp()) return { ok: undefined };
      if (this.opts.role === "client") {
        const l = this.#find(DISCONNECT_RECEIVED);
        if (l !== undefined) return { err: `peer refused the connection: ${JSON.stringify(l)}` };
      }
      return undefined;
    });
  }

  linkDown(timeoutMs: number): Promise<void> {
    return this.#wait(timeoutMs, "link down", () => (this.linkIsUp() ? undefined : { ok: undefined }));
  }

  /** The latest complete stats print. */
  stats(): StatsSnapshot | undefined {
    return this.snapshots[this.snapshots.length - 1];
  }

  /** The next stats print after this call. */
  nextStats(timeoutMs: number): Promise<StatsSnapshot> {
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

  /** SIGTERM, SIGKILL after 3 s; removes the served socket file and temp files. Idempotent. */
  kill(): Promise<number | null> {
    this.#killed ??= this.#kill();
    return this.#killed;
  }

  async #kill(): Promise<number | null> {
    if (!this.#exited) {
      this.#proc.kill("SIGTERM");
      const timer = setTimeout(() => this.#proc.kill("SIGKILL"), SIGTERM_GRACE_MS);
      await this.#proc.exited;
      clearTimeout(timer);
    }
    await this.#readDone;
    // Remove the socket file only if this testpmd created it (DPDK removes it on a clean exit,
    // not on SIGKILL or a crash); never someone else's.
    if ("path" in this.socket && this.#find(`Memif listener socket ${this.socket.path} created.`)) {
      rmSync(this.socket.path, { force: true });
    }
    for (const base of ["/var/run/dpdk", join(process.env.XDG_RUNTIME_DIR ?? "/nonexistent", "dpdk")]) {
      try {
        rmdirSync(join(base, this.#filePrefix));
      } catch {
        // not there or not empty
      }
    }
    if (process.env.ZMEMIF_KEEP_LOGS === undefined) rmSync(this.#dir, { recursive: true, force: true });
    return this.#exitCode;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}
