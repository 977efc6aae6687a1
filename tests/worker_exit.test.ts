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
import { beforeAll, test } from "bun:test";
import { printsOk } from "./helpers/child_ok.ts";
import { buildDist } from "./helpers/dist.ts";

const ITERATIONS = 30;
const CHILD = new URL("./helpers/worker_exit.ts", import.meta.url).pathname;
const NODE_CHILD = new URL("./helpers/node_worker_exit.mjs", import.meta.url).pathname;

beforeAll(buildDist, 120_000);

for (const kind of ["rx", "port"] as const) {
  for (const end of ["terminate", "throw", "exit"] as const) {
    test(`a Worker with ${kind === "rx" ? "an armed shared rx queue" : "its own port"} ends by ${end}: no crash (${ITERATIONS}x)`, async () => {
      await printsOk(
        [process.execPath, CHILD, "--case", kind, "--end", end, "--iterations", String(ITERATIONS)],
        `worker_exit ${kind} ${end}`,
        ITERATIONS,
      );
    }, 60_000);
  }
}

for (const kind of ["rx", "port"] as const) {
  for (const end of ["terminate", "throw", "exit"] as const) {
    test(`Node.js: a Worker with ${kind === "rx" ? "an armed shared rx queue" : "its own port"} ends by ${end}: no crash (${ITERATIONS}x)`, async () => {
      await printsOk(
        ["node", NODE_CHILD, process.execPath, kind, end, String(ITERATIONS)],
        `node_worker_exit ${kind} ${end}`,
        ITERATIONS,
      );
    }, 60_000);
  }
}
