//! `zmemif-peer` as others use it: it ends a session as "disconnected" whatever it was doing when
//! the peer left, `--action both --count` receives while its tx rings drain, and a server
//! outlives a refused client and, with `--forever`, serves one peer after another.

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{num, tmp_sock, Peer};
use zmemif::{Perms, Port, PortConfig, Socket, SocketAddr, Status};

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
