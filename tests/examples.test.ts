/**
 * Runs every example briefly, as a user would (two processes, `bun examples/NAME.ts`), and checks
 * what it prints, so the examples cannot rot. dpdk_co_worker runs against a real dpdk-testpmd
 * (missing testpmd = failure).
 */
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { alive, between, chaosClient, chaosSocket, example, kill9, rustPeer } from "./helpers/chaos.ts";
import { abstractName } from "./helpers/peers.ts";
import { Proc } from "../support/proc.ts";
import { Testpmd, uniqueAbstract } from "../support/testpmd.ts";

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

/** Modules the examples import, not programs. */
const MODULES = ["cli.ts", "dpdk_recipe.ts"];
const ALL = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".ts") && !MODULES.includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

test("every example answers --help with its usage on stdout, and exits 0", async () => {
  expect(ALL).toEqual(["bw_test", "dpdk_co_worker", "readme_echo", "simple_echo", "udp_client", "udp_echo"]);
  for (const name of ALL) {
    const help = await run(name, ["--help"]).output;
    expect(help.code, `${name}: ${show(help)}`).toBe(0);
    expect(help.out, name).toStartWith(`usage: bun examples/${name}.ts`);
    expect(help.err, name).toBe("");
  }
}, 60_000);

test("every example rejects a bad argument with what to do", async () => {
  for (const [name, bad] of [
    ["simple_echo", ["--role", "both"]],
    ["bw_test", ["--role", "sender", "--queues", "0"]],
    ["dpdk_co_worker", ["--role", "receiver", "--size", "12"]],
    ["udp_echo", ["--mode", "tap"]],
    ["udp_client", ["--count", "0"]],
  ] as const) {
    const wrong = await run(name, [...bad]).output;
    expect(wrong.code, show(wrong)).toBe(2);
    expect(wrong.err).toMatch(/must be/);
    expect(wrong.err).toContain(`bun examples/${name}.ts --help`);
  }
}, 30_000);

test.each(["burst", "send"])(
  "simple_echo: the client prints round-trip times, the server (--api %s) echoed every packet",
  async (api) => {
    const socket = abstractName();
    const server = run("simple_echo", ["--role", "server", "--socket", socket, "--api", api]);
    const client = await run("simple_echo", ["--role", "client", "--socket", socket, "--count", "300", "--size", "100"])
      .output;
    expect(client.code, show(client)).toBe(0);
    expect(client.out).toMatch(/^connected to simple_echo-server$/m);
    const m =
      /rtt over 300 packets of 100 bytes: min ([\d.]+) µs, p50 ([\d.]+) µs, p99 ([\d.]+) µs, max ([\d.]+) µs; lost 0/.exec(
        client.out,
      );
    expect(m, show(client)).not.toBeNull();
    const [min, p50, p99, max] = m!.slice(1).map(Number) as [number, number, number, number];
    expect(min).toBeGreaterThan(0);
    expect(min <= p50 && p50 <= p99 && p99 <= max).toBe(true);
    const s = await server.stop();
    expect(s.out, show(s)).toMatch(/^waiting for a memif client on /m);
    expect(s.out).toMatch(/^echoed 300 packets$/m);
  },
  30_000,
);

