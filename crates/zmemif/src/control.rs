//! The control thread of one socket: accepts and connects, runs every handshake in lock-step
//! (one message answered by one message), reconnects clients, watches armed rx eventfds, and tears
//! connections down. A peer that sends anything malformed or out of order gets a DISCONNECT naming
//! the problem; the other interfaces on the socket keep running.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::conn::{drain, validate_ring, Connection, Dir, Params, RingInfo, Role};
use crate::creds::{self, PeerCred};
use crate::error::{Code, Error, Result};
use crate::handle::{Armed, ControlHandle};
use crate::region::Region;
use crate::sock::{self, Perms, Recv, SocketAddr};
use crate::state::{Event, PortShared, Status};
use crate::wire::{AddRing, Hello, Init, Msg, MAX_LOG2_RING, MAX_REGIONS, MAX_RINGS, VERSION};

const APP_NAME: &[u8] = b"zmemif";

#[derive(Default)]
struct Shared {
    ports: Vec<Arc<PortShared>>,
    removed: Vec<Arc<PortShared>>,
    listener: Option<Arc<OwnedFd>>,
    /// (device, inode) of the socket file we created, so we unlink only our own.
    listener_file: Option<(u64, u64)>,
    stop: bool,
}

pub(crate) struct Control {
    addr: SocketAddr,
    perms: Perms,
    shared: Mutex<Shared>,
    /// What queues may ask of this thread (wake it, arm an rx queue); they hold it weakly.
    handle: Arc<ControlHandle>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The unguarded-abstract-socket warning was printed (once per socket).
    warned: std::sync::atomic::AtomicBool,
}

impl Control {
    pub fn start(addr: SocketAddr, perms: Perms) -> Result<Arc<Control>> {
        let ctl = Arc::new(Control {
            addr,
            perms,
            shared: Mutex::new(Shared::default()),
            handle: Arc::new(ControlHandle::new()?),
            thread: Mutex::new(None),
            warned: std::sync::atomic::AtomicBool::new(false),
        });
        let c = ctl.clone();
        let h = std::thread::Builder::new()
            .name("zmemif-control".into())
            .spawn(move || Worker::new(c).run())
            .map_err(|e| Error::io("starting the control thread", e))?;
        ctl.handle.set_thread(h.thread().id());
        *ctl.thread.lock().unwrap() = Some(h);
        Ok(ctl)
    }

    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn wake(&self) {
        self.handle.wake();
    }

    /// For the socket's queues: a weak hold on what they may ask of this thread.
    pub(crate) fn handle(&self) -> std::sync::Weak<ControlHandle> {
        Arc::downgrade(&self.handle)
    }

    pub fn add_port(&self, p: Arc<PortShared>) -> Result<()> {
        let mut s = self.lock();
        if s.stop {
            return Err(Error::new(Code::Closed, "the socket is closed"));
        }
        if s.ports
            .iter()
            .any(|q| q.config().id == p.config().id && q.config().role == p.config().role)
        {
            return Err(Error::new(
                Code::IdInUse,
                format!(
                    "a {:?} interface with id {} already exists on {}: use another id",
                    p.config().role,
                    p.config().id,
                    self.addr
                ),
            ));
        }
        if p.config().role == Role::Server {
            let is_abstract = matches!(self.addr, SocketAddr::Abstract(_));
            if let Some(w) = creds::check_listener(&p.config().guard(), &self.addr, is_abstract)? {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    eprintln!("{w}");
                }
            }
        }
        if p.config().role == Role::Server && s.listener.is_none() {
            let fd = sock::listen_on(&self.addr, &self.perms)?;
            if let SocketAddr::Path(path) = &self.addr {
                s.listener_file = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
            }
            s.listener = Some(Arc::new(fd));
        }
        p.set_status(if p.config().role == Role::Client {
            Status::Connecting
        } else {
            Status::Disconnected
        });
        s.ports.push(p);
        drop(s);
        self.wake();
        Ok(())
    }

    /// Disconnects the port and waits until the control thread has done so.
    pub fn remove_port(&self, p: &Arc<PortShared>) {
        if !p.close() {
            return;
        }
        {
            let mut s = self.lock();
            s.ports.retain(|q| !Arc::ptr_eq(q, p));
            self.handle.armed().retain(|a| !Arc::ptr_eq(&a.port, p));
            if s.stop {
                drop(s);
                p.set_status(Status::Closed);
                return;
            }
            s.removed.push(p.clone());
        }
        self.wake();
        if self.is_control_thread() {
            return; // from inside a callback: the loop finishes it after the callback returns
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.status() != Status::Closed && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn is_control_thread(&self) -> bool {
        self.handle.is_control_thread()
    }

    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake();
        if let Some(h) = self.thread.lock().unwrap().take() {
            let _ = h.join();
        }
    }
}

