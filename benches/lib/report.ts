/**
 * From per-round samples to what people read: one row per case and size (medians of the rounds
 * with min and max), the ratios to the baselines measured in the same rounds, the issue's
 * targets, and the text table or JSON lines.
 */
import type { HeapReport } from "../peer/heap.ts";
import { caseKey, type Case, type ScenarioName } from "../scenarios/case.ts";
import { BUFFER_SIZE, bufferSize, chainLength } from "./geometry.ts";
import { BUSY_SHARE, starvedEnd, type Sample } from "./measure.ts";
import { spread, sum, type Spread } from "./stats.ts";

export interface RoundResult {
  readonly case: Case;
  readonly size: number;
  readonly round: number;
  readonly sample?: Sample;
  readonly error?: string;
  /** a polling end did not get its CPU to itself, even after re-runs */
  readonly starved: boolean;
}

export interface RunInfo {
  /** a --smoke run: windows too short to judge the targets by */
  smoke: boolean;
  burst: number;
  queues: number;
  seconds: number;
  warmup: number;
  rounds: number;
}

export interface HeapSummary {
  /** worst (largest) heap growth over the rounds, bytes */
  heap_growth: number;
  /** median GCs seen per window */
  gcs: number;
  /** largest cell count allocated in a window */
  cells: number;
  /** that, per million packets handled by this end in the window */
  cells_per_mpkt: number;
  /** the cell types allocated most in that window */
  top: Record<string, number>;
}

export interface Row {
  readonly c: Case;
  readonly key: string;
  readonly size: number;
  readonly results: RoundResult[];
  /** every successful round */
  readonly ok: { round: number; s: Sample }[];
  /** the successful rounds not starved of CPU (the only ones ratios pair) */
  readonly clean: { round: number; s: Sample }[];
  /** the rounds the figures come from: the clean ones, or all when none is clean */
  readonly used: { round: number; s: Sample }[];
  tx_mpps: Spread;
  rx_mpps: Spread;
  gbps: Spread;
  cpu_tx: Spread;
  cpu_rx: Spread;
  sent: number;
  received: number;
  lost: number;
  heap_tx: HeapSummary | null;
  heap_rx: HeapSummary | null;
  p50_us?: Spread;
  p99_us?: Spread;
  p999_us?: Spread;
  /** baseline scenario → ratio of rx rates, round by round, over rounds both measured cleanly */
  vs: Partial<Record<ScenarioName, Spread>>;
  /** baseline scenario → why there is no ratio to it */
  vs_missing: Partial<Record<ScenarioName, string>>;
}

/**
 * Whether a round's figures may be trusted: measured, and no polling end short of its CPU. A CPU
 * share that could not be read counts as starved (`starvedEnd`), whatever the runner said.
 */
export function isClean(r: RoundResult): boolean {
  return r.sample !== undefined && !r.starved && starvedEnd(r.case.busy, r.sample) === null;
}

/**
 * The ratio of `row` to its baseline `b` (rx rates), round by round over the rounds that both
 * measured cleanly, or why there is none. A clean round is never paired with a starved one.
 */
export function ratioTo(row: Row, b: Row | undefined): Spread | string {
  if (b === undefined) return "baseline not measured in this run";
  if (b.ok.length === 0) return "baseline failed in every round";
  if (b.clean.length === 0) return "baseline starved of CPU in every round";
  if (row.clean.length === 0) return "this case starved of CPU in every round";
  const ratios = row.clean.flatMap(({ round, s }) => {
    const bs = b.clean.find((o) => o.round === round)?.s;
    return bs !== undefined && bs.rx_mpps > 0 ? [s.rx_mpps / bs.rx_mpps] : [];
  });
  if (ratios.length === 0) return "no round in which both measured cleanly and the baseline received";
  return spread(ratios);
}

/** Which scenarios each scenario is compared with, and which of their cases match. */
const BASELINES: Partial<Record<ScenarioName, { base: ScenarioName; match: (a: Case, b: Case) => boolean }[]>> = {
  "bun-bun": [
    { base: "bun-base", match: (a, b) => a.direction === b.direction },
    { base: "dpdk-dpdk", match: (a, b) => a.direction === b.direction },
    { base: "rust-rust", match: (a, b) => a.direction === b.direction },
    { base: "udp", match: () => true },
  ],
  "bun-dpdk": [{ base: "dpdk-dpdk", match: (a, b) => a.direction === b.direction }],
  "rust-rust": [
    { base: "rust-base", match: (a, b) => a.direction === b.direction },
    { base: "dpdk-dpdk", match: (a, b) => a.direction === b.direction },
  ],
  "node-bun": [
    { base: "bun-bun", match: (a, b) => a.direction === b.direction },
    { base: "dgram", match: () => true },
  ],
  "node-node": [
    { base: "bun-bun", match: (a, b) => a.direction === b.direction },
    { base: "dgram", match: () => true },
  ],
};

