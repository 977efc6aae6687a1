/**
 * The bind table of one interface: which socket takes each local UDP port, and which local
 * addresses some socket is bound to (checked before a fragment is kept for reassembly).
 */
import { formatIp6 } from "./addr.ts";
import { UdpError } from "./errors.ts";
import type { Parsed } from "./headers.ts";

/** What the interface needs of a socket (each UdpSocket keeps one, out of its public type). */
export interface Endpoint {
  /** 4, 6, or 0 for both */
  readonly family: 0 | 4 | 6;
  /** whether the socket keeps the process alive */
  readonly refed: boolean;
  /** whether it takes a datagram from this source to this local address (bound address, connected peer) */
  accepts(p: Parsed): boolean;
  /**
   * One datagram, valid until the end of the burst; `inRegion`: `u8` is the memif region's view
   * (stable for the connection), not a copy made for this datagram (a chain, a reassembly). True
   * when the socket now holds datagrams for `endBurst()` and did not before in this burst (the
   * receiver then calls it once).
   */
  receive(
    u8: Uint8Array,
    off: number,
    len: number,
    srcPort: number,
    address: string,
    ipv6: boolean,
    inRegion: boolean,
  ): boolean;
  /** the end of a burst: hand batched datagrams over */
  endBurst(): void;
  /** transmit buffers are free again after a refused send */
  drained(): void;
  /** the rx loop met an error that is not the socket's fault */
  error(e: Error): void;
}

export class BindTable {
  readonly #byPort = new Map<number, Endpoint>();
  #wild4 = 0;
  #wild6 = 0;
  readonly #bound4 = new Map<number, number>();
  readonly #bound6 = new Map<string, number>();
  /** the last lookup (a burst is mostly for one port) */
  #lastPort = -1;
  /** bumped by every bind and unbind (what the receive path remembered of a flow is stale) */
  version = 0;
  #last: Endpoint | undefined = undefined;

  get size(): number {
    return this.#byPort.size;
  }

  /** The socket bound to UDP port `lport`. */
  get(lport: number): Endpoint | undefined {
    if (lport === this.#lastPort) return this.#last;
    const s = this.#byPort.get(lport);
    this.#lastPort = lport;
    this.#last = s;
    return s;
  }

  endpoints(): IterableIterator<Endpoint> {
    return this.#byPort.values();
  }

  /** Binds `s` to UDP port `lport` (0: a free ephemeral port); returns the port. `where` names the interface. */
  bind(s: Endpoint, lport: number, addr4: number, addr6: string | null, where: string): number {
    if (lport === 0) {
      for (let tries = 0; tries < 65536; tries++) {
        const p = 49152 + ((Math.random() * 16384) | 0);
        if (!this.#byPort.has(p)) {
          lport = p;
          break;
        }
      }
      if (lport === 0) throw new UdpError("EADDRINUSE", "no free ephemeral UDP port (49152..65535) on this memif port");
    } else if (this.#byPort.has(lport)) {
      throw new UdpError(
        "EADDRINUSE",
        `UDP port ${lport} is already bound on ${where}; close that socket or choose another port`,
      );
    }
    this.#byPort.set(lport, s);
    this.#lastPort = -1;
    this.version++;
    if (s.family !== 6) {
      if (addr4 < 0) this.#wild4++;
      else this.#bound4.set(addr4, (this.#bound4.get(addr4) ?? 0) + 1);
    }
    if (s.family !== 4) {
      if (addr6 === null) this.#wild6++;
      else this.#bound6.set(addr6, (this.#bound6.get(addr6) ?? 0) + 1);
    }
    return lport;
  }

  /** False when `s` was not bound there. */
  unbind(s: Endpoint, lport: number, addr4: number, addr6: string | null): boolean {
    if (this.#byPort.get(lport) !== s) return false;
    this.#byPort.delete(lport);
    this.#lastPort = -1;
    this.version++;
    this.#last = undefined;
    if (s.family !== 6) {
      if (addr4 < 0) this.#wild4--;
      else decrement(this.#bound4, addr4);
    }
    if (s.family !== 4) {
      if (addr6 === null) this.#wild6--;
      else decrement(this.#bound6, addr6);
    }
    return true;
  }

  /** Whether some socket takes datagrams to this destination address. */
  wantsDst(p: Parsed): boolean {
    if (p.family === 4) return this.#wild4 > 0 || this.#bound4.has(p.dst4);
    return this.#wild6 > 0 || this.#bound6.has(formatIp6(p.d0, p.d1, p.d2, p.d3));
  }
}

function decrement<K>(m: Map<K, number>, k: K): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
