//! The data path over a real memfd connection whose other side the fuzzer writes: descriptors,
//! lengths, flags and both ring indexes, between our `rx_burst` / release (a client's refill) or
//! `alloc` / `tx_burst` calls, for each of the four (role, direction) queues.
//!
//! Checked on every call: every descriptor handed out lies inside a region and its bytes can be
//! read; rx returns whole packets no longer than any legal packet; an rx array of `max_segments`
//! entries never gets TOO_LARGE; once the peer breaks the indexes nothing more is handed out.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use zmemif::fuzzing::{Pair, RawDesc};
use zmemif::{Code, Desc, Dir, Role, DESC_NEXT};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Side {
    ServerRx,
    ClientRx,
    ServerTx,
    ClientTx,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// The peer writes a whole descriptor, any values.
    Desc {
        slot: u16,
        flags: u16,
        region: u16,
        length: u32,
        offset: u32,
    },
    /// The peer writes a plausible one: buffer `k` of the region, `length` bytes.
    Buffer {
        slot: u16,
        k: u16,
        length: u16,
        next: bool,
    },
    /// The peer fills `n` slots from its index with `length`-byte buffers, NEXT on all but the last
    /// (or on all), and publishes.
    Chain {
        n: u16,
        length: u16,
        endless: bool,
    },
    PeerIndex(u16),
    PeerAdvance(u8),
    /// The peer writes the index that is ours.
    OurIndex(u16),
    Burst(u16),
    Release,
    Alloc(u8),
    Send(Vec<(u16, bool)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    log2: u8,
    buffer_size: u16,
    side: Side,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let log2 = 1 + input.log2 % 8;
    let buffer_size = 1 + (input.buffer_size as u32 % 4096);
    let pair = Pair::new(log2, buffer_size);
    let (role, dir) = match input.side {
        Side::ServerRx => (Role::Server, Dir::C2S),
        Side::ClientRx => (Role::Client, Dir::S2C),
        Side::ServerTx => (Role::Server, Dir::S2C),
        Side::ClientTx => (Role::Client, Dir::C2S),
    };
    let peer = match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let rx = dir == Dir::rx_of(role);
    let mut q = pair.queue(role, dir);
    let ring = pair.ring(peer, dir);
    let size = ring.size();
    // The client writes head, the server tail, on both ring types.
    let peer_is_head = peer == Role::Client;
    let peer_index = || {
        if peer_is_head {
            ring.head(std::sync::atomic::Ordering::Relaxed)
        } else {
            ring.tail(std::sync::atomic::Ordering::Relaxed)
        }
    };
    let publish_peer = |v: u16| {
        if peer_is_head {
            ring.publish_head(v)
        } else {
            ring.publish_tail(v)
        }
    };
    let publish_ours = |v: u16| {
        if peer_is_head {
            ring.publish_tail(v)
        } else {
            ring.publish_head(v)
        }
    };
    let region_len = q.regions()[0].1 as u32;
    let max_seg = q.max_segments() as usize;
    assert!(max_seg >= 1 && max_seg <= size as usize);
    let mut out = vec![Desc::default(); size as usize + 8];
    let mut alloced = 0usize;
    let mut dead = false;
    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Desc {
                slot,
                flags,
                region,
                length,
                offset,
            } => ring.write_desc(
                slot,
                RawDesc {
                    flags,
                    region,
                    length,
                    offset,
                },
            ),
            Op::Buffer {
                slot,
                k,
                length,
                next,
            } => ring.write_desc(
                slot,
                RawDesc {
                    flags: if next { DESC_NEXT } else { 0 },
                    region: 0,
                    length: length as u32 % (buffer_size + 1),
                    offset: (k as u32 * buffer_size) % region_len,
                },
            ),
            Op::Chain {
                n,
                length,
                endless,
            } => {
                let start = peer_index();
                let n = n % (size + 1);
                for j in 0..n {
                    let last = j + 1 == n && !endless;
                    ring.write_len_flags(
                        start.wrapping_add(j),
                        1 + length as u32 % buffer_size,
                        if last { 0 } else { DESC_NEXT },
                    );
                }
                publish_peer(start.wrapping_add(n));
            }
            Op::PeerIndex(v) => publish_peer(v),
            Op::PeerAdvance(n) => publish_peer(peer_index().wrapping_add(n as u16)),
            Op::OurIndex(v) => publish_ours(v),
            Op::Burst(len) if rx => {
                let len = len as usize % out.len();
                match q.rx_burst(&mut out[..len]) {
                    Ok(n) => {
                        assert!(n <= len);
                        assert!(!dead || n == 0, "handed out slots after a broken index");
                        check(&q, &out[..n], true);
                        let (mut segs, mut bytes) = (0usize, 0u64);
                        for d in &out[..n] {
                            segs += 1;
                            bytes += d.length as u64;
                            assert!(segs <= max_seg, "a chain longer than max_segments");
                            if d.flags & DESC_NEXT == 0 {
                                assert!(bytes <= 65535, "a packet over 65535 bytes");
                                segs = 0;
                                bytes = 0;
                            }
                        }
                    }
                    Err(e) if e.code == Code::NotConnected => assert!(dead),
                    Err(e) => {
                        assert_eq!(e.code, Code::TooLarge, "{e:?}");
                        assert!(len < max_seg, "TOO_LARGE with an array of max_segments");
                    }
                }
            }
            Op::Release if rx => q.release(),
            Op::Alloc(n) if !rx => {
                let n = (n as usize).min(out.len());
                let k = q.alloc(&mut out[..n]);
                assert!(k <= n);
                assert!(!dead || k == 0, "handed out buffers after a broken index");
                check(&q, &out[..k], false);
                alloced = k;
            }
            Op::Send(lens) if !rx => {
                let n = lens.len().min(alloced);
                let mut d = out[..n].to_vec();
                for (x, &(len, next)) in d.iter_mut().zip(&lens) {
                    x.length = 1 + len as u32 % x.length.max(1);
                    x.flags = if next { DESC_NEXT } else { 0 };
                }
                if q.tx_burst(&d).is_ok() {
                    alloced -= n;
                }
                let _ = q.tx_free();
            }
            _ => {}
        }
        dead |= !q.alive();
    }
    let _ = q.stats();
});

/// Every descriptor lies inside its region; read its first and last byte.
fn check(q: &zmemif::fuzzing::FuzzQueue, descs: &[Desc], rx: bool) {
    for (i, d) in descs.iter().enumerate() {
        let (base, len) = q.regions()[d.region as usize];
        assert!(d.length > 0);
        let end = d.offset as usize + d.length as usize;
        assert!(end <= len, "descriptor {i} ends at {end}, region is {len}");
        // SAFETY: checked just above to lie inside the mapped region.
        unsafe {
            std::ptr::read_volatile(base.add(d.offset as usize));
            std::ptr::read_volatile(base.add(end - 1));
        }
        if rx && i + 1 == descs.len() {
            assert_eq!(d.flags & DESC_NEXT, 0, "rx ended inside a packet");
        }
    }
}
