/**
 * udp_client: a UDP client on a zmemif UDP socket that speaks first, talking to udp_echo.ts (or
 * any UDP echo behind the zmemif forwarder). It sends numbered datagrams one at a time, checks
 * that each comes back unchanged, and prints the round-trip times.
 *
 * Straight over memif, with udp_echo as the memif server (no forwarder, no kernel):
 *
 *   bun examples/udp_echo.ts --role server --socket @zmemif-udp --host 192.0.2.1 --ports 5000
 *   bun examples/udp_client.ts --socket @zmemif-udp --host 192.0.2.2 --to 192.0.2.1:5000 \
 *     --mac 02:00:00:00:00:02 --next-hop-mac 02:00:00:00:00:01
 *
 * What a client that speaks first needs, beyond a server's options:
 *  - `hostname` (--host): the source address of its datagrams. A server learns it from nothing,
 *    a client must say it (0.0.0.0 is not a source);
 *  - `mac` (--mac): its own MAC. A server learns it from the first frame it receives (the
 *    forwarder's uplink MAC); a client that sends first has received nothing yet;
 *  - `nextHopMac` (--next-hop-mac): where frames to an address never heard from go (the router,
 *    or here the echo's MAC, which the echo then learns as its own);
 *  - `role`: memif client behind the forwarder (its default), server when the peer is a client.
 * Behind the forwarder, --mac is the forwarder's uplink MAC and --next-hop-mac the router's.
 *
 * If the memif peer goes away, the client waits for it (send() returns false and
 * `await socket.writable()` waits through the reconnect); a datagram whose echo does not come
 * back within --timeout-ms counts as lost.
 */
import { udpSocket, type UdpSocket } from "zmemif";
import { cli, percentile, us } from "./cli.ts";

/** The two commands --help shows (docs/udp-migration.md shows them too; a test runs them). */
const COMMANDS = [
  "bun examples/udp_echo.ts --role server --socket @zmemif-udp --host 192.0.2.1 --ports 5000",
  "bun examples/udp_client.ts --socket @zmemif-udp --host 192.0.2.2 --to 192.0.2.1:5000 --mac 02:00:00:00:00:02 --next-hop-mac 02:00:00:00:00:01",
];
const SUMMARY =
  "UDP client over memif that sends first and checks the echoes. Straight over memif, against\n" +
  `udp_echo.ts as the memif server (no forwarder):\n\n  ${COMMANDS[0]}\n  ${COMMANDS[1]}\n\n` +
  "A client that speaks first must give its address (--host), its MAC (--mac; behind the forwarder:\n" +
  "the uplink NIC's) and the next hop's MAC (--next-hop-mac; the router's, or the echo's here).";

const o = cli("udp_client", SUMMARY, {
  role: {
    type: "choice",
    default: "client",
    choices: ["client", "server"],
    help: "memif role (the forwarder is the server)",
  },
  socket: { type: "string", default: "/run/memif.sock", help: "memif control socket: a path, or @name (abstract)" },
  id: { type: "int", default: "0", min: 0, max: 0xffffffff, help: "memif interface id" },
  host: { type: "string", default: "192.0.2.2", help: "our IPv4/IPv6 address (the datagrams' source)" },
  to: { type: "string", default: "192.0.2.1:5000", help: "the echo service, ADDRESS:PORT ([v6]:port for IPv6)" },
  mac: { type: "string", default: "02:00:00:00:00:02", help: "our MAC (behind the forwarder: its uplink MAC)" },
  "next-hop-mac": {
    type: "string",
    default: "02:00:00:00:00:01",
    help: "MAC for the echo's address (the router's, or the echo's)",
  },
  mode: { type: "choice", default: "ethernet", choices: ["ethernet", "ip"], help: "memif mode (ip: no MACs needed)" },
  count: { type: "int", default: "10", min: 1, max: 1e9, help: "datagrams to send" },
  size: { type: "int", default: "64", min: 8, max: 65507, help: "payload bytes (larger than the MTU: fragmented)" },
  "interval-ms": { type: "number", default: "0", min: 0, max: 60000, help: "pause between datagrams" },
  "timeout-ms": { type: "int", default: "1000", min: 1, max: 600000, help: "wait this long for each echo" },
  "connect-timeout-ms": {
    type: "int",
    default: "10000",
    min: -1,
    max: 3600000,
    help: "wait for the memif peer, -1: forever",
  },
});

