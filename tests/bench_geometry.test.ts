/**
 * The benchmark's memif geometry (benches/lib/geometry.ts): rings of 2048 slots where DPDK 22.11's
 * net_memif would overrun a ring of 1024 with chains (a packet of k buffers with 1024 mod k = k - 1,
 * so 9000 bytes), the note and the JSON field that say so, and the two bench cases where testpmd
 * sends 9000-byte chains to a Bun receiver, run as `bash scripts/bench.sh` runs them (with 1024
 * slots, testpmd overran the ring, the Bun end disconnected it and testpmd died of SIGSEGV).
 */
import { describe, expect, test } from "bun:test";
import { BUFFER_SIZE, chainLength, RING_SLOTS, ringSlots } from "../benches/lib/geometry.ts";
import type { Sample } from "../benches/lib/measure.ts";
import { aggregate, jsonRound, jsonRow, textReport, type RunInfo } from "../benches/lib/report.ts";
import { bunDpdk } from "../benches/scenarios/bun_dpdk.ts";
import type { Case } from "../benches/scenarios/case.ts";

const INFO: RunInfo = { smoke: false, burst: 32, queues: 1, seconds: 1, warmup: 0.3, rounds: 1 };

describe("ringSlots", () => {
  test("2048 slots at 5 and 25 buffers a packet (9000 B among them), 1024 everywhere else", () => {
    expect(ringSlots(64)).toBe(RING_SLOTS);
    expect(ringSlots(1500)).toBe(RING_SLOTS);
    expect(ringSlots(4000)).toBe(RING_SLOTS); // 2 buffers: 1024 mod 2 = 0
    expect(ringSlots(6000)).toBe(RING_SLOTS); // 3: 1024 mod 3 = 1
    expect(ringSlots(8192)).toBe(RING_SLOTS); // 4: 0
    expect(ringSlots(8193)).toBe(2048); // 5: 1024 mod 5 = 4
    expect(ringSlots(9000)).toBe(2048);
    expect(ringSlots(10240)).toBe(2048);
    expect(ringSlots(10241)).toBe(RING_SLOTS); // 6: 4
    expect(ringSlots(50000)).toBe(2048); // 25: 1024 mod 25 = 24
    expect(ringSlots(65535)).toBe(RING_SLOTS); // 32: 0
  });

  test("at every size, the ring never leaves testpmd exactly one buffer short of a packet", () => {
    for (let size = 1; size <= 65535; size++) {
      const k = chainLength(size);
      const slots = ringSlots(size);
      expect(k).toBe(Math.max(1, Math.ceil(size / BUFFER_SIZE)));
      if (k > 1 && slots % k === k - 1) throw new Error(`${size} B: ${slots} slots leave ${k - 1} free`);
      if (slots !== RING_SLOTS && RING_SLOTS % k !== k - 1) throw new Error(`${size} B: ${slots} slots for nothing`);
    }
  });
});

describe("report", () => {
  const c = bunDpdk().find((x) => x.direction === "s2c" && x.role === "client")!;
  const s: Sample = {
    tx_mpps: 1,
    rx_mpps: 1,
    sent: 10,
    received: 10,
    lost: 0,
    cpu_tx: 1,
    cpu_rx: 1,
    heap_tx: null,
    heap_rx: null,
    core_tx: null,
    core_rx: null,
  };
  const at = (size: number) => ({ case: c, size, round: 1, sample: s, starved: false });

  test("says which sizes ran with 2048-slot rings, and why; JSON lines carry ring_size", () => {
    const rows = aggregate([at(64), at(9000)], INFO);
    const text = textReport(rows, [], INFO);
    expect(text).toContain("note: at 9000 B every memif ring has 2048 slots, not 1024");
    expect(text).toContain("DPDK 22.11's net_memif sends a packet of k buffers when only k - 1 are free");
    expect(rows.map((r) => jsonRow(r, INFO).ring_size)).toEqual([1024, 2048]);
    expect(jsonRound(at(9000)).ring_size).toBe(2048);
    expect(textReport(aggregate([at(64), at(1500)], INFO), [], INFO)).not.toContain("slots, not");
  });
});

describe("testpmd sending 9000-byte chains to Bun, as the bench runs it", () => {
  const cases: Case[] = bunDpdk().filter((x) => x.tx.startsWith("testpmd"));
  for (const c of cases) {
    test(`${c.direction} ${c.role}: ${c.tx} → ${c.rx}`, async () => {
      const opts = { size: 9000, ringSize: ringSlots(9000), burst: 32, queues: 1, timing: { warmup: 0.3, seconds: 1 } };
      // Once more when testpmd hangs starting up, as pps.ts does (22.11 now and then does, before
      // any memif traffic); any other failure fails the test.
      const s = await c.run(opts).catch((e: unknown) => {
        if (!String(e).includes("waiting for start")) throw e;
        return c.run(opts);
      });
      expect(s.received).toBeGreaterThan(1000);
      expect(s.core_rx?.badDescs).toBe(0);
    }, 60_000);
  }
});
