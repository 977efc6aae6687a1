/**
 * echo: round trips of one packet in flight, from a Bun client (the pinger) to a server that
 * sends it back: a Bun server, or testpmd in io or macswap forwarding. The Bun sides receive by
 * polling or by interrupt (eventfd); testpmd always polls.
 */
import { BunEndpoint } from "../lib/bun_endpoint.ts";
import type { Endpoint } from "../lib/endpoint.ts";
import { echo, withPair } from "../lib/measure.ts";
import { TestpmdEndpoint } from "../lib/testpmd_endpoint.ts";
import { RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

export function echoCases(): Case[] {
  const cases: Case[] = [];
  for (const peer of ["bun", "io", "macswap"] as const) {
    for (const mode of ["polling", "interrupt"] as const) {
      cases.push({
        scenario: "echo",
        direction: "round-trip",
        role: "client",
        tx: "bun client (ping)",
        rx: peer === "bun" ? "bun server (echo)" : `testpmd server (${peer})`,
        mode,
        smoke: mode === "polling" && peer !== "macswap",
        // In interrupt mode the Bun ends sleep between packets; testpmd always polls.
        busy: { tx: mode === "polling", rx: mode === "polling" || peer !== "bun" },
        peer: peer === "bun" ? "bun" : `testpmd-${peer}`,
        run: (o: CaseOptions) =>
          withSocket((socket) => {
            const common = { socket, size: o.size, bufferSize: o.bufferSize, burst: o.burst, queues: 1 };
            const echoer = (): Endpoint =>
              peer === "bun"
                ? new BunEndpoint({ ...common, action: "echo", role: "server", cpu: RX_CPU, rxMode: mode })
                : new TestpmdEndpoint({ ...common, role: "server", mode: peer, cpu: RX_CPU });
            const pinger = () =>
              new BunEndpoint({ ...common, action: "ping", role: "client", cpu: TX_CPU, rxMode: mode });
            return withPair(echoer, pinger, (s, c) => echo(c, s, o.timing));
          }),
      });
    }
  }
  return cases;
}
