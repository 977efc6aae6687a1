/** The scenario registry: names (part of the CLI contract) to their cases. */
import { bunBun } from "./bun_bun.ts";
import { bunDpdk } from "./bun_dpdk.ts";
import type { Case, ScenarioName } from "./case.ts";
import { dpdkDpdk } from "./dpdk_dpdk.ts";
import { echoCases } from "./echo.ts";
import { rustRust } from "./rust_rust.ts";
import { udp } from "./udp.ts";

const REGISTRY: Record<ScenarioName, () => Case[]> = {
  "bun-bun": bunBun,
  "bun-dpdk": bunDpdk,
  "dpdk-dpdk": dpdkDpdk,
  "rust-rust": rustRust,
  echo: echoCases,
  udp,
};

const DIRECTION_ORDER = ["c2s", "s2c", "loopback", "round-trip"];

/**
 * Place in a round: a case sits next to what it is compared with, so that on a machine whose
 * speed drifts minute to minute the two are measured seconds apart. Per direction: Bun sending
 * to testpmd, testpmd↔testpmd, Bun receiving from testpmd, bun-bun, rust-rust.
 */
function rank(c: Case): number {
  const bunSends = c.tx.startsWith("bun");
  const inGroup =
    c.scenario === "bun-dpdk" ? (bunSends ? 0 : 2) : c.scenario === "dpdk-dpdk" ? 1 : c.scenario === "bun-bun" ? 3 : 4;
  return DIRECTION_ORDER.indexOf(c.direction) * 10 + inGroup;
}

export function casesOf(names: readonly ScenarioName[]): Case[] {
  return names.flatMap((n) => REGISTRY[n]()).sort((a, b) => rank(a) - rank(b));
}
