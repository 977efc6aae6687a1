//! `zmemif-peer` as others use it: it ends a session as "disconnected" whatever it was doing when
//! the peer left, `--action both --count` receives while its tx rings drain, a source stopping at
//! its `--seconds` deadline leaves only once its peer took everything it sent, and a server
//! outlives a refused client and, with `--forever`, serves one peer after another.

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{num, tmp_sock, Peer};
use zmemif::{Code, Desc, Perms, Port, PortConfig, Role, Socket, SocketAddr, Status};

const T: Duration = Duration::from_secs(20);

fn client(path: &str, secret: Option<&str>, ring_size: u32) -> (Socket, Port) {
    let s = Socket::new(SocketAddr::parse(path).unwrap(), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            secret: secret.map(|x| x.as_bytes().to_vec()),
            ring_size,
            ..PortConfig::default()
        },
    )
    .unwrap();
    (s, p)
}

#[test]
fn echo_ends_as_disconnected_when_the_peer_leaves_while_it_waits_for_tx_room() {
    let path = tmp_sock("core-echo-gone");
    let mut peer = Peer::run(&path, "server", "echo", &["--ring-size", "8"]);
    let (s, p) = client(&path, None, 8);
    p.wait_connected(Some(T)).unwrap();
    peer.wait_event("connected", T);
    // We send and never receive: our rx ring (8 slots) fills with echoes, then the echo waits for
    // room holding what it received. How many packets fit before our tx ring stays full depends on
    // how the echo's bursts fell (between 9 and 16), so send until no room comes for a while.
    let mut tx = p.tx_queue(0).unwrap();
    let mut sent = 0;
    let deadline = Instant::now() + T;
    loop {
        assert!(
            Instant::now() < deadline,
            "tx never stayed full: sent {sent}"
        );
        if tx.send(&[0u8; 64]).unwrap() {
            sent += 1;
        } else if !tx.wait(1, Some(Duration::from_millis(500))).unwrap() {
            break;
        }
    }
    // More than our rx ring holds went out, so the echo is waiting for tx room.
    assert!(sent > 8 && sent <= 16, "sent {sent}");
    drop(tx);
    drop(p);
    drop(s);
    let done = peer.wait_event("done", T);
    assert!(done.contains("\"reason\":\"disconnected\""), "{done}");
    assert!(
        num(&done, "tx_full") > 0,
        "the echo never waited for tx room: {done}"
    );
    assert_eq!(peer.wait_exit(T), 0);
}

#[test]
fn both_with_count_receives_every_echo_while_its_tx_drains() {
    let path = tmp_sock("core-both-count");
    let mut echo = Peer::run(&path, "server", "echo", &["--ring-size", "256"]);
    // 20,000 packets through 256-slot rings: the echo is often blocked on its tx ring, which
    // drains only while the client receives.
    let mut both = Peer::run(
        &path,
        "client",
        "both",
        &["--count", "20000", "--check", "--ring-size", "256"],
    );
    let done = both.wait_event("done", T);
    assert!(done.contains("\"reason\":\"count\""), "{done}");
    assert_eq!(num(&done, "tx"), 20000, "{done}");
    assert_eq!(num(&done, "rx"), 20000, "every echo came back: {done}");
    assert_eq!(num(&done, "bad_payload"), 0, "{done}");
    assert_eq!(both.wait_exit(T), 0);
    let done = echo.wait_event("done", T);
    assert!(done.contains("\"reason\":\"disconnected\""), "{done}");
}

