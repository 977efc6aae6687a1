/**
 * A Bun Worker that ends (terminate(), an uncaught error, process.exit()) while zmemif may still
 * call it must not crash the process: an rx queue armed in the Worker (its own callback,
 * zmemif_rx_queue_arm_cb) or a port the Worker opened (its port callback), then the peer (another
 * process) sends to that queue and ends the connection. tests/helpers/worker_exit.ts runs each case
 * in a child process, so a crash is a failed test with the signal, not a dead test runner; it ends
 * by opening a new port and receiving on it.
 */
import { expect, test } from "bun:test";
import { Proc } from "../support/proc.ts";

const ITERATIONS = 30;
const CHILD = new URL("./helpers/worker_exit.ts", import.meta.url).pathname;

for (const kind of ["rx", "port"] as const) {
  for (const end of ["terminate", "throw", "exit"] as const) {
    test(`a Worker with ${kind === "rx" ? "an armed shared rx queue" : "its own port"} ends by ${end}: no crash (${ITERATIONS}x)`, async () => {
      const child = new Proc(
        [process.execPath, CHILD, "--case", kind, "--end", end, "--iterations", String(ITERATIONS)],
        {
          name: `worker_exit ${kind} ${end}`,
        },
      );
      const code = await child.finished;
      const out = `exit status ${code}${code > 128 ? ` (signal ${code - 128})` : ""}\n${child.lines.slice(-5).join("\n")}\n${child.stderr.slice(-3000)}`;
      expect(child.lines.at(-1), out).toBe(`ok ${ITERATIONS}`);
      expect(code, out).toBe(0);
    }, 60_000);
  }
}
