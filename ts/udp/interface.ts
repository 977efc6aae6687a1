/**
 * The memif side of the UDP sockets, one per (memif port, queue pair). Sockets bound on the
 * same port share it, as sockets share a NIC. It puts together the concerns that live in their
 * own files, and owns their state's lifetime:
 *
 *   binds.ts      the bind table (UDP port → socket, bound addresses)
 *   receive.ts    the receive pipeline (burst → parse → check → reassemble → demultiplex)
 *   transmit.ts   the transmit reservation, headers, checksums and fragmentation
 *   drain.ts      backpressure: drain handlers and writable()
 *   options.ts    the options and settings (and their reconciliation between sockets)
 *   registry.ts   which interface a socket's options name (made here, found there)
 *   view.ts       UdpInterface, what users see of it (`socket.memif`); the methods here are
 *                 the sockets' (socket.ts), and no public type names this class
 */
import { Batch } from "../batch.ts";
import type { Port } from "../port.ts";
import type { RxQueue } from "../rx.ts";
import type { MemifSocket } from "../socket.ts";
import type { TxQueue } from "../tx.ts";
import type { Ip6 } from "./addr.ts";
import { BindTable, type Endpoint } from "./binds.ts";
import { Drain } from "./drain.ts";
import { UdpError } from "./errors.ts";
import { ETH_HLEN, type Template } from "./headers.ts";
import type { Neighbours } from "./neighbour.ts";
import { type InterfaceStats, MIN_MTU, type MemifUdpOptions, newStats, type Settings } from "./options.ts";
import { Reassembler } from "./reassembly.ts";
import { Receiver } from "./receive.ts";
import { Transmitter } from "./transmit.ts";
import { newUdpInterface, type InterfaceState, type UdpInterface } from "./view.ts";

export class InterfaceCore implements InterfaceState {
  readonly port: Port;
  readonly qid: number;
  readonly stats: InterfaceStats = newStats();
  /** what users see of this interface (`socket.memif`) */
  readonly view: UdpInterface = newUdpInterface(this);
  /** fragments received: reassembled within bounds, or null (reassembly off) */
  readonly reassembler: Reassembler | null;
  readonly #settings: Settings;
  readonly #binds = new BindTable();
  readonly #rxq: RxQueue;
  readonly #txq: TxQueue;
  readonly #rx: Receiver;
  readonly #tx: Transmitter;
  readonly #drain: Drain;
  readonly #ownsPort: boolean;
  readonly #ownsSocket: MemifSocket | null;
  readonly #onClose: () => void;
  #closed = false;
  #started = false;

