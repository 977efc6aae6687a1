//! Probing a memif server without connecting (`zmemif info`): connect to its control socket, read
//! the HELLO it sends first (name, versions, limits), optionally ask whether an interface id would
//! take a client (INIT, then ACK or a DISCONNECT with the server's reason), and leave with a
//! DISCONNECT that says why. No memory is shared and no ring is created, so the server's interface
//! goes back to waiting for a real client.
//!
//! Every way this fails is told apart ([`Problem`]), because "my link stays down" has different
//! fixes for each: nothing at that path, no permission, a file that is not a socket, a socket file
//! nobody listens on, a listener that is not memif (another socket type, or a first message that
//! is not HELLO), and a listener that says nothing in time.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Code, Error};
use crate::sock::{self, Recv, SocketAddr};
use crate::wire::{Hello, Init, Msg, VERSION};

/// Why a probe could not read a HELLO. The numbers are the C ABI's `ZMEMIF_PROBE_*`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Nothing at that path (or its directory is missing).
    Absent = 1,
    /// The socket file or a directory on its path is not accessible.
    Permission = 2,
    /// The path names something that is not a socket.
    NotSocket = 3,
    /// A socket file (or abstract name) nobody listens on.
    NotListening = 4,
    /// A listener that is not a memif server: another socket type, or a first message that is
    /// not a HELLO.
    NotMemif = 5,
    /// A listener that sent nothing before the timeout (or closed without a word).
    NoHello = 6,
}

/// What the server answered to an INIT naming an interface id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdAnswer {
    /// ACK: a client with this id (and no secret) gets past INIT.
    Accepted,
    /// DISCONNECT with the server's reason ("ID not found", "Secret required", ...).
    Refused(String),
}

/// The result of a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub hello: Hello,
    /// The answer about `id`, when one was asked.
    pub id: Option<IdAnswer>,
}

/// A failed probe: which problem, and a message that says what to do.
#[derive(Clone, Debug)]
pub struct ProbeError {
    pub problem: Problem,
    pub error: Error,
}

fn fail(problem: Problem, code: Code, message: String) -> ProbeError {
    ProbeError {
        problem,
        error: Error::new(code, message),
    }
}

/// The name our probe gives in INIT, and the reason it leaves with.
const PROBE_NAME: &[u8] = b"zmemif-info";
const LEAVE_REASON: &[u8] = b"zmemif info: probe only, disconnecting";

/// Probes the server at `addr`: reads its HELLO and, when `id` is given, asks whether that
/// interface id takes a client. Waits at most `timeout` for each answer.
pub fn probe(addr: &SocketAddr, id: Option<u32>, timeout: Duration) -> Result<Probe, ProbeError> {
    addr.check().map_err(|e| ProbeError {
        problem: Problem::Absent,
        error: e,
    })?;
    let fd = connect(addr, timeout)?;
    let first = next_message(&fd, timeout).map_err(|why| {
        fail(
            Problem::NoHello,
            Code::Timeout,
            format!("{addr} accepted the connection but {why}: not a memif server, or one that is stuck"),
        )
    })?;
    let hello = match first {
        Ok(Msg::Hello(h)) => h,
        Ok(m) => {
            return Err(fail(
                Problem::NotMemif,
                Code::Io,
                format!(
                    "{addr} is not a memif server: its first message is {} where a memif server sends HELLO",
                    m.type_name()
                ),
            ))
        }
        Err(why) => {
            return Err(fail(
                Problem::NotMemif,
                Code::Io,
                format!("{addr} is not a memif server: its first message is not a memif message ({why})"),
            ))
        }
    };
    let answer = id.map(|id| ask_id(&fd, id, timeout));
    leave(&fd);
    Ok(Probe { hello, id: answer })
}

/// Connects, retrying while the listener's backlog is full (DPDK listens with a backlog of 1).
fn connect(addr: &SocketAddr, timeout: Duration) -> Result<OwnedFd, ProbeError> {
    let deadline = Instant::now() + timeout;
    loop {
        match sock::connect_to(addr) {
            Ok(fd) => return Ok(fd),
            Err(nix::Error::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(connect_error(addr, e)),
        }
    }
}

fn connect_error(addr: &SocketAddr, e: nix::Error) -> ProbeError {
    let abstract_ = matches!(addr, SocketAddr::Abstract(_));
    match e {
        nix::Error::ENOENT => fail(
            Problem::Absent,
            Code::SocketPath,
            format!(
                "no socket at {addr}: start the memif server first, or check the path (DPDK's \
                 net_memif listens on an abstract name unless given socket-abstract=no: try @NAME)"
            ),
        ),
        nix::Error::EACCES | nix::Error::EPERM => fail(
            Problem::Permission,
            Code::Permission,
            format!(
                "permission denied on {addr}: connecting needs write permission on the socket file \
                 and search permission on its directories; run as the server's user or group, or \
                 start the server with a socket mode/owner that admits you"
            ),
        ),
        nix::Error::ECONNREFUSED if abstract_ => fail(
            Problem::NotListening,
            Code::SocketPath,
            format!(
                "nobody listens on the abstract name {addr} in this network namespace: start the \
                 server, or check the name (a filesystem socket is given without the @)"
            ),
        ),
        nix::Error::ECONNREFUSED => match addr {
            SocketAddr::Path(p) => match std::fs::metadata(p) {
                Ok(m) if !m.file_type().is_socket() => fail(
                    Problem::NotSocket,
                    Code::SocketPath,
                    format!(
                        "{addr} is not a socket (a {}): give the memif server's socket path",
                        kind(&m)
                    ),
                ),
                _ => fail(
                    Problem::NotListening,
                    Code::SocketPath,
                    format!(
                        "nobody listens on {addr}: the socket file is there but its server is gone \
                         (a stale file); restart the server"
                    ),
                ),
            },
            SocketAddr::Abstract(_) => unreachable!("handled above"),
        },
        nix::Error::EPROTOTYPE => fail(
            Problem::NotMemif,
            Code::Io,
            format!(
                "{addr} is not a memif server: it is a Unix socket of another type (memif uses \
                 SOCK_SEQPACKET; this one is a stream or datagram socket)"
            ),
        ),
        nix::Error::ENOTDIR => fail(
            Problem::Absent,
            Code::SocketPath,
            format!("no socket at {addr}: a component of the path is not a directory"),
        ),
        e => fail(
            Problem::NotListening,
            Code::Io,
            format!("cannot connect to {addr}: {}", e.desc()),
        ),
    }
}

fn kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else if t.is_fifo() {
        "FIFO"
    } else {
        "special file"
    }
}

