/**
 * Child processes of the bench: pinned with taskset, stdout read line by line with the arrival
 * time of each line, CPU time read from /proc, and all of them killed if pps.ts exits early.
 */
import { readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Subprocess } from "bun";

export interface Line {
  readonly text: string;
  /** performance.now() in this process when the line arrived */
  readonly at: number;
}

const live = new Set<Subprocess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
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

export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export class BenchError extends Error {
  override readonly name = "BenchError";
}

/**
 * A process pinned to one CPU. `partial` lines (a prompt without a newline, e.g. `testpmd> `)
 * are reported when the buffer ends with one of `prompts`.
 */
export class Child {
  readonly name: string;
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  readonly lines: Line[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #prompts: readonly string[];
  #stderr = "";
  #exited = false;

  constructor(
    name: string,
    cpu: number,
    argv: string[],
    opts: { prompts?: readonly string[]; mergeStderr?: boolean } = {},
  ) {
    hookExit();
    this.name = name;
    this.#prompts = opts.prompts ?? [];
    const cmd = ["taskset", "-c", String(cpu), ...argv];
    // DPDK logs to stderr and testpmd prints to stdout: one pipe keeps their order.
    const full = opts.mergeStderr === true ? ["sh", "-c", 'exec 2>&1; exec "$@"', "sh", ...cmd] : cmd;
    this.proc = Bun.spawn(full, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    live.add(this.proc);
    void this.#read();
    void new Response(this.proc.stderr).text().then((t) => (this.#stderr = t));
    void this.proc.exited.then(() => {
      this.#exited = true;
      live.delete(this.proc);
      this.#wake();
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      const at = performance.now();
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        this.lines.push({ text: buf.slice(0, nl).replace(/\r$/, ""), at });
        buf = buf.slice(nl + 1);
      }
      for (const p of this.#prompts) {
        if (buf.endsWith(p)) {
          this.lines.push({ text: buf, at });
          buf = "";
          break;
        }
      }
      this.#wake();
    }
    if (buf !== "") this.lines.push({ text: buf, at: performance.now() });
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  write(text: string): void {
    if (this.#exited) throw new BenchError(`${this.name} exited; cannot send ${JSON.stringify(text.trim())}`);
    this.proc.stdin.write(text);
    this.proc.stdin.flush();
  }

  /**
   * The first JSON line at index >= `from` whose `event` is `event` (a peer's `{"event":"error"}`
   * line fails the wait with its message).
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

  /**
   * Resolves with the first line at index >= `from` for which `match` returns a value; rejects
   * on timeout or exit, with the process's last lines.
   */
  waitLine<T>(
    from: number,
    match: (text: string, line: Line) => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<{ value: T; index: number; line: Line }> {
    return new Promise((resolve, reject) => {
      let i = from;
      const poll = (): void => {
        for (; i < this.lines.length; i++) {
          const line = this.lines[i]!;
          const v = match(line.text, line);
          if (v !== undefined) {
            done();
            resolve({ value: v, index: i, line });
            return;
          }
        }
        if (this.#exited) {
          done();
          reject(this.fail(`exited (code ${this.proc.exitCode}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(this.fail(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(poll);
      };
      this.#waiters.add(poll);
      poll();
    });
  }

  fail(msg: string): BenchError {
    const tail = this.lines
      .slice(-25)
      .map((l) => l.text)
      .join("\n");
    const stderr = this.#stderr !== "" ? `\n--- stderr ---\n${this.#stderr.slice(-2000)}` : "";
    return new BenchError(`${this.name}: ${msg}\n--- last lines ---\n${tail}${stderr}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  async kill(graceMs = 2000): Promise<void> {
    if (this.#exited) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.proc.exited;
    clearTimeout(timer);
  }
}

const CLK_TCK = 100; // USER_HZ on Linux x86-64

/** User + system CPU seconds of a process (all its threads), from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
  } catch {
    return NaN;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