function heapSummary(ok: { s: Sample }[], side: "tx" | "rx", seconds: number): HeapSummary | null {
  const reports: { h: HeapReport; mpps: number }[] = [];
  for (const { s } of ok) {
    const h = side === "tx" ? s.heap_tx : s.heap_rx;
    if (h !== null) reports.push({ h, mpps: side === "tx" ? s.tx_mpps : s.rx_mpps });
  }
  if (reports.length === 0) return null;
  const worst = reports.reduce((a, b) => (b.h.cells_window > a.h.cells_window ? b : a));
  const mpkt = worst.mpps * seconds;
  return {
    heap_growth: Math.max(...reports.map((r) => r.h.heap_growth)),
    gcs: spread(reports.map((r) => r.h.gcs_window)).median,
    cells: worst.h.cells_window,
    cells_per_mpkt: mpkt > 0 ? worst.h.cells_window / mpkt : NaN,
    top: worst.h.cells_top ?? {},
  };
}

export function aggregate(results: RoundResult[], info: RunInfo): Row[] {
  const groups = new Map<string, RoundResult[]>();
  for (const r of results) {
    const k = `${caseKey(r.case)}@${r.size}`;
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = []));
    g.push(r);
  }
  const rows: Row[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const ok = g.flatMap((r) => (r.sample !== undefined ? [{ round: r.round, s: r.sample }] : []));
    const clean = g.flatMap((r) => (isClean(r) ? [{ round: r.round, s: r.sample! }] : []));
    const used = clean.length > 0 ? clean : ok;
    const size = first.size;
    const row: Row = {
      c: first.case,
      key: caseKey(first.case),
      size,
      results: g,
      ok,
      clean,
      used,
      tx_mpps: spread(used.map((o) => o.s.tx_mpps)),
      rx_mpps: spread(used.map((o) => o.s.rx_mpps)),
      gbps: spread(used.map((o) => (o.s.rx_mpps * size * 8) / 1000)),
      cpu_tx: spread(used.map((o) => o.s.cpu_tx)),
      cpu_rx: spread(used.map((o) => o.s.cpu_rx)),
      sent: sum(ok.map((o) => o.s.sent)),
      received: sum(ok.map((o) => o.s.received)),
      lost: sum(ok.map((o) => o.s.lost)),
      heap_tx: heapSummary(used, "tx", info.seconds),
      heap_rx: heapSummary(used, "rx", info.seconds),
      vs: {},
      vs_missing: {},
    };
    const lat = used.flatMap((o) => (o.s.latency !== undefined ? [o.s.latency] : []));
    if (lat.length > 0) {
      row.p50_us = spread(lat.map((l) => l.p50_us));
      row.p99_us = spread(lat.map((l) => l.p99_us));
      row.p999_us = spread(lat.map((l) => l.p999_us));
    }
    rows.push(row);
  }
  for (const row of rows) {
    for (const { base, match } of BASELINES[row.c.scenario] ?? []) {
      const b = rows.find((r) => r.size === row.size && r.c.scenario === base && match(row.c, r.c));
      const v = ratioTo(row, b);
      if (typeof v === "string") row.vs_missing[base] = v;
      else row.vs[base] = v;
    }
  }
  return rows;
}

// ---- targets (issue 4), judged at 64 bytes ----

/**
 * How a target fared over the rounds: "pass" when every round's value meets it, "missed" when
 * none does (or there is no value), "split" when rounds fall on both sides, which is what a
 * median near the bar on a noisy machine looks like: the run does not decide it either way.
 */
export type Verdict = "pass" | "missed" | "split";

/** The verdict on `v` against a bar: `v` must be at least `bar` ("min") or below it ("below"). */
export function verdictOf(v: Spread | null, bar: number, want: "min" | "below"): Verdict {
  if (v === null) return "missed";
  const meets = (x: number) => (want === "min" ? x >= bar : x < bar);
  if (meets(v.min) && meets(v.max)) return "pass";
  if (!meets(v.min) && !meets(v.max)) return "missed";
  return "split";
}

