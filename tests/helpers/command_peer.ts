/**
 * A memif server in its own process that does what it is told on stdin, one command a line, so a
 * test decides exactly when its peer sends and when it leaves (tests/helpers/worker_exit.ts):
 *
 *   bun tests/helpers/command_peer.ts --socket PATH
 *
 *   listen ID      serve interface ID (a server port with 1 queue pair)    -> "listening ID"
 *   send ID N      once ID is connected, send N 64-byte packets on queue 0  -> "sent ID N"
 *   offer ID N     the same if ID is connected now, until its connection ends -> "offered ID K"
 *                  (K sent: a client that may be leaving, e.g. closed when its Worker ended)
 *   drop ID        end ID's connection: close its port, listen again       -> "dropped ID"
 *
 * A failed command prints "error <message>"; a client of ID that reconnects after `drop` is
 * served again. The socket's name is an abstract one or a path, as for MemifSocket. It also
 * reports each connection of a served interface as it comes and goes (tests/helpers/worker_end.ts):
 *
 *   connected ID
 *   disconnected ID REASON       (REASON: the client's DISCONNECT reason, or ours)
 */
import { parseArgs } from "node:util";
import { MemifError, MemifSocket, type Port } from "../../ts/index.ts";

const { values: a } = parseArgs({ options: { socket: { type: "string" } } });
if (a.socket === undefined) throw new Error("--socket is required");

const socket = new MemifSocket(a.socket);
const ports = new Map<number, Port>();
const say = (line: string) => process.stdout.write(`${line}\n`);

function listen(id: number): Port {
  const port = socket.port({ id, role: "server", name: "command-peer", secret: "worker-exit" });
  port.on("connected", () => say(`connected ${id}`));
  port.on("disconnected", (e) => say(`disconnected ${id} ${e.reason}`));
  ports.set(id, port);
  return port;
}

async function send(id: number, n: number): Promise<void> {
  const port = ports.get(id);
  if (port === undefined) throw new Error(`interface ${id} is not served: listen first`);
  await port.connect({ timeoutMs: 5000 });
  const tx = port.txQueue(0);
  try {
    for (let i = 0; i < n; i++) await tx.send(new Uint8Array(64).fill(i), { timeoutMs: 2000 });
  } finally {
    tx.close();
  }
}

/** Sends up to `n` packets on ID while it stays connected; how many were sent. */
async function offer(id: number, n: number): Promise<number> {
  const port = ports.get(id);
  if (port === undefined) throw new Error(`interface ${id}: not served: listen first`);
  if (!port.connected) return 0;
  const tx = port.txQueue(0);
  let sent = 0;
  try {
    for (; sent < n; sent++) await tx.send(new Uint8Array(64).fill(sent), { timeoutMs: 2000 });
  } catch (e) {
    if (!(e instanceof MemifError && e.code === "NOT_CONNECTED")) throw e;
  } finally {
    tx.close();
  }
  return sent;
}

async function run(line: string): Promise<void> {
  const [cmd, idText, nText] = line.trim().split(/\s+/);
  const id = Number(idText);
  if (cmd === "listen") {
    ports.get(id)?.close();
    listen(id);
    say(`listening ${id}`);
  } else if (cmd === "send") {
    await send(id, Number(nText));
    say(`sent ${id} ${nText}`);
  } else if (cmd === "offer") {
    say(`offered ${id} ${await offer(id, Number(nText))}`);
  } else if (cmd === "drop") {
    ports.get(id)?.close();
    listen(id);
    say(`dropped ${id}`);
  } else if (cmd !== undefined && cmd !== "") {
    throw new Error(`unknown command ${JSON.stringify(line)}`);
  }
}

let pending = "";
let chain = Promise.resolve();
process.stdin.on("data", (chunk: Buffer) => {
  pending += chunk.toString();
  const lines = pending.split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) {
    chain = chain
      .then(() => run(line))
      .catch((e: unknown) => {
        say(`error ${String(e)}`);
      });
  }
});
process.stdin.on("end", () => {
  void chain.then(() => {
    socket.close();
    process.exit(0);
  });
});
say("ready");
