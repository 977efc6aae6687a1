/**
 * A child process whose stdout a test or a bench follows line by line: the one process wrapper
 * of the repository (tests, benches and support/testpmd.ts use it).
 *
 * - Every stdout line is kept (`lines`), with the `performance.now()` it arrived at (`times`).
 * - Waits (`waitFor`, `waitLine`, `waitEvent`) look at the lines already read and at the ones to
 *   come; they fail on timeout, or as soon as the process has exited and its output is read,
 *   with the last lines and stderr in the message.
 * - Options: `cpu` pins it with taskset; `mergeStderr` sends stderr into the stdout pipe (order
 *   kept); `prompts` reports a partial line ending in a prompt (`testpmd> `) as a line.
 * - Every process still running when this process exits (or gets SIGINT/SIGTERM) is SIGKILLed.
 */
import type { Subprocess } from "bun";

export interface ProcOptions {
  /** "pipe" to `write()` to it; default "ignore". */
  readonly stdin?: "pipe" | "ignore";
  /** The environment; default this process's. */
  readonly env?: Record<string, string | undefined>;
  /** Names it in error messages; default the program's file name. */
  readonly name?: string;
  /** Runs it under `taskset -c CPU`. */
  readonly cpu?: number;
  /** stderr into the stdout pipe, in order (DPDK logs to stderr, testpmd prints to stdout). */
  readonly mergeStderr?: boolean;
  /** A partial line ending in one of these is reported as a line (an interactive prompt). */
  readonly prompts?: readonly string[];
}

/** A line and the `performance.now()` it arrived at. */
export interface Line {
  readonly text: string;
  readonly at: number;
}

export class ProcError extends Error {
  override readonly name = "ProcError";
}

const live = new Set<Subprocess>();
let hooked = false;

function killAllOnExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = (): void => {
    for (const p of live) p.kill("SIGKILL");
  };
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export class Proc {
  readonly name: string;
  readonly proc: Subprocess<"pipe" | "ignore", "pipe", "pipe">;
  /** stdout lines, without the line end. */
  readonly lines: string[] = [];
  /** `times[i]`: when `lines[i]` arrived (`performance.now()`). */
  readonly times: number[] = [];
  /** The exit code (a signal gives 128 + its number). */
  readonly exited: Promise<number>;
  /** The exit code, once all the output is read too. */
  readonly finished: Promise<number>;
  readonly #wakers = new Set<() => void>();
  readonly #prompts: readonly string[];
  #stderr = "";
  #ended = false;

  /** `opts` may be just the stdin mode, and `env` the environment (the older form). */
  constructor(cmd: string[], opts: ProcOptions | "pipe" | "ignore" = {}, env?: Record<string, string | undefined>) {
    const o: ProcOptions = typeof opts === "string" ? { stdin: opts, ...(env !== undefined ? { env } : {}) } : opts;
    killAllOnExit();
    this.name = o.name ?? cmd[0]?.split("/").pop() ?? "process";
    this.#prompts = o.prompts ?? [];
    let argv = o.cpu !== undefined ? ["taskset", "-c", String(o.cpu), ...cmd] : cmd;
    if (o.mergeStderr === true) argv = ["sh", "-c", 'exec 2>&1; exec "$@"', "sh", ...argv];
    this.proc = Bun.spawn(argv, {
      stdin: o.stdin ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: o.env ?? process.env,
    });
    live.add(this.proc);
    const read = Promise.all([this.#read(), this.#readStderr()]);
    this.exited = this.proc.exited;
    this.finished = Promise.all([read, this.exited]).then(([, code]) => {
      live.delete(this.proc);
      this.#ended = true;
      this.#wake();
      return code;
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** False once it exited and all its output was read. */
  get running(): boolean {
    return !this.#ended;
  }

  /** What it wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  #push(text: string, at: number): void {
    this.lines.push(text);
    this.times.push(at);
  }

  async #read(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      const at = performance.now();
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        this.#push(buf.slice(0, nl).replace(/\r$/, ""), at);
        buf = buf.slice(nl + 1);
      }
      if (this.#prompts.some((p) => buf.endsWith(p))) {
        this.#push(buf, at);
        buf = "";
      }
      this.#wake();
    }
    if (buf !== "") this.#push(buf, performance.now());
  }

  async #readStderr(): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of this.proc.stderr) this.#stderr += dec.decode(chunk, { stream: true });
  }

  #wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  /** Writes to its stdin (started with `stdin: "pipe"`). */
  write(text: string): void {
    if (this.#ended) throw this.fail(`exited; cannot send ${JSON.stringify(text.trim())}`);
    const stdin = this.proc.stdin;
    if (typeof stdin === "number" || stdin === undefined)
      throw new ProcError(`${this.name}: started without stdin: "pipe"`);
    stdin.write(text);
    stdin.flush();
  }

  /**
   * The first line at index >= `from` for which `match` gives a value (a throw from `match` fails
   * the wait); fails on timeout or once the process ended without one.
   */
  waitLine<T>(
    from: number,
    match: (text: string) => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<{ value: T; index: number; line: Line }> {
    return new Promise((resolve, reject) => {
      let i = from;
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(poll);
      };
      const poll = (): void => {
        try {
          for (; i < this.lines.length; i++) {
            const text = this.lines[i]!;
            const value = match(text);
            if (value !== undefined) {
              done();
              resolve({ value, index: i, line: { text, at: this.times[i]! } });
              return;
            }
          }
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (this.#ended) {
          done();
          reject(this.fail(`exited (code ${this.proc.exitCode}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(this.fail(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#wakers.add(poll);
      poll();
    });
  }

  /** The first line (printed or to come) matching `re`. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<string> {
    return (await this.waitLine(0, (l) => (re.test(l) ? l : undefined), timeoutMs, `line matching ${re}`)).value;
  }

  /**
   * The first JSON line at index >= `from` whose `event` is `event`; a `{"event":"error"}` line
   * fails the wait with its message.
   */
  async waitEvent(
    event: string,
    from: number,
    timeoutMs: number,
    what = event,
  ): Promise<{ j: Record<string, unknown>; index: number; line: Line }> {
    const r = await this.waitLine(
      from,
      (text) => {
        if (!text.startsWith("{")) return undefined;
        const j = JSON.parse(text) as Record<string, unknown>;
        if (j.event === "error") throw this.fail(`error: ${String(j.message)}`);
        return j.event === event ? j : undefined;
      },
      timeoutMs,
      what,
    );
    return { j: r.value, index: r.index, line: r.line };
  }

  /** stdout lines that are JSON objects */
  json<T = Record<string, unknown>>(): T[] {
    return this.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as T);
  }

  /** An error naming this process, with its last lines and stderr. */
  fail(msg: string): ProcError {
    const stderr = this.#stderr !== "" ? `\n--- stderr ---\n${this.#stderr.slice(-2000)}` : "";
    return new ProcError(`${this.name}: ${msg}\n--- last lines ---\n${this.lines.slice(-25).join("\n")}${stderr}`);
  }

  /**
   * SIGTERM (SIGKILL after `graceMs`, if given), then the exit code once all the output is read
   * (what it printed on its way out is in `lines` and `stderr`).
   */
  async stop(graceMs?: number): Promise<number> {
    this.proc.kill("SIGTERM");
    const timer = graceMs !== undefined ? setTimeout(() => this.proc.kill("SIGKILL"), graceMs) : undefined;
    await this.exited;
    clearTimeout(timer);
    return await this.finished;
  }

  /** SIGKILL, at once. */
  kill(): void {
    this.proc.kill("SIGKILL");
  }
}
