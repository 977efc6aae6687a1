/**
 * `zmemif info`, run as a user runs it (a separate process): against a real dpdk-testpmd server
 * (filesystem and abstract sockets, an id it has and one it has not) and against our own server,
 * which must still take a real client afterwards; and every bad input with its own exit code and
 * message: no socket, a file that is not a socket, nobody listening, permission denied, a stream
 * socket, a SOCK_SEQPACKET server that says something else or nothing, bad flags.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { MemifSocket } from "../ts/index.ts";
import { abstractName, cleanupDirs, socketPath } from "./helpers/peers.ts";
import { Proc } from "../support/proc.ts";
import { Testpmd, uniqueAbstract, uniqueSocketPath } from "../support/testpmd.ts";

const CLI = join(import.meta.dir, "..", "ts", "cli", "bun.ts");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `zmemif ARGS` (optionally through a prefix such as setpriv) and collects its output. */
async function zmemif(args: string[], prefix: string[] = []): Promise<Run> {
  const p = Bun.spawn([...prefix, process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

let testpmd: Testpmd | null = null;
const servers: Server[] = [];
const procs: Proc[] = [];
afterEach(async () => {
  if (testpmd !== null) await testpmd.kill();
  testpmd = null;
  for (const s of servers.splice(0)) s.close();
  for (const p of procs.splice(0)) await p.stop();
});
afterAll(cleanupDirs);

describe("zmemif info against dpdk-testpmd", () => {
  for (const kind of ["filesystem", "abstract"] as const) {
    test(`${kind} socket: HELLO fields, an id it has, an id it has not, a clean goodbye`, async () => {
      const socket = kind === "filesystem" ? uniqueSocketPath("info-fs") : uniqueAbstract("info-abs");
      testpmd = await Testpmd.start({ role: "server", socket, mode: "io", name: `info-${kind}` });
      const where = "path" in socket ? socket.path : `@${socket.abstract}`;

      const json = await zmemif(["info", where, "--json"]);
      expect(json.stderr).toBe("");
      expect(json.code).toBe(0);
      const h = JSON.parse(json.stdout);
      expect(h.name).toMatch(/^DPDK 22\.11/);
      expect(h).toMatchObject({
        socket: where,
        minVersion: "2.0",
        maxVersion: "2.0",
        compatible: true,
        maxRegion: 255,
        maxC2sRing: 255,
        maxS2cRing: 255,
        maxLog2RingSize: 14,
      });
      expect(h.id).toBeUndefined();

      const text = await zmemif(["info", where, "--id", "0"]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`socket        ${where}\n`);
      expect(text.stdout).toContain("protocol      2.0 (zmemif speaks 2.0: compatible)");
      expect(text.stdout).toContain("max ring size 2^14 = 16384 slots");
      expect(text.stdout).toContain("id 0          accepts a client");
      // testpmd got our DISCONNECT with its reason (not a bare hang-up).
      await testpmd.waitForLog("Disconnect received: zmemif info: probe only, disconnecting", 5000);

      const refused = await zmemif(["info", where, "--id", "9", "--json"]);
      expect(refused.code).toBe(6);
      expect(JSON.parse(refused.stdout).id).toEqual({ id: 9, accepted: false, reason: "ID not found" });

      // The interface still takes a real client afterwards.
      using s = new MemifSocket(where);
      using port = s.port({ id: 0, role: "client", reconnectMs: 100 });
      const ev = await port.connect({ timeoutMs: 10_000 });
      expect(ev.peerName).toBe("net_memif0");
      await testpmd.linkUp(5000);
    }, 40_000);
  }
});

describe("zmemif info against a zmemif server", () => {
  test("HELLO fields, the id answer, and a real client still connects after the probe", async () => {
    const where = abstractName();
    using s = new MemifSocket(where);
    using port = s.port({ id: 3, role: "server", secret: "s3cret", c2sQueues: 2, s2cQueues: 3, name: "srv" });
    const rejected: string[] = [];
    port.on("rejected", (e) => rejected.push(e.reason));
    const r = await zmemif(["info", where, "--json", "--id", "3"]);
    expect(r.code).toBe(6); // a secret is required: INIT without one is refused, with the reason
    const h = JSON.parse(r.stdout);
    // maxC2sRing, maxS2cRing: the largest indexes of 2 and 3 queues
    expect(h).toMatchObject({ name: "zmemif", compatible: true, maxC2sRing: 1, maxS2cRing: 2, maxLog2RingSize: 14 });
    expect(h.id.accepted).toBe(false);
    expect(h.id.reason).toMatch(/secret/i);
    const ok = await zmemif(["info", where, "--json", "--id", "4"]);
    expect(JSON.parse(ok.stdout).id).toEqual({ id: 4, accepted: false, reason: expect.stringMatching(/id/i) });

    using c = new MemifSocket(where);
    using client = c.port({ id: 3, role: "client", secret: "s3cret", reconnectMs: 50 });
    const ev = await client.connect({ timeoutMs: 5000 });
    expect(ev.peerName).toBe("srv");
  }, 20_000);

  test("an interface without a secret accepts the probe's INIT, then sees it leave", async () => {
    const where = socketPath();
    using s = new MemifSocket(where);
    using port = s.port({ id: 0, role: "server" });
    const r = await zmemif(["info", where, "--id", "0"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("server        zmemif\n");
    expect(r.stdout).toContain("id 0          accepts a client");
    using c = new MemifSocket(where);
    using client = c.port({ id: 0, role: "client", reconnectMs: 50 });
    await client.connect({ timeoutMs: 5000 });
    expect(port.connected).toBe(true);
  }, 20_000);
});

describe("zmemif info: bad inputs get their own exit code and a message saying what to do", () => {
  test("no socket at a path (3)", async () => {
    const r = await zmemif(["info", join(dirname(socketPath()), "none.sock")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("no socket at");
    expect(r.stderr).toContain("start the memif server first");
    expect(r.stdout).toBe("");
  });

  test("nobody listens on an abstract name (3)", async () => {
    const r = await zmemif(["info", abstractName()]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("nobody listens on the abstract name");
  });

  test("a regular file (3) and a stale socket file (3)", async () => {
    const file = join(dirname(socketPath()), "file");
    writeFileSync(file, "x");
    const r = await zmemif(["info", file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("is not a socket (a regular file)");

    const leftover = join(dirname(socketPath()), "left.sock");
    // A socket file nobody listens on: bind without listen (python3's socket, SOCK_SEQPACKET).
    const py = Bun.spawnSync([
      "python3",
      "-c",
      "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1])",
      leftover,
    ]);
    expect(py.exitCode).toBe(0);
    const r2 = await zmemif(["info", leftover]);
    expect(r2.code).toBe(3);
    expect(r2.stderr).toContain("nobody listens on");
    expect(r2.stderr).toContain("stale");
  });

  test("permission denied (4), as a uid the socket does not admit", async () => {
    expect(process.getuid?.()).toBe(0); // CI runs as root: it can run the command as another uid
    const where = socketPath();
    chmodSync(dirname(where), 0o755);
    using s = new MemifSocket(where, { mode: 0o600 });
    using _port = s.port({ id: 0, role: "server" });
    const r = await zmemif(
      ["info", where],
      ["setpriv", "--reuid=64719", "--regid=64719", "--clear-groups", "env", "HOME=/tmp"],
    );
    expect(r.stderr).toContain("permission denied on");
    expect(r.code).toBe(4);
  });

  test("a stream socket is not memif (5)", async () => {
    const where = socketPath();
    const server = createServer((c) => c.end("220 hello, I am SMTP\r\n"));
    servers.push(server);
    await new Promise<void>((res) => server.listen(where, res));
    const r = await zmemif(["info", where]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("is not a memif server: it is a Unix socket of another type");
  });

  test("a SOCK_SEQPACKET server that says something else (5) or nothing (5, within the timeout)", async () => {
    const script = (reply: string) =>
      [
        "import socket,sys,time",
        "s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen(1)",
        "print('listening', flush=True)",
        "c,_=s.accept()",
        reply,
        "time.sleep(30)",
      ].join("\n");
    const talk = socketPath();
    const p1 = new Proc(["python3", "-c", script("c.send(b'hello, not memif')"), talk]);
    procs.push(p1);
    await p1.waitFor(/^listening/);
    const r1 = await zmemif(["info", talk]);
    expect(r1.code).toBe(5);
    expect(r1.stderr).toContain(
      "is not a memif server: its first message is not a memif message (Invalid message size 16)",
    );

    const silent = socketPath();
    const p2 = new Proc(["python3", "-c", script("pass"), silent]);
    procs.push(p2);
    await p2.waitFor(/^listening/);
    const t = performance.now();
    const r2 = await zmemif(["info", silent, "--timeout", "300"]);
    expect(r2.code).toBe(5);
    expect(r2.stderr).toContain("accepted the connection but sent nothing within 300 ms");
    expect(performance.now() - t).toBeLessThan(5000);
  });

  test("bad flags and arguments (2)", async () => {
    for (const [args, says] of [
      [["info"], "give the memif socket"],
      [["info", "@x", "--id", "-1"], "--id"],
      [["info", "@x", "--id", "4294967296"], "--id takes an integer in 0..4294967295"],
      [["info", "@x", "--bogus"], "Unknown option '--bogus'"],
      [["info", "@x", "@y"], "one socket only"],
      [["info", "@"], "needs a name"],
      [["nosuch"], 'no command "nosuch"'],
    ] as const) {
      const r = await zmemif([...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(says);
    }
    const help = await zmemif(["info", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: zmemif info SOCKET [options]");
    expect(help.stdout).toContain("exit codes:");
  });
});
