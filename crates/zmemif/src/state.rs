//! Port state and its one owner. `PortShared` holds what the control thread publishes about a port
//! (status, the live connection, counts, reasons, the peer's credentials) and what its queues share
//! (queue claims, counters); everything changes through its methods, under one lock, and waiters
//! and the user's callback hear of it. Ports, queues and the control thread only call them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::PortConfig;
use crate::conn::{Connection, Dir, Role};
use crate::creds::PeerCred;
use crate::error::{Code, Error, Result};
use crate::stats::QueueCounters;

/// Connection state of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Disconnected = 0,
    Connecting = 1,
    Connected = 2,
    Closed = 3,
}

/// What a port tells its callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Connected {
        generation: u32,
    },
    Disconnected {
        generation: u32,
    },
    /// A handshake was refused (by us or by the peer); `rejects` counts them. See `PortInfo::reason`.
    /// `peer`: the credentials of the process at the other end (for a server, the client refused).
    Rejected {
        rejects: u32,
        peer: Option<PeerCred>,
    },
    /// Data arrived on an rx queue armed with `arm`.
    RxReady {
        qid: u16,
    },
}

pub type Callback = Arc<dyn Fn(Event) + Send + Sync>;

#[derive(Default)]
struct PortState {
    status: Option<Status>,
    conn: Option<Arc<Connection>>,
    generation: u32,
    peer_name: String,
    reason: String,
    /// `reason` is ours (see `PortInfo::local`).
    local: bool,
    connects: u64,
    disconnects: u64,
    rejects: u64,
    /// The last handshake attempt ended in a refusal (cleared when a new one starts or succeeds):
    /// a client's `wait_connected` begun after the refusal reports it instead of waiting for the
    /// next attempt to be refused as well.
    last_refused: bool,
    peer: Option<PeerCred>,
    rejected_peer: Option<PeerCred>,
    /// Server: a handshake for this port is under way on some connection.
    handshaking: bool,
}

/// A snapshot of a port (the C ABI's `zmemif_port_info`).
#[derive(Clone, Debug, Default)]
pub struct PortInfo {
    pub status: u32,
    pub generation: u32,
    pub num_c2s: u16,
    pub num_s2c: u16,
    pub log2_ring_size: u8,
    pub num_regions: u16,
    pub buffer_size: u32,
    /// The most descriptors one received packet can have on this connection (the largest over
    /// its rx queues): an `rx_burst` array this long always makes progress. 0 when not connected.
    pub max_segments: u16,
    pub connects: u64,
    pub disconnects: u64,
    pub rejects: u64,
    pub peer_name: String,
    pub reason: String,
    /// `reason` (of the last disconnect or refusal) is ours: this side ended the connection or
    /// refused the handshake, and sent the peer a DISCONNECT saying why (a peer that broke the
    /// protocol: bad descriptors, a bad ring index, a bad control message, a handshake timeout;
    /// or this port closed). False when the peer left, or told us its reason.
    pub local: bool,
    /// The connected peer's credentials (`SO_PEERCRED`); `None` while not connected.
    pub peer: Option<PeerCred>,
    /// The credentials of the peer at the other end of the last refused handshake.
    pub rejected_peer: Option<PeerCred>,
}

pub struct PortShared {
    cfg: PortConfig,
    st: Mutex<PortState>,
    cv: Condvar,
    claims: Mutex<HashSet<(Dir, u16)>>,
    c2s_counters: Vec<Arc<QueueCounters>>,
    s2c_counters: Vec<Arc<QueueCounters>>,
    callback: Mutex<Option<Callback>>,
    /// Held while a callback runs, so replacing the callback can wait for it to finish.
    in_callback: Mutex<()>,
    closed: AtomicBool,
}

impl PortShared {
    pub(crate) fn new(cfg: PortConfig) -> PortShared {
        let mk = |n: u16| (0..n).map(|_| Arc::new(QueueCounters::default())).collect();
        PortShared {
            c2s_counters: mk(cfg.num_c2s),
            s2c_counters: mk(cfg.num_s2c),
            cfg,
            st: Mutex::new(PortState::default()),
            cv: Condvar::new(),
            claims: Mutex::new(HashSet::new()),
            callback: Mutex::new(None),
            in_callback: Mutex::new(()),
            closed: AtomicBool::new(false),
        }
    }

