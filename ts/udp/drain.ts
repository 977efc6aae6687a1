/**
 * Backpressure: a send that found no transmit buffer returned false; the socket is remembered,
 * and once that many buffers are free again (or the port is back) its drain handler runs.
 * Waiting for buffers uses the queue's writable() (the peer does not signal freed buffers).
 */
import { MemifError } from "../errors.ts";
import type { Port } from "../port.ts";
import type { TxQueue } from "../tx.ts";
import type { Endpoint } from "./binds.ts";
import { UdpError } from "./errors.ts";

export class Drain {
  readonly #port: Port;
  readonly #tx: TxQueue;
  readonly #closed: () => boolean;
  #wanted = 0;
  #draining = false;
  #refused: Endpoint[] = [];

  constructor(port: Port, tx: TxQueue, closed: () => boolean) {
    this.#port = port;
    this.#tx = tx;
    this.#closed = closed;
  }

  /** A send of `slots` buffers by `s` was refused: run its drain handler once they are free. */
  refused(s: Endpoint, slots: number): void {
    if (!this.#refused.includes(s)) this.#refused.push(s);
    if (slots > this.#wanted) this.#wanted = slots;
    if (!this.#draining) void this.#wait();
  }

  /** `s` is gone: no drain for it. */
  forget(s: Endpoint): void {
    this.#refused = this.#refused.filter((e) => e !== s);
  }

  /** Resolves when `slots` transmit buffers are free (after reconnecting, if need be). */
  async writable(slots: number, timeoutMs: number): Promise<void> {
    const start = performance.now();
    for (;;) {
      if (this.#closed()) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket was closed");
      const left = timeoutMs < 0 ? -1 : Math.max(0, timeoutMs - (performance.now() - start));
      try {
        if (!this.#port.connected) {
          await this.#port.connect(left >= 0 ? { timeoutMs: Math.max(1, left) } : {});
        }
        await this.#tx.writable(left >= 0 ? Math.max(0, left) : -1, slots);
        return;
      } catch (e) {
        if (e instanceof MemifError && e.code === "NOT_CONNECTED") continue;
        if (e instanceof MemifError && e.code === "CLOSED") {
          throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the socket was closed", { cause: e });
        }
        throw e;
      }
    }
  }

  async #wait(): Promise<void> {
    this.#draining = true;
    try {
      while (!this.#closed() && this.#refused.length > 0) {
        const slots = this.#wanted;
        try {
          await this.writable(slots, -1);
        } catch {
          return; // closed
        }
        if (slots === this.#wanted) {
          this.#wanted = 0;
          const list = this.#refused;
          this.#refused = [];
          for (const s of list) s.drained();
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
