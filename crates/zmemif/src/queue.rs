//! The safe burst API over one ring: `RxQueue::rx_burst` → read in place → release (implicit on the
//! next burst); `TxQueue::alloc` → write in place → `tx_burst`. Packets are (region, offset, length)
//! descriptors into the shared regions: nothing is copied or allocated per packet.
//!
//! Indexes are cached here and the ring is touched once per burst: one Acquire load of the peer's
//! index, one Release store of ours. Every descriptor the peer supplies is checked against the
//! regions before it is handed out; a bad one is counted and skipped, never followed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::conn::{desc_ok, drain, signal, Connection, Dir, Role, MAX_PACKET};
use crate::error::{Code, Error, Result};
use crate::handle::ControlHandle;
use crate::region::in_bounds;
use crate::ring::{copy_in, copy_out, RawDesc, Ring};
use crate::state::{Callback, PortShared};
use crate::stats::{QueueCounters, QueueStats};
use crate::wire::{DESC_FLAG_NEXT, RING_FLAG_MASK_INT};

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

/// A queue's hold on one connection: the ring, cached region bounds and local indexes.
struct Attached {
    conn: Arc<Connection>,
    ring: Ring,
    regions: Vec<(*mut u8, usize)>,
    role: Role,
    size: u16,
    /// rx: next index to read. tx: our committed index (client head, server tail).
    next: u16,
    /// rx: everything before this has been given back to the ring.
    released: u16,
    /// rx client: our head (offered limit). tx: buffers handed out by `alloc`, not yet sent.
    own: u16,
    reserved: u16,
    /// Client: where slot 0's buffer is; slot j's is `buf_offset + j * buffer_size`.
    buf_region: u16,
    buf_offset: u32,
    buffer_size: u32,
    /// Server tx: the validated buffer the client offered in each slot, by slot.
    offered: Vec<RawDesc>,
    /// rx: the most descriptors a legal packet has (`Connection::max_segments`).
    max_chain: u16,
    /// rx: dropping the rest of an over-long chain, up to its last descriptor.
    skipping: bool,
    /// The socket's control thread, woken when the peer breaks the ring protocol.
    waker: Option<Weak<ControlHandle>>,
    /// rx: MASK_INT is currently clear (we asked the peer to signal).
    signalling: bool,
    /// rx in `RxMode::Interrupt`: keep MASK_INT clear even while bursts find data.
    always_signal: bool,
    dir: Dir,
    qid: usize,
}

// SAFETY: the raw region pointers stay valid while `conn` (an `Arc` we own) lives, and a queue is
// used by one thread at a time (`&mut self` on every data-path method), so moving it between threads
// (one queue per Worker) is sound.
unsafe impl Send for Attached {}

impl Attached {
    fn new(conn: Arc<Connection>, dir: Dir, qid: usize) -> Attached {
        let ring = conn.ring(dir, qid);
        let info = &conn.rings(dir)[qid];
        let regions = conn.regions.iter().map(|r| (r.base(), r.len())).collect();
        let role = conn.role;
        let size = ring.size();
        let (buf_region, buf_offset) = info.buffers.unwrap_or((0, 0));
        // Our own index is the one thing only we write, so the cursors can be rebuilt from it: a
        // handle dropped earlier released everything it had.
        let (next, own) = match (role, dir) {
            (Role::Client, Dir::S2C) => {
                let head = ring.head(Ordering::Relaxed);
                (head.wrapping_sub(size), head)
            }
            (Role::Server, Dir::C2S) => (ring.tail(Ordering::Relaxed), 0),
            (Role::Client, Dir::C2S) => (ring.head(Ordering::Relaxed), 0),
            (Role::Server, Dir::S2C) => (ring.tail(Ordering::Relaxed), 0),
        };
        Attached {
            regions,
            role,
            size,
            next,
            released: next,
            own,
            reserved: 0,
            buf_region,
            buf_offset,
            buffer_size: conn.buffer_size,
            offered: vec![RawDesc::default(); size as usize],
            max_chain: conn.max_segments(dir, qid),
            skipping: false,
            waker: None,
            signalling: false,
            always_signal: false,
            dir,
            qid,
            ring,
            conn,
        }
    }

    #[inline]
    fn client_buffer(&self, index: u16) -> RawDesc {
        RawDesc {
            flags: 0,
            region: self.buf_region,
            length: self.buffer_size,
            offset: self.buf_offset + (index & (self.size - 1)) as u32 * self.buffer_size,
        }
    }

    // ---- rx ----

    fn apply_mode(&mut self, mode: RxMode) {
        let signal = mode == RxMode::Interrupt;
        self.ring
            .set_flags(if signal { 0 } else { RING_FLAG_MASK_INT });
        self.signalling = signal;
        self.always_signal = signal;
    }

    /// Gives back the slots of the previous burst: the server moves tail, the client re-offers the
    /// buffers (refill) and moves head.
    #[inline]
    fn rx_release(&mut self) {
        let n = self.next.wrapping_sub(self.released);
        if n == 0 {
            return;
        }
        match self.role {
            Role::Server => self.ring.publish_tail(self.next),
            Role::Client => {
                for k in (0..n).step_by(4) {
                    self.ring.prefetch_write(self.own.wrapping_add(k));
                }
                for k in 0..n {
                    let index = self.own.wrapping_add(k);
                    self.ring.write_desc(index, self.client_buffer(index));
                }
                self.own = self.own.wrapping_add(n);
                self.ring.publish_head(self.own);
            }
        }
        self.released = self.next;
    }

    /// Slots the peer has filled and we have not read. An index that claims more than the ring
    /// holds (or runs backwards) means a broken peer: the connection is ended (see `fault`) and
    /// nothing is available, so no slot the peer did not fill is ever handed out.
    #[inline]
    fn rx_available(&self, counters: &QueueCounters) -> u16 {
        let (produced, limit) = match self.role {
            Role::Server => (self.ring.head(Ordering::Acquire), self.size),
            // The server can only fill what we offered.
            Role::Client => (
                self.ring.tail(Ordering::Acquire),
                self.own.wrapping_sub(self.next),
            ),
        };
        let avail = produced.wrapping_sub(self.next);
        if avail > limit {
            QueueCounters::add(&counters.bad_descs, 1);
            self.fault(match self.role {
                Role::Server => format!(
                    "Invalid ring index: head {produced} tail {} on ring {} (size {})",
                    self.next,
                    self.ring_name(),
                    self.size
                ),
                Role::Client => format!(
                    "Invalid ring index: tail {produced} outside {}..={} (the buffers offered) on \
                     ring {} (size {})",
                    self.next,
                    self.own,
                    self.ring_name(),
                    self.size
                ),
            });
            return 0;
        }
        avail
    }

