//! Who may connect: a peer running as a second uid (`setpriv`), refused or accepted by a server's
//! allow-lists on both socket kinds; a client checking its server's uid; the warning for an
//! unguarded abstract socket and `require_secret`. Needs root (for `setpriv`); under CI=true a
//! missing prerequisite fails instead of skipping.

#[path = "support/peer.rs"]
mod peer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peer::Peer;
use zmemif::{Code, Event, PeerCred, Perms, Port, PortConfig, Role, Socket, SocketAddr};

const T: Duration = Duration::from_secs(10);
/// The second user: a uid and gid with no passwd entry (setpriv needs none).
const UID: u32 = 64_715;
const GID: u32 = 64_716;

fn second_uid_available() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && setpriv {
        return true;
    }
    let why = format!("needs root and setpriv (root: {root}, setpriv: {setpriv})");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: {why}; run the tests as root with util-linux installed"
    );
    eprintln!("skipping: {why}");
    false
}

fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn abstract_name(tag: &str) -> String {
    format!("@zmemif-creds-{tag}-{}", std::process::id())
}

/// A directory removed when dropped.
struct TmpDir(std::path::PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A filesystem socket any uid may open, so that the allow-list is what decides.
fn open_path(tag: &str) -> (TmpDir, String, Perms) {
    let dir = std::env::temp_dir().join(format!("zmemif-creds-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = dir.join("memif.sock");
    (
        TmpDir(dir),
        p.to_str().unwrap().to_string(),
        Perms {
            mode: 0o666,
            ..Perms::default()
        },
    )
}

fn server(
    addr: &str,
    perms: Perms,
    f: impl FnOnce(&mut PortConfig),
) -> (Socket, Port, Arc<Mutex<Vec<Event>>>) {
    let s = Socket::new(SocketAddr::parse(addr).unwrap(), perms).unwrap();
    let mut cfg = PortConfig {
        role: Role::Server,
        name: "zmemif-creds".into(),
        ..PortConfig::default()
    };
    f(&mut cfg);
    let p = Port::new(&s, cfg).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    p.set_callback(Some(Arc::new(move |ev| e.lock().unwrap().push(ev))));
    (s, p, events)
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + T;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "no {what} within {T:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An idle `zmemif-peer` client of `addr`, running as uid `UID`.
fn client_as_uid(addr: &str) -> Peer {
    Peer::run_as(
        UID,
        GID,
        addr,
        "client",
        "idle",
        &["--connect-timeout", "10"],
    )
}

/// The allow-list refuses the second uid: the peer is told why, we see who it was.
fn refused(addr: &str, perms: Perms) {
    let (_s, port, events) = server(addr, perms, |c| c.allow_uids = vec![me()]);
    let mut peer = client_as_uid(addr);
    let line = peer.wait_event("connected", T);
    let reason = format!("uid {UID} not allowed (allowed: {})", me());
    assert!(line.contains("\"event\":\"error\""), "{line}");
    assert!(
        line.contains("PEER_REJECTED") && line.contains(&reason),
        "{line}"
    );
    let rejected = wait_for("rejected event", || {
        events.lock().unwrap().iter().find_map(|e| match e {
            Event::Rejected { peer, .. } => Some(*peer),
            _ => None,
        })
    });
    let want = PeerCred {
        pid: peer.pid() as u32,
        uid: UID,
        gid: GID,
    };
    assert_eq!(rejected, Some(want));
    let info = port.info();
    assert_eq!(info.reason, reason);
    assert_eq!(info.rejected_peer, Some(want));
    assert_eq!(info.peer, None);
    assert_eq!(info.connects, 0);
}

#[test]
fn allow_list_refuses_another_uid_on_an_abstract_socket() {
    if second_uid_available() {
        refused(&abstract_name("refuse"), Perms::default());
    }
}

#[test]
fn allow_list_refuses_another_uid_on_a_filesystem_socket() {
    if second_uid_available() {
        let (_dir, path, perms) = open_path("refuse");
        refused(&path, perms);
    }
}

#[test]
fn allowed_uid_or_gid_connects_and_shows_in_info() {
    if !second_uid_available() {
        return;
    }
    for (tag, uids, gids) in [
        ("uid", vec![me(), UID], vec![]),
        ("gid", vec![me()], vec![GID]),
    ] {
        let (_dir, path, perms) = open_path(&format!("allow-{tag}"));
        for addr in [abstract_name(&format!("allow-{tag}")), path] {
            let (_s, port, _events) = server(&addr, perms, |c| {
                c.allow_uids = uids.clone();
                c.allow_gids = gids.clone();
            });
            let mut peer = client_as_uid(&addr);
            let line = peer.wait_event("connected", T);
            assert!(line.contains("\"event\":\"connected\""), "{addr}: {line}");
            port.wait_connected(Some(T)).unwrap();
            let info = port.info();
            assert_eq!(
                info.peer,
                Some(PeerCred {
                    pid: peer.pid() as u32,
                    uid: UID,
                    gid: GID
                }),
                "{addr}"
            );
            assert_eq!(info.rejects, 0);
        }
    }
}

#[test]
fn client_checks_the_server_uid() {
    if !second_uid_available() {
        return;
    }
    let addr = abstract_name("server-uid");
    let mut server = Peer::run_as(UID, GID, &addr, "server", "idle", &["--secret", "s3cret"]);
    let s = Socket::new(SocketAddr::parse(&addr).unwrap(), Perms::default()).unwrap();
    let client = |expect: u32| {
        Port::new(
            &s,
            PortConfig {
                role: Role::Client,
                secret: Some(b"s3cret".to_vec()),
                expect_server_uid: Some(expect),
                reconnect: Duration::from_millis(100),
                ..PortConfig::default()
            },
        )
        .unwrap()
    };
    // The server runs as another uid: refused before the secret or any memory is sent.
    let port = client(me());
    let e = port.wait_connected(Some(T)).unwrap_err();
    assert_eq!(e.code, Code::PeerRejected, "{e}");
    assert!(
        e.message.contains(&format!(
            "runs as uid {UID} (pid {}), not the expected uid {}",
            server.pid(),
            me()
        )),
        "{e}"
    );
    let info = port.info();
    assert_eq!(
        info.rejected_peer.map(|p| (p.uid, p.pid)),
        Some((UID, server.pid() as u32))
    );
    assert_eq!(info.connects, 0);
    drop(port);
    // Expecting that uid, the same server is accepted.
    let port = client(UID);
    port.wait_connected(Some(T)).unwrap();
    assert_eq!(port.info().peer.map(|p| p.uid), Some(UID));
    server.wait_event("connected", T);
}

#[test]
fn require_secret_refuses_to_start_an_unguarded_abstract_server() {
    let s = Socket::new(
        SocketAddr::parse(&abstract_name("require")).unwrap(),
        Perms::default(),
    )
    .unwrap();
    let cfg = PortConfig {
        role: Role::Server,
        require_secret: true,
        ..PortConfig::default()
    };
    let e = Port::new(&s, cfg.clone()).err().expect("refused");
    assert_eq!(e.code, Code::InvalidArgument);
    assert!(
        e.message.contains("any process in this network namespace"),
        "{e}"
    );
    assert!(e.message.contains("allowUids"), "{e}");
    // Guarded by a secret or an allow-list, it starts.
    Port::new(
        &s,
        PortConfig {
            secret: Some(b"x".to_vec()),
            ..cfg.clone()
        },
    )
    .unwrap();
    Port::new(
        &s,
        PortConfig {
            id: 1,
            allow_gids: vec![0],
            ..cfg
        },
    )
    .unwrap();
}

/// The child half of `unguarded_abstract_server_warns_once` (does nothing in a normal run).
#[test]
fn child_unguarded_servers() {
    let Ok(warn_addr) = std::env::var("ZMEMIF_CREDS_CHILD") else {
        return;
    };
    let mk = |addr: &str| Socket::new(SocketAddr::parse(addr).unwrap(), Perms::default()).unwrap();
    let server = |id: u32| PortConfig {
        id,
        role: Role::Server,
        ..PortConfig::default()
    };
    // Two unguarded ports on one abstract socket: one warning.
    let a = mk(&warn_addr);
    let _p0 = Port::new(&a, server(0)).unwrap();
    let _p1 = Port::new(&a, server(1)).unwrap();
    // Guarded ones, and a filesystem socket: none.
    let b = mk(&abstract_name("quiet"));
    let _q0 = Port::new(
        &b,
        PortConfig {
            secret: Some(b"x".to_vec()),
            ..server(0)
        },
    )
    .unwrap();
    let _q1 = Port::new(
        &b,
        PortConfig {
            allow_uids: vec![0],
            ..server(1)
        },
    )
    .unwrap();
    let (_dir, path, perms) = open_path("quiet");
    let c = Socket::new(SocketAddr::parse(&path).unwrap(), perms).unwrap();
    let _r0 = Port::new(&c, server(0)).unwrap();
}

#[test]
fn unguarded_abstract_server_warns_once() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_unguarded_servers",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ZMEMIF_CREDS_CHILD", abstract_name("warn"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("zmemif: warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    let w = warnings[0];
    assert!(w.contains(&abstract_name("warn")), "{w}");
    assert!(
        w.contains("any process in this network namespace can connect")
            && w.contains("receive this interface's packets"),
        "{w}"
    );
    assert!(w.contains("set a secret, or allowUids/allowGids"), "{w}");
}
