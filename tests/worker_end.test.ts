/**
 * A Worker that ends (terminate(), an uncaught error, process.exit()) without closing what it
 * opened has it closed for it, as close() would: its own port disconnects (the peer, another
 * process, is told "the thread that owned this interface ended"), and queues it adopted are
 * closed, so the port's thread can share those ids again and close its port cleanly; a port whose
 * queues it handed to the main thread disconnects while the main thread's view of a buffer stays
 * mapped until its queue learns the connection ended (unmapped, it would crash the process); and
 * the process's fds and shared-memory mappings are back to what they were. Bun Workers
 * (tests/helpers/worker_end.ts) and Node.js worker_threads on the N-API backend
 * (tests/helpers/node_worker_end.mjs, on dist/), each in a child process so that a crash is a
 * failed test with its signal. Beside tests/worker_exit.test.ts (the same ends: no crash).
 */
import { beforeAll, test } from "bun:test";
import { printsOk } from "./helpers/child_ok.ts";
import { buildDist } from "./helpers/dist.ts";

const ITERATIONS = 5;
const CHILD = new URL("./helpers/worker_end.ts", import.meta.url).pathname;
const NODE_CHILD = new URL("./helpers/node_worker_end.mjs", import.meta.url).pathname;

beforeAll(buildDist, 120_000);

const what = {
  port: "its own port: the peer sees it disconnect",
  queue: "adopted rx and tx queues: the port's thread shares them again and closes its port",
  give: "the port whose queues the main thread adopted: the peer sees it disconnect, the main thread's view stays mapped until revoked",
} as const;

for (const [runtime, run] of [
  [
    "Bun",
    (kind: string, end: string) => [
      process.execPath,
      CHILD,
      "--case",
      kind,
      "--end",
      end,
      "--iterations",
      String(ITERATIONS),
    ],
  ],
  ["Node.js", (kind: string, end: string) => ["node", NODE_CHILD, process.execPath, kind, end, String(ITERATIONS)]],
] as const) {
  for (const kind of ["port", "queue", "give"] as const) {
    for (const end of ["terminate", "throw", "exit"] as const) {
      test(`${runtime}: a Worker that ends by ${end} without closing ${what[kind]}; fds and maps released (${ITERATIONS}x)`, async () => {
        await printsOk(run(kind, end), `${runtime} worker_end ${kind} ${end}`, ITERATIONS);
      }, 60_000);
    }
  }
}
