/**
 * Capture: records the packets that cross queues into a pcapng file or stream (pcapng.ts), for
 * `queue.capture()`, `port.capture()` and `zmemif capture`.
 *
 * The hot path pays one branch per burst while nothing captures (`QueueCore.tap` is null). While
 * capturing, a burst's packets are copied (up to `snaplen` bytes each) into pcapng blocks right
 * after the native burst returns, before the views are handed back to the peer: outside the core's
 * critical section, nothing held. The blocks wait in memory (at most `bufferBytes`) and the event
 * loop writes them; when the disk is slower than the link, new records are dropped and counted
 * (`stats().dropped`), never packets.
 */
import { open, type FileHandle } from "node:fs/promises";
import type { Batch } from "../batch.ts";
import { MemifError } from "../errors.ts";
import { interfaceDescription, packetBlockFrame, packetBlockSize, sectionHeader, EPB_HEADER } from "./pcapng.ts";

export interface CaptureOptions {
  /** bytes kept of each packet (the rest is counted in its original length); default 65535 */
  snaplen?: number;
  /** stop after this many packets (the capture then closes itself); default: no limit */
  limit?: number;
  /** bytes of records waiting to be written before new ones are dropped; default 8 MiB */
  bufferBytes?: number;
}

export interface CaptureStats {
  /** packets recorded (written or waiting to be) */
  packets: number;
  /** packets not recorded because the writer was behind (the packets themselves went on) */
  dropped: number;
  /** bytes written so far */
  bytesWritten: number;
}

/** What a queue calls once per burst while it is captured. */
export interface Tap {
  /** Records the packets of `batch` whose first descriptor is in from..to-1. */
  record(batch: Batch, from: number, to: number): void;
}

/** Records are written in place into chunks of this size (or one record's, when larger). */
const CHUNK_BYTES = 256 << 10;

/** The wall clock in ns: a base taken once, advanced by the monotonic clock. */
const hr = () => process.hrtime.bigint();
const BASE = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - hr();

export class Capture {
  readonly snaplen: number;
  readonly limit: number;
  readonly #budget: number;
  /** filled chunks waiting to be written, and the chunk being filled (records are written in place) */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #chunk = new Uint8Array(0);
  #chunkView = new DataView(this.#chunk.buffer);
  #used = 0;
  #packets = 0;
  #dropped = 0;
  #written = 0;
  #interfaces = 0;
  #writing: Promise<void> | null = null;
  #closed = false;
  #closing: Promise<CaptureStats> | null = null;
  #file: Promise<FileHandle> | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #error: unknown = null;
  /** called once when the capture ends (limit reached or close()) */
  onClose: (() => void) | null = null;

