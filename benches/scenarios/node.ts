/**
 * Node.js: the same peer as bun-bun built for Node.js (lib/node_peer.ts, the N-API backend), and
 * what a Node.js user would use instead of memif (node:dgram).
 *   node-bun   a Node.js client sending to a Bun server, and a Bun client sending to a Node.js
 *              server (c2s both): Node's tx and Node's rx, each beside bun-bun's c2s
 *   node-node  a Node.js client sending to a Node.js server (c2s)
 *   dgram      node:dgram on 127.0.0.1, one send per datagram → a receiving node:dgram socket
 */
import { BunEndpoint } from "../lib/bun_endpoint.ts";
import { throughput, withPair } from "../lib/measure.ts";
import { nodePeer } from "../lib/node_peer.ts";
import { BOTH_BUSY, RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

type Runtime = "bun" | "node";

function memifCase(scenario: "node-bun" | "node-node", txRt: Runtime, rxRt: Runtime, smoke: boolean): Case {
  return {
    scenario,
    direction: "c2s",
    // the Node.js side under test: its role (both in node-node)
    role: scenario === "node-node" ? "both" : txRt === "node" ? "client" : "server",
    smoke,
    busy: BOTH_BUSY,
    tx: `${txRt} client`,
    rx: `${rxRt} server`,
    run: async (o: CaseOptions) => {
      const script = await nodePeer();
      return withSocket((socket) => {
        const common = { socket, size: o.size, bufferSize: o.bufferSize, burst: o.burst, queues: o.queues, script };
        const tx = () => new BunEndpoint({ ...common, runtime: txRt, action: "tx", role: "client", cpu: TX_CPU });
        const rx = () => new BunEndpoint({ ...common, runtime: rxRt, action: "rx", role: "server", cpu: RX_CPU });
        return withPair(rx, tx, (s, c) => throughput(c, s, o.timing));
      });
    },
  };
}

export function nodeBun(): Case[] {
  return [memifCase("node-bun", "node", "bun", true), memifCase("node-bun", "bun", "node", true)];
}

export function nodeNode(): Case[] {
  return [memifCase("node-node", "node", "node", false)];
}

export function dgram(): Case[] {
  return [
    {
      scenario: "dgram",
      direction: "loopback",
      role: "-",
      smoke: true,
      // The receiver sleeps in the event loop between datagrams.
      busy: { tx: true, rx: false },
      tx: "node dgram (send)",
      rx: "node dgram",
      run: async (o: CaseOptions) => {
        const script = await nodePeer();
        const common = { size: o.size, burst: o.burst, runtime: "node" as const, script };
        const rx = new BunEndpoint({ ...common, action: "udp-rx", cpu: RX_CPU });
        let tx: BunEndpoint | undefined;
        try {
          await rx.listening();
          const port = await rx.udpPort();
          tx = new BunEndpoint({ ...common, action: "udp-tx", cpu: TX_CPU, port });
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
