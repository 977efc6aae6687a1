/**
 * UdpError: what the UDP layer refuses, with the code node:dgram / the kernel would give for the
 * same mistake where there is one, so code written for a kernel socket catches the same codes.
 * Failures of memif itself (socket path, handshake, ...) stay MemifError.
 */
export type UdpErrorCode =
  | "EINVAL" // an option or argument out of range (the message names it and the range)
  | "EMSGSIZE" // a datagram larger than the MTU with fragmentation off, or over 65507/65527 bytes
  | "EADDRINUSE" // another socket on this memif port is bound to that UDP port
  | "EADDRNOTAVAIL" // no source address (a wildcard socket that has not received yet) or a loopback hostname
  | "ENOBUFS" // node:dgram shape: the send queue is full (sendQueueLimit bytes wait for ring space)
  | "EHOSTUNREACH" // no MAC known for the destination (never heard from, no nextHopMac)
  | "EACCES" // a broadcast without setBroadcast(true)
  | "ENOTSUP" // multicast, and other socket options memif has no meaning for
  | "ERR_SOCKET_DGRAM_NOT_RUNNING"; // the socket is closed

export class UdpError extends Error {
  override readonly name = "UdpError";
  readonly code: UdpErrorCode;

  constructor(code: UdpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
