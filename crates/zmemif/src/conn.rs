//! A live connection's shared state: regions, rings and eventfds, built by the client (it owns the
//! memory) or assembled by the server from the client's ADD_REGION / ADD_RING messages. The data path
//! holds an `Arc<Connection>`; the mapping goes away only when the last holder lets go.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::error::{Error, Result};
use crate::region::{in_bounds, Region};
use crate::ring::{RawDesc, Ring};
use crate::wire::{self, ring_stride, AddRing, COOKIE, RING_FLAG_MASK_INT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Ring direction: client→server or server→client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    C2S,
    S2C,
}

impl Dir {
    /// The rings a side of this role receives on.
    pub fn rx_of(role: Role) -> Dir {
        match role {
            Role::Client => Dir::S2C,
            Role::Server => Dir::C2S,
        }
    }

    /// The rings a side of this role transmits on.
    pub fn tx_of(role: Role) -> Dir {
        match role {
            Role::Client => Dir::C2S,
            Role::Server => Dir::S2C,
        }
    }
}

/// Where one ring lives and how it signals.
pub struct RingInfo {
    pub region: u16,
    pub offset: u32,
    pub log2: u8,
    pub eventfd: OwnedFd,
    /// Client only: the region and offset of the buffer for slot 0; slot j is at `+ j * buffer_size`.
    pub buffers: Option<(u16, u32)>,
}

pub struct Connection {
    pub role: Role,
    pub generation: u32,
    pub regions: Vec<Region>,
    pub c2s: Vec<RingInfo>,
    pub s2c: Vec<RingInfo>,
    pub buffer_size: u32,
    pub peer_name: String,
    alive: AtomicBool,
    /// Why the data path found the peer broken (an impossible ring index): the control thread
    /// ends the connection with a DISCONNECT carrying this reason.
    fault: OnceLock<String>,
}

/// The largest packet memif carries: descriptor lengths are u32, but every peer (DPDK, VPP) and
/// the Ethernet/IP payloads it carries stop at 65535 bytes.
pub const MAX_PACKET: u32 = 65535;

/// Descriptors the longest legal packet needs with `buffer_size`-byte buffers:
/// `ceil(65535 / buffer_size)`.
pub fn max_chain(buffer_size: u32) -> u32 {
    MAX_PACKET.div_ceil(buffer_size.max(1))
}

impl Connection {
    pub fn rings(&self, dir: Dir) -> &[RingInfo] {
        match dir {
            Dir::C2S => &self.c2s,
            Dir::S2C => &self.s2c,
        }
    }

