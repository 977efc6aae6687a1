/**
 * A client port that connects while its constructor runs (the server is already listening and
 * the handshake takes ~100 µs) still emits 'connected'. Fresh processes, because the race is with
 * the first JSCallback of a process being made.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { MemifSocket } from "../ts/index.ts";
import { abstractName } from "./helpers/peers.ts";

test("'connected' is emitted even when the handshake completes inside socket.port()", async () => {
  const path = abstractName();
  using socket = new MemifSocket(path);
  using server = socket.port({ role: "server" });
  let connects = 0;
  server.on("connected", () => connects++);
  const runs = 12;
  for (let i = 0; i < runs; i++) {
    const p = Bun.spawn([process.execPath, join(import.meta.dir, "helpers", "first_event.ts"), path], {
      stdout: "pipe",
    });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    expect(out.trim()).toBe("connected 1");
  }
  expect(connects).toBe(runs);
}, 60_000);
