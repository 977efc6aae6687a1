/**
 * The benchmark report's judgement (benches/lib/report.ts), on made-up rounds: ratios pair only
 * rounds that both cases measured cleanly, a clean case is never compared with a starved
 * baseline, a target without its baseline is MISSED, and a CPU share that could not be read
 * counts as starved.
 */
import { describe, expect, test } from "bun:test";
import { starvedEnd, type Sample } from "../benches/lib/measure.ts";
import {
  aggregate,
  isClean,
  jsonRow,
  jsonTarget,
  targets,
  textReport,
  verdictOf,
  type RoundResult,
  type RunInfo,
} from "../benches/lib/report.ts";
import { BOTH_BUSY, type Case, type ScenarioName } from "../benches/scenarios/case.ts";

const INFO: RunInfo = { smoke: false, burst: 32, queues: 1, seconds: 1, warmup: 0, rounds: 3 };

function kase(scenario: ScenarioName, direction: Case["direction"] = "c2s"): Case {
  return {
    scenario,
    direction,
    role: "both",
    tx: `${scenario} tx`,
    rx: `${scenario} rx`,
    smoke: false,
    busy: BOTH_BUSY,
    run: () => Promise.reject(new Error("not run in this test")),
  };
}

function sample(rx_mpps: number, cpu = 1.0): Sample {
  return {
    tx_mpps: rx_mpps,
    rx_mpps,
    sent: 1000,
    received: 1000,
    lost: 0,
    cpu_tx: cpu,
    cpu_rx: cpu,
    heap_tx: null,
    heap_rx: null,
    core_tx: null,
    core_rx: null,
  };
}

/** Rounds 1.. of a case: a number is a clean round's rx Mpps; {starved} a starved one; null failed. */
function rounds(c: Case, ...rs: (number | { starved: number } | { nanCpu: number } | null)[]): RoundResult[] {
  return rs.map((r, i) => {
    const base = { case: c, size: 64, round: i + 1 };
    if (r === null) return { ...base, error: "failed", starved: false };
    if (typeof r === "number") return { ...base, sample: sample(r), starved: false };
    if ("starved" in r) return { ...base, sample: sample(r.starved, 0.5), starved: true };
    // a CPU time that could not be read, and a runner that did not notice
    return { ...base, sample: sample(r.nanCpu, NaN), starved: false };
  });
}

const bunBun = kase("bun-bun");
const dpdk = kase("dpdk-dpdk");

function row(results: RoundResult[], scenario: ScenarioName) {
  const r = aggregate(results, INFO).find((x) => x.c.scenario === scenario);
  if (r === undefined) throw new Error(`no ${scenario} row`);
  return r;
}

describe("ratios", () => {
  test("are paired round by round over the rounds both measured cleanly", () => {
    const res = [...rounds(bunBun, 30, 30, 40), ...rounds(dpdk, 10, { starved: 1 }, 20)];
    const r = row(res, "bun-bun");
    // round 2 (baseline starved) is left out: 30/10 and 40/20, not 30/1
    expect(r.vs["dpdk-dpdk"]).toEqual({ median: 2.5, min: 2, max: 3 });
    expect(r.vs_missing["dpdk-dpdk"]).toBeUndefined();
  });

  test("a clean case is never compared with a baseline starved in every round: missing, and says so", () => {
    const res = [...rounds(bunBun, 30, 30), ...rounds(dpdk, { starved: 1 }, { starved: 1 })];
    const r = row(res, "bun-bun");
    expect(r.vs["dpdk-dpdk"]).toBeUndefined();
    expect(r.vs_missing["dpdk-dpdk"]).toBe("baseline starved of CPU in every round");
    const rows = aggregate(res, INFO);
    expect(textReport(rows, targets(rows), INFO)).toContain("- dpdk (baseline starved of CPU in every round)");
    expect(jsonRow(r, INFO).vs_dpdk_dpdk_missing).toBe("baseline starved of CPU in every round");
    expect(jsonRow(r, INFO).vs_dpdk_dpdk).toBeUndefined();
  });

  test("no ratio when the case itself starved in every round, nor when the baseline failed", () => {
    const starvedMine = row([...rounds(bunBun, { starved: 9 }), ...rounds(dpdk, 10)], "bun-bun");
    expect(starvedMine.vs_missing["dpdk-dpdk"]).toBe("this case starved of CPU in every round");
    const failedBase = row([...rounds(bunBun, 9), ...rounds(dpdk, null)], "bun-bun");
    expect(failedBase.vs_missing["dpdk-dpdk"]).toBe("baseline failed in every round");
  });

  test("clean rounds that never coincide give no ratio", () => {
    const r = row([...rounds(bunBun, 30, { starved: 1 }), ...rounds(dpdk, { starved: 1 }, 10)], "bun-bun");
    expect(r.vs["dpdk-dpdk"]).toBeUndefined();
    expect(r.vs_missing["dpdk-dpdk"]).toContain("no round in which both measured cleanly");
  });
});

