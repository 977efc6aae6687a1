/**
 * Runs every example briefly, as a user would (two processes, `bun examples/NAME.ts`), and checks
 * what it prints, so the examples cannot rot. dpdk_co_worker runs against a real dpdk-testpmd
 * (missing testpmd = failure).
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { abstractName } from "./helpers/peers.ts";
import { Testpmd, uniqueAbstract } from "./helpers/testpmd.ts";

const EXAMPLES = join(import.meta.dir, "..", "examples");

class Run {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly output: Promise<{ out: string; err: string; code: number }>;

  constructor(name: string, args: string[], timeoutMs = 20_000) {
    this.proc = Bun.spawn([process.execPath, join(EXAMPLES, `${name}.ts`), ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    this.output = Promise.all([
      new Response(this.proc.stdout).text(),
      new Response(this.proc.stderr).text(),
      this.proc.exited,
    ]).then(([out, err, code]) => {
      clearTimeout(timer);
      return { out, err, code };
    });
  }

  /** SIGTERM (if still running), then the output. */
  async stop(): Promise<{ out: string; err: string; code: number }> {
    this.proc.kill("SIGTERM");
    return this.output;
  }
}

const running: Run[] = [];
function run(name: string, args: string[], timeoutMs?: number): Run {
  const r = new Run(name, args, timeoutMs);
  running.push(r);
  return r;
}

let testpmd: Testpmd | null = null;
afterEach(async () => {
  for (const r of running.splice(0)) r.proc.kill("SIGKILL");
  if (testpmd !== null) await testpmd.kill();
  testpmd = null;
});

function show(r: { out: string; err: string; code: number }): string {
  return `exit ${r.code}\n--- stdout\n${r.out}--- stderr\n${r.err}`;
}

test("every example documents itself with --help and rejects a bad argument with what to do", async () => {
  for (const [name, bad] of [
    ["simple_echo", ["--role", "both"]],
    ["bw_test", ["--role", "sender", "--queues", "0"]],
    ["dpdk_co_worker", ["--role", "receiver", "--size", "12"]],
  ] as const) {
    const help = await run(name, ["--help"]).output;
    expect(help.code, show(help)).toBe(0);
    expect(help.out).toContain(`usage: bun examples/${name}.ts`);
    expect(help.out).toContain("--role");
    const wrong = await run(name, [...bad]).output;
    expect(wrong.code, show(wrong)).toBe(2);
    expect(wrong.err).toMatch(/must be/);
    expect(wrong.err).toContain(`bun examples/${name}.ts --help`);
  }
}, 30_000);

test("simple_echo: the client prints round-trip times, the server echoed every packet", async () => {
  const socket = abstractName();
  const server = run("simple_echo", ["--role", "server", "--socket", socket]);
  const client = await run("simple_echo", ["--role", "client", "--socket", socket, "--count", "300", "--size", "100"]).output;
  expect(client.code, show(client)).toBe(0);
  expect(client.out).toMatch(/^connected to simple_echo-server$/m);
  const m = /rtt over 300 packets of 100 bytes: min ([\d.]+) µs, p50 ([\d.]+) µs, p99 ([\d.]+) µs, max ([\d.]+) µs; lost 0/.exec(client.out);
  expect(m, show(client)).not.toBeNull();
  const [min, p50, p99, max] = m!.slice(1).map(Number) as [number, number, number, number];
  expect(min).toBeGreaterThan(0);
  expect(min <= p50 && p50 <= p99 && p99 <= max).toBe(true);
  const s = await server.stop();
  expect(s.out, show(s)).toMatch(/^listening on /m);
  expect(s.out).toMatch(/^echoed 300 packets$/m);
}, 30_000);

