//! The ports of one socket and its listener: what the socket's users change (ports added and
//! removed, the stop request) and its control thread reads (worker.rs).

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::conn::{Connection, Role};
use crate::creds;
use crate::error::{Code, Error, Result};
use crate::handle::ControlHandle;
use crate::sock::{self, Perms, SocketAddr};
use crate::state::{PortShared, Status};

#[derive(Default)]
struct Shared {
    ports: Vec<Arc<PortShared>>,
    /// Closed ports, with the reason their peers are told.
    removed: Vec<(Arc<PortShared>, &'static str)>,
    listener: Option<Arc<OwnedFd>>,
    /// (device, inode) of the socket file we created, so we unlink only our own.
    listener_file: Option<(u64, u64)>,
    stop: bool,
}

/// What the control thread works on in one turn of its loop.
pub(crate) struct Snapshot {
    pub ports: Vec<Arc<PortShared>>,
    /// Ports closed since the last turn (their links are to be ended, telling the peer the reason).
    pub removed: Vec<(Arc<PortShared>, &'static str)>,
    pub listener: Option<Arc<OwnedFd>>,
    /// The armed rx queues: (connection, queue id).
    pub armed: Vec<(Arc<Connection>, usize)>,
    pub stop: bool,
}

pub(crate) struct Registry {
    addr: SocketAddr,
    perms: Perms,
    shared: Mutex<Shared>,
    /// What queues may ask of the control thread (wake it, arm an rx queue); they hold it weakly.
    handle: Arc<ControlHandle>,
    /// The unguarded-abstract-socket warning was printed (once per socket).
    warned: AtomicBool,
}

impl Registry {
    pub fn new(addr: SocketAddr, perms: Perms) -> Result<Registry> {
        Ok(Registry {
            addr,
            perms,
            shared: Mutex::new(Shared::default()),
            handle: Arc::new(ControlHandle::new()?),
            warned: AtomicBool::new(false),
        })
    }

    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }

    pub fn handle(&self) -> &Arc<ControlHandle> {
        &self.handle
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_port(&self, p: Arc<PortShared>) -> Result<()> {
        let mut s = self.lock();
        if s.stop {
            return Err(Error::new(Code::Closed, "the socket is closed"));
        }
        if s.ports
            .iter()
            .any(|q| q.config().id == p.config().id && q.config().role == p.config().role)
        {
            return Err(Error::new(
                Code::IdInUse,
                format!(
                    "a {:?} interface with id {} already exists on {}: use another id",
                    p.config().role,
                    p.config().id,
                    self.addr
                ),
            ));
        }
        if p.config().role == Role::Server {
            let is_abstract = matches!(self.addr, SocketAddr::Abstract(_));
            if let Some(w) = creds::check_listener(&p.config().guard(), &self.addr, is_abstract)? {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    eprintln!("{w}");
                }
            }
        }
        if p.config().role == Role::Server && s.listener.is_none() {
            let fd = sock::listen_on(&self.addr, &self.perms)?;
            if let SocketAddr::Path(path) = &self.addr {
                s.listener_file = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
            }
            s.listener = Some(Arc::new(fd));
        }
        p.set_status(if p.config().role == Role::Client {
            Status::Connecting
        } else {
            Status::Disconnected
        });
        s.ports.push(p);
        drop(s);
        self.handle.wake();
        Ok(())
    }

    /// Disconnects the port (the peer is told `reason`) and waits until the control thread has
    /// done so.
    pub fn remove_port(&self, p: &Arc<PortShared>, reason: &'static str) {
        if !p.close() {
            return;
        }
        {
            let mut s = self.lock();
            s.ports.retain(|q| !Arc::ptr_eq(q, p));
            self.handle.armed().retain(|a| !Arc::ptr_eq(&a.port, p));
            if s.stop {
                drop(s);
                p.set_status(Status::Closed);
                return;
            }
            s.removed.push((p.clone(), reason));
        }
        self.handle.wake();
        if self.handle.is_control_thread() {
            return; // from inside a callback: the loop finishes it after the callback returns
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.status() != Status::Closed && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Asks the control thread to stop (it ends every link and removes the listener).
    pub fn request_stop(&self) {
        self.lock().stop = true;
        self.handle.wake();
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.lock();
        let armed = (self.handle.armed().iter())
            .map(|a| (a.conn.clone(), a.qid))
            .collect();
        Snapshot {
            ports: s.ports.clone(),
            removed: std::mem::take(&mut s.removed),
            listener: s.listener.clone(),
            armed,
            stop: s.stop,
        }
    }

    /// The control thread stops: closes the listener, removing the socket file if it is still
    /// ours (not a newer server's).
    pub fn close_listener(&self) {
        let mut s = self.lock();
        if s.listener.take().is_some() {
            if let (SocketAddr::Path(path), Some(id)) = (&self.addr, s.listener_file) {
                if std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == id) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}
