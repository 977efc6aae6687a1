/**
 * Instructions per packet of the Bun burst loop, this checkout against another (--base DIR),
 * counted by valgrind's callgrind: a figure that does not move with the machine's speed, for
 * machines where packets per second swing 2x from round to round and no hardware counter is
 * exposed (a VM: `perf stat` says <not supported>). See --help.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { choice, commandLine, flag, integer, list, option, text, UsageError } from "./lib/args.ts";

const HELP = `usage: bun benches/insns.ts --base DIR [--iterations LO,HI] [--direction c2s,s2c] [--jobs N] [--json]

Counts the instructions (valgrind --tool=callgrind, JSC's concurrent JIT off so that compiling
happens at the same point every run) of benches/insns_loop.ts: one process, a memif server and
client port, one Bun tx burst (alloc, fill, txBurst) and one rx burst (rxBurst, count) per
iteration, 32 packets of 64 bytes, the loop of the pps.ts Bun peer. Every (tx end, rx end) pair
of this checkout (cur) and DIR (base) is run twice, LO and HI iterations; instructions per packet
= (Ir(HI) - Ir(LO)) / ((HI - LO) * 32), so start-up and teardown cancel out.

Per side, cur - base: tx from (cur tx, base rx) - (base, base) and (cur, cur) - (base tx, cur rx),
rx likewise; both estimates are printed (they differ by what does not add up: inlining, GC).
Repeat runs of one pair differ by a few instructions per packet.

  --base DIR          the other checkout, built (cargo build --release -p zmemif --features node)
  --iterations LO,HI  (default 20000,100000)
  --direction D,...   c2s (client transmits) and/or s2c (default both)
  --jobs N            callgrind runs at once (default 1; each takes one CPU for ~1 min)
  --json              one JSON line per direction

Needs valgrind (apt-get install valgrind). Not timing-sensitive: run it with nice, no bench lock.`;

const BURST = 32;

const { base, lo, hi, directions, jobs, json, valgrind } = commandLine(
  "insns.ts",
  HELP,
  {
    base: option(text),
    iterations: list(integer({ min: 1 }), [20000, 100000]),
    direction: list(choice(["c2s", "s2c"]), ["c2s", "s2c"]),
    jobs: option(integer({ min: 1 }), 1),
    json: flag,
  },
  (o) => {
    if (o.base === undefined) throw new UsageError("--base DIR is required");
    const [lo, hi] = o.iterations;
    if (lo === undefined || hi === undefined || o.iterations.length !== 2 || !(lo < hi)) {
      throw new UsageError("--iterations must be LO,HI with 0 < LO < HI");
    }
    const valgrind = Bun.which("valgrind");
    if (valgrind === null) throw new UsageError("valgrind is not installed (apt-get install valgrind)");
    return { base: o.base, lo, hi, directions: o.direction, jobs: o.jobs, json: o.json, valgrind };
  },
);

const CUR = resolve(import.meta.dir, "..");
const BASE = resolve(base);
const LOOP = join(import.meta.dir, "insns_loop.ts");
const work = mkdtempSync(join(tmpdir(), "zmemif-insns-"));

type Side = "cur" | "base";
const dirOf = (s: Side) => (s === "cur" ? CUR : BASE);
const PAIRS: [Side, Side][] = [
  ["cur", "cur"],
  ["base", "base"],
  ["cur", "base"],
  ["base", "cur"],
];

/** Instructions of one callgrind run of the loop (and the packets it moved). */
async function count(tx: Side, rx: Side, direction: string, iterations: number): Promise<number> {
  const out = join(work, `cg.${tx}.${rx}.${direction}.${iterations}`);
  const p = Bun.spawn(
    [
      valgrind,
      "--tool=callgrind",
      "--smc-check=all",
      `--callgrind-out-file=${out}`,
      process.execPath,
      LOOP,
      dirOf(tx),
      dirOf(rx),
      direction,
      String(iterations),
    ],
    { env: { ...process.env, BUN_JSC_useConcurrentJIT: "false" }, stdout: "pipe", stderr: "pipe" },
  );
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  if (code !== 0) throw new Error(`${tx} tx, ${rx} rx, ${direction}, ${iterations}: exit ${code}\n${stdout}${stderr}`);
  const m = /^summary: (\d+)/m.exec(readFileSync(out, "utf8"));
  if (m === null) throw new Error(`${out}: no summary line`);
  return Number(m[1]);
}

/** Runs `tasks` with at most `jobs` at once. */
async function pool<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

try {
  for (const direction of directions) {
    const tasks = PAIRS.flatMap(([tx, rx]) => [lo, hi].map((n) => () => count(tx, rx, direction, n)));
    const ir = await pool(tasks);
    const perPacket = PAIRS.map((_, i) => (ir[2 * i + 1]! - ir[2 * i]!) / ((hi - lo) * BURST));
    const [cc, bb, cb, bc] = perPacket as [number, number, number, number];
    const row = {
      direction,
      iterations: [lo, hi],
      per_packet: { cur_cur: cc, base_base: bb, cur_tx_base_rx: cb, base_tx_cur_rx: bc },
      ratio: cc / bb,
      tx_delta: [cb - bb, cc - bc],
      rx_delta: [bc - bb, cc - cb],
    };
    if (json) {
      console.log(JSON.stringify(row));
      continue;
    }
    const f = (x: number) => x.toFixed(1).padStart(6);
    const d = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
    console.log(`${direction}: instructions per packet (tx burst + rx burst, one process), ${lo}..${hi} iterations`);
    console.log(`  tx cur,  rx cur   ${f(cc)}`);
    console.log(`  tx base, rx base  ${f(bb)}   cur / base ${(cc / bb).toFixed(3)}`);
    console.log(`  tx cur,  rx base  ${f(cb)}`);
    console.log(`  tx base, rx cur   ${f(bc)}`);
    console.log(`  tx side, cur - base: ${d(cb - bb)} / ${d(cc - bc)}`);
    console.log(`  rx side, cur - base: ${d(bc - bb)} / ${d(cc - cb)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
