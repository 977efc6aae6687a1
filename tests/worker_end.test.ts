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
import { beforeAll, expect, test } from "bun:test";
import { Proc } from "../support/proc.ts";
import { buildDist } from "./helpers/dist.ts";

const ITERATIONS = 5;
const CHILD = new URL("./helpers/worker_end.ts", import.meta.url).pathname;
const NODE_CHILD = new URL("./helpers/node_worker_end.mjs", import.meta.url).pathname;

beforeAll(buildDist, 120_000);

/** Runs `cmd` and expects it to print `ok ITERATIONS` last and exit 0 (a crash: its signal). */
async function closesWhatItLeft(cmd: string[], name: string): Promise<void> {
  const child = new Proc(cmd, { name });
  const code = await child.finished;
  const signal = code > 128 ? ` (signal ${code - 128})` : "";
  const out = `exit status ${code}${signal}\n${child.lines.slice(-5).join("\n")}\n${child.stderr.slice(-3000)}`;
  expect(child.lines.at(-1), out).toBe(`ok ${ITERATIONS}`);
  expect(code, out).toBe(0);
}

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
        await closesWhatItLeft(run(kind, end), `${runtime} worker_end ${kind} ${end}`);
      }, 60_000);
    }
  }
}
