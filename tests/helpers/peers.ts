/** Shared helpers for the Bun tests: unique socket names and a peer process we can follow. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Proc } from "../../support/proc.ts";

let counter = 0;
const dirs: string[] = [];

/** A fresh filesystem socket path in a private temporary directory. */
export function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "zmemif-test-"));
  dirs.push(dir);
  return join(dir, "memif.sock");
}

/** A fresh abstract socket name (no file). */
export function abstractName(): string {
  return `@zmemif-test-${process.pid}-${++counter}-${Date.now()}`;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A `bun_peer.ts` process (see its header for the arguments). */
export class Peer extends Proc {
  constructor(args: string[]) {
    super([process.execPath, join(import.meta.dir, "bun_peer.ts"), ...args]);
  }
}

/** Deterministic payload `i` of `len` bytes. */
export function payload(i: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = (i * 31 + k * 7) & 0xff;
  if (len >= 4) new DataView(b.buffer).setUint32(0, i, true);
  return b;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
