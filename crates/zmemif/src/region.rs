//! A shared-memory region: a memfd mapped `MAP_SHARED`. The client creates regions (sealed against
//! shrinking, so the peer cannot make our accesses fault); the server maps the fds it receives.
//!
//! A region hands out raw base pointers only; every access through them is bounds-checked by the
//! caller against `len()` (see `queue.rs`). No Rust reference into the mapping is ever made.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use memmap2::{MmapOptions, MmapRaw};
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::error::{Error, Result};

pub struct Region {
    map: MmapRaw,
    fd: OwnedFd,
}

impl Region {
    /// Creates a zero-filled region of `size` bytes (client side).
    pub fn create(name: &str, size: u64) -> Result<Region> {
        let cname = std::ffi::CString::new(name).unwrap_or_else(|_| c"zmemif".into());
        let fd = memfd_create(
            &cname,
            MemFdCreateFlag::MFD_ALLOW_SEALING | MemFdCreateFlag::MFD_CLOEXEC,
        )
        .map_err(|e| Error::os("memfd_create", e))?;
        let file = File::from(fd);
        file.set_len(size)
            .map_err(|e| Error::io("sizing the shared-memory region", e))?;
        fcntl(
            file.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK),
        )
        .map_err(|e| Error::os("sealing the shared-memory region", e))?;
        Self::map(OwnedFd::from(file), size)
    }

    /// Maps a region received from the client (server side). The peer is untrusted: the file must be
    /// at least `size` bytes, and we seal it against shrinking ourselves where the fd allows, so a peer
    /// that truncates it later cannot make our accesses fault (SIGBUS).
    pub fn from_peer(fd: OwnedFd, size: u64) -> std::result::Result<Region, String> {
        if size == 0 || size > isize::MAX as u64 {
            return Err(format!("Invalid region size {size}"));
        }
        let file = File::from(fd);
        let actual = file
            .metadata()
            .map_err(|e| format!("Region fd unusable: {e}"))?
            .len();
        if actual < size {
            return Err(format!("Region fd is {actual} bytes, less than {size}"));
        }
        // Best effort: a memfd made with MFD_ALLOW_SEALING (DPDK, libmemif, VPP, us) takes the seal;
        // other files (DPDK zero-copy hugepage files) cannot be shrunk by an unprivileged peer anyway.
        let _ = fcntl(
            file.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK),
        );
        Self::map(OwnedFd::from(file), size).map_err(|e| e.message)
    }

    fn map(fd: OwnedFd, size: u64) -> Result<Region> {
        let len = usize::try_from(size).map_err(|_| Error::invalid("region too large"))?;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&fd.as_fd())
            .map_err(|e| Error::io("mapping the shared-memory region", e))?;
        Ok(Region { map, fd })
    }

    pub fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    // Beside `len` for clippy (a region is never empty); used only through the test hooks.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// `offset + len <= size`, computed without overflow (a peer's offset and length are u32 each).
#[inline]
pub fn in_bounds(offset: u32, len: u32, size: usize) -> bool {
    (offset as u64) + (len as u64) <= size as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_do_not_overflow() {
        assert!(in_bounds(0, 0, 0));
        assert!(in_bounds(10, 6, 16));
        assert!(!in_bounds(10, 7, 16));
        assert!(!in_bounds(u32::MAX, 1, 1 << 20));
        assert!(!in_bounds(1, u32::MAX, u32::MAX as usize));
        assert!(in_bounds(1, u32::MAX - 1, u32::MAX as usize));
    }

    #[test]
    fn created_region_is_sealed_and_mapped() {
        let r = Region::create("t", 1 << 16).unwrap();
        assert_eq!(r.len(), 1 << 16);
        let seals = fcntl(r.fd().as_raw_fd(), FcntlArg::F_GET_SEALS).unwrap();
        assert!(SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK));
        // A peer's view of the same fd sees our writes.
        let dup = r.fd().try_clone().unwrap();
        let peer = Region::from_peer(dup, 1 << 16).unwrap();
        // SAFETY: both mappings are 64 KiB long; offset 100 is inside them and nothing else runs.
        unsafe {
            r.base().add(100).write_volatile(0xAB);
            assert_eq!(peer.base().add(100).read_volatile(), 0xAB);
        }
    }

    #[test]
    fn peer_region_smaller_than_announced_is_refused() {
        let r = Region::create("t", 4096).unwrap();
        let dup = r.fd().try_clone().unwrap();
        let err = Region::from_peer(dup, 8192).err().unwrap();
        assert!(err.contains("less than"), "{err}");
        let dup = r.fd().try_clone().unwrap();
        assert!(Region::from_peer(dup, 0).is_err());
    }
}
