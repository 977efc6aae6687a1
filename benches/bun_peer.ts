/**
 * The Bun side of a pps.ts scenario, in a process of its own (pps.ts starts it pinned to one CPU
 * with taskset). Not meant to be run by hand, but it can be:
 *
 *   bun benches/bun_peer.ts --action tx|rx|echo|ping --socket PATH --role client|server
 *                           [--size 64] [--burst 32] [--queues 1] [--rx-mode polling|interrupt]
 *                           [--ring-size 1024] [--buffer-size 2048] [--id 0]
 *   bun benches/bun_peer.ts --action udp-rx|udp-tx [--port N] [--size 64] [--burst 32]
 *
 * Commands on stdin, JSON lines on stdout: see benches/peer/control.ts.
 */
import { parseArgs } from "node:util";
import { fail } from "./peer/control.ts";
import { runMemif, type MemifAction } from "./peer/memif.ts";
import { runUdp } from "./peer/udp.ts";

const { values: a } = parseArgs({
  options: {
    action: { type: "string" },
    socket: { type: "string" },
    role: { type: "string", default: "client" },
    id: { type: "string", default: "0" },
    size: { type: "string", default: "64" },
    burst: { type: "string", default: "32" },
    queues: { type: "string", default: "1" },
    "rx-mode": { type: "string", default: "polling" },
    "ring-size": { type: "string", default: "1024" },
    "buffer-size": { type: "string", default: "2048" },
    port: { type: "string", default: "0" },
  },
});

function int(name: string, v: string | undefined, lo: number, hi: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) fail(`--${name} must be an integer in ${lo}..${hi}, got ${v}`);
  return n;
}

const action = a.action ?? "";
const size = int("size", a.size, 1, 65535);
const burst = int("burst", a.burst, 1, 4096);

if (action === "udp-tx" || action === "udp-rx") {
  await runUdp({ action, port: int("port", a.port, 0, 65535), size, burst });
} else if (action === "tx" || action === "rx" || action === "echo" || action === "ping") {
  if (a.socket === undefined) fail("--socket is required");
  if (a.role !== "client" && a.role !== "server") fail(`--role must be client or server, got ${a.role}`);
  const rxMode = a["rx-mode"];
  if (rxMode !== "polling" && rxMode !== "interrupt") fail(`--rx-mode must be polling or interrupt, got ${rxMode}`);
  await runMemif({
    socket: a.socket,
    role: a.role,
    id: int("id", a.id, 0, 0xffffffff),
    action: action as MemifAction,
    size,
    burst,
    queues: int("queues", a.queues, 1, 255),
    rxMode,
    ringSize: int("ring-size", a["ring-size"], 2, 16384),
    bufferSize: int("buffer-size", a["buffer-size"], 64, 65535),
  });
} else {
  fail(`--action must be tx, rx, echo, ping, udp-tx or udp-rx, got ${JSON.stringify(action)}`);
}
