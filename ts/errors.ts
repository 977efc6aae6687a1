/**
 * MemifError: every failure zmemif reports, with a stable `code`.
 *
 * Codes from the core map 1:1 to the negative `ZMEMIF_E_*` numbers of `zmemif.h`; a few codes
 * (STALE_VIEW, LIBRARY_*, UNSUPPORTED_PLATFORM) are raised by the TypeScript layer itself.
 * This module imports nothing from the FFI so it can describe a library that failed to load.
 */
import { CODES } from "./native/abi.ts";

/** Negative return codes of the C ABI, by stable name (generated from zmemif.h). */
export const CORE_CODES = CODES;

export type CoreErrorCode = keyof typeof CORE_CODES;

/** Codes raised by the TypeScript layer (no C number). */
export type LocalErrorCode =
  | "STALE_VIEW" // a view or batch of a connection that ended was used
  | "LIBRARY_NOT_FOUND" // libzmemif.so is not where we looked
  | "LIBRARY_LOAD_FAILED" // dlopen failed (wrong file, missing symbol)
  | "UNSUPPORTED_PLATFORM" // not linux-x64
  | "UNKNOWN"; // a negative number the header does not define

export type MemifErrorCode = CoreErrorCode | LocalErrorCode;

const BY_NUMBER = new Map<number, CoreErrorCode>(
  Object.entries(CORE_CODES).map(([name, n]) => [n, name as CoreErrorCode]),
);

/** The stable code for a negative return value of the C ABI. @internal */
export function codeOf(rc: number): MemifErrorCode {
  return BY_NUMBER.get(rc) ?? "UNKNOWN";
}

export interface MemifErrorDetails {
  /** the negative number the C ABI returned, when the error came from the core */
  errno?: number;
  /** the operation that failed, e.g. `zmemif_port_new` or `Queue.txBurst` */
  op?: string;
  /** the peer's (or our) reason, for PEER_REJECTED and disconnects */
  reason?: string;
  cause?: unknown;
}

export class MemifError extends Error {
  readonly code: MemifErrorCode;
  // Set only when known, so that a printed error shows no `errno: undefined` lines.
  declare readonly errno?: number;
  declare readonly op?: string;
  declare readonly reason?: string;

  constructor(code: MemifErrorCode, message: string, details: MemifErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    const self = this as { errno?: number; op?: string; reason?: string };
    if (details.errno !== undefined) self.errno = details.errno;
    if (details.op !== undefined) self.op = details.op;
    if (details.reason !== undefined) self.reason = details.reason;
  }
}
// On the prototype, not on each error: printed errors list only what they carry.
Object.defineProperty(MemifError.prototype, "name", { value: "MemifError", writable: true, configurable: true });

/** A short hint per code, appended when the core's own message does not say what to do. */
const HINTS: Partial<Record<MemifErrorCode, string>> = {
  SOCKET_PATH: "check that the socket path is non-empty, short enough (< 108 bytes) and its directory exists",
  PERMISSION: "check the permissions of the socket file and its directory (or run as a user allowed to use them)",
  ID_IN_USE: "an interface with this id and role already exists on this socket; choose another id",
  NOT_CONNECTED: "wait for the port's 'connected' event (port.connect()) before using the queue",
  QUEUE_RANGE: "the queue id must be below the configured/negotiated queue count",
  BUSY: "the queue is already open through another Queue object; close that one first",
  CLOSED: "the port or socket was closed",
  STALE_VIEW: "the connection this view belonged to has ended; get a fresh view from the batch after the next burst",
};

/** @internal */
export function hintFor(code: MemifErrorCode): string | undefined {
  return HINTS[code];
}
