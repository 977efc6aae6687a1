//! Public objects: `Socket` (one control socket: a listener for server ports, connections for
//! client ports) and `Port` (one memif interface). The socket's control thread (control.rs) runs
//! every handshake; ports and queues only read the state it publishes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::conn::{Connection, Dir, Role};
use crate::control::Control;
use crate::creds::PeerCred;
use crate::error::{Code, Error, Result};
use crate::queue::{QueueCounters, RxQueue, TxQueue};
use crate::sock::{Perms, SocketAddr};
use crate::wire::{Mode, MAX_LOG2_RING, MAX_RINGS, NAME_LEN, SECRET_LEN};

/// What a port does: see the fields for defaults.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// Interface id: a client reaches the server interface with the same id on the socket.
    pub id: u32,
    pub role: Role,
    pub mode: Mode,
    /// Up to 24 bytes; a server with a secret refuses clients without the same one.
    pub secret: Option<Vec<u8>>,
    /// Interface name sent to the peer (up to 31 bytes).
    pub name: String,
    /// Client→server queues (1..=255). For a client these are its tx queues, for a server its rx.
    pub num_c2s: u16,
    /// Server→client queues (1..=255).
    pub num_s2c: u16,
    /// Slots per ring: a power of two from 2 to 16384. The client's value is used (the server's
    /// HELLO may lower it).
    pub ring_size: u32,
    /// Bytes per buffer, 1..=65535. The client's value is used; larger packets are chained.
    pub buffer_size: u32,
    /// Client: time between connection attempts while the server is absent or gone.
    pub reconnect: Duration,
    /// Either role: a handshake not finished in this time is abandoned.
    pub handshake_timeout: Duration,
    /// Server: only a peer whose uid is listed here (or whose gid is in `allow_gids`) may
    /// connect; others get a DISCONNECT saying why. Both empty: anyone who can reach the socket.
    pub allow_uids: Vec<u32>,
    /// Server: as `allow_uids`, for the peer's gid (its effective gid at `connect`).
    pub allow_gids: Vec<u32>,
    /// Server: on an abstract socket, having neither a secret nor an allow-list is an error
    /// instead of a warning.
    pub require_secret: bool,
    /// Client: connect only to a server running as this uid (checked before the secret or any
    /// memory is sent).
    pub expect_server_uid: Option<u32>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            id: 0,
            role: Role::Client,
            mode: Mode::Ethernet,
            secret: None,
            name: "zmemif".into(),
            num_c2s: 1,
            num_s2c: 1,
            ring_size: 1024,
            buffer_size: 2048,
            reconnect: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(5),
            allow_uids: Vec::new(),
            allow_gids: Vec::new(),
            require_secret: false,
            expect_server_uid: None,
        }
    }
}

impl PortConfig {
    pub fn validate(&self) -> Result<()> {
        if !self.ring_size.is_power_of_two()
            || self.ring_size < 2
            || self.ring_size > 1 << MAX_LOG2_RING
        {
            return Err(Error::invalid(format!(
                "ring size {} is not a power of two from 2 to 16384: use e.g. 1024",
                self.ring_size
            )));
        }
        if self.buffer_size == 0 || self.buffer_size > 65535 {
            return Err(Error::invalid(format!(
                "buffer size {} is not within 1..=65535: use e.g. 2048 (larger packets are chained)",
                self.buffer_size
            )));
        }
        for (n, what) in [
            (self.num_c2s, "client-to-server"),
            (self.num_s2c, "server-to-client"),
        ] {
            if n == 0 || n > MAX_RINGS {
                return Err(Error::invalid(format!(
                    "{n} {what} queues: use 1 to {MAX_RINGS}"
                )));
            }
        }
        if let Some(s) = &self.secret {
            if s.len() > SECRET_LEN || s.contains(&0) {
                return Err(Error::invalid(format!(
                    "the secret must be 1 to {SECRET_LEN} bytes without NUL"
                )));
            }
        }
        let server_only = [
            (!self.allow_uids.is_empty(), "allowUids (allow_uids)"),
            (!self.allow_gids.is_empty(), "allowGids (allow_gids)"),
            (self.require_secret, "requireSecret (require_secret)"),
        ];
        for (set, what) in server_only {
            if set && self.role == Role::Client {
                return Err(Error::invalid(format!(
                    "{what} applies to a server port; a client checks its server with \
                     expectServerUid (expect_server_uid)"
                )));
            }
        }
        if self.expect_server_uid.is_some() && self.role == Role::Server {
            return Err(Error::invalid(
                "expectServerUid (expect_server_uid) applies to a client port; a server restricts \
                 its clients with allowUids/allowGids (allow_uids/allow_gids)",
            ));
        }
        if self.name.len() >= NAME_LEN {
            return Err(Error::invalid(format!(
                "interface name {:?} is longer than {} bytes",
                self.name,
                NAME_LEN - 1
            )));
        }
        Ok(())
    }

