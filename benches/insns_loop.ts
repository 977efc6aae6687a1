/**
 * The burst loop benches/insns.ts counts instructions of (under callgrind), in one process: a memif
 * server and client port, the transmitting end from checkout TX_DIR, the receiving end from
 * RX_DIR (each its own ts/ and library, so the two builds can be paired either way). Each
 * iteration is one burst of the Bun peer's txStep (alloc, fill, txBurst) and one of its rxStep
 * (rxBurst, count descriptors and bytes), as benches/peer/memif.ts runs them, 64-byte packets.
 *
 *   bun benches/insns_loop.ts TX_DIR RX_DIR c2s|s2c ITERATIONS
 *
 * Prints one JSON line: {packets}. Exits 1 when a burst moved nothing (the loop would count
 * something else than packets).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Api from "../ts/index.ts";
import { fill } from "./peer/memif.ts";

const [txDir, rxDir, direction, itersArg] = process.argv.slice(2);
const iterations = Number(itersArg);
if (txDir === undefined || rxDir === undefined || (direction !== "c2s" && direction !== "s2c") || !(iterations > 0)) {
  console.error("usage: bun benches/insns_loop.ts TX_DIR RX_DIR c2s|s2c ITERATIONS");
  process.exit(2);
}
const SIZE = 64;
const BURST = 32;
const DESC_NEXT = 1;
const CONNECT_MS = 10_000;

const T: typeof Api = await import(join(txDir, "ts", "index.ts"));
const R: typeof Api = rxDir === txDir ? T : await import(join(rxDir, "ts", "index.ts"));
// c2s: the client transmits, the server receives; s2c the other way round.
const [S, C] = direction === "c2s" ? [R, T] : [T, R];
const dir = mkdtempSync(join(tmpdir(), "zmemif-insns-"));
const path = join(dir, "memif.sock");
const serverSocket = new S.MemifSocket(path);
const server = serverSocket.port({ role: "server", ringSize: 1024, bufferSize: 2048 });
const clientSocket = new C.MemifSocket(path);
const client = clientSocket.port({ role: "client", ringSize: 1024, bufferSize: 2048 });
await Promise.all([server.connect({ timeoutMs: CONNECT_MS }), client.connect({ timeoutMs: CONNECT_MS })]);
const [txPort, rxPort] = direction === "c2s" ? [client, server] : [server, client];
const txq = txPort.txQueue(0);
const rxq = rxPort.rxQueue(0, { rxMode: "polling" });
const tb = new T.Batch(BURST);
const rb = new R.Batch(64);

let tx = 0;
let rx = 0;
let rxb = 0;
let idle = 0;
function loop(n: number): void {
  const d = rb.descs;
  for (let k = 0; k < n; k++) {
    const got = txq.alloc(tb, BURST);
    if (got > 0) {
      fill(tb, got, 1, SIZE);
      tx += txq.txBurst(tb, got);
    }
    const m = rxq.rxBurst(rb);
    if (m > 0) {
      let packets = 0;
      let bytes = 0;
      for (let i = 0; i < m; i++) {
        bytes += d[i * 4 + 1]!;
        packets += (d[i * 4]! & DESC_NEXT) ^ 1;
      }
      rx += packets;
      rxb += bytes;
    } else {
      idle++;
    }
  }
}
loop(iterations);
rxq.close();
txq.close();
serverSocket.close();
clientSocket.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ packets: rx, sent: tx, bytes: rxb, idle }));
process.exit(idle === 0 && rx === iterations * BURST && tx === rx ? 0 : 1);
