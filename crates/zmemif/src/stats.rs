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
    pub reserved: [u64; 3],
}

impl QueueCounters {
    pub fn snapshot(&self) -> QueueStats {
        QueueStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            bad_descs: self.bad_descs.load(Ordering::Relaxed),
            ring_full: self.ring_full.load(Ordering::Relaxed),
            interrupts: self.interrupts.load(Ordering::Relaxed),
            reserved: [0; 3],
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
