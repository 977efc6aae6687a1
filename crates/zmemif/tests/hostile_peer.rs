//! A hostile or broken client speaking raw control messages to our server: every bad message ends
//! that connection with a DISCONNECT naming the problem, and the other interface on the socket keeps
//! carrying traffic; `zmemif-peer` reports such an end as a fault. (The 1000 connect/disconnect cycles leak test is `cycles_leak.rs`, alone in
//! its test binary.)

#[path = "support/peer.rs"]
mod peer;

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use peer::{num, pattern, recv_packets, send_blocking, tmp_sock, Peer};
use zmemif::fuzzing::sock::{self, Recv};
use zmemif::fuzzing::wire::{AddRing, Init, Msg, VERSION};
use zmemif::{Perms, Port, PortConfig, Role, Socket, SocketAddr};

const T: Duration = Duration::from_secs(10);

/// Raw messages to send in turn, each with an fd attached or not.
type Script = Vec<(Vec<u8>, bool)>;

fn recv_msg(fd: &OwnedFd) -> Option<(Msg, Option<OwnedFd>)> {
    let deadline = Instant::now() + T;
    loop {
        match sock::recv(fd) {
            Recv::Msg(Ok(b), f) => return Some((Msg::decode(&b).unwrap(), f)),
            Recv::Msg(Err(e), _) => panic!("bad message from server: {e}"),
            Recv::Closed(_) => return None,
            Recv::WouldBlock => {
                assert!(Instant::now() < deadline, "server silent");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Connects, reads HELLO, sends `script` (raw bytes, with an fd or not), and returns the reason of
/// the DISCONNECT that follows.
fn refused(addr: &SocketAddr, script: &Script) -> String {
    let fd = sock::connect_to(addr).expect("connect");
    let (hello, _) = recv_msg(&fd).expect("HELLO");
    assert!(matches!(hello, Msg::Hello(_)));
    let efd = zmemif::fuzzing::conn::new_eventfd().unwrap();
    for (i, (bytes, with_fd)) in script.iter().enumerate() {
        send_raw(&fd, bytes, with_fd.then(|| efd.as_fd()));
        match recv_msg(&fd) {
            Some((Msg::Ack, _)) if i + 1 < script.len() => continue,
            Some((Msg::Disconnect { reason, .. }, _)) => {
                assert!(
                    recv_msg(&fd).is_none(),
                    "the server closes after DISCONNECT"
                );
                return String::from_utf8(reason).unwrap();
            }
            other => panic!("step {i}: expected ACK or DISCONNECT, got {other:?}"),
        }
    }
    panic!("script ended without a DISCONNECT")
}

fn send_raw(fd: &OwnedFd, bytes: &[u8], with: Option<std::os::fd::BorrowedFd<'_>>) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let iov = [std::io::IoSlice::new(bytes)];
    let raw;
    let cm: Vec<ControlMessage> = match with {
        Some(f) => {
            raw = [f.as_raw_fd()];
            vec![ControlMessage::ScmRights(&raw)]
        }
        None => vec![],
    };
    sendmsg::<()>(fd.as_raw_fd(), &iov, &cm, MsgFlags::empty(), None).unwrap();
}

fn init(id: u32, version: u16) -> Vec<u8> {
    Msg::Init(Init {
        version,
        id,
        mode: 0,
        secret: vec![],
        name: b"evil".to_vec(),
    })
    .encode()
    .to_vec()
}

/// A server port with interface id `id` on `server`, the rest default.
fn server_port(server: &Socket, id: u32) -> Port {
    Port::new(
        server,
        PortConfig {
            id,
            role: Role::Server,
            ..PortConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn bad_control_messages_end_only_that_connection() {
    let path = tmp_sock("hostile");
    let addr = SocketAddr::parse(&path).unwrap();
    let server = Socket::new(addr.clone(), Perms::default()).unwrap();
    let good = server_port(&server, 1);
    let _other = server_port(&server, 2);
    // A well-behaved client on id 1, in this process.
    let client_sock = Socket::new(addr.clone(), Perms::default()).unwrap();
    let client = Port::new(
        &client_sock,
        PortConfig {
            id: 1,
            ..PortConfig::default()
        },
    )
    .unwrap();
    client.wait_connected(Some(T)).unwrap();
    good.wait_connected(Some(T)).unwrap();

    let mut unknown = [0u8; 128];
    unknown[0] = 0x42;
    let region = Msg::AddRegion {
        index: 0,
        size: 4096,
    }
    .encode()
    .to_vec();
    let ring = |index: u16, region: u16, offset: u32, log2: u8| {
        Msg::AddRing(AddRing {
            c2s: true,
            index,
            region,
            offset,
            log2_size: log2,
            private_hdr_size: 0,
        })
        .encode()
        .to_vec()
    };
    let cases: Vec<(Script, &str)> = vec![
        (vec![(unknown.to_vec(), false)], "Unknown message type 0x42"),
        (vec![(vec![3u8; 64], false)], "Invalid message size 64"),
        (
            vec![(region.clone(), false)],
            "Unexpected message ADD_REGION",
        ),
        (vec![(init(2, 0x0100), false)], "Incompatible memif version"),
        (vec![(init(99, VERSION), false)], "ID not found"),
        (vec![(init(1, VERSION), false)], "Already connected"),
        (
            vec![(init(2, VERSION), false), (region.clone(), false)],
            "Missing region fd",
        ),
        (
            vec![
                (init(2, VERSION), false),
                (
                    Msg::AddRegion {
                        index: 1,
                        size: 4096,
                    }
                    .encode()
                    .to_vec(),
                    true,
                ),
            ],
            "Invalid region index",
        ),
        // An eventfd is not 4096 bytes of memory.
        (
            vec![(init(2, VERSION), false), (region.clone(), true)],
            "less than 4096",
        ),
        (
            vec![(init(2, VERSION), false), (ring(0, 0, 0, 10), false)],
            "Missing interrupt fd",
        ),
        (
            vec![(init(2, VERSION), false), (ring(0, 0, 0, 10), true)],
            "Invalid region index 0 for ring",
        ),
        (
            vec![
                (init(2, VERSION), false),
                (Msg::Connect { name: vec![] }.encode().to_vec(), false),
            ],
            "at least one ring",
        ),
        (
            vec![(init(2, VERSION), false), (init(2, VERSION), false)],
            "Unexpected message INIT",
        ),
        (
            vec![(Msg::Ack.encode().to_vec(), false)],
            "Unexpected message ACK",
        ),
    ];
    for (script, reason) in &cases {
        let got = refused(&addr, script);
        assert!(got.contains(reason), "expected {reason:?}, got {got:?}");
    }
    // The good connection never noticed.
    assert_eq!(good.info().disconnects, 0);
    let mut tx = client.tx_queue(0).unwrap();
    let mut rx = good.rx_queue(0).unwrap();
    for i in 0..100 {
        send_blocking(&mut tx, &pattern(i, 200));
    }
    assert_eq!(recv_packets(&mut rx, 100, T).len(), 100);
}

#[test]
fn a_client_that_never_finishes_the_handshake_is_timed_out() {
    let path = tmp_sock("slow");
    let addr = SocketAddr::parse(&path).unwrap();
    let server = Socket::new(addr.clone(), Perms::default()).unwrap();
    let _p = server_port(&server, 0);
    let fd = sock::connect_to(&addr).unwrap();
    let (hello, _) = recv_msg(&fd).unwrap();
    assert!(matches!(hello, Msg::Hello(_)));
    let start = Instant::now();
    match recv_msg(&fd) {
        Some((Msg::Disconnect { reason, .. }, _)) => assert_eq!(reason, b"Handshake timed out"),
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_secs(4));
}

/// A raw client that completes the handshake honestly with memory of its own, then breaks the ring
/// protocol: returns the control socket and its side of the connection.
fn raw_connected_client(
    addr: &SocketAddr,
    id: u32,
) -> (OwnedFd, zmemif::fuzzing::conn::Connection) {
    use zmemif::fuzzing::conn::{Connection, Params};
    use zmemif::Dir;
    let fd = sock::connect_to(addr).expect("connect");
    let (hello, _) = recv_msg(&fd).expect("HELLO");
    assert!(matches!(hello, Msg::Hello(_)));
    let p = Params {
        num_c2s: 1,
        num_s2c: 1,
        log2: 10,
        buffer_size: 2048,
    };
    let conn = Connection::create_client(p, 1, "core-evil").unwrap();
    let step = |m: Msg, with: Option<std::os::fd::BorrowedFd<'_>>| {
        send_raw(&fd, &m.encode(), with);
        recv_msg(&fd).expect("a reply").0
    };
    let a = step(Msg::decode(&init(id, VERSION)).unwrap(), None);
    assert!(matches!(a, Msg::Ack), "{a:?}");
    let r = &conn.regions[0];
    let a = step(
        Msg::AddRegion {
            index: 0,
            size: r.len() as u64,
        },
        Some(r.fd().as_fd()),
    );
    assert!(matches!(a, Msg::Ack), "{a:?}");
    for dir in [Dir::C2S, Dir::S2C] {
        let info = &conn.rings(dir)[0];
        let m = Msg::AddRing(AddRing {
            c2s: dir == Dir::C2S,
            index: 0,
            region: info.region,
            offset: info.offset,
            log2_size: info.log2,
            private_hdr_size: 0,
        });
        let a = step(m, Some(info.eventfd.as_fd()));
        assert!(matches!(a, Msg::Ack), "{a:?}");
    }
    let c = step(
        Msg::Connect {
            name: b"core-evil".to_vec(),
        },
        None,
    );
    assert!(matches!(c, Msg::Connected { .. }), "{c:?}");
    let s2c = conn.ring(Dir::S2C, 0);
    s2c.publish_head(s2c.size());
    (fd, conn)
}

/// A server on a fresh socket named for `name`, its port `id` and that port's queue pair 0.
fn served(name: &str, id: u32) -> (SocketAddr, Socket, Port, zmemif::RxQueue, zmemif::TxQueue) {
    let addr = SocketAddr::parse(&tmp_sock(name)).unwrap();
    let server = Socket::new(addr.clone(), Perms::default()).unwrap();
    let port = server_port(&server, id);
    let rx = port.rx_queue(0).unwrap();
    let tx = port.tx_queue(0).unwrap();
    (addr, server, port, rx, tx)
}

/// The raw client's one honest packet: its first C2S buffer, 60 bytes, published.
fn publish_one_packet(conn: &zmemif::fuzzing::conn::Connection) {
    let c2s = conn.ring(zmemif::Dir::C2S, 0);
    let mut d = c2s.read_desc(0);
    d.length = 60;
    c2s.write_desc(0, d);
    c2s.publish_head(1);
}

/// The reason of the DISCONNECT the server sends next.
fn disconnect_reason(fd: &OwnedFd) -> String {
    match recv_msg(fd) {
        Some((Msg::Disconnect { reason, .. }, _)) => String::from_utf8(reason).unwrap(),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

#[test]
fn an_impossible_ring_index_ends_the_connection_and_delivers_nothing_stale() {
    use zmemif::{Desc, Dir, Status};
    let (addr, _server, port, mut rx, mut tx) = served("core-index", 7);
    let mut out = vec![Desc::default(); 2048];

    // rx: one honest packet, then a head 1029 slots ahead of our tail in a 1024-slot ring.
    let (fd, conn) = raw_connected_client(&addr, 7);
    port.wait_connected(Some(T)).unwrap();
    publish_one_packet(&conn);
    let c2s = conn.ring(Dir::C2S, 0);
    let deadline = Instant::now() + T;
    while rx.rx_burst(&mut out).unwrap() == 0 {
        assert!(Instant::now() < deadline, "the honest packet never came");
    }
    c2s.publish_head(1030); // slots 1..1030 were never filled
    let deadline = Instant::now() + T;
    loop {
        match rx.rx_burst(&mut out) {
            Ok(0) => {}
            Ok(n) => panic!("{n} descriptors the peer never filled were delivered"),
            Err(e) => {
                assert_eq!(e.code, zmemif::Code::NotConnected);
                break;
            }
        }
        assert!(Instant::now() < deadline, "still connected");
    }
    let why = "Invalid ring index: head 1030 tail 1 on ring C2S 0 (size 1024)";
    assert_eq!(disconnect_reason(&fd), why);
    assert_eq!(port.info().reason, why);
    assert_ne!(port.status(), Status::Connected);
    assert_eq!(rx.stats().packets, 1);
    drop((fd, conn));

    // tx: a client whose S2C head offers more buffers than the ring has.
    let (fd, conn) = raw_connected_client(&addr, 7);
    port.wait_connected(Some(T)).unwrap();
    conn.ring(Dir::S2C, 0).publish_head(5000);
    let mut bufs = [Desc::default(); 32];
    let deadline = Instant::now() + T;
    loop {
        match tx.alloc(&mut bufs) {
            Ok(0) => {}
            Ok(n) => panic!("{n} buffers the client never offered were handed out"),
            Err(e) => {
                assert_eq!(e.code, zmemif::Code::NotConnected);
                break;
            }
        }
        assert!(Instant::now() < deadline, "still connected");
    }
    let why = "Invalid ring index: head 5000 tail 0 on ring S2C 0 (size 1024)";
    assert_eq!(disconnect_reason(&fd), why);
    assert_eq!(port.info().reason, why);

    // The port serves the next, honest client.
    drop((fd, conn));
    let client_sock = Socket::new(addr.clone(), Perms::default()).unwrap();
    let client = Port::new(
        &client_sock,
        PortConfig {
            id: 7,
            ..PortConfig::default()
        },
    )
    .unwrap();
    client.wait_connected(Some(T)).unwrap();
    port.wait_connected(Some(T)).unwrap();
    let mut ctx = client.tx_queue(0).unwrap();
    assert!(ctx.send(&pattern(0, 100)).unwrap());
    let got = recv_packets(&mut rx, 1, T);
    assert_eq!(got.len(), 1);
}

/// `zmemif-peer` ending a connection itself, for a peer that broke the ring protocol, says so: a
/// "fault" done line with the reason it sent, and exit status 3 (before, "disconnected" and 0, as
/// if the peer had simply left).
#[test]
fn zmemif_peer_reports_a_connection_it_ended_for_a_bad_ring_index_as_a_fault() {
    use zmemif::Dir;
    let path = tmp_sock("core-peer-fault");
    let mut sink = Peer::run(&path, "server", "sink", &["--id", "7"]);
    let deadline = Instant::now() + T;
    while !std::path::Path::new(&path).exists() {
        assert!(Instant::now() < deadline, "zmemif-peer never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    let addr = SocketAddr::parse(&path).unwrap();
    let (fd, conn) = raw_connected_client(&addr, 7);
    sink.wait_event("connected", T);
    // One honest packet, then a head 1029 slots ahead of the sink's tail in a 1024-slot ring.
    publish_one_packet(&conn);
    let c2s = conn.ring(Dir::C2S, 0);
    // The sink has read it once the slot comes back (the client side's C2S tail moves).
    let deadline = Instant::now() + T;
    while c2s.tail(std::sync::atomic::Ordering::Acquire) != 1 {
        assert!(
            Instant::now() < deadline,
            "the honest packet was never read"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    c2s.publish_head(1030);
    let why = "Invalid ring index: head 1030 tail 1 on ring C2S 0 (size 1024)";
    assert_eq!(disconnect_reason(&fd), why);
    let done = sink.wait_event("done", T);
    assert!(done.contains("\"reason\":\"fault\""), "{done}");
    assert!(done.contains(&format!("\"detail\":\"{why}\"")), "{done}");
    assert_eq!(num(&done, "rx"), 1, "{done}");
    assert_eq!(num(&done, "bad_descs"), 1, "{done}");
    assert_eq!(sink.wait_exit(T), 3, "{done}");
    drop((fd, conn));
}

#[test]
fn what_a_hostile_client_leaves_on_the_rings_counts_at_most_what_is_possible() {
    use zmemif::{Code, Desc, Dir, Status};
    let (addr, _server, port, mut rx, mut tx) = served("core-unread", 8);
    // (C2S head the client leaves, what our rx counts; S2C head, what our tx counts). The ring
    // has 1024 slots; our tx sent 3 packets each time.
    let cases: [(u16, u64, u16, u64); 5] = [
        (5000, 0, 5000, 0),    // far beyond the ring: impossible, nothing
        (65535, 0, 65535, 0),  // running backwards: impossible, nothing
        (1024, 1024, 1024, 3), // a full ring, honest offers: all of it, our 3
        (1000, 1000, 1027, 0), // the client re-offered our 3: nothing of ours left
        (7, 7, 3, 3),          // offers taken back to our tail: 1024 claimed, we sent 3
    ];
    for (round, &(c2s_head, rx_want, s2c_head, tx_want)) in cases.iter().enumerate() {
        let (fd, conn) = raw_connected_client(&addr, 8);
        port.wait_connected(Some(T)).unwrap();
        assert_eq!(rx.rx_burst(&mut []).unwrap(), 0, "attached");
        let mut bufs = [Desc::default(); 3];
        assert_eq!(tx.alloc(&mut bufs).unwrap(), 3);
        for b in &mut bufs {
            b.length = 60;
        }
        assert_eq!(tx.tx_burst(&bufs).unwrap(), 3);
        let (r0, t0) = (rx.stats(), tx.stats());
        conn.ring(Dir::C2S, 0).publish_head(c2s_head);
        conn.ring(Dir::S2C, 0).publish_head(s2c_head);
        drop(fd); // the client leaves
        let deadline = Instant::now() + T;
        while port.status() == Status::Connected {
            assert!(
                Instant::now() < deadline,
                "round {round}: disconnect not noticed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let e = rx.rx_burst(&mut [Desc::default(); 64]).unwrap_err();
        assert_eq!(e.code, Code::NotConnected);
        let e = tx.alloc(&mut bufs).unwrap_err();
        assert_eq!(e.code, Code::NotConnected);
        let (r, t) = (rx.stats(), tx.stats());
        assert_eq!(
            r.unread_at_disconnect - r0.unread_at_disconnect,
            rx_want,
            "round {round}: rx"
        );
        assert_eq!(
            t.unread_at_disconnect - t0.unread_at_disconnect,
            tx_want,
            "round {round}: tx"
        );
        assert_eq!(r.packets, 0, "round {round}: nothing delivered");
        assert_eq!(
            r.bad_descs, 0,
            "round {round}: the connection had ended, no fault"
        );
        drop(conn);
    }
}
