/**
 * UDP over memif: sockets shaped like Bun.udpSocket (udpSocket) and node:dgram (createSocket) on
 * a memif port, for services behind the zmemif forwarder (or any memif peer carrying Ethernet or
 * IP frames). See docs/udp-migration.md.
 *
 *   socket.ts      udpSocket(), UdpSocket: the Bun-shaped socket
 *   dgram.ts       createSocket(), DgramSocket: the node:dgram-shaped one
 *   view.ts        UdpInterface (socket.memif): what a user sees of the memif side
 *   interface.ts   the memif side of the sockets on one memif queue pair: puts together
 *     options.ts     the memif options, their checks, and reconciliation between sockets
 *     registry.ts    which interface a socket's options name
 *     binds.ts       the bind table (UDP port → socket)
 *     receive.ts     the receive pipeline: burst, parse, check, reassemble, demultiplex
 *     transmit.ts    the transmit reservation: headers, checksums, fragments, flush
 *     drain.ts       backpressure: drain handlers and writable()
 *   headers.ts     Ethernet / IPv4 / IPv6 / UDP parsing and header templates
 *   checksum.ts    the Internet checksum
 *   reassembly.ts  IP fragment reassembly within bounded memory and time
 *   neighbour.ts   MAC learning (no ARP over memif)
 *   addr.ts        addresses as numbers and text
 *   datagrams.ts   the zero-copy batch of received datagrams
 */
export {
  udpSocket,
  UdpSocket,
  type UdpSocketOptions,
  type UdpSocketHandler,
  type UdpSocketStats,
  type UdpData,
  type UdpBinaryType,
} from "./socket.ts";
export { createSocket, DgramSocket, type DgramSocketOptions, type RemoteInfo, type BindOptions } from "./dgram.ts";
export { UdpInterface } from "./view.ts";
export type { MemifUdpOptions, InterfaceStats } from "./options.ts";
export { Datagrams } from "./datagrams.ts";
export { UdpError, type UdpErrorCode } from "./errors.ts";
export type { ReassemblyOptions, ReassemblyStats } from "./reassembly.ts";
