/**
 * The benchmark's memif geometry (benches/lib/geometry.ts): buffers sized so that a packet takes a
 * power of two of them (9000 bytes: 4 of 2304), because DPDK 22.11's net_memif writes one slot
 * past its free ones when a chain does not fit (and overruns the ring when it is one short); the
 * note and the JSON field that say so; and the two bench cases where testpmd sends 9000-byte
 * chains to a Bun receiver, run as `bash scripts/bench.sh` runs them: every packet testpmd counts
 * arrives, whole (with 5 buffers of 2048 a packet, testpmd overran the ring, the Bun end
 * disconnected it and testpmd died of SIGSEGV; with 2048 slots instead, packets arrived cut in two).
 */
import { describe, expect, test } from "bun:test";
import { BUFFER_SIZE, bufferSize, chainLength, RING_SLOTS } from "../benches/lib/geometry.ts";
import type { Sample } from "../benches/lib/measure.ts";
import { aggregate, jsonRound, jsonRow, textReport, type RunInfo } from "../benches/lib/report.ts";
import { bunDpdk } from "../benches/scenarios/bun_dpdk.ts";
import type { Case } from "../benches/scenarios/case.ts";

const INFO: RunInfo = { smoke: false, burst: 32, queues: 1, seconds: 1, warmup: 0.3, rounds: 1 };

describe("bufferSize", () => {
  test("2048 while a packet takes a power of two of them, else the power of two below", () => {
    expect(bufferSize(64)).toBe(BUFFER_SIZE);
    expect(bufferSize(2048)).toBe(BUFFER_SIZE);
    expect(bufferSize(4096)).toBe(BUFFER_SIZE); // 2
    expect(bufferSize(6000)).toBe(3008); // 3 -> 2
    expect(bufferSize(8192)).toBe(BUFFER_SIZE); // 4
    expect(bufferSize(9000)).toBe(2304); // 5 -> 4
    expect(bufferSize(65535)).toBe(BUFFER_SIZE); // 32
  });

  test("at every size, a packet takes a power of two of buffers that divides the ring", () => {
    for (let size = 1; size <= 65535; size++) {
      const b = bufferSize(size);
      const k = chainLength(size, b);
      if ((k & (k - 1)) !== 0 || RING_SLOTS % k !== 0) throw new Error(`${size} B: ${k} buffers of ${b}`);
      if (b !== BUFFER_SIZE && (b < BUFFER_SIZE || b % 64 !== 0 || b > 65535)) throw new Error(`${size} B: ${b}`);
      if (b !== BUFFER_SIZE && chainLength(size) === k) throw new Error(`${size} B: resized for nothing`);
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

  test("says which sizes ran with other buffers, and why; JSON lines carry buffer_size", () => {
    const rows = aggregate([at(64), at(9000)], INFO);
    const text = textReport(rows, [], INFO);
    expect(text).toContain("note: memif buffers of 2048 B, but 9000 B as 4 of 2304 (all scenarios alike)");
    expect(rows.map((r) => jsonRow(r, INFO).buffer_size)).toEqual([2048, 2304]);
    expect(jsonRound(at(9000)).buffer_size).toBe(2304);
    expect(textReport(aggregate([at(64), at(1500)], INFO), [], INFO)).not.toContain("note: memif buffers");
  });
});

describe("testpmd sending 9000-byte chains to Bun, as the bench runs it", () => {
  const cases: Case[] = bunDpdk().filter((x) => x.tx.startsWith("testpmd"));
  for (const c of cases) {
    test(`${c.direction} ${c.role}: ${c.tx} → ${c.rx}`, async () => {
      const opts = {
        size: 9000,
        bufferSize: bufferSize(9000),
        burst: 32,
        queues: 1,
        timing: { warmup: 0.3, seconds: 1 },
      };
      // Once more when testpmd hangs starting up, as pps.ts does (22.11 now and then does, before
      // any memif traffic); any other failure fails the test.
      const s = await c.run(opts).catch((e: unknown) => {
        if (!String(e).includes("waiting for start")) throw e;
        return c.run(opts);
      });
      expect(s.received).toBeGreaterThan(1000);
      expect(s.core_rx?.badDescs).toBe(0);
      // every packet testpmd counts as sent arrives, once: none cut in two, none lost
      expect(s.received).toBe(s.sent);
    }, 60_000);
  }
});
