/**
 * A Bun process whose Workers end without closing what they opened, run by
 * tests/worker_end.test.ts as a child process (a crash is its exit status, not the test runner's):
 *
 *   bun tests/helpers/worker_end.ts --case port|queue|give --end terminate|throw|exit --iterations N
 *
 * The peer is tests/helpers/command_peer.ts, another process, which prints each connection of
 * the interfaces it serves as it comes and goes. Each iteration starts a Worker
 * (tests/helpers/worker_end_worker.ts) that attaches to a connection and waits on it:
 *  - port:  on a socket and client port of its own. After the Worker ends (terminate(), an
 *           uncaught error, process.exit()) the peer must see that connection end, told
 *           "the thread that owned this interface ended", within DEADLINE_MS;
 *  - queue: on an rx and a tx queue of this thread's port, which it adopted. After the Worker
 *           ends, this thread must be able to share both queue ids again (the Worker's queues
 *           were closed), and to close its port, which the peer must see within DEADLINE_MS;
 *  - give:  the Worker opens a port of its own and hands its rx and tx queue to this thread,
 *           which adopts them, allocates a tx buffer and keeps a view of it. After the Worker
 *           ends the peer must see its port disconnect (as for `port`), while this thread's view
 *           still reads what it writes (the memory stays mapped for this thread's queue: an
 *           unmapped view would crash the process); the next txBurst says NOT_CONNECTED and
 *           revokes the view, and this thread closes the queues.
 * Then this process's open fds (/proc/self/fd) and shared-memory mappings (/memfd: lines of
 * /proc/self/maps) must be back to what they were before the iteration, within DEADLINE_MS.
 * The baseline is taken after a warm-up Worker that did the same and closed everything itself.
 * Prints "ok N" last. The steps are tests/helpers/worker_end_steps.mjs, shared with Node.js; what
 * Bun passes in is tests/helpers/bun_steps.ts.
 */
import { Batch, MemifError, MemifSocket, RxQueue, TxQueue } from "../../ts/index.ts";
import { bunChild } from "./bun_steps.ts";
import { run } from "./worker_end_steps.mjs";

await bunChild({
  kinds: ["port", "queue", "give"],
  iterations: 5,
  worker: new URL("./worker_end_worker.ts", import.meta.url).href,
  zmemif: { Batch, MemifError, MemifSocket, RxQueue, TxQueue },
  run,
});