/// A source with `--seconds` in `source_role` against a sink of ours that starts reading only
/// after the source's deadline: the source's tx ring is full then (all `RING` slots), and what it
/// counts as sent must still all arrive. Before the source waited for its ring to drain, it left
/// at its deadline and its disconnect made our queue drop the full ring unread: a whole ring
/// "lost" in pps.ts's rust-rust s2c, whenever the sink was a ring behind at that moment.
fn a_source_at_its_deadline_leaves_only_once_the_sink_took_everything(source_role: &str) {
    const RING: u32 = 64;
    let path = tmp_sock(&format!("core-source-drains-{source_role}"));
    let sink_role = if source_role == "server" {
        Role::Client
    } else {
        Role::Server
    };
    let ring = RING.to_string();
    let args = ["--seconds", "0.2", "--ring-size", ring.as_str()];
    let start = || Peer::run(&path, source_role, "source", &args);
    // A server source listens before our client connects; a client source after we listen.
    let mut early = (sink_role == Role::Client).then(start);
    if early.is_some() {
        let deadline = Instant::now() + T;
        while !std::path::Path::new(&path).exists() {
            assert!(Instant::now() < deadline, "the source never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let s = Socket::new(SocketAddr::parse(&path).unwrap(), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            role: sink_role,
            ring_size: RING,
            ..PortConfig::default()
        },
    )
    .unwrap();
    let mut source = early.take().unwrap_or_else(start);
    p.wait_connected(Some(T)).unwrap();
    source.wait_event("connected", T);
    let mut rx = p.rx_queue(0).unwrap();
    // Well past the source's deadline (0.2 s of traffic): it stopped sending with a full ring.
    std::thread::sleep(Duration::from_millis(1500));
    let mut got = 0u64;
    let mut d = [Desc::default(); 32];
    let deadline = Instant::now() + T;
    loop {
        assert!(
            Instant::now() < deadline,
            "the source never left: received {got}"
        );
        match rx.rx_burst(&mut d) {
            Ok(n) => got += n as u64,
            Err(e) if e.code == Code::NotConnected => break,
            Err(e) => panic!("rx_burst: {e:?}"),
        }
    }
    let done = source.wait_event("done", T);
    assert!(done.contains("\"reason\":\"deadline\""), "{done}");
    assert!(
        num(&done, "tx") >= RING as u64,
        "the source filled its ring: {done}"
    );
    assert_eq!(
        got,
        num(&done, "tx"),
        "everything the source sent arrived: {done}"
    );
    assert!(done.contains("\"drained\":true"), "{done}");
    assert_eq!(source.wait_exit(T), 0);
}

#[test]
fn a_server_source_at_its_deadline_leaves_only_once_the_sink_took_everything() {
    a_source_at_its_deadline_leaves_only_once_the_sink_took_everything("server");
}

#[test]
fn a_client_source_at_its_deadline_leaves_only_once_the_sink_took_everything() {
    a_source_at_its_deadline_leaves_only_once_the_sink_took_everything("client");
}

#[test]
fn a_server_outlives_a_refused_client_and_serves_peers_forever() {
    let path = tmp_sock("core-forever");
    let mut server = Peer::run(&path, "server", "echo", &["--secret", "right", "--forever"]);
    {
        let (_s, p) = client(&path, Some("wrong"), 1024);
        let e = p.wait_connected(Some(T)).unwrap_err();
        assert_eq!(e.code, zmemif::Code::PeerRejected, "{e:?}");
        let l = server.wait_event("rejected", T);
        assert!(l.contains("Incorrect secret"), "{l}");
    }
    for round in 0..3 {
        let (_s, p) = client(&path, Some("right"), 1024);
        p.wait_connected(Some(T)).unwrap();
        server.wait_event("connected", T);
        let mut tx = p.tx_queue(0).unwrap();
        let mut rx = p.rx_queue(0).unwrap();
        assert!(tx.send(&[round as u8; 100]).unwrap());
        assert!(rx.wait(Some(T)).unwrap(), "round {round}: no echo");
        let mut d = [zmemif::Desc::default(); 4];
        assert_eq!(rx.rx_burst(&mut d).unwrap(), 1);
        assert_eq!(d[0].length, 100);
        drop((tx, rx));
        p.close();
        assert_eq!(p.status(), Status::Closed);
        let done = server.wait_event("done", T);
        assert!(done.contains("\"reason\":\"disconnected\""), "{done}");
    }
}
