//! Transmitting: `TxQueue`, and `TxRing`, its cursor on the ring of the connection it is attached
//! to.
//!
//! A client transmits on a C2S ring: slot j always holds its buffer j, so it fills the buffers of
//! the free slots and moves head; the server gives slots back by moving tail. A server transmits
//! on an S2C ring: the client offers its buffers by moving head; the server checks each one, fills
//! it, and moves tail. Both hand out buffers (`alloc`) and send the first n of them (`burst`) the
//! same way; only where the buffers come from differs (`Cursor`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::shared::{packets_on, poll_until, Attachment, ClientBuffers, QueueCore};
use super::{Desc, DESC_NEXT};
use crate::conn::{desc_ok, signal, Dir, Role};
use crate::error::{Code, Error, Result};
use crate::handle::ControlHandle;
use crate::ring::RawDesc;
use crate::state::PortShared;
use crate::stats::{QueueCounters, QueueStats};
use crate::wire::RING_FLAG_MASK_INT;

/// Transmits on one ring. Use from one thread at a time; it may move between threads.
pub struct TxQueue {
    core: QueueCore,
    ring: Option<TxRing>,
    /// `packets` when the queue attached: what a disconnect left unread is never counted above
    /// what was sent on that connection, whatever the peer's index says.
    packets_at_attach: u64,
}

/// Where the buffers to send come from, by role.
enum Cursor {
    /// Client: slot j always holds our buffer j.
    Client(ClientBuffers),
    /// Server: the buffer the client offered in each slot, validated by `alloc`, by slot.
    Server { offered: Vec<RawDesc> },
}

/// A tx queue's cursor on one attached ring.
pub(super) struct TxRing {
    pub(super) at: Attachment,
    /// Our committed index: client head, server tail.
    next: u16,
    /// Buffers handed out by `alloc`, not yet sent.
    reserved: u16,
    cursor: Cursor,
}

impl TxRing {
    /// The transmitter of `at`'s ring. Our own index is the one thing only we write, so the
    /// cursor is rebuilt from it.
    pub(super) fn new(at: Attachment) -> TxRing {
        let (next, cursor) = match at.conn.role {
            Role::Client => (
                at.ring.head(Ordering::Relaxed),
                Cursor::Client(ClientBuffers::of(&at)),
            ),
            Role::Server => (
                at.ring.tail(Ordering::Relaxed),
                Cursor::Server {
                    offered: vec![RawDesc::default(); at.size as usize],
                },
            ),
        };
        TxRing {
            next,
            reserved: 0,
            cursor,
            at,
        }
    }

