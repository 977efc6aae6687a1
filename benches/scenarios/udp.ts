/** udp: Bun.udpSocket on loopback, sendMany bursts one way: what users would use instead. */
import { BunEndpoint } from "../lib/bun_endpoint.ts";
import { throughput } from "../lib/measure.ts";
import { RX_CPU, TX_CPU, type Case, type CaseOptions } from "./case.ts";

export function udp(): Case[] {
  return [
    {
      scenario: "udp",
      direction: "loopback",
      role: "-",
      smoke: true,
      // The receiver sleeps in the event loop between datagrams.
      busy: { tx: true, rx: false },
      tx: "bun udpSocket (sendMany)",
      rx: "bun udpSocket",
      run: async (o: CaseOptions) => {
        const rx = new BunEndpoint({ action: "udp-rx", size: o.size, burst: o.burst, cpu: RX_CPU });
        let tx: BunEndpoint | undefined;
        try {
          await rx.listening();
          const port = await rx.udpPort();
          tx = new BunEndpoint({ action: "udp-tx", size: o.size, burst: o.burst, cpu: TX_CPU, port });
          await Promise.all([rx.connected(), tx.connected()]);
          return await throughput(tx, rx, o.timing);
        } finally {
          await tx?.kill();
          await rx.kill();
        }
      },
    },
  ];
}
