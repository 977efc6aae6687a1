/** The Worker end/exit tests' check of a child process that runs the iterations of one case. */
import { expect } from "bun:test";
import { Proc } from "../../support/proc.ts";

/** Runs `cmd` and expects it to print `ok ITERATIONS` last and exit 0 (a crash: its signal). */
export async function printsOk(cmd: string[], name: string, iterations: number): Promise<void> {
  const child = new Proc(cmd, { name });
  const code = await child.finished;
  const signal = code > 128 ? ` (signal ${code - 128})` : "";
  const out = `exit status ${code}${signal}\n${child.lines.slice(-5).join("\n")}\n${child.stderr.slice(-3000)}`;
  expect(child.lines.at(-1), out).toBe(`ok ${iterations}`);
  expect(code, out).toBe(0);
}
