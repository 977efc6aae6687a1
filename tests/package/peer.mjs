// A zmemif peer for the package tests, in plain JavaScript so that Node.js 20 and Bun run the
// same file (and `bun build --compile` packs it): imports "zmemif" as a user's program does.
//   node|bun peer.mjs server|client SOCKET [COUNT]
// The client sends COUNT packets (packet 5 is 9000 bytes: a chain of 2048-byte buffers), the
// server checks each and echoes it, the client checks each echo. Each side prints one line
// "<role> ok <count> <runtime>" on success; any mismatch exits 1 with what differed.
import { MemifSocket } from "zmemif";

const [role, path, countArg = "20"] = process.argv.slice(2);
if ((role !== "server" && role !== "client") || path === undefined) {
  console.error("usage: peer.mjs server|client SOCKET [COUNT]");
  process.exit(2);
}
const count = Number(countArg);
const runtime = process.versions.bun !== undefined ? "bun" : "node";

/** Packet i: 4-byte little-endian i, then bytes (i * 7 + j) & 0xff. */
function packet(i) {
  const len = i === 5 ? 9000 : 64 + ((i * 37) % 1400);
  const p = new Uint8Array(len);
  for (let j = 4; j < len; j++) p[j] = (i * 7 + j) & 0xff;
  new DataView(p.buffer).setUint32(0, i, true);
  return p;
}

function check(got, i, what) {
  const want = packet(i);
  if (got.byteLength !== want.byteLength)
    throw new Error(`${what} ${i}: ${got.byteLength} bytes, want ${want.byteLength}`);
  for (let j = 0; j < want.byteLength; j++) {
    if (got[j] !== want[j]) throw new Error(`${what} ${i}: byte ${j} is ${got[j]}, want ${want[j]}`);
  }
}

const socket = new MemifSocket(path);
const port = socket.port({ id: 0, role, secret: "package-test" });
try {
  await port.connect({ timeoutMs: 20_000 });
  const rx = port.rxQueue(0);
  const tx = port.txQueue(0);
  if (role === "server") {
    let i = 0;
    for await (const p of rx) {
      check(p, i, "received");
      await tx.send(p);
      if (++i === count) break;
    }
    // Wait for the client to go: it leaves once it has every echo.
    await new Promise((resolve) => port.once("disconnected", resolve));
  } else {
    let i = 0;
    await tx.send(packet(0));
    for await (const p of rx) {
      check(p, i, "echo");
      if (++i === count) break;
      await tx.send(packet(i));
    }
  }
  console.log(`${role} ok ${count} ${runtime}`);
} finally {
  port.close();
  socket.close();
}