    /// A `Ring` over ring `index` of `dir`.
    pub fn ring(&self, dir: Dir, index: usize) -> Ring {
        let info = &self.rings(dir)[index];
        let region = &self.regions[info.region as usize];
        // SAFETY: `validate_ring` (server) or `client_layout` (client) checked that the ring lies
        // inside its region and is 8-aligned; the region stays mapped while `self` lives, and every
        // `Ring` is used only by a holder of an `Arc<Connection>`.
        unsafe { Ring::new(region.base().add(info.offset as usize), info.log2) }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub fn mark_dead(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// The data path found the peer broken: stop using the connection now (nothing more is handed
    /// out) and leave `reason` for the control thread, which sends it in a DISCONNECT. The first
    /// reason wins.
    pub fn set_fault(&self, reason: String) {
        let _ = self.fault.set(reason);
        self.mark_dead();
    }

    pub fn fault(&self) -> Option<&str> {
        self.fault.get().map(String::as_str)
    }

    /// The most descriptors one packet received on `dir` ring `index` may have; longer chains are
    /// dropped. A client knows its buffer size (the server fills the client's buffers): the
    /// longest legal packet's chain, `max_chain(buffer_size)`. A server does not learn the client's
    /// buffer size, so its limit is the ring size (a longer chain could never end). Never more
    /// than the ring size.
    pub fn max_segments(&self, dir: Dir, index: usize) -> u16 {
        let size = 1u32 << self.rings(dir)[index].log2;
        let limit = match self.role {
            Role::Client => max_chain(self.buffer_size).min(size),
            Role::Server => size,
        };
        limit as u16
    }

    pub fn eventfd(&self, dir: Dir, index: usize) -> &OwnedFd {
        &self.rings(dir)[index].eventfd
    }
}

/// Signals the peer through a ring's eventfd (adds 1). A full counter (EAGAIN) already means "signalled".
pub fn signal(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    let _ = nix::unistd::write(fd, &one);
}

/// Clears an eventfd; returns whether it had been signalled.
pub fn drain(fd: &OwnedFd) -> bool {
    let mut b = [0u8; 8];
    matches!(nix::unistd::read(fd.as_raw_fd(), &mut b), Ok(8))
}

pub fn new_eventfd() -> Result<OwnedFd> {
    let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
        .map_err(|e| Error::os("eventfd", e))?;
    Ok(OwnedFd::from(efd))
}

/// What the client decided after HELLO.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub num_c2s: u16,
    pub num_s2c: u16,
    pub log2: u8,
    pub buffer_size: u32,
}

/// The client's memory plan: region 0 holds all rings (C2S 0..n, then S2C 0..m) and, when everything
/// fits in 4 GiB (descriptor offsets are u32), all buffers after them, as DPDK and VPP lay it out.
/// Otherwise buffers go into further regions, each ring's buffers kept whole in one region.
pub fn client_layout(p: &Params) -> (Vec<u64>, Vec<(u16, u32)>) {
    let rings = p.num_c2s as u64 + p.num_s2c as u64;
    let ring_bytes = rings * ring_stride(p.log2) as u64;
    let per_ring = (1u64 << p.log2) * p.buffer_size as u64;
    let mut sizes = Vec::new();
    let mut bufs = Vec::new();
    if ring_bytes + rings * per_ring <= u32::MAX as u64 {
        sizes.push(ring_bytes + rings * per_ring);
        for r in 0..rings {
            bufs.push((0u16, (ring_bytes + r * per_ring) as u32));
        }
    } else {
        sizes.push(ring_bytes);
        let per_region = (u32::MAX as u64 / per_ring).max(1);
        for r in 0..rings {
            let region = 1 + r / per_region;
            if sizes.len() as u64 <= region {
                sizes.push(0);
            }
            let off = (r % per_region) * per_ring;
            sizes[region as usize] = off + per_ring;
            bufs.push((region as u16, off as u32));
        }
    }
    (sizes, bufs)
}

impl Connection {
    /// Client: create regions, rings and eventfds, initialise every ring header and descriptor.
    pub fn create_client(p: Params, generation: u32, name: &str) -> Result<Connection> {
        let (sizes, bufs) = client_layout(&p);
        let mut regions = Vec::with_capacity(sizes.len());
        for (i, size) in sizes.iter().enumerate() {
            regions.push(Region::create(&format!("{name}-region{i}"), *size)?);
        }
        let stride = ring_stride(p.log2) as u32;
        let mut c2s = Vec::new();
        let mut s2c = Vec::new();
        for k in 0..(p.num_c2s as u32 + p.num_s2c as u32) {
            let info = RingInfo {
                region: 0,
                offset: k * stride,
                log2: p.log2,
                eventfd: new_eventfd()?,
                buffers: Some(bufs[k as usize]),
            };
            if k < p.num_c2s as u32 {
                c2s.push(info)
            } else {
                s2c.push(info)
            }
        }
        let conn = Connection {
            role: Role::Client,
            generation,
            regions,
            c2s,
            s2c,
            buffer_size: p.buffer_size,
            peer_name: String::new(),
            alive: AtomicBool::new(true),
            fault: OnceLock::new(),
        };
        for dir in [Dir::C2S, Dir::S2C] {
            for i in 0..conn.rings(dir).len() {
                let ring = conn.ring(dir, i);
                // We receive on S2C rings and start in polling mode there (no signal per burst);
                // a waiting reader clears MASK_INT (see queue.rs). C2S flags belong to the server.
                ring.init(if dir == Dir::S2C {
                    RING_FLAG_MASK_INT
                } else {
                    0
                });
                let (region, base) = conn.rings(dir)[i].buffers.unwrap();
                for slot in 0..ring.size() {
                    ring.write_desc(
                        slot,
                        RawDesc {
                            flags: 0,
                            region,
                            length: p.buffer_size,
                            offset: base + slot as u32 * p.buffer_size,
                        },
                    );
                }
            }
        }
        Ok(conn)
    }

