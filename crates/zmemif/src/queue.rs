//! The safe burst API over one ring: `RxQueue::rx_burst` → read in place → release (implicit on the
//! next burst); `TxQueue::alloc` → write in place → `tx_burst`. Packets are (region, offset, length)
//! descriptors into the shared regions: nothing is copied or allocated per packet.
//!
//! Indexes are cached here and the ring is touched once per burst: one Acquire load of the peer's
//! index, one Release store of ours. Every descriptor the peer supplies is checked against the
//! regions before it is handed out; a bad one is counted and skipped, never followed.
//!
//! One file per concern:
//! - `rx.rs`: `RxQueue` and its cursor on the ring (a server reads what the client filled and moves
//!   tail; a client re-offers its buffers and moves head);
//! - `tx.rs`: `TxQueue` and its cursor (a client sends its own buffers and moves head; a server
//!   fills the buffers the client offered and moves tail);
//! - `shared.rs`: what both directions really share: the claim on the port's queue id, the
//!   attachment to one connection (ring, region bounds, the fault path) and the only `unsafe` of
//!   the queue (copies into and out of the regions).

use crate::wire::DESC_FLAG_NEXT;

mod rx;
mod shared;
mod tx;

pub use rx::RxQueue;
pub use tx::TxQueue;

/// One buffer of a packet, in the caller's memory (the C ABI's `zmemif_desc`, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// `DESC_NEXT`: the packet continues in the next descriptor.
    pub flags: u16,
    /// Region index (a view index for bindings).
    pub region: u16,
    /// rx: bytes of data; after `alloc`: capacity; for `tx_burst`: bytes to send.
    pub length: u32,
    /// Byte offset of the buffer in its region.
    pub offset: u32,
    pub reserved: u32,
}
const _: () = assert!(std::mem::size_of::<Desc>() == 16);

pub const DESC_NEXT: u16 = DESC_FLAG_NEXT;

/// How the receiver asks to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxMode {
    /// Polling while bursts find data; the peer is asked to signal only while we wait (default).
    Adaptive,
    /// Never ask the peer to signal: `wait` spins and sleeps.
    Polling,
    /// Always ask the peer to signal (one eventfd write per peer burst).
    Interrupt,
}

/// Test hooks for `crates/zmemif/fuzz` (feature `fuzzing`, off in every normal build): one
/// queue's data path over a real connection whose other side the fuzzer writes at will.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

#[cfg(test)]
mod tests;
