//! The memif handshake as a state machine, both roles: one message (and the fd it carried) in,
//! the messages to send and at most one new connection out. It never touches a socket: the
//! control thread (control.rs) reads and sends, and publishes the connection on the port. What it
//! does touch is memory: a client creates its regions, a server maps the client's, and a server
//! claims the port its client's INIT names (`PortShared::begin_handshake`).
//!
//! Lock-step, as DPDK and libmemif run it: the server sends HELLO on accept; the client answers
//! with INIT, then one ADD_REGION per region, one ADD_RING per ring and CONNECT, each after the
//! ACK of the one before; the server answers CONNECT with CONNECTED. Anything malformed or out of
//! order ends the handshake with a reason (a `Fail`), which the peer is told in a DISCONNECT.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use crate::conn::{validate_ring, Connection, Dir, Params, RingInfo, Role};
use crate::creds::{self, PeerCred};
use crate::region::Region;
use crate::sock::SocketAddr;
use crate::state::PortShared;
use crate::wire::{AddRing, Hello, Init, Msg, MAX_LOG2_RING, MAX_REGIONS, MAX_RINGS, VERSION};

/// The application name both roles announce (HELLO, INIT).
const APP_NAME: &[u8] = b"zmemif";

/// Which fd a message to send carries (see `Handshake::attachment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attach {
    None,
    Region(usize),
    Ring(Dir, usize),
}

/// What the control thread does after a message, in order.
pub(crate) enum Out {
    /// Send this message, with the fd `Handshake::attachment` gives for it.
    Send(Msg, Attach),
    /// The handshake is done: publish this connection (and the peer's interface name) on the port.
    Connected(Connection, String),
}

/// Why a handshake (or a link) ends.
#[derive(Debug)]
pub(crate) struct Fail {
    pub reason: String,
    /// We tell the peer (a DISCONNECT with the reason) before closing.
    pub tell_peer: bool,
    /// What the DISCONNECT says, when it differs from `reason`.
    pub peer_reason: Option<String>,
}

pub(crate) fn fail(reason: impl Into<String>) -> Fail {
    Fail {
        reason: reason.into(),
        tell_peer: true,
        peer_reason: None,
    }
}

/// A failure the peer is not told about (it closed, or a send failed).
pub(crate) fn silent(reason: impl Into<String>) -> Fail {
    Fail {
        reason: reason.into(),
        tell_peer: false,
        peer_reason: None,
    }
}

