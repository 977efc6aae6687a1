/**
 * The public API, the same on every runtime. A runtime's entry module chooses the native backend
 * and re-exports this: ts/index.ts for Bun (bun:ffi).
 */
export { MemifSocket, type MemifSocketOptions } from "./socket.ts";
export {
  Port,
  type PortEvents,
  type PortSocket,
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
export { RxQueue } from "./rx.ts";
export { TxQueue } from "./tx.ts";
export type { Direction, QueueOptions, QueueStats, RxMode, QueueToken } from "./queue.ts";
export { Batch } from "./batch.ts";
export { MemifError, type MemifErrorCode } from "./errors.ts";
export { Capture, type CaptureOptions, type CaptureStats } from "./capture/capture.ts";
export { probeServer, ProbeError, type ProbeOptions, type ProbeProblem, type ServerHello } from "./probe.ts";
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
