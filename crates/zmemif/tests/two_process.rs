//! Server and client in separate processes: this test process on one side, `zmemif-peer` on the other.

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{num, pattern, pattern_ok, recv_packets, send_blocking, tmp_sock, Peer};
use zmemif::{Code, Perms, Port, PortConfig, Role, Socket, SocketAddr, Status};

const T: Duration = Duration::from_secs(10);

fn socket(path: &str) -> Socket {
    Socket::new(SocketAddr::parse(path).unwrap(), Perms::default()).unwrap()
}

fn port(s: &Socket, role: Role, f: impl FnOnce(&mut PortConfig)) -> Port {
    let mut cfg = PortConfig {
        role,
        name: "zmemif-test".into(),
        reconnect: Duration::from_millis(100),
        ..PortConfig::default()
    };
    f(&mut cfg);
    Port::new(s, cfg).unwrap()
}

#[test]
fn handshake_both_roles_with_names() {
    // We serve, the peer connects.
    let path = tmp_sock("hs");
    let s = socket(&path);
    let p = port(&s, Role::Server, |c| c.id = 3);
    let mut peer = Peer::run(&path, "client", "idle", &["--id", "3"]);
    let line = peer.wait_event("connected", T);
    assert!(line.contains("\"peer\":\"zmemif-test\""), "{line}");
    p.wait_connected(Some(T)).unwrap();
    let info = p.info();
    assert_eq!(info.peer_name, "zmemif-peer");
    assert_eq!(
        (info.num_c2s, info.num_s2c, info.log2_ring_size),
        (1, 1, 10)
    );
    drop(p);
    let done = peer.wait_event("done", T);
    assert!(done.contains("disconnected"), "{done}");

    // The peer serves on an abstract name, we connect.
    let name = format!("@zmemif-it-hs-{}", std::process::id());
    let mut peer = Peer::run(&name, "server", "idle", &["--id", "5"]);
    let s = socket(&name);
    let p = port(&s, Role::Client, |c| c.id = 5);
    p.wait_connected(Some(T)).unwrap();
    peer.wait_event("connected", T);
    assert_eq!(p.status(), Status::Connected);
}

#[test]
fn four_c2s_two_s2c_every_queue_carries_traffic() {
    let path = tmp_sock("mq");
    let s = socket(&path);
    let p = port(&s, Role::Server, |c| {
        c.num_c2s = 4;
        c.num_s2c = 2;
    });
    let mut peer = Peer::run(
        &path,
        "client",
        "both",
        &[
            "--c2s",
            "4",
            "--s2c",
            "2",
            "--count",
            "4000",
            "--check",
            "--seconds",
            "4",
        ],
    );
    p.wait_connected(Some(T)).unwrap();
    let info = p.info();
    assert_eq!((info.num_c2s, info.num_s2c), (4, 2));
    let mut rx: Vec<_> = (0..4).map(|q| p.rx_queue(q).unwrap()).collect();
    let mut tx: Vec<_> = (0..2).map(|q| p.tx_queue(q).unwrap()).collect();
    for (q, t) in tx.iter_mut().enumerate() {
        for i in 0..500u64 {
            send_blocking(t, &pattern(q as u64 * 1000 + i, 64 + i as usize));
        }
    }
    // The peer spreads 4000 packets over its 4 tx queues, burst by burst.
    let mut per_queue = [0usize; 4];
    let deadline = std::time::Instant::now() + T;
    while per_queue.iter().sum::<usize>() < 4000 && std::time::Instant::now() < deadline {
        for (q, r) in rx.iter_mut().enumerate() {
            let got = recv_packets(r, 1, Duration::from_millis(5));
            assert!(
                got.iter().all(|p| pattern_ok(p)),
                "payload on c2s queue {q}"
            );
            per_queue[q] += got.len();
        }
    }
    let total: usize = per_queue.iter().sum();
    assert!(
        per_queue.iter().all(|&n| n >= 900),
        "every c2s queue carries traffic: {per_queue:?}"
    );
    assert_eq!(total, 4000);
    // Give the last bursts back: the peer waits for its rings to drain before it reports.
    for r in rx.iter_mut() {
        r.release().unwrap();
    }
    let done = peer.wait_event("done", T);
    assert!(done.contains("\"per_rx\":[500, 500]"), "{done}");
    assert_eq!(num(&done, "bad_payload"), 0);
    assert_eq!(num(&done, "bad_descs"), 0);
    for (q, r) in rx.iter().enumerate() {
        assert_eq!(r.stats().packets as usize, per_queue[q]);
        assert_eq!(r.stats().bad_descs, 0);
    }
}