export interface Target {
  readonly name: string;
  readonly case: string;
  /** "ratio" (× a baseline), "us" (latency) or "cells" (per window) */
  readonly unit: "x" | "us" | "cells";
  readonly want: string;
  /** null: nothing to judge (see `missing`), and the target is missed */
  readonly value: Spread | null;
  /** why there is no value (no baseline, every round starved or failed, no latency) */
  readonly missing?: string;
  readonly verdict: Verdict;
  /** verdict === "pass": every round met it */
  readonly pass: boolean;
}

function target(t: Omit<Target, "verdict" | "pass">, bar: number, want: "min" | "below"): Target {
  const verdict = verdictOf(t.value, bar, want);
  return { ...t, verdict, pass: verdict === "pass" };
}

export function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const at64 = rows.filter((r) => r.size === 64);
  const ratio = (name: string, r: Row, base: ScenarioName, min: number) => {
    const v = r.vs[base];
    const what = `${r.key}: ${r.c.tx} → ${r.c.rx}`;
    if (v === undefined) {
      const missing = `no ratio to ${base}: ${r.vs_missing[base] ?? "baseline not measured in this run"}`;
      out.push(target({ name, case: what, unit: "x", want: `≥ ${min}×`, value: null, missing }, min, "min"));
      return;
    }
    out.push(target({ name, case: what, unit: "x", want: `≥ ${min}×`, value: v }, min, "min"));
  };
  for (const r of at64.filter((r) => r.c.scenario === "bun-dpdk")) {
    const name = r.c.rx.startsWith("bun")
      ? "Bun rx from testpmd vs testpmd↔testpmd"
      : "Bun tx to testpmd vs testpmd↔testpmd";
    ratio(name, r, "dpdk-dpdk", 1.0);
  }
  for (const r of at64.filter((r) => r.c.scenario === "bun-bun")) {
    ratio("bun-bun vs dpdk-dpdk", r, "dpdk-dpdk", 1.5);
    ratio("bun-bun vs rust-rust", r, "rust-rust", 0.9);
    ratio("bun-bun vs udp sendMany", r, "udp", 20);
    // --base: no regression from an earlier version (issue 10: the packaging must not slow Bun)
    if (rows.some((b) => b.c.scenario === "bun-base")) ratio("bun-bun vs bun-base (--base)", r, "bun-base", 0.95);
  }
  // --base: the crate alone, no regression from an earlier version either (issue 11)
  if (rows.some((b) => b.c.scenario === "rust-base")) {
    for (const r of at64.filter((r) => r.c.scenario === "rust-rust")) {
      ratio("rust-rust vs rust-base (--base)", r, "rust-base", 0.95);
    }
  }
  // Node.js (issue 10): its tx and its rx against Bun's, and against node:dgram.
  for (const r of at64.filter((r) => r.c.scenario === "node-bun")) {
    const side = r.c.tx.startsWith("node") ? "tx" : "rx";
    ratio(`Node ${side} (node-bun) vs bun-bun`, r, "bun-bun", 0.5);
    ratio(`Node ${side} (node-bun) vs node:dgram`, r, "dgram", 20);
  }
  for (const r of at64.filter((r) => r.c.scenario === "node-node")) {
    ratio("node-node vs bun-bun", r, "bun-bun", 0.5);
    ratio("node-node vs node:dgram", r, "dgram", 20);
  }
  for (const r of at64.filter((r) => r.c.scenario === "echo" && r.c.peer === "bun" && r.c.mode === "polling")) {
    const p99 = r.p99_us;
    const name = "echo p99, Bun↔Bun polling";
    if (p99 === undefined || !Number.isFinite(p99.median)) {
      const missing = "no latency measured (every round failed)";
      out.push(target({ name, case: r.key, unit: "us", want: "< 20 µs", value: null, missing }, 20, "below"));
      continue;
    }
    out.push(target({ name, case: r.key, unit: "us", want: "< 20 µs", value: p99 }, 20, "below"));
  }
  // No allocation per packet: a polling Bun end allocates per event-loop turn (one Immediate
  // every few ms) and per control command, whatever the packet rate; judged per million packets.
  const polled = at64.filter((r) => r.c.scenario === "bun-bun" || r.c.scenario === "bun-dpdk");
  const perMpkt = polled.flatMap((r) => [r.heap_tx, r.heap_rx].flatMap((h) => (h !== null ? [h.cells_per_mpkt] : [])));
  if (perMpkt.length > 0) {
    const s = spread(perMpkt);
    // The spread is over ends, not rounds: one end above the bar misses it.
    const verdict = s.max < 100 ? "pass" : "missed";
    out.push({
      name: "no allocation per packet (Bun rx/tx, polling)",
      case: "cells allocated per million packets, all bun-bun and bun-dpdk ends",
      unit: "cells",
      want: "< 100 per Mpkt",
      value: s,
      verdict,
      pass: verdict === "pass",
    });
  }
  return out;
}

