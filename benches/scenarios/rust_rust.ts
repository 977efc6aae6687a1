/**
 * rust-rust: zmemif-peer source → zmemif-peer sink, the binding's ceiling, each direction; with
 * `base` (pps.ts --base DIR), the same cases as scenario rust-base with the zmemif-peer built in
 * the checkout DIR (its target/release/zmemif-peer).
 */
import { throughput, withPair } from "../lib/measure.ts";
import { RustEndpoint } from "../lib/rust_endpoint.ts";
import { BOTH_BUSY, roles, RX_CPU, TX_CPU, withSocket, type Case, type CaseOptions } from "./case.ts";

/** The source has no stop command: it sends for the warm-up, the window and this margin. */
const MARGIN_S = 1;

export function rustRust(base?: string): Case[] {
  return (["c2s", "s2c"] as const).map((direction): Case => {
    const { txRole, rxRole } = roles(direction);
    return {
      scenario: base === undefined ? "rust-rust" : "rust-base",
      direction,
      role: "both",
      smoke: direction === "c2s",
      busy: BOTH_BUSY,
      tx: `rust ${txRole}`,
      rx: `rust ${rxRole}`,
      run: (o: CaseOptions) =>
        withSocket((socket) => {
          const common = {
            socket,
            size: o.size,
            bufferSize: o.bufferSize,
            burst: o.burst,
            queues: o.queues,
            checkout: base,
          };
          const seconds = o.timing.warmup + o.timing.seconds + MARGIN_S;
          const tx = () => new RustEndpoint({ ...common, action: "source", role: txRole, cpu: TX_CPU, seconds });
          const rx = () => new RustEndpoint({ ...common, action: "sink", role: rxRole, cpu: RX_CPU });
          return direction === "c2s"
            ? withPair(rx, tx, (s, c) => throughput(c, s, o.timing))
            : withPair(tx, rx, (s, c) => throughput(s, c, o.timing));
        }),
    };
  });
}
