/**
 * bun run benches/pps.ts — packets per second over memif from Bun, beside DPDK testpmd, the
 * crate's Rust peer and Bun's own UDP, measured in alternating rounds of one run. See --help.
 *
 *   benches/scenarios/   one file per scenario: its cases (directions, roles, modes)
 *   benches/lib/         endpoints (Bun peer, zmemif-peer, testpmd), measuring, report, plot
 *   benches/bun_peer.ts  the Bun side of every scenario, a process of its own
 */
import { writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { commandLine } from "./lib/args.ts";
import { HELP, OPTIONS, optionsOf, type Options } from "./lib/cli.ts";
import { bufferSize } from "./lib/geometry.ts";
import { plotSvg } from "./lib/plot.ts";
import { starvedEnd } from "./lib/measure.ts";
import {
  aggregate,
  jsonRound,
  jsonRow,
  jsonTarget,
  targets,
  textReport,
  type RoundResult,
  type RunInfo,
} from "./lib/report.ts";
import { caseKey, RX_CPU, TX_CPU, type Case } from "./scenarios/case.ts";
import { casesOf } from "./scenarios/index.ts";

const FAIL_ATTEMPTS = 2;
const STARVED_RERUNS = 2;

class Progress {
  readonly #total: number;
  readonly #start = performance.now();
  readonly #tty = process.stderr.isTTY === true;
  #done = 0;

  constructor(total: number) {
    this.#total = total;
  }

  #elapsed(): string {
    const s = Math.round((performance.now() - this.#start) / 1000);
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }

  start(round: number, rounds: number, size: number, c: Case): void {
    const what = `${caseKey(c)} (${c.tx} → ${c.rx})`;
    const at = `[${this.#done + 1}/${this.#total}] round ${round}/${rounds}`;
    const line = `${at} · ${size} B · ${what} · ${this.#elapsed()}`;
    if (this.#tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  note(text: string): void {
    process.stderr.write(`${this.#tty ? "\n" : ""}  ${text}\n`);
  }

  end(r: RoundResult): void {
    this.#done++;
    if (r.error !== undefined) {
      process.stderr.write(`${this.#tty ? "\n" : ""}  failed: ${r.error}\n`);
    } else if (!this.#tty && r.sample !== undefined) {
      const s = r.sample;
      const lat = s.latency !== undefined ? `, p99 ${s.latency.p99_us.toFixed(1)} µs` : "";
      const starved = r.starved ? " (starved: kept, left out of medians)" : "";
      const cpu = `, CPU ${(s.cpu_tx * 100).toFixed(0)}%/${(s.cpu_rx * 100).toFixed(0)}%${starved}`;
      process.stderr.write(`  rx ${s.rx_mpps.toFixed(2)} Mpps, lost ${s.lost}${lat}${cpu}\n`);
    }
  }

  finish(): void {
    if (this.#tty) process.stderr.write(`\r\x1b[2K${this.#done} runs in ${this.#elapsed()}\n`);
  }
}

function header(o: Options): string {
  const cpu = cpus()[0]?.model ?? "?";
  return [
    `zmemif pps — ${cpus().length} CPUs (${cpu}), Linux ${release()}, Bun ${Bun.version}`,
    `sizes ${o.sizes.join(", ")} B · burst ${o.burst} · queues ${o.queues} · ` +
      `${o.rounds} round(s) of ${o.seconds} s after ${o.warmup} s warm-up · tx on CPU ${TX_CPU}, rx on CPU ${RX_CPU}`,
  ].join("\n");
}

/**
 * Runs a case once, again after a failure (testpmd 22.11 now and then hangs in its memif
 * handshake at start-up), and again (twice at most) when a polling end did not get its CPU to
 * itself: on a shared machine that run measured the other load, not memif.
 */
async function runCase(c: Case, size: number, round: number, o: Options, progress: Progress): Promise<RoundResult> {
  const timing = { warmup: o.warmup, seconds: o.seconds };
  const opts = { size, bufferSize: bufferSize(size), burst: o.burst, queues: o.queues, timing };
  let failures = 0;
  let reruns = 0;
  for (;;) {
    try {
      const sample = await c.run(opts);
      const who = starvedEnd(c.busy, sample);
      if (who === null || reruns >= (o.smoke ? 0 : STARVED_RERUNS)) {
        return { case: c, size, round, sample, starved: who !== null };
      }
      reruns++;
      const cpu = who === "tx" ? sample.cpu_tx : sample.cpu_rx;
      const where = who === "tx" ? TX_CPU : RX_CPU;
      progress.note(`again: the ${who} end got ${(cpu * 100).toFixed(0)}% of its CPU (other load on CPU ${where})`);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      if (++failures >= FAIL_ATTEMPTS) return { case: c, size, round, error, starved: false };
      progress.note(`again after: ${error.split("\n")[0]}`);
    }
  }
}

async function main(): Promise<number> {
  const o = commandLine("pps.ts", HELP, OPTIONS, optionsOf);
  const cases = casesOf(o.scenarios, o.base).filter((c) => !o.smoke || c.smoke);
  const info: RunInfo = {
    smoke: o.smoke,
    burst: o.burst,
    queues: o.queues,
    seconds: o.seconds,
    warmup: o.warmup,
    rounds: o.rounds,
  };
  const progress = new Progress(o.sizes.length * o.rounds * cases.length);
  if (!o.json) console.log(header(o) + "\n");

  // Alternating rounds: every case of a size once per round, the cases compared with each other
  // next to each other (scenarios/index.ts), so that they are measured seconds apart.
  const results: RoundResult[] = [];
  for (const size of o.sizes) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const c of cases) {
        progress.start(round, o.rounds, size, c);
        const r = await runCase(c, size, round, o, progress);
        results.push(r);
        progress.end(r);
      }
    }
  }
  progress.finish();

  const rows = aggregate(results, info);
  const tgts = o.smoke ? [] : targets(rows);
  const json = [...results.map(jsonRound), ...rows.map((r) => jsonRow(r, info)), ...tgts.map(jsonTarget)]
    .map((j) => JSON.stringify(j))
    .join("\n");
  if (o.save !== undefined) writeFileSync(o.save, json + "\n");
  if (o.json) console.log(json);
  else console.log(textReport(rows, tgts, info));
  if (o.plot !== undefined) {
    writeFileSync(o.plot, plotSvg(rows, `zmemif: received Mpps by packet size (burst ${o.burst}, ${o.rounds} rounds)`));
    if (!o.json) console.log(`\nplot: ${o.plot}`);
  }

  const failed = results.filter((r) => r.error !== undefined).length;
  const idle = rows.filter((r) => r.ok.length > 0 && r.received === 0);
  if (failed > 0) console.error(`pps.ts: ${failed} run(s) failed (see above)`);
  for (const r of idle) console.error(`pps.ts: ${r.key} at ${r.size} B moved no packets`);
  if (o.smoke && (failed > 0 || idle.length > 0)) return 1;
  return failed > 0 ? 1 : 0;
}

process.exit(await main());
