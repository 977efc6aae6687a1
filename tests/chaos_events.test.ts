/**
 * Chaos, issue 9: event delivery from the core's control thread into Bun under stress. The target
 * (tests/helpers/chaos_workers.ts) is a memif server whose 4 queue pairs are served by 4 Bun
 * Workers; this test connects and disconnects 5000 times (10,000 CONNECTED/DISCONNECTED events
 * into the target's main thread), sending a packet on every queue each time (RX_READY wake-ups
 * into the Workers' own threadsafe callbacks) and, every 250th connection, waiting for all four
 * echoes. Threadsafe FFI callbacks from native threads are a known source of crashes in Bun.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { Batch, MemifSocket } from "../ts/index.ts";
import { alive, chaosSocket, kill9, waitCount } from "./helpers/chaos.ts";
import { Proc } from "../support/proc.ts";

let target: Proc | null = null;
afterEach(async () => {
  if (target !== null) await kill9(target);
  target = null;
});

const CYCLES = Number(process.env.CHAOS_EVENT_CYCLES ?? 5000);
const QUEUES = 4;
const SYNC_EVERY = 250;

test(
  `4 Workers on 4 queues: ${2 * CYCLES} connect/disconnect events with traffic, no crash, none lost`,
  async () => {
    const sock = chaosSocket("events");
    target = new Proc([
      process.execPath,
      join(import.meta.dir, "helpers", "chaos_workers.ts"),
      "--socket",
      sock,
      "--queues",
      String(QUEUES),
    ]);
    await target.waitFor(/^ready$/, 15_000);
    const pkt = new Uint8Array(64).fill(7);
    const batch = new Batch(32);
    let synced = 0;
    const t0 = performance.now();
    for (let c = 1; c <= CYCLES; c++) {
      const s = new MemifSocket(sock);
      const p = s.port({ role: "client", c2sQueues: QUEUES, s2cQueues: QUEUES, reconnectMs: 5, name: "chaos-cycler" });
      await p.connect({ timeoutMs: 10_000 });
      for (let q = 0; q < QUEUES; q++) await p.txQueue(q).send(pkt, { timeoutMs: 5000 });
      if (c % SYNC_EVERY === 0) {
        // every Worker still serves: its echo comes back on this connection
        for (let q = 0; q < QUEUES; q++) {
          const rx = p.rxQueue(q, { rxMode: "polling" });
          const deadline = performance.now() + 5000;
          let got = 0;
          while (got === 0 && performance.now() < deadline) {
            got = rx.rxBurst(batch);
            if (got === 0) await Bun.sleep(1);
          }
          expect(
            got,
            `connection ${c}: no echo on queue ${q}; target:\n${target.lines.slice(-5).join("\n")}\n${target.stderr}`,
          ).toBeGreaterThan(0);
        }
        synced++;
        expect(alive(target.proc.pid), target.stderr).toBe(true);
      }
      s.close();
    }
    const secs = (performance.now() - t0) / 1000;
    await waitCount(target, /^disconnected \d+$/, CYCLES, 30_000);
    expect(alive(target.proc.pid), target.stderr).toBe(true);
    expect(await target.stop()).toBe(0);
    const r = target
      .json<{
        connected: number;
        disconnected: number;
        echoed: number[];
        errors: string[];
        connects: number;
        disconnects: number;
      }>()
      .at(-1)!;
    expect(r.errors).toEqual([]);
    expect(r.connects).toBe(CYCLES);
    expect(r.disconnects).toBe(CYCLES);
    expect(r.disconnected).toBe(CYCLES);
    // every connection is announced, also one that ended before its event was handled
    expect(r.connected).toBe(CYCLES);
    for (const e of r.echoed) expect(e).toBeGreaterThanOrEqual(synced);
    console.log(
      `chaos events: ${CYCLES} connections in ${secs.toFixed(1)} s = ${r.connects + r.disconnects} core events; ` +
        `the target's main thread emitted ${r.connected} 'connected' + ${r.disconnected} 'disconnected'; ` +
        `Workers echoed ${r.echoed.join(" / ")} packets ` +
        `(${CYCLES * QUEUES} sent, ${synced} sync rounds all answered); no crash`,
    );
  },
  60_000 + CYCLES * 40,
);
