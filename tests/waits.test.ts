/**
 * Waits say what they wait for, and mismatched queue counts connect (issue 14, "the first hour"):
 * - a client's TIMEOUT carries the last reason it could not connect (missing directory, no
 *   server yet, a stale socket file, an abstract name nobody serves);
 * - a server whose clients were refused times out naming them ("1 client refused: Incorrect secret");
 * - a client asking for more queues than the server has gets the server's counts; `bw_test.ts
 *   --queues` with different counts on the two sides works, or fails at once naming both counts.
 * The permission-denied reason is tested in Rust (two_process.rs), where a peer runs as nobody.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { Batch, MemifError, MemifSocket } from "../ts/index.ts";
import { abstractName, cleanupDirs, socketPath } from "./helpers/peers.ts";
import { Proc } from "../support/proc.ts";

const procs: Proc[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
  cleanupDirs();
});

async function clientTimeout(path: string): Promise<MemifError> {
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "client", reconnectMs: 100 });
  const err = await port.connect({ timeoutMs: 500 }).then(
    () => new Error("connected"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MemifError);
  expect((err as MemifError).code).toBe("TIMEOUT");
  return err as MemifError;
}

test("a client's TIMEOUT names why it could not connect", async () => {
  expect((await clientTimeout("/nonexistent-zmemif/dir/x.sock")).message).toContain(
    "no server at /nonexistent-zmemif/dir/x.sock: no such directory /nonexistent-zmemif/dir",
  );
  const path = socketPath();
  expect((await clientTimeout(path)).message).toContain("no such file: no server has created the socket yet");
  expect((await clientTimeout(abstractName())).message).toContain(
    "connection refused: no server listens on this abstract name",
  );
}, 10_000);

test("a client's TIMEOUT names a stale socket file as connection refused", async () => {
  const path = socketPath();
  // Bind and exit without unlinking, as a server killed with SIGKILL does: the file stays.
  const bind = Bun.spawnSync([
    "python3",
    "-c",
    "import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(sys.argv[1])",
    path,
  ]);
  expect(bind.exitCode, bind.stderr.toString()).toBe(0);
  expect((await clientTimeout(path)).message).toContain(
    "connection refused: the socket file exists but no server listens on it",
  );
}, 10_000);

test("a server's TIMEOUT names the clients it refused and why", async () => {
  const path = abstractName();
  using server = new MemifSocket(path);
  using port = server.port({ role: "server", secret: "right" });
  // The server's wait counts the refusals made while it waits: it begins before the client
  // exists (a client port tries at once, and was refused before the wait began, 1 run in 4).
  const waited = port.connect({ timeoutMs: 3000 }).catch((e: unknown) => e);
  using other = new MemifSocket(path);
  using client = other.port({ role: "client", secret: "wrong", reconnectMs: 60_000 });
  const refused = await client.connect({ timeoutMs: 5000 }).catch((e: unknown) => e);
  expect((refused as MemifError).code).toBe("PEER_REJECTED");
  const err = await waited;
  expect(err).toBeInstanceOf(MemifError);
  expect((err as MemifError).code).toBe("TIMEOUT");
  expect((err as MemifError).message).toContain("1 client refused: Incorrect secret");
}, 10_000);

test("a client asking for more queues gets the server's counts; the extra queue says both counts", async () => {
  const path = abstractName();
  using server = new MemifSocket(path);
  using sp = server.port({ role: "server", c2sQueues: 1, s2cQueues: 2 });
  using other = new MemifSocket(path);
  using cp = other.port({ role: "client", c2sQueues: 3, s2cQueues: 4 });
  const [a, b] = await Promise.all([cp.connect({ timeoutMs: 5000 }), sp.connect({ timeoutMs: 5000 })]);
  expect([a.info.c2sQueues, a.info.s2cQueues]).toEqual([1, 2]);
  expect([b.info.c2sQueues, b.info.s2cQueues]).toEqual([1, 2]);
  using tx0 = cp.txQueue(0);
  expect(await tx0.send(new Uint8Array(60))).toBeUndefined();
  using tx2 = cp.txQueue(2);
  let err: unknown;
  try {
    tx2.alloc(new Batch(4));
  } catch (e) {
    err = e;
  }
  expect((err as MemifError).code).toBe("QUEUE_RANGE");
  expect((err as MemifError).message).toContain("this port has 3 client-to-server queue(s), the connection 1");
}, 10_000);

function bwTest(args: string[]): Proc {
  const p = new Proc([process.execPath, join(import.meta.dir, "..", "examples", "bw_test.ts"), ...args]);
  procs.push(p);
  return p;
}

for (const [rq, sq] of [
  [1, 2],
  [2, 1],
] as const) {
  test(`bw_test: receiver --queues ${rq}, sender --queues ${sq}: works, or fails at once naming both counts`, async () => {
    const socket = abstractName();
    const t0 = performance.now();
    const receiver = bwTest(["--role", "receiver", "--socket", socket, "--queues", String(rq), "--seconds", "2"]);
    await receiver.waitFor(/waiting for a memif client/);
    const sender = bwTest(["--role", "sender", "--socket", socket, "--queues", String(sq), "--seconds", "1.5"]);
    const [rc, sc] = await Promise.all([receiver.finished, sender.finished]);
    const elapsed = performance.now() - t0;
    const out =
      `receiver ${rc}:\n${receiver.lines.join("\n")}\n${receiver.stderr}\n` +
      `sender ${sc}:\n${sender.lines.join("\n")}\n${sender.stderr}`;
    // Both connected: the counts were reconciled in the handshake, not by a timeout.
    expect(
      receiver.lines.some((l) => l.startsWith("connected to ")),
      out,
    ).toBe(true);
    expect(
      sender.lines.some((l) => l.startsWith("connected to ")),
      out,
    ).toBe(true);
    expect(elapsed, out).toBeLessThan(15_000);
    for (const [p, code, q] of [
      [receiver, rc, rq],
      [sender, sc, sq],
    ] as const) {
      if (code === 0) continue;
      // Failed: at once, and saying both counts (its own, and the connection's).
      expect(p.stderr, out).toContain(`this port has ${q} `);
      expect(p.stderr, out).toContain(`the connection ${Math.min(rq, sq)} `);
    }
    if (rc === 0 && sc === 0)
      expect(Number(/^total: received (\d+)/m.exec(receiver.lines.join("\n"))?.[1]), out).toBeGreaterThan(0);
  }, 30_000);
}
