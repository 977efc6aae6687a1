//! The raw ring: the only module that touches shared memory through raw pointers.
//!
//! Shared memory can be written by the peer at any moment, so we never form a Rust reference into
//! it: indexes go through atomics, descriptors and packet bytes through volatile reads/writes and
//! `copy_nonoverlapping` on raw pointers. Callers (`queue.rs`) check every offset the peer supplies
//! against the region length before they ask for an access here.
//!
//! Orderings (as DPDK's memif PMD does them): a side loads the *peer's* index with Acquire, so the
//! descriptors and packet bytes the peer wrote before publishing are visible; it publishes its *own*
//! index with Release, after writing descriptors/bytes; and it reads its own index Relaxed (only it
//! writes it). The client writes only `head`, the server only `tail`, on both ring types.

use std::sync::atomic::{AtomicU16, Ordering};

use crate::wire::{
    COOKIE, DESC_FLAGS_OFF, DESC_LENGTH_OFF, DESC_OFFSET_OFF, DESC_REGION_OFF, DESC_SIZE,
    RING_COOKIE_OFF, RING_FLAGS_OFF, RING_HEADER_SIZE, RING_HEAD_OFF, RING_TAIL_OFF,
};

/// A descriptor as read from or written to a ring slot (a copy, never a reference into the ring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawDesc {
    pub flags: u16,
    pub region: u16,
    pub length: u32,
    pub offset: u32,
}

/// One ring in a mapped region.
pub struct Ring {
    hdr: *mut u8,
    log2: u8,
}

// SAFETY: `Ring` is a pair of plain values; the memory it points to is shared with another process
// by design and is only accessed through atomics and volatile operations, which are sound from any
// thread. Whoever holds a `Ring` also holds the mapping alive (see `Ring::new`).
unsafe impl Send for Ring {}

impl Ring {
    /// # Safety
    /// `hdr` must point to `wire::ring_stride(log2)` bytes inside a shared mapping that stays mapped
    /// for as long as this `Ring` is used, and be 8-byte aligned (so the u16/u32 fields are aligned).
    pub unsafe fn new(hdr: *mut u8, log2: u8) -> Ring {
        debug_assert!(hdr as usize % 8 == 0);
        Ring { hdr, log2 }
    }

    #[inline]
    pub fn size(&self) -> u16 {
        // log2 ≤ 14, so the size fits a u16.
        1u16 << self.log2
    }

    #[inline]
    pub fn mask(&self) -> u16 {
        self.size() - 1
    }

    #[inline]
    fn atomic16(&self, off: usize) -> &AtomicU16 {
        // SAFETY: `off` is one of the u16 header fields (flags, head, tail), inside the header and
        // 2-byte aligned (header is 8-aligned, offsets are even). An `AtomicU16` reference to shared
        // memory is sound: all accesses to it, ours and the peer's, are atomic u16 operations, and
        // the mapping outlives `self` (contract of `new`).
        unsafe { AtomicU16::from_ptr(self.hdr.add(off).cast::<u16>()) }
    }

    pub fn cookie(&self) -> u32 {
        // SAFETY: offset 0 of the header, 4-byte aligned, inside the mapping.
        unsafe { self.hdr.add(RING_COOKIE_OFF).cast::<u32>().read_volatile() }
    }

    /// Client: write a fresh header (cookie, flags, head = tail = 0). Done before the server sees it.
    pub fn init(&self, flags: u16) {
        // SAFETY: as in `cookie`.
        unsafe {
            self.hdr
                .add(RING_COOKIE_OFF)
                .cast::<u32>()
                .write_volatile(COOKIE)
        };
        self.atomic16(RING_FLAGS_OFF)
            .store(flags, Ordering::Relaxed);
        self.atomic16(RING_HEAD_OFF).store(0, Ordering::Relaxed);
        self.atomic16(RING_TAIL_OFF).store(0, Ordering::Relaxed);
    }

    #[inline]
    pub fn flags(&self) -> u16 {
        // Relaxed: a hint for whether to signal; a stale value costs one extra or one missed
        // eventfd write, which the receiver's own poll covers.
        self.atomic16(RING_FLAGS_OFF).load(Ordering::Relaxed)
    }

    pub fn set_flags(&self, v: u16) {
        self.atomic16(RING_FLAGS_OFF).store(v, Ordering::Release);
    }

    #[inline]
    pub fn head(&self, order: Ordering) -> u16 {
        self.atomic16(RING_HEAD_OFF).load(order)
    }

    #[inline]
    pub fn tail(&self, order: Ordering) -> u16 {
        self.atomic16(RING_TAIL_OFF).load(order)
    }

    #[inline]
    pub fn publish_head(&self, v: u16) {
        self.atomic16(RING_HEAD_OFF).store(v, Ordering::Release);
    }

    #[inline]
    pub fn publish_tail(&self, v: u16) {
        self.atomic16(RING_TAIL_OFF).store(v, Ordering::Release);
    }

    #[inline]
    fn desc_ptr(&self, index: u16) -> *mut u8 {
        let slot = (index & self.mask()) as usize;
        // SAFETY: slot < 2^log2, so the descriptor lies inside the ring (contract of `new`).
        unsafe { self.hdr.add(RING_HEADER_SIZE + slot * DESC_SIZE) }
    }

