//! Receiving: `RxQueue`, and `RxRing`, its cursor on the ring of the connection it is attached to.
//!
//! A server receives on a C2S ring: the client fills slots with its own buffers and moves head;
//! the server reads them and gives the slots back by moving tail. A client receives on an S2C
//! ring: it offers its buffers by moving head; the server fills them and moves tail; the client
//! reads them and offers them again. Both read whole packets the same way (`RxRing::burst`); only
//! how slots come in and go back differs (`Cursor`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::shared::{packets_on, poll_until, Attachment, ClientBuffers, QueueCore};
use super::{Desc, RxMode, DESC_NEXT};
use crate::conn::{desc_ok, drain, Dir, Role, MAX_PACKET};
use crate::error::{Code, Error, Result};
use crate::handle::ControlHandle;
use crate::state::{Callback, PortShared};
use crate::stats::{QueueCounters, QueueStats};
use crate::wire::{DESC_FLAG_NEXT, RING_FLAG_MASK_INT};

/// Receives from one ring. Use from one thread at a time; it may move between threads.
pub struct RxQueue {
    core: QueueCore,
    ring: Option<RxRing>,
    /// Applied to every connection attached.
    mode: RxMode,
}

/// How slots come to the receiver and go back, by role.
enum Cursor {
    /// Server: slots hold the client's buffers; given back by moving tail.
    Server,
    /// Client: our buffers are offered up to `head` and given back by offering them again.
    Client { head: u16, buffers: ClientBuffers },
}

/// An rx queue's cursor on one attached ring.
pub(super) struct RxRing {
    pub(super) at: Attachment,
    /// Next index to read.
    pub(super) next: u16,
    /// Everything before this has been given back to the ring.
    released: u16,
    /// The most descriptors a legal packet has (`Connection::max_segments`).
    pub(super) max_chain: u16,
    /// Dropping the rest of an over-long chain, up to its last descriptor.
    skipping: bool,
    /// MASK_INT is currently clear (we asked the peer to signal).
    signalling: bool,
    /// `RxMode::Interrupt`: keep MASK_INT clear even while bursts find data.
    always_signal: bool,
    cursor: Cursor,
}

impl RxRing {
    /// The receiver of `at`'s ring. Our own index is the one thing only we write, so the cursor is
    /// rebuilt from it: a handle dropped earlier released everything it had.
    pub(super) fn new(at: Attachment) -> RxRing {
        let (next, cursor) = match at.conn.role {
            Role::Server => (at.ring.tail(Ordering::Relaxed), Cursor::Server),
            Role::Client => {
                let head = at.ring.head(Ordering::Relaxed);
                let buffers = ClientBuffers::of(&at);
                (head.wrapping_sub(at.size), Cursor::Client { head, buffers })
            }
        };
        RxRing {
            max_chain: at.conn.max_segments(at.dir, at.index),
            next,
            released: next,
            skipping: false,
            signalling: false,
            always_signal: false,
            cursor,
            at,
        }
    }

