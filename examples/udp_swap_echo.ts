/**
 * udp_swap_echo: the echo behind the forwarder (forwarder/): answers every Ethernet/IPv4/UDP frame
 * with its MAC addresses, IPv4 addresses and UDP ports swapped, so the reply goes back to the
 * sender. Swapping leaves both checksums valid (one's-complement sums do not depend on order).
 * Other frames are counted and dropped.
 *
 *   bun examples/udp_swap_echo.ts --socket /run/zmemif-fwd.sock --id 0
 *   bun examples/udp_swap_echo.ts --socket @fwd --role server      # for zmemif-fwd --memif-role client
 *
 * Burst API only: rxBurst → alloc → copy into the tx buffer → swap in place → txBurst.
 */
import { Batch, MemifError, MemifSocket } from "zmemif";
import { cli, onStop } from "./cli.ts";

const o = cli("udp_swap_echo", "UDP echo for the forwarder: swaps MACs, IPv4 addresses and UDP ports.", {
  socket: { type: "string", help: "control socket: a path, or @name (abstract)" },
  id: { type: "int", default: "0", min: 0, max: 0xffffffff, help: "memif interface id" },
  role: { type: "choice", default: "client", choices: ["client", "server"], help: "memif role" },
});

const socket = new MemifSocket(o.socket);
const port = socket.port({ id: o.id, role: o.role as "client" | "server", name: `udp_swap_echo-${o.id}` });
const rx = port.rxQueue(0);
const tx = port.txQueue(0);
port.on("connected", (e) => console.log(`connected to ${e.peerName}`));
port.on("disconnected", (e) => console.log(`disconnected: ${e.reason}`));
let echoed = 0;
let dropped = 0;
let running = true;
onStop(() => {
  running = false;
  console.log(`echoed ${echoed}, dropped ${dropped} (not IPv4/UDP)`);
  socket.close();
  process.exit(0);
});
console.log(`udp_swap_echo on ${o.socket} (id ${o.id}, ${o.role})`);

/** Swaps a, b (len bytes each) in v. */
function swap(v: Uint8Array, a: number, b: number, len: number): void {
  for (let k = 0; k < len; k++) {
    const t = v[a + k]!;
    v[a + k] = v[b + k]!;
    v[b + k] = t;
  }
}

/** The IPv4 header length of the Ethernet/IPv4/UDP frame at v[p..p+len), or 0 if it is not one. */
function udpIhl(v: Uint8Array, p: number, len: number): number {
  if (len < 42 || v[p + 12] !== 0x08 || v[p + 13] !== 0x00) return 0; // IPv4 only
  const ihl = (v[p + 14]! & 0x0f) * 4;
  if (ihl < 20 || len < 14 + ihl + 8 || v[p + 23] !== 17) return 0; // UDP only
  return ihl;
}

/** Turns the frame at v[p..] into its reply. */
function reply(v: Uint8Array, p: number, ihl: number): void {
  swap(v, p, p + 6, 6); // MACs
  swap(v, p + 26, p + 30, 4); // IPv4 source, destination
  swap(v, p + 14 + ihl, p + 16 + ihl, 2); // UDP ports
}

const rb = new Batch(32);
const tb = new Batch(32);
while (running) {
  const n = rx.rxBurst(rb);
  if (n === 0) {
    await rx.readable();
    continue;
  }
  try {
    let i = 0;
    while (i < n) {
      const got = tx.alloc(tb, n - i);
      if (got === 0) {
        await tx.writable(1000);
        continue;
      }
      let k = 0;
      for (; k < got && i < n; i++) {
        if (rb.hasNext(i)) {
          // A chained frame (bigger than one buffer): drop it, the forwarder sends none.
          i = rb.packetEnd(i) - 1;
          dropped++;
          continue;
        }
        const off = rb.offset(i);
        const len = rb.length(i);
        const src = rb.view(rb.region(i));
        const ihl = udpIhl(src, off, len);
        if (ihl === 0 || len > tb.length(k)) {
          dropped++;
          continue;
        }
        tb.write(k, src.subarray(off, off + len));
        reply(tb.view(tb.region(k)), tb.offset(k), ihl);
        k++;
      }
      echoed += tx.txBurst(tb, k);
    }
  } catch (e) {
    // the peer went away mid-burst: drop the rest, wait for the next connection
    if (!(e instanceof MemifError) || !["NOT_CONNECTED", "STALE_VIEW", "TIMEOUT"].includes(e.code)) throw e;
  }
}