    /// The transmitter of ring `index` of `conn` (what its role sends on), for the test hooks.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) fn of(conn: Arc<crate::conn::Connection>, index: usize) -> TxRing {
        let dir = Dir::tx_of(conn.role);
        TxRing::new(Attachment::new(conn, dir, index, None))
    }

    /// Buffers we may hand out now: the client's free slots, or the buffers the client offered
    /// the server. An index further than the ring size from ours (either way) means a broken
    /// peer: the connection is ended (see `Attachment::fault`) and nothing is handed out.
    #[inline]
    pub(super) fn room(&self, c: &QueueCounters) -> u16 {
        match self.in_flight() {
            Ok(used) => self.at.size - used,
            Err(peer) => {
                self.bad_index(peer, c);
                0
            }
        }
    }

    /// Slots we filled that the peer has not given back (the ring size less our room), from one
    /// Acquire load of the peer's index: a client's are between the server's tail and our next
    /// slot; a server's between the buffers its client offered last (`head - size`, as the
    /// client's receiver starts) and our next slot. `Err(index)` when the index is further than
    /// the ring size from ours, either way.
    #[inline]
    fn in_flight(&self) -> std::result::Result<u16, u16> {
        let (ring, size) = (&self.at.ring, self.at.size);
        let (peer, oldest) = match self.cursor {
            Cursor::Client(_) => {
                let tail = ring.tail(Ordering::Acquire);
                (tail, tail)
            }
            Cursor::Server { .. } => {
                let head = ring.head(Ordering::Acquire);
                (head, head.wrapping_sub(size))
            }
        };
        let used = self.next.wrapping_sub(oldest);
        if used > size {
            Err(peer)
        } else {
            Ok(used)
        }
    }

    /// Packets we sent that the peer had not given back, for when the connection has ended (see
    /// `TxQueue::detach`): the slots `in_flight` counts, as `room` does; an index the ring cannot
    /// hold counts nothing (on a live connection it is a fault, counted in `bad_descs`).
    pub(super) fn unread(&self) -> u64 {
        self.in_flight().map_or(0, |n| {
            packets_on(&self.at.ring, self.next.wrapping_sub(n), n, false)
        })
    }

    #[cold]
    fn bad_index(&self, peer: u16, c: &QueueCounters) {
        QueueCounters::add(&c.bad_descs, 1);
        let (theirs, ours) = match self.cursor {
            Cursor::Client(_) => ("tail", "head"),
            Cursor::Server { .. } => ("head", "tail"),
        };
        self.at.fault(format!(
            "Invalid ring index: {theirs} {peer} {ours} {} on ring {} (size {})",
            self.next,
            self.at.ring_name(),
            self.at.size
        ));
    }

    /// Reserves up to `out.len()` buffers (see `TxQueue::alloc`).
    pub(super) fn alloc(&mut self, out: &mut [Desc], c: &QueueCounters) -> usize {
        let free = self.room(c) as usize;
        let k = match &mut self.cursor {
            Cursor::Client(buffers) => {
                let k = out.len().min(free);
                for (j, d) in out[..k].iter_mut().enumerate() {
                    *d = handed_out(buffers.at(self.next.wrapping_add(j as u16)));
                }
                k
            }
            Cursor::Server { offered } => {
                server_alloc(&self.at, &mut self.next, offered, out, free, c)
            }
        };
        if k < out.len() {
            QueueCounters::add(&c.ring_full, 1);
        }
        self.reserved = k as u16;
        k
    }

    /// Sends the first `descs.len()` reserved buffers (see `TxQueue::tx_burst`).
    pub(super) fn burst(&mut self, descs: &[Desc], c: &QueueCounters) -> Result<usize> {
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
        let ring = &self.at.ring;
        let next = self.next;
        // Check everything first, so an error sends nothing.
        let (packets, bytes) = match &self.cursor {
            Cursor::Client(buffers) => validate(descs, |_| buffers.size())?,
            Cursor::Server { offered } => validate(descs, |k| {
                let index = next.wrapping_add(k as u16);
                offered[(index & (self.at.size - 1)) as usize].length
            })?,
        };
        match &self.cursor {
            Cursor::Client(buffers) => {
                for (k, d) in descs.iter().enumerate() {
                    let index = next.wrapping_add(k as u16);
                    let mut b = buffers.at(index);
                    b.flags = d.flags;
                    b.length = d.length;
                    // Full descriptor each time: no NEXT flag survives from an earlier lap.
                    ring.write_desc(index, b);
                }
                self.next = next.wrapping_add(n as u16);
                ring.publish_head(self.next);
            }
            Cursor::Server { .. } => {
                for (k, d) in descs.iter().enumerate() {
                    ring.write_len_flags(next.wrapping_add(k as u16), d.length, d.flags);
                }
                self.next = next.wrapping_add(n as u16);
                ring.publish_tail(self.next);
            }
        }
        self.reserved -= n as u16;
        if ring.flags() & RING_FLAG_MASK_INT == 0 {
            signal(self.at.conn.eventfd(self.at.dir, self.at.index));
            QueueCounters::add(&c.interrupts, 1);
        }
        QueueCounters::add(&c.packets, packets);
        QueueCounters::add(&c.bytes, bytes);
        Ok(n)
    }
}

/// A ring buffer as `alloc` hands it out: its capacity in `length`, no flags.
#[inline]
fn handed_out(d: RawDesc) -> Desc {
    Desc {
        flags: 0,
        region: d.region,
        length: d.length,
        offset: d.offset,
        reserved: 0,
    }
}

/// A server's `alloc`: the buffers the client offered from `next` on, each checked against the
/// regions. A broken one first in line is returned to the client empty (in order) and counted;
/// one later stops the batch there (it comes first in the next).
fn server_alloc(
    at: &Attachment,
    next: &mut u16,
    offered: &mut [RawDesc],
    out: &mut [Desc],
    mut free: usize,
    c: &QueueCounters,
) -> usize {
    let mut k = 0usize;
    let mut skipped = false;
    while k < out.len().min(free) {
        let index = next.wrapping_add(k as u16);
        let d = at.ring.read_desc(index);
        if !desc_ok(&d, &at.regions) {
            if k == 0 {
                // Skip the client's broken buffer: return it empty, in order.
                at.ring.write_len_flags(index, 0, 0);
                *next = next.wrapping_add(1);
                free -= 1;
                skipped = true;
                QueueCounters::add(&c.bad_descs, 1);
                continue;
            }
            break;
        }
        offered[(index & (at.size - 1)) as usize] = d;
        out[k] = handed_out(d);
        k += 1;
    }
    if skipped {
        at.ring.publish_tail(*next);
    }
    k
}

