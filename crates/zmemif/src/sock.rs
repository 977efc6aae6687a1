//! The control socket, OS side: `AF_UNIX` `SOCK_SEQPACKET` addresses (filesystem or abstract),
//! a listener with owner/group/mode, stale-file replacement, and 128-byte messages with an fd attached
//! through `SCM_RIGHTS`.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    self, accept4, bind, connect, listen, recvmsg, sendmsg, setsockopt, sockopt, AddressFamily,
    Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
};

use crate::creds::PeerCred;
use crate::error::{Code, Error, Result};
use crate::wire::{Msg, MSG_SIZE};

/// Where the control socket lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SocketAddr {
    /// A filesystem path (DPDK `socket-abstract=no`, VPP and libmemif defaults).
    Path(PathBuf),
    /// An abstract-namespace name, without the leading NUL (DPDK's default; per network namespace).
    Abstract(Vec<u8>),
}

/// `sun_path` is 108 bytes; a filesystem path needs its terminating NUL, an abstract name its
/// leading one.
const SUN_PATH_MAX: usize = 107;

impl SocketAddr {
    /// Parses `@name` or `abstract:name` as an abstract name and anything else as a path.
    pub fn parse(s: &str) -> Result<SocketAddr> {
        let a = if let Some(n) = s.strip_prefix('@').or_else(|| s.strip_prefix("abstract:")) {
            SocketAddr::Abstract(n.as_bytes().to_vec())
        } else {
            SocketAddr::Path(PathBuf::from(s))
        };
        a.check()?;
        Ok(a)
    }

    pub fn check(&self) -> Result<()> {
        let (len, what) = match self {
            SocketAddr::Path(p) => (p.as_os_str().len(), "socket path"),
            SocketAddr::Abstract(n) => (n.len(), "abstract socket name"),
        };
        if len == 0 {
            return Err(Error::new(Code::SocketPath, format!("the {what} is empty")));
        }
        if len > SUN_PATH_MAX {
            return Err(Error::new(
                Code::SocketPath,
                format!("the {what} is {len} bytes; at most {SUN_PATH_MAX} fit: use a shorter one"),
            ));
        }
        Ok(())
    }

    fn unix_addr(&self) -> Result<UnixAddr> {
        let r = match self {
            SocketAddr::Path(p) => UnixAddr::new(p.as_path()),
            // Exact length (family + NUL + name), no padding: what DPDK ≥ 21.08 and libmemif use.
            SocketAddr::Abstract(n) => UnixAddr::new_abstract(n),
        };
        r.map_err(|e| Error::os(&format!("socket address {self}"), e))
    }
}

impl std::fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketAddr::Path(p) => write!(f, "{}", p.display()),
            SocketAddr::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
        }
    }
}

/// Who may connect to a filesystem listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Permission bits; connecting needs write permission. Default 0o660: owner and group only.
    pub mode: u32,
}

impl Default for Perms {
    fn default() -> Self {
        Perms {
            uid: None,
            gid: None,
            mode: 0o660,
        }
    }
}

fn new_socket() -> Result<OwnedFd> {
    socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| Error::os("creating a unix socket", e))
}

/// Starts connecting to a server. `Err` carries the raw errno: ENOENT / ECONNREFUSED mean "no
/// server yet" to a reconnecting client.
pub fn connect_to(addr: &SocketAddr) -> std::result::Result<OwnedFd, nix::Error> {
    let fd = new_socket().map_err(|_| nix::Error::EMFILE)?;
    let ua = addr.unix_addr().map_err(|_| nix::Error::EINVAL)?;
    match connect(fd.as_raw_fd(), &ua) {
        Ok(()) => Ok(fd),
        Err(e) => Err(e),
    }
}