/// Which fd a queued client message carries.
#[derive(Clone, Copy)]
enum Attach {
    None,
    Region(usize),
    Ring(Dir, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Client: connected, waiting for HELLO.
    Hello,
    /// Client: sent a message of the setup sequence, waiting for its ACK (or CONNECTED at the end).
    Setup,
    /// Server: sent HELLO, waiting for INIT.
    Init,
    /// Server: got INIT, receiving regions and rings until CONNECT.
    Build,
    Connected,
}

struct Link {
    fd: OwnedFd,
    role: Role,
    port: Option<Arc<PortShared>>,
    phase: Phase,
    deadline: Option<Instant>,
    /// Client: the connection being offered and the messages still to send.
    prepared: Option<Connection>,
    pending: VecDeque<(Msg, Attach)>,
    /// Server: what the client sent so far.
    regions: Vec<Region>,
    c2s: Vec<RingInfo>,
    s2c: Vec<RingInfo>,
    /// Server: rings offered beyond the interface's queue counts (c2s, s2c), refused at CONNECT
    /// with both counts.
    extra: [u16; 2],
    peer_app: String,
    /// Both: the connection once up (for teardown and armed-queue cleanup).
    live: Option<Arc<Connection>>,
    /// Both: the credentials of the process at the other end (`SO_PEERCRED`).
    peer: Option<PeerCred>,
}

impl Link {
    fn new(
        fd: OwnedFd,
        role: Role,
        port: Option<Arc<PortShared>>,
        phase: Phase,
        deadline: Instant,
    ) -> Link {
        let peer = sock::peer_cred(&fd);
        Link {
            fd,
            role,
            port,
            phase,
            deadline: Some(deadline),
            prepared: None,
            pending: VecDeque::new(),
            regions: Vec::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
            extra: [0, 0],
            peer_app: String::new(),
            live: None,
            peer,
        }
    }
}

/// Why a link ends.
struct Fail {
    reason: String,
    /// We tell the peer (a DISCONNECT with the reason) before closing.
    tell_peer: bool,
    /// What the DISCONNECT says, when it differs from `reason`.
    peer_reason: Option<String>,
}

fn fail(reason: impl Into<String>) -> Fail {
    Fail {
        reason: reason.into(),
        tell_peer: true,
        peer_reason: None,
    }
}

/// A failure the peer is not told about (it closed, or a send failed).
fn silent(reason: impl Into<String>) -> Fail {
    Fail {
        reason: reason.into(),
        tell_peer: false,
        peer_reason: None,
    }
}

/// Why connecting to `addr` failed, in words that say what to check.
fn no_server_reason(addr: &SocketAddr, e: nix::Error) -> String {
    let what = match (addr, e) {
        (SocketAddr::Path(p), nix::Error::ENOENT) => match p.parent() {
            Some(d) if !d.as_os_str().is_empty() && !d.exists() => {
                format!("no such directory {}", d.display())
            }
            _ => "no such file: no server has created the socket yet".to_string(),
        },
        (SocketAddr::Path(_), nix::Error::EACCES) => {
            "permission denied: the socket's owner, group and mode (or its directory's) \
             exclude this user"
                .to_string()
        }
        (SocketAddr::Path(_), nix::Error::ECONNREFUSED) => {
            "connection refused: the socket file exists but no server listens on it".to_string()
        }
        (SocketAddr::Abstract(_), nix::Error::ECONNREFUSED) => {
            "connection refused: no server listens on this abstract name".to_string()
        }
        (_, e) => e.desc().to_lowercase(),
    };
    format!("no server at {addr}: {what}")
}

fn name_str(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Worker {
    ctl: Arc<Control>,
    links: Vec<Link>,
    next_try: HashMap<*const PortShared, Instant>,
}

impl Worker {
    fn new(ctl: Arc<Control>) -> Worker {
        Worker {
            ctl,
            links: Vec::new(),
            next_try: HashMap::new(),
        }
    }

    fn run(mut self) {
        loop {
            let (ports, removed, listener, armed, stop) = {
                let mut s = self.ctl.lock();
                let armed: Vec<(Arc<Connection>, usize)> = (self.ctl.handle.armed().iter())
                    .map(|a| (a.conn.clone(), a.qid))
                    .collect();
                (
                    s.ports.clone(),
                    std::mem::take(&mut s.removed),
                    s.listener.clone(),
                    armed,
                    s.stop,
                )
            };
            for p in removed {
                self.close_port_links(&p, "Interface closed");
                self.next_try.remove(&Arc::as_ptr(&p));
                p.set_status(Status::Closed);
            }
            if stop {
                self.shutdown(&ports);
                return;
            }
            self.close_faulted();
            let now = Instant::now();
            self.connect_clients(&ports, now);
            self.expire_handshakes(now);

            // Poll: wake fd, listener, links, armed eventfds.
            let mut fds: Vec<PollFd> = Vec::with_capacity(2 + self.links.len() + armed.len());
            fds.push(PollFd::new(
                self.ctl.handle.wake_fd().as_fd(),
                PollFlags::POLLIN,
            ));
            let has_listener = listener.is_some();
            if let Some(l) = &listener {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            for l in &self.links {
                fds.push(PollFd::new(l.fd.as_fd(), PollFlags::POLLIN));
            }
            for (c, q) in &armed {
                fds.push(PollFd::new(
                    c.eventfd(Dir::rx_of(c.role), *q).as_fd(),
                    PollFlags::POLLIN,
                ));
            }
            let timeout = self.next_deadline(&ports, now);
            let ms = timeout.as_millis().min(1000) as u16;
            let n = poll(&mut fds, PollTimeout::from(ms));
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            if n.is_err() {
                continue; // EINTR
            }
            let nlinks = self.links.len(); // before accept_all adds more
            let mut i = 0;
            if ready[i] {
                drain(self.ctl.handle.wake_fd());
            }
            i += 1;
            if has_listener {
                if ready[i] {
                    self.accept_all(listener.as_ref().unwrap(), &ports);
                }
                i += 1;
            }
            let link_ready: Vec<bool> = ready[i..i + nlinks].to_vec();
            i += nlinks;
            let armed_ready: Vec<bool> = ready[i..].to_vec();
            // Links first (in reverse, so removing one keeps the others' indexes).
            for k in (0..nlinks).rev() {
                if link_ready[k] {
                    self.service(k, &ports);
                }
            }
            for (k, (c, q)) in armed.iter().enumerate() {
                if armed_ready[k] {
                    drain(c.eventfd(Dir::rx_of(c.role), *q));
                    let fired = {
                        let mut armed = self.ctl.handle.armed();
                        let pos = armed
                            .iter()
                            .position(|a| Arc::ptr_eq(&a.conn, c) && a.qid == *q);
                        pos.map(|p| armed.swap_remove(p))
                    };
                    let ev = Event::RxReady { qid: *q as u16 };
                    match fired {
                        Some(Armed { cb: Some(cb), .. }) => {
                            self.ctl.handle.run_armed_callback(&cb, ev)
                        }
                        Some(a) => a.port.emit(ev),
                        None => {}
                    }
                }
            }
        }
    }

    fn next_deadline(&self, ports: &[Arc<PortShared>], now: Instant) -> Duration {
        let mut t = now + Duration::from_secs(1);
        for l in &self.links {
            if let Some(d) = l.deadline {
                t = t.min(d);
            }
        }
        for p in ports {
            if p.config().role == Role::Client && !self.has_link(p) {
                if let Some(&d) = self.next_try.get(&Arc::as_ptr(p)) {
                    t = t.min(d);
                }
            }
        }
        t.saturating_duration_since(now) + Duration::from_millis(1)
    }

    fn has_link(&self, p: &Arc<PortShared>) -> bool {
        self.links
            .iter()
            .any(|l| l.port.as_ref().is_some_and(|q| Arc::ptr_eq(q, p)))
    }

    fn connect_clients(&mut self, ports: &[Arc<PortShared>], now: Instant) {
        for p in ports {
            if p.config().role != Role::Client || self.has_link(p) {
                continue;
            }
            let t = *self.next_try.entry(Arc::as_ptr(p)).or_insert(now);
            if now < t {
                continue;
            }
            match sock::connect_to(&self.ctl.addr) {
                Ok(fd) => {
                    p.set_status(Status::Connecting);
                    let deadline = now + p.config().handshake_timeout;
                    self.links.push(Link::new(
                        fd,
                        Role::Client,
                        Some(p.clone()),
                        Phase::Hello,
                        deadline,
                    ));
                }
                Err(e) => {
                    p.set_unreachable(no_server_reason(&self.ctl.addr, e));
                    self.next_try
                        .insert(Arc::as_ptr(p), now + p.config().reconnect);
                }
            }
        }
    }

    fn expire_handshakes(&mut self, now: Instant) {
        for k in (0..self.links.len()).rev() {
            if self.links[k].deadline.is_some_and(|d| now >= d) {
                self.close(k, fail("Handshake timed out"));
            }
        }
    }

    /// Ends the connections whose data path found the peer broken (`Connection::set_fault`),
    /// telling the peer why.
    fn close_faulted(&mut self) {
        for k in (0..self.links.len()).rev() {
            let reason = self.links[k]
                .live
                .as_ref()
                .and_then(|c| c.fault().map(str::to_owned));
            if let Some(r) = reason {
                self.close(k, fail(r));
            }
        }
    }

    fn accept_all(&mut self, listener: &OwnedFd, ports: &[Arc<PortShared>]) {
        // HELLO comes before INIT names the interface, so it can only carry the socket's limits:
        // the largest queue counts of its server interfaces. A client uses min(its own, these),
        // which is exact when the socket serves one interface (or all have the same counts).
        let most = |f: fn(&PortShared) -> u16| {
            ports
                .iter()
                .filter(|p| p.config().role == Role::Server)
                .map(|p| f(p))
                .max()
                .map_or(MAX_RINGS - 1, |n| n.saturating_sub(1))
        };
        let (max_c2s_ring, max_s2c_ring) =
            (most(|p| p.config().num_c2s), most(|p| p.config().num_s2c));
        loop {
            match sock::accept(listener) {
                Ok(Some(fd)) => {
                    let hello = Msg::Hello(Hello {
                        name: APP_NAME.to_vec(),
                        min_version: VERSION,
                        max_version: VERSION,
                        max_region: MAX_REGIONS,
                        max_s2c_ring,
                        max_c2s_ring,
                        max_log2_ring_size: MAX_LOG2_RING,
                    });
                    if sock::send(&fd, &hello, None).is_ok() {
                        let deadline = Instant::now() + Duration::from_secs(5);
                        self.links
                            .push(Link::new(fd, Role::Server, None, Phase::Init, deadline));
                    }
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Reads every message waiting on link `k`.
    fn service(&mut self, k: usize, ports: &[Arc<PortShared>]) {
        loop {
            match sock::recv(&self.links[k].fd) {
                Recv::WouldBlock => return,
                Recv::Closed(reason) => return self.close(k, silent(reason)),
                Recv::Msg(Err(reason), _) => return self.close(k, fail(reason)),
                Recv::Msg(Ok(bytes), fd) => {
                    let r = match Msg::decode(&bytes) {
                        Err(e) => Err(fail(e.to_string())),
                        Ok(Msg::Disconnect { reason, .. }) => Err(silent(name_str(&reason))),
                        Ok(msg) => {
                            let link = &mut self.links[k];
                            match link.role {
                                Role::Client => on_client_msg(link, msg, &self.ctl.addr),
                                Role::Server => on_server_msg(link, msg, fd, ports),
                            }
                        }
                    };
                    if let Err(f) = r {
                        return self.close(k, f);
                    }
                }
            }
        }
    }

    /// Ends link `k`: tells the peer if asked, updates its port, schedules a client's reconnect.
    fn close(&mut self, k: usize, f: Fail) {
        let link = self.links.swap_remove(k);
        if f.tell_peer {
            let _ = sock::send(
                &link.fd,
                &Msg::Disconnect {
                    code: 0,
                    reason: f
                        .peer_reason
                        .as_ref()
                        .unwrap_or(&f.reason)
                        .as_bytes()
                        .to_vec(),
                },
                None,
            );
        }
        if let Some(p) = &link.port {
            if link.phase == Phase::Connected {
                p.set_disconnected(&f.reason);
            } else {
                p.set_rejected(&f.reason, link.peer);
            }
            if link.role == Role::Client {
                self.next_try
                    .insert(Arc::as_ptr(p), Instant::now() + p.config().reconnect);
            }
        }
        if let Some(live) = &link.live {
            // After set_disconnected marked the connection dead (ControlHandle::arm arms nothing on a
            // dead one): a queue armed with its own callback (a Worker's) hears of no port event,
            // so call it; it looks at its queue now and finds the connection gone.
            let gone: Vec<Armed> = {
                let mut armed = self.ctl.handle.armed();
                let (gone, keep) = armed.drain(..).partition(|a| Arc::ptr_eq(&a.conn, live));
                *armed = keep;
                gone
            };
            for a in gone {
                if let Some(cb) = a.cb {
                    let ev = Event::RxReady { qid: a.qid as u16 };
                    self.ctl.handle.run_armed_callback(&cb, ev);
                }
            }
        }
        // Dropping `link` closes the socket and, for a half-built connection, its fds and mappings.
    }

    fn close_port_links(&mut self, p: &Arc<PortShared>, reason: &str) {
        for k in (0..self.links.len()).rev() {
            if self.links[k]
                .port
                .as_ref()
                .is_some_and(|q| Arc::ptr_eq(q, p))
            {
                self.close(k, fail(reason));
            }
        }
    }

    fn shutdown(&mut self, ports: &[Arc<PortShared>]) {
        for k in (0..self.links.len()).rev() {
            self.close(k, fail("Socket closed"));
        }
        for p in ports {
            p.set_status(Status::Closed);
        }
        self.ctl.handle.armed().clear();
        let mut s = self.ctl.lock();
        if s.listener.take().is_some() {
            if let (SocketAddr::Path(path), Some(id)) = (&self.ctl.addr, s.listener_file) {
                // Remove the file only if it is still ours (not a newer server's).
                if std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == id) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

/// Client side of the handshake.
fn on_client_msg(link: &mut Link, msg: Msg, addr: &SocketAddr) -> std::result::Result<(), Fail> {
    let port = link.port.clone().expect("a client link has its port");
    match (link.phase, msg) {
        (Phase::Hello, Msg::Hello(h)) => {
            // Before the secret or any memory goes out: is this the server we expect?
            if let Err((ours, theirs)) =
                creds::check_server(port.config().expect_server_uid, addr, link.peer)
            {
                return Err(Fail {
                    reason: ours,
                    tell_peer: true,
                    peer_reason: Some(theirs),
                });
            }
            if h.min_version > VERSION || h.max_version < VERSION {
                return Err(fail("Incompatible memif version"));
            }
            let cfg = port.config();
            let p = Params {
                num_c2s: cfg.num_c2s.min(h.max_c2s_ring.saturating_add(1)),
                num_s2c: cfg.num_s2c.min(h.max_s2c_ring.saturating_add(1)),
                log2: cfg.log2_ring_size().min(h.max_log2_ring_size),
                buffer_size: cfg.buffer_size,
            };
            if p.log2 == 0 {
                return Err(fail("Server allows no ring size"));
            }
            let conn = Connection::create_client(p, 0, &cfg.name)
                .map_err(|e| fail(format!("Failed to alloc memif region: {}", e.message)))?;
            if conn.regions.len() > h.max_region as usize + 1 {
                return Err(fail(format!(
                    "Server accepts {} regions, {} needed",
                    h.max_region as usize + 1,
                    conn.regions.len()
                )));
            }
            link.peer_app = name_str(&h.name);
            let q = &mut link.pending;
            q.push_back((
                Msg::Init(Init {
                    version: VERSION,
                    id: cfg.id,
                    mode: cfg.mode as u8,
                    secret: cfg.secret.clone().unwrap_or_default(),
                    name: APP_NAME.to_vec(),
                }),
                Attach::None,
            ));
            for (i, r) in conn.regions.iter().enumerate() {
                q.push_back((
                    Msg::AddRegion {
                        index: i as u16,
                        size: r.len() as u64,
                    },
                    Attach::Region(i),
                ));
            }
            for dir in [Dir::C2S, Dir::S2C] {
                for (i, r) in conn.rings(dir).iter().enumerate() {
                    q.push_back((
                        Msg::AddRing(AddRing {
                            c2s: dir == Dir::C2S,
                            index: i as u16,
                            region: r.region,
                            offset: r.offset,
                            log2_size: r.log2,
                            private_hdr_size: 0,
                        }),
                        Attach::Ring(dir, i),
                    ));
                }
            }
            q.push_back((
                Msg::Connect {
                    name: cfg.name.as_bytes().to_vec(),
                },
                Attach::None,
            ));
            link.prepared = Some(conn);
            link.phase = Phase::Setup;
            send_next(link)
        }
        (Phase::Setup, Msg::Ack) if !link.pending.is_empty() => send_next(link),
        (Phase::Setup, Msg::Connected { name }) if link.pending.is_empty() => {
            let conn = link.prepared.take().expect("prepared before CONNECT");
            for i in 0..conn.s2c.len() {
                // Offer every S2C buffer now: the server resets the rings when it handles CONNECT,
                // which is before this message.
                let ring = conn.ring(Dir::S2C, i);
                ring.publish_head(ring.size());
            }
            link.phase = Phase::Connected;
            link.deadline = None;
            let peer = name_str(&name);
            port.set_connected(conn, peer, link.peer);
            link.live = port.current();
            Ok(())
        }
        (_, m) => Err(fail(format!("Unexpected message {}", m.type_name()))),
    }
}

fn send_next(link: &mut Link) -> std::result::Result<(), Fail> {
    let (msg, attach) = link.pending.pop_front().expect("checked by the caller");
    let conn = link.prepared.as_ref().expect("prepared");
    let fd = match attach {
        Attach::None => None,
        Attach::Region(i) => Some(conn.regions[i].fd().as_fd()),
        Attach::Ring(d, i) => Some(conn.eventfd(d, i).as_fd()),
    };
    sock::send(&link.fd, &msg, fd).map_err(silent)
}

/// Server side of the handshake.
fn on_server_msg(
    link: &mut Link,
    msg: Msg,
    fd: Option<OwnedFd>,
    ports: &[Arc<PortShared>],
) -> std::result::Result<(), Fail> {
    match (link.phase, msg) {
        (Phase::Init, Msg::Init(init)) => {
            if init.version != VERSION {
                return Err(fail("Incompatible memif version"));
            }
            let Some(port) = ports
                .iter()
                .find(|p| p.config().role == Role::Server && p.config().id == init.id)
            else {
                return Err(fail("ID not found"));
            };
            let refusal = if let Err(r) = creds::check_client(&port.config().guard(), link.peer) {
                Some(r)
            } else if init.mode != port.config().mode as u8 {
                Some("Mode mismatch".to_string())
            } else {
                match &port.config().secret {
                    Some(_) if init.secret.is_empty() => Some("Secret required".to_string()),
                    Some(s) if &init.secret != s => Some("Incorrect secret".to_string()),
                    _ => None,
                }
            };
            port.begin_handshake(refusal, link.peer).map_err(fail)?;
            link.port = Some(port.clone());
            link.peer_app = name_str(&init.name);
            link.phase = Phase::Build;
            ack(link)
        }
        (Phase::Build, Msg::AddRegion { index, size }) => {
            let fd = fd.ok_or_else(|| fail("Missing region fd"))?;
            if index as usize != link.regions.len() || index > MAX_REGIONS {
                return Err(fail("Invalid region index"));
            }
            let region = Region::from_peer(fd, size).map_err(fail)?;
            link.regions.push(region);
            ack(link)
        }
        (Phase::Build, Msg::AddRing(r)) => {
            let fd = fd.ok_or_else(|| fail("Missing interrupt fd"))?;
            validate_ring(&r, &link.regions).map_err(fail)?;
            let port = link.port.as_ref().expect("bound at INIT");
            let (list, max, extra) = if r.c2s {
                (&mut link.c2s, port.config().num_c2s, &mut link.extra[0])
            } else {
                (&mut link.s2c, port.config().num_s2c, &mut link.extra[1])
            };
            if r.index as usize != list.len() + *extra as usize {
                return Err(fail(format!("Invalid ring index {}", r.index)));
            }
            if r.index >= max {
                // More queues than this interface has (a client that ignored HELLO's limits, or
                // one sized for another interface on this socket): count them, so the refusal at
                // CONNECT can name both counts.
                *extra += 1;
                return ack(link);
            }
            list.push(RingInfo {
                region: r.region,
                offset: r.offset,
                log2: r.log2_size,
                eventfd: fd,
                buffers: None,
            });
            ack(link)
        }
        (Phase::Build, Msg::Connect { name }) => {
            let port = link.port.clone().expect("bound at INIT");
            if link.extra != [0, 0] {
                let (c, s) = (link.c2s.len(), link.s2c.len());
                let (ec, es) = (link.extra[0] as usize, link.extra[1] as usize);
                return Err(fail(format!(
                    "Too many queues: client {}+{}, interface {} has {c}+{s} (c2s+s2c)",
                    c + ec,
                    s + es,
                    port.config().id
                )));
            }
            let conn = Connection::from_peer(
                std::mem::take(&mut link.regions),
                std::mem::take(&mut link.c2s),
                std::mem::take(&mut link.s2c),
                0,
                name_str(&name),
            )
            .map_err(fail)?;
            let reply = Msg::Connected {
                name: port.config().name.as_bytes().to_vec(),
            };
            sock::send(&link.fd, &reply, None).map_err(silent)?;
            link.phase = Phase::Connected;
            link.deadline = None;
            port.set_connected(conn, name_str(&name), link.peer);
            link.live = port.current();
            Ok(())
        }
        (_, m) => Err(fail(format!("Unexpected message {}", m.type_name()))),
    }
}

fn ack(link: &Link) -> std::result::Result<(), Fail> {
    sock::send(&link.fd, &Msg::Ack, None).map_err(silent)
}

/// Test hooks for `crates/zmemif/fuzz` (feature `fuzzing`, off in every normal build): one
/// handshake, either role, driven message by message without a control thread. Replies go to the
/// other end of a socket pair and are discarded; the handshake code itself is the production one.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;
    use crate::config::PortConfig;
    use crate::conn::new_eventfd;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    /// What a fed message carries besides its 128 bytes.
    pub enum Attach {
        None,
        /// A memfd of `size` bytes (at least `content.len()`) starting with `content`.
        Memfd {
            size: u32,
            content: Vec<u8>,
        },
        Eventfd,
    }

    pub struct Handshake {
        link: Option<Link>,
        ports: Vec<Arc<PortShared>>,
        peer: OwnedFd,
        addr: SocketAddr,
    }

    impl Handshake {
        /// A client port's link, waiting for HELLO.
        pub fn client(mut cfg: PortConfig) -> Handshake {
            cfg.role = Role::Client;
            Handshake::new(cfg, Phase::Hello)
        }

        /// A server port's accepted link (HELLO already sent), waiting for INIT.
        pub fn server(mut cfg: PortConfig) -> Handshake {
            cfg.role = Role::Server;
            Handshake::new(cfg, Phase::Init)
        }

        fn new(cfg: PortConfig, phase: Phase) -> Handshake {
            let role = cfg.role;
            let port = Arc::new(PortShared::new(cfg));
            let (ours, peer) = socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            )
            .expect("socketpair");
            let bound = (role == Role::Client).then(|| port.clone());
            let deadline = Instant::now() + Duration::from_secs(3600);
            Handshake {
                link: Some(Link::new(ours, role, bound, phase, deadline)),
                ports: vec![port],
                peer,
                addr: SocketAddr::Path("/nonexistent/zmemif-fuzz.sock".into()),
            }
        }

        /// Feeds one message as the control thread would; `Err` carries the reason the link
        /// ended with (after which nothing more is read).
        pub fn feed(&mut self, bytes: &[u8], attach: Attach) -> std::result::Result<(), String> {
            let Some(link) = self.link.as_mut() else {
                return Err("ended".into());
            };
            let fd = match attach {
                Attach::None => None,
                Attach::Eventfd => Some(new_eventfd().expect("eventfd")),
                Attach::Memfd { size, content } => {
                    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
                    use std::io::Write;
                    let fd = memfd_create(
                        c"zmemif-fuzz",
                        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
                    )
                    .expect("memfd_create");
                    let mut f = std::fs::File::from(fd);
                    f.write_all(&content).expect("memfd write");
                    f.set_len((size as u64).max(content.len() as u64))
                        .expect("memfd size");
                    Some(OwnedFd::from(f))
                }
            };
            let r = match Msg::decode(bytes) {
                Err(e) => Err(fail(e.to_string())),
                Ok(Msg::Disconnect { reason, .. }) => Err(silent(name_str(&reason))),
                Ok(msg) => match link.role {
                    Role::Client => on_client_msg(link, msg, &self.addr),
                    Role::Server => on_server_msg(link, msg, fd, &self.ports),
                },
            };
            // Discard what we answered (ACKs, fds), so the socket never fills.
            while let Recv::Msg(..) = sock::recv(&self.peer) {}
            r.map_err(|f| {
                self.end(&f.reason);
                f.reason
            })
        }

        pub fn connected(&self) -> bool {
            self.ports[0].status() == Status::Connected
        }

        /// As `Worker::close`, without a socket to tell.
        fn end(&mut self, reason: &str) {
            if let Some(link) = self.link.take() {
                if let Some(p) = &link.port {
                    if link.phase == Phase::Connected {
                        p.set_disconnected(reason);
                    } else {
                        p.set_rejected(reason, link.peer);
                    }
                }
            }
        }
    }

    impl Drop for Handshake {
        fn drop(&mut self) {
            self.end("done");
        }
    }
}
