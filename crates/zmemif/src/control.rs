//! The control thread of one socket: started with the socket, stopped with it. The thread's loop
//! is worker.rs, the ports it serves registry.rs, and each handshake handshake.rs; this file is
//! what `Socket` and `Port` call.

use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::handle::ControlHandle;
use crate::registry::Registry;
use crate::sock::{Perms, SocketAddr};
use crate::state::PortShared;
use crate::worker;

pub(crate) struct Control {
    reg: Arc<Registry>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Control {
    pub fn start(addr: SocketAddr, perms: Perms) -> Result<Control> {
        let reg = Arc::new(Registry::new(addr, perms)?);
        let r = reg.clone();
        let h = std::thread::Builder::new()
            .name("zmemif-control".into())
            .spawn(move || worker::run(r))
            .map_err(|e| Error::io("starting the control thread", e))?;
        reg.handle().set_thread(h.thread().id());
        Ok(Control {
            reg,
            thread: Mutex::new(Some(h)),
        })
    }

    pub fn addr(&self) -> &SocketAddr {
        self.reg.addr()
    }

    /// For the socket's queues: a weak hold on what they may ask of the control thread.
    pub fn handle(&self) -> Weak<ControlHandle> {
        Arc::downgrade(self.reg.handle())
    }

    pub fn add_port(&self, p: Arc<PortShared>) -> Result<()> {
        self.reg.add_port(p)
    }

    /// Disconnects the port (the peer is told `reason`) and waits until the control thread has
    /// done so.
    pub fn remove_port(&self, p: &Arc<PortShared>, reason: &'static str) {
        self.reg.remove_port(p, reason)
    }

    pub fn is_control_thread(&self) -> bool {
        self.reg.handle().is_control_thread()
    }

    pub fn stop(&self) {
        self.reg.request_stop();
        if let Some(h) = self.thread.lock().unwrap().take() {
            let _ = h.join();
        }
    }
}