describe("targets", () => {
  test("a target whose baseline was not measured is MISSED, not left out", () => {
    const rows = aggregate(rounds(bunBun, 30, 30), INFO); // bun-bun alone: no dpdk-dpdk row
    const t = targets(rows).find((x) => x.name === "bun-bun vs dpdk-dpdk");
    expect(t).toBeDefined();
    expect(t!.pass).toBe(false);
    expect(t!.value).toBeNull();
    expect(t!.missing).toContain("baseline not measured in this run");
    const line = textReport(rows, targets(rows), INFO)
      .split("\n")
      .find((l) => l.includes("bun-bun vs dpdk-dpdk"));
    expect(line).toMatch(/^MISSED\s/);
    expect(line).toContain("baseline not measured in this run");
    const j = jsonTarget(t!);
    expect(j.pass).toBe(false);
    expect(j.value).toBeUndefined();
    expect(j.missing).toContain("baseline not measured");
  });

  test("a target against a starved baseline is MISSED, whatever the case measured", () => {
    const rows = aggregate([...rounds(bunBun, 300), ...rounds(dpdk, { starved: 1 })], INFO);
    const t = targets(rows).find((x) => x.name === "bun-bun vs dpdk-dpdk")!;
    expect(t.pass).toBe(false);
    expect(t.missing).toContain("baseline starved");
  });

  test("a target met on clean rounds passes, one below its bar is MISSED", () => {
    const rows = aggregate([...rounds(bunBun, 30, 30), ...rounds(dpdk, 10, 20)], INFO);
    const ts = targets(rows);
    const pass = ts.find((x) => x.name === "bun-bun vs dpdk-dpdk")!; // 3× and 1.5×: median 2.25 ≥ 1.5
    expect(pass.value!.median).toBeCloseTo(2.25);
    expect(pass.pass).toBe(true);
    const rows2 = aggregate([...rounds(bunBun, 12, 12), ...rounds(dpdk, 10, 10)], INFO);
    const miss = targets(rows2).find((x) => x.name === "bun-bun vs dpdk-dpdk")!; // 1.2× < 1.5×
    expect(miss.pass).toBe(false);
    expect(miss.missing).toBeUndefined();
    expect(textReport(rows2, targets(rows2), INFO)).toMatch(/^MISSED\s+bun-bun vs dpdk-dpdk/m);
  });

  test("rounds on both sides of the bar are SPLIT, not PASS or MISSED: the run does not decide", () => {
    const bunDpdkRx: Case = { ...kase("bun-dpdk", "s2c"), tx: "bun server", rx: "testpmd client (rxonly)" };
    const dpdkS2c = kase("dpdk-dpdk", "s2c");
    // Bun tx to testpmd: 1.10× and 0.85× of testpmd↔testpmd, median 0.975× < 1×
    const rows = aggregate([...rounds(bunDpdkRx, 11, 8.5), ...rounds(dpdkS2c, 10, 10)], INFO);
    const t = targets(rows).find((x) => x.name === "Bun tx to testpmd vs testpmd↔testpmd")!;
    expect(t.value!.median).toBeCloseTo(0.975);
    expect([t.value!.min, t.value!.max]).toEqual([0.85, 1.1]);
    expect(t.verdict).toBe("split");
    expect(t.pass).toBe(false);
    const line = textReport(rows, targets(rows), INFO)
      .split("\n")
      .find((l) => l.includes("Bun tx to testpmd"));
    expect(line).toMatch(/^SPLIT\s/);
    expect(line).toContain("0.98× [0.85–1.10]"); // the data stays in view
    expect(jsonTarget(t)).toMatchObject({
      verdict: "split",
      pass: false,
      value: 0.975,
      value_min: 0.85,
      value_max: 1.1,
    });
    // every round below: MISSED; every round at or above: PASS
    const low = aggregate([...rounds(bunDpdkRx, 9, 9.5), ...rounds(dpdkS2c, 10, 10)], INFO);
    expect(targets(low).find((x) => x.name === t.name)!.verdict).toBe("missed");
    const high = aggregate([...rounds(bunDpdkRx, 10, 12), ...rounds(dpdkS2c, 10, 10)], INFO);
    expect(targets(high).find((x) => x.name === t.name)!.verdict).toBe("pass");
  });

  test("verdicts for an upper bar (latency): below in every round passes, split otherwise", () => {
    expect(verdictOf({ median: 15, min: 12, max: 19 }, 20, "below")).toBe("pass");
    expect(verdictOf({ median: 19, min: 12, max: 25 }, 20, "below")).toBe("split");
    expect(verdictOf({ median: 30, min: 20, max: 40 }, 20, "below")).toBe("missed");
    expect(verdictOf(null, 20, "below")).toBe("missed");
  });

  test("an echo case with no latency misses its p99 target", () => {
    const echo: Case = { ...kase("echo", "round-trip"), peer: "bun", mode: "polling" };
    const t = targets(aggregate(rounds(echo, null, null), INFO)).find((x) => x.name.startsWith("echo p99"));
    expect(t).toBeDefined();
    expect(t!.pass).toBe(false);
    expect(t!.missing).toContain("no latency");
  });
});

describe("CPU readings", () => {
  test("a CPU share that could not be read (NaN) is starved", () => {
    expect(starvedEnd(BOTH_BUSY, sample(1, NaN))).toBe("tx");
    expect(starvedEnd({ tx: false, rx: true }, { ...sample(1), cpu_rx: NaN })).toBe("rx");
    expect(starvedEnd(BOTH_BUSY, sample(1, 0.95))).toBeNull();
    expect(starvedEnd(BOTH_BUSY, sample(1, 0.5))).toBe("tx");
  });

  test("a round with an unreadable CPU share is not clean even if the runner called it fine", () => {
    const [r] = rounds(dpdk, { nanCpu: 10 });
    expect(r!.starved).toBe(false);
    expect(isClean(r!)).toBe(false);
    const mine = row([...rounds(bunBun, 30), ...rounds(dpdk, { nanCpu: 10 })], "bun-bun");
    expect(mine.vs["dpdk-dpdk"]).toBeUndefined();
    expect(mine.vs_missing["dpdk-dpdk"]).toBe("baseline starved of CPU in every round");
  });
});
