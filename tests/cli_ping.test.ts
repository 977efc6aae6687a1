/**
 * `zmemif ping`, run as a user runs it (a separate process): through a real dpdk-testpmd
 * forwarding `io` (64-byte frames, and 9000-byte frames that travel as chains) and `macswap`
 * (the MACs come back swapped), through our examples/simple_echo.ts server (ping as the client)
 * and a zmemif client that echoes (ping as the server); a peer that never answers (every probe
 * lost, exit 7); no server (exit 3, with why); bad flags (exit 2). `--queue 1` through testpmd
 * with two queue pairs, and as the server of a zmemif client that echoes on its second queue
 * only; a queue the connection does not have is a usage error (exit 2) giving the range.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Batch, MemifSocket } from "../ts/index.ts";
import { Proc } from "../support/proc.ts";
import { abstractName, cleanupDirs, socketPath } from "./helpers/peers.ts";
import { type FwdMode, type Socket, Testpmd, uniqueAbstract, uniqueSocketPath } from "../support/testpmd.ts";

const ROOT = join(import.meta.dir, "..");
const CLI = join(ROOT, "ts", "cli", "bun.ts");

async function zmemif(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

/** The summary's numbers. */
function summary(stdout: string): { sent: number; received: number; late: number; foreign: number; corrupt: number } {
  const m = /(\d+) sent, (\d+) received, [\d.]+% loss, (\d+) late, \d+ duplicate, (\d+) corrupted, (\d+) foreign/.exec(
    stdout,
  );
  if (m === null) throw new Error(`no summary in:\n${stdout}`);
  return { sent: +m[1]!, received: +m[2]!, late: +m[3]!, corrupt: +m[4]!, foreign: +m[5]! };
}

type Run = Awaited<ReturnType<typeof zmemif>>;

/**
 * A zmemif client on `where` with `queue + 1` queues each way that echoes `n` frames on queue
 * `queue` (10 s at most), connected until `ping` ends; ping's result, and the packets that came
 * on queue 0 meanwhile (queue > 0).
 */
async function echoFor(where: string, queue: number, n: number, ping: Promise<Run>) {
  using s = new MemifSocket(where);
  using port = s.port({ role: "client", reconnectMs: 50, c2sQueues: queue + 1, s2cQueues: queue + 1 });
  await port.connect({ timeoutMs: 20_000 });
  expect(port.info()).toMatchObject({ c2sQueues: queue + 1, s2cQueues: queue + 1 });
  using rx0 = queue === 0 ? null : port.rxQueue(0);
  using rx = port.rxQueue(queue);
  using tx = port.txQueue(queue);
  const batch = new Batch(64);
  const deadline = performance.now() + 10_000;
  let echoed = 0;
  while (echoed < n) {
    if (performance.now() > deadline) throw new Error(`echoed ${echoed} of ${n} frames on queue ${queue} in 10 s`);
    const k = rx.rxBurst(batch);
    for (let i = 0; i < k; i = batch.packetEnd(i), echoed++) await tx.send(batch.copyPacket(i));
    if (k > 0) rx.release();
    else await Promise.race([rx.readable(), Bun.sleep(20)]);
  }
  const r = await ping;
  return { r, onQueue0: rx0?.stats().packets ?? 0 };
}

let testpmd: Testpmd | null = null;
const procs: Proc[] = [];
afterEach(async () => {
  if (testpmd !== null) await testpmd.kill();
  testpmd = null;
  for (const p of procs.splice(0)) await p.stop();
});
afterAll(cleanupDirs);

/** dpdk-testpmd as the memif server on `socket`, forwarding in `mode` on `queues` queue pairs; returns the address ping takes. */
async function testpmdServer(name: string, socket: Socket, mode: FwdMode, queues = 1): Promise<string> {
  testpmd = await Testpmd.start({ role: "server", socket, mode, queues, extraAppArgs: ["--no-flush-rx"], name });
  return "path" in socket ? socket.path : `@${socket.abstract}`;
}