#[test]
fn chained_9000_and_65535_byte_packets_intact_both_ways() {
    // The peer serves and echoes; we are the client (our 2048-byte buffers set the chain length).
    let path = tmp_sock("chain");
    let mut peer = Peer::run(&path, "server", "echo", &["--check", "--seconds", "5"]);
    std::thread::sleep(Duration::from_millis(200));
    let s = socket(&path);
    let p = port(&s, Role::Client, |c| c.buffer_size = 2048);
    p.wait_connected(Some(T)).unwrap();
    let mut tx = p.tx_queue(0).unwrap();
    let mut rx = p.rx_queue(0).unwrap();
    let sizes = [9000usize, 65535, 2048, 2049, 1, 9000, 65535];
    for (i, &n) in sizes.iter().enumerate() {
        send_blocking(&mut tx, &pattern(i as u64, n));
    }
    let back = recv_packets(&mut rx, sizes.len(), T);
    assert_eq!(back.len(), sizes.len());
    for (i, &n) in sizes.iter().enumerate() {
        assert_eq!(back[i], pattern(i as u64, n), "packet {i} of {n} bytes");
    }
    drop(p);
    let done = peer.wait_event("done", T);
    assert_eq!(num(&done, "bad_payload"), 0);
    assert_eq!(num(&done, "rx"), sizes.len() as u64);
    assert_eq!(num(&done, "rx_bytes"), sizes.iter().sum::<usize>() as u64);
}

#[test]
fn secret_mismatch_and_unknown_id_are_refused_with_reasons() {
    let path = tmp_sock("secret");
    let s = socket(&path);
    let p = port(&s, Role::Server, |c| {
        c.id = 7;
        c.secret = Some(b"s3cret".to_vec());
    });
    let cases: [(&[&str], &str); 4] = [
        (&["--id", "7", "--secret", "wrong"], "Incorrect secret"),
        (&["--id", "7"], "Secret required"),
        (&["--id", "8", "--secret", "s3cret"], "ID not found"),
        (
            &["--id", "7", "--secret", "s3cret", "--mode", "ip"],
            "Mode mismatch",
        ),
    ];
    for (args, reason) in cases {
        let mut peer = Peer::run(
            &path,
            "client",
            "idle",
            &[&["--connect-timeout", "5"], args].concat(),
        );
        let line = peer.wait_event("connected", T);
        assert!(
            line.contains("PEER_REJECTED") && line.contains(reason),
            "{reason}: {line}"
        );
        assert_eq!(peer.wait_exit(T), 1);
    }
    assert_eq!(p.info().rejects, 3); // the unknown id belongs to no port
                                     // The right secret still gets in.
    let mut peer = Peer::run(
        &path,
        "client",
        "idle",
        &["--id", "7", "--secret", "s3cret"],
    );
    peer.wait_event("connected", T);
    p.wait_connected(Some(T)).unwrap();
}

