// tests/worker_end.test.ts's case for Node.js (the N-API backend, dist/node.js), run by `node`:
//   node tests/helpers/node_worker_end.mjs BUN port|queue|give terminate|throw|exit ITERATIONS
// As tests/helpers/worker_end.ts: each iteration a node:worker_threads Worker attaches to a
// connection (a port of its own, or an rx and a tx queue it adopted from this thread's port), or
// (give) opens a port and hands its queues to this thread, which keeps a view of a tx buffer; it
// ends without closing anything. Then the peer (tests/helpers/command_peer.ts, started with BUN)
// must see the Worker's own port disconnect, told "the thread that owned this interface ended"
// (give: while this thread's view still reads what it writes, until a txBurst says NOT_CONNECTED
// and revokes it); or this thread must be able to share both queue ids again and close its port,
// which the peer must see; and this process's fds and memfd mappings must be back to what they
// were (after a warm-up Worker that closed everything itself), each within DEADLINE_MS.
// Prints "ok N" last. The steps are tests/helpers/worker_end_steps.mjs (Bun's too), what Node
// passes in tests/helpers/node_steps.mjs. This file is also the Worker (it runs itself).
import * as zmemif from "../../dist/node.js";
import { nodeChild } from "./node_steps.mjs";
import * as steps from "./worker_end_steps.mjs";

await nodeChild(import.meta.url, zmemif, steps, "worker-end");