    fn ring_name(&self) -> String {
        format!("{:?} {}", self.dir, self.qid)
    }

    /// The peer broke the ring protocol: mark the connection dead at once (nothing more is read
    /// or written) and wake the control thread, which sends the peer a DISCONNECT with `reason`
    /// and reports it on the port.
    #[cold]
    fn fault(&self, reason: String) {
        self.conn.set_fault(reason);
        if let Some(ctl) = self.waker.as_ref().and_then(|w| w.upgrade()) {
            ctl.wake();
        }
    }

    /// Receives whole packets (see `RxQueue::rx_burst`).
    ///
    /// A packet whose chain is longer than `max_chain` descriptors or `MAX_PACKET` bytes cannot be
    /// legal: it is dropped and counted in `bad_descs`, through its last descriptor, even if that
    /// arrives in a later burst (`skipping`). As `max_chain` is at most the ring size, a chain
    /// that never ends (NEXT on every slot of a full ring) is dropped too. A legal packet with
    /// more segments than `out` holds is returned nowhere and the ring stays where it is: the
    /// caller gets TOO_LARGE naming the count needed; an `out` of `max_chain` entries always
    /// makes progress.
    fn rx_burst(&mut self, out: &mut [Desc], c: &QueueCounters) -> Result<usize> {
        self.rx_release();
        if self.signalling && !self.always_signal {
            self.ring.set_flags(RING_FLAG_MASK_INT);
            self.signalling = false;
        }
        if out.is_empty() {
            return Ok(0);
        }
        let avail = self.rx_available(c);
        if avail == self.size {
            QueueCounters::add(&c.ring_full, 1);
        }
        // Four descriptors share a cache line; fetch the lines this burst will read in parallel.
        let want = (avail as usize).min(out.len()) as u16;
        for k in (0..want).step_by(4) {
            self.ring.prefetch(self.next.wrapping_add(k));
        }
        let (mut i, mut n, mut packets, mut bytes, mut bad) = (0u16, 0usize, 0u64, 0u64, 0u64);
        // The rest of an over-long chain dropped in an earlier burst.
        while self.skipping && i < avail {
            let d = self.ring.read_desc(self.next.wrapping_add(i));
            i += 1;
            bad += 1;
            self.skipping = d.flags & DESC_FLAG_NEXT != 0;
        }
        let mut too_small = 0u32;
        'packets: while i < avail {
            let start_i = i;
            let (mut segs, mut len, mut ok) = (0u32, 0u64, true);
            loop {
                if i == avail {
                    // The chain goes on past what the peer published: wait for the rest.
                    i = start_i;
                    break 'packets;
                }
                let d = self.ring.read_desc(self.next.wrapping_add(i));
                i += 1;
                segs += 1;
                len += d.length as u64;
                ok &= desc_ok(&d, &self.regions);
                let more = d.flags & DESC_FLAG_NEXT != 0;
                // `more` counts the descriptor still to come, so a chain of exactly `max_chain`
                // slots that fills the ring and goes on is caught here, not waited for forever.
                if segs + more as u32 > self.max_chain as u32 || len > MAX_PACKET as u64 {
                    // Longer than any legal packet: drop it through its end.
                    bad += (i - start_i) as u64;
                    self.skipping = more;
                    while self.skipping && i < avail {
                        let d = self.ring.read_desc(self.next.wrapping_add(i));
                        i += 1;
                        bad += 1;
                        self.skipping = d.flags & DESC_FLAG_NEXT != 0;
                    }
                    continue 'packets;
                }
                if ok && n + (segs as usize) <= out.len() {
                    out[n + segs as usize - 1] = Desc {
                        flags: d.flags & DESC_FLAG_NEXT,
                        region: d.region,
                        length: d.length,
                        offset: d.offset,
                        reserved: 0,
                    };
                }
                if !more {
                    break;
                }
            }
            if !ok {
                // Drop the whole packet: count its slots, hand out none of them.
                bad += (i - start_i) as u64;
                continue;
            }
            if n + segs as usize > out.len() {
                // A legal packet that does not fit what is left of `out`: it stays for the next
                // burst (or, when it is the first, for a larger array).
                i = start_i;
                if n == 0 {
                    too_small = segs;
                }
                break;
            }
            n += segs as usize;
            packets += 1;
            bytes += len;
        }
        self.next = self.next.wrapping_add(i);
        QueueCounters::add(&c.packets, packets);
        QueueCounters::add(&c.bytes, bytes);
        QueueCounters::add(&c.bad_descs, bad);
        if too_small > 0 {
            return Err(Error::new(
                Code::TooLarge,
                format!(
                    "the next packet has {too_small} segments, more than the {} descriptors passed \
                     to rx_burst: pass at least {too_small} (an array of max_segments = {} always \
                     makes progress); the packet stays on the ring",
                    out.len(),
                    self.max_chain
                ),
            ));
        }
        Ok(n)
    }

    // ---- tx ----

    /// Buffers we may hand out now: the client's free slots, or the buffers the client offered
    /// the server. An index further than the ring size from ours (either way) means a broken
    /// peer: the connection is ended (see `fault`) and nothing is handed out.
    #[inline]
    fn tx_room(&self, c: &QueueCounters) -> u16 {
        let (room, peer) = match self.role {
            Role::Client => {
                let tail = self.ring.tail(Ordering::Acquire);
                let used = self.next.wrapping_sub(tail);
                (self.size.wrapping_sub(used), tail)
            }
            Role::Server => {
                let head = self.ring.head(Ordering::Acquire);
                (head.wrapping_sub(self.next), head)
            }
        };
        if room > self.size {
            QueueCounters::add(&c.bad_descs, 1);
            self.fault(match self.role {
                Role::Client => format!(
                    "Invalid ring index: tail {peer} head {} on ring {} (size {})",
                    self.next,
                    self.ring_name(),
                    self.size
                ),
                Role::Server => format!(
                    "Invalid ring index: head {peer} tail {} on ring {} (size {})",
                    self.next,
                    self.ring_name(),
                    self.size
                ),
            });
            return 0;
        }
        room
    }

    fn tx_alloc(&mut self, out: &mut [Desc], c: &QueueCounters) -> usize {
        let free = self.tx_room(c);
        let mut free = free as usize;
        let mut k = 0usize;
        let mut skipped = false;
        while k < out.len().min(free) {
            let index = self.next.wrapping_add(k as u16);
            let d = match self.role {
                Role::Client => self.client_buffer(index),
                Role::Server => {
                    let d = self.ring.read_desc(index);
                    if !desc_ok(&d, &self.regions) {
                        if k == 0 {
                            // Skip the client's broken buffer: return it empty, in order.
                            self.ring.write_len_flags(index, 0, 0);
                            self.next = self.next.wrapping_add(1);
                            free -= 1;
                            skipped = true;
                            QueueCounters::add(&c.bad_descs, 1);
                            continue;
                        }
                        break;
                    }
                    self.offered[(index & (self.size - 1)) as usize] = d;
                    d
                }
            };
            out[k] = Desc {
                flags: 0,
                region: d.region,
                length: d.length,
                offset: d.offset,
                reserved: 0,
            };
            k += 1;
        }
        if skipped {
            self.ring.publish_tail(self.next);
        }
        if k < out.len() {
            QueueCounters::add(&c.ring_full, 1);
        }
        self.reserved = k as u16;
        k
    }

    fn tx_burst(&mut self, descs: &[Desc], c: &QueueCounters) -> Result<usize> {
        let n = descs.len();
        if n == 0 {
            return Ok(0);
        }
        if n > self.reserved as usize {
            return Err(Error::invalid(format!(
                "tx_burst of {n} buffers but only {} are allocated: call alloc first and send at \
                 most what it returned",
                self.reserved
            )));
        }
        // Check everything first, so an error sends nothing.
        for (k, d) in descs.iter().enumerate() {
            let cap = match self.role {
                Role::Client => self.buffer_size,
                Role::Server => {
                    let index = self.next.wrapping_add(k as u16);
                    self.offered[(index & (self.size - 1)) as usize].length
                }
            };
            if d.length == 0 || d.length > cap {
                return Err(Error::invalid(format!(
                    "descriptor {k}: length {} is not within 1..={cap} (the buffer's capacity)",
                    d.length
                )));
            }
            if d.flags & !DESC_NEXT != 0 {
                return Err(Error::invalid(format!(
                    "descriptor {k}: unknown flags {:#x}",
                    d.flags
                )));
            }
        }
        if descs[n - 1].flags & DESC_NEXT != 0 {
            return Err(Error::invalid(
                "the last descriptor has NEXT set: send whole packets (clear NEXT on each packet's \
                 last buffer)",
            ));
        }
        let (mut packets, mut bytes) = (0u64, 0u64);
        for (k, d) in descs.iter().enumerate() {
            let index = self.next.wrapping_add(k as u16);
            match self.role {
                Role::Client => {
                    let mut b = self.client_buffer(index);
                    b.flags = d.flags;
                    b.length = d.length;
                    // Full descriptor each time: no NEXT flag survives from an earlier lap.
                    self.ring.write_desc(index, b);
                }
                Role::Server => self.ring.write_len_flags(index, d.length, d.flags),
            }
            packets += (d.flags & DESC_NEXT == 0) as u64;
            bytes += d.length as u64;
        }
        self.next = self.next.wrapping_add(n as u16);
        self.reserved -= n as u16;
        match self.role {
            Role::Client => self.ring.publish_head(self.next),
            Role::Server => self.ring.publish_tail(self.next),
        }
        if self.ring.flags() & RING_FLAG_MASK_INT == 0 {
            signal(self.conn.eventfd(self.dir, self.qid));
            QueueCounters::add(&c.interrupts, 1);
        }
        QueueCounters::add(&c.packets, packets);
        QueueCounters::add(&c.bytes, bytes);
        Ok(n)
    }

    fn tx_free(&self, c: &QueueCounters) -> u16 {
        self.tx_room(c)
    }

    #[inline]
    fn check(&self, d: &Desc, at: usize, len: usize) -> Result<*mut u8> {
        let Some(&(base, size)) = self.regions.get(d.region as usize) else {
            return Err(Error::invalid(format!(
                "region {} does not exist",
                d.region
            )));
        };
        let end = at as u64 + len as u64;
        if end > d.length as u64 || !in_bounds(d.offset, d.length, size) {
            return Err(Error::invalid(format!(
                "access of {len} bytes at {at} is outside the buffer ({} bytes)",
                d.length
            )));
        }
        Ok(base)
    }
}

