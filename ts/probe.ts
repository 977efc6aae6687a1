/**
 * probeServer(): what a memif server says in its HELLO (name, protocol versions, limits), read
 * without connecting an interface: the core connects, reads the HELLO, optionally asks whether an
 * interface id takes a client (INIT, then ACK or the server's reason), and leaves with a
 * DISCONNECT. `zmemif info` prints this. Blocks the calling thread up to `timeoutMs` per answer.
 */
import * as abi from "./native/abi.ts";
import { codeOf, MemifError } from "./errors.ts";
import { backend } from "./native/backend.ts";

/** Why there is no HELLO: each has its own fix. */
export type ProbeProblem = "absent" | "permission" | "not-socket" | "not-listening" | "not-memif" | "no-hello";

const PROBLEMS: Record<number, ProbeProblem> = {
  [abi.PROBE_ABSENT]: "absent",
  [abi.PROBE_PERMISSION]: "permission",
  [abi.PROBE_NOT_SOCKET]: "not-socket",
  [abi.PROBE_NOT_LISTENING]: "not-listening",
  [abi.PROBE_NOT_MEMIF]: "not-memif",
  [abi.PROBE_NO_HELLO]: "no-hello",
};

/** A probe that read no HELLO: `problem` says which of the cases it was, the message what to do. */
export class ProbeError extends MemifError {
  readonly problem: ProbeProblem;
  constructor(problem: ProbeProblem, error: MemifError) {
    super(error.code, error.message, { errno: error.errno ?? 0, op: error.op ?? "zmemif_probe" });
    this.problem = problem;
  }
}
Object.defineProperty(ProbeError.prototype, "name", { value: "ProbeError", writable: true, configurable: true });

export interface ProbeOptions {
  /** also ask whether this interface id takes a client (sends INIT without a secret) */
  id?: number | undefined;
  /** ms to wait for each answer; default 2000 */
  timeoutMs?: number | undefined;
}

export interface ServerHello {
  /** the socket as given */
  socket: string;
  /** the server's application name (DPDK: "DPDK 22.11.x", zmemif: "zmemif") */
  name: string;
  /** protocol versions the server speaks, as "major.minor" */
  minVersion: string;
  maxVersion: string;
  /** whether that range holds 2.0, the version zmemif speaks */
  compatible: boolean;
  /** HELLO's max_region: the largest region index the server takes */
  maxRegion: number;
  /** HELLO's max_s2m_ring: the largest client-to-server ring index (DPDK and VPP read it as an index) */
  maxC2sRing: number;
  /** HELLO's max_m2s_ring: the largest server-to-client ring index */
  maxS2cRing: number;
  /** HELLO's max_log2_ring_size (14: rings of up to 16384 slots) */
  maxLog2RingSize: number;
  /** the answer about `options.id`, when asked */
  id?: { id: number; accepted: boolean; reason?: string };
}

const version = (v: number) => `${v >> 8}.${v & 0xff}`;

function cstr(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Reads the HELLO of the memif server at `path` (`@name`: abstract). Throws ProbeError when none. */
export function probeServer(path: string, options: ProbeOptions = {}): ServerHello {
  if (typeof path !== "string" || path === "" || path === "@") {
    throw new MemifError("SOCKET_PATH", "probeServer: give a socket path, or @name for an abstract socket");
  }
  const { id, timeoutMs = 2000 } = options;
  if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > 0xffffffff)) {
    throw new MemifError("INVALID_ARGUMENT", `probeServer: id must be an integer in 0..4294967295, got ${id}`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) {
    throw new MemifError(
      "INVALID_ARGUMENT",
      `probeServer: timeoutMs must be an integer in 1..600000, got ${timeoutMs}`,
    );
  }
  const isAbstract = path.startsWith("@");
  const bytes = new TextEncoder().encode(isAbstract ? path.slice(1) : path);
  const out = new Uint8Array(abi.PROBE_RESULT_SIZE);
  const native = backend();
  const rc = native.probe(bytes, isAbstract ? 1 : 0, id ?? 0, id === undefined ? 0 : abi.PROBE_ASK_ID, timeoutMs, out);
  const dv = new DataView(out.buffer);
  if (rc < 0) {
    const error = new MemifError(codeOf(rc), native.lastError() || native.strerror(rc), {
      errno: rc,
      op: "zmemif_probe",
    });
    const problem = PROBLEMS[dv.getUint32(abi.PROBE_RESULT_PROBLEM_OFF, true)];
    throw problem === undefined ? error : new ProbeError(problem, error);
  }
  const minVersion = dv.getUint16(abi.PROBE_RESULT_MIN_VERSION_OFF, true);
  const maxVersion = dv.getUint16(abi.PROBE_RESULT_MAX_VERSION_OFF, true);
  const hello: ServerHello = {
    socket: path,
    name: cstr(out.subarray(abi.PROBE_RESULT_NAME_OFF, abi.PROBE_RESULT_NAME_OFF + abi.PROBE_RESULT_NAME_COUNT)),
    minVersion: version(minVersion),
    maxVersion: version(maxVersion),
    compatible: minVersion <= 0x0200 && 0x0200 <= maxVersion,
    maxRegion: dv.getUint16(abi.PROBE_RESULT_MAX_REGION_OFF, true),
    maxC2sRing: dv.getUint16(abi.PROBE_RESULT_MAX_C2S_RING_OFF, true),
    maxS2cRing: dv.getUint16(abi.PROBE_RESULT_MAX_S2C_RING_OFF, true),
    maxLog2RingSize: out[abi.PROBE_RESULT_MAX_LOG2_RING_SIZE_OFF]!,
  };
  const answer = out[abi.PROBE_RESULT_ID_ANSWER_OFF];
  if (id !== undefined) {
    const reasonAt = abi.PROBE_RESULT_REASON_OFF;
    hello.id =
      answer === abi.PROBE_ID_ACCEPTED
        ? { id, accepted: true }
        : { id, accepted: false, reason: cstr(out.subarray(reasonAt, reasonAt + abi.PROBE_RESULT_REASON_COUNT)) };
  }
  return hello;
}