    pub fn log2_ring_size(&self) -> u8 {
        self.ring_size.trailing_zeros() as u8
    }

    /// Queue count in one direction of this port: rx queues are S2C for a client, C2S for a server.
    pub fn count(&self, dir: Dir) -> u16 {
        match dir {
            Dir::C2S => self.num_c2s,
            Dir::S2C => self.num_s2c,
        }
    }
}

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
pub(crate) struct PortState {
    pub status: Option<Status>,
    pub conn: Option<Arc<Connection>>,
    pub generation: u32,
    pub peer_name: String,
    pub reason: String,
    pub connects: u64,
    pub disconnects: u64,
    pub rejects: u64,
    /// The last handshake attempt ended in a refusal (cleared when a new one starts or succeeds):
    /// a client's `wait_connected` begun after the refusal reports it instead of waiting for the
    /// next attempt to be refused as well.
    pub last_refused: bool,
    pub peer: Option<PeerCred>,
    pub rejected_peer: Option<PeerCred>,
    /// Server: a handshake for this port is under way on some connection.
    pub handshaking: bool,
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
    /// The connected peer's credentials (`SO_PEERCRED`); `None` while not connected.
    pub peer: Option<PeerCred>,
    /// The credentials of the peer at the other end of the last refused handshake.
    pub rejected_peer: Option<PeerCred>,
}

pub struct PortShared {
    pub(crate) cfg: PortConfig,
    st: Mutex<PortState>,
    cv: Condvar,
    claims: Mutex<HashSet<(Dir, u16)>>,
    c2s_counters: Vec<Arc<QueueCounters>>,
    s2c_counters: Vec<Arc<QueueCounters>>,
    callback: Mutex<Option<Callback>>,
    /// Held while a callback runs, so replacing the callback can wait for it to finish.
    in_callback: Mutex<()>,
    pub(crate) closed: AtomicBool,
    /// The socket's control thread, for armed rx queues.
    pub(crate) ctl: std::sync::OnceLock<std::sync::Weak<Control>>,
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
            ctl: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, PortState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn role(&self) -> Role {
        self.cfg.role
    }

    /// The live connection, if any: one the data path found broken is not handed out again
    /// while the control thread ends it.
    pub(crate) fn current(&self) -> Option<Arc<Connection>> {
        self.state().conn.clone().filter(|c| c.is_alive())
    }

