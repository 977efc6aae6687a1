/**
 * Chaos, issue 9: 3000 connect/disconnect cycles against a Bun server (examples/simple_echo.ts
 * --role server) leave its file descriptors flat and its RSS growth under 2 MiB after warm-up.
 * Measured in the server process from outside: /proc/PID/fd and VmRSS, every 100 cycles, each
 * time after the server has seen the cycle's disconnect. The curves are printed for the note.
 * `bash scripts/chaos-soak.sh` runs it for 30,000 cycles.
 */
import { afterEach, expect, test } from "bun:test";
import { MemifSocket } from "../ts/index.ts";
import { alive, chaosSocket, example, fdCount, kill9, rssKiB, waitCount } from "./helpers/chaos.ts";
import type { Proc } from "../support/proc.ts";

let server: Proc | null = null;
afterEach(async () => {
  if (server !== null) await kill9(server);
  server = null;
});

const CYCLES = Number(process.env.CHAOS_CYCLES ?? 3000);
const WARMUP = Number(process.env.CHAOS_WARMUP ?? 1000);
const EVERY = 100;

test(
  `${CYCLES} connect/disconnect cycles: the Bun server's fds stay flat, RSS grows < 2 MiB after ${WARMUP}`,
  async () => {
    const sock = chaosSocket("cycles");
    server = example("simple_echo", ["--role", "server", "--socket", sock]);
    await server.waitFor(/^waiting for a memif client/);
    const pid = server.proc.pid;
    const samples: { cycle: number; fds: number; rssKiB: number }[] = [];
    const sample = (cycle: number) => samples.push({ cycle, fds: fdCount(pid), rssKiB: rssKiB(pid) });
    sample(0);
    const pkt = new Uint8Array(64);
    const t0 = performance.now();
    for (let c = 1; c <= CYCLES; c++) {
      const s = new MemifSocket(sock);
      const p = s.port({ role: "client", reconnectMs: 5, name: "chaos-cycler" });
      await p.connect({ timeoutMs: 10_000 });
      await p.txQueue(0).send(pkt, { timeoutMs: 5000 }); // the server's queues attach and move data
      s.close();
      if (c % EVERY === 0) {
        await waitCount(server, /^disconnected: /, c, 10_000);
        sample(c);
      }
    }
    const secs = (performance.now() - t0) / 1000;
    expect(alive(pid), server.stderr).toBe(true);
    const line = (k: "fds" | "rssKiB") => samples.map((x) => `${x.cycle}:${x[k]}`).join(" ");
    console.log(
      `chaos cycles: ${CYCLES} cycles in ${secs.toFixed(1)} s\n  fds   ${line("fds")}\n  RSS KiB ${line("rssKiB")}`,
    );
    const ref = samples.find((x) => x.cycle === WARMUP)!;
    const after = samples.filter((x) => x.cycle >= WARMUP);
    for (const x of after) expect(x.fds, `fds at cycle ${x.cycle}`).toBe(ref.fds);
    // Growth is the level at the end against the level after warm-up, each the median of 5
    // samples: a garbage collection due at one sample (a transient of up to a few MiB in the
    // soak) is not growth. The largest single sample is printed too.
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    const start = median(after.slice(0, 5).map((x) => x.rssKiB));
    const end = median(after.slice(-5).map((x) => x.rssKiB));
    const peak = Math.max(...after.map((x) => x.rssKiB));
    console.log(
      `  after warm-up (${WARMUP}): fds ${ref.fds} flat; RSS ${start} -> ${end} KiB (medians of 5 samples), ` +
        `growth ${end - start} KiB (limit 2048); highest sample ${peak} KiB`,
    );
    expect(end - start).toBeLessThan(2048);
  },
  60_000 + CYCLES * 20,
);
