//! What a connection's end leaves on a ring is counted (`QueueStats::unread_at_disconnect`): two
//! ports of this process over a real socket, the receiver never reads, then one side leaves. The
//! receiver counts what was published and not read (rx), the sender what it sent and the peer
//! never took (tx); both in packets, chains counting once. (The hostile-index case, a peer's head
//! far beyond the ring, is in `hostile_peer.rs`, which plays a raw client.)

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{pattern, send_blocking, tmp_sock};
use zmemif::{Code, Desc, Perms, Port, PortConfig, Role, RxQueue, Socket, SocketAddr, Status};

const T: Duration = Duration::from_secs(10);
/// 100 packets of one buffer and 5 of three (5000 bytes in 2048-byte buffers): 115 of 1024 slots.
const SMALL: u64 = 100;
const CHAINED: u64 = 5;

fn port(path: &str, role: Role) -> (Socket, Port) {
    let s = Socket::new(SocketAddr::parse(path).unwrap(), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            role,
            ..PortConfig::default()
        },
    )
    .unwrap();
    (s, p)
}

/// Waits until `p`'s connection has ended.
fn wait_ended(p: &Port) {
    let deadline = Instant::now() + T;
    while p.status() == Status::Connected {
        assert!(Instant::now() < deadline, "the disconnect was not noticed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A receiver of role `receiver` attaches and never reads; the sender sends 105 packets; then the
/// side of role `leaver` closes its port. Returns the receiver's rx and the sender's tx
/// `unread_at_disconnect`, after one call on each queue noticed the end (where they count).
fn run(name: &str, receiver: Role, leaver: Role) -> (u64, u64) {
    let path = tmp_sock(&format!("unread-{name}"));
    let sender = if receiver == Role::Server {
        Role::Client
    } else {
        Role::Server
    };
    // The server first, so the client finds it at once.
    let (first, second) = if receiver == Role::Server {
        (port(&path, receiver), port(&path, sender))
    } else {
        (port(&path, sender), port(&path, receiver))
    };
    let ((rs, rp), (ss, sp)) = if receiver == Role::Server {
        (first, second)
    } else {
        (second, first)
    };
    rp.wait_connected(Some(T)).unwrap();
    sp.wait_connected(Some(T)).unwrap();
    let mut rx: RxQueue = rp.rx_queue(0).unwrap();
    assert_eq!(rx.rx_burst(&mut []).unwrap(), 0, "attached, nothing read");
    let mut tx = sp.tx_queue(0).unwrap();
    for i in 0..SMALL {
        send_blocking(&mut tx, &pattern(i, 60));
    }
    for i in 0..CHAINED {
        send_blocking(&mut tx, &pattern(i, 5000));
    }
    assert_eq!(tx.stats().packets, SMALL + CHAINED);
    // Nothing counted while the connection lives.
    assert_eq!(rx.stats().unread_at_disconnect, 0);
    assert_eq!(tx.stats().unread_at_disconnect, 0);
    if leaver == receiver {
        rp.close();
    } else {
        sp.close();
    }
    wait_ended(&rp);
    wait_ended(&sp);
    let e = rx.rx_burst(&mut [Desc::default(); 64]).unwrap_err();
    assert_eq!(e.code, Code::NotConnected, "{e:?}");
    let e = tx.alloc(&mut [Desc::default(); 1]).unwrap_err();
    assert_eq!(e.code, Code::NotConnected, "{e:?}");
    let (r, t) = (rx.stats(), tx.stats());
    assert_eq!(r.packets, 0, "the receiver read nothing");
    // Counted once: a second look at the ended connection adds nothing.
    assert!(rx.rx_burst(&mut [Desc::default(); 64]).is_err());
    assert!(tx.alloc(&mut [Desc::default(); 1]).is_err());
    assert_eq!(rx.stats(), r);
    assert_eq!(tx.stats(), t);
    drop((rx, tx, rp, sp, rs, ss));
    (r.unread_at_disconnect, t.unread_at_disconnect)
}

#[test]
fn a_server_counts_what_its_client_sent_and_it_did_not_read() {
    // The sending client leaves.
    let (rx, tx) = run("srv-rx", Role::Server, Role::Client);
    assert_eq!(
        rx,
        SMALL + CHAINED,
        "rx: published by the client, never read"
    );
    assert_eq!(tx, SMALL + CHAINED, "tx: sent by the client, never taken");
}

#[test]
fn a_client_counts_what_its_server_sent_and_it_did_not_read() {
    // The sending server leaves.
    let (rx, tx) = run("cli-rx", Role::Client, Role::Server);
    assert_eq!(rx, SMALL + CHAINED);
    assert_eq!(tx, SMALL + CHAINED);
}

#[test]
fn the_sender_counts_what_a_receiver_leaving_without_reading_never_took() {
    for (name, receiver) in [("srv-leaves", Role::Server), ("cli-leaves", Role::Client)] {
        let (rx, tx) = run(name, receiver, receiver);
        assert_eq!(tx, SMALL + CHAINED, "{name}: tx, sent and never taken");
        assert_eq!(rx, SMALL + CHAINED, "{name}: rx, published and never read");
    }
}

#[test]
fn nothing_is_counted_when_everything_was_read() {
    let path = tmp_sock("unread-all-read");
    let (ss, server) = port(&path, Role::Server);
    let (cs, client) = port(&path, Role::Client);
    client.wait_connected(Some(T)).unwrap();
    server.wait_connected(Some(T)).unwrap();
    let mut rx = server.rx_queue(0).unwrap();
    let mut tx = client.tx_queue(0).unwrap();
    for i in 0..SMALL {
        send_blocking(&mut tx, &pattern(i, 60));
    }
    let got = peer::recv_packets(&mut rx, SMALL as usize, T);
    assert_eq!(got.len() as u64, SMALL);
    rx.release().unwrap(); // give the last burst back: the client sees everything taken
    assert!(tx.wait(1024, Some(T)).unwrap(), "the ring is free again");
    client.close();
    wait_ended(&server);
    wait_ended(&client);
    assert!(rx.rx_burst(&mut [Desc::default(); 64]).is_err());
    assert!(tx.alloc(&mut [Desc::default(); 1]).is_err());
    assert_eq!(rx.stats().unread_at_disconnect, 0);
    assert_eq!(tx.stats().unread_at_disconnect, 0);
    drop((rx, tx, server, client, ss, cs));
}