pub(crate) fn name_str(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

/// One handshake, either role.
pub(crate) struct Handshake {
    role: Role,
    phase: Phase,
    /// The port: a client's from the start, a server's once INIT names it.
    port: Option<Arc<PortShared>>,
    /// The credentials of the process at the other end (`SO_PEERCRED`).
    peer: Option<PeerCred>,
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
}

impl Handshake {
    /// A client port's handshake, waiting for the server's HELLO.
    pub fn client(port: Arc<PortShared>, peer: Option<PeerCred>) -> Handshake {
        Handshake::new(Role::Client, Some(port), Phase::Hello, peer)
    }

    /// A server's handshake on an accepted connection (after `hello`), waiting for INIT.
    pub fn server(peer: Option<PeerCred>) -> Handshake {
        Handshake::new(Role::Server, None, Phase::Init, peer)
    }

    fn new(
        role: Role,
        port: Option<Arc<PortShared>>,
        phase: Phase,
        peer: Option<PeerCred>,
    ) -> Handshake {
        Handshake {
            role,
            phase,
            port,
            peer,
            prepared: None,
            pending: VecDeque::new(),
            regions: Vec::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
            extra: [0, 0],
            peer_app: String::new(),
        }
    }

    /// The HELLO a server sends on accept. It comes before INIT names the interface, so it can
    /// only carry the socket's limits: the largest queue counts of its server interfaces. A client
    /// uses min(its own, these), which is exact when the socket serves one interface (or all have
    /// the same counts).
    pub fn hello(ports: &[Arc<PortShared>]) -> Msg {
        let most = |f: fn(&PortShared) -> u16| {
            ports
                .iter()
                .filter(|p| p.config().role == Role::Server)
                .map(|p| f(p))
                .max()
                .map_or(MAX_RINGS - 1, |n| n.saturating_sub(1))
        };
        Msg::Hello(Hello {
            name: APP_NAME.to_vec(),
            min_version: VERSION,
            max_version: VERSION,
            max_region: MAX_REGIONS,
            max_s2c_ring: most(|p| p.config().num_s2c),
            max_c2s_ring: most(|p| p.config().num_c2s),
            max_log2_ring_size: MAX_LOG2_RING,
        })
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The port this handshake is for (a server's: once INIT named it).
    pub fn port(&self) -> Option<&Arc<PortShared>> {
        self.port.as_ref()
    }

    pub fn peer(&self) -> Option<PeerCred> {
        self.peer
    }

    /// The fd a message from `Out::Send` carries (valid until the next `on_msg`).
    pub fn attachment(&self, a: Attach) -> Option<BorrowedFd<'_>> {
        let conn = self.prepared.as_ref()?;
        match a {
            Attach::None => None,
            Attach::Region(i) => Some(conn.regions[i].fd().as_fd()),
            Attach::Ring(d, i) => Some(conn.eventfd(d, i).as_fd()),
        }
    }

    /// One message from the peer (a DISCONNECT is the caller's: it ends the link). A server
    /// looks up the port INIT names in `ports`; a client names `addr` in a refusal.
    pub fn on_msg(
        &mut self,
        msg: Msg,
        fd: Option<OwnedFd>,
        ports: &[Arc<PortShared>],
        addr: &SocketAddr,
    ) -> Result<Vec<Out>, Fail> {
        match self.role {
            Role::Client => self.on_client_msg(msg, addr),
            Role::Server => self.on_server_msg(msg, fd, ports),
        }
    }

    fn on_client_msg(&mut self, msg: Msg, addr: &SocketAddr) -> Result<Vec<Out>, Fail> {
        let port = self.port.clone().expect("a client handshake has its port");
        match (self.phase, msg) {
            (Phase::Hello, Msg::Hello(h)) => {
                let cfg = port.config();
                // Before the secret or any memory goes out: is this the server we expect?
                if let Err((ours, theirs)) =
                    creds::check_server(cfg.expect_server_uid, addr, self.peer)
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
                self.peer_app = name_str(&h.name);
                let q = &mut self.pending;
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
                self.prepared = Some(conn);
                self.phase = Phase::Setup;
                Ok(self.send_next())
            }
            (Phase::Setup, Msg::Ack) if !self.pending.is_empty() => Ok(self.send_next()),
            (Phase::Setup, Msg::Connected { name }) if self.pending.is_empty() => {
                let conn = self.prepared.take().expect("prepared before CONNECT");
                for i in 0..conn.s2c.len() {
                    // Offer every S2C buffer now: the server resets the rings when it handles
                    // CONNECT, which is before this message.
                    let ring = conn.ring(Dir::S2C, i);
                    ring.publish_head(ring.size());
                }
                self.phase = Phase::Connected;
                Ok(vec![Out::Connected(conn, name_str(&name))])
            }
            (_, m) => Err(fail(format!("Unexpected message {}", m.type_name()))),
        }
    }

    fn send_next(&mut self) -> Vec<Out> {
        let (msg, attach) = self.pending.pop_front().expect("checked by the caller");
        vec![Out::Send(msg, attach)]
    }

    fn on_server_msg(
        &mut self,
        msg: Msg,
        fd: Option<OwnedFd>,
        ports: &[Arc<PortShared>],
    ) -> Result<Vec<Out>, Fail> {
        let ack = || Ok(vec![Out::Send(Msg::Ack, Attach::None)]);
        match (self.phase, msg) {
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
                let cfg = port.config();
                let refusal = if let Err(r) = creds::check_client(&cfg.guard(), self.peer) {
                    Some(r)
                } else if init.mode != cfg.mode as u8 {
                    Some("Mode mismatch".to_string())
                } else {
                    match &cfg.secret {
                        Some(_) if init.secret.is_empty() => Some("Secret required".to_string()),
                        Some(s) if &init.secret != s => Some("Incorrect secret".to_string()),
                        _ => None,
                    }
                };
                port.begin_handshake(refusal, self.peer).map_err(fail)?;
                self.port = Some(port.clone());
                self.peer_app = name_str(&init.name);
                self.phase = Phase::Build;
                ack()
            }
            (Phase::Build, Msg::AddRegion { index, size }) => {
                let fd = fd.ok_or_else(|| fail("Missing region fd"))?;
                if index as usize != self.regions.len() || index > MAX_REGIONS {
                    return Err(fail("Invalid region index"));
                }
                let region = Region::from_peer(fd, size).map_err(fail)?;
                self.regions.push(region);
                ack()
            }
            (Phase::Build, Msg::AddRing(r)) => {
                let fd = fd.ok_or_else(|| fail("Missing interrupt fd"))?;
                validate_ring(&r, &self.regions).map_err(fail)?;
                let cfg = self.port.as_ref().expect("bound at INIT").config();
                let (list, max, extra) = if r.c2s {
                    (&mut self.c2s, cfg.num_c2s, &mut self.extra[0])
                } else {
                    (&mut self.s2c, cfg.num_s2c, &mut self.extra[1])
                };
                if r.index as usize != list.len() + *extra as usize {
                    return Err(fail(format!("Invalid ring index {}", r.index)));
                }
                if r.index >= max {
                    // More queues than this interface has (a client that ignored HELLO's limits,
                    // or one sized for another interface on this socket): count them, so the
                    // refusal at CONNECT can name both counts.
                    *extra += 1;
                    return ack();
                }
                list.push(RingInfo {
                    region: r.region,
                    offset: r.offset,
                    log2: r.log2_size,
                    eventfd: fd,
                    buffers: None,
                });
                ack()
            }
            (Phase::Build, Msg::Connect { name }) => {
                let cfg = self.port.as_ref().expect("bound at INIT").config();
                if self.extra != [0, 0] {
                    let (c, s) = (self.c2s.len(), self.s2c.len());
                    let (ec, es) = (self.extra[0] as usize, self.extra[1] as usize);
                    return Err(fail(format!(
                        "Too many queues: client {}+{}, interface {} has {c}+{s} (c2s+s2c)",
                        c + ec,
                        s + es,
                        cfg.id
                    )));
                }
                let conn = Connection::from_peer(
                    std::mem::take(&mut self.regions),
                    std::mem::take(&mut self.c2s),
                    std::mem::take(&mut self.s2c),
                    0,
                    name_str(&name),
                )
                .map_err(fail)?;
                let reply = Msg::Connected {
                    name: cfg.name.as_bytes().to_vec(),
                };
                self.phase = Phase::Connected;
                Ok(vec![
                    Out::Send(reply, Attach::None),
                    Out::Connected(conn, name_str(&name)),
                ])
            }
            (_, m) => Err(fail(format!("Unexpected message {}", m.type_name()))),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Both roles against each other in memory: what one sends is fed to the other (an fd is
    //! duplicated, as SCM_RIGHTS would), and a failure is handled as `Worker::close` does: the
    //! failing side's port records it, and the peer, told in a DISCONNECT, records that.
    use super::*;
    use crate::config::PortConfig;
    use crate::state::Status;
    use crate::wire::Mode;

    const ME: PeerCred = PeerCred {
        pid: 4242,
        uid: 1000,
        gid: 1000,
    };

    fn cfg(role: Role, id: u32, queues: u16) -> PortConfig {
        PortConfig {
            id,
            role,
            num_c2s: queues,
            num_s2c: queues,
            ring_size: 16,
            buffer_size: 64,
            ..PortConfig::default()
        }
    }

    fn port(cfg: PortConfig) -> Arc<PortShared> {
        Arc::new(PortShared::new(cfg))
    }

    fn addr() -> SocketAddr {
        SocketAddr::Abstract(b"zmemif-handshake-test".to_vec())
    }

    #[derive(Debug, PartialEq)]
    enum End {
        Connected,
        /// The client refused, with this reason.
        ByClient(String),
        /// The server refused, with this reason.
        ByServer(String),
    }

    /// As `Worker::close` for the side whose handshake failed, and for its peer when told.
    fn close(hs: &Handshake, up: bool, f: &Fail, other: &Handshake, other_up: bool) {
        if let Some(p) = hs.port() {
            if up {
                p.set_disconnected(&f.reason, f.tell_peer);
            } else {
                p.set_rejected(&f.reason, hs.peer(), f.tell_peer);
            }
        }
        if f.tell_peer {
            let told = f.peer_reason.as_ref().unwrap_or(&f.reason);
            if let Some(p) = other.port() {
                if other_up {
                    p.set_disconnected(told, false);
                } else {
                    p.set_rejected(told, other.peer(), false);
                }
            }
        }
    }

    /// A client port's handshake against a server on the socket serving `ports`. `client_sees`
    /// and `server_sees` are the credentials each reads of the other (`SO_PEERCRED`).
    fn run(
        client: &Arc<PortShared>,
        ports: &[Arc<PortShared>],
        client_sees: Option<PeerCred>,
        server_sees: Option<PeerCred>,
    ) -> End {
        let mut c = Handshake::client(client.clone(), client_sees);
        let mut s = Handshake::server(server_sees);
        let (mut c_up, mut s_up) = (false, false);
        let mut to_client = VecDeque::from([Handshake::hello(ports)]);
        while let Some(msg) = to_client.pop_front() {
            let outs = match c.on_msg(msg, None, ports, &addr()) {
                Ok(outs) => outs,
                Err(f) => {
                    close(&c, c_up, &f, &s, s_up);
                    return End::ByClient(f.reason);
                }
            };
            for out in outs {
                match out {
                    Out::Connected(conn, name) => {
                        client.set_connected(conn, name, c.peer());
                        c_up = true;
                    }
                    Out::Send(msg, a) => {
                        let fd = c.attachment(a).map(|f| f.try_clone_to_owned().unwrap());
                        assert_eq!(fd.is_some(), a != Attach::None, "{}", msg.type_name());
                        let outs = match s.on_msg(msg, fd, ports, &addr()) {
                            Ok(outs) => outs,
                            Err(f) => {
                                close(&s, s_up, &f, &c, c_up);
                                return End::ByServer(f.reason);
                            }
                        };
                        for out in outs {
                            match out {
                                Out::Send(m, a) => {
                                    assert_eq!(a, Attach::None);
                                    to_client.push_back(m);
                                }
                                Out::Connected(conn, name) => {
                                    let p = s.port().unwrap();
                                    p.set_connected(conn, name, s.peer());
                                    s_up = true;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            c_up && s_up,
            "the exchange ended without a connection or a reason"
        );
        End::Connected
    }

    #[test]
    fn connects_both_roles() {
        let client = port(PortConfig {
            name: "cli".into(),
            ..cfg(Role::Client, 3, 2)
        });
        let server = port(PortConfig {
            name: "srv".into(),
            ..cfg(Role::Server, 3, 2)
        });
        let end = run(&client, std::slice::from_ref(&server), Some(ME), Some(ME));
        assert_eq!(end, End::Connected);
        for (p, peer_name) in [(&client, "srv"), (&server, "cli")] {
            let i = p.info();
            assert_eq!(i.status, Status::Connected as u32);
            assert_eq!((i.num_c2s, i.num_s2c, i.log2_ring_size), (2, 2, 4));
            assert_eq!((i.num_regions, i.buffer_size), (1, 64));
            assert_eq!((i.connects, i.rejects), (1, 0));
            assert_eq!(i.peer_name, peer_name);
            assert_eq!(i.peer, Some(ME));
        }
    }

    #[test]
    fn client_takes_the_sockets_limits() {
        // HELLO carries the largest counts of the socket's server interfaces; a client asking for
        // more gets those, and a smaller ring than it asked when the server allows no more.
        let client = port(cfg(Role::Client, 1, 8));
        let server = port(cfg(Role::Server, 1, 3));
        assert_eq!(run(&client, &[server], None, None), End::Connected);
        let i = client.info();
        assert_eq!((i.num_c2s, i.num_s2c), (3, 3));
    }

    /// The refusals the integration tests see through sockets and processes (two_process.rs,
    /// hostile_peer.rs, creds.rs, max_queues.rs), here without either.
    #[test]
    fn server_refusals() {
        let secret = |s: &str| Some(s.as_bytes().to_vec());
        let cases: Vec<(PortConfig, PortConfig, &str)> = vec![
            (
                cfg(Role::Client, 7, 1),
                PortConfig {
                    secret: secret("s3cret"),
                    ..cfg(Role::Server, 7, 1)
                },
                "Secret required",
            ),
            (
                PortConfig {
                    secret: secret("wrong"),
                    ..cfg(Role::Client, 7, 1)
                },
                PortConfig {
                    secret: secret("s3cret"),
                    ..cfg(Role::Server, 7, 1)
                },
                "Incorrect secret",
            ),
            (
                PortConfig {
                    mode: Mode::Ip,
                    ..cfg(Role::Client, 7, 1)
                },
                cfg(Role::Server, 7, 1),
                "Mode mismatch",
            ),
            (
                cfg(Role::Client, 7, 1),
                PortConfig {
                    allow_uids: vec![0, 1001],
                    ..cfg(Role::Server, 7, 1)
                },
                "uid 1000 not allowed (allowed: 0, 1001)",
            ),
            (
                cfg(Role::Client, 7, 1),
                PortConfig {
                    allow_gids: vec![27],
                    ..cfg(Role::Server, 7, 1)
                },
                "uid 1000 gid 1000 not allowed (allowed gids: 27)",
            ),
        ];
        for (c, s, reason) in cases {
            let (client, server) = (port(c), port(s));
            let end = run(&client, std::slice::from_ref(&server), Some(ME), Some(ME));
            assert_eq!(end, End::ByServer(reason.into()));
            // Both ports count the refusal and give its reason; the server names the client.
            for p in [&client, &server] {
                let i = p.info();
                assert_eq!((i.rejects, i.connects), (1, 0), "{reason}");
                assert_eq!(i.reason, reason);
                assert_eq!(i.status, Status::Disconnected as u32, "{reason}");
            }
            assert_eq!(server.info().rejected_peer, Some(ME));
        }
    }

    #[test]
    fn server_refuses_credentials_it_cannot_read() {
        let client = port(cfg(Role::Client, 7, 1));
        let server = port(PortConfig {
            allow_uids: vec![1000],
            ..cfg(Role::Server, 7, 1)
        });
        let end = run(&client, std::slice::from_ref(&server), Some(ME), None);
        let reason = "peer credentials unavailable: refused by the allow-list";
        assert_eq!(end, End::ByServer(reason.into()));
        assert_eq!(server.info().rejects, 1);
        // Readable and listed: allowed.
        let client = port(cfg(Role::Client, 7, 1));
        let server = port(PortConfig {
            allow_uids: vec![1000],
            ..cfg(Role::Server, 7, 1)
        });
        assert_eq!(run(&client, &[server], None, Some(ME)), End::Connected);
    }

    #[test]
    fn unknown_id_is_refused_without_a_port() {
        let client = port(cfg(Role::Client, 8, 1));
        let server = port(cfg(Role::Server, 7, 1));
        let end = run(&client, std::slice::from_ref(&server), None, None);
        assert_eq!(end, End::ByServer("ID not found".into()));
        assert_eq!(client.info().reason, "ID not found");
        assert_eq!(client.info().rejects, 1);
        // No server port was named: none counts it.
        assert_eq!(server.info().rejects, 0);
    }

    #[test]
    fn too_many_queues() {
        // A socket with a 1-queue and a 4-queue interface says 4 in HELLO; a 4-queue client of
        // the 1-queue interface is refused at CONNECT with both counts.
        let client = port(cfg(Role::Client, 1, 4));
        let small = port(cfg(Role::Server, 1, 1));
        let big = port(cfg(Role::Server, 2, 4));
        let end = run(&client, &[small.clone(), big.clone()], None, None);
        let reason = "Too many queues: client 4+4, interface 1 has 1+1 (c2s+s2c)";
        assert_eq!(end, End::ByServer(reason.into()));
        assert_eq!(small.info().reason, reason);
        assert_eq!(small.info().rejects, 1);
        assert_eq!(big.info().rejects, 0);
        assert_eq!(client.info().reason, reason);
    }

    #[test]
    fn client_refuses_an_unexpected_server() {
        let client = port(PortConfig {
            expect_server_uid: Some(0),
            ..cfg(Role::Client, 7, 1)
        });
        let server = port(cfg(Role::Server, 7, 1));
        let End::ByClient(ours) = run(&client, std::slice::from_ref(&server), Some(ME), Some(ME))
        else {
            panic!("the client did not refuse");
        };
        assert!(
            ours.contains("runs as uid 1000 (pid 4242), not the expected uid 0"),
            "{ours}"
        );
        assert_eq!(client.info().reason, ours);
        assert_eq!(client.info().rejects, 1);
        // Before INIT: the server never learned which interface, so no port of its counts it.
        assert_eq!(server.info().rejects, 0);
        // Unreadable credentials are refused as well; the expected uid connects.
        let client = port(PortConfig {
            expect_server_uid: Some(1000),
            ..cfg(Role::Client, 7, 1)
        });
        let End::ByClient(r) = run(&client, std::slice::from_ref(&server), None, Some(ME)) else {
            panic!("the client did not refuse");
        };
        assert!(r.contains("credentials of the server on @zmemif-handshake-test are unavailable"));
        assert_eq!(run(&client, &[server], Some(ME), Some(ME)), End::Connected);
    }

    #[test]
    fn one_client_per_server_port() {
        let server = port(cfg(Role::Server, 7, 1));
        let ports = [server.clone()];
        let init = || {
            Msg::Init(Init {
                version: VERSION,
                id: 7,
                mode: Mode::Ethernet as u8,
                secret: Vec::new(),
                name: b"x".to_vec(),
            })
        };
        let mut first = Handshake::server(None);
        assert!(first.on_msg(init(), None, &ports, &addr()).is_ok());
        assert_eq!(server.status(), Status::Connecting);
        let mut second = Handshake::server(None);
        let f = second.on_msg(init(), None, &ports, &addr()).err().unwrap();
        assert_eq!(f.reason, "Already connected");
        // Not a refusal of the port: the first handshake goes on.
        assert_eq!(server.info().rejects, 0);
        assert!(second.port().is_none());
    }

    #[test]
    fn protocol_errors() {
        let server = port(cfg(Role::Server, 7, 1));
        let client = port(cfg(Role::Client, 7, 1));
        let ports = [server.clone()];
        let reason = |r: Result<Vec<Out>, Fail>| r.err().expect("refused").reason;

        let mut c = Handshake::client(client.clone(), None);
        assert_eq!(
            reason(c.on_msg(Msg::Ack, None, &ports, &addr())),
            "Unexpected message ACK"
        );
        let mut hello = Handshake::hello(&ports);
        if let Msg::Hello(h) = &mut hello {
            h.min_version = VERSION + 1;
            h.max_version = VERSION + 1;
        }
        let mut c = Handshake::client(client.clone(), None);
        assert_eq!(
            reason(c.on_msg(hello, None, &ports, &addr())),
            "Incompatible memif version"
        );

        let mut s = Handshake::server(None);
        let region = Msg::AddRegion {
            index: 0,
            size: 4096,
        };
        assert_eq!(
            reason(s.on_msg(region.clone(), None, &ports, &addr())),
            "Unexpected message ADD_REGION"
        );
        let init = Msg::Init(Init {
            version: VERSION,
            id: 7,
            mode: Mode::Ethernet as u8,
            secret: Vec::new(),
            name: b"x".to_vec(),
        });
        let mut s = Handshake::server(None);
        s.on_msg(init, None, &ports, &addr()).ok().unwrap();
        assert_eq!(
            reason(s.on_msg(region, None, &ports, &addr())),
            "Missing region fd"
        );
    }
}

/// Test hooks for `crates/zmemif/fuzz` (feature `fuzzing`, off in every normal build): one
/// handshake, either role, driven message by message as the control thread drives it (worker.rs),
/// with what it answers discarded. The handshake code itself is the production one.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;
    use crate::config::PortConfig;
    use crate::conn::new_eventfd;
    use crate::state::Status;

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
        hs: Option<super::Handshake>,
        up: bool,
        ports: Vec<Arc<PortShared>>,
        addr: SocketAddr,
    }

    impl Handshake {
        /// A client port's handshake, waiting for HELLO.
        pub fn client(mut cfg: PortConfig) -> Handshake {
            cfg.role = Role::Client;
            Handshake::new(cfg)
        }

        /// A server port's accepted link (HELLO already sent), waiting for INIT.
        pub fn server(mut cfg: PortConfig) -> Handshake {
            cfg.role = Role::Server;
            Handshake::new(cfg)
        }

        fn new(cfg: PortConfig) -> Handshake {
            let role = cfg.role;
            let port = Arc::new(PortShared::new(cfg));
            let hs = match role {
                Role::Client => super::Handshake::client(port.clone(), None),
                Role::Server => super::Handshake::server(None),
            };
            Handshake {
                hs: Some(hs),
                up: false,
                ports: vec![port],
                addr: SocketAddr::Path("/nonexistent/zmemif-fuzz.sock".into()),
            }
        }

        /// Feeds one message as the control thread would; `Err` carries the reason the link
        /// ended with (after which nothing more is read).
        pub fn feed(&mut self, bytes: &[u8], attach: Attach) -> std::result::Result<(), String> {
            let Some(hs) = self.hs.as_mut() else {
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
                Ok(msg) => hs.on_msg(msg, fd, &self.ports, &self.addr),
            };
            // As `Link::apply`, with nowhere to send to: the attachments are looked up all the same.
            let r = r.map(|outs| {
                for out in outs {
                    match out {
                        Out::Send(_, a) => {
                            let _ = hs.attachment(a);
                        }
                        Out::Connected(conn, peer_name) => {
                            let port = hs.port().expect("a finished handshake has its port");
                            self.up = true;
                            port.set_connected(conn, peer_name, hs.peer());
                        }
                    }
                }
            });
            r.map_err(|f| {
                self.end(&f.reason, f.tell_peer);
                f.reason
            })
        }

        pub fn connected(&self) -> bool {
            self.ports[0].status() == Status::Connected
        }

        /// As `Worker::close`, without a socket to tell.
        fn end(&mut self, reason: &str, local: bool) {
            if let Some(hs) = self.hs.take() {
                if let Some(p) = hs.port() {
                    if self.up {
                        p.set_disconnected(reason, local);
                    } else {
                        p.set_rejected(reason, hs.peer(), local);
                    }
                }
            }
        }
    }

    impl Drop for Handshake {
        fn drop(&mut self) {
            self.end("done", true);
        }
    }
}
