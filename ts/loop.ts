/**
 * Keeping this thread's event loop alive while something waits for the core.
 *
 * A threadsafe JSCallback pending in the core does not keep a Bun process alive, and a pending
 * promise does not either (docs/bun-ffi-notes.md, (a) and (e)). One ref'd timer with the largest
 * period does, at ≈0 % CPU, and the loop still wakes within ~65 µs for a callback. It is shared
 * by everything in this thread that holds it, and cleared when the last holder releases.
 */

let holders = 0;
let timer: ReturnType<typeof setInterval> | null = null;

const MAX_DELAY_MS = 2 ** 31 - 1;

/** @internal */
export function hold(): void {
  if (holders++ === 0) timer = setInterval(() => {}, MAX_DELAY_MS);
}

/** @internal */
export function release(): void {
  if (holders === 0) return;
  if (--holders === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

/** Resolves on a later turn of the event loop (lets I/O and callbacks run). @internal */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** @internal */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
