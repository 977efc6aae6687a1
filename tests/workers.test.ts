/** A two-queue port driven by two Workers: one queue pair per Worker. */
import { afterEach, expect, test } from "bun:test";
import { MemifSocket } from "../ts/index.ts";
import { abstractName, Peer } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

test("two Workers, one queue pair each", async () => {
  const path = abstractName();
  peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo", "--queues", "2"]);
  await peer.waitFor(/^listening/);
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "client", c2sQueues: 2, s2cQueues: 2, reconnectMs: 50 });
  const ev = await port.connect({ timeoutMs: 5000 });
  expect(ev.info.c2sQueues).toBe(2);
  const count = 500;
  const results = await Promise.all(
    [0, 1].map(
      (qid) =>
        new Promise<{ ok: number; qid: number; packets: number; error?: string }>((resolve) => {
          const w = new Worker(new URL("./helpers/queue_worker.ts", import.meta.url).href);
          w.onmessage = (m) => {
            resolve(m.data);
            w.terminate();
          };
          w.postMessage({ tx: port.shareQueue("tx", qid), rx: port.shareQueue("rx", qid), count, seed: qid * 100000 });
        }),
    ),
  );
  for (const [qid, r] of results.entries()) {
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: count, qid, packets: count });
  }
}, 30_000);
