/**
 * Which interface a socket's `memif` options name: sockets given the same port object, or the
 * same control socket path, interface id, role and queue, share one interface (a further
 * socket's options are reconciled with it); otherwise a new one is made, with a port (and a
 * control socket) of its own when the options name a path.
 */
import type { Mode, Port, PortOptions } from "../port.ts";
import { MemifSocket } from "../socket.ts";
import { UdpError } from "./errors.ts";
import { InterfaceCore } from "./interface.ts";
import { check, intIn, type MemifUdpOptions, Settings } from "./options.ts";

const byPath = new Map<string, InterfaceCore>();
const byPort = new WeakMap<Port, Map<number, InterfaceCore>>();

/**
 * The interface for these options, connected (see memif.connectTimeoutMs) and running: an
 * existing one when another socket already uses the same memif port and queue (options that
 * contradict it are refused), or a new one.
 */
export async function openInterface(o: MemifUdpOptions | undefined): Promise<InterfaceCore> {
  if (o === undefined || (o.port === undefined && o.socket === undefined)) {
    throw new UdpError(
      "EINVAL",
      "udpSocket over memif needs `memif: { socket: '/run/memif.sock' }` (the forwarder's socket) " +
        "or `memif: { port }`",
    );
  }
  const qid = intIn(o.queue, 0, 254, 0, "queue");
  const mode = o.mode ?? "ethernet";
  check(mode === "ethernet" || mode === "ip", `memif.mode must be 'ethernet' or 'ip', got ${mode}`);
  const timeoutMs = o.connectTimeoutMs ?? 10_000;
  check(
    Number.isInteger(timeoutMs) && timeoutMs >= -1,
    `memif.connectTimeoutMs must be -1 or a non-negative integer, got ${timeoutMs}`,
  );
  const found = find(o, qid);
  found?.adopt(o);
  const iface = found ?? make(o, qid, mode);
  if (timeoutMs !== 0) {
    try {
      await iface.port.connect(timeoutMs > 0 ? { timeoutMs } : {});
    } catch (e) {
      iface.closeIfUnused();
      throw e;
    }
  }
  iface.start();
  return iface;
}

function find(o: MemifUdpOptions, qid: number): InterfaceCore | undefined {
  const found = o.port !== undefined ? byPort.get(o.port)?.get(qid) : byPath.get(pathKey(o, qid));
  return found !== undefined && !found.closed ? found : undefined;
}

function pathKey(o: MemifUdpOptions, qid: number): string {
  const path = typeof o.socket === "string" ? o.socket : o.socket!.path;
  return `${path}\0${o.id ?? 0}\0${o.role ?? "client"}\0${qid}`;
}

function make(o: MemifUdpOptions, qid: number, mode: Mode): InterfaceCore {
  const settings = new Settings(o);
  if (o.port !== undefined) {
    const port = o.port;
    let m = byPort.get(port);
    if (m === undefined) byPort.set(port, (m = new Map()));
    const iface = new InterfaceCore(port, qid, settings, false, null, () => {
      if (byPort.get(port)?.get(qid) === iface) byPort.get(port)!.delete(qid);
    });
    m.set(qid, iface);
    return iface;
  }
  const key = pathKey(o, qid);
  const own = typeof o.socket === "string" ? new MemifSocket(o.socket) : null;
  const sock = own ?? (o.socket as MemifSocket);
  let iface: InterfaceCore;
  try {
    const po: PortOptions = { role: o.role ?? "client", mode, name: o.name ?? "zmemif-udp" };
    if (o.id !== undefined) po.id = o.id;
    if (o.secret !== undefined) po.secret = o.secret;
    if (o.ringSize !== undefined) po.ringSize = o.ringSize;
    if (o.bufferSize !== undefined) po.bufferSize = o.bufferSize;
    if (o.reconnectMs !== undefined) po.reconnectMs = o.reconnectMs;
    if (qid > 0) po.c2sQueues = po.s2cQueues = qid + 1;
    const port = sock.port(po);
    try {
      iface = new InterfaceCore(port, qid, settings, true, own, () => {
        if (byPath.get(key) === iface) byPath.delete(key);
      });
    } catch (e) {
      port.close();
      throw e;
    }
  } catch (e) {
    own?.close();
    throw e;
  }
  byPath.set(key, iface);
  return iface;
}