/// What both queue kinds share (reached through `Deref` from `RxQueue` and `TxQueue`): the port,
/// the queue id, the attachment to a connection and the counters.
pub struct QueueCore {
    port: Arc<PortShared>,
    /// The socket's control thread: woken on a broken peer, asked to watch armed rx queues.
    ctl: Weak<ControlHandle>,
    dir: Dir,
    qid: u16,
    att: Option<Attached>,
    counters: Arc<QueueCounters>,
    /// Rust users re-attach by themselves; bindings that map views attach explicitly.
    auto_attach: bool,
    /// rx only: applied to every connection attached.
    rx_mode: RxMode,
}

impl QueueCore {
    fn new(
        port: Arc<PortShared>,
        ctl: Weak<ControlHandle>,
        dir: Dir,
        qid: u16,
        auto_attach: bool,
    ) -> Result<QueueCore> {
        let counters = port.claim(dir, qid)?;
        Ok(QueueCore {
            port,
            ctl,
            dir,
            qid,
            att: None,
            counters,
            auto_attach,
            rx_mode: RxMode::Adaptive,
        })
    }

    /// Attaches to the port's current connection; returns its generation.
    pub fn attach(&mut self) -> Result<u32> {
        if let Some(a) = &self.att {
            if a.conn.is_alive() {
                return Ok(a.conn.generation);
            }
        }
        self.detach();
        let conn = self.port.current().ok_or_else(Error::not_connected)?;
        let n = conn.rings(self.dir).len();
        if self.qid as usize >= n {
            let own = match self.dir {
                Dir::C2S => self.port.config().num_c2s,
                Dir::S2C => self.port.config().num_s2c,
            };
            return Err(Error::new(
                Code::QueueRange,
                format!(
                    "queue {} is not on this connection: this port has {own} {} queue(s), the \
                     connection {n} (the smaller of both sides' counts); use queue ids below {n}, \
                     or give both sides the same counts",
                    self.qid,
                    if self.dir == Dir::C2S {
                        "client-to-server"
                    } else {
                        "server-to-client"
                    }
                ),
            ));
        }
        let g = conn.generation;
        let mut a = Attached::new(conn, self.dir, self.qid as usize);
        a.waker = Some(self.ctl.clone());
        if self.dir == Dir::rx_of(a.role) {
            a.apply_mode(self.rx_mode);
        }
        self.att = Some(a);
        Ok(g)
    }

