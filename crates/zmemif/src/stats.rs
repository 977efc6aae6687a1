//! Per-queue counters: written by the queue's owner once per burst, read from any thread (port
//! info, the C ABI's `zmemif_queue_stats`). They outlive a queue handle: the port keeps one set
//! per queue id, so closing and reopening a queue keeps its counts.

use std::sync::atomic::{AtomicU64, Ordering};

/// Per-queue counters, written by the queue's owner once per burst, readable from any thread.
#[derive(Default)]
pub struct QueueCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub bad_descs: AtomicU64,
    pub ring_full: AtomicU64,
    pub interrupts: AtomicU64,
    pub unread_at_disconnect: AtomicU64,
}

/// A snapshot of `QueueCounters`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub packets: u64,
    pub bytes: u64,
    pub bad_descs: u64,
    pub ring_full: u64,
    pub interrupts: u64,
    /// Packets a connection's end left on this queue's ring, counted once when the queue lets go
    /// of the ended connection (its next burst, wait or alloc; a binding's detach; closing it).
    /// rx: published by the peer, not yet read by us. tx: sent by us, not yet given back by the
    /// peer (a zmemif receiver gives a burst back at its next burst or `release`, so what it read
    /// in its very last burst counts here too; never more than was sent on that connection). A
    /// ring index the ring cannot hold counts nothing.
    pub unread_at_disconnect: u64,
    pub reserved: [u64; 2],
}

impl QueueCounters {
    pub fn snapshot(&self) -> QueueStats {
        QueueStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            bad_descs: self.bad_descs.load(Ordering::Relaxed),
            ring_full: self.ring_full.load(Ordering::Relaxed),
            interrupts: self.interrupts.load(Ordering::Relaxed),
            unread_at_disconnect: self.unread_at_disconnect.load(Ordering::Relaxed),
            reserved: [0; 2],
        }
    }
    /// Single writer (the queue's owner), so a load and a store are enough: no locked add.
    #[inline]
    pub(crate) fn add(c: &AtomicU64, v: u64) {
        if v != 0 {
            c.store(c.load(Ordering::Relaxed) + v, Ordering::Relaxed);
        }
    }
}
