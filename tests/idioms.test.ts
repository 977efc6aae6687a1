/** The idioms a JavaScript user expects (issue 14): abort signals, typed events, readable errors. */
import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { MemifError, MemifSocket } from "../ts/index.ts";
import { abstractName, cleanupDirs, Peer, socketPath } from "./helpers/peers.ts";

afterAll(cleanupDirs);
let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

function caught(f: () => unknown): MemifError {
  try {
    f();
  } catch (e) {
    if (e instanceof MemifError) return e;
    throw e;
  }
  throw new Error("no error");
}

test("connect({ signal }) rejects with signal.reason, before and during the wait", async () => {
  using socket = new MemifSocket(abstractName());
  using port = socket.port({ role: "client", reconnectMs: 50 });
  const reason = new Error("user gave up");
  await expect(port.connect({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  const ac = new AbortController();
  const pending = port.connect({ signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  const err = await pending.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBe(ac.signal.reason);
  expect((err as Error).name).toBe("AbortError");
});

test("event names are typed", () => {
  using socket = new MemifSocket(abstractName());
  using port = socket.port({ role: "server" });
  port.on("connected", (e) => void e.peerName);
  // tsc --noEmit (CI) fails if this line type-checks: the misspelt name must be an error.
  // @ts-expect-error "connectd" is not an event of Port
  port.on("connectd", () => {});
  expect(port.listenerCount("connected")).toBe(1);
});

test("an uncaught MemifError prints no undefined fields", async () => {
  const index = JSON.stringify(join(import.meta.dir, "../ts/index.ts"));
  const proc = Bun.spawn(
    [process.execPath, "-e", `import { MemifSocket } from ${index}; new MemifSocket("@x").port({ ringSize: 3 });`],
    { stdout: "pipe", stderr: "pipe" },
  );
  const err = await new Response(proc.stderr).text();
  expect(await proc.exited).not.toBe(0);
  expect(err).toContain("INVALID_ARGUMENT");
  expect(err).not.toContain("undefined");
});

test("a hint is not repeated", () => {
  using socket = new MemifSocket(socketPath());
  using _a = socket.port({ id: 7, role: "server" });
  const e = caught(() => socket.port({ id: 7, role: "server" }));
  expect(e.code).toBe("ID_IN_USE");
  expect(e.message.match(/another id/g)?.length).toBe(1);
});

test("send() before any connection says the port is not connected (not that it ended)", async () => {
  using socket = new MemifSocket(abstractName());
  using port = socket.port({ role: "client", reconnectMs: 50 });
  using tx = port.txQueue(0);
  const err = await tx.send(new Uint8Array(10)).then(
    () => null,
    (e: unknown) => e as MemifError,
  );
  expect(err?.code).toBe("NOT_CONNECTED");
  expect(err?.message).not.toContain("ended");
  expect(err?.message).toContain("not connected");
});

test("info(): no made-up sizes while disconnected; a connected server knows its buffer size", async () => {
  const path = abstractName();
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "server" });
  const idle = port.info();
  expect(idle.state).toBe("disconnected");
  expect(idle.ringSize).toBe(0);
  expect(idle.bufferSize).toBe(0);
  peer = new Peer(["--socket", path, "--role", "client", "--behaviour", "idle", "--buffer-size", "512"]);
  const ev = await port.connect({ timeoutMs: 5000 });
  expect(ev.info.ringSize).toBe(1024);
  expect(ev.info.bufferSize).toBe(512);
});