const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(o.to);
if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
  process.stderr.write(
    `udp_client: --to must be ADDRESS:PORT, like 192.0.2.1:5000 or [2001:db8::1]:5000, got '${o.to}'\n`,
  );
  process.exit(2);
}
const [toHost, toPort] = [m[1]!, Number(m[2])];

/** Datagram seq: seq (u32 LE) then (seq + k) & 0xff. */
function payload(seq: number): Uint8Array {
  const b = new Uint8Array(o.size);
  for (let k = 4; k < b.length; k++) b[k] = (seq + k) & 0xff;
  new DataView(b.buffer).setUint32(0, seq, true);
  return b;
}

let waiting: { seq: number; expect: Uint8Array; done: (ok: boolean) => void } | null = null;
let wrong = 0;
const peer = o.role === "client" ? "server (the forwarder, or udp_echo --role server)" : "client";
console.log(`waiting for a memif ${peer} on ${o.socket} (id ${o.id}); --socket and --id to change`);
let socket: UdpSocket<"uint8array">;
try {
  socket = await udpSocket({
    hostname: o.host,
    binaryType: "uint8array",
    connect: { hostname: toHost, port: toPort }, // send(data) goes there; only its datagrams arrive
    memif: {
      socket: o.socket,
      id: o.id,
      role: o.role as "client" | "server",
      mode: o.mode as "ethernet" | "ip",
      ...(o.mode === "ethernet" ? { mac: o.mac, nextHopMac: o["next-hop-mac"] } : {}),
      connectTimeoutMs: o["connect-timeout-ms"],
      name: "udp_client",
    },
    socket: {
      data(_s, data) {
        const w = waiting;
        if (w === null || data.byteLength < 4) return; // late: its sender counted it lost
        const seq = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
        if (seq !== w.seq) return;
        const same = data.byteLength === w.expect.byteLength && data.every((x, k) => x === w.expect[k]);
        if (!same) wrong++;
        w.done(same);
      },
    },
  });
} catch (e) {
  console.error(`udp_client: ${(e as Error).message}`);
  process.exit(1);
}
const port = socket.memif.port;
console.log(`connected to ${port.peerName}; ${o.host}:${socket.port} -> ${toHost}:${toPort}`);
port.on("disconnected", (e) => console.log(`disconnected: ${e.reason}; waiting for the peer to come back`));
port.on("connected", (e) => console.log(`connected to ${e.peerName} again`));

const rtts: number[] = [];
let lost = 0;
for (let seq = 0; seq < o.count; seq++) {
  const data = payload(seq);
  const t0 = performance.now();
  const echoed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), o["timeout-ms"]);
    waiting = {
      seq,
      expect: data,
      done: (ok) => {
        clearTimeout(timer);
        resolve(ok);
      },
    };
  });
  // false: the ring is full or the memif peer is gone; writable() waits for either to pass
  while (!socket.send(data)) await socket.writable();
  if (await echoed) rtts.push(performance.now() - t0);
  else lost++;
  waiting = null;
  if (o["interval-ms"] > 0) await Bun.sleep(o["interval-ms"]);
}
rtts.sort((a, b) => a - b);
console.log(
  `sent ${o.count} datagrams of ${o.size} bytes, ${rtts.length} echoed unchanged, ${wrong} changed, ${lost} lost; ` +
    `rtt min ${us(rtts[0] ?? NaN)}, p50 ${us(percentile(rtts, 50))}, p99 ${us(percentile(rtts, 99))}, ` +
    `max ${us(rtts[rtts.length - 1] ?? NaN)}`,
);
socket.close();
process.exit(lost === 0 && wrong === 0 ? 0 : 1);
