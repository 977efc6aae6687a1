/** dpdk-dpdk: testpmd txonly → testpmd rxonly over memif, the C baseline, each direction. */
import { throughput, withPair } from "../lib/measure.ts";
import { TestpmdEndpoint } from "../lib/testpmd_endpoint.ts";
import { BOTH_BUSY, roles, RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

export function dpdkDpdk(): Case[] {
  return (["c2s", "s2c"] as const).map((direction): Case => {
    const { txRole, rxRole } = roles(direction);
    return {
      scenario: "dpdk-dpdk",
      direction,
      role: "both",
      smoke: direction === "c2s",
      busy: BOTH_BUSY,
      tx: `testpmd ${txRole} (txonly)`,
      rx: `testpmd ${rxRole} (rxonly)`,
      run: (o: CaseOptions) =>
        withSocket((socket) => {
          const common = { socket, size: o.size, bufferSize: o.bufferSize, burst: o.burst, queues: o.queues };
          const tx = () => new TestpmdEndpoint({ ...common, role: txRole, mode: "txonly", cpu: TX_CPU });
          const rx = () => new TestpmdEndpoint({ ...common, role: rxRole, mode: "rxonly", cpu: RX_CPU });
          return direction === "c2s"
            ? withPair(rx, tx, (s, c) => throughput(c, s, o.timing))
            : withPair(tx, rx, (s, c) => throughput(s, c, o.timing));
        }),
    };
  });
}
