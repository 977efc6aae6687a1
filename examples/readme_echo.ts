// An echo server and client over memif (the README example).
//   bun examples/readme_echo.ts server @echo      # then, in another shell:
//   bun examples/readme_echo.ts client @echo
import { MemifError, MemifSocket } from "zmemif";

const [role = "server", path = "@zmemif-readme"] = process.argv.slice(2);
if (role !== "server" && role !== "client") {
  (role === "--help" ? console.log : console.error)(
    "usage: bun examples/readme_echo.ts [server|client] [SOCKET]   (default: server @zmemif-readme)\n" +
      "An echo server that serves one client after another, or a client that sends 5 pings.",
  );
  process.exit(role === "--help" ? 0 : 2);
}

using socket = new MemifSocket(path); // "/run/x.sock", or "@name" for an abstract socket
using port = socket.port({ id: 0, role });
const peer = role === "server" ? "client" : "server";
console.log(`waiting for a memif ${peer} on ${path} (id 0); give another socket as the second argument`);
await port.connect(role === "client" ? { timeoutMs: 10_000 } : {}).catch((e) => {
  console.error(e.message);
  process.exit(1);
});
using rx = port.rxQueue(0);
using tx = port.txQueue(0);

if (role === "server") {
  // Each packet is a zero-copy view, valid until the next one: send() copies it out.
  // A client that leaves ends the loop with NOT_CONNECTED or STALE_VIEW: serve the next one.
  for (;;) {
    try {
      for await (const packet of rx) await tx.send(packet);
    } catch (e) {
      if (!(e instanceof MemifError) || !["NOT_CONNECTED", "STALE_VIEW"].includes(e.code)) throw e;
    }
  }
} else {
  port.on("disconnected", (e) => {
    console.error(`the server left: ${e.reason}`);
    process.exit(1);
  });
  let t0 = 0;
  const ping = (i: number) => {
    t0 = performance.now();
    return tx.send(new TextEncoder().encode(`ping ${i}`));
  };
  await ping(0); // send() waits for ring space when the ring is full
  let i = 0;
  for await (const packet of rx) {
    const us = ((performance.now() - t0) * 1000).toFixed(0);
    console.log(`${new TextDecoder().decode(packet)} came back in ${us} µs`);
    if (++i === 5) break;
    await ping(i);
  }
}
