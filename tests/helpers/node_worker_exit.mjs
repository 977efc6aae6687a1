// tests/worker_exit.test.ts's case for Node.js (the N-API backend, dist/node.js), run by `node`:
//   node tests/helpers/node_worker_exit.mjs BUN rx|port terminate|throw|exit ITERATIONS
// As tests/helpers/worker_exit.ts, with the same steps (tests/helpers/worker_exit_steps.mjs): each
// iteration a node:worker_threads Worker waits armed on an rx queue (adopted from this thread's
// port, or of a port it opened itself), ends without closing anything, and then the peer
// (tests/helpers/command_peer.ts, started with BUN) sends to that queue (to the Worker's own port,
// which the core closes when the Worker ends, only while it is still connected: `offer`) and/or
// ends the connection. At the end this thread receives a packet on a new port and prints "ok N".
// What Node passes in is tests/helpers/node_steps.mjs. This file is also the Worker (it runs itself).
import * as zmemif from "../../dist/node.js";
import { nodeChild } from "./node_steps.mjs";
import * as steps from "./worker_exit_steps.mjs";

await nodeChild(import.meta.url, zmemif, steps, "worker-exit");