    /// Hints the CPU to fetch the descriptor line at `index` now. The peer's core wrote it, so
    /// the first read misses; asking for a burst's lines up front overlaps those misses.
    #[inline]
    pub fn prefetch(&self, index: u16) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint and never faults; the address is inside the ring anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                self.desc_ptr(index).cast::<i8>(),
            )
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = index;
    }

    /// As `prefetch`, for a line we are about to write (PREFETCHW: fetched for ownership).
    #[inline]
    pub fn prefetch_write(&self, index: u16) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `prefetch`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(
                self.desc_ptr(index).cast::<i8>(),
            )
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = index;
    }

    /// Reads the descriptor at ring index `index` (taken modulo the ring size).
    #[inline]
    pub fn read_desc(&self, index: u16) -> RawDesc {
        let d = self.desc_ptr(index);
        // SAFETY: `d` is a 16-byte, 8-aligned descriptor inside the ring; volatile reads of its
        // aligned fields, because the peer may write them.
        unsafe {
            RawDesc {
                flags: d.add(DESC_FLAGS_OFF).cast::<u16>().read_volatile(),
                region: d.add(DESC_REGION_OFF).cast::<u16>().read_volatile(),
                length: d.add(DESC_LENGTH_OFF).cast::<u32>().read_volatile(),
                offset: d.add(DESC_OFFSET_OFF).cast::<u32>().read_volatile(),
            }
        }
    }

    #[inline]
    pub fn write_desc(&self, index: u16, v: RawDesc) {
        let d = self.desc_ptr(index);
        // SAFETY: as in `read_desc`; the slot belongs to us (not yet published to the peer).
        unsafe {
            d.add(DESC_FLAGS_OFF).cast::<u16>().write_volatile(v.flags);
            d.add(DESC_REGION_OFF)
                .cast::<u16>()
                .write_volatile(v.region);
            d.add(DESC_LENGTH_OFF)
                .cast::<u32>()
                .write_volatile(v.length);
            d.add(DESC_OFFSET_OFF)
                .cast::<u32>()
                .write_volatile(v.offset);
        }
    }

    /// Writes only flags and length (the server filling a buffer the client offered).
    #[inline]
    pub fn write_len_flags(&self, index: u16, length: u32, flags: u16) {
        let d = self.desc_ptr(index);
        // SAFETY: as in `write_desc`.
        unsafe {
            d.add(DESC_FLAGS_OFF).cast::<u16>().write_volatile(flags);
            d.add(DESC_LENGTH_OFF).cast::<u32>().write_volatile(length);
        }
    }
}

/// Copies `dst.len()` bytes out of shared memory at `base + offset`.
///
/// # Safety
/// `[base + offset, base + offset + dst.len())` must lie inside a live mapping.
#[inline]
pub unsafe fn copy_out(base: *const u8, offset: usize, dst: &mut [u8]) {
    // SAFETY: the source range is inside the mapping (caller's contract) and cannot overlap `dst`,
    // which is ordinary process memory. The peer may write the source concurrently; the bytes we get
    // are then whatever it wrote, which is the peer's problem, not a memory-safety one.
    unsafe { std::ptr::copy_nonoverlapping(base.add(offset), dst.as_mut_ptr(), dst.len()) }
}

/// Copies `src` into shared memory at `base + offset`.
///
/// # Safety
/// `[base + offset, base + offset + src.len())` must lie inside a live mapping.
#[inline]
pub unsafe fn copy_in(base: *mut u8, offset: usize, src: &[u8]) {
    // SAFETY: as in `copy_out`, in the other direction.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(offset), src.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ring_stride;

    /// A ring in ordinary (8-aligned) memory for index arithmetic tests.
    fn ring(log2: u8) -> (Vec<u64>, Ring) {
        let mut mem = vec![0u64; ring_stride(log2) / 8];
        // SAFETY: `mem` is ring_stride(log2) bytes, 8-aligned, and is returned with the ring so it
        // outlives every use in the test.
        let r = unsafe { Ring::new(mem.as_mut_ptr().cast(), log2) };
        (mem, r)
    }

    #[test]
    fn header_fields_land_at_their_offsets() {
        let (mem, r) = ring(2);
        r.init(1);
        r.publish_head(0x0102);
        r.publish_tail(0x0304);
        let bytes: Vec<u8> = mem.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&bytes[0..4], &COOKIE.to_le_bytes());
        assert_eq!(&bytes[4..6], &[1, 0]);
        assert_eq!(&bytes[6..8], &[2, 1]);
        assert_eq!(&bytes[64..66], &[4, 3]);
        assert_eq!(r.cookie(), COOKIE);
    }

    #[test]
    fn descriptor_slots_wrap() {
        let (mem, r) = ring(2); // 4 slots
        let d = RawDesc {
            flags: 1,
            region: 2,
            length: 3,
            offset: 4,
        };
        r.write_desc(u16::MAX, d); // index 65535 → slot 3
        assert_eq!(r.read_desc(3), d);
        assert_eq!(r.read_desc(7), d);
        let bytes: Vec<u8> = mem.iter().flat_map(|w| w.to_le_bytes()).collect();
        let s = RING_HEADER_SIZE + 3 * DESC_SIZE;
        assert_eq!(&bytes[s..s + 12], &[1, 0, 2, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
        r.write_len_flags(3, 9, 0);
        assert_eq!(r.read_desc(3).length, 9);
        assert_eq!(r.read_desc(3).flags, 0);
        assert_eq!(r.read_desc(3).offset, 4);
    }
}
