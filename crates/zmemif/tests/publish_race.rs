//! Servers started at once on one filesystem path: exactly one publishes its socket, the others
//! get ADDRESS_IN_USE with a message that says what to do once, whether the path was free or held
//! a stale socket from a dead server. Both as threads of one process and as separate processes.

#[path = "support/peer.rs"]
mod peer;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use peer::{tmp_sock, Peer};
use zmemif::{Code, Perms, Port, PortConfig, Role, Socket, SocketAddr};

const T: Duration = Duration::from_secs(20);

fn server(path: &str) -> zmemif::Result<(Socket, Port)> {
    let s = Socket::new(SocketAddr::parse(path).unwrap(), Perms::default())?;
    let p = Port::new(
        &s,
        PortConfig {
            role: Role::Server,
            ..PortConfig::default()
        },
    )?;
    Ok((s, p))
}

/// Leaves a socket file at `path` with nobody listening (a server that died without cleaning up).
fn stale(path: &str) {
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    drop(l);
    assert!(std::fs::symlink_metadata(path).is_ok());
}

fn check_loser(e: &zmemif::Error, path: &str) {
    assert_eq!(e.code, Code::AddressInUse, "{e:?}");
    assert_eq!(
        e.message,
        format!("a live memif server already listens on {path}: stop it or choose another path")
    );
}

#[test]
fn of_many_servers_started_at_once_in_one_process_exactly_one_wins() {
    const N: usize = 12;
    for round in 0..20 {
        let path = tmp_sock(&format!("core-race-{round}"));
        if round % 2 == 1 {
            stale(&path);
        }
        let go = Arc::new(Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (go, path) = (go.clone(), path.clone());
                std::thread::spawn(move || {
                    go.wait();
                    server(&path)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one server wins");
        for r in &results {
            if let Err(e) = r {
                check_loser(e, &path);
            }
        }
        // The winner is the one reachable at the path.
        let cs = Socket::new(SocketAddr::parse(&path).unwrap(), Perms::default()).unwrap();
        let c = Port::new(&cs, PortConfig::default()).unwrap();
        c.wait_connected(Some(T)).unwrap();
        winners[0].1.wait_connected(Some(T)).unwrap();
    }
}

#[test]
fn of_many_server_processes_started_at_once_exactly_one_wins() {
    const N: usize = 6;
    for round in 0..4 {
        let path = tmp_sock(&format!("core-race-proc-{round}"));
        if round % 2 == 1 {
            stale(&path);
        }
        let mut peers: Vec<Peer> = (0..N)
            .map(|_| Peer::run(&path, "server", "idle", &["--connect-timeout", "30"]))
            .collect();
        // Each loser prints an error line and exits 1; the winner waits for a client. The losers
        // exit when they get to it (many processes starting at once on a loaded machine may
        // take seconds): wait until N-1 have exited, whichever they are.
        let mut exited: Vec<Option<i32>> = vec![None; N];
        let deadline = Instant::now() + T;
        while exited.iter().flatten().count() < N - 1 {
            assert!(
                Instant::now() < deadline,
                "round {round}: {} of {N} servers exited within {T:?}, {} should (the losers); \
                 exit codes: {exited:?}",
                exited.iter().flatten().count(),
                N - 1
            );
            std::thread::sleep(Duration::from_millis(10));
            for (e, p) in exited.iter_mut().zip(peers.iter_mut()) {
                if e.is_none() {
                    *e = p.try_exit(Duration::ZERO);
                }
            }
        }
        let mut losers = 0;
        let mut alive = Vec::new();
        for (i, p) in peers.iter_mut().enumerate() {
            match exited[i] {
                Some(code) => {
                    assert_eq!(code, 1, "round {round}: peer {i}");
                    let l = p.wait_event("error", T);
                    assert!(l.contains("\"code\":\"ADDRESS_IN_USE\""), "{l}");
                    assert_eq!(
                        l.matches("stop it or choose another path").count(),
                        1,
                        "the hint once: {l}"
                    );
                    losers += 1;
                }
                None => alive.push(i),
            }
        }
        assert_eq!(alive.len(), 1, "round {round}: exactly one server lives");
        assert_eq!(losers, N - 1);
        let cs = Socket::new(SocketAddr::parse(&path).unwrap(), Perms::default()).unwrap();
        let c = Port::new(&cs, PortConfig::default()).unwrap();
        c.wait_connected(Some(T)).unwrap();
        peers[alive[0]].wait_event("connected", T);
    }
}
