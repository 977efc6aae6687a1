// Node.js side of tests/node_udp.test.ts, run by `node` on the compiled package (dist/node.js):
// UDP sockets over memif on the N-API backend.
//   node tests/helpers/node_udp.mjs echo SOCKET API      a UDP echo service, memif server,
//        192.0.2.1 ports 5000-5001; API: data (udpSocket's data handler), batch (its batch
//        handler + sendView) or dgram (createSocket); prints "listening", then on SIGTERM
//        "echoed N" and its counters as one JSON line
//   node tests/helpers/node_udp.mjs client SOCKET API    a memif client at 198.51.100.9:40000
//        (API: data or dgram) sending datagrams of SIZES to 192.0.2.1:5000/5001 (at most 16
//        unanswered), checking every reply; prints one JSON line {replies, wrong, bad, stats}
// Datagram i is bytes(size, i) with i in its first 4 bytes (big-endian), as the Bun side makes it.
import { createSocket, udpSocket } from "../../dist/node.js";

const HOST4 = "192.0.2.1";
const CLIENT4 = "198.51.100.9";
const CLIENT_MAC = "02:00:00:00:00:0c";
const HOST_MAC = "02:00:00:00:00:0f";
/** 1 to 9000 bytes: the largest are fragmented on the way and reassembled at the other end */
const SIZES = [4, 5, 63, 64, 100, 511, 1024, 1472, 1473, 2000, 4000, 9000];
for (let i = 0; i < 200; i++) SIZES.push(4 + ((i * 97) % 1469));

function bytes(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 17 + i * 5 + (i >> 7)) & 0xff;
  new DataView(b.buffer).setUint32(0, seed);
  return b;
}

function same(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const [what, path, api] = process.argv.slice(2);

async function echo() {
  const memif = { socket: path, role: "server", connectTimeoutMs: 0, name: "node-udp-echo" };
  let echoed = 0;
  const sockets = [];
  const closers = [];
  for (const port of [5000, 5001]) {
    if (api === "dgram") {
      const s = createSocket({ type: "udp4", memif });
      s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address, () => echoed++));
      s.on("error", (e) => console.error(`echo: ${e.message}`));
      await new Promise((resolve) => s.bind(port, HOST4, resolve));
      sockets.push(s.socket);
      closers.push(() => s.close());
      continue;
    }
    // replies that found the ring full wait here for `drain`
    const pending = [];
    const retry = (s) => {
      while (pending.length > 0 && s.send(...pending[0])) {
        pending.shift();
        echoed++;
      }
    };
    const handler =
      api === "batch"
        ? {
            batch(s, d) {
              for (let i = 0; i < d.count; i++) {
                if (pending.length === 0 && s.sendView(d.view(i), d.offset(i), d.length(i), d.port(i), d.address(i)))
                  echoed++;
                else pending.push([d.copy(i), d.port(i), d.address(i)]);
              }
            },
            drain: retry,
          }
        : {
            data(s, data, rport, address) {
              if (pending.length === 0 && s.send(data, rport, address)) echoed++;
              else pending.push([data.slice(), rport, address]);
            },
            drain: retry,
          };
    const s = await udpSocket({ hostname: HOST4, port, memif, socket: handler });
    sockets.push(s);
    closers.push(() => s.close());
  }
  process.on("SIGTERM", () => {
    console.log(`echoed ${echoed}`);
    const all = sockets.map((s) => s.stats());
    console.log(
      JSON.stringify({ ...all[0], rx: all.reduce((n, st) => n + st.rx, 0), tx: all.reduce((n, st) => n + st.tx, 0) }),
    );
    for (const c of closers) c();
    process.exit(0);
  });
  console.log("listening");
}

async function client() {
  const memif = {
    socket: path,
    connectTimeoutMs: 10_000,
    mac: CLIENT_MAC,
    nextHopMac: HOST_MAC,
    name: "node-udp-client",
  };
  const replies = new Map();
  const wrong = [];
  const onReply = (data, port, address) => {
    if (address !== HOST4 || (port !== 5000 && port !== 5001)) wrong.push(`${address}:${port}`);
    replies.set(new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0), Uint8Array.from(data));
  };
  let send;
  let stats;
  let close;
  if (api === "dgram") {
    const s = createSocket({ type: "udp4", memif });
    s.on("message", (msg, rinfo) => onReply(msg, rinfo.port, rinfo.address));
    await new Promise((resolve) => s.bind(40000, CLIENT4, resolve));
    await s.socket.memif.port.connect({ timeoutMs: 10_000 });
    // node:dgram's send queues what does not fit the ring: it never refuses
    send = async (b, port) => s.send(b, port, HOST4);
    stats = () => s.socket.stats();
    close = () => s.close();
  } else {
    const s = await udpSocket({
      hostname: CLIENT4,
      port: 40000,
      memif,
      socket: { data: (_s, d, p, a) => onReply(d, p, a) },
    });
    send = async (b, port) => {
      while (!s.send(b, port, HOST4)) await s.writable(5000);
    };
    stats = () => s.stats();
    close = () => s.close();
  }
  for (let i = 0; i < SIZES.length; i++) {
    const deadline = performance.now() + 5000;
    while (i - replies.size >= 16) {
      if (performance.now() > deadline) throw new Error(`no replies: ${replies.size} of ${i} back`);
      await sleep(1);
    }
    await send(bytes(SIZES[i], i), 5000 + (i % 2));
  }
  const deadline = performance.now() + 5000;
  while (replies.size < SIZES.length && performance.now() < deadline) await sleep(2);
  const bad = [];
  for (let i = 0; i < SIZES.length; i++) {
    const got = replies.get(i);
    if (got === undefined || !same(got, bytes(SIZES[i], i))) bad.push(i);
  }
  const st = stats();
  close();
  console.log(JSON.stringify({ sent: SIZES.length, replies: replies.size, wrong, bad, stats: st }));
}

if (what === "echo" && ["data", "batch", "dgram"].includes(api)) await echo();
else if (what === "client" && ["data", "dgram"].includes(api)) await client();
else {
  console.error("usage: node_udp.mjs echo SOCKET data|batch|dgram | client SOCKET data|dgram");
  process.exit(2);
}