    fn state(&self) -> MutexGuard<'_, PortState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> &PortConfig {
        &self.cfg
    }

    pub fn role(&self) -> Role {
        self.cfg.role
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the port closed; false if it already was.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Replaces the callback. With `wait`, returns only once a callback that was running has
    /// finished (the caller passes false on the control thread, where that would wait for itself).
    pub(crate) fn set_callback(&self, cb: Option<Callback>, wait: bool) {
        *self.callback.lock().unwrap_or_else(|p| p.into_inner()) = cb;
        if wait {
            drop(self.in_callback.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// Client: connecting failed (no server, or no permission); `reason` says why, for
    /// `PortInfo::reason` and a timed-out `wait_connected`.
    pub(crate) fn set_unreachable(&self, reason: String) {
        self.state().reason = reason;
    }

    /// Server: a client's INIT names this port. It is taken while connected or while another
    /// handshake for it runs (`Err("Already connected")`, not counted as a refusal); else a
    /// `refusal` (allow-list, mode, secret) is counted and reported (`Err(refusal)`); else the
    /// handshake begins.
    pub(crate) fn begin_handshake(
        &self,
        refusal: Option<String>,
        peer: Option<PeerCred>,
    ) -> std::result::Result<(), String> {
        let mut st = self.state();
        if st.conn.is_some() || st.handshaking {
            return Err("Already connected".into());
        }
        if let Some(r) = refusal {
            drop(st);
            self.set_rejected(&r, peer, true);
            return Err(r);
        }
        st.handshaking = true;
        st.status = Some(Status::Connecting);
        Ok(())
    }

    /// The live connection, if any: one the data path found broken is not handed out again
    /// while the control thread ends it.
    pub(crate) fn current(&self) -> Option<Arc<Connection>> {
        self.state().conn.clone().filter(|c| c.is_alive())
    }

    pub(crate) fn claim(&self, dir: Dir, qid: u16) -> Result<Arc<QueueCounters>> {
        if self.is_closed() {
            return Err(Error::new(Code::Closed, "the port is closed"));
        }
        let counters = match dir {
            Dir::C2S => &self.c2s_counters,
            Dir::S2C => &self.s2c_counters,
        };
        let Some(c) = counters.get(qid as usize) else {
            let rx = dir == Dir::rx_of(self.cfg.role);
            return Err(Error::new(
                Code::QueueRange,
                format!(
                    "{} queue {qid} does not exist: the port has {} (ids 0 to {}); configure more \
                     queues or use a smaller id",
                    if rx { "rx" } else { "tx" },
                    counters.len(),
                    counters.len() - 1
                ),
            ));
        };
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        if !claims.insert((dir, qid)) {
            return Err(Error::new(
                Code::Busy,
                format!("queue {qid} is already open: a queue has one user at a time; close the other handle first"),
            ));
        }
        Ok(c.clone())
    }

    pub(crate) fn unclaim(&self, dir: Dir, qid: u16) {
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(dir, qid));
    }

    pub(crate) fn emit(&self, ev: Event) {
        let cb = self
            .callback
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(cb) = cb {
            let _running = self.in_callback.lock().unwrap_or_else(|p| p.into_inner());
            cb(ev);
        }
    }

    /// Control thread: the handshake finished.
    pub(crate) fn set_connected(
        &self,
        mut conn: Connection,
        peer_name: String,
        peer: Option<PeerCred>,
    ) {
        let g;
        {
            let mut st = self.state();
            st.generation = st.generation.wrapping_add(1);
            g = st.generation;
            conn.generation = g;
            conn.peer_name = peer_name.clone();
            st.conn = Some(Arc::new(conn));
            st.status = Some(Status::Connected);
            st.peer_name = peer_name;
            st.peer = peer;
            st.connects += 1;
            st.last_refused = false;
            st.handshaking = false;
        }
        self.cv.notify_all();
        self.emit(Event::Connected { generation: g });
    }

    /// Control thread: a live connection ended. Queues notice at their next burst; the mapping
    /// stays until the last of them detaches.
    /// `local`: we ended it (and told the peer `reason`), see `PortInfo::local`.
    pub(crate) fn set_disconnected(&self, reason: &str, local: bool) {
        let g;
        {
            let mut st = self.state();
            let Some(conn) = st.conn.take() else { return };
            conn.mark_dead();
            g = conn.generation;
            st.disconnects += 1;
            st.peer = None;
            st.reason = reason.to_string();
            st.local = local;
            st.status = Some(if self.closed.load(Ordering::Acquire) {
                Status::Closed
            } else {
                Status::Disconnected
            });
        }
        self.cv.notify_all();
        self.emit(Event::Disconnected { generation: g });
    }

    /// Control thread: a handshake for this port failed (refused by us or by the peer).
    /// `local`: we refused (and told the peer `reason`), see `PortInfo::local`.
    pub(crate) fn set_rejected(&self, reason: &str, peer: Option<PeerCred>, local: bool) {
        let rejects;
        {
            let mut st = self.state();
            st.rejects += 1;
            st.last_refused = true;
            rejects = st.rejects as u32;
            st.reason = reason.to_string();
            st.local = local;
            st.rejected_peer = peer;
            st.handshaking = false;
            if st.status == Some(Status::Connecting) {
                st.status = Some(Status::Disconnected);
            }
        }
        self.cv.notify_all();
        self.emit(Event::Rejected { rejects, peer });
    }

    pub(crate) fn set_status(&self, s: Status) {
        let mut st = self.state();
        if s == Status::Connecting {
            st.last_refused = false;
        }
        st.status = Some(s);
        drop(st);
        self.cv.notify_all();
    }

    pub fn status(&self) -> Status {
        self.state().status.unwrap_or(Status::Disconnected)
    }

    pub fn info(&self) -> PortInfo {
        let st = self.state();
        let mut i = PortInfo {
            status: st.status.unwrap_or(Status::Disconnected) as u32,
            generation: st.generation,
            connects: st.connects,
            disconnects: st.disconnects,
            rejects: st.rejects,
            peer_name: st.peer_name.clone(),
            reason: st.reason.clone(),
            local: st.local,
            peer: st.peer,
            rejected_peer: st.rejected_peer,
            ..PortInfo::default()
        };
        if let Some(c) = &st.conn {
            i.num_c2s = c.c2s.len() as u16;
            i.num_s2c = c.s2c.len() as u16;
            i.log2_ring_size = c.c2s.first().map_or(0, |r| r.log2);
            i.num_regions = c.regions.len() as u16;
            i.buffer_size = c.buffer_size;
            let rx = Dir::rx_of(c.role);
            i.max_segments = (0..c.rings(rx).len())
                .map(|q| c.max_segments(rx, q))
                .max()
                .unwrap_or(0);
        }
        i
    }

    /// Waits until connected; a handshake refused meanwhile ends the wait with its reason.
    pub fn wait_connected(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.state();
        // A client whose last attempt was refused before this wait began reports that refusal now
        // (a server keeps listening: only refusals during the wait end it).
        let rejects = if self.cfg.role == Role::Client && st.last_refused {
            st.rejects.wrapping_sub(1)
        } else {
            st.rejects
        };
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::new(Code::Closed, "the port was closed"));
            }
            if st.conn.is_some() {
                return Ok(());
            }
            if st.rejects != rejects {
                return Err(Error::new(
                    Code::PeerRejected,
                    format!("the handshake was refused: {}", st.reason),
                ));
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) if !l.is_zero() => l,
                    _ => {
                        return Err(Error::new(
                            Code::Timeout,
                            format!(
                                "not connected after {:?}{}: is the peer running, with the same socket, id{}?",
                                timeout.unwrap(),
                                if st.reason.is_empty() { String::new() } else { format!(" (last: {})", st.reason) },
                                if self.cfg.role == Role::Client { " and role server" } else { " and role client" }
                            ),
                        ))
                    }
                },
                None => Duration::from_secs(1),
            };
            st = self
                .cv
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
