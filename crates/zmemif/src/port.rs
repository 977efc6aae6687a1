//! Public objects: `Socket` (one control socket: a listener for server ports, connections for
//! client ports) and `Port` (one memif interface). A thin layer: the socket's control thread
//! (control.rs) runs every handshake, the port's state (state.rs) is what it publishes, and the
//! queues (queue.rs) do the data path.

use std::sync::Arc;
use std::time::Duration;

use crate::config::PortConfig;
use crate::control::Control;
use crate::error::Result;
use crate::queue::{RxQueue, TxQueue};
use crate::sock::{Perms, SocketAddr};
use crate::state::{Callback, PortInfo, PortShared, Status};

/// A control socket. Ports made on it share its control thread; server ports share its listener.
/// The thread stops (and a filesystem listener is removed) when the last clone and the last port
/// made on it are gone.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

struct SocketInner {
    ctl: Control,
}

impl Drop for SocketInner {
    fn drop(&mut self) {
        self.ctl.stop();
    }
}

impl Socket {
    /// `addr`: a path, or an abstract name (`SocketAddr::parse("@name")`). `perms` apply to a
    /// filesystem listener (created with the first server port).
    pub fn new(addr: SocketAddr, perms: Perms) -> Result<Socket> {
        addr.check()?;
        Ok(Socket {
            inner: Arc::new(SocketInner {
                ctl: Control::start(addr, perms)?,
            }),
        })
    }

    pub fn addr(&self) -> &SocketAddr {
        self.inner.ctl.addr()
    }

    fn ctl(&self) -> &Control {
        &self.inner.ctl
    }
}

/// A memif interface. Dropping it disconnects it.
pub struct Port {
    shared: Arc<PortShared>,
    socket: Socket,
}

impl Port {
    pub fn new(socket: &Socket, cfg: PortConfig) -> Result<Port> {
        cfg.validate()?;
        let shared = Arc::new(PortShared::new(cfg));
        socket.ctl().add_port(shared.clone())?;
        Ok(Port {
            shared,
            socket: socket.clone(),
        })
    }

    pub fn config(&self) -> &PortConfig {
        self.shared.config()
    }

    pub fn status(&self) -> Status {
        self.shared.status()
    }

    pub fn info(&self) -> PortInfo {
        self.shared.info()
    }

    pub fn wait_connected(&self, timeout: Option<Duration>) -> Result<()> {
        self.shared.wait_connected(timeout)
    }

    /// Called from the control thread on connect, disconnect and armed rx data. Keep it short,
    /// and do not drop the port from inside it.
    ///
    /// When it returns, a callback it replaced is no longer running (unless called from inside that
    /// callback), so a binding may free what the old callback used.
    pub fn set_callback(&self, cb: Option<Callback>) {
        let wait = !self.socket.ctl().is_control_thread();
        self.shared.set_callback(cb, wait);
    }

    /// Opens rx queue `qid`. It attaches to the connection by itself (and again after a reconnect).
    pub fn rx_queue(&self, qid: u16) -> Result<RxQueue> {
        RxQueue::open(self.shared.clone(), self.socket.ctl().handle(), qid, true)
    }

    pub fn tx_queue(&self, qid: u16) -> Result<TxQueue> {
        TxQueue::open(self.shared.clone(), self.socket.ctl().handle(), qid, true)
    }

    /// Opens a queue that attaches only when told (`attach`/`detach`): for bindings that hold
    /// views of the regions and must revoke them before a connection's memory goes away (the C
    /// ABI; attaching is not part of the Rust API, whose queues attach by themselves).
    pub(crate) fn rx_queue_manual(&self, qid: u16) -> Result<RxQueue> {
        RxQueue::open(self.shared.clone(), self.socket.ctl().handle(), qid, false)
    }

    pub(crate) fn tx_queue_manual(&self, qid: u16) -> Result<TxQueue> {
        TxQueue::open(self.shared.clone(), self.socket.ctl().handle(), qid, false)
    }

    /// Disconnects (telling the peer) and stops reconnecting. Queues get NOT_CONNECTED.
    pub fn close(&self) {
        self.close_because("Interface closed");
    }

    /// As `close`, telling the peer `reason` (the C ABI: a port whose thread ended).
    pub(crate) fn close_because(&self, reason: &'static str) {
        self.socket.ctl().remove_port(&self.shared, reason);
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.close();
        self.set_callback(None);
    }
}