test("bw_test: 2 ports x 2 queues, both ends print Mpps every second", async () => {
  const socket = abstractName();
  const common = ["--socket", socket, "--ports", "2", "--queues", "2"];
  const receiver = run("bw_test", ["--role", "receiver", ...common, "--seconds", "3.5"]);
  const sender = await run("bw_test", ["--role", "sender", ...common, "--seconds", "2.5"]).output;
  const r = await receiver.output;
  expect(sender.code, show(sender)).toBe(0);
  expect(r.code, show(r)).toBe(0);
  const rates = (out: string, dir: string) =>
    [...out.matchAll(new RegExp(`^\\[\\d+s\\] ${dir} ([\\d.]+) Mpps [\\d.]+ Gbit/s \\(2 port\\(s\\) x 2 queue\\(s\\)\\)$`, "gm"))].map((x) => Number(x[1]));
  const tx = rates(sender.out, "tx");
  const rx = rates(r.out, "rx");
  expect(tx.length, show(sender)).toBeGreaterThanOrEqual(2);
  expect(rx.length, show(r)).toBeGreaterThanOrEqual(2);
  expect(Math.max(...tx)).toBeGreaterThan(0.1);
  expect(Math.max(...rx)).toBeGreaterThan(0.1);
  const sent = Number(/^total: sent (\d+) packets/m.exec(sender.out)?.[1]);
  const received = Number(/^total: received (\d+) packets/m.exec(r.out)?.[1]);
  expect(sent).toBeGreaterThan(100_000);
  // At most what was in flight in the rings (4 x 1024) when the sender disconnected is missing.
  expect(received).toBeLessThanOrEqual(sent);
  expect(received).toBeGreaterThanOrEqual(sent - 4 * 1024);
}, 30_000);

test("dpdk_co_worker: sender -> testpmd (io, id 0 -> id 1) -> receiver, sequence checked", async () => {
  const socket = uniqueAbstract("coworker");
  if (!("abstract" in socket)) throw new Error("unreachable");
  testpmd = await Testpmd.start({
    role: "server",
    socket,
    mode: "io",
    cpu: 0,
    extraEalArgs: [`--vdev=net_memif1,role=server,id=1,socket=${socket.abstract},socket-abstract=yes`],
    extraAppArgs: ["--no-flush-rx"],
    name: "coworker",
  });
  const at = `@${socket.abstract}`;
  const COUNT = 20_000;
  const receiver = run("dpdk_co_worker", ["--role", "receiver", "--socket", at, "--idle-exit-ms", "1500"]);
  await testpmd.waitForLog(/memif_connect\(\): Connected\./, 10_000); // the receiver is up
  const sender = await run("dpdk_co_worker", ["--role", "sender", "--socket", at, "--count", String(COUNT), "--pps", "50000"]).output;
  const r = await receiver.output;
  expect(sender.code, show(sender)).toBe(0);
  expect(sender.out).toMatch(/^connected to net_memif0$/m);
  expect(sender.out).toContain(`sent ${COUNT} packets of 64 bytes`);
  expect(r.code, show(r)).toBe(0);
  expect(r.out).toMatch(/^\[\d+s\] rx [\d.]+ Mpps \(received \d+, lost \d+\)$/m);
  const m = /^received (\d+) packets, lost (\d+), out of order (\d+), bad (\d+)$/m.exec(r.out);
  expect(m, show(r)).not.toBeNull();
  const [received, lost, reordered, bad] = m!.slice(1).map(Number) as [number, number, number, number];
  expect(bad).toBe(0);
  expect(reordered).toBe(0);
  // testpmd io drops what the receiver's ring cannot take at once; at 50 kpps that is rare.
  expect(received + lost).toBeLessThanOrEqual(COUNT);
  expect(received).toBeGreaterThanOrEqual(COUNT * 0.9);
}, 40_000);

test("readme_echo: the README's 30-line example runs", async () => {
  const socket = abstractName();
  const server = run("readme_echo", ["server", socket]);
  const client = await run("readme_echo", ["client", socket]).output;
  expect(client.code, show(client)).toBe(0);
  const lines = client.out.trim().split("\n");
  expect(lines.length, show(client)).toBe(5);
  lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^ping ${i} came back in \\d+ µs$`)));
  await server.stop();
}, 30_000);
