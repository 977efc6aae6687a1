/**
 * Return codes of the native backend turned into MemifErrors: `check(rc, op)` on every call that
 * is not the hot path, `errorFor(rc, op)` where the caller decides.
 */
import { codeOf, hintFor, MemifError } from "../errors.ts";
import { backend } from "./backend.ts";

/**
 * A MemifError for a negative return code, with the core's message for this thread. The core's
 * per-call messages say what to do; the fixed text of a code (when the core left no message) gets
 * the code's hint instead, so advice is never given twice.
 */
export function errorFor(rc: number, op: string): MemifError {
  const code = codeOf(rc);
  let msg = "";
  try {
    msg = backend().lastError();
  } catch {
    // library not loaded: keep the generic text
  }
  let hint = "";
  if (msg === "") {
    try {
      msg = backend().strerror(rc);
    } catch {
      msg = code;
    }
    hint = hintFor(code) ?? "";
  }
  return new MemifError(code, hint === "" ? `${op}: ${msg}` : `${op}: ${msg}; ${hint}`, { errno: rc, op });
}

/** Throws a MemifError when rc < 0; returns rc otherwise. */
export function check(rc: number, op: string): number {
  if (rc < 0) throw errorFor(rc, op);
  return rc;
}
