/**
 * For tests/rx_waits.test.ts: how many JS heap cells a receiver allocates per wait in interrupt
 * mode, counted with bun:jsc (a full GC, the live cells by type, the loop, the live cells again:
 * the cells allocated meanwhile, when no GC ran; an object only a WeakRef holds shows any GC, and
 * such a round is measured again). A peer process (bun_peer.ts --behaviour send) sends COUNT
 * 64-byte packets to this process's server port:
 *  - queued: all of them before we start reading (no wait at all): the per-packet baseline;
 *  - paced: one every INTERVAL_MS (default 2), so the receiver has emptied the ring and waits
 *    before each packet.
 * Prints one JSON line per reading shape (iterator: `for await`; readable: rxBurst + readable()):
 * {shape, queued, paced: cells per packet, perWait: paced - queued, waits: the readable() calls
 * that found the ring empty (readable only), pacedCpu: CPU time / wall time of the paced window,
 * gcRetries}. Run it with BUN_GC_TIMER_DISABLE=1 (Bun's periodic GC would land in most windows).
 *   BUN_GC_TIMER_DISABLE=1 bun tests/helpers/rx_wait_alloc.ts COUNT [INTERVAL_MS]
 */
import { fullGC, heapStats } from "bun:jsc";
import { join } from "node:path";
import { Batch, MemifSocket, type RxQueue } from "../../ts/index.ts";
import { Proc } from "../../support/proc.ts";

const COUNT = Number(process.argv[2] ?? "300");
const INTERVAL_MS = Number(process.argv[3] ?? "2");
const PEER = join(import.meta.dir, "bun_peer.ts");

/** An object only a WeakRef holds: any collection (eden or full) clears it. */
let sentinel = new WeakRef({});

function cells(): number {
  let n = 0;
  for (const c of Object.values(heapStats().objectTypeCounts)) n += c;
  return n;
}

/** Reads `count` packets, calling `open` after the first WARMUP and `close` after the last. */
type Reader = (rx: RxQueue, count: number, open: () => Promise<void>, close: () => void) => Promise<number>;

/** packets read before the window opens: first-use allocations and the JIT settle */
const WARMUP = 40;

const readers: Record<string, Reader> = {
  async iterator(rx, count, open, close) {
    let n = 0;
    for await (const _p of rx) {
      if (++n === WARMUP) await open();
      if (n === count) {
        close();
        break;
      }
    }
    return n;
  },
  async readable(rx, count, open, close) {
    const batch = new Batch(1);
    let n = 0;
    let opened = false;
    while (n < count) {
      // one packet per burst, as the iterator yields them, so both open the window alike
      const k = rx.rxBurst(batch);
      n += k;
      if (!opened && n >= WARMUP) {
        opened = true;
        await open();
      }
      if (k === 0) {
        waited++;
        await rx.readable();
      }
    }
    close();
    rx.release();
    return n;
  },
};

let serial = 0;
/** readable(): the waits that found the ring empty */
let waited = 0;

/** Cells allocated per packet while `read` takes COUNT packets sent every `intervalMs`. */
async function measure(
  read: Reader,
  intervalMs: number,
): Promise<{ perPacket: number; waits: number; cpu: number; retries: number }> {
  for (let attempt = 0; ; attempt++) {
    const path = `@zmemif-rx-wait-alloc-${process.pid}-${++serial}`;
    const socket = new MemifSocket(path);
    const port = socket.port({ role: "server" });
    const rx = port.rxQueue(0, { rxMode: "interrupt" });
    const peer = new Proc([
      process.execPath,
      PEER,
      "--socket",
      path,
      "--role",
      "client",
      "--behaviour",
      "send",
      "--count",
      String(COUNT),
      "--size",
      "64",
      "--ring-size",
      "1024",
      "--interval-ms",
      String(intervalMs),
    ]);
    try {
      await port.connect({ timeoutMs: 10_000 });
      // queued: every packet is in the ring before we read
      if (intervalMs === 0) await peer.waitFor(/^sent/, 10_000);
      let base = 0;
      let after = 0;
      let census = 0;
      let at = 0;
      let waits = 0;
      let cpu0 = process.cpuUsage();
      let t0 = 0;
      let cpu = 0;
      const open = async () => {
        fullGC();
        await Bun.sleep(1); // a WeakRef's target is kept until the job that made it ends
        sentinel = new WeakRef({});
        await Bun.sleep(1);
        at = waited;
        const c1 = cells();
        base = cells();
        census = base - c1; // what counting itself allocates
        cpu0 = process.cpuUsage();
        t0 = performance.now();
      };
      const close = () => {
        after = cells() - census;
        waits = waited - at;
        const used = process.cpuUsage(cpu0);
        cpu = (used.user + used.system) / 1000 / (performance.now() - t0);
      };
      const n = await read(rx, COUNT, open, close);
      if (n !== COUNT) throw new Error(`read ${n} packets, not ${COUNT}`);
      const perPacket = (after - base) / (COUNT - WARMUP);
      if (sentinel.deref() !== undefined || attempt === 4) return { perPacket, waits, cpu, retries: attempt };
    } finally {
      peer.kill();
      rx.close();
      port.close();
      socket.close();
    }
  }
}

for (const [shape, read] of Object.entries(readers)) {
  const queued = await measure(read, 0);
  const paced = await measure(read, INTERVAL_MS);
  console.log(
    JSON.stringify({
      shape,
      queued: queued.perPacket,
      paced: paced.perPacket,
      perWait: paced.perPacket - queued.perPacket,
      waits: shape === "readable" ? paced.waits : null,
      pacedCpu: paced.cpu,
      gcRetries: queued.retries + paced.retries,
    }),
  );
}
