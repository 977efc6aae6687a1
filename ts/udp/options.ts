/**
 * The options of a UDP socket's memif side (`memif: { ... }`), checked once, and the settings an
 * interface keeps from them. Sockets on one memif port share an interface, so a further socket's
 * options are reconciled with the settings already in use (`Settings.adopt`).
 */
import type { Mode, Port, Role } from "../port.ts";
import type { RxMode } from "../queue.ts";
import type { MemifSocket } from "../socket.ts";
import { formatIp6, formatMac, parseIp4, parseIp6, parseMac } from "./addr.ts";
import { UdpError } from "./errors.ts";
import { Neighbours } from "./neighbour.ts";
import type { Reassembler, ReassemblyOptions } from "./reassembly.ts";

/** How the UDP socket reaches memif: an existing port, or the options to make one. */
export interface MemifUdpOptions {
  /** a port you made (and close yourself); otherwise `socket` and the port options below */
  port?: Port;
  /** control socket: a path (`/run/memif.sock`) or `@name` (abstract), or a MemifSocket */
  socket?: string | MemifSocket;
  /** memif interface id; default 0 */
  id?: number;
  /** default 'client' (the forwarder is the server) */
  role?: Role;
  secret?: string;
  ringSize?: number;
  bufferSize?: number;
  /** 'ethernet' (default) or 'ip' (memif IP mode: bare IPv4/IPv6 packets, no MACs) */
  mode?: Mode;
  /** our interface name as the memif peer sees it */
  name?: string;
  reconnectMs?: number;
  /** queue pair to use; default 0 */
  queue?: number;
  /** how the receive queue waits: 'adaptive' (default), 'interrupt' or 'polling' */
  rxMode?: RxMode;
  /** frames per receive burst, 1..256; default 32 */
  burst?: number;
  /**
   * adaptive mode: after the last datagram, keep looking for more this long (µs) before asking
   * the peer to signal, 0..1000000; default 100. A request that follows within it is met at
   * polling latency instead of after a wake-up; it costs up to that much CPU per quiet gap
   * (an idle socket uses none). 0: arm as soon as the ring is empty.
   */
  busyPollUs?: number;
  /** udpSocket() waits this long for the memif connection, ms; default 10000; -1: forever; 0: not at all */
  connectTimeoutMs?: number;
  /** our MAC, "aa:bb:cc:dd:ee:ff"; default: learned from the first frame received (the forwarder's uplink MAC) */
  mac?: string;
  /** the MAC for destinations never heard from (the router, or the forwarder's uplink peer); default none */
  nextHopMac?: string;
  /** static neighbours: address → MAC, never replaced by learning */
  neighbours?: Record<string, string>;
  /** learned neighbours kept at most; default 4096 */
  maxNeighbours?: number;
  /** IP MTU, 576..(buffer size - 14); default 1500 (less when the buffers are smaller) */
  mtu?: number;
  /** fragment datagrams larger than the MTU (default true); false: such a send throws EMSGSIZE */
  fragment?: boolean;
  /** reassembly bounds, or false to count and drop every fragment */
  reassembly?: ReassemblyOptions | false;
}

/** Counters of one interface (all sockets on the memif queue pair). */
export interface InterfaceStats {
  /** frames received from memif */
  frames: number;
  /** datagrams handed to sockets */
  delivered: number;
  /** IPv4 header or UDP checksum wrong: dropped */
  badChecksum: number;
  /** frames shorter than their headers say: dropped */
  truncated: number;
  /** impossible headers (IHL < 5, UDP length < 8, version ≠ ethertype, jumbogram): dropped */
  malformed: number;
  /** not UDP over IPv4/IPv6 (ARP, ICMP, TCP: the kernel's), or for an address or port no socket is bound to: dropped */
  notForUs: number;
  /** fragments received, and what became of them */
  fragments: number;
  reassembled: number;
  fragmentTimeouts: number;
  /** fragments dropped: memory bound, overlap, bad length, too big, or reassembly off */
  fragmentsDropped: number;
  /** bytes held by reassembly now */
  reassemblyBytes: number;
  /** frames put in the ring (a fragmented datagram counts each fragment) */
  txFrames: number;
  /** datagrams written in the ring but not yet published when the connection ended */
  lostOnDisconnect: number;
  /**
   * the receive loop: looks at the rx ring (bursts), those that found it empty (the busy-poll
   * waiting for the peer), and waits for the peer's signal (the queue armed, no CPU meanwhile)
   */
  rxLooks: number;
  rxEmptyLooks: number;
  rxWaits: number;
}

/** @internal */
export function newStats(): InterfaceStats {
  return {
    frames: 0,
    delivered: 0,
    badChecksum: 0,
    truncated: 0,
    malformed: 0,
    notForUs: 0,
    fragments: 0,
    reassembled: 0,
    fragmentTimeouts: 0,
    fragmentsDropped: 0,
    reassemblyBytes: 0,
    txFrames: 0,
    lostOnDisconnect: 0,
    rxLooks: 0,
    rxEmptyLooks: 0,
    rxWaits: 0,
  };
}

/** Adaptive mode's busy-poll after the last datagram, µs (see MemifUdpOptions.busyPollUs). */
const DEFAULT_BUSY_POLL_US = 100;
const DEFAULT_MTU = 1500;
/** @internal */
export const MIN_MTU = 576;

