/**
 * bun-dpdk: Bun and dpdk-testpmd over memif. Bun receives (testpmd txonly) or transmits (testpmd
 * rxonly), as client and as server: four cases, compared with dpdk-dpdk in the same direction.
 */
import { BunEndpoint } from "../lib/bun_endpoint.ts";
import type { Endpoint } from "../lib/endpoint.ts";
import { throughput, withPair } from "../lib/measure.ts";
import { TestpmdEndpoint } from "../lib/testpmd_endpoint.ts";
import { BOTH_BUSY, RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

export function bunDpdk(): Case[] {
  const cases: Case[] = [];
  for (const bunRole of ["client", "server"] as const) {
    const tpRole = bunRole === "client" ? "server" : "client";
    for (const bunSends of [false, true]) {
      const txRole = bunSends ? bunRole : tpRole;
      cases.push({
        scenario: "bun-dpdk",
        direction: txRole === "client" ? "c2s" : "s2c",
        role: bunRole,
        // one case per role: Bun receiving as client, Bun sending as server
        smoke: bunSends === (bunRole === "server"),
        busy: BOTH_BUSY,
        tx: bunSends ? `bun ${bunRole}` : `testpmd ${tpRole} (txonly)`,
        rx: bunSends ? `testpmd ${tpRole} (rxonly)` : `bun ${bunRole}`,
        run: (o: CaseOptions) =>
          withSocket((socket) => {
            const common = { socket, size: o.size, bufferSize: o.bufferSize, burst: o.burst, queues: o.queues };
            const [bunCpu, tpCpu] = bunSends ? [TX_CPU, RX_CPU] : [RX_CPU, TX_CPU];
            const bun = (): Endpoint =>
              new BunEndpoint({ ...common, action: bunSends ? "tx" : "rx", role: bunRole, cpu: bunCpu });
            const tp = (): Endpoint =>
              new TestpmdEndpoint({ ...common, role: tpRole, mode: bunSends ? "rxonly" : "txonly", cpu: tpCpu });
            const [server, client] = bunRole === "server" ? [bun, tp] : [tp, bun];
            return withPair(server, client, (s, c) => {
              const [b, t] = bunRole === "server" ? [s, c] : [c, s];
              return bunSends ? throughput(b, t, o.timing) : throughput(t, b, o.timing);
            });
          }),
      });
    }
  }
  return cases;
}