#[test]
fn client_reconnects_after_its_server_restarts() {
    let path = tmp_sock("restart");
    let mut a = Peer::run(&path, "server", "idle", &[]);
    let s = socket(&path);
    let p = port(&s, Role::Client, |_| {});
    p.wait_connected(Some(T)).unwrap();
    a.wait_event("connected", T);
    assert_eq!(p.info().generation, 1);
    let mut tx = p.tx_queue(0).unwrap();
    a.sigkill();
    // The client notices, and keeps trying while nobody listens.
    let deadline = std::time::Instant::now() + T;
    while p.status() == Status::Connected {
        assert!(
            std::time::Instant::now() < deadline,
            "disconnect not noticed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(tx.send(b"lost").unwrap_err().code, Code::NotConnected);
    std::thread::sleep(Duration::from_millis(300));
    // A new server on the same (stale) path.
    let mut b = Peer::run(&path, "server", "sink", &["--check", "--seconds", "2"]);
    p.wait_connected(Some(T)).unwrap();
    assert_eq!(p.info().generation, 2);
    b.wait_event("connected", T);
    for i in 0..100 {
        send_blocking(&mut tx, &pattern(i, 100));
    }
    let done = b.wait_event("done", T);
    assert_eq!(num(&done, "rx"), 100);
    assert_eq!(num(&done, "bad_payload"), 0);
}

#[test]
fn server_survives_a_client_killed_mid_burst() {
    let path = tmp_sock("kill");
    let s = socket(&path);
    let p = port(&s, Role::Server, |_| {});
    let mut rx = p.rx_queue(0).unwrap();
    let mut a = Peer::run(&path, "client", "source", &["--check"]);
    p.wait_connected(Some(T)).unwrap();
    let got = recv_packets(&mut rx, 20_000, T);
    assert!(got.len() >= 20_000);
    a.sigkill();
    // Drain what was published before the kill, then the queue reports the disconnect.
    let mut descs = vec![zmemif::Desc::default(); 64];
    let deadline = std::time::Instant::now() + T;
    loop {
        match rx.rx_burst(&mut descs) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code, Code::NotConnected);
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline);
    }
    assert_eq!(p.status(), Status::Disconnected);
    assert!(!p.info().reason.is_empty());
    assert_eq!(rx.stats().bad_descs, 0);
    // A new client is served as before.
    let mut b = Peer::run(&path, "client", "source", &["--check", "--count", "1000"]);
    p.wait_connected(Some(T)).unwrap();
    let got = recv_packets(&mut rx, 1000, T);
    assert_eq!(got.len(), 1000);
    assert!(got.iter().all(|p| pattern_ok(p)));
    assert_eq!(p.info().generation, 2);
    b.wait_event("done", T);
}

#[test]
fn a_client_asking_for_more_queues_gets_the_servers_counts() {
    // We serve 1 c2s + 2 s2c; the peer asks for 4 + 4 and uses min(own, HELLO's limits).
    let path = tmp_sock("clamp");
    let s = socket(&path);
    let p = port(&s, Role::Server, |c| {
        c.num_c2s = 1;
        c.num_s2c = 2;
    });
    let mut peer = Peer::run(&path, "client", "idle", &["--c2s", "4", "--s2c", "4"]);
    let line = peer.wait_event("connected", T);
    assert!(line.contains("\"c2s\":1,\"s2c\":2"), "{line}");
    p.wait_connected(Some(T)).unwrap();
    assert_eq!((p.info().num_c2s, p.info().num_s2c), (1, 2));
    drop(p);
    peer.wait_event("done", T);

    // The peer serves 2 + 1; we ask for 4 + 4 and get 2 + 1. A queue beyond that says both counts.
    let name = format!("@zmemif-it-clamp-{}", std::process::id());
    let mut peer = Peer::run(&name, "server", "idle", &["--c2s", "2", "--s2c", "1"]);
    let s = socket(&name);
    let p = port(&s, Role::Client, |c| {
        c.num_c2s = 4;
        c.num_s2c = 4;
    });
    p.wait_connected(Some(T)).unwrap();
    peer.wait_event("connected", T);
    assert_eq!((p.info().num_c2s, p.info().num_s2c), (2, 1));
    let mut rx = p.rx_queue(3).unwrap();
    let e = rx.rx_burst(&mut [zmemif::Desc::default(); 4]).unwrap_err();
    assert_eq!(e.code, Code::QueueRange);
    assert!(
        e.message
            .contains("this port has 4 server-to-client queue(s), the connection 1"),
        "{}",
        e.message
    );
}