    pub(crate) fn claim(&self, dir: Dir, qid: u16) -> Result<Arc<QueueCounters>> {
        if self.closed.load(Ordering::Acquire) {
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
    pub(crate) fn set_disconnected(&self, reason: &str) {
        let g;
        {
            let mut st = self.state();
            let Some(conn) = st.conn.take() else { return };
            conn.mark_dead();
            g = conn.generation;
            st.disconnects += 1;
            st.peer = None;
            st.reason = reason.to_string();
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
    pub(crate) fn set_rejected(&self, reason: &str, peer: Option<PeerCred>) {
        let rejects;
        {
            let mut st = self.state();
            st.rejects += 1;
            st.last_refused = true;
            rejects = st.rejects as u32;
            st.reason = reason.to_string();
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

/// A control socket. Ports made on it share its control thread; server ports share its listener.
/// The thread stops (and a filesystem listener is removed) when the last clone and the last port
/// made on it are gone.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

struct SocketInner {
    ctl: Arc<Control>,
}

impl Drop for SocketInner {
    fn drop(&mut self) {
        self.ctl.stop();
    }
}

impl Socket {
    /// `addr`: a path, or an abstract name (`SocketAddr::parse("@name")`). `perms` apply to a
    /// filesystem listener (created with the first server port).
    pub fn new(addr: SocketAddr, perms: Perms) -> Result<Socket> {
        addr.check()?;
        Ok(Socket {
            inner: Arc::new(SocketInner {
                ctl: Control::start(addr, perms)?,
            }),
        })
    }

    pub fn addr(&self) -> &SocketAddr {
        self.inner.ctl.addr()
    }

    fn ctl(&self) -> &Control {
        &self.inner.ctl
    }
}

/// A memif interface. Dropping it disconnects it.
pub struct Port {
    shared: Arc<PortShared>,
    socket: Socket,
}

impl Port {
    pub fn new(socket: &Socket, cfg: PortConfig) -> Result<Port> {
        cfg.validate()?;
        let shared = Arc::new(PortShared::new(cfg));
        socket.ctl().add_port(shared.clone())?;
        let _ = shared.ctl.set(Arc::downgrade(&socket.inner.ctl));
        Ok(Port {
            shared,
            socket: socket.clone(),
        })
    }

    pub fn config(&self) -> &PortConfig {
        &self.shared.cfg
    }

    pub fn shared(&self) -> &Arc<PortShared> {
        &self.shared
    }

    pub fn status(&self) -> Status {
        self.shared.status()
    }

    pub fn info(&self) -> PortInfo {
        self.shared.info()
    }

    pub fn wait_connected(&self, timeout: Option<Duration>) -> Result<()> {
        self.shared.wait_connected(timeout)
    }

    /// Called from the control thread on connect, disconnect and armed rx data. Keep it short,
    /// and do not drop the port from inside it.
    ///
    /// When it returns, a callback it replaced is no longer running (unless called from inside that
    /// callback), so a binding may free what the old callback used.
    pub fn set_callback(&self, cb: Option<Callback>) {
        *self
            .shared
            .callback
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = cb;
        if !self.socket.ctl().is_control_thread() {
            drop(
                self.shared
                    .in_callback
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
        }
    }

    /// Opens rx queue `qid`. It attaches to the connection by itself (and again after a reconnect).
    pub fn rx_queue(&self, qid: u16) -> Result<RxQueue> {
        RxQueue::open(self.shared.clone(), qid, true)
    }

    pub fn tx_queue(&self, qid: u16) -> Result<TxQueue> {
        TxQueue::open(self.shared.clone(), qid, true)
    }

    /// Opens a queue that attaches only when told (`attach`/`detach`): for bindings that hold
    /// views of the regions and must revoke them before a connection's memory goes away.
    pub fn rx_queue_manual(&self, qid: u16) -> Result<RxQueue> {
        RxQueue::open(self.shared.clone(), qid, false)
    }

    pub fn tx_queue_manual(&self, qid: u16) -> Result<TxQueue> {
        TxQueue::open(self.shared.clone(), qid, false)
    }

    /// Disconnects (telling the peer) and stops reconnecting. Queues get NOT_CONNECTED.
    pub fn close(&self) {
        self.socket.ctl().remove_port(&self.shared);
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.close();
        self.set_callback(None);
    }
}
