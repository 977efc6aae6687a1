//! The control thread's loop: polls the socket's listener, its links (one per handshake or
//! connection), a wake eventfd and the eventfds of armed rx queues; accepts and connects, feeds
//! each link's messages to its handshake (handshake.rs) and does what it answers, reconnects
//! clients, reports armed data, and tears links down. A peer that sends anything malformed or out
//! of order gets a DISCONNECT naming the problem; the other interfaces on the socket keep running.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::conn::{drain, Connection, Dir, Role};
use crate::handle::Armed;
use crate::handshake::{fail, name_str, silent, Fail, Handshake, Out};
use crate::registry::{Registry, Snapshot};
use crate::sock::{self, Recv, SocketAddr};
use crate::state::{Event, PortShared, Status};
use crate::wire::Msg;

/// Runs the control thread of `reg`'s socket until it is asked to stop.
pub(crate) fn run(reg: Arc<Registry>) {
    Worker::new(reg).run()
}

/// One control connection: a handshake under way, then the connection it made.
struct Link {
    fd: OwnedFd,
    hs: Handshake,
    /// The handshake must end by then (none once connected).
    deadline: Option<Instant>,
    /// The handshake's connection was published on the port.
    up: bool,
    /// The connection once up (for teardown and armed-queue cleanup).
    live: Option<Arc<Connection>>,
}

impl Link {
    fn new(fd: OwnedFd, hs: Handshake, deadline: Instant) -> Link {
        Link {
            fd,
            hs,
            deadline: Some(deadline),
            up: false,
            live: None,
        }
    }

    /// Does what the handshake answered, in order; a failed send ends the link (silently).
    fn apply(&mut self, outs: Vec<Out>) -> Result<(), Fail> {
        for out in outs {
            match out {
                Out::Send(msg, a) => {
                    sock::send(&self.fd, &msg, self.hs.attachment(a)).map_err(silent)?
                }
                Out::Connected(conn, peer_name) => {
                    let port = self.hs.port().expect("a finished handshake has its port");
                    self.up = true;
                    self.deadline = None;
                    port.set_connected(conn, peer_name, self.hs.peer());
                    self.live = port.current();
                }
            }
        }
        Ok(())
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

struct Worker {
    reg: Arc<Registry>,
    links: Vec<Link>,
    next_try: HashMap<*const PortShared, Instant>,
}

impl Worker {
    fn new(reg: Arc<Registry>) -> Worker {
        Worker {
            reg,
            links: Vec::new(),
            next_try: HashMap::new(),
        }
    }

    fn run(mut self) {
        loop {
            let Snapshot {
                ports,
                removed,
                listener,
                armed,
                stop,
            } = self.reg.snapshot();
            for (p, reason) in removed {
                self.close_port_links(&p, reason);
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
                self.reg.handle().wake_fd().as_fd(),
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
                drain(self.reg.handle().wake_fd());
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
                        let mut armed = self.reg.handle().armed();
                        let pos = armed
                            .iter()
                            .position(|a| Arc::ptr_eq(&a.conn, c) && a.qid == *q);
                        pos.map(|p| armed.swap_remove(p))
                    };
                    let ev = Event::RxReady { qid: *q as u16 };
                    match fired {
                        Some(Armed { cb: Some(cb), .. }) => {
                            self.reg.handle().run_armed_callback(&cb, ev)
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
            .any(|l| l.hs.port().is_some_and(|q| Arc::ptr_eq(q, p)))
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
            match sock::connect_to(self.reg.addr()) {
                Ok(fd) => {
                    p.set_status(Status::Connecting);
                    let deadline = now + p.config().handshake_timeout;
                    let peer = sock::peer_cred(&fd);
                    let hs = Handshake::client(p.clone(), peer);
                    self.links.push(Link::new(fd, hs, deadline));
                }
                Err(e) => {
                    p.set_unreachable(no_server_reason(self.reg.addr(), e));
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
        let hello = Handshake::hello(ports);
        loop {
            match sock::accept(listener) {
                Ok(Some(fd)) => {
                    if sock::send(&fd, &hello, None).is_ok() {
                        let deadline = Instant::now() + Duration::from_secs(5);
                        let peer = sock::peer_cred(&fd);
                        let hs = Handshake::server(peer);
                        self.links.push(Link::new(fd, hs, deadline));
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
                            let addr = self.reg.addr();
                            (link.hs.on_msg(msg, fd, ports, addr)).and_then(|outs| link.apply(outs))
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
        if let Some(p) = link.hs.port() {
            if link.up {
                p.set_disconnected(&f.reason, f.tell_peer);
            } else {
                p.set_rejected(&f.reason, link.hs.peer(), f.tell_peer);
            }
            if link.hs.role() == Role::Client {
                self.next_try
                    .insert(Arc::as_ptr(p), Instant::now() + p.config().reconnect);
            }
        }
        if let Some(live) = &link.live {
            // After set_disconnected marked the connection dead (ControlHandle::arm arms nothing on a
            // dead one): a queue armed with its own callback (a Worker's) hears of no port event,
            // so call it; it looks at its queue now and finds the connection gone.
            let gone: Vec<Armed> = {
                let mut armed = self.reg.handle().armed();
                let (gone, keep) = armed.drain(..).partition(|a| Arc::ptr_eq(&a.conn, live));
                *armed = keep;
                gone
            };
            for a in gone {
                if let Some(cb) = a.cb {
                    let ev = Event::RxReady { qid: a.qid as u16 };
                    self.reg.handle().run_armed_callback(&cb, ev);
                }
            }
        }
        // Dropping `link` closes the socket and, for a half-built connection, its fds and mappings.
    }

    fn close_port_links(&mut self, p: &Arc<PortShared>, reason: &str) {
        for k in (0..self.links.len()).rev() {
            if self.links[k].hs.port().is_some_and(|q| Arc::ptr_eq(q, p)) {
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
        self.reg.handle().armed().clear();
        self.reg.close_listener();
    }
}
