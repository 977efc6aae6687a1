/** bun-bun: a Bun client and a Bun server, each in its own process, each direction. */
import { BunEndpoint } from "../lib/bun_endpoint.ts";
import { throughput, withPair } from "../lib/measure.ts";
import { BOTH_BUSY, roles, RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

export function bunBun(): Case[] {
  return (["c2s", "s2c"] as const).map((direction): Case => {
    const { txRole, rxRole } = roles(direction);
    return {
      scenario: "bun-bun",
      direction,
      role: "both",
      smoke: direction === "c2s",
      busy: BOTH_BUSY,
      tx: `bun ${txRole}`,
      rx: `bun ${rxRole}`,
      run: (o: CaseOptions) =>
        withSocket((socket) => {
          const common = { socket, size: o.size, burst: o.burst, queues: o.queues };
          const tx = () => new BunEndpoint({ ...common, action: "tx", role: txRole, cpu: TX_CPU });
          const rx = () => new BunEndpoint({ ...common, action: "rx", role: rxRole, cpu: RX_CPU });
          return direction === "c2s"
            ? withPair(rx, tx, (s, c) => throughput(c, s, o.timing))
            : withPair(tx, rx, (s, c) => throughput(s, c, o.timing));
        }),
    };
  });
}