  /** A new interface on `port` (the registry's; the settings are checked). */
  constructor(
    port: Port,
    qid: number,
    settings: Settings,
    ownsPort: boolean,
    ownsSocket: MemifSocket | null,
    onClose: () => void,
  ) {
    this.port = port;
    this.qid = qid;
    this.#settings = settings;
    this.#ownsPort = ownsPort;
    this.#ownsSocket = ownsSocket;
    this.#onClose = onClose;
    this.reassembler = settings.reassembly === false ? null : new Reassembler(settings.reassembly);
    const rxb = new Batch(settings.burst);
    this.#rxq = port.rxQueue(qid, settings.rxMode !== undefined ? { rxMode: settings.rxMode } : {});
    try {
      this.#txq = port.txQueue(qid);
    } catch (e) {
      this.#rxq.close();
      throw e;
    }
    this.#tx = new Transmitter(port, this.#txq, rxb, this.stats, settings.ipMode, settings.fragment, settings.mtu);
    this.#rx = new Receiver(this.#rxq, rxb, settings, this.stats, this.#binds, this.#tx, this.reassembler, () =>
      this.#close(),
    );
    this.#drain = new Drain(port, this.#txq, () => this.#closed);
  }

  get ipMode(): boolean {
    return this.#settings.ipMode;
  }

  /** fragment datagrams larger than the MTU (memif.fragment) */
  get fragment(): boolean {
    return this.#settings.fragment;
  }

  /** where MACs for destinations come from (learned, static, the next hop) */
  get neighbours(): Neighbours {
    return this.#settings.neighbours;
  }

  /** our MAC: from options, or the destination MAC of the first unicast frame accepted; -1 until then */
  get localMac(): number {
    return this.#settings.mac;
  }

  /** the IPv4 address datagrams to wildcard sockets arrived at (a wildcard socket sends from it); -1 until then */
  get local4(): number {
    return this.#rx.local4;
  }

  /** the IPv6 address, likewise; null until then */
  get local6(): Ip6 | null {
    return this.#rx.local6;
  }

  /** IP MTU in use (clamped to the buffers once connected) */
  get mtu(): number {
    return this.#tx.mtu;
  }

  /** Whether the memif port is connected, as its events last said (no FFI call). */
  get connected(): boolean {
    return this.#tx.up;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- sockets ----

  /** Binds `s` to UDP port `lport` (0: a free ephemeral port); returns the port. */
  bind(s: Endpoint, lport: number, addr4: number, addr6: string | null): number {
    if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the memif interface was closed");
    const got = this.#binds.bind(s, lport, addr4, addr6, `memif port ${this.port.id} queue ${this.qid}`);
    this.updateRef();
    return got;
  }

  unbind(s: Endpoint, lport: number, addr4: number, addr6: string | null): void {
    if (!this.#binds.unbind(s, lport, addr4, addr6)) return;
    this.#drain.forget(s);
    if (this.#binds.size === 0) this.#close();
    else this.updateRef();
  }

  /** Closes the interface when no socket is bound to it (a socket that failed to bind). */
  closeIfUnused(): void {
    if (this.#binds.size === 0) this.#close();
  }

  /** The port keeps the process alive while any socket on it is ref'd (ports we were given: untouched). */
  updateRef(): void {
    if (!this.#ownsPort || this.port.closed) return;
    let any = false;
    for (const s of this.#binds.endpoints()) any ||= s.refed;
    if (any) this.port.ref();
    else this.port.unref();
  }

  // ---- transmit ----

  /** The next IPv4 identification (16 bits) or IPv6 fragment id (32 bits). */
  nextId(family: 4 | 6): number {
    return this.#tx.nextId(family);
  }

  /** Buffers a datagram of `len` payload bytes takes (1, or its fragments). */
  framesFor(tpl: Template, len: number): number {
    return this.#tx.framesFor(tpl, len);
  }

  /**
   * Writes one datagram (fragmented if it is larger than the MTU) into the ring: the template's
   * headers, `len` bytes of `src` from `off`, checksums. True when it is in the ring (published
   * by the next flush); false when the ring is full or the port not connected (nothing written).
   * Throws EMSGSIZE when it can never fit.
   */
  send(tpl: Template, src: Uint8Array, off: number, len: number): boolean {
    if (this.#closed) throw new UdpError("ERR_SOCKET_DGRAM_NOT_RUNNING", "the memif interface was closed");
    return this.#tx.send(tpl, src, off, len);
  }

  /** Publishes what was written (one txBurst); keeps the rest of the reservation for later sends. */
  flush(): void {
    this.#tx.flush();
  }

  /**
   * A send of `slots` buffers was refused: remember the socket, and once that many buffers are
   * free (or the port is back), run its drain handler.
   */
  refused(s: Endpoint, slots: number): void {
    this.#drain.refused(s, slots);
  }

  /** Resolves when `slots` transmit buffers are free (after reconnecting, if need be). */
  writable(slots: number, timeoutMs: number): Promise<void> {
    return this.#drain.writable(slots, timeoutMs);
  }

  // ---- life ----

  /** Reconciles a further socket's options with the interface's settings (see Settings.adopt). */
  adopt(o: MemifUdpOptions): void {
    this.#settings.adopt(o, `memif port ${this.port.id} queue ${this.qid}`, this.#rxq.rxMode, this.reassembler);
  }

  /** Starts the receive loop and follows the port's connections (once). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (this.port.connected) this.#onConnected();
    this.port.on("connected", this.#onConnected);
    this.port.on("disconnected", this.#onDisconnected);
    this.#rx.start();
  }

  /** Called for each connection: the buffers decide how large a frame can be. */
  readonly #onConnected = (): void => {
    if (this.port.closed) return;
    this.#tx.up = true;
    const bufferSize = this.port.info().bufferSize;
    const l2 = this.#settings.ipMode ? 0 : ETH_HLEN;
    const want = this.#settings.mtu;
    this.#tx.mtu = bufferSize > 0 ? Math.max(MIN_MTU, Math.min(want, bufferSize - l2)) : want;
  };

  /**
   * The connection ended: what was written and not yet published is gone with the ring (counted),
   * and sends are refused until the next connection.
   */
  readonly #onDisconnected = (): void => {
    this.#tx.disconnected();
  };

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rx.stop();
    this.port.off("connected", this.#onConnected);
    this.port.off("disconnected", this.#onDisconnected);
    try {
      this.#tx.flush();
    } catch {
      // closing anyway
    }
    this.#onClose();
    this.#rxq.close();
    this.#txq.close();
    if (this.#ownsPort) this.port.close();
    this.#ownsSocket?.close();
  }
}
