/**
 * Opens a client port to `argv[2]` in a fresh process and prints "connected <n>" with how many
 * 'connected' events it saw by the time the port is connected and the loop has turned (for
 * tests/connect_event.test.ts: a handshake that completes inside the Port constructor must still
 * be reported).
 */
import { MemifSocket } from "../../ts/index.ts";

const socket = new MemifSocket(process.argv[2]!);
const port = socket.port({ role: "client", reconnectMs: 20 });
let events = 0;
port.on("connected", () => events++);
while (!port.connected) await Bun.sleep(0);
await Bun.sleep(50);
process.stdout.write(`connected ${events}\n`);
socket.close();
process.exit(0);
