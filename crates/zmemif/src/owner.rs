//! Which thread owns each handle of the C ABI, so that what a JavaScript thread opened and did not
//! close is closed when that thread ends.
//!
//! A socket, port or queue handle belongs to the thread that made it (`zmemif_socket_new`,
//! `zmemif_port_new`, `zmemif_*_queue_open`). A queue handed to another thread belongs to no thread
//! once shared (`zmemif_*_queue_share`) and to the thread that adopts it (`zmemif_*_queue_adopt`).
//! Freeing a handle forgets it. When a JavaScript thread's N-API environment ends (the hook of
//! `zmemif_thread_guard_napi`, gate.rs: a Bun or Node.js Worker ending however it ends), the
//! handles that thread still owns are closed as their `zmemif_*_free` would: queues first (each
//! lets go of its connection), then ports (each disconnects, telling the peer why), then sockets.
//!
//! Closing a queue may unmap its connection's memory. Only its own thread's views can reach that
//! memory (every queue makes its own views, backed by its own attachment: another thread's views
//! of the same connection keep it mapped through that thread's queue), and that thread's
//! JavaScript has ended. A port closed here disconnects while queues of other threads may still be
//! attached: they keep their mapping until they detach, as after any `zmemif_port_free`.
//!
//! The table is one list for the process: a handle may be freed by another thread than its owner,
//! and handles are few (opening and freeing them is not the data path).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A thread, as an owner of handles (never 0: 0 is "no thread").
pub(crate) type OwnerId = u64;

/// What a handle is, in the order the handles of an ended thread are closed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Kind {
    Queue,
    Port,
    Socket,
}

/// Closes and frees the handle at an address (ffi.rs gives one per kind of handle).
///
/// # Safety
/// The address is a live handle of the function's kind that nobody else uses or frees.
pub(crate) type Close = unsafe fn(usize);

#[derive(Clone, Copy)]
struct Entry {
    addr: usize,
    kind: Kind,
    /// 0: no thread (a queue shared and not yet adopted).
    owner: OwnerId,
    close: Close,
}

static OWNED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: OwnerId = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
}

fn owned() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    OWNED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The calling thread, as an owner.
pub(crate) fn current() -> OwnerId {
    CURRENT.with(|id| *id)
}

/// Records a new handle as the calling thread's.
pub(crate) fn add(addr: usize, kind: Kind, close: Close) {
    owned().push(Entry {
        addr,
        kind,
        owner: current(),
        close,
    });
}

/// Forgets a handle that is being freed.
pub(crate) fn forget(addr: usize) {
    owned().retain(|e| e.addr != addr);
}

/// Makes the handle at `addr` the calling thread's (`mine`) or no thread's; false when it is not
/// a handle this table knows (freed, or closed because its thread ended).
pub(crate) fn set_owner(addr: usize, mine: bool) -> bool {
    let owner = if mine { current() } else { 0 };
    match owned().iter_mut().find(|e| e.addr == addr) {
        Some(e) => {
            e.owner = owner;
            true
        }
        None => false,
    }
}

/// Closes every handle `owner` still owns (queues, then ports, then sockets); returns how many.
/// For the cleanup hook of that thread's environment, once nothing of that thread runs.
pub(crate) fn close_owned_by(owner: OwnerId) -> usize {
    let mut mine: Vec<Entry> = Vec::new();
    owned().retain(|e| {
        if e.owner != owner {
            return true;
        }
        mine.push(*e);
        false
    });
    mine.sort_by_key(|e| e.kind);
    for e in &mine {
        // SAFETY: the handle was live (a freed one is forgotten first) and only its owner uses
        // it; the owner's thread has ended (the caller's contract), and the entry is gone from
        // the table, so nobody else closes it.
        unsafe { (e.close)(e.addr) };
    }
    mine.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static CLOSED: Mutex<Vec<(usize, Kind)>> = Mutex::new(Vec::new());
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    unsafe fn note_queue(addr: usize) {
        CALLS.fetch_add(1, Ordering::SeqCst);
        CLOSED.lock().unwrap().push((addr, Kind::Queue));
    }
    unsafe fn note_port(addr: usize) {
        CALLS.fetch_add(1, Ordering::SeqCst);
        CLOSED.lock().unwrap().push((addr, Kind::Port));
    }
    unsafe fn note_socket(addr: usize) {
        CALLS.fetch_add(1, Ordering::SeqCst);
        CLOSED.lock().unwrap().push((addr, Kind::Socket));
    }

    #[test]
    fn an_ended_thread_s_handles_close_queues_first_and_others_stay() {
        // Addresses no real handle has (odd, in the first page).
        let (socket, port, queue, shared, freed) = (0x11, 0x13, 0x15, 0x17, 0x19);
        let ended = std::thread::spawn(move || {
            add(socket, Kind::Socket, note_socket);
            add(port, Kind::Port, note_port);
            add(queue, Kind::Queue, note_queue);
            add(shared, Kind::Queue, note_queue);
            add(freed, Kind::Queue, note_queue);
            assert!(set_owner(shared, false));
            forget(freed);
            current()
        })
        .join()
        .unwrap();
        // Another thread adopts a queue of its own: not closed with `ended`.
        let adopted = 0x1b;
        add(adopted, Kind::Queue, note_queue);
        assert_eq!(close_owned_by(ended), 3);
        let closed = CLOSED.lock().unwrap().clone();
        assert_eq!(
            closed,
            [
                (queue, Kind::Queue),
                (port, Kind::Port),
                (socket, Kind::Socket)
            ]
        );
        assert_eq!(close_owned_by(ended), 0, "closed once");
        // The shared queue is no thread's until adopted.
        assert!(set_owner(shared, true));
        assert!(!set_owner(freed, true), "a freed handle is unknown");
        forget(shared);
        forget(adopted);
        assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    }
}
