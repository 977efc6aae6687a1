//! What queues may ask of their socket's control thread, without knowing the thread: wake it (a
//! queue found the peer broken, so the thread should end the connection), and arm or disarm an rx
//! queue's eventfd (report `Event::RxReady` once data arrives). The control thread owns the one
//! strong reference; queues hold a `Weak`, so a queue that outlives its socket gets CLOSED.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;

use crate::conn::{self, new_eventfd, Connection};
use crate::error::Result;
use crate::state::{Callback, PortShared};

/// An rx queue waiting for data: the control thread polls its eventfd.
pub(crate) struct Armed {
    pub port: Arc<PortShared>,
    pub conn: Arc<Connection>,
    pub qid: usize,
    /// Called instead of the port's callback (a queue owned by another thread's event loop).
    pub cb: Option<Callback>,
}

pub(crate) struct ControlHandle {
    /// An eventfd the control thread polls: written to make it look at its work again.
    wake: OwnedFd,
    armed: Mutex<Vec<Armed>>,
    /// Held while a queue's own arm callback runs, so `disarm` can wait for it.
    armed_cb_running: Mutex<()>,
    /// Set once the control thread has started.
    thread: OnceLock<ThreadId>,
}

impl ControlHandle {
    pub fn new() -> Result<ControlHandle> {
        Ok(ControlHandle {
            wake: new_eventfd()?,
            armed: Mutex::new(Vec::new()),
            armed_cb_running: Mutex::new(()),
            thread: OnceLock::new(),
        })
    }

    /// The eventfd `wake` writes (the control thread polls and drains it).
    pub fn wake_fd(&self) -> &OwnedFd {
        &self.wake
    }

    pub fn wake(&self) {
        conn::signal(&self.wake);
    }

    pub fn set_thread(&self, id: ThreadId) {
        let _ = self.thread.set(id);
    }

    pub fn is_control_thread(&self) -> bool {
        self.thread.get() == Some(&std::thread::current().id())
    }

    /// The armed queues (the control thread polls, fires and forgets them).
    pub fn armed(&self) -> MutexGuard<'_, Vec<Armed>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs an armed queue's own callback; `disarm` waits while one runs.
    pub fn run_armed_callback(&self, cb: &Callback, ev: crate::state::Event) {
        let _running = self
            .armed_cb_running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cb(ev)
    }

    /// Arms queue `qid` of `conn`; false (nothing armed) when `conn` has ended. Checked under the
    /// lock the control thread takes to fire a dead connection's arms after marking it dead, so
    /// an arm is either fired then or refused here, never left behind.
    pub fn arm(
        &self,
        port: Arc<PortShared>,
        conn: Arc<Connection>,
        qid: usize,
        cb: Option<Callback>,
    ) -> bool {
        let mut armed = self.armed();
        if !conn.is_alive() {
            return false;
        }
        if let Some(a) = armed
            .iter_mut()
            .find(|a| Arc::ptr_eq(&a.conn, &conn) && a.qid == qid)
        {
            a.cb = cb;
            return true;
        }
        armed.push(Armed {
            port,
            conn,
            qid,
            cb,
        });
        drop(armed);
        self.wake();
        true
    }

    /// Forgets an armed queue; when it returns, that queue's callback is not running and will not
    /// be called (unless called from inside the callback itself).
    pub fn disarm(&self, conn: &Arc<Connection>, qid: usize) {
        self.armed()
            .retain(|a| !(Arc::ptr_eq(&a.conn, conn) && a.qid == qid));
        if !self.is_control_thread() {
            drop(
                self.armed_cb_running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
        }
    }
}
