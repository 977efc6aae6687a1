/**
 * Who may connect: a peer (tests/helpers/bun_peer.ts) run as a second uid through setpriv is
 * refused by a server's allowUids on both socket kinds (with the reason, and a 'rejected' event
 * naming its uid and pid), admitted by allowGids; a client with expectServerUid refuses a server
 * run by another uid; requireSecret and the one warning for an unguarded abstract server.
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { MemifError, MemifSocket, type Port, type RejectedEvent } from "../ts/index.ts";
import { abstractName, cleanupDirs, socketPath } from "./helpers/peers.ts";
import { describeNeeding } from "./helpers/prereq.ts";
import { Proc } from "../support/proc.ts";

/** The second user: ids with no account (setpriv needs none). */
const UID = 64717;
const GID = 64718;
const BUN_PEER = join(import.meta.dir, "helpers", "bun_peer.ts");

const why =
  process.getuid?.() !== 0
    ? "needs root, to run a peer as a second uid"
    : Bun.which("setpriv") === null
      ? "needs setpriv (util-linux)"
      : null;

/** bun_peer.ts as uid UID / gid GID, no supplementary groups; its pid is the child's (exec). */
function peerAs(args: string[]): Proc {
  return new Proc([
    "setpriv",
    `--reuid=${UID}`,
    `--regid=${GID}`,
    "--clear-groups",
    "env",
    "HOME=/tmp",
    process.execPath,
    BUN_PEER,
    ...args,
  ]);
}

/** A filesystem socket every uid may open, so that the allow-list is what decides. */
function openSocket(): MemifSocket {
  const path = socketPath();
  chmodSync(dirname(path), 0o755);
  return new MemifSocket(path, { mode: 0o666 });
}

function nextRejected(port: Port): Promise<RejectedEvent> {
  return new Promise((resolve) => port.once("rejected", resolve));
}

const procs: Proc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop();
  cleanupDirs();
});

describeNeeding("tests/creds.test.ts", why, "a peer running as another uid", () => {
  for (const kind of ["abstract", "filesystem"] as const) {
    test(`allowUids refuses it on ${kind === "abstract" ? "an" : "a"} ${kind} socket, saying why; 'rejected' names its uid and pid`, async () => {
      using socket = kind === "abstract" ? new MemifSocket(abstractName()) : openSocket();
      using port = socket.port({ role: "server", allowUids: [0] });
      const rejected = nextRejected(port);
      const peer = peerAs(["--socket", socket.path, "--role", "client", "--behaviour", "idle"]);
      procs.push(peer);
      const reason = `uid ${UID} not allowed (allowed: 0)`;
      expect(await peer.waitFor(/^rejected /)).toBe(`rejected ${reason}`);
      const ev = await rejected;
      expect(ev.reason).toBe(reason);
      expect(ev.peer).toEqual({ pid: peer.proc.pid, uid: UID, gid: GID });
      const info = port.info();
      expect(info.rejectedPeer).toEqual({ pid: peer.proc.pid, uid: UID, gid: GID });
      expect(info.peer).toBeNull();
      expect(info.connects).toBe(0);
    }, 20_000);
  }

  test("allowGids admits its group; info() shows the connected peer's credentials", async () => {
    using socket = openSocket();
    using port = socket.port({ role: "server", allowUids: [0], allowGids: [GID] });
    const peer = peerAs(["--socket", socket.path, "--role", "client", "--behaviour", "idle"]);
    procs.push(peer);
    const ev = await port.connect({ timeoutMs: 10_000 });
    expect(ev.info.peer).toEqual({ pid: peer.proc.pid, uid: UID, gid: GID });
    expect(port.info().rejects).toBe(0);
  }, 20_000);

  test("expectServerUid: a client refuses a server run by another uid, then accepts it when expected", async () => {
    const path = abstractName();
    const server = peerAs(["--socket", path, "--role", "server", "--secret", "s3cret", "--behaviour", "idle"]);
    procs.push(server);
    await server.waitFor(/^listening/);
    using socket = new MemifSocket(path);
    const wrong = socket.port({ role: "client", secret: "s3cret", expectServerUid: 0, reconnectMs: 100 });
    let err: unknown;
    try {
      await wrong.connect({ timeoutMs: 10_000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemifError);
    const e = err as MemifError;
    expect(e.code).toBe("PEER_REJECTED");
    expect(e.reason).toContain(`runs as uid ${UID} (pid ${server.proc.pid}), not the expected uid 0`);
    expect(wrong.info().rejectedPeer).toEqual({ pid: server.proc.pid, uid: UID, gid: GID });
    wrong.close();
    using right = socket.port({ role: "client", secret: "s3cret", expectServerUid: UID, reconnectMs: 100 });
    const ev = await right.connect({ timeoutMs: 10_000 });
    expect(ev.info.peer).toEqual({ pid: server.proc.pid, uid: UID, gid: GID });
  }, 20_000);
});

test("requireSecret: a server on an abstract socket with neither secret nor allow-list does not start", () => {
  using socket = new MemifSocket(abstractName());
  let err: unknown;
  try {
    socket.port({ role: "server", requireSecret: true });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MemifError);
  expect((err as MemifError).code).toBe("INVALID_ARGUMENT");
  expect((err as MemifError).message).toContain("any process in this network namespace");
  // guarded, it starts
  socket.port({ role: "server", requireSecret: true, secret: "x" }).close();
  socket.port({ id: 1, role: "server", requireSecret: true, allowUids: [0] }).close();
});

test("bad credential options say what to do", () => {
  using socket = new MemifSocket(abstractName());
  const bad: [Record<string, unknown>, string][] = [
    [{ role: "server", allowUids: [1.5] }, "allowUids"],
    [{ role: "server", allowGids: Array.from({ length: 17 }, (_, i) => i) }, "at most 16"],
    [{ role: "client", allowUids: [0] }, "applies to a server port"],
    [{ role: "server", expectServerUid: 0 }, "applies to a client port"],
  ];
  for (const [opts, says] of bad) {
    expect(() => socket.port(opts)).toThrow(says);
  }
});

test("a server on an abstract socket with neither secret nor allow-list warns once, naming the risk and the fix", () => {
  const name = abstractName();
  const code = `
    import { MemifSocket } from ${JSON.stringify(join(import.meta.dir, "..", "ts", "index.ts"))};
    const s = new MemifSocket(${JSON.stringify(name)});
    s.port({ id: 0, role: "server" });
    s.port({ id: 1, role: "server" });
    s.port({ id: 2, role: "server", secret: "x" });
    s.close();
  `;
  const r = Bun.spawnSync([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
  const err = r.stderr.toString();
  expect(r.exitCode).toBe(0);
  const warnings = err.split("\n").filter((l) => l.includes("zmemif: warning:"));
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toContain(name);
  expect(warnings[0]).toContain("any process in this network namespace can connect");
  expect(warnings[0]).toContain("allowUids/allowGids");
});