/** Whether the case moves packets over memif (its ends use lib/geometry.ts). */
function overMemif(c: Case): boolean {
  return c.scenario !== "udp" && c.scenario !== "dgram";
}

/** The `buffer_size` field of a memif case's JSON lines. */
function bufferField(c: Case, size: number): Record<string, number> {
  return overMemif(c) ? { buffer_size: bufferSize(size) } : {};
}

// ---- JSON ----

function flat(prefix: string, s: Spread | null | undefined, digits = 4): Record<string, number> {
  if (s === undefined || s === null) return {};
  const r = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null) as number;
  return { [prefix]: r(s.median), [`${prefix}_min`]: r(s.min), [`${prefix}_max`]: r(s.max) };
}

export function jsonRow(row: Row, info: RunInfo): Record<string, unknown> {
  const c = row.c;
  const out: Record<string, unknown> = {
    kind: "result",
    scenario: c.scenario,
    direction: c.direction,
    role: c.role,
    tx: c.tx,
    rx: c.rx,
    ...(c.mode !== undefined ? { mode: c.mode } : {}),
    ...(c.peer !== undefined ? { peer: c.peer } : {}),
    size: row.size,
    ...bufferField(c, row.size),
    burst: info.burst,
    queues: c.scenario === "echo" ? 1 : info.queues,
    rounds: row.used.length,
    rounds_starved: row.ok.length - row.clean.length,
    failures: row.results.length - row.ok.length,
    ...flat("tx_mpps", row.tx_mpps),
    ...flat("rx_mpps", row.rx_mpps),
    ...flat("gbps", row.gbps),
    sent: row.sent,
    received: row.received,
    lost: row.lost,
    ...flat("cpu_tx", row.cpu_tx, 3),
    ...flat("cpu_rx", row.cpu_rx, 3),
    ...flat("p50_us", row.p50_us, 2),
    ...flat("p99_us", row.p99_us, 2),
    ...flat("p999_us", row.p999_us, 2),
  };
  for (const [base, s] of Object.entries(row.vs)) Object.assign(out, flat(`vs_${base.replace("-", "_")}`, s, 3));
  for (const [base, why] of Object.entries(row.vs_missing)) out[`vs_${base.replace("-", "_")}_missing`] = why;
  for (const [side, h] of [
    ["tx", row.heap_tx],
    ["rx", row.heap_rx],
  ] as const) {
    if (h === null) continue;
    out[`heap_growth_${side}`] = h.heap_growth;
    out[`gcs_${side}`] = h.gcs;
    out[`cells_${side}`] = h.cells;
    out[`cells_per_mpkt_${side}`] = Number.isFinite(h.cells_per_mpkt) ? Number(h.cells_per_mpkt.toFixed(3)) : null;
  }
  for (const side of ["tx", "rx"] as const) {
    const core = row.ok.flatMap(({ s }) => {
      const c = side === "tx" ? s.core_tx : s.core_rx;
      return c !== null ? [c] : [];
    });
    if (core.length === 0) continue;
    out[`signals_${side}`] = sum(core.map((c) => c.interrupts));
    out[`ring_full_${side}`] = sum(core.map((c) => c.ringFull));
    out[`bad_descs_${side}`] = sum(core.map((c) => c.badDescs));
  }
  const errors = row.results.flatMap((r) => (r.error !== undefined ? [r.error.split("\n")[0]] : []));
  if (errors.length > 0) out.errors = errors;
  return out;
}