#[test]
fn a_client_too_large_for_its_interface_is_refused_naming_both_counts() {
    // Two server interfaces with different counts on one socket: HELLO can carry only the larger
    // (it comes before INIT names the interface), so the smaller one refuses at once, with words.
    let path = tmp_sock("toomany");
    let s = socket(&path);
    let small = port(&s, Role::Server, |c| c.id = 0);
    let _big = port(&s, Role::Server, |c| {
        c.id = 1;
        c.num_c2s = 4;
        c.num_s2c = 4;
    });
    let mut peer = Peer::run(
        &path,
        "client",
        "idle",
        &["--id", "0", "--c2s", "3", "--connect-timeout", "5"],
    );
    let t0 = std::time::Instant::now();
    let line = peer.wait_event("connected", T);
    assert!(
        line.contains("PEER_REJECTED")
            && line.contains("Too many queues: client 3+1, interface 0 has 1+1"),
        "{line}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "refused at once: {:?}",
        t0.elapsed()
    );
    assert_eq!(peer.wait_exit(T), 1);
    assert_eq!(small.info().rejects, 1);
    assert!(
        small.info().reason.contains("Too many queues"),
        "{}",
        small.info().reason
    );
}

/// A client's TIMEOUT says why it could not connect.
fn client_timeout_message(path: &str) -> String {
    let s = socket(path);
    let p = port(&s, Role::Client, |_| ());
    let e = p
        .wait_connected(Some(Duration::from_millis(600)))
        .unwrap_err();
    assert_eq!(e.code, Code::Timeout);
    e.message
}

#[test]
fn a_client_timeout_names_the_last_reason() {
    let m = client_timeout_message("/nonexistent-zmemif-dir/x.sock");
    assert!(
        m.contains("no such directory /nonexistent-zmemif-dir"),
        "{m}"
    );

    let path = tmp_sock("noserver");
    let _ = std::fs::remove_file(&path);
    let m = client_timeout_message(&path);
    assert!(
        m.contains("no such file: no server has created the socket yet"),
        "{m}"
    );

    // A socket file nobody listens on (a server that died without removing it).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let m = client_timeout_message(&path);
    assert!(m.contains("connection refused"), "{m}");
    std::fs::remove_file(&path).unwrap();

    let m = client_timeout_message(&format!("@zmemif-it-none-{}", std::process::id()));
    assert!(
        m.contains("connection refused: no server listens on this abstract name"),
        "{m}"
    );
}

#[test]
fn a_client_timeout_names_permission_denied() {
    // Root passes every permission check: run the peer as nobody against our 0660 socket.
    assert!(
        nix::unistd::geteuid().is_root() || std::env::var_os("CI").is_none(),
        "CI runs as root"
    );
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: cannot switch to nobody (checked under CI as root)");
        return;
    }
    let path = tmp_sock("perm");
    let s = socket(&path);
    let _p = port(&s, Role::Server, |_| ());
    // A copy of the peer nobody can execute whatever the checkout's permissions.
    let dir = std::env::temp_dir().join(format!("zmemif-it-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("zmemif-peer");
    std::fs::copy(env!("CARGO_BIN_EXE_zmemif-peer"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in [&dir, &bin] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&bin)
        .args(["--socket", &path, "--role", "client", "--action", "idle"])
        .args(["--connect-timeout", "0.6"])
        .output()
        .expect("setpriv (util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("TIMEOUT") && stdout.contains("permission denied"),
        "{stdout}"
    );
}

/// A refusal that lands before `wait_connected` begins is reported by it at once, not missed
/// (which left the client waiting for its next attempt, refused again: two refusals counted).
#[test]
fn a_refusal_before_the_wait_is_reported_by_the_wait() {
    let path = tmp_sock("early-refusal");
    let s = socket(&path);
    let server = port(&s, Role::Server, |c| c.secret = Some(b"right".to_vec()));
    let c = socket(&path);
    let client = port(&c, Role::Client, |c| {
        c.secret = Some(b"wrong".to_vec());
        c.reconnect = Duration::from_secs(2);
    });
    let t0 = Instant::now();
    while client.info().rejects == 0 {
        assert!(t0.elapsed() < T, "the client was never refused");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let err = client.wait_connected(Some(T)).unwrap_err();
    assert_eq!(err.code, Code::PeerRejected, "{err}");
    assert!(err.to_string().contains("Incorrect secret"), "{err}");
    // Well before the client's next attempt (2 s later): the refusal was already there.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(server.info().rejects, 1);
}