describe("zmemif ping through dpdk-testpmd", () => {
  test("io mode, filesystem socket: 20 replies of 64 bytes, then 10 of 9000 bytes (chains)", async () => {
    const where = await testpmdServer("ping-io", uniqueSocketPath("ping-io"), "io");
    const r = await zmemif(["ping", where, "--count", "20", "--interval", "5"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`PING ${where} id 0 (peer "net_memif0"): 64-byte frames`);
    expect(r.stdout.match(/^64 bytes from .*: seq=\d+ time=[\d.]+ µs$/gm)?.length).toBe(20);
    expect(summary(r.stdout)).toEqual({ sent: 20, received: 20, late: 0, foreign: 0, corrupt: 0 });
    expect(r.stdout).toMatch(/^rtt min\/p50\/p99\/max = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ µs$/m);

    // ping left while testpmd forwarded, which a 22.11 testpmd may not survive (support/testpmd.ts):
    // the second ping gets a testpmd of its own.
    await testpmd!.kill();
    const where9k = await testpmdServer("ping-io-9000", uniqueSocketPath("ping-io-9000"), "io");
    const big = await zmemif(["ping", where9k, "--count", "10", "--interval", "5", "--size", "9000"]);
    expect(big.code, big.stdout + big.stderr).toBe(0);
    expect(big.stdout.match(/^9000 bytes from /gm)?.length).toBe(10);
    expect(summary(big.stdout)).toEqual({ sent: 10, received: 10, late: 0, foreign: 0, corrupt: 0 });
  }, 60_000);

  test("--queue 1 through testpmd --rxq=2 --txq=2 (io); --queue 2 is out of range (2, with the range)", async () => {
    const socket = uniqueAbstract("ping-q1");
    const where = "abstract" in socket ? `@${socket.abstract}` : socket.path;
    // interactive: forwarding starts once ping is connected (a 22.11 server with two queue pairs
    // that forwards while a client connects may die of it: support/testpmd.ts; ping's first probe
    // waits for it), and its `stop` prints the packets of each forwarding stream (queue to queue)
    testpmd = await Testpmd.start({
      role: "server",
      socket,
      mode: "io",
      queues: 2,
      interactive: true,
      extraAppArgs: ["--no-flush-rx"],
      name: "ping-q1",
    });
    const pinging = zmemif(["ping", where, "--queue", "1", "--count", "10", "--interval", "5", "--wait", "5000"]);
    await testpmd.linkUp(10_000);
    await testpmd.command("start");
    const r = await pinging;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`PING ${where} id 0 queue 1 (peer "net_memif0"): 64-byte frames`);
    expect(summary(r.stdout)).toEqual({ sent: 10, received: 10, late: 0, foreign: 0, corrupt: 0 });
    // testpmd saw them on its queue 1 and sent them back there; its queue 0 moved nothing
    const streams = (await testpmd.command("stop")).lines.join("\n");
    expect(streams).toMatch(
      /Forward Stats for RX Port= 0\/Queue= 1 -> TX Port= 0\/Queue= 1 -+\s+RX-packets: 10\s+TX-packets: 10\s/,
    );
    expect(streams).not.toContain("Queue= 0");

    // ping left while testpmd forwarded, which a 22.11 testpmd may not survive (support/testpmd.ts):
    // the refusal comes from a testpmd of its own.
    await testpmd.kill();
    const where2 = await testpmdServer("ping-q2", uniqueAbstract("ping-q2"), "io", 2);
    const out = await zmemif(["ping", where2, "--queue", "2", "--count", "1"]);
    expect(out.code, out.stdout + out.stderr).toBe(2);
    // DPDK's HELLO offers 255 queues; it refuses a ring index past its count at ADD_RING.
    expect(out.stderr).toContain(
      `zmemif ping: --queue 2 is out of range: the memif server on ${where2} refused 3 queues each way ` +
        '("Invalid ring index"), so it has 2 or fewer and --queue takes at most 1. Give a lower --queue, or ' +
        "give the peer more queues (dpdk-testpmd: --rxq=3 --txq=3; zmemif: c2sQueues and s2cQueues 3)",
    );
    expect(out.stdout).not.toContain("PING");
  }, 60_000);

  test("macswap mode, abstract socket: replies with their MACs swapped are recognised", async () => {
    const where = await testpmdServer("ping-macswap", uniqueAbstract("ping-macswap"), "macswap");
    const r = await zmemif(["ping", where, "--count", "10", "--interval", "5"]);
    expect(r.code).toBe(0);
    expect(summary(r.stdout)).toEqual({ sent: 10, received: 10, late: 0, foreign: 0, corrupt: 0 });
  }, 60_000);
});

