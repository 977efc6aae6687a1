/**
 * A Bun process whose Workers end while zmemif may still call them, run by tests/worker_exit.test.ts
 * as a child process so that a crash is its exit status, not the test runner's:
 *
 *   bun tests/helpers/worker_exit.ts --case rx|port --end terminate|throw|exit --iterations N
 *
 * Each iteration starts a Worker (tests/helpers/worker_exit_worker.ts) that waits armed on
 *  - rx:   an rx queue of this thread's port, shared with it (the core calls the Worker's own
 *          callback, zmemif_rx_queue_arm_cb, on data or when the connection ends);
 *  - port: an rx queue of a port the Worker opened itself (the core calls the Worker's port
 *          callback on data, disconnect, reconnect);
 * then ends it (terminate(), an uncaught error, process.exit()) without closing anything, and then
 * makes the peer (tests/helpers/command_peer.ts, another process) send to that queue and/or end
 * the connection, so the core has something to report to the Worker that is gone. Even
 * iterations go on at once (the Worker is being torn down), odd ones after its 'close' event.
 * The core closes a port whose Worker ended (tests/worker_end.test.ts), so in the port case the
 * peer sends only while that port is still connected (`offer`), racing its close.
 * At the end this thread opens a new port to the peer and receives a packet on it, and prints
 * "ok N" (N iterations). The steps are tests/helpers/worker_exit_steps.mjs, shared with Node.js;
 * what Bun passes in is tests/helpers/bun_steps.ts.
 */
import { MemifSocket } from "../../ts/index.ts";
import { bunChild } from "./bun_steps.ts";
import { run } from "./worker_exit_steps.mjs";

await bunChild({
  kinds: ["rx", "port"],
  iterations: 10,
  worker: new URL("./worker_exit_worker.ts", import.meta.url).href,
  zmemif: { MemifSocket },
  run,
});
