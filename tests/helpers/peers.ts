/**
 * Shared helpers for the Bun tests: unique socket names, a peer process we can follow, an echo
 * scene, a connected server and client of this process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Proc } from "../../support/proc.ts";
import {
  type ConnectedEvent,
  type DisconnectedEvent,
  MemifSocket,
  type Port,
  type PortOptions,
  type RxQueue,
  type TxQueue,
} from "../../ts/index.ts";

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

/** A client port connected to a `bun_peer.ts` echo server; `await using` it. */
export interface EchoPort extends AsyncDisposable {
  readonly peer: Peer;
  readonly socket: MemifSocket;
  readonly port: Port;
  /** what `port.connect()` resolved with */
  readonly connected: ConnectedEvent;
}

/**
 * Starts an echo server on a fresh abstract name (with `peerArgs` added, e.g. `--queues 2`) and
 * connects a client port to it (`reconnectMs: 50` and `options`). Disposing it closes the port and
 * the socket, then stops the server if it still runs.
 */
export async function echoPort(options: Omit<PortOptions, "role"> = {}, peerArgs: string[] = []): Promise<EchoPort> {
  const path = abstractName();
  const peer = new Peer(["--socket", path, "--role", "server", "--behaviour", "echo", ...peerArgs]);
  const owned: Disposable[] = [];
  const dispose = async (): Promise<void> => {
    for (const d of owned.splice(0).reverse()) d[Symbol.dispose]();
    if (peer.running) await peer.stop();
  };
  try {
    await peer.waitFor(/^listening/);
    const socket = new MemifSocket(path);
    owned.push(socket);
    const port = socket.port({ role: "client", reconnectMs: 50, ...options });
    owned.push(port);
    const connected = await port.connect({ timeoutMs: 5000 });
    return { peer, socket, port, connected, [Symbol.asyncDispose]: dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** An EchoPort with queue pair 0 open; `await using` it. */
export interface EchoClient extends EchoPort {
  readonly tx: TxQueue;
  readonly rx: RxQueue;
  /** SIGKILLs the echo server; resolves with the port's `disconnected` event. */
  peerLeaves(): Promise<DisconnectedEvent>;
}

/** echoPort(options) with queue pair 0 open. Disposing it closes the queues, then as echoPort. */
export async function echoClient(options: Omit<PortOptions, "role"> = {}): Promise<EchoClient> {
  const echo = await echoPort(options);
  const { peer, port } = echo;
  const queues: Disposable[] = [];
  const dispose = async (): Promise<void> => {
    for (const q of queues.splice(0).reverse()) q[Symbol.dispose]();
    await echo[Symbol.asyncDispose]();
  };
  try {
    const tx = port.txQueue(0);
    queues.push(tx);
    const rx = port.rxQueue(0);
    queues.push(rx);
    return {
      ...echo,
      tx,
      rx,
      async peerLeaves() {
        const gone = new Promise<DisconnectedEvent>((r) => port.once("disconnected", r));
        peer.kill();
        return await gone;
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** A server port and a client port of this process, connected; `using` it. */
export interface PortPair extends Disposable {
  readonly server: Port;
  readonly client: Port;
}

/**
 * A server port and a client port of this process on interface `id` of a fresh socket path, both
 * connected. The client does not come back once its connection ends (`reconnectMs: 60_000`).
 * Disposing it closes the client port and its socket, then the server port and its socket.
 */
export async function connectedPair(id: number): Promise<PortPair> {
  const path = socketPath();
  const owned: Disposable[] = [];
  const dispose = (): void => {
    for (const d of owned.splice(0).reverse()) d[Symbol.dispose]();
  };
  try {
    const serverSocket = new MemifSocket(path);
    owned.push(serverSocket);
    const server = serverSocket.port({ id, role: "server" });
    owned.push(server);
    const clientSocket = new MemifSocket(path);
    owned.push(clientSocket);
    const client = clientSocket.port({ id, role: "client", reconnectMs: 60_000 });
    owned.push(client);
    await Promise.all([server.connect({ timeoutMs: 5000 }), client.connect({ timeoutMs: 5000 })]);
    return { server, client, [Symbol.dispose]: dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
