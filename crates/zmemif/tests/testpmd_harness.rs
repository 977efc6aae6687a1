//! Tests of the testpmd launcher itself (support/testpmd), DPDK against DPDK: if these fail, the interop tests
//! cannot be trusted. Needs `dpdk-testpmd` (apt-get install dpdk-dev); missing is a failure.

use std::time::Duration;
use zmemif_testpmd::{
    exclusive, parse_stats, rates, FwdMode, Role, Socket, StatsSnapshot, Testpmd, TestpmdOpts,
};

const LINK: Duration = Duration::from_secs(5);
const STATS: Duration = Duration::from_secs(5);

fn server(socket: &Socket, mode: FwdMode) -> TestpmdOpts {
    let mut o = TestpmdOpts::server(socket.clone());
    o.mode = mode;
    o.cpu = 0;
    o
}

fn client(socket: &Socket, mode: FwdMode) -> TestpmdOpts {
    let mut o = TestpmdOpts::client(socket.clone());
    o.mode = mode;
    o.cpu = 1;
    o
}

fn start(opts: TestpmdOpts) -> Testpmd {
    Testpmd::start(opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Two consecutive stats prints taken after the link is up.
fn two_prints(tp: &Testpmd) -> (StatsSnapshot, StatsSnapshot) {
    let a = tp.next_stats(STATS).unwrap_or_else(|e| panic!("{e}"));
    let b = tp.next_stats(STATS).unwrap_or_else(|e| panic!("{e}"));
    (a, b)
}

/// Server rxonly, client txonly: packets counted on both ends and growing.
fn tx_to_rx(socket: Socket) {
    let srv = start(server(&socket, FwdMode::Rxonly));
    let cli = start(client(&socket, FwdMode::Txonly { pkt_len: 64 }));
    srv.link_up(LINK).unwrap_or_else(|e| panic!("{e}"));
    cli.link_up(LINK).unwrap_or_else(|e| panic!("{e}"));

    let (a, b) = two_prints(&srv);
    assert!(
        b.port(0).rx_packets > a.port(0).rx_packets,
        "server rx not growing: {a:?} {b:?}"
    );
    // Packets and bytes are read at different instants while forwarding: compare loosely.
    let per_packet = b.port(0).rx_bytes as f64 / b.port(0).rx_packets as f64;
    assert!(
        (per_packet - 64.0).abs() < 0.5,
        "64-byte frames, got {per_packet} B/packet"
    );
    let (rx, _) = rates(&a, &b, 0);
    assert!(rx > 1000.0, "server rx rate {rx} pps");

    let c = cli
        .wait_for_stats(STATS, |s| s.port(0).tx_packets > 0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.port(0).rx_packets, 0, "txonly receives nothing");
}

#[test]
fn txonly_to_rxonly_over_filesystem_socket() {
    let _g = exclusive();
    let socket = Socket::unique_path("fs");
    tx_to_rx(socket.clone());
    let Socket::Path(p) = socket else {
        unreachable!()
    };
    assert!(!p.exists(), "socket file {} left behind", p.display());
}

#[test]
fn txonly_to_rxonly_over_abstract_socket() {
    let _g = exclusive();
    tx_to_rx(Socket::unique_abstract("abs"));
}

/// A closed loop: the client sends one burst once the link is up (--tx-first) and forwards
/// (io); the server returns with `server_mode`. (A txonly peer cannot close the loop: it never
/// calls rx, so as a client it never offers S2C buffers and the server cannot return anything.)
fn forwarding_loop(tag: &str, server_mode: FwdMode, queues: u16) {
    let socket = Socket::unique_path(tag);
    let mut so = server(&socket, server_mode);
    so.queues = queues;
    let srv = start(so);
    let mut co = client(&socket, FwdMode::Io);
    co.queues = queues;
    co.tx_first = true;
    let cli = start(co);
    cli.link_up(LINK).unwrap_or_else(|e| panic!("{e}"));
    srv.link_up(LINK).unwrap_or_else(|e| panic!("{e}"));
    for (who, tp) in [("server", &srv), ("client", &cli)] {
        let (a, b) = two_prints(tp);
        let (pa, pb) = (a.port(0), b.port(0));
        assert!(
            pb.rx_packets > pa.rx_packets,
            "{who} rx not growing: {a:?} {b:?}"
        );
        assert!(
            pb.tx_packets > pa.tx_packets,
            "{who} tx not growing: {a:?} {b:?}"
        );
        assert_eq!(pb.tx_errors, 0, "{who}");
    }
}

#[test]
fn io_loop() {
    let _g = exclusive();
    forwarding_loop("io", FwdMode::Io, 1);
}

#[test]
fn macswap_loop_on_two_queues() {
    let _g = exclusive();
    forwarding_loop("mac", FwdMode::Macswap, 2);
}

#[test]
fn bad_vdev_argument_is_an_error() {
    let _g = exclusive();
    let mut o = server(&Socket::unique_path("bad"), FwdMode::Rxonly);
    o.rsize = Some(20);
    let err = Testpmd::start(o).expect_err("rsize=20 must fail");
    assert!(err.contains("failed to initialize"), "{err}");
    assert!(
        err.contains("Invalid ring size"),
        "driver reason in the message: {err}"
    );
}

/// 22.11 ignores ALL vdev keys when one is unknown; the launcher must notice.
#[test]
fn unknown_vdev_key_is_an_error() {
    let _g = exclusive();
    let mut o = server(&Socket::unique_path("unk"), FwdMode::Rxonly);
    o.extra_vdev_args.push("no-such-key=1".into());
    let err = Testpmd::start(o).expect_err("unknown key must fail");
    assert!(
        err.contains("Fail to start port") || err.contains("ignored"),
        "{err}"
    );
}

#[test]
fn wrong_secret_fails_link_up_with_the_reason() {
    let _g = exclusive();
    let socket = Socket::unique_path("sec");
    let mut so = server(&socket, FwdMode::Rxonly);
    so.secret = Some("right".into());
    let _srv = start(so);
    let mut co = client(&socket, FwdMode::Rxonly);
    co.secret = Some("wrong".into());
    let cli = start(co);
    let err = cli
        .link_up(LINK)
        .expect_err("wrong secret must not connect");
    assert!(err.contains("Incorrect secret"), "{err}");
}

#[test]
fn server_refuses_a_live_socket_and_replaces_a_stale_one() {
    let _g = exclusive();
    let socket = Socket::unique_path("live");
    let Socket::Path(path) = &socket else {
        unreachable!()
    };
    // A stale file: bound, never listened on by anyone now.
    drop(std::os::unix::net::UnixListener::bind(path).expect("bind"));
    assert!(path.exists());
    let srv = start(server(&socket, FwdMode::Rxonly));
    let err = Testpmd::start(server(&socket, FwdMode::Rxonly)).expect_err("path in use");
    assert!(err.contains("live listener"), "{err}");
    drop(srv);
    assert!(!path.exists(), "socket file left behind");
}

#[test]
fn client_without_server_is_an_error() {
    let err = Testpmd::start(client(&Socket::unique_path("nosrv"), FwdMode::Rxonly))
        .expect_err("no server");
    assert!(err.contains("start the server first"), "{err}");
}

/// Only checked for a port that never connected: after a memif session 22.11 testpmd sometimes
/// segfaults (exit 139) on SIGTERM, so tests must not assert on the exit status then.
#[test]
fn kill_is_graceful_and_idempotent() {
    let _g = exclusive();
    let mut srv = start(server(&Socket::unique_path("kill"), FwdMode::Rxonly));
    assert_eq!(srv.opts().role, Role::Server);
    assert!(srv.is_running());
    let st = srv.kill().expect("an exit status");
    assert!(st.success(), "SIGTERM should end testpmd cleanly: {st:?}");
    assert!(srv
        .wait_for_log("Bye...", Duration::from_millis(100))
        .is_ok());
    assert_eq!(srv.kill(), Some(st));
}

#[test]
fn stats_parser_reads_the_22_11_format() {
    let text = "\x1b[2J\x1b[1;1H\nPort statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 42650976   RX-missed: 0          RX-bytes:  2729662976
  RX-errors: 0
  RX-nombuf:  0         
  TX-packets: 5          TX-errors: 1          TX-bytes:  320

  Throughput (since last show)
  Rx-pps:     20609711          Rx-bps:  10552174320
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
";
    let prints = parse_stats(text, 1);
    assert_eq!(prints.len(), 1);
    let s = prints[0][0];
    assert_eq!(
        (s.rx_packets, s.rx_bytes, s.rx_missed),
        (42650976, 2729662976, 0)
    );
    assert_eq!((s.tx_packets, s.tx_errors, s.tx_bytes), (5, 1, 320));
    assert_eq!((s.rx_pps, s.rx_bps, s.tx_pps), (20609711, 10552174320, 0));
}
