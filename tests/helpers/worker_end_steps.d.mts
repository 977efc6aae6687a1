/** Types of tests/helpers/worker_end_steps.mjs (the steps both worker-end children share). */
import type { Batch, MemifError, MemifSocket, QueueToken, RxQueue, TxQueue } from "../../ts/index.ts";
import type { StepsRun } from "./worker_exit_steps.mjs";

export type Job =
  | { kind: "port"; path: string; id: number }
  | { kind: "queue"; rx: QueueToken<"rx">; tx: QueueToken<"tx"> }
  | { kind: "give"; path: string; id: number }
  | { close: true }
  | { end: string };

export interface Zmemif {
  Batch: typeof Batch;
  MemifError: typeof MemifError;
  MemifSocket: typeof MemifSocket;
  RxQueue: typeof RxQueue;
  TxQueue: typeof TxQueue;
}

export declare function handle(
  job: Job,
  zmemif: Pick<Zmemif, "Batch" | "MemifSocket" | "RxQueue" | "TxQueue">,
  opened: { close(): void }[],
): Promise<Record<string, unknown> | undefined>;

export declare function run(o: StepsRun<"port" | "queue" | "give", Zmemif>): Promise<void>;