    /// Lets go of the connection (its regions are unmapped once nobody holds them).
    pub fn detach(&mut self) {
        if let Some(mut a) = self.att.take() {
            if self.dir == Dir::rx_of(a.role) {
                // No armed callback may outlive the queue (a Worker's callback may be gone).
                if let Some(ctl) = self.ctl.upgrade() {
                    ctl.disarm(&a.conn, a.qid);
                }
            }
            if a.conn.is_alive() {
                if self.dir == Dir::rx_of(a.role) {
                    a.rx_release();
                }
                if a.signalling {
                    a.ring.set_flags(RING_FLAG_MASK_INT);
                }
            }
        }
    }

    /// The attached connection, if it is still alive, and the counters (borrowed apart, so the
    /// hot path touches no reference count).
    #[inline]
    fn live(&mut self) -> Result<(&mut Attached, &QueueCounters)> {
        let alive = matches!(&self.att, Some(a) if a.conn.is_alive());
        if !alive {
            if !self.auto_attach {
                return Err(Error::not_connected());
            }
            self.attach()?;
        }
        Ok((self.att.as_mut().unwrap(), &self.counters))
    }

    /// Base address and length of region `idx` of the attached connection (for one view per
    /// region in a binding). Valid while attached.
    pub fn region(&self, idx: usize) -> Result<(*mut u8, usize)> {
        let a = self.att.as_ref().ok_or_else(Error::not_connected)?;
        a.regions.get(idx).copied().ok_or_else(|| {
            Error::invalid(format!(
                "region {idx} does not exist (the connection has {})",
                a.regions.len()
            ))
        })
    }

    pub fn num_regions(&self) -> usize {
        self.att.as_ref().map_or(0, |a| a.regions.len())
    }

    pub fn stats(&self) -> QueueStats {
        self.counters.snapshot()
    }

    pub fn qid(&self) -> u16 {
        self.qid
    }

    fn wait_until(
        &mut self,
        timeout: Option<Duration>,
        ready: impl Fn(&mut Attached, &QueueCounters) -> bool,
    ) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut spins = 0u32;
        loop {
            let (a, c) = self.live()?;
            if ready(a, c) {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) if !l.is_zero() => Some(l),
                    _ => return Ok(false),
                },
                None => None,
            };
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                let nap = Duration::from_micros((spins as u64 - 63).min(1000) * 10);
                std::thread::sleep(left.map_or(nap, |l| l.min(nap)));
            }
        }
    }
}

impl Drop for QueueCore {
    fn drop(&mut self) {
        self.detach();
        self.port.unclaim(self.dir, self.qid);
    }
}

/// Receives from one ring. Use from one thread at a time; it may move between threads.
pub struct RxQueue {
    core: QueueCore,
}

impl RxQueue {
    pub(crate) fn open(
        port: Arc<PortShared>,
        ctl: Weak<ControlHandle>,
        qid: u16,
        auto_attach: bool,
    ) -> Result<RxQueue> {
        let dir = Dir::rx_of(port.role());
        Ok(RxQueue {
            core: QueueCore::new(port, ctl, dir, qid, auto_attach)?,
        })
    }

    /// Receives whole packets into `out` (one descriptor per buffer; `DESC_NEXT` marks chains) and
    /// returns how many descriptors were written. The buffers stay valid and untouched by the peer
    /// until the next `rx_burst` or `release` on this queue.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut [Desc]) -> Result<usize> {
        let (a, c) = self.core.live()?;
        a.rx_burst(out, c)
    }

    /// Gives back the buffers of the last burst now instead of at the next burst.
    pub fn release(&mut self) -> Result<()> {
        self.core.live()?.0.rx_release();
        Ok(())
    }

    /// Copies the bytes of `d` (one buffer) into `dst[..d.length]`.
    pub fn read(&self, d: &Desc, dst: &mut [u8]) -> Result<usize> {
        let a = self.core.att.as_ref().ok_or_else(Error::not_connected)?;
        let len = d.length as usize;
        let base = a.check(d, 0, len)?;
        if dst.len() < len {
            return Err(Error::invalid("destination shorter than the buffer"));
        }
        // SAFETY: `check` verified `[offset, offset + length)` lies inside region `d.region`, which
        // stays mapped while we are attached.
        unsafe { copy_out(base, d.offset as usize, &mut dst[..len]) };
        Ok(len)
    }

    /// Copies a whole (possibly chained) packet — `descs` as returned by `rx_burst` from its first
    /// buffer to the one without NEXT — appending to `out`.
    pub fn read_packet(&self, descs: &[Desc], out: &mut Vec<u8>) -> Result<usize> {
        let mut total = 0;
        for d in descs {
            let start = out.len();
            out.resize(start + d.length as usize, 0);
            total += self.read(d, &mut out[start..])?;
            if d.flags & DESC_NEXT == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// Blocks until data is available (true) or the timeout passes (false). In adaptive and
    /// interrupt mode it sleeps on the ring's eventfd, so an idle queue costs no CPU.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        if self.core.rx_mode == RxMode::Polling {
            return self.core.wait_until(timeout, |a, c| a.rx_available(c) > 0);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let (a, c) = self.core.live()?;
            if a.rx_available(c) > 0 {
                return Ok(true);
            }
            // Ask the peer to signal, then look again: data published before it saw the flag
            // would otherwise go unnoticed.
            if !a.signalling {
                a.ring.set_flags(0);
                a.signalling = true;
            }
            std::sync::atomic::fence(Ordering::SeqCst);
            if a.rx_available(c) > 0 {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(100),
            };
            if left.is_zero() {
                return Ok(false);
            }
            // Wake at least every 100 ms to notice a disconnect.
            let ms = left.min(Duration::from_millis(100)).as_millis().max(1) as u16;
            let fd = a.conn.eventfd(a.dir, a.qid);
            let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(fd), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::os("waiting on the ring eventfd", e)),
            }
            if drain(fd) {
                QueueCounters::add(&c.interrupts, 1);
            }
        }
    }

    /// Asks the socket's control thread to report `Event::RxReady` (through the port's callback)
    /// once data arrives. Returns true, registering nothing, if data is already there.
    pub fn arm(&mut self) -> Result<bool> {
        self.arm_with(None)
    }

    /// As `arm`, reporting to `cb` instead of the port's callback (for a queue served by another
    /// thread's event loop).
    pub fn arm_with(&mut self, cb: Option<Callback>) -> Result<bool> {
        let (port, ctl) = (self.core.port.clone(), self.core.ctl.clone());
        let (a, c) = self.core.live()?;
        if !a.signalling {
            a.ring.set_flags(0);
            a.signalling = true;
        }
        // The peer reads the flag after publishing: look at its index only after our store.
        std::sync::atomic::fence(Ordering::SeqCst);
        if a.rx_available(c) > 0 {
            return Ok(true);
        }
        let ctl = ctl.upgrade();
        let ctl = ctl.ok_or_else(|| Error::new(Code::Closed, "the socket is closed"))?;
        ctl.arm(port.clone(), a.conn.clone(), a.qid, cb);
        Ok(false)
    }

    /// How the peer is asked to signal this queue (see `RxMode`); kept across reconnects.
    pub fn set_mode(&mut self, mode: RxMode) {
        self.core.rx_mode = mode;
        if let Some(a) = self.core.att.as_mut() {
            if a.conn.is_alive() {
                a.apply_mode(mode);
            }
        }
    }
}

