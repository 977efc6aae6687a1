/**
 * MemifSocket: the control socket (a UNIX stream socket) that memif ports handshake over.
 * One socket carries many ports (interfaces), told apart by id and role.
 */
import { MemifError } from "./errors.ts";
import { backend, type NativeBackend } from "./native/backend.ts";
import { check } from "./native/check.ts";
import { openPort, type Port, type PortOptions, type PortSocket, type SocketLink } from "./port.ts";

export interface MemifSocketOptions {
  /** owner of a filesystem socket this process creates (a server listener); default: leave */
  uid?: number;
  /** group of a filesystem socket this process creates; default: leave */
  gid?: number;
  /** permission bits of a filesystem socket this process creates; default 0o660 */
  mode?: number;
}

const LEAVE = 0xffffffff;

function u32Opt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) {
    throw new MemifError("INVALID_ARGUMENT", `MemifSocket: ${name} must be an integer in 0..4294967294, got ${v}`);
  }
  return v;
}

export class MemifSocket implements PortSocket {
  /** the path as given: a filesystem path, or `@name` for an abstract socket */
  readonly path: string;
  readonly abstract: boolean;
  readonly #native: NativeBackend;
  #handle: number;
  readonly #ports = new Set<Port>();
  /** what this socket's ports see of it */
  readonly #link: SocketLink;

  /**
   * @param path a filesystem path (e.g. `/run/vpp/memif.sock`), or `@name` for a Linux abstract
   *             socket named `name` (no file; reachable from the same network namespace).
   */
  constructor(path: string, options: MemifSocketOptions = {}) {
    if (typeof path !== "string" || path === "" || path === "@") {
      throw new MemifError(
        "SOCKET_PATH",
        "MemifSocket: the path must be a non-empty filesystem path or @name for an abstract socket",
      );
    }
    const isAbstract = path.startsWith("@");
    const bytes = new TextEncoder().encode(isAbstract ? path.slice(1) : path);
    const mode = options.mode === undefined ? 0 : options.mode;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new MemifError("INVALID_ARGUMENT", `MemifSocket: mode must be permission bits (0..0o7777), got ${mode}`);
    }
    const uid = u32Opt("uid", options.uid, LEAVE);
    const gid = u32Opt("gid", options.gid, LEAVE);
    const native = backend();
    const handle = native.socketNew(bytes, isAbstract ? 1 : 0, uid, gid, mode);
    check(handle, `zmemif_socket_new(${JSON.stringify(path)})`);
    this.path = path;
    this.abstract = isAbstract;
    this.#native = native;
    this.#handle = handle;
    this.#link = {
      socket: this,
      native,
      handle: () => {
        if (this.#handle === 0) throw new MemifError("CLOSED", `MemifSocket ${this.path} is closed`);
        return this.#handle;
      },
      track: (port, open) => {
        if (open) this.#ports.add(port);
        else this.#ports.delete(port);
      },
    };
  }

  get closed(): boolean {
    return this.#handle === 0;
  }

  /** Creates a port (memif interface) on this socket. */
  port(options: PortOptions = {}): Port {
    return openPort(this.#link, options);
  }

  /** Closes every port opened on this socket (revoking their views), then the socket. */
  close(): void {
    if (this.#handle === 0) return;
    for (const port of [...this.#ports]) port.close();
    const h = this.#handle;
    this.#handle = 0;
    this.#native.socketFree(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
