/**
 * Every connection a port reports as ended was first reported as connected, in order (issue 9):
 * also one that came and went while the JS thread was busy, whose CONNECTED event is handled
 * only after the connection ended. The thread is kept busy (Bun.sleepSync) while a client
 * connects and leaves, so each connection's two events wait on the loop together.
 */
import { expect, test } from "bun:test";
import { MemifSocket } from "../ts/index.ts";
import { abstractName } from "./helpers/peers.ts";

/** A server port on a fresh abstract name whose events are written to `seen` ("connected G"). */
function recordingServer() {
  const path = abstractName();
  const socket = new MemifSocket(path);
  const server = socket.port({ role: "server" });
  const seen: string[] = [];
  server.on("connected", (e) => seen.push(`connected ${e.generation}`));
  server.on("disconnected", (e) => seen.push(`disconnected ${e.generation}`));
  return { path, socket, server, seen };
}

test("a connection that ended before its events were handled: 'connected' then 'disconnected'", async () => {
  const { path, socket, server, seen } = recordingServer();
  using _socket = socket;
  using _server = server;
  const rounds = 5;
  for (let i = 1; i <= rounds; i++) {
    const client = new MemifSocket(path);
    client.port({ role: "client" });
    const deadline = performance.now() + 5000;
    // busy: the handshake completes on the control threads, the events queue up
    while (server.info().connects < i && performance.now() < deadline) Bun.sleepSync(1);
    client.close();
    while (server.info().disconnects < i && performance.now() < deadline) Bun.sleepSync(1);
    expect(server.info().state).not.toBe("connected");
    // now the loop runs: CONNECTED finds the connection over, then DISCONNECTED
    for (let k = 0; k < 100 && seen.length < 2 * i; k++) await Bun.sleep(5);
  }
  const want: string[] = [];
  for (let g = 1; g <= rounds; g++) want.push(`connected ${g}`, `disconnected ${g}`);
  expect(seen).toEqual(want);
}, 30_000);

test("connect() answered by a newer connection while an older one's events wait: the older is announced first", async () => {
  const { path, socket, server, seen } = recordingServer();
  using _socket = socket;
  using _server = server;
  const deadline = performance.now() + 5000;
  // busy: connection 1 comes and goes, connection 2 comes; all their events wait on the loop
  const first = new MemifSocket(path);
  first.port({ role: "client" });
  while (server.info().connects < 1 && performance.now() < deadline) Bun.sleepSync(1);
  first.close();
  while (server.info().disconnects < 1 && performance.now() < deadline) Bun.sleepSync(1);
  using second = new MemifSocket(path);
  second.port({ role: "client" });
  while (server.info().state !== "connected" && performance.now() < deadline) Bun.sleepSync(1);
  const e = await server.connect({ timeoutMs: 1000 }); // sees connection 2 before any event
  expect(e.generation).toBe(2);
  for (let k = 0; k < 100 && seen.length < 3; k++) await Bun.sleep(5);
  await Bun.sleep(20);
  expect(seen).toEqual(["connected 1", "connected 2", "disconnected 1"]);
}, 30_000);
