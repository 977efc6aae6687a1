/** The scenario registry: names (part of the CLI contract) to their cases. */
import { bunBun } from "./bun_bun.ts";
import { bunDpdk } from "./bun_dpdk.ts";
import type { Case, ScenarioName } from "./case.ts";
import { dpdkDpdk } from "./dpdk_dpdk.ts";
import { echoCases } from "./echo.ts";
import { dgram, nodeBun, nodeNode } from "./node.ts";
import { rustRust } from "./rust_rust.ts";
import { udp } from "./udp.ts";

const REGISTRY: Record<Exclude<ScenarioName, "bun-base" | "rust-base">, () => Case[]> = {
  "bun-bun": bunBun,
  "bun-dpdk": bunDpdk,
  "dpdk-dpdk": dpdkDpdk,
  "rust-rust": rustRust,
  echo: echoCases,
  udp,
  "node-bun": nodeBun,
  "node-node": nodeNode,
  dgram,
};

const DIRECTION_ORDER = ["c2s", "s2c", "loopback", "round-trip"];

/**
 * Place in a round: a case sits next to what it is compared with, so that on a machine whose
 * speed drifts minute to minute the two are measured seconds apart. Per direction: Bun sending
 * to testpmd, testpmd↔testpmd, Bun receiving from testpmd, bun-bun (and bun-base), node-bun and
 * node-node, rust-rust (and rust-base).
 */
function rank(c: Case): number {
  const bunSends = c.tx.startsWith("bun");
  const inGroup =
    c.scenario === "bun-dpdk"
      ? bunSends
        ? 0
        : 2
      : c.scenario === "dpdk-dpdk"
        ? 1
        : c.scenario === "bun-bun" || c.scenario === "bun-base"
          ? 3
          : c.scenario === "node-bun" || c.scenario === "node-node"
            ? 4
            : c.scenario === "rust-rust"
              ? 5
              : 6;
  return DIRECTION_ORDER.indexOf(c.direction) * 10 + inGroup;
}

/**
 * The cases of `names`; with `base` (--base DIR), bun-bun's cases again as bun-base and rust-rust's
 * as rust-base, with the peers of the checkout DIR.
 */
export function casesOf(names: readonly ScenarioName[], base?: string): Case[] {
  const cases = names.flatMap((n) => (n === "bun-base" || n === "rust-base" ? [] : REGISTRY[n]()));
  if (base !== undefined && names.includes("bun-bun")) cases.push(...bunBun(base));
  if (base !== undefined && names.includes("rust-rust")) cases.push(...rustRust(base));
  return cases.sort((a, b) => rank(a) - rank(b));
}
