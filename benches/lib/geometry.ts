/**
 * The memif geometry every memif end of a case uses at a packet size: buffers of 2048 bytes (a
 * larger packet is a chain of them) and rings of 1024 slots, the defaults of zmemif and of DPDK's
 * net_memif, except where DPDK 22.11 cannot transmit chains into a ring of 1024 (`ringSlots`).
 * Every scenario of a run uses the same geometry at a size, so that their figures compare.
 */

/** Bytes per memif buffer (zmemif's and net_memif's default). */
export const BUFFER_SIZE = 2048;
/** Slots per memif ring (zmemif's and net_memif's default). */
export const RING_SLOTS = 1024;

/** Buffers a packet of `size` bytes takes. */
export function chainLength(size: number): number {
  return Math.max(1, Math.ceil(size / BUFFER_SIZE));
}

/**
 * Slots per ring at packet size `size`: 1024, or 2048 where a packet is a chain of k buffers with
 * 1024 mod k = k - 1 (k = 5 or 25: 8193..10240 and 49153..51200 bytes, so 9000).
 *
 * Why: DPDK 22.11's net_memif copy-mode transmit (eth_memif_tx) takes a packet that needs k
 * buffers when only k - 1 are free. It counts the first buffer of a packet only after the packet
 * is written, so the chain check passes with one slot short; its free count (a uint16) then wraps
 * below zero, and from that burst on it writes descriptors it does not own and moves its head
 * (C2S) or tail (S2C) past the buffers the receiver gave it. The receiver returns whole packets,
 * so the free count testpmd starts a burst with is always the ring size mod k: with 1024 slots
 * and k = 5 it reaches exactly 4 as soon as the ring fills. A zmemif receiver then drops the
 * connection ("Invalid ring index: ... outside ... (the buffers offered)") and testpmd, still
 * transmitting into the unmapped region, dies of SIGSEGV; a testpmd receiver does not check, and
 * the bench counted a third to three quarters of what testpmd sent as lost (dpdk-dpdk, 9000 B).
 * With 2048 slots (2048 mod 5 = 3, 2048 mod 25 = 23) the short packet waits for the next burst,
 * as it should.
 * Other chain lengths never meet the condition at 1024 (1024 mod k = k - 1 means k divides 1025).
 */
export function ringSlots(size: number): number {
  const k = chainLength(size);
  let slots = RING_SLOTS;
  while (k > 1 && slots % k === k - 1) slots *= 2;
  return slots;
}
