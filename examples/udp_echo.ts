/**
 * udp_echo: a UDP echo service on zmemif UDP sockets, behind the zmemif forwarder (or any memif
 * peer carrying Ethernet or IP frames). Every datagram goes back to its sender.
 *
 *   bun examples/udp_echo.ts --socket /run/memif.sock --host 192.0.2.1 --ports 5000-5099
 *   bun examples/udp_echo.ts --host 192.0.2.1 --ports 5000 /run/memif.sock 0    # SOCKET ID last
 *
 * The trailing `SOCKET [ID]` form is what the forwarder's end-to-end test appends
 * (ECHO_CMD="bun examples/udp_echo.ts --host 192.0.2.1 --ports ..."). --api picks the socket
 * shape: `data` (Bun.udpSocket's handler, one zero-copy Buffer per datagram), `batch` (the
 * zero-allocation burst handler + sendView) or `dgram` (node:dgram's events). A reply that finds
 * the ring full waits in a queue for the `drain` handler: nothing is dropped. SIGTERM prints the
 * counters and exits.
 */
import { createSocket, udpSocket, type MemifUdpOptions, type UdpSocket } from "zmemif";
import { cli, onStop } from "./cli.ts";

const SPECS = {
  role: {
    type: "choice",
    default: "client",
    choices: ["client", "server"],
    help: "memif role (the forwarder is the server)",
  },
  socket: { type: "string", default: "/run/memif.sock", help: "memif control socket: a path, or @name (abstract)" },
  id: { type: "int", default: "0", min: 0, max: 0xffffffff, help: "memif interface id" },
  host: { type: "string", default: "0.0.0.0", help: "local address to bind (0.0.0.0: any IPv4, :: any)" },
  ports: { type: "string", default: "5000", help: "UDP ports to serve: 5000, 5000-5099, or a list 5000,6000-6009" },
  mode: { type: "choice", default: "ethernet", choices: ["ethernet", "ip"], help: "memif mode (ip: bare IP packets)" },
  api: { type: "choice", default: "data", choices: ["data", "batch", "dgram"], help: "socket shape used" },
  "rx-mode": {
    type: "choice",
    default: "adaptive",
    choices: ["adaptive", "interrupt", "polling"],
    help: "how rx waits",
  },
  "connect-timeout-ms": {
    type: "int",
    default: "-1",
    min: -1,
    max: 3600000,
    help: "wait for the memif peer, -1: forever",
  },
} as const;

// `SOCKET [ID]` at the end stand for --socket and --id
const args = process.argv.slice(2);
const opts: string[] = [];
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a.startsWith("--")) {
    opts.push(a);
    const name = a.slice(2).split("=")[0]!;
    if (name !== "help" && !a.includes("=") && name in SPECS && i + 1 < args.length) opts.push(args[++i]!);
  } else positional.push(a);
}
if (positional.length > 2) {
  process.stderr.write("udp_echo: at most SOCKET and ID after the options\n");
  process.exit(2);
}
if (positional[0] !== undefined) opts.push("--socket", positional[0]);
if (positional[1] !== undefined) opts.push("--id", positional[1]);
process.argv.splice(2, args.length, ...opts);

const o = cli("udp_echo", "UDP echo service on zmemif UDP sockets (options, then optionally SOCKET [ID]).", SPECS);

function portList(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const lo = Number(m?.[1]);
    const hi = Number(m?.[2] ?? m?.[1]);
    if (m === null || lo < 1 || hi > 65535 || lo > hi) {
      process.stderr.write(`udp_echo: --ports must be like 5000 or 5000-5099,6000, got '${spec}'\n`);
      process.exit(2);
    }
    for (let p = lo; p <= hi; p++) out.push(p);
  }
  return out;
}

const ports = portList(o.ports);
const memif: MemifUdpOptions = {
  socket: o.socket,
  id: o.id,
  role: o.role as "client" | "server",
  mode: o.mode as "ethernet" | "ip",
  rxMode: o["rx-mode"] as "adaptive" | "interrupt" | "polling",
  // bind every port first, then wait for the memif peer (below): no datagram finds a port unbound
  connectTimeoutMs: 0,
  name: "udp_echo",
};

let echoed = 0;
const closers: (() => void)[] = [];
const sockets: UdpSocket<"buffer">[] = [];

if (o.api === "dgram") {
  for (const port of ports) {
    const s = createSocket({ type: o.host.includes(":") ? "udp6" : "udp4", memif });
    // send() queues what does not fit the ring and sends it on drain: nothing is dropped
    s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address, () => echoed++));
    s.on("error", (e) => console.error(`udp_echo: ${e.message}`));
    await new Promise<void>((resolve) => s.bind(port, o.host, resolve));
    closers.push(() => s.close());
    if (s.socket !== null) sockets.push(s.socket);
  }
} else {
  // Replies that found the ring full, per socket, sent again by `drain`.
  const pending = new Map<UdpSocket<"buffer">, [Uint8Array, number, string][]>();
  const retry = (s: UdpSocket<"buffer">) => {
    const q = pending.get(s) ?? [];
    while (q.length > 0 && s.send(...q[0]!)) {
      q.shift();
      echoed++;
    }
  };
  for (const port of ports) {
    const s: UdpSocket<"buffer"> = await udpSocket({
      hostname: o.host,
      port,
      memif,
      socket:
        o.api === "batch"
          ? {
              // the hot path: a burst at a time, payloads copied ring to ring, nothing allocated
              batch(s, d) {
                for (let i = 0; i < d.count; i++) {
                  if (s.sendView(d.view(i), d.offset(i), d.length(i), d.port(i), d.address(i))) echoed++;
                  else pending.get(s)!.push([d.copy(i), d.port(i), d.address(i)]);
                }
              },
              drain: retry,
            }
          : {
              data(s, data, port, address) {
                if (pending.get(s)!.length === 0 && s.send(data, port, address)) echoed++;
                else pending.get(s)!.push([data.slice(), port, address]);
              },
              drain: retry,
            },
    });
    pending.set(s, []);
    closers.push(() => s.close());
    sockets.push(s);
  }
}

const timeoutMs = o["connect-timeout-ms"];
const peer = o.role === "client" ? "server (the forwarder)" : "client";
console.log(`waiting for a memif ${peer} on ${o.socket} (id ${o.id}); --socket and --id to change`);
await sockets[0]!.memif.port.connect(timeoutMs >= 0 ? { timeoutMs } : {}).catch((e: Error) => {
  console.error(`udp_echo: ${e.message}`);
  process.exit(1);
});
const range = ports.length === 1 ? `${ports[0]}` : `${ports[0]}..${ports[ports.length - 1]} (${ports.length} ports)`;
console.log(`listening on ${o.host}:${range} over memif ${o.socket} id ${o.id} (${o.role}, ${o.api} api)`);
onStop(() => {
  console.log(`echoed ${echoed} datagrams`);
  // the interface's counters (shared by the sockets) and the sockets' own, summed
  const all = sockets.map((s) => s.stats());
  const sum = (k: "rx" | "tx" | "refused") => all.reduce((n, st) => n + st[k], 0);
  console.log(JSON.stringify({ ...all[0], rx: sum("rx"), tx: sum("tx"), refused: sum("refused") }));
  for (const c of closers) c();
  process.exit(0);
});