    /// The receiver of ring `index` of `conn` (what its role receives on), for the test hooks.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) fn of(conn: Arc<crate::conn::Connection>, index: usize) -> RxRing {
        let dir = Dir::rx_of(conn.role);
        RxRing::new(Attachment::new(conn, dir, index, None))
    }

    fn apply_mode(&mut self, mode: RxMode) {
        let signal = mode == RxMode::Interrupt;
        self.at
            .ring
            .set_flags(if signal { 0 } else { RING_FLAG_MASK_INT });
        self.signalling = signal;
        self.always_signal = signal;
    }

    /// Asks the peer to signal after its next burst (clears MASK_INT).
    fn ask_signal(&mut self) {
        if !self.signalling {
            self.at.ring.set_flags(0);
            self.signalling = true;
        }
    }

    /// Gives back the slots of the previous burst: the server moves tail, the client re-offers the
    /// buffers (refill) and moves head.
    #[inline]
    pub(super) fn release(&mut self) {
        let n = self.next.wrapping_sub(self.released);
        if n == 0 {
            return;
        }
        let ring = &self.at.ring;
        match &mut self.cursor {
            Cursor::Server => ring.publish_tail(self.next),
            Cursor::Client { head, buffers } => {
                for k in (0..n).step_by(4) {
                    ring.prefetch_write(head.wrapping_add(k));
                }
                for k in 0..n {
                    let index = head.wrapping_add(k);
                    ring.write_desc(index, buffers.at(index));
                }
                *head = head.wrapping_add(n);
                ring.publish_head(*head);
            }
        }
        self.released = self.next;
    }

    /// Slots the peer has filled and we have not read. An index that claims more than the ring
    /// holds (or runs backwards) means a broken peer: the connection is ended (see
    /// `Attachment::fault`) and nothing is available, so no slot the peer did not fill is ever
    /// handed out.
    #[inline]
    pub(super) fn available(&self, counters: &QueueCounters) -> u16 {
        match self.filled() {
            Ok(avail) => avail,
            Err(produced) => {
                self.bad_index(produced, counters);
                0
            }
        }
    }

    /// Slots the peer has filled and we have not read, from one Acquire load of the peer's
    /// index; `Err(index)` when the index claims more than the ring holds or runs backwards.
    #[inline]
    fn filled(&self) -> std::result::Result<u16, u16> {
        let ring = &self.at.ring;
        let (produced, limit) = match &self.cursor {
            Cursor::Server => (ring.head(Ordering::Acquire), self.at.size),
            // The server can only fill what we offered.
            Cursor::Client { head, .. } => {
                (ring.tail(Ordering::Acquire), head.wrapping_sub(self.next))
            }
        };
        let avail = produced.wrapping_sub(self.next);
        if avail > limit {
            Err(produced)
        } else {
            Ok(avail)
        }
    }

    /// Packets the peer published that we had not read, for when the connection has ended (see
    /// `RxQueue::detach`): nothing reads them any more, as DPDK's net_memif does not. Computed
    /// as `available` does (`filled`); an index the ring cannot hold counts nothing (on a live
    /// connection it is a fault, counted in `bad_descs`).
    pub(super) fn unread(&self) -> u64 {
        self.filled().map_or(0, |n| {
            packets_on(&self.at.ring, self.next, n, self.skipping)
        })
    }

    #[cold]
    fn bad_index(&self, produced: u16, counters: &QueueCounters) {
        QueueCounters::add(&counters.bad_descs, 1);
        self.at.fault(match &self.cursor {
            Cursor::Server => format!(
                "Invalid ring index: head {produced} tail {} on ring {} (size {})",
                self.next,
                self.at.ring_name(),
                self.at.size
            ),
            Cursor::Client { head, .. } => format!(
                "Invalid ring index: tail {produced} outside {}..={head} (the buffers offered) on \
                 ring {} (size {})",
                self.next,
                self.at.ring_name(),
                self.at.size
            ),
        });
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
    pub(super) fn burst(&mut self, out: &mut [Desc], c: &QueueCounters) -> Result<usize> {
        self.release();
        if self.signalling && !self.always_signal {
            self.at.ring.set_flags(RING_FLAG_MASK_INT);
            self.signalling = false;
        }
        if out.is_empty() {
            return Ok(0);
        }
        let avail = self.available(c);
        if avail == self.at.size {
            QueueCounters::add(&c.ring_full, 1);
        }
        let ring = &self.at.ring;
        let regions = &self.at.regions[..];
        // Four descriptors share a cache line; fetch the lines this burst will read in parallel.
        let want = (avail as usize).min(out.len()) as u16;
        for k in (0..want).step_by(4) {
            ring.prefetch(self.next.wrapping_add(k));
        }
        let (mut i, mut n, mut packets, mut bytes, mut bad) = (0u16, 0usize, 0u64, 0u64, 0u64);
        // The rest of an over-long chain dropped in an earlier burst.
        while self.skipping && i < avail {
            let d = ring.read_desc(self.next.wrapping_add(i));
            i += 1;
            bad += 1;
            self.skipping = d.flags & DESC_FLAG_NEXT != 0;
        }
        // The common case first: packets of one valid buffer, while they come and fit in `out`,
        // each taken exactly as the loop below would take it. Anything else (a chain, a bad or
        // over-long buffer, `out` full) is left to that loop, from the same descriptor.
        if self.max_chain >= 1 {
            while i < avail && n < out.len() {
                let d = ring.read_desc(self.next.wrapping_add(i));
                if d.flags & DESC_FLAG_NEXT != 0
                    || d.length as u64 > MAX_PACKET as u64
                    || !desc_ok(&d, regions)
                {
                    break;
                }
                out[n] = Desc {
                    flags: 0,
                    region: d.region,
                    length: d.length,
                    offset: d.offset,
                    reserved: 0,
                };
                i += 1;
                n += 1;
                packets += 1;
                bytes += d.length as u64;
            }
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
                let d = ring.read_desc(self.next.wrapping_add(i));
                i += 1;
                segs += 1;
                len += d.length as u64;
                ok &= desc_ok(&d, regions);
                let more = d.flags & DESC_FLAG_NEXT != 0;
                // `more` counts the descriptor still to come, so a chain of exactly `max_chain`
                // slots that fills the ring and goes on is caught here, not waited for forever.
                if segs + more as u32 > self.max_chain as u32 || len > MAX_PACKET as u64 {
                    // Longer than any legal packet: drop it through its end.
                    bad += (i - start_i) as u64;
                    self.skipping = more;
                    while self.skipping && i < avail {
                        let d = ring.read_desc(self.next.wrapping_add(i));
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
        if n == 0 {
            // Nothing handed out, perhaps slots dropped: give them back now. Kept until the next
            // burst, a ring full of dropped slots wedged the queue: the peer waited for room, and
            // we for a signal that it could not send.
            self.release();
        }
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
            core: QueueCore::open(port, ctl, dir, qid, auto_attach)?,
            ring: None,
            mode: RxMode::Adaptive,
        })
    }

    /// Receives whole packets into `out` (one descriptor per buffer; `DESC_NEXT` marks chains) and
    /// returns how many descriptors were written. The buffers stay valid and untouched by the peer
    /// until the next `rx_burst` or `release` on this queue.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut [Desc]) -> Result<usize> {
        let (r, c) = self.live()?;
        r.burst(out, c)
    }

    /// Gives back the buffers of the last burst now instead of at the next burst.
    pub fn release(&mut self) -> Result<()> {
        self.live()?.0.release();
        Ok(())
    }

    /// Copies the bytes of `d` (one buffer) into `dst[..d.length]`.
    pub fn read(&self, d: &Desc, dst: &mut [u8]) -> Result<usize> {
        let r = self.ring.as_ref().ok_or_else(Error::not_connected)?;
        r.at.read(d, dst)
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
        if self.mode == RxMode::Polling {
            return poll_until(timeout, || {
                let (r, c) = self.live()?;
                Ok(r.available(c) > 0)
            });
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let (r, c) = self.live()?;
            if r.available(c) > 0 {
                return Ok(true);
            }
            // Ask the peer to signal, then look again: data published before it saw the flag
            // would otherwise go unnoticed.
            r.ask_signal();
            std::sync::atomic::fence(Ordering::SeqCst);
            if r.available(c) > 0 {
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
            let fd = r.at.conn.eventfd(r.at.dir, r.at.index);
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
        let (r, c) = self.live()?;
        r.ask_signal();
        // The peer reads the flag after publishing: look at its index only after our store.
        std::sync::atomic::fence(Ordering::SeqCst);
        if r.available(c) > 0 {
            return Ok(true);
        }
        let conn = r.at.conn.clone();
        self.core.arm(conn, cb)?;
        Ok(false)
    }

    /// How the peer is asked to signal this queue (see `RxMode`); kept across reconnects.
    pub fn set_mode(&mut self, mode: RxMode) {
        self.mode = mode;
        if let Some(r) = self.ring.as_mut() {
            if r.at.conn.is_alive() {
                r.apply_mode(mode);
            }
        }
    }

    pub fn stats(&self) -> QueueStats {
        self.core.stats()
    }

    /// Attaches to the port's current connection; returns its generation.
    pub(crate) fn attach(&mut self) -> Result<u32> {
        if let Some(r) = &self.ring {
            if r.at.conn.is_alive() {
                return Ok(r.at.generation());
            }
        }
        self.detach();
        let mut r = RxRing::new(self.core.connect()?);
        r.apply_mode(self.mode);
        let g = r.at.generation();
        self.ring = Some(r);
        Ok(g)
    }

    /// Lets go of the connection (its regions are unmapped once nobody holds them). The one place
    /// a queue leaves a connection: when that connection has ended, what the peer published and
    /// we had not read is counted in `unread_at_disconnect` here, once (the ring is taken), while
    /// `r` still holds the mapping.
    pub(crate) fn detach(&mut self) {
        if let Some(mut r) = self.ring.take() {
            // No armed callback may outlive the queue (a Worker's callback may be gone).
            self.core.disarm(&r.at.conn);
            if r.at.conn.is_alive() {
                r.release();
                if r.signalling {
                    r.at.ring.set_flags(RING_FLAG_MASK_INT);
                }
            } else {
                QueueCounters::add(&self.core.counters.unread_at_disconnect, r.unread());
            }
        }
    }

    /// Region `idx` of the attached connection (for one view per region in a binding).
    pub(crate) fn region(&self, idx: usize) -> Result<(*mut u8, usize)> {
        let r = self.ring.as_ref().ok_or_else(Error::not_connected)?;
        r.at.region(idx)
    }

    pub(crate) fn num_regions(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.at.regions.len())
    }

    /// The attached ring, if its connection is still alive (attaching again when it is not and
    /// the queue re-attaches by itself), and the counters, borrowed apart so the hot path
    /// touches no reference count.
    #[inline]
    fn live(&mut self) -> Result<(&mut RxRing, &QueueCounters)> {
        let alive = matches!(&self.ring, Some(r) if r.at.conn.is_alive());
        if !alive {
            if !self.core.auto_attach {
                return Err(Error::not_connected());
            }
            self.attach()?;
        }
        Ok((self.ring.as_mut().unwrap(), &self.core.counters))
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.detach();
    }
}
