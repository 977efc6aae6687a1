//! The most queues memif allows, 255 client-to-server + 255 server-to-client, in two processes:
//! this test serves, `zmemif-peer` connects, and every one of the 510 queues carries traffic.
//!
//! Each ring has an eventfd: the client makes 510 and passes them all to the server, so each side
//! holds a little over 510 descriptors for this one connection. This test (alone in its binary)
//! sets its soft `RLIMIT_NOFILE` to 1024, Linux's default, and the peer inherits it: the largest
//! connection fits in a process with the default limit (two of them in one process need more).

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{each_packet, num, pattern, pattern_ok, send_blocking, tmp_sock, Peer};
use zmemif::{Desc, Perms, Port, PortConfig, Role, Socket, SocketAddr};

const QUEUES: u16 = 255;
const RING: u32 = 16;
/// Packets we send on each server-to-client queue (within one ring, so no wait is needed).
const PER_S2C: usize = 8;
/// Packets the peer sends, spread over its 255 tx queues a burst at a time.
const FROM_PEER: u64 = QUEUES as u64 * 16;
const T: Duration = Duration::from_secs(20);

/// Linux's default soft limit on open files.
const NOFILE: u64 = 1024;

/// Sets the soft limit on open files to `n`; fails when the hard limit is lower.
fn set_nofile(n: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    assert!(
        r.rlim_max >= n,
        "the hard limit on open files is {}: this test needs {n} (ulimit -Hn)",
        r.rlim_max
    );
    r.rlim_cur = n;
    // SAFETY: `r` is a valid rlimit with rlim_cur <= rlim_max.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
}

fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn two_hundred_fifty_five_queues_each_way_all_carry_traffic() {
    set_nofile(NOFILE);

    let path = tmp_sock("max-queues");
    let s = Socket::new(SocketAddr::parse(&path).unwrap(), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            role: Role::Server,
            num_c2s: QUEUES,
            num_s2c: QUEUES,
            ring_size: RING,
            ..PortConfig::default()
        },
    )
    .unwrap();
    let (q, ring, count) = (QUEUES.to_string(), RING.to_string(), FROM_PEER.to_string());
    let mut peer = Peer::run(
        &path,
        "client",
        "both",
        &[
            "--c2s",
            &q,
            "--s2c",
            &q,
            "--ring-size",
            &ring,
            "--burst",
            "4",
            "--count",
            &count,
            "--check",
            "--seconds",
            "5",
        ],
    );
    p.wait_connected(Some(T)).unwrap();
    let connected = peer.wait_event("connected", T);
    let info = p.info();
    assert_eq!(
        (info.num_c2s, info.num_s2c, info.log2_ring_size),
        (QUEUES, QUEUES, RING.trailing_zeros() as u8),
        "{connected}"
    );
    assert_eq!(num(&connected, "c2s"), QUEUES as u64, "{connected}");
    assert_eq!(num(&connected, "s2c"), QUEUES as u64, "{connected}");
    let fds = (open_fds("self"), open_fds(&peer.pid().to_string()));
    eprintln!(
        "open files with 255 + 255 queues: this process (server) {}, the peer (client) {}",
        fds.0, fds.1
    );
    assert!(
        fds.0 >= 2 * QUEUES as usize && fds.1 >= 2 * QUEUES as usize,
        "each side holds the 510 ring eventfds: {fds:?}"
    );

    let mut rx: Vec<_> = (0..QUEUES).map(|q| p.rx_queue(q).unwrap()).collect();
    let mut tx: Vec<_> = (0..QUEUES).map(|q| p.tx_queue(q).unwrap()).collect();
    for (q, t) in tx.iter_mut().enumerate() {
        for i in 0..PER_S2C {
            send_blocking(t, &pattern((q * PER_S2C + i) as u64, 60 + q));
        }
    }

    // Receive on every c2s queue until the peer's packets are all in.
    let mut per_queue = vec![0u64; QUEUES as usize];
    let mut descs = vec![Desc::default(); 64];
    let deadline = Instant::now() + T;
    while per_queue.iter().sum::<u64>() < FROM_PEER {
        assert!(
            Instant::now() < deadline,
            "{} of {FROM_PEER} packets from the peer in {T:?}; per c2s queue: {per_queue:?}",
            per_queue.iter().sum::<u64>()
        );
        for (q, r) in rx.iter_mut().enumerate() {
            let k = r.rx_burst(&mut descs).unwrap();
            each_packet(r, &descs[..k], |pkt| {
                assert!(pattern_ok(pkt), "payload on c2s queue {q}");
                per_queue[q] += 1;
            });
            if k > 0 {
                r.release().unwrap();
            }
        }
    }
    assert_eq!(per_queue.iter().sum::<u64>(), FROM_PEER);
    let idle: Vec<_> = (0..QUEUES)
        .filter(|&q| per_queue[q as usize] == 0)
        .collect();
    assert!(idle.is_empty(), "c2s queues that carried nothing: {idle:?}");
    for (q, r) in rx.iter().enumerate() {
        assert_eq!(r.stats().packets, per_queue[q]);
        assert_eq!(r.stats().bad_descs, 0, "c2s queue {q}");
    }

    let done = peer.wait_event("done", T);
    let want = format!("\"per_rx\":{:?}", vec![PER_S2C as u64; QUEUES as usize]);
    assert!(
        done.contains(&want),
        "every s2c queue delivers {PER_S2C} packets to the peer: {done}"
    );
    assert_eq!(num(&done, "rx"), QUEUES as u64 * PER_S2C as u64, "{done}");
    assert_eq!(num(&done, "tx"), FROM_PEER, "{done}");
    assert_eq!(num(&done, "bad_payload"), 0, "{done}");
    assert_eq!(num(&done, "bad_descs"), 0, "{done}");
}