  constructor(target: string | WritableStream<Uint8Array>, options: CaptureOptions = {}) {
    const { snaplen = 65535, limit = Number.POSITIVE_INFINITY, bufferBytes = 8 << 20 } = options;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 65535) {
      throw new MemifError("INVALID_ARGUMENT", `capture: snaplen must be an integer in 1..65535, got ${snaplen}`);
    }
    if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 1)) {
      throw new MemifError("INVALID_ARGUMENT", `capture: limit must be a positive integer, got ${limit}`);
    }
    if (!Number.isInteger(bufferBytes) || bufferBytes < 65536) {
      throw new MemifError("INVALID_ARGUMENT", `capture: bufferBytes must be an integer >= 65536, got ${bufferBytes}`);
    }
    this.snaplen = snaplen;
    this.limit = limit;
    this.#budget = bufferBytes;
    if (typeof target === "string") {
      if (target === "") throw new MemifError("INVALID_ARGUMENT", "capture: give a file path or a WritableStream");
      this.#file = open(target, "w");
      this.#file.catch((e) => {
        this.#error = e;
      });
    } else {
      this.#writer = target.getWriter();
    }
    this.#push(sectionHeader("zmemif capture"));
  }

  /** A tap for one queue and direction: its own pcapng interface named `name` (e.g. "rx0"). */
  tap(name: string): Tap {
    const iface = this.#interfaces++;
    this.#push(interfaceDescription(name, this.snaplen));
    return { record: (batch, from, to) => this.#record(iface, batch, from, to) };
  }

  stats(): CaptureStats {
    return { packets: this.#packets, dropped: this.#dropped, bytesWritten: this.#written };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops recording, writes what waits, closes the file (or the stream's writer). */
  close(): Promise<CaptureStats> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<CaptureStats> {
    this.#closed = true;
    this.onClose?.();
    while (this.#writing !== null) await this.#writing;
    if (this.#pending.length > 0 || this.#used > 0) await this.#flush();
    if (this.#file !== null) await (await this.#file).close();
    if (this.#writer !== null) await this.#writer.close();
    if (this.#error !== null) {
      throw new MemifError("IO", `capture: writing failed: ${(this.#error as Error).message ?? this.#error}`, {
        cause: this.#error,
      });
    }
    return this.stats();
  }

  #record(iface: number, batch: Batch, from: number, to: number): void {
    if (this.#closed) return;
    const ns = BASE + hr();
    const tsHigh = Number(ns >> 32n);
    const tsLow = Number(ns & 0xffffffffn);
    const d = batch.descs;
    for (let i = from; i < to; ) {
      const end = batch.packetEnd(i);
      if (this.#packets >= this.limit) break;
      let original = 0;
      for (let k = i; k < end; k++) original += d[k * 4 + 1]!;
      const captured = Math.min(original, this.snaplen);
      const size = packetBlockSize(captured);
      if (this.#pendingBytes + size > this.#budget) {
        this.#dropped++;
        i = end;
        continue;
      }
      const at = this.#room(size);
      const chunk = this.#chunk;
      packetBlockFrame(this.#chunkView, at, size, iface, tsHigh, tsLow, captured, original);
      let to = at + EPB_HEADER;
      let left = captured;
      for (let k = i; k < end && left > 0; k++) {
        const len = Math.min(d[k * 4 + 1]!, left);
        const off = d[k * 4 + 2]!;
        chunk.set(batch.view(d[k * 4]! >>> 16).subarray(off, off + len), to);
        to += len;
        left -= len;
      }
      chunk.fill(0, to, at + size - 4); // padding to 4 bytes
      this.#packets++;
      i = end;
    }
    this.#schedule();
    if (this.#packets >= this.limit) void this.close();
  }

  /** Reserves `size` bytes in the chunk being filled (a new one when full); returns where. */
  #room(size: number): number {
    if (this.#used + size > this.#chunk.byteLength) {
      this.#seal();
      this.#chunk = new Uint8Array(Math.max(CHUNK_BYTES, size));
      this.#chunkView = new DataView(this.#chunk.buffer);
    }
    const at = this.#used;
    this.#used += size;
    this.#pendingBytes += size;
    return at;
  }

  /** Moves the filled part of the current chunk to the write queue. */
  #seal(): void {
    if (this.#used === 0) return;
    this.#pending.push(this.#chunk.subarray(0, this.#used));
    this.#chunk = this.#chunk.subarray(this.#used);
    this.#chunkView = new DataView(this.#chunk.buffer, this.#chunk.byteOffset, this.#chunk.byteLength);
    this.#used = 0;
  }

  /** A block made elsewhere (SHB, IDB): copied into the chunk, never dropped. */
  #push(b: Uint8Array): void {
    const at = this.#room(b.byteLength);
    this.#chunk.set(b, at);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#writing === null && (this.#used > 0 || this.#pending.length > 0)) {
      this.#writing = this.#flush().finally(() => {
        this.#writing = null;
      });
    }
  }

  /** Writes what waits, chunk after chunk, on the event loop. */
  async #flush(): Promise<void> {
    await null; // let the burst that scheduled this finish first
    for (;;) {
      this.#seal();
      if (this.#pending.length === 0 || this.#error !== null) break;
      const parts = this.#pending;
      this.#pending = [];
      for (const chunk of parts) {
        if (this.#error === null) {
          try {
            if (this.#file !== null) {
              const f = await this.#file;
              let done = 0;
              while (done < chunk.byteLength) done += (await f.write(chunk, done)).bytesWritten;
            } else {
              // A stream may keep the chunk: hand it a copy of its own.
              await this.#writer!.write(chunk.slice());
            }
            this.#written += chunk.byteLength;
          } catch (e) {
            this.#error = e;
          }
        }
        this.#pendingBytes -= chunk.byteLength;
      }
    }
    if (this.#error !== null) {
      this.#pending = [];
      this.#pendingBytes -= this.#used;
      this.#used = 0;
    }
  }
}
