//! Interop with DPDK 22.11's `net_memif` through a real `dpdk-testpmd` (Debian `dpdk-dev`), started
//! here with `--no-huge`: zmemif as client and as server, over filesystem and abstract sockets, with
//! testpmd forwarding back (`io`) what it receives so every payload is checked end to end.
//! A missing testpmd is a failure, not a skip.

#[path = "support/peer.rs"]
mod peer;

use std::time::Duration;

use peer::{pattern, recv_packets, send_blocking};
use zmemif::{Perms, Port, PortConfig, Role, Socket, SocketAddr};
use zmemif_testpmd::{
    exclusive, FwdMode, Role as TpRole, Socket as TpSocket, Testpmd, TestpmdOpts,
};

const T: Duration = Duration::from_secs(15);

fn addr(s: &TpSocket) -> SocketAddr {
    match s {
        TpSocket::Path(p) => SocketAddr::Path(p.clone()),
        TpSocket::Abstract(n) => SocketAddr::Abstract(n.as_bytes().to_vec()),
    }
}

fn testpmd(role: TpRole, socket: &TpSocket, mode: FwdMode, queues: u16) -> Testpmd {
    let mut o = match role {
        TpRole::Server => TestpmdOpts::server(socket.clone()),
        TpRole::Client => TestpmdOpts::client(socket.clone()),
    };
    o.mode = mode;
    o.queues = queues;
    o.cpu = 0;
    // testpmd drains (drops) whatever is in its rx queues when forwarding starts, which can be
    // just after we connect: keep those packets.
    o.extra_app_args.push("--no-flush-rx".into());
    // Interactive, so that forwarding can be stopped before a peer leaves (see
    // `our_client_with_testpmd_server`).
    o.interactive = true;
    let mut tp = Testpmd::start(o).unwrap_or_else(|e| panic!("{e}"));
    // The prompt after `start` can be cut by the driver's log lines (support/testpmd): a reply
    // that does not come is not a failure; the exchange proves that forwarding runs.
    if let Err(e) = tp.command("start", Duration::from_secs(3)) {
        eprintln!("no prompt after start (the exchange checks forwarding): {e}");
    }
    tp
}

/// Sends packets of several sizes on every queue and checks each one comes back unchanged.
fn exchange(port: &Port, queues: u16, per_queue: u64) {
    port.wait_connected(Some(T)).unwrap();
    let sizes = [60usize, 64, 128, 512, 1000, 1500];
    for q in 0..queues {
        let mut tx = port.tx_queue(q).unwrap();
        let mut rx = port.rx_queue(q).unwrap();
        let mut expect = Vec::new();
        let mut got = Vec::new();
        // In chunks smaller than our rx ring: testpmd drops what it cannot forward at once.
        for chunk in 0..per_queue.div_ceil(256) {
            let start = expect.len();
            for i in chunk * 256..((chunk + 1) * 256).min(per_queue) {
                let seq = q as u64 * 1_000_000 + i;
                let p = pattern(seq, sizes[i as usize % sizes.len()]);
                send_blocking(&mut tx, &p);
                expect.push(p);
            }
            got.extend(recv_packets(&mut rx, expect.len() - start, T));
            assert_eq!(
                got.len(),
                expect.len(),
                "queue {q}: packets back from testpmd"
            );
        }
        // One forwarding core per queue keeps order within the queue.
        for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
            assert_eq!(g, e, "queue {q} packet {i}: payload changed");
        }
        assert_eq!(rx.stats().bad_descs, 0);
    }
}

fn our_client_with_testpmd_server(socket: TpSocket, queues: u16) {
    let _g = exclusive();
    let mut tp = testpmd(TpRole::Server, &socket, FwdMode::Io, queues);
    let s = Socket::new(addr(&socket), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            num_c2s: queues,
            num_s2c: queues,
            ..PortConfig::default()
        },
    )
    .unwrap();
    tp.link_up(T).unwrap_or_else(|e| panic!("{e}"));
    exchange(&p, queues, 3000);
    assert_eq!(p.info().peer_name, "net_memif0");
    // DPDK 22.11's net_memif unmaps a leaving peer's rings while its lcore may be inside a burst
    // on them (forwarder/README.md, "A peer leaving mid-burst"): testpmd died of it when we left
    // while it forwarded (1 of 20 runs). Stop its forwarding first; it must still see us go.
    tp.command("stop", T).unwrap_or_else(|e| panic!("{e}"));
    drop(p);
    tp.link_down(T)
        .unwrap_or_else(|e| panic!("testpmd saw no disconnect: {e}"));
}

fn our_server_with_testpmd_client(socket: TpSocket, queues: u16) {
    let _g = exclusive();
    let s = Socket::new(addr(&socket), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            role: Role::Server,
            num_c2s: queues,
            num_s2c: queues,
            ..PortConfig::default()
        },
    )
    .unwrap();
    let tp = testpmd(TpRole::Client, &socket, FwdMode::Io, queues);
    tp.link_up(T).unwrap_or_else(|e| panic!("{e}"));
    exchange(&p, queues, 3000);
    // testpmd 22.11 as a client must go before its server (it may crash otherwise).
    drop(tp);
}

#[test]
fn zmemif_client_testpmd_server_filesystem_socket() {
    our_client_with_testpmd_server(TpSocket::unique_path("zc-fs"), 1);
}

#[test]
fn zmemif_client_testpmd_server_abstract_socket_two_queues() {
    our_client_with_testpmd_server(TpSocket::unique_abstract("zc-abs"), 2);
}

#[test]
fn zmemif_server_testpmd_client_filesystem_socket_two_queues() {
    our_server_with_testpmd_client(TpSocket::unique_path("zs-fs"), 2);
}

#[test]
fn zmemif_server_testpmd_client_abstract_socket() {
    our_server_with_testpmd_client(TpSocket::unique_abstract("zs-abs"), 1);
}

#[test]
fn testpmd_client_with_wrong_secret_is_refused_with_reason() {
    let _g = exclusive();
    let socket = TpSocket::unique_path("secret");
    let s = Socket::new(addr(&socket), Perms::default()).unwrap();
    let p = Port::new(
        &s,
        PortConfig {
            role: Role::Server,
            secret: Some(b"right".to_vec()),
            ..PortConfig::default()
        },
    )
    .unwrap();
    let mut o = TestpmdOpts::client(socket.clone());
    o.secret = Some("wrong".into());
    let tp = Testpmd::start(o).unwrap_or_else(|e| panic!("{e}"));
    tp.wait_for_log("Disconnect received: Incorrect secret", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.info().rejects, 1);
    assert_eq!(p.info().reason, "Incorrect secret");
}
