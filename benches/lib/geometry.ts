/**
 * The memif geometry every memif end of a case uses at a packet size: rings of 1024 slots and
 * buffers of 2048 bytes (a larger packet is a chain of them), the defaults of zmemif and of DPDK's
 * net_memif, except where DPDK 22.11 cannot transmit such chains correctly (`bufferSize`). Every
 * scenario of a run uses the same geometry at a size, so that their figures compare.
 */

/** Bytes per memif buffer (zmemif's and net_memif's default). */
export const BUFFER_SIZE = 2048;
/** Slots per memif ring (zmemif's and net_memif's default). */
export const RING_SLOTS = 1024;

/** Buffers a packet of `size` bytes takes with `buffer`-byte buffers. */
export function chainLength(size: number, buffer = BUFFER_SIZE): number {
  return Math.max(1, Math.ceil(size / buffer));
}

/**
 * Bytes per buffer at packet size `size`: 2048, unless a packet would take a number of 2048-byte
 * buffers that is not a power of two (3, 5..7, 9..15 or 17..31); then the smallest multiple of 64
 * that makes it the power of two below (9000 bytes: 4 buffers of 2304 instead of 5 of 2048).
 *
 * Why: DPDK 22.11's net_memif copy-mode transmit (eth_memif_tx) counts the first buffer of a
 * packet only once the packet is written, so its check for the next buffer of a chain lets it
 * take one slot more than it has free. With N slots free and a packet of k buffers:
 *  - N = k - 1: the packet goes out one slot past what the receiver gave, the free count (a
 *    uint16) wraps, and from then on testpmd writes past the buffers it was given. A zmemif
 *    receiver drops the connection ("Invalid ring index: ... outside ... (the buffers offered)")
 *    and testpmd, still transmitting into the unmapped region, dies of SIGSEGV;
 *  - 0 < N < k - 1: the packet does not go out, but testpmd has already written the slot after
 *    its last free one, which the receiver owns: its data, its length, and its flags cleared.
 *    A packet there not yet read arrives cut in two (2048 + 6952 bytes at 9000), so more
 *    packets arrive than testpmd counts as sent, and the data is not what was sent.
 * The receiver returns whole packets, so testpmd starts each burst with N = ring size mod k
 * (modulo whole packets). With 1024 slots and k a power of two, that is 0: a burst either
 * sends whole packets or stops with nothing free, and neither case arises. With 2048-byte
 * buffers at 9000 bytes (k = 5, 1024 mod 5 = 4) every run where testpmd sent to Bun failed.
 */
export function bufferSize(size: number): number {
  const k = chainLength(size);
  if ((k & (k - 1)) === 0) return BUFFER_SIZE;
  const pow2 = 2 ** Math.floor(Math.log2(k));
  return Math.ceil(size / pow2 / 64) * 64;
}
