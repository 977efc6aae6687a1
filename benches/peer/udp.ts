/**
 * The `udp` and `dgram` scenarios' two ends: what a user would reach for instead of memif, in the
 * runtime the peer runs on (Bun, or Node.js for the build of benches/lib/node_peer.ts).
 *
 *   udp-rx  bind 127.0.0.1:0, count datagrams and bytes as they arrive
 *   udp-tx  a connected socket on the receiver's port, sending after "go":
 *           Bun: a Bun.udpSocket sending `burst` datagrams per `sendMany` call;
 *           Node.js: a node:dgram socket, which has no sendMany, keeping 4 × `burst` sends in
 *           flight (each completes through a callback)
 *
 * The datagrams are `size` bytes of UDP payload (the memif scenarios count whole frames of
 * `size` bytes, so UDP carries slightly more per packet: no headers are subtracted).
 */
import { createSocket } from "node:dgram";
import { emit, listen, SLICE_MS, type Command } from "./control.ts";
import { HeapWatch } from "./heap.ts";

export interface UdpPeerOptions {
  action: "udp-tx" | "udp-rx";
  /** udp-tx: the receiver's port on 127.0.0.1 */
  port: number;
  size: number;
  burst: number;
}

let rx = 0;
let tx = 0;
let rxb = 0;
let txb = 0;
/** sends the socket refused (Bun) or that failed (Node.js) */
let dropped = 0;

function counters(): Record<string, number> {
  return { t: performance.now(), rx, tx, rxb, txb, dropped };
}

function received(bytes: number): void {
  rx++;
  rxb += bytes;
}

/** The two ends on one runtime: a receiver, and a sender whose `pump` sends until `deadline`. */
interface Sockets {
  receiver(): Promise<{ port: number; close(): void }>;
  sender(o: UdpPeerOptions): Promise<{ pump(deadline: number): void; close(): void }>;
}

const bunSockets: Sockets = {
  async receiver() {
    const sock = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data: (_s, data) => received(data.byteLength) },
    });
    return { port: sock.port, close: () => sock.close() };
  },
  async sender(o) {
    const sock = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port: o.port } });
    const packets: Uint8Array[] = [];
    for (let i = 0; i < o.burst; i++) packets.push(new Uint8Array(o.size).fill(i));
    const { size, burst } = o;
    return {
      pump(deadline) {
        for (let k = 1; ; k++) {
          const sent = sock.sendMany(packets);
          tx += sent;
          txb += sent * size;
          dropped += burst - sent;
          if ((k & 15) === 0 && performance.now() >= deadline) return;
        }
      },
      close: () => sock.close(),
    };
  },
};

const nodeSockets: Sockets = {
  async receiver() {
    const sock = createSocket("udp4");
    sock.on("message", (msg) => received(msg.byteLength));
    await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
    return { port: sock.address().port, close: () => sock.close() };
  },
  async sender(o) {
    const sock = createSocket("udp4");
    await new Promise<void>((resolve) => sock.connect(o.port, "127.0.0.1", resolve));
    const packet = new Uint8Array(o.size).fill(7);
    const size = o.size;
    const limit = 4 * o.burst;
    let inflight = 0;
    const done = (err: Error | null): void => {
      inflight--;
      if (err !== null) dropped++;
      else {
        tx++;
        txb += size;
      }
    };
    return {
      // Top up to `limit` sends in flight; their completions arrive on the next loop turns.
      pump() {
        while (inflight < limit) {
          inflight++;
          sock.send(packet, done);
        }
      },
      close: () => sock.close(),
    };
  },
};

export async function runUdp(o: UdpPeerOptions): Promise<void> {
  const sockets = process.versions.bun !== undefined ? bunSockets : nodeSockets;
  const heap = new HeapWatch();
  let sending = false;
  let marks = 0;
  let close: () => void = () => {};

  listen((cmd: Command) => {
    switch (cmd) {
      case "go":
        sending = true;
        return;
      case "prep":
        heap.prep();
        emit("prepped");
        return;
      case "mark": {
        const c = counters();
        if (++marks % 2 === 1) heap.open();
        else heap.close();
        emit("mark", c);
        return;
      }
      case "stop":
        sending = false;
        emit("stopped", counters());
        return;
      case "quit":
        emit("done", { ...counters(), heap: heap.report() });
        close();
        process.exit(0);
    }
  });

  if (o.action === "udp-rx") {
    const r = await sockets.receiver();
    close = r.close;
    emit("listening", { port: r.port });
    emit("connected", {});
    return;
  }

  const s = await sockets.sender(o);
  close = s.close;
  emit("listening", {});
  emit("connected", {});
  const turn = (): void => {
    if (!sending) {
      setTimeout(turn, 1);
      return;
    }
    s.pump(performance.now() + SLICE_MS);
    setImmediate(turn);
  };
  setImmediate(turn);
}