/// Transmits on one ring. Use from one thread at a time; it may move between threads.
pub struct TxQueue {
    core: QueueCore,
}

impl TxQueue {
    pub(crate) fn open(
        port: Arc<PortShared>,
        ctl: Weak<ControlHandle>,
        qid: u16,
        auto_attach: bool,
    ) -> Result<TxQueue> {
        let dir = Dir::tx_of(port.role());
        Ok(TxQueue {
            core: QueueCore::new(port, ctl, dir, qid, auto_attach)?,
        })
    }

    /// Reserves up to `out.len()` free buffers (capacity in `length`) and returns how many. Buffers
    /// reserved and not sent are handed out again by the next `alloc`.
    #[inline]
    pub fn alloc(&mut self, out: &mut [Desc]) -> Result<usize> {
        let (a, c) = self.core.live()?;
        Ok(a.tx_alloc(out, c))
    }

    /// Sends the first `descs.len()` reserved buffers with the lengths and NEXT flags in `descs`.
    #[inline]
    pub fn tx_burst(&mut self, descs: &[Desc]) -> Result<usize> {
        let (a, c) = self.core.live()?;
        a.tx_burst(descs, c)
    }

    /// Copies `src` into buffer `d` at byte `at`.
    #[inline]
    pub fn write(&self, d: &Desc, at: usize, src: &[u8]) -> Result<()> {
        let a = self.core.att.as_ref().ok_or_else(Error::not_connected)?;
        let base = a.check(d, at, src.len())?;
        // SAFETY: `check` verified `[offset + at, offset + at + len)` lies inside the buffer and
        // the region, which stays mapped while we are attached.
        unsafe { copy_in(base, d.offset as usize + at, src) };
        Ok(())
    }

    /// Copies one packet into as many buffers as it needs (chained with NEXT) and sends it.
    /// Returns false, sending nothing, when the ring lacks the space; `wait` for it.
    pub fn send(&mut self, pkt: &[u8]) -> Result<bool> {
        if pkt.is_empty() {
            return Err(Error::invalid("cannot send an empty packet"));
        }
        let mut descs = [Desc::default(); 64];
        let n = self.alloc(&mut descs)?;
        let mut used = 0;
        let mut done = 0;
        while done < pkt.len() {
            if used == n {
                if n == descs.len() {
                    return Err(Error::new(
                        Code::TooLarge,
                        format!("a {}-byte packet needs more than 64 buffers", pkt.len()),
                    ));
                }
                return Ok(false);
            }
            let take = (descs[used].length as usize).min(pkt.len() - done);
            self.write(&descs[used], 0, &pkt[done..done + take])?;
            descs[used].length = take as u32;
            done += take;
            descs[used].flags = if done < pkt.len() { DESC_NEXT } else { 0 };
            used += 1;
        }
        self.tx_burst(&descs[..used])?;
        Ok(true)
    }

    /// Blocks until at least `n` buffers are free (true) or the timeout passes (false). The peer
    /// does not signal freed buffers, so this yields, then sleeps in growing steps up to 10 ms.
    pub fn wait(&mut self, n: u16, timeout: Option<Duration>) -> Result<bool> {
        self.core
            .wait_until(timeout, |a, c| a.tx_free(c) >= n.min(a.size))
    }
}

