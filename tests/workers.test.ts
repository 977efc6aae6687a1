/** Queues driven by Bun Workers: one queue pair per Worker, woken on the Worker's own loop. */
import { afterEach, expect, test } from "bun:test";
import { MemifSocket } from "../ts/index.ts";
import { abstractName, Peer } from "./helpers/peers.ts";
import type { WorkerJob } from "./helpers/queue_worker.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

const WORKER = new URL("./helpers/queue_worker.ts", import.meta.url).href;

type Reply = Record<string, unknown>;

function runWorker(job: WorkerJob, onMessage: (data: Reply, w: Worker) => boolean): Promise<Reply> {
  return new Promise((resolve) => {
    const w = new Worker(WORKER);
    w.onmessage = (m) => {
      if (onMessage(m.data, w)) {
        resolve(m.data);
        w.terminate();
      }
    };
    w.postMessage(job);
  });
}

async function echoPeer(queues: number) {
  const path = abstractName();
  peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo", "--queues", String(queues)]);
  await peer.waitFor(/^listening/);
  const socket = new MemifSocket(path);
  const port = socket.port({ role: "client", c2sQueues: queues, s2cQueues: queues, reconnectMs: 50 });
  const ev = await port.connect({ timeoutMs: 5000 });
  return { socket, port, ev };
}

test("two Workers, one queue pair each, payloads checked", async () => {
  const { socket, port, ev } = await echoPeer(2);
  using _s = socket;
  expect(ev.info.c2sQueues).toBe(2);
  const count = 500;
  const results = await Promise.all(
    [0, 1].map((qid) =>
      runWorker(
        {
          kind: "echo",
          tx: port.shareQueue("tx", qid),
          rx: port.shareQueue("rx", qid),
          count,
          window: 32,
          seed: qid * 100000,
        },
        () => true,
      ),
    ),
  );
  for (const [qid, r] of results.entries()) {
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: count, qid, packets: count });
  }
}, 30_000);

// An idle queue in a Worker is woken by the Worker's own callback (zmemif_queue_arm_cb), not by
// its 100 ms re-check.
test("an idle Worker queue wakes on its own callback within milliseconds", async () => {
  const { socket, port } = await echoPeer(1);
  using _s = socket;
  using tx = port.txQueue(0);
  const count = 10;
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  const result = runWorker({ kind: "wake", rx: port.shareQueue("rx", 0), count }, (data) => {
    if (data.ready === true) {
      ready();
      return false;
    }
    return true;
  });
  await isReady;
  for (let i = 0; i < count; i++) {
    await Bun.sleep(60); // idle: the Worker is armed, not polling
    const p = new Uint8Array(64);
    new DataView(p.buffer).setFloat64(8, performance.timeOrigin + performance.now(), true);
    await tx.send(p, { timeoutMs: 5000 });
  }
  const r = await result;
  expect(r.error).toBeUndefined();
  const delays = (r.delays as number[]).sort((a, b) => a - b);
  expect(delays.length).toBe(count);
  // send → echo by the peer process → Worker wake: measured p50 ≈ 0.5 ms with the fix.
  expect(delays[Math.floor(count / 2)]!).toBeLessThan(10);
}, 20_000);
