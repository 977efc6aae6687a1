/**
 * udp.ts for the Node.js build of the bench peer (benches/lib/node_peer.ts swaps it in): the
 * `dgram` scenario's two ends, what a Node.js user would reach for instead of memif.
 *
 *   udp-rx  node:dgram bound to 127.0.0.1:0, counting datagrams and bytes in the message handler
 *   udp-tx  a connected node:dgram socket; node:dgram has no sendMany, so it keeps up to 4 ×
 *           `burst` sends in flight (each send completes through a callback)
 */
import { createSocket } from "node:dgram";
import { emit, listen, type Command } from "./control.ts";

export interface UdpPeerOptions {
  action: "udp-tx" | "udp-rx";
  port: number;
  size: number;
  burst: number;
}

let rx = 0;
let tx = 0;
let rxb = 0;
let txb = 0;
let failed = 0;

function counters(): Record<string, number> {
  return { t: performance.now(), rx, tx, rxb, txb, dropped: failed };
}

export async function runUdp(o: UdpPeerOptions): Promise<void> {
  let sending = false;
  let close: () => void = () => {};
  listen((cmd: Command) => {
    switch (cmd) {
      case "go":
        sending = true;
        return;
      case "prep":
        emit("prepped");
        return;
      case "mark":
        emit("mark", counters());
        return;
      case "stop":
        sending = false;
        emit("stopped", counters());
        return;
      case "quit":
        emit("done", { ...counters(), heap: null });
        close();
        process.exit(0);
    }
  });

  if (o.action === "udp-rx") {
    const sock = createSocket("udp4");
    sock.on("message", (msg) => {
      rx++;
      rxb += msg.byteLength;
    });
    await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
    close = () => sock.close();
    emit("listening", { port: sock.address().port });
    emit("connected", {});
    return;
  }

  const sock = createSocket("udp4");
  await new Promise<void>((resolve) => sock.connect(o.port, "127.0.0.1", resolve));
  close = () => sock.close();
  emit("listening", {});
  emit("connected", {});
  const packet = new Uint8Array(o.size).fill(7);
  const size = o.size;
  const limit = 4 * o.burst;
  let inflight = 0;
  const done = (err: Error | null): void => {
    inflight--;
    if (err !== null) failed++;
    else {
      tx++;
      txb += size;
    }
  };

  const turn = (): void => {
    if (!sending) {
      setTimeout(turn, 1);
      return;
    }
    // Top up to `limit` sends in flight; their completions arrive on the next loop turns.
    while (inflight < limit) {
      inflight++;
      sock.send(packet, done);
    }
    setImmediate(turn);
  };
  setImmediate(turn);
}
