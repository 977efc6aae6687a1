/** Shared helpers for the Bun tests: unique socket names and a peer process we can follow. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

let counter = 0;
const dirs: string[] = [];

/** A fresh filesystem socket path in a private temporary directory. */
export function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "zmemif-test-"));
  dirs.push(dir);
  return join(dir, "memif.sock");
}

/** A fresh abstract socket name (no file). */
export function abstractName(): string {
  return `@zmemif-test-${process.pid}-${++counter}-${Date.now()}`;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export class Peer {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly lines: string[] = [];
  #waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  #stderr = "";

  constructor(args: string[]) {
    this.proc = Bun.spawn([process.execPath, join(import.meta.dir, "bun_peer.ts"), ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: process.env,
    });
    void this.#read();
    void new Response(this.proc.stderr).text().then((t) => (this.#stderr = t));
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
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

  /** Resolves with the first line (already printed or future) matching `re`. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error(`peer did not print ${re} within ${timeoutMs} ms; it printed:\n${this.lines.join("\n")}\n${this.#stderr}`));
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

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    return await this.proc.exited;
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

/** Deterministic payload `i` of `len` bytes. */
export function payload(i: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = (i * 31 + k * 7) & 0xff;
  if (len >= 4) new DataView(b.buffer).setUint32(0, i, true);
  return b;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
