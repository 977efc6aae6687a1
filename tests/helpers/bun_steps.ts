/**
 * What a Bun child of the shared Worker steps (tests/helpers/worker_exit_steps.mjs,
 * tests/helpers/worker_end_steps.mjs) passes in: its arguments, command_peer started as a Proc,
 * and its Workers. tests/helpers/node_steps.mjs is the same for the Node.js children.
 */
import { parseArgs } from "node:util";
import { Proc } from "../../support/proc.ts";
import { abstractName } from "./peers.ts";
import type { PeerLines, StartedWorker, StepsRun } from "./worker_exit_steps.mjs";

/**
 * `--case K --end terminate|throw|exit --iterations N`: the case one of `kinds` (else the first),
 * and how its Workers end.
 */
export function childArgs<K extends string>(
  kinds: readonly [K, ...K[]],
  iterations: number,
): { kind: K; end: "terminate" | "throw" | "exit"; iterations: number } {
  const { values: a } = parseArgs({
    options: {
      case: { type: "string" },
      end: { type: "string", default: "terminate" },
      iterations: { type: "string", default: String(iterations) },
    },
  });
  const kind = kinds.find((k) => k === a.case) ?? kinds[0];
  const end = a.end;
  if (end !== "terminate" && end !== "throw" && end !== "exit")
    throw new Error(`--end ${end}: terminate, throw or exit`);
  return { kind, end, iterations: Number(a.iterations) };
}

/** tests/helpers/command_peer.ts serving `path`, another process, once it is ready. */
export async function commandPeer(path: string): Promise<PeerLines> {
  const peer = new Proc([process.execPath, new URL("./command_peer.ts", import.meta.url).pathname, "--socket", path], {
    stdin: "pipe",
    name: "command_peer",
  });
  await peer.waitFor(/^ready$/);
  return {
    lines: peer.lines,
    write: (text) => peer.write(text),
    waitLine: async (from, match, what, ms) =>
      (await peer.waitLine(from, (l) => (match(l) ? l : undefined), ms, what)).value,
  };
}

/** A Bun Worker running `url`, as the steps drive it. */
export function bunWorker(url: string): StartedWorker {
  const w = new Worker(url);
  w.onerror = (e) => e.preventDefault(); // the "throw" end: expected
  const ended = new Promise((r) => w.addEventListener("close", r));
  return {
    post: (m) => w.postMessage(m),
    terminate: () => w.terminate(),
    next: () => new Promise((r) => w.addEventListener("message", (m) => r(m.data), { once: true })),
    ended,
  };
}

/**
 * A Bun child's main thread: its arguments (the case one of `kinds`), command_peer on a new
 * abstract socket, and `run` of the steps with `zmemif` and Workers of `worker`; prints "ok N" and
 * exits 0.
 */
export async function bunChild<K extends string, Z>(o: {
  kinds: readonly [K, ...K[]];
  iterations: number;
  worker: string;
  zmemif: Z;
  run(steps: StepsRun<K, Z>): Promise<void>;
}): Promise<never> {
  const { kind, end, iterations } = childArgs(o.kinds, o.iterations);
  const path = abstractName();
  const peer = await commandPeer(path);
  await o.run({ zmemif: o.zmemif, peer, path, kind, end, iterations, startWorker: () => bunWorker(o.worker) });
  console.log(`ok ${iterations}`);
  process.exit(0);
}