/// Test hooks for `crates/zmemif/fuzz` (feature `fuzzing`, off in every normal build): one
/// queue's data path over a real connection whose other side the fuzzer writes at will.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing {
    use super::*;
    use crate::conn::{Params, RingInfo};
    use crate::region::Region;
    pub use crate::ring::RawDesc;

    /// Both ends of one connection in this process (memfd regions, mapped twice).
    pub struct Pair {
        pub client: Arc<Connection>,
        pub server: Arc<Connection>,
    }

    impl Pair {
        pub fn new(log2: u8, buffer_size: u32) -> Pair {
            let p = Params {
                num_c2s: 1,
                num_s2c: 1,
                log2,
                buffer_size,
            };
            let c = Connection::create_client(p, 1, "zmemif-fuzz").unwrap();
            let regions = c
                .regions
                .iter()
                .map(|r| Region::from_peer(r.fd().try_clone().unwrap(), r.len() as u64).unwrap())
                .collect();
            let dup = |v: &[RingInfo]| -> Vec<RingInfo> {
                v.iter()
                    .map(|r| RingInfo {
                        region: r.region,
                        offset: r.offset,
                        log2: r.log2,
                        eventfd: r.eventfd.try_clone().unwrap(),
                        buffers: None,
                    })
                    .collect()
            };
            let s =
                Connection::from_peer(regions, dup(&c.c2s), dup(&c.s2c), 1, "c".into()).unwrap();
            let ring = c.ring(Dir::S2C, 0);
            ring.publish_head(ring.size());
            Pair {
                client: Arc::new(c),
                server: Arc::new(s),
            }
        }

        /// The ring `dir` as seen by `role`'s side (the peer writes through this one).
        pub fn ring(&self, role: Role, dir: Dir) -> crate::ring::Ring {
            match role {
                Role::Client => self.client.ring(dir, 0),
                Role::Server => self.server.ring(dir, 0),
            }
        }

        /// A queue of `role` on ring `dir` (rx if `dir` is what `role` receives on).
        pub fn queue(&self, role: Role, dir: Dir) -> FuzzQueue {
            let conn = match role {
                Role::Client => self.client.clone(),
                Role::Server => self.server.clone(),
            };
            FuzzQueue {
                a: Attached::new(conn, dir, 0),
                c: QueueCounters::default(),
            }
        }
    }

    pub struct FuzzQueue {
        a: Attached,
        c: QueueCounters,
    }

    /// Each call first checks the connection as `QueueCore::live` does: a dead one is refused.
    impl FuzzQueue {
        fn live(&mut self) -> Result<&mut Attached> {
            if self.a.conn.is_alive() {
                Ok(&mut self.a)
            } else {
                Err(Error::not_connected())
            }
        }
        pub fn rx_burst(&mut self, out: &mut [Desc]) -> Result<usize> {
            let c = &self.c;
            match self.a.conn.is_alive() {
                true => self.a.rx_burst(out, c),
                false => Err(Error::not_connected()),
            }
        }
        pub fn release(&mut self) {
            if let Ok(a) = self.live() {
                a.rx_release()
            }
        }
        pub fn alloc(&mut self, out: &mut [Desc]) -> usize {
            let c = &self.c;
            match self.a.conn.is_alive() {
                true => self.a.tx_alloc(out, c),
                false => 0,
            }
        }
        pub fn tx_burst(&mut self, descs: &[Desc]) -> Result<usize> {
            let c = &self.c;
            match self.a.conn.is_alive() {
                true => self.a.tx_burst(descs, c),
                false => Err(Error::not_connected()),
            }
        }
        pub fn tx_free(&self) -> u16 {
            self.a.tx_free(&self.c)
        }
        pub fn max_segments(&self) -> u16 {
            self.a.max_chain
        }
        pub fn stats(&self) -> QueueStats {
            self.c.snapshot()
        }
        /// The regions' (base, length), to check every descriptor handed out.
        pub fn regions(&self) -> &[(*mut u8, usize)] {
            &self.a.regions
        }
        pub fn alive(&self) -> bool {
            self.a.conn.is_alive()
        }
    }
}

#[cfg(test)]
mod tests {
    //! The data path against a hostile peer: both ends of one connection in this process, the
    //! "peer" writing raw descriptors and indexes straight into the ring.
    use super::fuzzing::Pair;
    use super::*;

    /// Both ends of one connection in this process: the fuzz targets' pair, shared.
    fn pair(log2: u8, buffer_size: u32) -> Pair {
        Pair::new(log2, buffer_size)
    }

    fn desc(region: u16, offset: u32, length: u32, flags: u16) -> RawDesc {
        RawDesc {
            flags,
            region,
            length,
            offset,
        }
    }

    /// The hostile client writes `descs` into the C2S ring at its head and publishes.
    fn client_push(p: &Pair, descs: &[RawDesc]) {
        let ring = p.client.ring(Dir::C2S, 0);
        let mut head = ring.head(Ordering::Relaxed);
        for d in descs {
            ring.write_desc(head, *d);
            head = head.wrapping_add(1);
        }
        ring.publish_head(head);
    }

    fn server_rx(p: &Pair) -> Attached {
        Attached::new(p.server.clone(), Dir::C2S, 0)
    }

