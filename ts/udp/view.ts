/**
 * UdpInterface: what a user sees of the memif side under a UDP socket (`socket.memif`): its port,
 * queue pair, settings in use, counters and connection state. Sockets on the same memif port
 * share one. The machinery (binds, sends, drains: interface.ts, for the sockets) is not on it:
 * it reads the interface through the small InterfaceState below, and imports none of it.
 */
import type { Port } from "../port.ts";
import type { InterfaceStats } from "./options.ts";

/** What a UdpInterface shows of the interface it stands for (interface.ts's). @internal */
export interface InterfaceState {
  readonly port: Port;
  readonly qid: number;
  readonly stats: InterfaceStats;
  readonly ipMode: boolean;
  readonly fragment: boolean;
  readonly mtu: number;
  readonly connected: boolean;
  readonly closed: boolean;
}

// Internal to ts/udp (set in UdpInterface's static block): how interface.ts makes the view.
let make: (state: InterfaceState) => UdpInterface;

export class UdpInterface {
  readonly #state: InterfaceState;

  private constructor(state: InterfaceState) {
    this.#state = state;
  }

  static {
    make = (state) => new UdpInterface(state);
  }

  /** the memif port (yours if you passed `memif.port`; otherwise it closes with the last socket) */
  get port(): Port {
    return this.#state.port;
  }

  /** the memif queue pair the sockets use (`memif.queue`) */
  get qid(): number {
    return this.#state.qid;
  }

  /** counters of all the sockets on this memif queue pair (a socket's `stats()` adds its own) */
  get stats(): InterfaceStats {
    return this.#state.stats;
  }

  /** memif IP mode (`memif.mode: 'ip'`): bare IPv4/IPv6 packets, no Ethernet header */
  get ipMode(): boolean {
    return this.#state.ipMode;
  }

  /** fragment datagrams larger than the MTU (`memif.fragment`) */
  get fragment(): boolean {
    return this.#state.fragment;
  }

  /** IP MTU in use (clamped to the buffers once connected) */
  get mtu(): number {
    return this.#state.mtu;
  }

  /** Whether the memif port is connected, as its events last said (no FFI call). */
  get connected(): boolean {
    return this.#state.connected;
  }

  /** closed with its last socket, or when its port was closed */
  get closed(): boolean {
    return this.#state.closed;
  }
}

/** The view of `state` users get (one per interface). @internal */
export function newUdpInterface(state: InterfaceState): UdpInterface {
  return make(state);
}