/** One round of one case, as measured (for --json: the medians can be checked against these). */
export function jsonRound(r: RoundResult): Record<string, unknown> {
  const c = r.case;
  const s = r.sample;
  const base = {
    kind: "round",
    scenario: c.scenario,
    direction: c.direction,
    role: c.role,
    ...(c.mode !== undefined ? { mode: c.mode } : {}),
    ...(c.peer !== undefined ? { peer: c.peer } : {}),
    size: r.size,
    ...bufferField(c, r.size),
    round: r.round,
  };
  if (s === undefined) return { ...base, error: r.error?.split("\n")[0] ?? "" };
  const n = (x: number, d = 4) => Number(x.toFixed(d));
  return {
    ...base,
    tx_mpps: n(s.tx_mpps),
    rx_mpps: n(s.rx_mpps),
    sent: s.sent,
    received: s.received,
    lost: s.lost,
    cpu_tx: n(s.cpu_tx, 3),
    cpu_rx: n(s.cpu_rx, 3),
    starved: !isClean(r),
    ...(s.latency !== undefined
      ? {
          p50_us: n(s.latency.p50_us, 2),
          p99_us: n(s.latency.p99_us, 2),
          p999_us: n(s.latency.p999_us, 2),
          samples: s.latency.samples,
        }
      : {}),
  };
}

export function jsonTarget(t: Target): Record<string, unknown> {
  return {
    kind: "target",
    target: t.name,
    case: t.case,
    want: t.want,
    ...flat("value", t.value, 3),
    ...(t.missing !== undefined ? { missing: t.missing } : {}),
    verdict: t.verdict,
    pass: t.pass,
  };
}

// ---- text ----