describe("zmemif ping with zmemif peers", () => {
  test("ping as client of examples/simple_echo.ts (server, burst API); --queue 1 past its one queue (2)", async () => {
    const where = abstractName();
    const echo = new Proc([
      process.execPath,
      join(ROOT, "examples", "simple_echo.ts"),
      "--role",
      "server",
      "--socket",
      where,
      "--id",
      "4",
    ]);
    procs.push(echo);
    await echo.waitFor(/^waiting for a memif client/);
    const r = await zmemif(["ping", where, "--id", "4", "--count", "10", "--interval", "2", "--size", "3000"]);
    expect(r.code).toBe(0);
    expect(summary(r.stdout)).toEqual({ sent: 10, received: 10, late: 0, foreign: 0, corrupt: 0 });

    // A zmemif server offers its one queue in its HELLO: the client connects with one, --queue 1 is refused.
    const q1 = await zmemif(["ping", where, "--id", "4", "--queue", "1", "--count", "1"]);
    expect(q1.code, q1.stdout + q1.stderr).toBe(2);
    expect(q1.stderr).toContain(
      `zmemif ping: --queue 1 is out of range: the memif server on ${where} offers 1 client-to-server and ` +
        "1 server-to-client queue(s), so --queue takes 0 only. Give one of those, or give the peer more queues",
    );
  }, 60_000);

  test("ping as server, a zmemif client that echoes; and a peer that never answers (exit 7)", async () => {
    const where = socketPath();
    const ping = zmemif(["ping", where, "--role", "server", "--count", "5", "--interval", "2"]);
    await Bun.sleep(300);
    {
      const { r } = await echoFor(where, 0, 5, ping);
      expect(r.stdout).toContain(`waiting for a memif client on ${where} (id 0)`);
      expect(summary(r.stdout)).toEqual({ sent: 5, received: 5, late: 0, foreign: 0, corrupt: 0 });
      expect(r.code).toBe(0);
    }

    const silent = abstractName();
    using s = new MemifSocket(silent);
    using _port = s.port({ role: "server" });
    const r = await zmemif(["ping", silent, "--count", "3", "--interval", "1", "--wait", "200"]);
    expect(r.code).toBe(7);
    expect(r.stdout.match(/^seq=\d: no reply within 200 ms$/gm)?.length).toBe(3);
    expect(summary(r.stdout)).toMatchObject({ sent: 3, received: 0 });
    expect(r.stdout).toContain("100.0% loss");
  }, 60_000);

  test("ping --role server --queue 1: a zmemif client echoes on its second queue only; one with a single queue is refused (2)", async () => {
    const where = socketPath();
    const ping = zmemif(["ping", where, "--role", "server", "--queue", "1", "--count", "5", "--interval", "2"]);
    await Bun.sleep(300);
    {
      const { r, onQueue0 } = await echoFor(where, 1, 5, ping);
      expect(r.stdout).toContain(`PING ${where} id 0 queue 1 (peer "zmemif"): 64-byte frames`);
      expect(summary(r.stdout)).toEqual({ sent: 5, received: 5, late: 0, foreign: 0, corrupt: 0 });
      expect(r.code).toBe(0);
      expect(onQueue0).toBe(0); // nothing came on queue 0
    }

    const one = socketPath();
    const refused = zmemif(["ping", one, "--role", "server", "--queue", "1", "--count", "1"]);
    await Bun.sleep(300);
    using s = new MemifSocket(one);
    using port = s.port({ role: "client", reconnectMs: 50 });
    // The server refuses once its side is connected, and may exit (removing its socket) before
    // this side has seen the connection: the refusal's message says the client connected.
    const connecting = port.connect({ timeoutMs: 20_000 }).catch(() => {});
    const r = await refused;
    port.close();
    await connecting;
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `zmemif ping: --queue 1 is out of range: the client on ${one} connected with 1 client-to-server and ` +
        "1 server-to-client queue(s), so --queue takes 0 only.",
    );
  }, 60_000);

  test("bad flags (2); no server (3, with why)", async () => {
    for (const args of [
      ["ping", "@x", "--count", "0"],
      ["ping", "@x", "--size", "10"],
      ["ping", "@x", "--size", "65536"],
      ["ping", "@x", "--role", "peer"],
      ["ping", "@x", "--queue", "255"],
      ["ping", "@x", "--queue", "-1"],
    ]) {
      const r = await zmemif(args);
      expect(r.code, args.join(" ")).toBe(2);
    }
    const r = await zmemif(["ping", abstractName(), "--timeout", "300", "--count", "1"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("nobody listens on the abstract name");
  });
});
