/**
 * The `udp` scenario's two ends: what a Bun user would reach for instead of memif.
 *
 *   udp-rx  bind 127.0.0.1:0, count datagrams and bytes in the `data` handler
 *   udp-tx  a connected Bun.udpSocket sending `burst` datagrams per `sendMany` call, after "go"
 *
 * The datagrams are `size` bytes of UDP payload (the memif scenarios count whole frames of
 * `size` bytes, so UDP carries slightly more per packet: no headers are subtracted).
 */
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
let refused = 0;

function counters(): Record<string, number> {
  return { t: performance.now(), rx, tx, rxb, txb, dropped: refused };
}

export async function runUdp(o: UdpPeerOptions): Promise<void> {
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
    const sock = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(_s, data) {
          rx++;
          rxb += data.byteLength;
        },
      },
    });
    close = () => sock.close();
    emit("listening", { port: sock.port });
    emit("connected", {});
    return;
  }

  const sock = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port: o.port } });
  close = () => sock.close();
  emit("listening", {});
  emit("connected", {});
  const packets: Uint8Array[] = [];
  for (let i = 0; i < o.burst; i++) packets.push(new Uint8Array(o.size).fill(i));
  const size = o.size;
  const burst = o.burst;

  function step(deadline: number): void {
    for (let k = 1; ; k++) {
      const sent = sock.sendMany(packets);
      tx += sent;
      txb += sent * size;
      refused += burst - sent;
      if ((k & 15) === 0 && performance.now() >= deadline) return;
    }
  }

  const turn = (): void => {
    if (!sending) {
      setTimeout(turn, 1);
      return;
    }
    step(performance.now() + SLICE_MS);
    setImmediate(turn);
  };
  setImmediate(turn);
}
