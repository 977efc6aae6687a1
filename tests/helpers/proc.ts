/** A child process whose stdout lines a test can follow and wait for. */
import type { Subprocess } from "bun";

export class Proc {
  readonly proc: Subprocess<"pipe" | "ignore", "pipe", "pipe">;
  readonly lines: string[] = [];
  readonly exited: Promise<number>;
  #stderr = "";
  #waiters: { re: RegExp; resolve: (l: string) => void }[] = [];

  constructor(cmd: string[], stdin: "pipe" | "ignore" = "ignore", env?: Record<string, string | undefined>) {
    this.proc = Bun.spawn(cmd, { stdin, stdout: "pipe", stderr: "pipe", env: env ?? process.env });
    this.exited = this.proc.exited;
    void this.#read();
    void new Response(this.proc.stderr).text().then((t) => (this.#stderr = t));
  }

  async #read(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        for (const w of [...this.#waiters]) {
          if (w.re.test(line)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  }

  get stderr(): string {
    return this.#stderr;
  }

  waitFor(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const got = `got:\n${this.lines.join("\n")}\nstderr:\n${this.#stderr}`;
        reject(new Error(`no line matching ${re} within ${timeoutMs} ms; ${got}`));
      }, timeoutMs);
      this.#waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }

  /** stdout lines that are JSON objects */
  json<T = Record<string, unknown>>(): T[] {
    return this.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as T);
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    return await this.proc.exited;
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }
}
