/**
 * The Worker of tests/helpers/worker_exit.ts: it opens zmemif things, waits on them (armed), says
 * so, and then ends without closing anything, as told:
 *   {kind: "rx", rx}              adopt the shared rx queue and wait on it (zmemif_rx_queue_arm_cb)
 *   {kind: "port", path, id}      open its own socket and client port, and wait on rx queue 0
 *                                 (the port's callback is this Worker's)
 * It posts {armed: true} once it waits, or {error}. Then {end: "throw"} throws from a timer (an
 * uncaught error ends the Worker) and {end: "exit"} calls process.exit(7); the parent may also
 * terminate() it. What it does is handle() of tests/helpers/worker_exit_steps.mjs (Node's too).
 */
import { MemifSocket, RxQueue } from "../../ts/index.ts";
import { handle, type Job } from "./worker_exit_steps.mjs";

declare const self: Worker;

self.onmessage = async (m: MessageEvent<Job>) => {
  const said = await handle(m.data, { MemifSocket, RxQueue });
  if (said !== undefined) self.postMessage(said);
};
