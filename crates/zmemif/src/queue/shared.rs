//! What an rx and a tx queue really share: the claim on the port's queue id (`QueueCore`), the
//! attachment to one connection (`Attachment`: its ring, the regions' bounds, the fault path),
//! the client's fixed buffer per slot, and the polling wait. The only `unsafe` of the queue is
//! here: copies into and out of the regions, and sending an attachment to another thread.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Desc;
use crate::conn::{Connection, Dir};
use crate::error::{Code, Error, Result};
use crate::handle::ControlHandle;
use crate::region::in_bounds;
use crate::ring::{copy_in, copy_out, RawDesc, Ring};
use crate::state::{Callback, PortShared};
use crate::stats::{QueueCounters, QueueStats};
use crate::wire::DESC_FLAG_NEXT;

/// A queue's claim on its id in the port, its counters, and its way to the port's connection
/// and control thread. Dropping it gives the id back.
pub(super) struct QueueCore {
    port: Arc<PortShared>,
    /// The socket's control thread: woken on a broken peer, asked to watch armed rx queues.
    ctl: Weak<ControlHandle>,
    dir: Dir,
    qid: u16,
    pub(super) counters: Arc<QueueCounters>,
    /// Rust users re-attach by themselves; bindings that map views attach explicitly.
    pub(super) auto_attach: bool,
}

impl QueueCore {
    /// Claims queue `qid` of `dir` on the port (BUSY if another handle has it).
    pub(super) fn open(
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
            counters,
            auto_attach,
        })
    }

    /// An attachment to the port's current connection: NOT_CONNECTED without one, QUEUE_RANGE
    /// when the connection has fewer queues than this id needs.
    pub(super) fn connect(&self) -> Result<Attachment> {
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
        Ok(Attachment::new(
            conn,
            self.dir,
            self.qid as usize,
            Some(self.ctl.clone()),
        ))
    }

    /// rx: asks the control thread to report `Event::RxReady` (to `cb`, or the port's callback)
    /// once the peer signals this queue's ring of `conn`.
    pub(super) fn arm(&self, conn: Arc<Connection>, cb: Option<Callback>) -> Result<()> {
        let ctl = self.ctl.upgrade();
        let ctl = ctl.ok_or_else(|| Error::new(Code::Closed, "the socket is closed"))?;
        if !ctl.arm(self.port.clone(), conn, self.qid as usize, cb) {
            return Err(Error::not_connected()); // it ended meanwhile
        }
        Ok(())
    }

    /// rx: forgets an arm on `conn`; when it returns, no armed callback of this queue runs.
    pub(super) fn disarm(&self, conn: &Arc<Connection>) {
        if let Some(ctl) = self.ctl.upgrade() {
            ctl.disarm(conn, self.qid as usize);
        }
    }

    pub(super) fn stats(&self) -> QueueStats {
        self.counters.snapshot()
    }
}

impl Drop for QueueCore {
    fn drop(&mut self) {
        self.port.unclaim(self.dir, self.qid);
    }
}

/// A queue's hold on one connection: its ring and the regions' bounds, cached at attach.
pub(super) struct Attachment {
    pub(super) conn: Arc<Connection>,
    pub(super) ring: Ring,
    pub(super) regions: Vec<(*mut u8, usize)>,
    pub(super) size: u16,
    pub(super) dir: Dir,
    /// The ring's index among the connection's rings of `dir`.
    pub(super) index: usize,
    /// The socket's control thread, woken when the peer breaks the ring protocol.
    waker: Option<Weak<ControlHandle>>,
}

// SAFETY: the raw region and ring pointers stay valid while `conn` (an `Arc` we own) lives, and a
// queue is used by one thread at a time (`&mut self` on every data-path method), so moving it
// between threads (one queue per Worker) is sound.
unsafe impl Send for Attachment {}

impl Attachment {
    pub(super) fn new(
        conn: Arc<Connection>,
        dir: Dir,
        index: usize,
        waker: Option<Weak<ControlHandle>>,
    ) -> Attachment {
        let ring = conn.ring(dir, index);
        Attachment {
            regions: conn.regions.iter().map(|r| (r.base(), r.len())).collect(),
            size: ring.size(),
            ring,
            dir,
            index,
            waker,
            conn,
        }
    }

    pub(super) fn ring_name(&self) -> String {
        format!("{:?} {}", self.dir, self.index)
    }