/** Throws EINVAL `what` unless `ok`. @internal */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new UdpError("EINVAL", what);
}

/** Option `name`: `v` checked to be an integer in lo..hi, or `dflt` when not given. @internal */
export function intIn(v: number | undefined, lo: number, hi: number, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  check(Number.isInteger(v) && v >= lo && v <= hi, `memif.${name} must be an integer in ${lo}..${hi}, got ${v}`);
  return v;
}

function macOption(s: string | undefined, name: string): number {
  if (s === undefined) return -1;
  const v = parseMac(s);
  check(v >= 0, `memif.${name} must be a MAC address like 02:00:00:00:00:01, got ${s}`);
  return v;
}

/**
 * What an interface keeps of its sockets' options: fixed for its life (mode, MTU, burst...), or
 * added to by later sockets (a MAC not configured yet, static neighbours).
 * @internal
 */
export class Settings {
  readonly ipMode: boolean;
  readonly mtu: number;
  readonly fragment: boolean;
  readonly burst: number;
  /** undefined: the queue's default */
  readonly rxMode: RxMode | undefined;
  readonly busyPollUs: number;
  readonly reassembly: ReassemblyOptions | false;
  readonly neighbours: Neighbours;
  /** our MAC: from options, or learned (the destination MAC of the first unicast frame accepted) */
  mac: number;
  macConfigured: boolean;

  constructor(o: MemifUdpOptions) {
    const mode = o.mode ?? "ethernet";
    check(mode === "ethernet" || mode === "ip", `memif.mode must be 'ethernet' or 'ip', got ${mode}`);
    this.ipMode = mode === "ip";
    this.mac = macOption(o.mac, "mac");
    this.macConfigured = o.mac !== undefined;
    this.neighbours = new Neighbours(
      intIn(o.maxNeighbours, 1, 1 << 20, 4096, "maxNeighbours"),
      macOption(o.nextHopMac, "nextHopMac"),
    );
    this.#addNeighbours(o.neighbours);
    this.mtu = intIn(o.mtu, MIN_MTU, 65535, DEFAULT_MTU, "mtu");
    this.fragment = o.fragment ?? true;
    this.reassembly = o.reassembly === false ? false : (o.reassembly ?? {});
    this.burst = intIn(o.burst, 1, 256, 32, "burst");
    this.busyPollUs = intIn(o.busyPollUs, 0, 1_000_000, DEFAULT_BUSY_POLL_US, "busyPollUs");
    this.rxMode = o.rxMode;
  }

  #addNeighbours(table: Record<string, string> | undefined): void {
    for (const [addr, mac] of Object.entries(table ?? {})) {
      const m = macOption(mac, `neighbours["${addr}"]`);
      const a4 = parseIp4(addr);
      if (a4 >= 0) {
        this.neighbours.add4(a4, m);
        continue;
      }
      const a6 = parseIp6(addr);
      check(a6 !== null, `memif.neighbours: ${addr} is not an IPv4 or IPv6 address`);
      this.neighbours.add6(formatIp6(...a6!), m);
    }
  }

  /**
   * A further socket's options on an interface that exists (`where` names it; `rxMode` and `r`
   * are its queue's mode and its reassembler): static neighbours add up, a MAC not configured
   * yet is taken, anything that contradicts the settings is refused.
   */
  adopt(o: MemifUdpOptions, where: string, rxMode: RxMode, r: Reassembler | null): void {
    const clash = (name: string, have: unknown, want: unknown) => {
      if (want !== undefined && have !== want) {
        throw new UdpError(
          "EINVAL",
          `memif.${name} ${String(want)} contradicts ${String(have)}, which the sockets already on ${where} use; ` +
            "give the same options (or none) to every socket on one memif port",
        );
      }
    };
    clash("mode", this.ipMode ? "ip" : "ethernet", o.mode);
    clash("mtu", this.mtu, o.mtu);
    clash("fragment", this.fragment, o.fragment);
    clash("burst", this.burst, o.burst);
    clash("rxMode", rxMode, o.rxMode);
    clash("busyPollUs", this.busyPollUs, o.busyPollUs);
    if (o.reassembly === false) clash("reassembly", r === null ? false : "on", false);
    else if (o.reassembly !== undefined) {
      if (r === null) clash("reassembly", false, "on");
      else {
        clash("reassembly.timeoutMs", r.timeoutMs, o.reassembly.timeoutMs);
        clash("reassembly.maxBytes", r.maxBytes, o.reassembly.maxBytes);
        clash("reassembly.maxDatagrams", r.maxDatagrams, o.reassembly.maxDatagrams);
      }
    }
    if (o.mac !== undefined) {
      const m = macOption(o.mac, "mac");
      if (this.macConfigured) clash("mac", formatMac(this.mac), formatMac(m));
      this.mac = m;
      this.macConfigured = true;
    }
    if (o.nextHopMac !== undefined) {
      const m = macOption(o.nextHopMac, "nextHopMac");
      if (this.neighbours.defaultMac >= 0) clash("nextHopMac", formatMac(this.neighbours.defaultMac), formatMac(m));
      this.neighbours.defaultMac = m;
    }
    this.#addNeighbours(o.neighbours);
  }
}
