/** bun-bun: a Bun client and a Bun server, each in its own process, each direction. */
import { BunEndpoint } from "../lib/bun_endpoint.ts";
import { throughput, withPair } from "../lib/measure.ts";
import { BOTH_BUSY, roles, RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

/**
 * bun-bun; with `base` (pps.ts --base DIR), the same cases as scenario bun-base with the Bun peer
 * of the checkout DIR: its benches/bun_peer.ts, ts/ and library.
 */
export function bunBun(base?: string): Case[] {
  const script = base === undefined ? undefined : `${base}/benches/bun_peer.ts`;
  return (["c2s", "s2c"] as const).map((direction): Case => {
    const { txRole, rxRole } = roles(direction);
    return {
      scenario: base === undefined ? "bun-bun" : "bun-base",
      direction,
      role: "both",
      smoke: direction === "c2s",
      busy: BOTH_BUSY,
      tx: `bun ${txRole}`,
      rx: `bun ${rxRole}`,
      run: (o: CaseOptions) =>
        withSocket((socket) => {
          const common = { socket, size: o.size, bufferSize: o.bufferSize, burst: o.burst, queues: o.queues, script };
          const tx = () => new BunEndpoint({ ...common, action: "tx", role: txRole, cpu: TX_CPU });
          const rx = () => new BunEndpoint({ ...common, action: "rx", role: rxRole, cpu: RX_CPU });
          return direction === "c2s"
            ? withPair(rx, tx, (s, c) => throughput(c, s, o.timing))
            : withPair(tx, rx, (s, c) => throughput(s, c, o.timing));
        }),
    };
  });
}
