/** Types of tests/helpers/worker_exit_steps.mjs (the steps both worker-exit children share). */
import type { MemifSocket, Port, QueueToken, RxQueue } from "../../ts/index.ts";

export declare const SECRET: string;

/** command_peer's stdout lines so far, its stdin, and a wait for the first line from `from` that `match` takes. */
export interface PeerLines {
  readonly lines: readonly string[];
  write(text: string): void;
  waitLine(from: number, match: (line: string) => boolean, what: string, ms: number): Promise<string>;
}

export interface Commands {
  tell(command: string, answer: string): Promise<void>;
  offer(id: number, n: number): Promise<void>;
}

export declare function within<T>(p: Promise<T>, ms: number, message: string): Promise<T>;

export declare function endWorker(end: string): void;

export declare function connectPort(
  memifSocket: typeof MemifSocket,
  path: string,
  id: number,
  options?: { reconnectMs?: number },
): Promise<{ socket: MemifSocket; port: Port }>;

export declare function commands(peer: PeerLines): Commands;

export type Job = { kind: "rx"; rx: QueueToken<"rx"> } | { kind: "port"; path: string; id: number } | { end: string };

export declare function handle(
  job: Job,
  zmemif: { MemifSocket: typeof MemifSocket; RxQueue: typeof RxQueue },
): Promise<{ armed: true } | { error: string } | undefined>;

/** A Worker as the steps drive it. */
export interface StartedWorker {
  post(message: unknown): void;
  terminate(): void;
  /** its next message (call it before posting what it answers) */
  next(): Promise<unknown>;
  /** resolves once it ended */
  readonly ended: Promise<unknown>;
}

/** What a child passes to a `run` of the steps: its zmemif classes, command_peer, the case, its Workers. */
export interface StepsRun<K extends string, Z> {
  zmemif: Z;
  peer: PeerLines;
  path: string;
  kind: K;
  end: "terminate" | "throw" | "exit";
  iterations: number;
  startWorker(): StartedWorker;
}

export declare function run(o: StepsRun<"rx" | "port", { MemifSocket: typeof MemifSocket }>): Promise<void>;
