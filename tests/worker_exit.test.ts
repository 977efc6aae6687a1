/**
 * A Bun Worker that ends (terminate(), an uncaught error, process.exit()) while zmemif may still
 * call it must not crash the process: an rx queue armed in the Worker (its own callback,
 * zmemif_rx_queue_arm_cb) or a port the Worker opened (its port callback), then the peer (another
 * process) sends to that queue and ends the connection. tests/helpers/worker_exit.ts runs each case
 * in a child process, so a crash is a failed test with the signal, not a dead test runner; it ends
 * by opening a new port and receiving on it. The same for Node.js's worker_threads on the N-API
 * backend (tests/helpers/node_worker_exit.mjs, on dist/), whose thread-safe functions napi-rs
 * already stops calling when their environment ends.
 */
import { beforeAll, expect, test } from "bun:test";
import { Proc } from "../support/proc.ts";
import { buildDist } from "./helpers/dist.ts";

const ITERATIONS = 30;
const CHILD = new URL("./helpers/worker_exit.ts", import.meta.url).pathname;
const NODE_CHILD = new URL("./helpers/node_worker_exit.mjs", import.meta.url).pathname;

beforeAll(buildDist, 120_000);

/** Runs `cmd` and expects it to print `ok ITERATIONS` last and exit 0 (a crash: its signal). */
async function survives(cmd: string[], name: string): Promise<void> {
  const child = new Proc(cmd, { name });
  const code = await child.finished;
  const signal = code > 128 ? ` (signal ${code - 128})` : "";
  const out = `exit status ${code}${signal}\n${child.lines.slice(-5).join("\n")}\n${child.stderr.slice(-3000)}`;
  expect(child.lines.at(-1), out).toBe(`ok ${ITERATIONS}`);
  expect(code, out).toBe(0);
}

for (const kind of ["rx", "port"] as const) {
  for (const end of ["terminate", "throw", "exit"] as const) {
    test(`a Worker with ${kind === "rx" ? "an armed shared rx queue" : "its own port"} ends by ${end}: no crash (${ITERATIONS}x)`, async () => {
      await survives(
        [process.execPath, CHILD, "--case", kind, "--end", end, "--iterations", String(ITERATIONS)],
        `worker_exit ${kind} ${end}`,
      );
    }, 60_000);
  }
}

for (const kind of ["rx", "port"] as const) {
  for (const end of ["terminate", "throw", "exit"] as const) {
    test(`Node.js: a Worker with ${kind === "rx" ? "an armed shared rx queue" : "its own port"} ends by ${end}: no crash (${ITERATIONS}x)`, async () => {
      await survives(
        ["node", NODE_CHILD, process.execPath, kind, end, String(ITERATIONS)],
        `node_worker_exit ${kind} ${end}`,
      );
    }, 60_000);
  }
}
