/**
 * zmemif for Bun: memif (DPDK net_memif / VPP libmemif) shared-memory packet interfaces.
 *
 *   using socket = new MemifSocket("/run/memif.sock");
 *   using port = socket.port({ id: 0, role: "client" });
 *   await port.connect();
 *   using tx = port.txQueue(0);
 *   await tx.send(new TextEncoder().encode("hello"));
 *
 * Hot path: `queue.rxBurst(batch)` / `queue.alloc(batch)` + `queue.txBurst(batch)` with a reused
 * `Batch`; packets are (region, offset, length) into `batch.view(region)`. Views are valid while
 * the connection lives and are revoked (emptied) when it ends; see ts/batch.ts.
 */
export { MemifSocket, type MemifSocketOptions } from "./socket.ts";
export {
  Port,
  type ConnectedEvent,
  type ConnectOptions,
  type DisconnectedEvent,
  type Mode,
  type PortInfo,
  type PortOptions,
  type PortState,
  type PeerCredentials,
  type RejectedEvent,
  type Role,
} from "./port.ts";
export { Queue, type Direction, type QueueOptions, type QueueStats, type RxMode, type QueueToken } from "./queue.ts";
export { Batch } from "./batch.ts";
export { MemifError, type MemifErrorCode } from "./errors.ts";
export { libraryPath } from "./ffi.ts";
export {
  udpSocket,
  UdpSocket,
  createSocket,
  DgramSocket,
  Datagrams,
  UdpError,
  UdpInterface,
  type UdpSocketOptions,
  type UdpSocketHandler,
  type UdpSocketStats,
  type UdpData,
  type UdpBinaryType,
  type DgramSocketOptions,
  type RemoteInfo,
  type BindOptions,
  type MemifUdpOptions,
  type InterfaceStats,
  type UdpErrorCode,
  type ReassemblyOptions,
  type ReassemblyStats,
} from "./udp/index.ts";