/// Creates the listening socket. A filesystem socket is bound and listening inside a private
/// directory, given its owner and mode there, and then published with `link(2)`, which fails if
/// the name exists: so it is never reachable with other permissions, and of servers started at
/// once on one path exactly one wins. A stale file left by a dead server is replaced; a live
/// server is an error.
pub fn listen_on(addr: &SocketAddr, perms: &Perms) -> Result<OwnedFd> {
    addr.check()?;
    let fd = new_socket()?;
    setsockopt(&fd, sockopt::PassCred, &true).map_err(|e| Error::os("SO_PASSCRED", e))?;
    match addr {
        SocketAddr::Abstract(_) => {
            bind(fd.as_raw_fd(), &addr.unix_addr()?).map_err(|e| match e {
                nix::Error::EADDRINUSE => Error::new(
                    Code::AddressInUse,
                    format!("a live server already owns the abstract socket {addr}: stop it or pick another name"),
                ),
                e => Error::os(&format!("binding {addr}"), e),
            })?;
            listen_now(&fd, addr)?;
        }
        SocketAddr::Path(path) => bind_path(&fd, addr, path, perms)?,
    }
    Ok(fd)
}

fn listen_now(fd: &OwnedFd, addr: &SocketAddr) -> Result<()> {
    listen(fd, Backlog::new(64).unwrap()).map_err(|e| Error::os(&format!("listening on {addr}"), e))
}

fn in_use(path: &Path) -> Error {
    Error::new(
        Code::AddressInUse,
        format!(
            "a live memif server already listens on {}: stop it or choose another path",
            path.display()
        ),
    )
}

/// Checks what is at `path`: nothing or a stale socket (`Ok`, the stale file removed), or an
/// error (a live server, or not a socket).
fn clear_stale(addr: &SocketAddr, path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => Err(Error::new(
            Code::SocketPath,
            format!(
                "{} exists and is not a socket: remove it or choose another path",
                path.display()
            ),
        )),
        Ok(_) => match connect_to(addr) {
            Ok(_) | Err(nix::Error::EAGAIN) => Err(in_use(path)),
            Err(nix::Error::ECONNREFUSED) => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(
                    &format!("removing the stale socket {}", path.display()),
                    e,
                )),
            },
            Err(e) => Err(Error::os(
                &format!("checking the existing socket {}", path.display()),
                e,
            )),
        },
        Err(_) => Ok(()),
    }
}

/// Holds an exclusive `flock` on a directory: zmemif servers publishing into one directory take
/// turns, so one cannot remove as stale the socket another just published.
struct DirLock(#[allow(dead_code)] Option<nix::fcntl::Flock<std::fs::File>>);

impl DirLock {
    fn take(dir: &Path) -> DirLock {
        // Best effort: without read access to the directory there is no lock, and `link` alone
        // still keeps two servers from both publishing when no stale file is in the way.
        let f = std::fs::File::open(dir)
            .ok()
            .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
        DirLock(f)
    }
}

fn bind_path(fd: &OwnedFd, addr: &SocketAddr, path: &Path, perms: &Perms) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::new(
            Code::SocketPath,
            format!(
                "directory {} does not exist: create it first",
                dir.display()
            ),
        ));
    }
    let _lock = DirLock::take(dir);
    clear_stale(addr, path)?;
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let private = dir.join(format!(
        ".zmemif-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let tmp = private.join("s");
    if tmp.as_os_str().len() > SUN_PATH_MAX {
        // No room for the private directory: bind in place (brief umask permissions). bind
        // fails with EADDRINUSE if the name exists, so this too publishes at most once.
        bind(
            fd.as_raw_fd(),
            &UnixAddr::new(path).map_err(|e| Error::os("address", e))?,
        )
        .map_err(|e| match e {
            nix::Error::EADDRINUSE => in_use(path),
            e => Error::os(&format!("binding {}", path.display()), e),
        })?;
        listen_now(fd, addr)?;
        return set_perms(path, perms);
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| Error::io(&format!("creating {}", private.display()), e))?;
    let result = (|| {
        bind(
            fd.as_raw_fd(),
            &UnixAddr::new(&tmp).map_err(|e| Error::os("address", e))?,
        )
        .map_err(|e| Error::os(&format!("binding in {}", dir.display()), e))?;
        // Listening before it is reachable: whoever finds the name finds a live server.
        listen_now(fd, addr)?;
        set_perms(&tmp, perms)?;
        // The check and the publication in one step: link fails if the name exists.
        std::fs::hard_link(&tmp, path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => in_use(path),
            _ => Error::io(&format!("placing the socket at {}", path.display()), e),
        })
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    result
}

fn set_perms(p: &Path, perms: &Perms) -> Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(perms.mode & 0o777))
        .map_err(|e| Error::io(&format!("chmod {}", p.display()), e))?;
    if perms.uid.is_some() || perms.gid.is_some() {
        std::os::unix::fs::chown(p, perms.uid, perms.gid)
            .map_err(|e| Error::io(&format!("chown {}", p.display()), e))?;
    }
    Ok(())
}