/// Waits for the next message. `Err` says why none came; `Ok(Err)` carries a message that is
/// not memif (wrong size or unknown type).
fn next_message(fd: &OwnedFd, timeout: Duration) -> Result<Result<Msg, String>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match sock::recv(fd) {
            Recv::Msg(Ok(bytes), _fd) => {
                return Ok(Msg::decode(&bytes).map_err(|e| e.to_string()));
            }
            Recv::Msg(Err(why), _) => return Ok(Err(why)),
            Recv::Closed(why) => return Err(format!("then closed it without a HELLO ({why})")),
            Recv::WouldBlock => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("sent nothing within {} ms", timeout.as_millis()));
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(format!("poll failed: {}", e.desc())),
        }
    }
}

/// Sends INIT for `id` (no secret, Ethernet) and reads the answer.
fn ask_id(fd: &OwnedFd, id: u32, timeout: Duration) -> IdAnswer {
    let init = Msg::Init(Init {
        version: VERSION,
        id,
        mode: 0,
        secret: Vec::new(),
        name: PROBE_NAME.to_vec(),
    });
    if let Err(why) = sock::send(fd, &init, None) {
        return IdAnswer::Refused(format!("could not send INIT: {why}"));
    }
    match next_message(fd, timeout) {
        Ok(Ok(Msg::Ack)) => IdAnswer::Accepted,
        Ok(Ok(Msg::Disconnect { reason, .. })) => {
            IdAnswer::Refused(String::from_utf8_lossy(&reason).into_owned())
        }
        Ok(Ok(m)) => IdAnswer::Refused(format!("unexpected answer {} to INIT", m.type_name())),
        Ok(Err(why)) => IdAnswer::Refused(format!("unreadable answer to INIT: {why}")),
        Err(why) => IdAnswer::Refused(format!("no answer to INIT: the server {why}")),
    }
}

/// Says goodbye: a DISCONNECT with our reason, then the socket closes when `fd` drops.
fn leave(fd: &OwnedFd) {
    let bye = Msg::Disconnect {
        code: 0,
        reason: LEAVE_REASON.to_vec(),
    };
    // The server may already have closed (after refusing an id): nothing to tell it then.
    let _ = sock::send(fd, &bye, None);
}

/// Whether a HELLO's version range admits ours (2.0).
pub fn compatible(h: &Hello) -> bool {
    h.min_version <= VERSION && VERSION <= h.max_version
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sock::Perms;
    use std::os::unix::net::UnixListener;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("zmemif-probe-{}-{name}", std::process::id()))
    }

    #[test]
    fn absent_path_and_name() {
        let p = tmp("absent");
        let e = probe(&SocketAddr::Path(p), None, Duration::from_millis(200)).unwrap_err();
        assert_eq!(e.problem, Problem::Absent, "{}", e.error.message);
        let a = SocketAddr::Abstract(format!("zmemif-probe-absent-{}", std::process::id()).into());
        let e = probe(&a, None, Duration::from_millis(200)).unwrap_err();
        assert_eq!(e.problem, Problem::NotListening, "{}", e.error.message);
    }

    #[test]
    fn regular_file_and_stream_socket() {
        let f = tmp("file");
        std::fs::write(&f, b"x").unwrap();
        let e = probe(
            &SocketAddr::Path(f.clone()),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::NotSocket, "{}", e.error.message);
        std::fs::remove_file(&f).unwrap();

        let s = tmp("stream");
        let _l = UnixListener::bind(&s).unwrap();
        let e = probe(
            &SocketAddr::Path(s.clone()),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::NotMemif, "{}", e.error.message);
        std::fs::remove_file(&s).unwrap();
    }

    #[test]
    fn silent_seqpacket_listener() {
        let s = SocketAddr::Path(tmp("silent"));
        let _l = sock::listen_on(&s, &Perms::default()).unwrap();
        let t = Instant::now();
        let e = probe(&s, None, Duration::from_millis(200)).unwrap_err();
        assert_eq!(e.problem, Problem::NoHello, "{}", e.error.message);
        assert!(t.elapsed() < Duration::from_secs(2));
        if let SocketAddr::Path(p) = &s {
            let _ = std::fs::remove_file(p);
        }
    }
}