    #[test]
    fn bad_descriptors_are_counted_and_skipped() {
        let p = pair(4, 256);
        let size = p.client.regions[0].len() as u32;
        let good = desc(0, 4096, 60, 0);
        client_push(
            &p,
            &[
                desc(5, 0, 60, 0),            // no such region
                desc(0, size - 10, 60, 0),    // runs past the region
                desc(0, u32::MAX - 4, 60, 0), // offset + length overflows u32
                desc(0, 4096, 0, 0),          // empty
                good,
                desc(0, 4096, 60, DESC_NEXT), // chain whose second buffer is bad:
                desc(9, 0, 60, 0),            //   the whole packet goes
                good,
            ],
        );
        let c = QueueCounters::default();
        let mut a = server_rx(&p);
        let mut out = [Desc::default(); 16];
        let n = a.rx_burst(&mut out, &c).unwrap();
        assert_eq!(n, 2);
        assert_eq!((out[0].offset, out[0].length), (4096, 60));
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 6);
        assert_eq!(c.packets.load(Ordering::Relaxed), 2);
        // Every slot, bad ones included, is given back to the client.
        a.rx_burst(&mut out, &c).unwrap();
        assert_eq!(p.client.ring(Dir::C2S, 0).tail(Ordering::Acquire), 8);
    }

    #[test]
    fn an_impossible_peer_index_ends_the_connection_and_delivers_nothing() {
        let p = pair(2, 256); // 4 slots
        let ring = p.client.ring(Dir::C2S, 0);
        for s in 0..4 {
            ring.write_desc(s, desc(0, 400, 10, 0));
        }
        ring.publish_head(5000); // claims 5000 packets in a 4-slot ring
        let c = QueueCounters::default();
        let mut a = server_rx(&p);
        let mut out = [Desc::default(); 64];
        assert_eq!(
            a.rx_burst(&mut out, &c).unwrap(),
            0,
            "no slot it did not fill"
        );
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 1);
        assert!(!p.server.is_alive());
        assert_eq!(
            p.server.fault(),
            Some("Invalid ring index: head 5000 tail 0 on ring C2S 0 (size 4)")
        );
    }

    #[test]
    fn a_server_filling_more_than_offered_ends_the_connection() {
        let p = pair(2, 256);
        let mut rx = Attached::new(p.client.clone(), Dir::S2C, 0);
        let s2c = p.server.ring(Dir::S2C, 0);
        for s in 0..4 {
            s2c.write_len_flags(s, 10, 0);
        }
        s2c.publish_tail(40000);
        let c = QueueCounters::default();
        let mut out = [Desc::default(); 8];
        assert_eq!(rx.rx_burst(&mut out, &c).unwrap(), 0);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 1);
        let why = p.client.fault().unwrap();
        assert!(why.starts_with("Invalid ring index: tail 40000"), "{why}");
        assert!(why.ends_with("on ring S2C 0 (size 4)"), "{why}");
    }

    #[test]
    fn an_impossible_index_on_the_tx_side_hands_out_nothing() {
        // Client tx: the server claims to have consumed slots never sent.
        let p = pair(2, 256);
        let c = QueueCounters::default();
        let mut tx = Attached::new(p.client.clone(), Dir::C2S, 0);
        p.server.ring(Dir::C2S, 0).publish_tail(9);
        let mut out = [Desc::default(); 8];
        assert_eq!(tx.tx_alloc(&mut out, &c), 0);
        assert_eq!(tx.tx_free(&c), 0);
        assert_eq!(
            p.client.fault(),
            Some("Invalid ring index: tail 9 head 0 on ring C2S 0 (size 4)")
        );
        // Server tx: the client offers more buffers than the ring has, or its head runs backwards.
        for head in [5u16, 65535] {
            let p = pair(2, 256);
            let mut tx = Attached::new(p.server.clone(), Dir::S2C, 0);
            p.client.ring(Dir::S2C, 0).publish_head(head);
            assert_eq!(tx.tx_alloc(&mut out, &c), 0);
            assert_eq!(
                p.server.fault().map(str::to_owned),
                Some(format!(
                    "Invalid ring index: head {head} tail 0 on ring S2C 0 (size 4)"
                ))
            );
        }
    }

    /// The hostile server fills the client's offered S2C buffers: `(length, flags)` per slot.
    fn server_fill(p: &Pair, segs: &[(u32, u16)]) {
        let ring = p.server.ring(Dir::S2C, 0);
        let mut tail = ring.tail(Ordering::Relaxed);
        for &(len, flags) in segs {
            ring.write_len_flags(tail, len, flags);
            tail = tail.wrapping_add(1);
        }
        ring.publish_tail(tail);
    }

    /// A chain of `n` buffers of `len` bytes, NEXT on all but the last.
    fn chain(n: usize, len: u32) -> Vec<(u32, u16)> {
        (0..n)
            .map(|k| (len, if k + 1 < n { DESC_NEXT } else { 0 }))
            .collect()
    }

    #[test]
    fn a_legal_chain_longer_than_the_array_waits_for_a_larger_one() {
        // 128-byte buffers: a 9000-byte packet is 71 segments; the longest legal one is 512.
        let p = pair(10, 128);
        let mut rx = Attached::new(p.client.clone(), Dir::S2C, 0);
        assert_eq!(rx.max_chain, 512);
        assert_eq!(p.client.max_segments(Dir::S2C, 0), 512);
        let mut pkt = chain(70, 128);
        pkt[69].0 = 9000 - 69 * 128;
        pkt.push((60, 0)); // and a small packet after it
        pkt[69].1 = 0;
        server_fill(&p, &pkt);
        let c = QueueCounters::default();
        let mut small = [Desc::default(); 32];
        for _ in 0..3 {
            let e = rx.rx_burst(&mut small, &c).unwrap_err();
            assert_eq!(e.code, Code::TooLarge);
            assert!(e.message.contains("pass at least 70"), "{}", e.message);
        }
        assert_eq!(rx.next, 0, "the ring did not move");
        let mut big = vec![Desc::default(); rx.max_chain as usize];
        assert_eq!(rx.rx_burst(&mut big, &c).unwrap(), 71);
        assert_eq!(big[..70].iter().map(|d| d.length as u64).sum::<u64>(), 9000);
        assert_eq!(big[69].flags, 0);
        assert_eq!(c.packets.load(Ordering::Relaxed), 2);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_chain_longer_than_any_legal_packet_is_dropped_through_its_end() {
        // 2048-byte buffers: no legal packet has more than 32 segments.
        let p = pair(6, 2048);
        let mut rx = Attached::new(p.client.clone(), Dir::S2C, 0);
        assert_eq!(rx.max_chain, 32);
        let c = QueueCounters::default();
        let mut out = [Desc::default(); 64];
        server_fill(&p, &chain(33, 10)); // 330 bytes, but 33 segments
        server_fill(&p, &[(60, 0)]);
        assert_eq!(rx.rx_burst(&mut out, &c).unwrap(), 1);
        assert_eq!(out[0].length, 60);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 33);
        // An over-long chain whose end comes in a later burst is dropped through that end.
        let mut long = chain(40, 10);
        let rest = long.split_off(35);
        rx.rx_release(); // the client re-offers the buffers (an honest server fills only those)
        server_fill(&p, &long);
        assert_eq!(rx.rx_burst(&mut out, &c).unwrap(), 0);
        rx.rx_release();
        server_fill(&p, &rest);
        server_fill(&p, &[(61, 0)]);
        assert_eq!(rx.rx_burst(&mut out, &c).unwrap(), 1);
        assert_eq!(out[0].length, 61);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 73);
        // More than 65535 bytes in legal-looking segments.
        rx.rx_release();
        server_fill(&p, &chain(32, 2048)); // 65536 bytes
        server_fill(&p, &[(62, 0)]);
        assert_eq!(rx.rx_burst(&mut out, &c).unwrap(), 1);
        assert_eq!(out[0].length, 62);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 105);
        assert_eq!(c.packets.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_server_drops_chains_over_65535_bytes() {
        let p = pair(10, 2048);
        let c = QueueCounters::default();
        let mut a = server_rx(&p);
        assert_eq!(
            a.max_chain, 1024,
            "a server does not know the client's buffer size"
        );
        let mut out = vec![Desc::default(); 1024];
        let mut pkt: Vec<RawDesc> = (0..40)
            .map(|k| desc(0, 4096 + k * 2048, 2048, DESC_NEXT))
            .collect(); // 81920 bytes
        pkt[39].flags = 0;
        pkt.push(desc(0, 4096, 70, 0));
        client_push(&p, &pkt);
        assert_eq!(a.rx_burst(&mut out, &c).unwrap(), 1);
        assert_eq!(out[0].length, 70);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 40);
    }

    #[test]
    fn chains_wait_for_their_end_and_endless_ones_are_dropped() {
        let p = pair(2, 256);
        let c = QueueCounters::default();
        let mut a = server_rx(&p);
        let mut out = [Desc::default(); 8];
        client_push(
            &p,
            &[desc(0, 400, 100, DESC_NEXT), desc(0, 600, 100, DESC_NEXT)],
        );
        assert_eq!(
            a.rx_burst(&mut out, &c).unwrap(),
            0,
            "half a packet is not delivered"
        );
        client_push(&p, &[desc(0, 800, 50, 0)]);
        assert_eq!(a.rx_burst(&mut out, &c).unwrap(), 3);
        assert_eq!(c.bytes.load(Ordering::Relaxed), 250);
        assert_eq!(out[2].flags, 0);
        a.rx_burst(&mut out, &c).unwrap();
        // A chain as long as the ring that never ends: dropped, so the ring does not stall.
        let endless = [desc(0, 400, 10, DESC_NEXT); 4];
        client_push(&p, &endless);
        assert_eq!(a.rx_burst(&mut out, &c).unwrap(), 0);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 4);
        // Its end, when it comes, goes with it; the next packet is delivered.
        client_push(&p, &[desc(0, 400, 10, 0), desc(0, 500, 11, 0)]);
        assert_eq!(a.rx_burst(&mut out, &c).unwrap(), 1);
        assert_eq!(out[0].length, 11);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_packet_larger_than_the_output_array_is_an_error_not_a_stall() {
        let p = pair(3, 256);
        let c = QueueCounters::default();
        let mut a = server_rx(&p);
        client_push(
            &p,
            &[
                desc(0, 4096, 10, DESC_NEXT),
                desc(0, 4096, 10, DESC_NEXT),
                desc(0, 4096, 10, 0),
            ],
        );
        let mut out = [Desc::default(); 2];
        let e = a.rx_burst(&mut out, &c).unwrap_err();
        assert_eq!(e.code, Code::TooLarge);
        assert!(e.message.contains("pass at least 3"), "{}", e.message);
        let mut out = [Desc::default(); 3];
        assert_eq!(a.rx_burst(&mut out, &c).unwrap(), 3);
    }

    #[test]
    fn server_skips_a_bad_buffer_offered_by_the_client() {
        let p = pair(2, 256);
        let s2c = p.client.ring(Dir::S2C, 0);
        s2c.write_desc(0, desc(7, 0, 256, 0)); // slot 0 offers a buffer in no region
        let c = QueueCounters::default();
        let mut tx = Attached::new(p.server.clone(), Dir::S2C, 0);
        let mut out = [Desc::default(); 8];
        let n = tx.tx_alloc(&mut out, &c);
        assert_eq!(n, 3, "the three good buffers");
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 1);
        assert_eq!(
            s2c.tail(Ordering::Acquire),
            1,
            "the bad slot went back, empty"
        );
        assert_eq!(s2c.read_desc(0).length, 0);
        out[0].length = 5;
        assert_eq!(tx.tx_burst(&out[..1], &c).unwrap(), 1);
        assert_eq!(s2c.tail(Ordering::Acquire), 2);
    }

    #[test]
    fn tx_burst_refuses_what_does_not_fit_and_sends_nothing() {
        let p = pair(2, 256);
        let c = QueueCounters::default();
        let mut tx = Attached::new(p.client.clone(), Dir::C2S, 0);
        let mut out = [Desc::default(); 2];
        assert_eq!(tx.tx_alloc(&mut out, &c), 2);
        let mut bad = out;
        bad[1].length = 257;
        assert_eq!(
            tx.tx_burst(&bad, &c).unwrap_err().code,
            Code::InvalidArgument
        );
        let mut bad = out;
        bad[1].flags = DESC_NEXT;
        assert!(tx.tx_burst(&bad, &c).unwrap_err().message.contains("NEXT"));
        let three = [out[0], out[1], out[1]];
        assert!(tx
            .tx_burst(&three, &c)
            .unwrap_err()
            .message
            .contains("allocated"));
        assert_eq!(
            p.client.ring(Dir::C2S, 0).head(Ordering::Acquire),
            0,
            "nothing sent"
        );
        assert_eq!(tx.tx_burst(&out, &c).unwrap(), 2);
        assert_eq!(p.client.ring(Dir::C2S, 0).head(Ordering::Acquire), 2);
    }

    #[test]
    fn indexes_wrap_around_u16_both_ways() {
        let p = pair(2, 64); // 4 slots, so 70,000 packets wrap the u16 counters
        let c = QueueCounters::default();
        let mut ctx = Attached::new(p.client.clone(), Dir::C2S, 0);
        let mut srx = Attached::new(p.server.clone(), Dir::C2S, 0);
        let mut stx = Attached::new(p.server.clone(), Dir::S2C, 0);
        let mut crx = Attached::new(p.client.clone(), Dir::S2C, 0);
        let mut d = [Desc::default(); 3];
        let mut got = [Desc::default(); 8];
        let (mut sent, mut recvd, mut back) = (0u64, 0u64, 0u64);
        while sent < 70_000 {
            let n = ctx.tx_alloc(&mut d, &c);
            for x in d.iter_mut().take(n) {
                x.length = 1 + (sent % 64) as u32;
                sent += 1;
            }
            ctx.tx_burst(&d[..n], &c).unwrap();
            let k = srx.rx_burst(&mut got, &c).unwrap();
            recvd += k as u64;
            let m = stx.tx_alloc(&mut d[..k.min(3)], &c);
            for x in d.iter_mut().take(m) {
                x.length = 7;
            }
            stx.tx_burst(&d[..m], &c).unwrap();
            back += crx.rx_burst(&mut got, &c).unwrap() as u64;
        }
        assert!(recvd + 4 >= sent);
        assert!(back > 60_000);
        assert_eq!(c.bad_descs.load(Ordering::Relaxed), 0);
    }
}

macro_rules! deref_to_core {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = QueueCore;
            fn deref(&self) -> &QueueCore {
                &self.core
            }
        }
        impl std::ops::DerefMut for $t {
            fn deref_mut(&mut self) -> &mut QueueCore {
                &mut self.core
            }
        }
    };
}
deref_to_core!(RxQueue);
deref_to_core!(TxQueue);
