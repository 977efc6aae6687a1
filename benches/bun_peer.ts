/**
 * The Bun side of a pps.ts scenario, in a process of its own (pps.ts starts it pinned to one CPU
 * with taskset). Not meant to be run by hand, but it can be (see HELP). Commands on stdin, JSON
 * lines on stdout: see benches/peer/control.ts.
 */
import { choice, integer, option, parse, text, UsageError } from "./lib/args.ts";
import { fail } from "./peer/control.ts";
import { runMemif } from "./peer/memif.ts";
import { runUdp } from "./peer/udp.ts";

const HELP = `usage: bun benches/bun_peer.ts --action tx|rx|echo|ping --socket PATH --role client|server
                        [--size 64] [--burst 32] [--queues 1] [--rx-mode polling|interrupt]
                        [--ring-size 1024] [--buffer-size 2048] [--id 0]
       bun benches/bun_peer.ts --action udp-rx|udp-tx [--port N] [--size 64] [--burst 32]

Commands on stdin, JSON lines on stdout: see benches/peer/control.ts.`;

const SPECS = {
  action: option(choice(["tx", "rx", "echo", "ping", "udp-tx", "udp-rx"])),
  socket: option(text),
  role: option(choice(["client", "server"]), "client"),
  id: option(integer({ min: 0, max: 0xffffffff }), 0),
  size: option(integer({ min: 1, max: 65535 }), 64),
  burst: option(integer({ min: 1, max: 4096 }), 32),
  queues: option(integer({ min: 1, max: 255 }), 1),
  "rx-mode": option(choice(["polling", "interrupt"]), "polling"),
  "ring-size": option(integer({ min: 2, max: 16384 }), 1024),
  "buffer-size": option(integer({ min: 64, max: 65535 }), 2048),
  port: option(integer({ min: 0, max: 65535 }), 0),
};

/** The options; a bad one is an error event (the orchestrator reads stdout), not a usage message. */
function options() {
  try {
    return parse(process.argv.slice(2), SPECS);
  } catch (e) {
    fail(e instanceof UsageError ? e.message : String(e));
  }
}
const a = options();
if (a === "help") {
  console.log(HELP);
  process.exit(0);
}
const { action, size, burst } = a;

if (action === "udp-tx" || action === "udp-rx") {
  await runUdp({ action, port: a.port, size, burst });
} else if (action !== undefined) {
  if (a.socket === undefined) fail("--socket is required");
  await runMemif({
    socket: a.socket,
    role: a.role,
    id: a.id,
    action,
    size,
    burst,
    queues: a.queues,
    rxMode: a["rx-mode"],
    ringSize: a["ring-size"],
    bufferSize: a["buffer-size"],
  });
} else {
  fail("--action must be one of tx, rx, echo, ping, udp-tx, udp-rx");
}
