/** Types of tests/helpers/worker_exit_steps.mjs (the steps both worker-exit children share). */
import type { MemifSocket, QueueToken, RxQueue } from "../../ts/index.ts";

export declare const SECRET: string;

/** command_peer's stdout lines so far, its stdin, and a wait for the first line from `from` that `match` takes. */
export interface PeerLines {
  readonly lines: readonly string[];
  write(text: string): void;
  waitLine(from: number, match: (line: string) => boolean, what: string): Promise<string>;
}

export interface Commands {
  tell(command: string, answer: string): Promise<void>;
  offer(id: number, n: number): Promise<void>;
}

export declare function commands(peer: PeerLines): Commands;

export type Job = { kind: "rx"; rx: QueueToken<"rx"> } | { kind: "port"; path: string; id: number } | { end: string };

export declare function handle(
  job: Job,
  zmemif: { MemifSocket: typeof MemifSocket; RxQueue: typeof RxQueue },
): Promise<{ armed: true } | { error: string } | undefined>;

/** A Worker as the steps drive it. */
export interface StartedWorker {
  post(message: Job): void;
  terminate(): void;
  /** its first message: {armed: true} or {error} */
  readonly firstMessage: Promise<unknown>;
  /** resolves once it ended */
  readonly ended: Promise<unknown>;
}

export declare function run(
  o: Commands & {
    MemifSocket: typeof MemifSocket;
    path: string;
    kind: "rx" | "port";
    end: "terminate" | "throw" | "exit";
    iterations: number;
    startWorker(): StartedWorker;
  },
): Promise<void>;
