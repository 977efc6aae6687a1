// An echo server and client over memif (the README example).
//   bun examples/readme_echo.ts server @echo      # then, in another shell:
//   bun examples/readme_echo.ts client @echo
import { MemifSocket } from "zmemif";

const [role = "server", path = "@zmemif-readme"] = process.argv.slice(2);
if (role !== "server" && role !== "client") throw new Error("usage: readme_echo.ts server|client [socket]");

using socket = new MemifSocket(path); // "/run/x.sock", or "@name" for an abstract socket
using port = socket.port({ id: 0, role });
await port.connect({ timeoutMs: 10_000 });
using rx = port.rxQueue(0);
using tx = port.txQueue(0);

if (role === "server") {
  // Each packet is a zero-copy view, valid until the next one: send() copies it out.
  for await (const packet of rx) await tx.send(packet);
} else {
  let t0 = 0;
  const ping = (i: number) => ((t0 = performance.now()), tx.send(new TextEncoder().encode(`ping ${i}`)));
  await ping(0); // send() waits for ring space when the ring is full
  let i = 0;
  for await (const packet of rx) {
    const us = ((performance.now() - t0) * 1000).toFixed(0);
    console.log(`${new TextDecoder().decode(packet)} came back in ${us} µs`);
    if (++i === 5) break;
    await ping(i);
  }
}