/// Checks a `tx_burst`'s descriptors (`cap(k)`: the capacity of the k-th buffer reserved) before
/// anything is written; returns the packets and bytes they hold.
#[inline]
fn validate(descs: &[Desc], cap: impl Fn(usize) -> u32) -> Result<(u64, u64)> {
    let (mut packets, mut bytes) = (0u64, 0u64);
    for (k, d) in descs.iter().enumerate() {
        let cap = cap(k);
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
        packets += (d.flags & DESC_NEXT == 0) as u64;
        bytes += d.length as u64;
    }
    if descs[descs.len() - 1].flags & DESC_NEXT != 0 {
        return Err(Error::invalid(
            "the last descriptor has NEXT set: send whole packets (clear NEXT on each packet's \
             last buffer)",
        ));
    }
    Ok((packets, bytes))
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
            core: QueueCore::open(port, ctl, dir, qid, auto_attach)?,
            ring: None,
            packets_at_attach: 0,
        })
    }

    /// Reserves up to `out.len()` free buffers (capacity in `length`) and returns how many. Buffers
    /// reserved and not sent are handed out again by the next `alloc`.
    #[inline]
    pub fn alloc(&mut self, out: &mut [Desc]) -> Result<usize> {
        let (t, c) = self.live()?;
        Ok(t.alloc(out, c))
    }

    /// Sends the first `descs.len()` reserved buffers with the lengths and NEXT flags in `descs`.
    #[inline]
    pub fn tx_burst(&mut self, descs: &[Desc]) -> Result<usize> {
        let (t, c) = self.live()?;
        t.burst(descs, c)
    }

    /// Copies `src` into buffer `d` at byte `at`.
    #[inline]
    pub fn write(&self, d: &Desc, at: usize, src: &[u8]) -> Result<()> {
        let t = self.ring.as_ref().ok_or_else(Error::not_connected)?;
        t.at.write(d, at, src)
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
        poll_until(timeout, || {
            let (t, c) = self.live()?;
            Ok(t.room(c) >= n.min(t.at.size))
        })
    }

    pub fn stats(&self) -> QueueStats {
        self.core.stats()
    }

    /// Attaches to the port's current connection; returns its generation.
    pub(crate) fn attach(&mut self) -> Result<u32> {
        if let Some(t) = &self.ring {
            if t.at.conn.is_alive() {
                return Ok(t.at.generation());
            }
        }
        self.detach();
        let t = TxRing::new(self.core.connect()?);
        self.packets_at_attach = self.core.counters.packets.load(Ordering::Relaxed);
        let g = t.at.generation();
        self.ring = Some(t);
        Ok(g)
    }

    /// Lets go of the connection (its regions are unmapped once nobody holds them). The one place
    /// a queue leaves a connection: when that connection has ended, what we sent and the peer had
    /// not taken is counted in `unread_at_disconnect` here, once (the ring is taken), while `t`
    /// still holds the mapping; never more than we sent on it (a peer's index that runs
    /// backwards can claim slots we never filled).
    pub(crate) fn detach(&mut self) {
        if let Some(t) = self.ring.take() {
            if !t.at.conn.is_alive() {
                let c = &self.core.counters;
                let sent = c.packets.load(Ordering::Relaxed) - self.packets_at_attach;
                QueueCounters::add(&c.unread_at_disconnect, t.unread().min(sent));
            }
        }
    }

    /// Region `idx` of the attached connection (for one view per region in a binding).
    pub(crate) fn region(&self, idx: usize) -> Result<(*mut u8, usize)> {
        let t = self.ring.as_ref().ok_or_else(Error::not_connected)?;
        t.at.region(idx)
    }

    pub(crate) fn num_regions(&self) -> usize {
        self.ring.as_ref().map_or(0, |t| t.at.regions.len())
    }

    /// The attached ring, if its connection is still alive (attaching again when it is not and
    /// the queue re-attaches by itself), and the counters, borrowed apart.
    #[inline]
    fn live(&mut self) -> Result<(&mut TxRing, &QueueCounters)> {
        let alive = matches!(&self.ring, Some(t) if t.at.conn.is_alive());
        if !alive {
            if !self.core.auto_attach {
                return Err(Error::not_connected());
            }
            self.attach()?;
        }
        Ok((self.ring.as_mut().unwrap(), &self.core.counters))
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.detach();
    }
}
