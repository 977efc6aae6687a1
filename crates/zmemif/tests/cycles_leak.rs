//! 1000 connect/disconnect cycles leak no fds and no memory. It counts `/proc/self/fd` and VmRSS
//! for the whole process, so it is the only test in this binary: cargo runs each test binary as a
//! process of its own, one after another, and no other test opens sockets or maps regions while
//! it counts. Keep every other test out of this file.

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{pattern, send_blocking, tmp_sock};
use zmemif::{Perms, Port, PortConfig, Role, Socket, SocketAddr};

const T: Duration = Duration::from_secs(10);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The fds open once the last cycle's teardown has finished. A dropped port is torn down by the
/// control thread (`Registry::remove_port` queues it), which closes the connection, and with it
/// lets the server count the disconnect, while its region and eventfds may still be open: a
/// count taken at once can hold a few fds about to close (CI saw 12 against 9). So take the least
/// seen over 200 ms.
fn settled_fds() -> usize {
    let end = Instant::now() + Duration::from_millis(200);
    let mut least = open_fds();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
        least = least.min(open_fds());
    }
    least
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn thousand_connect_disconnect_cycles_leak_nothing() {
    let path = tmp_sock("cycles");
    let addr = SocketAddr::parse(&path).unwrap();
    let server = Socket::new(addr.clone(), Perms::default()).unwrap();
    let sp = Port::new(
        &server,
        PortConfig {
            id: 0,
            role: Role::Server,
            ring_size: 256,
            ..PortConfig::default()
        },
    )
    .unwrap();
    let client_sock = Socket::new(addr, Perms::default()).unwrap();
    let cycle = |i: u64| {
        let c = Port::new(
            &client_sock,
            PortConfig {
                id: 0,
                ring_size: 256,
                ..PortConfig::default()
            },
        )
        .unwrap();
        c.wait_connected(Some(T)).unwrap();
        // Some traffic, so the data path's holds on the connection are exercised too.
        let mut tx = c.tx_queue(0).unwrap();
        send_blocking(&mut tx, &pattern(i, 64));
        drop(tx);
        drop(c);
        let deadline = Instant::now() + T;
        while sp.info().disconnects < i + 1 {
            assert!(
                Instant::now() < deadline,
                "server did not see disconnect {i}"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
    };
    for i in 0..50 {
        cycle(i);
    }
    let (fds, rss) = (settled_fds(), rss_kib());
    for i in 50..1000 {
        cycle(i);
    }
    // A leak stays; the last cycle's closing fds are gone within the deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds2 = open_fds();
    while fds2 > fds && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        fds2 = open_fds();
    }
    let rss2 = rss_kib();
    assert_eq!(
        fds, fds2,
        "open fds grew (or fell) after 950 cycles and 5 s to close"
    );
    assert!(rss2 < rss + 4096, "RSS grew from {rss} KiB to {rss2} KiB");
    assert_eq!(sp.info().connects, 1000);
}