function f(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

function withRange(s: Spread | null | undefined, digits: number, suffix = ""): string {
  if (s === undefined || s === null || !Number.isFinite(s.median)) return "-";
  if (s.min === s.max) return `${f(s.median, digits)}${suffix}`;
  return `${f(s.median, digits)}${suffix} [${f(s.min, digits)}–${f(s.max, digits)}]`;
}

function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

function table(head: string[], body: string[][], right: Set<number>): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), widths.map((w) => "─".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** Descriptors the core refused (counted by the Bun ends' queues): a sign of an interop problem. */
function badDescs(r: Row): number {
  return sum(r.ok.map(({ s }) => (s.core_tx?.badDescs ?? 0) + (s.core_rx?.badDescs ?? 0)));
}

const BASE_NAMES: Partial<Record<ScenarioName, string>> = { "dpdk-dpdk": "dpdk", "rust-rust": "rust", udp: "udp" };

export function textReport(rows: Row[], tgts: Target[], info: RunInfo): string {
  const parts: string[] = [];
  const flows = rows.filter((r) => r.c.scenario !== "echo");
  if (flows.length > 0) {
    const body = flows.map((r) => {
      const failed = r.results.length - r.ok.length;
      return [
        r.c.scenario,
        r.c.direction,
        `${r.c.tx} → ${r.c.rx}`,
        String(r.size),
        withRange(r.rx_mpps, 2),
        f(r.tx_mpps.median, 2),
        f(r.gbps.median, 1),
        `${count(r.sent)} / ${count(r.lost)}`,
        `${f(r.cpu_tx.median * 100, 0)}% / ${f(r.cpu_rx.median * 100, 0)}%`,
        [
          ...Object.entries(r.vs).map(([b, s]) => `${withRange(s, 2, "×")} ${BASE_NAMES[b as ScenarioName] ?? b}`),
          ...Object.entries(r.vs_missing).map(([b, why]) => `- ${BASE_NAMES[b as ScenarioName] ?? b} (${why})`),
        ].join(", ") +
          (failed > 0 ? `  (${failed} round(s) failed)` : "") +
          (r.used.length < r.ok.length ? `  (${r.ok.length - r.used.length} starved round(s) left out)` : "") +
          (r.ok.length > 0 && r.clean.length === 0 ? "  (every round starved: figures not clean)" : "") +
          (badDescs(r) > 0 ? `  (core dropped ${badDescs(r)} bad descriptors)` : ""),
      ];
    });
    parts.push(
      table(
        [
          "scenario",
          "dir",
          "tx → rx",
          "bytes",
          "rx Mpps [min–max]",
          "tx Mpps",
          "Gbit/s",
          "sent / lost",
          "CPU tx / rx",
          "ratio to baseline, same rounds (rx Mpps)",
        ],
        body,
        new Set([3, 4, 5, 6, 7, 8]),
      ),
    );
  }
  const echoes = rows.filter((r) => r.c.scenario === "echo");
  if (echoes.length > 0) {
    const body = echoes.map((r) => [
      r.c.rx,
      r.c.mode ?? "",
      String(r.size),
      withRange(r.p50_us, 1),
      withRange(r.p99_us, 1),
      withRange(r.p999_us, 1),
      f(r.rx_mpps.median * 1e3, 0),
      `${f(r.cpu_tx.median * 100, 0)}% / ${f(r.cpu_rx.median * 100, 0)}%`,
      String(r.lost),
    ]);
    parts.push(
      "echo: bun client (ping, one packet in flight) → server → back; " +
        "round trip in µs, median of rounds [min–max]\n" +
        table(
          ["echoed by", "bun rx", "bytes", "p50 µs", "p99 µs", "p99.9 µs", "k trips/s", "CPU ping / echo", "lost"],
          body,
          new Set([2, 3, 4, 5, 6, 7, 8]),
        ),
    );
  }
  // One line per Bun end of each case: its worst size (most cells per million packets).
  const worst = new Map<string, { r: Row; who: string; h: HeapSummary }>();
  for (const r of rows) {
    for (const [h, who] of [
      [r.heap_tx, r.c.tx],
      [r.heap_rx, r.c.rx],
    ] as const) {
      if (h === null || !who.startsWith("bun")) continue;
      const k = `${r.key}|${who}`;
      const w = worst.get(k);
      if (w === undefined || !(w.h.cells_per_mpkt >= h.cells_per_mpkt)) worst.set(k, { r, who, h });
    }
  }
  const heaps = [...worst.values()].map(({ r, who, h }) => [
    r.key,
    who,
    String(r.size),
    String(h.cells),
    f(h.cells_per_mpkt, 2),
    f(h.gcs, 0),
    f(h.heap_growth / 1024, 0),
    Object.entries(h.top)
      .slice(0, 3)
      .map(([k, v]) => `${k} ${v}`)
      .join(", "),
  ]);
  if (heaps.length > 0) {
    parts.push(
      `Bun heap over a ${info.seconds} s window, the worst round and size of each end: cells allocated ` +
        "(exact when no GC ran), GCs seen (Bun/JSC also collect on timers), heap growth after a full GC\n" +
        table(
          ["case", "bun end", "bytes", "cells", "cells/Mpkt", "GCs", "heap Δ KiB", "most allocated"],
          heaps,
          new Set([2, 3, 4, 5, 6]),
        ),
    );
  }
  if (info.smoke) {
    parts.push("targets: not judged in a --smoke run (its windows are too short); run without --smoke");
  } else if (tgts.length > 0) {
    const body = tgts.map((t) => [
      t.verdict.toUpperCase(),
      t.name,
      t.want,
      t.value === null
        ? `- (${t.missing ?? "not measured"})`
        : withRange(t.value, t.unit === "x" ? 2 : 1, t.unit === "x" ? "×" : t.unit === "us" ? " µs" : ""),
      t.case,
    ]);
    parts.push(
      "targets (issue 4, 64 bytes, one run; measured: median of rounds [min–max]; PASS: every round " +
        "(every end, for allocation) meets the target, MISSED: no round does (or nothing to judge), SPLIT: rounds on both sides, " +
        "so this run does not decide it)\n" +
        table(["", "target", "want", "measured", "case"], body, new Set()),
    );
  }
  const resized = [
    ...new Set(rows.filter((r) => overMemif(r.c) && bufferSize(r.size) !== BUFFER_SIZE).map((r) => r.size)),
  ];
  if (resized.length > 0) {
    const what = resized.map((n) => `${n} B as ${chainLength(n, bufferSize(n))} of ${bufferSize(n)}`).join(", ");
    parts.push(
      `note: memif buffers of ${BUFFER_SIZE} B, but ${what} (all scenarios alike): DPDK 22.11's net_memif ` +
        "transmits chains correctly only when a packet takes a power of two of buffers (see --help)",
    );
  }
  const starved = sum(rows.map((r) => r.ok.length - r.clean.length));
  if (starved > 0) {
    parts.push(
      `note: ${starved} run(s) kept a polling end below ${BUSY_SHARE * 100}% of its CPU after two re-runs ` +
        "(other load on the machine); medians leave them out where the case has clean rounds, and " +
        "ratios pair clean rounds only",
    );
  }
  return parts.join("\n\n");
}
