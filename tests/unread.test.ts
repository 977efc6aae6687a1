/**
 * stats().unreadAtDisconnect: the packets a connection's end left on a queue's ring, in Bun (and
 * in Node, through the N-API backend, tests/helpers/node_unread.mjs). A Bun server and a Bun
 * client in this process over a real socket: the receiver attaches and never reads, the sender
 * sends 100 one-buffer packets and 5 chained ones (5000 bytes in 2048-byte buffers), then one side
 * closes its port. Once the other port reports 'disconnected' (its queues detached first): when
 * the sender left, the receiver's rx counts the 105 published and not read; when the receiver
 * left, the sender's tx counts the 105 sent and never taken.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Batch, type Port } from "../ts/index.ts";
import { buildDist } from "./helpers/dist.ts";
import { cleanupDirs, connectedPair, payload, socketPath } from "./helpers/peers.ts";

afterAll(cleanupDirs);

const SMALL = 100;
const CHAINED = 5;

function ended(port: Port): Promise<void> {
  return new Promise((resolve) => port.once("disconnected", () => resolve()));
}

for (const receiver of ["server", "client"] as const) {
  for (const leaver of ["receiver", "sender"] as const) {
    const what = leaver === "sender" ? "rx counts the 105 published and not read" : "tx counts the 105 never taken";
    test(`${receiver} receives, the ${leaver} closes its port: ${what}`, async () => {
      using pair = await connectedPair(1);
      const { server, client } = pair;
      const [rp, sp] = receiver === "server" ? [server, client] : [client, server];
      using rx = rp.rxQueue(0);
      using tx = sp.txQueue(0);
      expect(rx.rxBurst(new Batch(32))).toBe(0); // attached, nothing read
      for (let i = 0; i < SMALL; i++) await tx.send(payload(i, 60), { timeoutMs: 5000 });
      for (let i = 0; i < CHAINED; i++) await tx.send(payload(i, 5000), { timeoutMs: 5000 });
      expect(tx.stats().packets).toBe(SMALL + CHAINED);
      expect(rx.stats().unreadAtDisconnect).toBe(0); // nothing while the connection lives
      expect(tx.stats().unreadAtDisconnect).toBe(0);
      // close() closes the port's queues (their stats go with them) and reports nothing to its
      // own listeners: the side that stays hears 'disconnected', its queues detached by then.
      const [stays, leaves] = leaver === "sender" ? [rp, sp] : [sp, rp];
      const disconnected = ended(stays);
      leaves.close();
      await disconnected;
      if (leaver === "sender") {
        expect(rx.stats()).toMatchObject({ packets: 0, unreadAtDisconnect: SMALL + CHAINED });
      } else {
        expect(tx.stats()).toMatchObject({ packets: SMALL + CHAINED, unreadAtDisconnect: SMALL + CHAINED });
      }
    });
  }
}

test("nothing is counted when the receiver read everything and gave it back", async () => {
  using pair = await connectedPair(2);
  const { server, client } = pair;
  using rx = server.rxQueue(0);
  using tx = client.txQueue(0);
  for (let i = 0; i < SMALL; i++) await tx.send(payload(i, 60), { timeoutMs: 5000 });
  const b = new Batch(64);
  let got = 0;
  const deadline = Date.now() + 5000;
  while (got < SMALL) {
    expect(Date.now()).toBeLessThan(deadline);
    got += rx.rxBurst(b);
  }
  rx.release();
  await tx.writable(5000, 1024); // the server gave every slot back
  const disconnected = ended(client);
  server.close();
  await disconnected;
  expect(tx.stats()).toMatchObject({ packets: SMALL, unreadAtDisconnect: 0 });
});

beforeAll(buildDist, 120_000);

test("Node.js: the same through the N-API backend (dist/node.js)", async () => {
  const proc = Bun.spawn(["node", join(import.meta.dir, "helpers", "node_unread.mjs"), socketPath()], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), 30_000);
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  expect(err).toBe("");
  expect(code).toBe(0);
  expect(JSON.parse(out)).toEqual({
    rx: { packets: 0, unreadAtDisconnect: SMALL + CHAINED },
    tx: { packets: SMALL + CHAINED, unreadAtDisconnect: SMALL + CHAINED },
  });
}, 60_000);