    /// Server: assemble from what the client sent. Rings were validated one by one on ADD_RING; the
    /// cookies are checked here, once the client says the memory is ready.
    pub fn from_peer(
        regions: Vec<Region>,
        c2s: Vec<RingInfo>,
        s2c: Vec<RingInfo>,
        generation: u32,
        peer_name: String,
    ) -> std::result::Result<Connection, String> {
        if c2s.is_empty() || s2c.is_empty() {
            return Err("Need at least one ring in each direction".into());
        }
        let mut conn = Connection {
            role: Role::Server,
            generation,
            regions,
            c2s,
            s2c,
            buffer_size: 0,
            peer_name,
            alive: AtomicBool::new(true),
            fault: OnceLock::new(),
        };
        for dir in [Dir::C2S, Dir::S2C] {
            for i in 0..conn.rings(dir).len() {
                if conn.ring(dir, i).cookie() != COOKIE {
                    let d = if dir == Dir::C2S { "c2s" } else { "s2c" };
                    return Err(format!("Wrong cookie on {d} ring {i}"));
                }
            }
        }
        // The client wrote its buffer size into every descriptor before CONNECT (as libmemif and
        // DPDK do): keep one, for PortInfo only (the burst paths take each descriptor's length).
        conn.buffer_size = conn.ring(Dir::S2C, 0).read_desc(0).length;
        // We receive on C2S rings: start in polling mode there.
        for i in 0..conn.c2s.len() {
            conn.ring(Dir::C2S, i).set_flags(RING_FLAG_MASK_INT);
        }
        Ok(conn)
    }
}

/// Server: checks one ADD_RING against the regions received so far.
pub fn validate_ring(r: &AddRing, regions: &[Region]) -> std::result::Result<(), String> {
    if r.private_hdr_size != 0 {
        return Err("Private headers not supported".into());
    }
    if r.log2_size == 0 || r.log2_size > wire::MAX_LOG2_RING {
        return Err(format!("Invalid ring size log2 {}", r.log2_size));
    }
    let Some(region) = regions.get(r.region as usize) else {
        return Err(format!("Invalid region index {} for ring", r.region));
    };
    if r.offset % 8 != 0 {
        return Err(format!("Misaligned ring offset {}", r.offset));
    }
    let stride = ring_stride(r.log2_size) as u64;
    if r.offset as u64 + stride > region.len() as u64 {
        return Err(format!(
            "Ring at offset {} outside region {}",
            r.offset, r.region
        ));
    }
    Ok(())
}

/// Checks a descriptor the peer handed over against our regions: region index, and offset + length
/// inside that region without overflow. Length 0 is refused (no peer sends it; VPP refuses it too).
#[inline]
pub fn desc_ok(d: &RawDesc, regions: &[(*mut u8, usize)]) -> bool {
    match regions.get(d.region as usize) {
        Some(&(_, len)) => d.length != 0 && in_bounds(d.offset, d.length, len),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_is_one_region_like_dpdk() {
        let p = Params {
            num_c2s: 1,
            num_s2c: 1,
            log2: 10,
            buffer_size: 2048,
        };
        let (sizes, bufs) = client_layout(&p);
        assert_eq!(sizes, vec![4_227_328]); // the DPDK guide's figure
        assert_eq!(bufs, vec![(0, 33_024), (0, 33_024 + 1024 * 2048)]);
    }

    #[test]
    fn huge_layout_splits_buffers_below_4gib() {
        let p = Params {
            num_c2s: 255,
            num_s2c: 255,
            log2: 14,
            buffer_size: 65535,
        };
        let (sizes, bufs) = client_layout(&p);
        assert_eq!(sizes[0], 510 * ring_stride(14) as u64);
        assert!(sizes.iter().all(|&s| s <= u32::MAX as u64));
        assert_eq!(bufs.len(), 510);
        let per_ring = 16384u64 * 65535;
        for &(region, off) in &bufs {
            assert!(region >= 1);
            assert!(off as u64 + per_ring <= sizes[region as usize]);
        }
    }

    #[test]
    fn descriptors_are_checked_against_regions() {
        let regions = [(std::ptr::null_mut(), 4096usize)];
        let ok = RawDesc {
            flags: 0,
            region: 0,
            length: 96,
            offset: 4000,
        };
        assert!(desc_ok(&ok, &regions));
        assert!(!desc_ok(&RawDesc { length: 97, ..ok }, &regions));
        assert!(!desc_ok(&RawDesc { region: 1, ..ok }, &regions));
        assert!(!desc_ok(&RawDesc { length: 0, ..ok }, &regions));
        assert!(!desc_ok(
            &RawDesc {
                offset: u32::MAX,
                length: 2,
                ..ok
            },
            &regions
        ));
    }

    #[test]
    fn client_connection_initialises_rings() {
        let p = Params {
            num_c2s: 2,
            num_s2c: 3,
            log2: 4,
            buffer_size: 256,
        };
        let c = Connection::create_client(p, 1, "t").unwrap();
        assert_eq!(c.c2s.len(), 2);
        assert_eq!(c.s2c.len(), 3);
        for dir in [Dir::C2S, Dir::S2C] {
            for i in 0..c.rings(dir).len() {
                let r = c.ring(dir, i);
                assert_eq!(r.cookie(), COOKIE);
                let d = r.read_desc(5);
                assert_eq!(d.length, 256);
                assert_eq!(d.region, 0);
            }
        }
        // No two slots share a buffer (the gomemif aliasing bug).
        let mut offs = std::collections::HashSet::new();
        for dir in [Dir::C2S, Dir::S2C] {
            for i in 0..c.rings(dir).len() {
                let r = c.ring(dir, i);
                for s in 0..r.size() {
                    assert!(offs.insert(r.read_desc(s).offset));
                }
            }
        }
    }
}
