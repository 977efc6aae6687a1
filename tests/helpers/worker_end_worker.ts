/**
 * The Worker of tests/helpers/worker_end.ts: it opens or adopts zmemif things, attaches to the
 * connection (views of its memory in this Worker's heap), waits on rx (armed), says so, and then
 * ends without closing anything, as told:
 *   {kind: "port", path, id}   its own socket and client port; rx queue 0 armed, tx queue 0 with
 *                              a buffer allocated and written
 *   {kind: "queue", rx, tx}    adopts the shared rx and tx queues; the same waits and views
 *   {kind: "give", path, id}   its own socket and client port, whose rx and tx queue 0 it shares
 *                              with the parent: posts {ready, rx, tx} (the tokens) at once
 *   {close: true}              closes all it has (the warm-up: what a Worker leaves when it
 *                              closes everything), then says {closed: true}
 * It posts {ready: true} once it waits, or {error}. Then {end: "throw"} throws from a timer (an
 * uncaught error ends the Worker) and {end: "exit"} calls process.exit(7); the parent may also
 * terminate() it. What it does is handle() of tests/helpers/worker_end_steps.mjs (Node's too).
 */
import { Batch, MemifSocket, RxQueue, TxQueue } from "../../ts/index.ts";
import { handle, type Job } from "./worker_end_steps.mjs";

declare const self: Worker;

const opened: { close(): void }[] = [];

self.onmessage = async (m: MessageEvent<Job>) => {
  const said = await handle(m.data, { Batch, MemifSocket, RxQueue, TxQueue }, opened);
  if (said !== undefined) self.postMessage(said);
};
