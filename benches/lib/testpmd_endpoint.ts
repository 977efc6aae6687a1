/**
 * dpdk-testpmd with one net_memif port, in interactive mode (`-i`) so the bench can drive it:
 * `start` when the peer is ready, `show port stats 0` at the marks (counters exactly when asked,
 * instead of the ~2 s `--stats-period` prints), `stop` to stop sending while staying connected
 * (its "Forward statistics" are the exact totals since `start`; net_memif zeroes its counters on
 * disconnect, so they must be read before the link goes down), then stopped.
 *
 * Run by the launcher the tests use too (support/testpmd.ts): it knows testpmd's command line,
 * its replies and its clean-up; `t` of a mark is on the launcher's clock.
 */
import { Testpmd } from "../../support/testpmd.ts";
import type { Counters, Endpoint, Final, Mark } from "./endpoint.ts";

const TIMEOUT_MS = 15_000;
/** Frames up to this size fit testpmd's default mbuf (2048 bytes of data room). */
const DEFAULT_DATA_ROOM = 2048;

export type FwdMode = "txonly" | "rxonly" | "io" | "macswap";

export interface TestpmdArgs {
  role: "client" | "server";
  mode: FwdMode;
  cpu: number;
  socket: string;
  size: number;
  burst: number;
  queues: number;
  /** bytes per memif buffer, `bsize=` (lib/geometry.ts); default net_memif's 2048 */
  bufferSize?: number;
}

export class TestpmdEndpoint implements Endpoint {
  readonly label: string;
  readonly kind = "testpmd" as const;
  readonly #a: TestpmdArgs;
  readonly #tp: Promise<Testpmd>;
  #pid = 0;
  #stopped: Counters | null = null;

  constructor(a: TestpmdArgs) {
    this.#a = a;
    this.label = `testpmd ${a.role}`;
    this.#tp = Testpmd.start({
      role: a.role,
      socket: { path: a.socket },
      mode: a.mode,
      cpu: a.cpu,
      // Both lcores and DPDK's other threads on one CPU: the main lcore sleeps in the command line.
      taskset: true,
      interactive: true,
      ...(a.mode === "txonly" ? { txPktLen: a.size } : {}),
      ...(a.size > DEFAULT_DATA_ROOM ? { mbufSize: Math.ceil((a.size + 128) / 64) * 64 } : {}),
      burst: a.burst,
      queues: a.queues,
      ...(a.bufferSize !== undefined ? { bsize: a.bufferSize } : {}),
      startTimeoutMs: TIMEOUT_MS,
      name: `pps-${a.role}-${a.mode}`,
    });
    this.#tp.then(
      (tp) => {
        this.#pid = tp.pid;
      },
      () => {}, // reported by the first await
    );
  }

  get pid(): number {
    return this.#pid;
  }

  async listening(): Promise<void> {
    await this.#tp;
  }

  async connected(): Promise<void> {
    await (await this.#tp).linkUp(TIMEOUT_MS);
  }

  async go(): Promise<void> {
    await (await this.#tp).command("start", TIMEOUT_MS);
  }

  async prep(): Promise<void> {}

  async mark(): Promise<Mark> {
    const r = await (await this.#tp).command("show port stats 0", TIMEOUT_MS);
    const s = r.stats;
    if (s === undefined) throw new Error(`${this.label}: no NIC statistics in the reply to show port stats 0`);
    return { t: r.t, rx: s.rxPackets, tx: s.txPackets, rxb: s.rxBytes, txb: s.txBytes };
  }

  /** `stop`: forwarding stops, the link stays up; totals since `start` from Forward statistics. */
  async stopTx(): Promise<Counters> {
    if (this.#stopped !== null) return this.#stopped;
    const r = await (await this.#tp).command("stop", TIMEOUT_MS);
    if (r.forward === undefined)
      throw new Error(`${this.label}: no Forward statistics for port 0 in the reply to stop`);
    const { rx, tx } = r.forward;
    this.#stopped = { t: r.t, rx, tx, rxb: rx * this.#a.size, txb: tx * this.#a.size };
    return this.#stopped;
  }

  async finish(): Promise<Final> {
    const c = await this.stopTx();
    // 22.11 sometimes segfaults on the way out after a memif session: the exit code is not ours.
    await (await this.#tp).kill();
    return c;
  }

  async kill(): Promise<void> {
    const tp = await this.#tp.catch(() => null);
    await tp?.kill();
  }
}