test("bw_test: 2 ports x 2 queues, both ends print Mpps every second", async () => {
  const socket = abstractName();
  const common = ["--socket", socket, "--ports", "2", "--queues", "2"];
  const receiver = run("bw_test", ["--role", "receiver", ...common, "--seconds", "3.5"]);
  const sender = await run("bw_test", ["--role", "sender", ...common, "--seconds", "2.5"]).output;
  const r = await receiver.output;
  expect(sender.code, show(sender)).toBe(0);
  expect(r.code, show(r)).toBe(0);
  const rates = (out: string, dir: string) =>
    [
      ...out.matchAll(
        new RegExp(`^\\[\\d+s\\] ${dir} ([\\d.]+) Mpps [\\d.]+ Gbit/s \\(2 port\\(s\\) x 2 queue\\(s\\)\\)$`, "gm"),
      ),
    ].map((x) => Number(x[1]));
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
  const sender = await run("dpdk_co_worker", [
    "--role",
    "sender",
    "--socket",
    at,
    "--count",
    String(COUNT),
    "--pps",
    "50000",
  ]).output;
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

test("readme_echo: the README's example is examples/readme_echo.ts, and it runs", async () => {
  const readme = readFileSync(join(EXAMPLES, "..", "README.md"), "utf8");
  const file = readFileSync(join(EXAMPLES, "readme_echo.ts"), "utf8");
  expect(readme).toContain("```ts\n" + file + "```\n");
  const socket = abstractName();
  const server = run("readme_echo", ["server", socket]);
  const client = await run("readme_echo", ["client", socket]).output;
  expect(client.code, show(client)).toBe(0);
  const lines = client.out.trim().split("\n").slice(1); // after "waiting for a memif server ..."
  expect(lines.length, show(client)).toBe(5);
  for (const [i, l] of lines.entries()) expect(l).toMatch(new RegExp(`^ping ${i} came back in \\d+ µs$`));
  await server.stop();
}, 30_000);

// ---- what every example says while it waits, and how it survives its peer ----

const followed: Proc[] = [];
function follow(p: Proc): Proc {
  followed.push(p);
  return p;
}
afterEach(async () => {
  for (const p of followed.splice(0)) await kill9(p);
});

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("every example says what it waits for and how to change it", async () => {
  const sock = chaosSocket("wait");
  const cases: [string, string[], RegExp][] = [
    [
      "simple_echo",
      ["--role", "server", "--socket", sock],
      /waiting for a memif client on S \(id 0\); --socket and --id to change/,
    ],
    [
      "simple_echo",
      ["--role", "client", "--socket", sock, "--id", "3"],
      /waiting for a memif server on S \(id 3\); --socket and --id to change/,
    ],
    [
      "bw_test",
      ["--role", "receiver", "--socket", sock, "--ports", "2"],
      /waiting for a memif client on S \(ids 0\.\.1\); --socket and --id to change/,
    ],
    [
      "bw_test",
      ["--role", "sender", "--socket", sock],
      /waiting for a memif server on S \(id 0\); --socket and --id to change/,
    ],
    [
      "dpdk_co_worker",
      ["--role", "receiver", "--socket", sock],
      /waiting for the DPDK memif server on S \(id 1\); --socket and --id to change/,
    ],
    [
      "readme_echo",
      ["server", sock],
      /waiting for a memif client on S \(id 0\); give another socket as the second argument/,
    ],
    [
      "readme_echo",
      ["client", sock],
      /waiting for a memif server on S \(id 0\); give another socket as the second argument/,
    ],
    [
      "udp_client",
      ["--socket", sock],
      /waiting for a memif server \(the forwarder, or udp_echo --role server\) on S \(id 0\); --socket and --id to change/,
    ],
    // with its defaults, as the issue tried it
    [
      "udp_echo",
      [],
      /waiting for a memif server \(the forwarder\) on \/run\/memif\.sock \(id 0\); --socket and --id to change/,
    ],
  ];
  for (const [name, args, re] of cases) {
    const p = follow(example(name, args));
    await p.waitFor(new RegExp(re.source.replace("S", escapeRe(sock))), 10_000);
    await kill9(p);
  }
}, 60_000);

/** Starts chaos clients against `socket` and SIGKILLs each 10-90 ms into its echoed traffic. */
async function killClients(socket: string, times: number): Promise<void> {
  for (let k = 0; k < times; k++) {
    const c = follow(chaosClient(socket, ["--flowing", "20"]));
    await c.waitFor(/^flowing 1$/, 10_000);
    await Bun.sleep(between(10, 90));
    await kill9(c);
  }
}

test.each(["burst", "send"])(
  "simple_echo server (--api %s) serves the next client after clients SIGKILLed mid-burst",
  async (api) => {
    const sock = chaosSocket("echo");
    const server = follow(example("simple_echo", ["--role", "server", "--socket", sock, "--api", api]));
    await server.waitFor(/^waiting for a memif client/);
    await killClients(sock, 3);
    const honest = await run("simple_echo", ["--role", "client", "--socket", sock, "--count", "200", "--size", "9000"])
      .output;
    expect(honest.code, show(honest)).toBe(0);
    expect(honest.out).toMatch(/rtt over 200 packets of 9000 bytes: .*; lost 0$/m);
    expect(alive(server.proc.pid), server.stderr).toBe(true);
    expect(
      server.lines.filter((l) => /^disconnected: .*; waiting for the next client$/.test(l)).length,
    ).toBeGreaterThanOrEqual(3);
  },
  60_000,
);

test("simple_echo client waits for its server to come back after a SIGKILL, and finishes", async () => {
  const sock = chaosSocket("echoc");
  let server = follow(example("simple_echo", ["--role", "server", "--socket", sock]));
  await server.waitFor(/^waiting for a memif client/);
  const client = follow(
    example("simple_echo", [
      "--role",
      "client",
      "--socket",
      sock,
      "--count",
      "3000",
      "--size",
      "9000",
      "--timeout-ms",
      "300",
    ]),
  );
  await server.waitFor(/^connected to simple_echo-client$/);
  await Bun.sleep(between(50, 150));
  await kill9(server);
  await client.waitFor(/^disconnected: .*; waiting for the next server$/);
  server = follow(example("simple_echo", ["--role", "server", "--socket", sock]));
  await client.waitFor(/^connected to simple_echo-server$/);
  const summary = await client.waitFor(/^rtt over \d+ packets of 9000 bytes/, 30_000);
  const m = /^rtt over (\d+) packets .*; lost (\d+)$/.exec(summary)!;
  expect(Number(m[1]) + Number(m[2])).toBe(3000);
  expect(Number(m[2])).toBeLessThanOrEqual(3); // the packet in flight at the kill, perhaps the one after
}, 60_000);

test("readme_echo server serves the next client after clients SIGKILLed mid-burst", async () => {
  const sock = chaosSocket("readme");
  const server = follow(example("readme_echo", ["server", sock]));
  await server.waitFor(/^waiting for a memif client/);
  await killClients(sock, 3);
  const client = await run("readme_echo", ["client", sock]).output;
  expect(client.code, show(client)).toBe(0);
  expect(client.out).toMatch(/^ping 4 came back in \d+ µs$/m);
  expect(alive(server.proc.pid), server.stderr).toBe(true);
}, 60_000);

test("bw_test: the receiver counts the next sender after one was SIGKILLed, and the sender the next receiver", async () => {
  const sock = chaosSocket("bw");
  const receiver = follow(example("bw_test", ["--role", "receiver", "--socket", sock]));
  await receiver.waitFor(/waiting for a memif client/);
  const sender1 = follow(example("bw_test", ["--role", "sender", "--socket", sock]));
  await sender1.waitFor(/^\[\d+s\] tx (?!0\.000 )[\d.]+ Mpps/); // traffic flows
  await kill9(sender1);
  await receiver.waitFor(/^port 0 disconnected: .*; waiting for the next client$/);
  const sender2 = follow(example("bw_test", ["--role", "sender", "--socket", sock]));
  await receiver.waitFor(/^port 0 connected to bw_test-sender again$/);
  await kill9(receiver);
  await sender2.waitFor(/^port 0 disconnected: .*; waiting for the next server$/);
  const receiver2 = follow(example("bw_test", ["--role", "receiver", "--socket", sock, "--seconds", "2"]));
  await sender2.waitFor(/^port 0 connected to bw_test-receiver again$/);
  const r = await receiver2.finished;
  expect(r, receiver2.stderr).toBe(0);
  const total = receiver2.lines.find((l) => l.startsWith("total: received"));
  expect(Number(/received (\d+)/.exec(total ?? "")?.[1]), receiver2.lines.join("\n")).toBeGreaterThan(10_000);
  expect(alive(sender2.proc.pid)).toBe(true);
}, 60_000);

test("dpdk_co_worker reconnects to its server after the server was SIGKILLed", async () => {
  const sock = chaosSocket("cow");
  const peer = () =>
    follow(rustPeer(["--socket", sock, "--role", "server", "--id", "1", "--action", "idle", "--interval-ms", "0"]));
  let server = peer();
  const receiver = follow(example("dpdk_co_worker", ["--role", "receiver", "--socket", sock]));
  await receiver.waitFor(/^connected to /);
  await kill9(server);
  await receiver.waitFor(/^disconnected: .*; reconnecting$/);
  server = peer();
  await receiver.waitFor(/^connected to .* again$/);
  expect(alive(receiver.proc.pid)).toBe(true);
}, 30_000);

test("udp_client <-> udp_echo: echoes checked; udp_echo serves the next client after a SIGKILL, udp_client waits out an echo restart", async () => {
  const sock = chaosSocket("udp");
  const echoArgs = ["--role", "server", "--socket", sock, "--host", "192.0.2.1", "--ports", "5000"];
  let echo = follow(example("udp_echo", echoArgs));
  await echo.waitFor(/^waiting for a memif client/);
  const first = await run("udp_client", ["--socket", sock, "--count", "100", "--size", "3000"]).output;
  expect(first.code, show(first)).toBe(0);
  expect(first.out).toMatch(/^sent 100 datagrams of 3000 bytes, 100 echoed unchanged, 0 changed, 0 lost; rtt min /m);
  // a client killed while its datagrams fly
  const doomed = follow(example("udp_client", ["--socket", sock, "--count", "100000", "--size", "9000"]));
  await doomed.waitFor(/^connected to udp_echo;/);
  await Bun.sleep(between(30, 90));
  await kill9(doomed);
  const second = await run("udp_client", ["--socket", sock, "--count", "100"]).output;
  expect(second.code, show(second)).toBe(0);
  expect(second.out).toMatch(/100 echoed unchanged, 0 changed, 0 lost/);
  // the echo killed under a client, and started again
  const client = follow(
    example("udp_client", ["--socket", sock, "--count", "400", "--interval-ms", "5", "--timeout-ms", "200"]),
  );
  await client.waitFor(/^connected to udp_echo;/);
  await Bun.sleep(300);
  await kill9(echo);
  await client.waitFor(/^disconnected: .*; waiting for the peer to come back$/);
  echo = follow(example("udp_echo", echoArgs));
  await client.waitFor(/^connected to udp_echo again$/);
  const summary = await client.waitFor(/^sent 400 datagrams/, 30_000);
  const m = /(\d+) echoed unchanged, 0 changed, (\d+) lost/.exec(summary);
  expect(m, summary).not.toBeNull();
  expect(Number(m![1]) + Number(m![2])).toBe(400);
  expect(Number(m![1])).toBeGreaterThan(300);
}, 60_000);

test("udp_client --help: the two commands it shows are in docs/udp-migration.md and work as written", async () => {
  const help = await run("udp_client", ["--help"]).output;
  const commands = help.out
    .split("\n")
    .filter((l) => l.startsWith("  bun examples/"))
    .map((l) => l.trim());
  expect(commands.length, help.out).toBe(2);
  const guide = readFileSync(join(EXAMPLES, "..", "docs", "udp-migration.md"), "utf8");
  for (const c of commands) expect(guide).toContain(`\n${c}\n`);
  // as written, but on a socket of our own (the documented name may be in use on this machine)
  const sock = chaosSocket("udpdoc");
  const argv = (c: string) => c.replace("@zmemif-udp", sock).split(" ").slice(1);
  const [echoArgs, clientArgs] = commands.map(argv) as [string[], string[]];
  expect(echoArgs[0]).toBe("examples/udp_echo.ts");
  expect(clientArgs[0]).toBe("examples/udp_client.ts");
  const echo = follow(example("udp_echo", echoArgs.slice(1)));
  await echo.waitFor(/^waiting for a memif client/);
  const client = await run("udp_client", clientArgs.slice(1)).output;
  expect(client.code, show(client)).toBe(0);
  expect(client.out).toMatch(/^sent 10 datagrams of 64 bytes, 10 echoed unchanged, 0 changed, 0 lost; rtt min /m);
}, 30_000);

/** Rejects when `server` exits (it should outlive its clients). */
function diedFirst(server: Proc): Promise<never> {
  return server.finished.then((code) => {
    throw new Error(`the server exited (${code}) first:\n${server.lines.slice(-5).join("\n")}\n${server.stderr}`);
  });
}

test.each(["burst", "send"])(
  "simple_echo server (--api %s) drops a chain that never ends, counts it, and serves the next client",
  async (api) => {
    const sock = chaosSocket("endless");
    const server = follow(example("simple_echo", ["--role", "server", "--socket", sock, "--api", api]));
    await server.waitFor(/^waiting for a memif client/);
    const hostile = follow(
      new Proc([process.execPath, join(import.meta.dir, "helpers", "endless_chain.ts"), "--socket", sock]),
    );
    await hostile.waitFor(/^chained 1024$/);
    await hostile.waitFor(/^given back 1024$/); // the server dropped it
    await kill9(hostile);
    const honest = follow(chaosClient(sock, ["--count", "1000"]));
    expect(await Promise.race([honest.finished, diedFirst(server)]), honest.stderr).toBe(0);
    expect(honest.json().at(-1)).toMatchObject({ echoed: 1000, lost: 0, bad: 0 });
    await server.stop();
    expect(server.lines.at(-1), server.stderr).toMatch(/^echoed \d+ packets.*; 1024 bad descriptor\(s\) dropped$/);
  },
  30_000,
);

test.each(["burst", "send"])(
  "simple_echo server (--api %s) echoes a client with 128-byte buffers: 9000 and 65535 bytes (71 and 512 segments)",
  async (api) => {
    const sock = chaosSocket("small");
    const server = follow(example("simple_echo", ["--role", "server", "--socket", sock, "--api", api]));
    await server.waitFor(/^waiting for a memif client/);
    const client = follow(
      chaosClient(sock, ["--count", "600", "--buffer-size", "128", "--sizes", "64,9000,65535", "--window", "8"]),
    );
    expect(await Promise.race([client.finished, diedFirst(server)]), client.stderr).toBe(0);
    expect(client.json().at(-1)).toMatchObject({ echoed: 600, lost: 0, bad: 0 });
    expect(alive(server.proc.pid)).toBe(true);
  },
  60_000,
);
