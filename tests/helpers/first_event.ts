/**
 * Opens a client port to `argv[2]` in a fresh process and prints "connected <n>" with how many
 * 'connected' events it saw once the port is connected and the loop has turned (for
 * tests/connect_event.test.ts: a handshake that completes inside the Port constructor must still
 * be reported).
 */
import { MemifSocket } from "../../ts/index.ts";

const socket = new MemifSocket(process.argv[2]!);
const port = socket.port({ role: "client", reconnectMs: 20 });
let events = 0;
port.on("connected", () => events++);
const deadline = performance.now() + 10_000;
while (!port.connected) {
  if (performance.now() > deadline) {
    process.stdout.write(`not connected within 10 s: ${JSON.stringify(port.info())}\n`);
    process.exit(1);
  }
  await Bun.sleep(0);
}
// The event is handled on a later turn of the loop: wait for it (a loaded machine may take a
// while), then 50 ms more, so that a second one would be seen too.
while (events === 0 && performance.now() < deadline) await Bun.sleep(1);
await Bun.sleep(50);
process.stdout.write(`connected ${events}\n`);
socket.close();
process.exit(0);
