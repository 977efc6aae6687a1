// Node.js side of tests/unread.test.ts, run by `node` on the compiled package (dist/node.js): a
// server and a client port in this process over SOCKET; the server's rx attaches and never reads,
// the client sends 100 one-buffer packets and 5 chained ones, then closes its port: the server's
// rx counts what was left. Then the same with the client receiving and the server's tx counting
// when the client leaves. Prints one JSON line: { rx, tx } ({ packets, unreadAtDisconnect } of the
// queue that stayed); exit 1 on error.
//   node tests/helpers/node_unread.mjs SOCKET
import { Batch, MemifSocket } from "../../dist/node.js";

const [path] = process.argv.slice(2);
const payload = (i, len) => new Uint8Array(len).fill(i & 0xff);
const ended = (port) => new Promise((resolve) => port.once("disconnected", resolve));

const pick = ({ packets, unreadAtDisconnect }) => ({ packets, unreadAtDisconnect });

/** `receiver` attaches and never reads; the side `leaver` closes its port; the stats of the queue that stayed. */
async function run(id, receiver, leaver) {
  const serverSocket = new MemifSocket(path);
  const server = serverSocket.port({ id, role: "server" });
  const clientSocket = new MemifSocket(path);
  const client = clientSocket.port({ id, role: "client", reconnectMs: 60_000 });
  await Promise.all([server.connect({ timeoutMs: 5000 }), client.connect({ timeoutMs: 5000 })]);
  const [rp, sp] = receiver === "server" ? [server, client] : [client, server];
  const rx = rp.rxQueue(0);
  const tx = sp.txQueue(0);
  if (rx.rxBurst(new Batch(32)) !== 0) throw new Error("the receiver read something");
  for (let i = 0; i < 100; i++) await tx.send(payload(i, 60), { timeoutMs: 5000 });
  for (let i = 0; i < 5; i++) await tx.send(payload(i, 5000), { timeoutMs: 5000 });
  const [stays, leaves, q] = leaver === "sender" ? [rp, sp, rx] : [sp, rp, tx];
  const disconnected = ended(stays);
  leaves.close();
  await disconnected;
  const s = pick(q.stats());
  for (const c of [rx, tx, server, client, serverSocket, clientSocket]) c.close();
  return s;
}

const rx = await run(1, "server", "sender");
const tx = await run(2, "client", "receiver");
console.log(JSON.stringify({ rx, tx }));