    /// The peer broke the ring protocol: mark the connection dead at once (nothing more is read
    /// or written) and wake the control thread, which sends the peer a DISCONNECT with `reason`
    /// and reports it on the port.
    #[cold]
    pub(super) fn fault(&self, reason: String) {
        self.conn.set_fault(reason);
        if let Some(ctl) = self.waker.as_ref().and_then(|w| w.upgrade()) {
            ctl.wake();
        }
    }

    /// The connection's generation, for bindings.
    pub(super) fn generation(&self) -> u32 {
        self.conn.generation
    }

    /// Base address and length of region `idx` (for one view per region in a binding).
    pub(super) fn region(&self, idx: usize) -> Result<(*mut u8, usize)> {
        self.regions.get(idx).copied().ok_or_else(|| {
            Error::invalid(format!(
                "region {idx} does not exist (the connection has {})",
                self.regions.len()
            ))
        })
    }

    /// Checks that `len` bytes at `at` of buffer `d` lie inside it and inside its region; returns
    /// the region's base.
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

    /// Copies the bytes of buffer `d` into `dst[..d.length]`.
    pub(super) fn read(&self, d: &Desc, dst: &mut [u8]) -> Result<usize> {
        let len = d.length as usize;
        let base = self.check(d, 0, len)?;
        if dst.len() < len {
            return Err(Error::invalid("destination shorter than the buffer"));
        }
        // SAFETY: `check` verified `[offset, offset + length)` lies inside region `d.region`, which
        // stays mapped while we hold `conn`.
        unsafe { copy_out(base, d.offset as usize, &mut dst[..len]) };
        Ok(len)
    }

    /// Copies `src` into buffer `d` at byte `at`.
    #[inline]
    pub(super) fn write(&self, d: &Desc, at: usize, src: &[u8]) -> Result<()> {
        let base = self.check(d, at, src.len())?;
        // SAFETY: `check` verified `[offset + at, offset + at + len)` lies inside the buffer and
        // the region, which stays mapped while we hold `conn`.
        unsafe { copy_in(base, d.offset as usize + at, src) };
        Ok(())
    }
}

/// Where a client's buffers are: slot j of its ring always owns buffer j, at
/// `offset + j * size` in `region` (so no two slots ever share one).
#[derive(Clone, Copy)]
pub(super) struct ClientBuffers {
    region: u16,
    offset: u32,
    size: u32,
    mask: u16,
}

impl ClientBuffers {
    /// The buffers of the attached ring (a client's connection).
    pub(super) fn of(at: &Attachment) -> ClientBuffers {
        let (region, offset) = at.conn.rings(at.dir)[at.index].buffers.unwrap_or((0, 0));
        ClientBuffers {
            region,
            offset,
            size: at.conn.buffer_size,
            mask: at.size - 1,
        }
    }

    /// The buffer of slot `index`, whole.
    #[inline]
    pub(super) fn at(&self, index: u16) -> RawDesc {
        RawDesc {
            flags: 0,
            region: self.region,
            length: self.size,
            offset: self.offset + (index & self.mask) as u32 * self.size,
        }
    }

    pub(super) fn size(&self) -> u32 {
        self.size
    }
}

/// The packets in the `n` slots of `ring` from index `from` (`n` at most the ring size, so every
/// slot is read once, inside the ring): one per descriptor without NEXT, and one for a chain cut
/// off at the end. `skipping`: the first slots finish a chain already dropped (and counted in
/// `bad_descs`), so they are no packet. For what a disconnect left on a ring: the flags are read
/// once, and a peer that rewrites them only changes the count within the `n` slots.
pub(super) fn packets_on(ring: &Ring, from: u16, n: u16, mut skipping: bool) -> u64 {
    debug_assert!(n <= ring.size());
    let (mut packets, mut open) = (0u64, false);
    for k in 0..n {
        let more = ring.read_desc(from.wrapping_add(k)).flags & DESC_FLAG_NEXT != 0;
        if skipping {
            skipping = more;
            continue;
        }
        packets += !more as u64;
        open = more;
    }
    packets + open as u64
}

/// Calls `ready` until it says true (true) or `timeout` passes (false): yields 63 times, then
/// sleeps in growing steps up to 10 ms. For waits nobody can signal.
pub(super) fn poll_until(
    timeout: Option<Duration>,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut spins = 0u32;
    loop {
        if ready()? {
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
