//! The gate of each thread that gives the core callbacks through the C ABI.
//!
//! A `zmemif_event_cb` is a bare function pointer, and what it points to can cease to exist while
//! the core still holds it: bun:ffi frees a `JSCallback`'s code when the JavaScript thread that
//! made it (a Worker) ends, and a Worker can end without running any more of its JavaScript
//! (`worker.terminate()`), so it cannot clear its callbacks itself. The core's control threads
//! would then jump into freed memory (docs/bun-ffi-notes.md).
//!
//! So every callback the C ABI takes is called through the gate of the thread that gave it
//! (`ThreadGate::current`, one per thread, shared by all its callbacks). `shut` closes a gate and
//! returns once no call through it is running; none starts afterwards. A JavaScript thread's gate
//! is shut by the N-API cleanup hook of its environment (`zmemif_thread_guard_napi`), which Bun
//! runs when a Worker ends, however it ends, before it frees the Worker's callbacks; a C program
//! can shut its own thread's gate (`zmemif_thread_callbacks_revoke`).
//!
//! The same hook then closes what the thread opened and did not close (owner.rs): once its gate
//! is shut, nothing of that thread runs any more.
//!
//! A call holds the gate's read lock, so calls from several control threads run side by side and
//! `shut` (the write lock) waits for them. A call only queues work for the JavaScript thread (a
//! threadsafe `JSCallback`), so that wait is short. Shutting from inside a call through the same
//! gate does not wait (it would wait for itself): the gate is closed, the running call ends.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::owner::{self, OwnerId};

pub(crate) struct Gate {
    open: AtomicBool,
    calls: RwLock<()>,
}

thread_local! {
    /// This thread's gate, made when it first gives a callback.
    static CURRENT: RefCell<Option<Arc<Gate>>> = const { RefCell::new(None) };
    /// Set while this thread runs a call through some gate.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
}

pub(crate) struct ThreadGate;

impl ThreadGate {
    /// The calling thread's gate (the one its callbacks are called through).
    pub fn current() -> Arc<Gate> {
        CURRENT.with(|c| {
            c.borrow_mut()
                .get_or_insert_with(|| {
                    Arc::new(Gate {
                        open: AtomicBool::new(true),
                        calls: RwLock::new(()),
                    })
                })
                .clone()
        })
    }

    /// Shuts the calling thread's gate; callbacks it gives later go through a new one.
    pub fn revoke_current() {
        if let Some(g) = CURRENT.with(|c| c.borrow_mut().take()) {
            g.shut();
        }
    }
}

impl Gate {
    /// Runs `f` if the gate is open.
    pub fn call(&self, f: impl FnOnce()) {
        let _running = self.calls.read().unwrap_or_else(|p| p.into_inner());
        // Acquire pairs with the Release in `shut`; the lock already orders them, this says so.
        if self.open.load(Ordering::Acquire) {
            let outer = IN_CALL.with(|c| c.replace(true));
            f();
            IN_CALL.with(|c| c.set(outer));
        }
    }

    /// Closes the gate: when this returns no call through it runs (unless called from inside
    /// one), and none starts afterwards. Idempotent.
    pub fn shut(&self) {
        self.open.store(false, Ordering::Release);
        if !IN_CALL.with(|c| c.get()) {
            drop(self.calls.write().unwrap_or_else(|p| p.into_inner()));
        }
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

/// `napi_add_env_cleanup_hook`, as N-API declares it (`napi_status` is a C enum: an int).
type AddEnvCleanupHook = unsafe extern "C" fn(
    env: *mut c_void,
    fun: Option<unsafe extern "C" fn(*mut c_void)>,
    arg: *mut c_void,
) -> i32;

/// What the cleanup hook of one environment ends: its thread's gate and handles.
struct Guarded {
    gate: Arc<Gate>,
    owner: OwnerId,
}

/// When the N-API environment `env` ends: shuts the calling thread's gate (as it is now), then
/// closes the handles the thread still owns (owner.rs).
///
/// N-API is looked up in the process rather than linked: this library may be loaded twice (by
/// bun:ffi and as an N-API module, from two files in a `bun build --compile` executable), and the
/// hook must shut the gate of the copy that took the callbacks, the one called here.
///
/// # Safety
/// `env` is the calling thread's live `napi_env`.
pub(crate) unsafe fn guard_napi_env(env: *mut c_void) -> Result<()> {
    // SAFETY: RTLD_DEFAULT searches the process's global symbols; the name is NUL-terminated.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"napi_add_env_cleanup_hook".as_ptr()) };
    if sym.is_null() {
        return Err(Error::invalid(
            "this process has no N-API (napi_add_env_cleanup_hook not found): \
             zmemif_thread_guard_napi is for Bun and Node.js threads; elsewhere call \
             zmemif_thread_callbacks_revoke before the thread's callbacks become invalid"
                .to_string(),
        ));
    }
    // SAFETY: N-API's function of this name has this signature.
    let add: AddEnvCleanupHook = unsafe { std::mem::transmute::<*mut c_void, _>(sym) };
    let guarded = Box::into_raw(Box::new(Guarded {
        gate: ThreadGate::current(),
        owner: owner::current(),
    }));
    // SAFETY: `env` is live (caller's contract); `on_env_cleanup` takes `guarded` back, once.
    let status = unsafe { add(env, Some(on_env_cleanup), guarded.cast()) };
    if status != 0 {
        // SAFETY: made just above and not handed over (the hook was not added).
        drop(unsafe { Box::from_raw(guarded) });
        return Err(Error::invalid(format!(
            "napi_add_env_cleanup_hook failed (napi_status {status}): is `env` this thread's?"
        )));
    }
    Ok(())
}

/// The environment's cleanup hook: shuts the gate `guard_napi_env` gave it, then closes the
/// handles its thread left open (the thread runs no JavaScript any more).
unsafe extern "C" fn on_env_cleanup(arg: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw in `guard_napi_env`; N-API calls this hook once.
        let guarded = unsafe { Box::from_raw(arg.cast::<Guarded>()) };
        guarded.gate.shut();
        owner::close_owned_by(guarded.owner);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn a_shut_gate_waits_for_the_running_call_and_calls_nothing_after() {
        let gate = ThreadGate::current();
        let calls = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let g = gate.clone();
        let c = calls.clone();
        let caller = std::thread::spawn(move || {
            g.call(|| {
                started_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                c.fetch_add(1, Ordering::SeqCst);
            });
        });
        started_rx.recv().unwrap();
        ThreadGate::revoke_current();
        // the call that was running has finished
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!gate.is_open());
        gate.call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        caller.join().unwrap();
        // a new gate for later callbacks of this thread
        assert!(ThreadGate::current().is_open());
    }

    #[test]
    fn shutting_from_inside_a_call_does_not_wait_for_itself() {
        let gate = ThreadGate::current();
        let g = gate.clone();
        gate.call(|| g.shut());
        assert!(!gate.is_open());
    }
}