/// Accepts one pending connection, non-blocking. `Ok(None)`: nothing pending.
pub fn accept(listener: &OwnedFd) -> Result<Option<OwnedFd>> {
    match accept4(
        listener.as_raw_fd(),
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    ) {
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
        Err(nix::Error::EAGAIN) | Err(nix::Error::ECONNABORTED) | Err(nix::Error::EINTR) => {
            Ok(None)
        }
        Err(e) => Err(Error::os("accept", e)),
    }
}

/// The credentials of the process at the other end of a connected socket (`SO_PEERCRED`): for a
/// server, the client as it was at `connect`; for a client, the server as it was at `listen`.
pub fn peer_cred(sock: &OwnedFd) -> Option<PeerCred> {
    let c = socket::getsockopt(sock, sockopt::PeerCredentials).ok()?;
    Some(PeerCred {
        pid: u32::try_from(c.pid()).unwrap_or(0),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// Sends one message, with `fd` attached if given. Never blocks: a peer that does not read its
/// messages gets disconnected rather than stalling the control thread.
pub fn send(
    sock: &OwnedFd,
    msg: &Msg,
    fd: Option<BorrowedFd<'_>>,
) -> std::result::Result<(), String> {
    let buf = msg.encode();
    let iov = [IoSlice::new(&buf)];
    let raw: [RawFd; 1];
    let cmsgs: &[ControlMessage] = match fd {
        Some(f) => {
            raw = [f.as_raw_fd()];
            &[ControlMessage::ScmRights(&raw)]
        }
        None => &[],
    };
    match sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        cmsgs,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    ) {
        Ok(n) if n == MSG_SIZE => Ok(()),
        Ok(n) => Err(format!("short send ({n} bytes)")),
        Err(e) => Err(format!("send failed: {}", e.desc())),
    }
}

/// The result of one non-blocking receive.
pub enum Recv {
    /// A message (exactly 128 bytes, or an error string naming its size) and the fd it carried.
    Msg(std::result::Result<[u8; MSG_SIZE], String>, Option<OwnedFd>),
    WouldBlock,
    /// The peer closed the socket (or it failed).
    Closed(String),
}

/// Receives one message without blocking.
///
/// The sender's address goes into a whole `UnixAddr` (`sockaddr_un`), unused: nix's
/// `recvmsg::<()>` would pass a zero-length `msg_name` buffer, which a kernel leaves alone but
/// qemu-user 7.2 (Debian 12's qemu-user-static) does not: it copies the sender's whole address
/// there (a server's socket name), overwriting an arm64 client's stack. A `sockaddr_un` holds any
/// unix address, so no emulator writes past it.
pub fn recv(sock: &OwnedFd) -> Recv {
    let mut buf = [0u8; 2 * MSG_SIZE];
    let mut cmsg = nix::cmsg_space!([RawFd; 4], nix::sys::socket::UnixCredentials);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let r = recvmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    );
    let (bytes, flags, mut fds) = match r {
        Ok(m) => {
            let mut fds: Vec<OwnedFd> = Vec::new();
            if let Ok(cm) = m.cmsgs() {
                for c in cm {
                    if let ControlMessageOwned::ScmRights(list) = c {
                        for f in list {
                            // SAFETY: the kernel installed these descriptors for us; we take sole
                            // ownership so every one is closed, used or not.
                            fds.push(unsafe { OwnedFd::from_raw_fd(f) });
                        }
                    }
                }
            }
            (m.bytes, m.flags, fds)
        }
        Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => return Recv::WouldBlock,
        Err(e) => return Recv::Closed(format!("Connection error: {}", e.desc())),
    };
    if bytes == 0 {
        return Recv::Closed("Peer closed the control socket".into());
    }
    if flags.contains(MsgFlags::MSG_CTRUNC) {
        return Recv::Msg(Err("Control data truncated (too many fds)".into()), None);
    }
    if bytes != MSG_SIZE || flags.contains(MsgFlags::MSG_TRUNC) {
        return Recv::Msg(Err(format!("Invalid message size {bytes}")), None);
    }
    let mut m = [0u8; MSG_SIZE];
    m.copy_from_slice(&buf[..MSG_SIZE]);
    let first = if fds.is_empty() {
        None
    } else {
        Some(fds.swap_remove(0))
    };
    Recv::Msg(Ok(m), first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            SocketAddr::parse("@x").unwrap(),
            SocketAddr::Abstract(b"x".to_vec())
        );
        assert_eq!(
            SocketAddr::parse("abstract:y").unwrap(),
            SocketAddr::Abstract(b"y".to_vec())
        );
        assert_eq!(
            SocketAddr::parse("/run/memif.sock").unwrap(),
            SocketAddr::Path("/run/memif.sock".into())
        );
        let long = format!("/tmp/{}", "a".repeat(120));
        let e = SocketAddr::parse(&long).unwrap_err();
        assert_eq!(e.code, Code::SocketPath);
        assert!(e.message.contains("at most 107"), "{}", e.message);
        assert_eq!(SocketAddr::parse("").unwrap_err().code, Code::SocketPath);
        assert_eq!(SocketAddr::parse("@").unwrap_err().code, Code::SocketPath);
    }

    #[test]
    fn listener_mode_stale_and_live() {
        let dir = std::env::temp_dir().join(format!("zmemif-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.sock");
        let addr = SocketAddr::Path(p.clone());
        let l = listen_on(&addr, &Perms::default()).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // A second server on a live socket is refused.
        assert_eq!(
            listen_on(&addr, &Perms::default()).unwrap_err().code,
            Code::AddressInUse
        );
        drop(l); // the file stays behind, refusing connections: stale
        assert!(p.exists());
        let _l2 = listen_on(
            &addr,
            &Perms {
                mode: 0o600,
                ..Perms::default()
            },
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A plain file is not replaced.
        let f = dir.join("plain");
        std::fs::write(&f, b"x").unwrap();
        let e = listen_on(&SocketAddr::Path(f), &Perms::default()).unwrap_err();
        assert!(e.message.contains("not a socket"), "{}", e.message);
        let e = listen_on(
            &SocketAddr::Path(dir.join("no/such/dir.sock")),
            &Perms::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, Code::SocketPath);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn messages_carry_fds() {
        let name = format!("zmemif-test-{}", std::process::id());
        let addr = SocketAddr::Abstract(name.into_bytes());
        let l = listen_on(&addr, &Perms::default()).unwrap();
        assert_eq!(
            listen_on(&addr, &Perms::default()).unwrap_err().code,
            Code::AddressInUse
        );
        let c = connect_to(&addr).unwrap();
        let s = accept(&l).unwrap().unwrap();
        // Both ends see this process.
        let me = PeerCred {
            pid: std::process::id(),
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        };
        assert_eq!(peer_cred(&s), Some(me));
        assert_eq!(peer_cred(&c), Some(me));
        let efd = crate::conn::new_eventfd().unwrap();
        send(&c, &Msg::Ack, Some(efd.as_fd())).unwrap();
        match recv(&s) {
            Recv::Msg(Ok(m), Some(_fd)) => assert_eq!(Msg::decode(&m).unwrap(), Msg::Ack),
            _ => panic!("expected a message with an fd"),
        }
        assert!(matches!(recv(&s), Recv::WouldBlock));
        drop(c);
        assert!(matches!(recv(&s), Recv::Closed(_)));
    }
}
