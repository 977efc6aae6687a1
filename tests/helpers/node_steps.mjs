// What a Node.js child of the shared Worker steps (tests/helpers/worker_exit_steps.mjs,
// tests/helpers/worker_end_steps.mjs) passes in: command_peer started with `bun`, its lines read
// from its stdout, and its node:worker_threads Workers. tests/helpers/bun_steps.ts is the same for
// the Bun children.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker } from "node:worker_threads";

/** tests/helpers/command_peer.ts serving `path`, started with `bun`, once it is ready; end() closes its stdin. */
export async function commandPeer(bun, path) {
  const peer = spawn(bun, [fileURLToPath(new URL("./command_peer.ts", import.meta.url)), "--socket", path], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = [];
  let wake = () => {};
  let buf = "";
  peer.stdout.on("data", (d) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop();
    lines.push(...parts);
    wake();
  });
  /** The first peer line from index `from` that `match` accepts, within `ms`. */
  const waitLine = async (from, match, what, ms) => {
    const deadline = Date.now() + ms;
    for (let i = from; ; ) {
      for (; i < lines.length; i++) if (match(lines[i])) return lines[i];
      if (Date.now() > deadline) throw new Error(`command_peer: no ${what} within ${ms} ms: ${lines.slice(-5)}`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await waitLine(0, (l) => l === "ready", "ready", 10_000);
  return { lines, write: (text) => peer.stdin.write(text), waitLine, end: () => peer.stdin.end() };
}

/** A node:worker_threads Worker running `url`, as the steps drive it. */
export function nodeWorker(url) {
  const w = new Worker(url);
  w.on("error", () => {}); // the "throw" end: expected
  const ended = new Promise((r) => w.once("exit", r));
  return {
    post: (m) => w.postMessage(m),
    terminate: () => void w.terminate(),
    next: () => new Promise((r) => w.once("message", r)),
    ended,
  };
}

/**
 * A Node.js child, run as `node FILE BUN CASE END ITERATIONS`, whose file `url` is also its Worker.
 * In a Worker: each message is `steps.handle(job, zmemif, opened)`, its answer posted back. In
 * the main thread: command_peer (`name` in its abstract socket), `steps.run` with `zmemif` and
 * Workers of `url`; prints "ok N" and exits 0.
 */
export async function nodeChild(url, zmemif, steps, name) {
  if (!isMainThread) {
    const opened = [];
    parentPort.on("message", async (job) => {
      const said = await steps.handle(job, zmemif, opened);
      if (said !== undefined) parentPort.postMessage(said);
    });
    return;
  }
  const [bun, kind, end, iterArg] = process.argv.slice(2);
  const iterations = Number(iterArg);
  const path = `@zmemif-${name}-node-${process.pid}`;
  const peer = await commandPeer(bun, path);
  await steps.run({ zmemif, peer, path, kind, end, iterations, startWorker: () => nodeWorker(new URL(url)) });
  peer.end();
  console.log(`ok ${iterations}`);
  process.exit(0);
}
