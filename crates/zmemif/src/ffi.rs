//! The C ABI, made for `bun:ffi` (and any C caller): opaque handles, `i32` results (≥ 0 a count,
//! < 0 a stable `Code`), numbers only on the hot path, descriptors in a caller-provided array, and
//! no panic crossing the boundary. `include/zmemif.h` is generated from this file by cbindgen.
//!
//! Every export checks its pointers for null; beyond that, a caller must pass handles it got from
//! the matching `_new`/`_open` and not yet freed, and arrays as long as the count it gives.

#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::config::PortConfig;
use crate::error::{Code, Error, Result};
use crate::gate::ThreadGate;
use crate::owner::{self, Kind};
use crate::port::{Port, Socket};
use crate::probe::{probe, IdAnswer, Problem};
use crate::queue::{Desc, RxMode, RxQueue, TxQueue};
use crate::sock::{Perms, SocketAddr};
use crate::state::{Callback, Event, Status};
use crate::stats::QueueStats;
use crate::{Mode, Role};

// `Desc` is `Desc` and `QueueStats` is `QueueStats` in C (renamed in cbindgen.toml).

// Events, roles, modes and flags, for C. The result codes (`ZMEMIF_E_*`) are in error.rs.
pub const ZMEMIF_EVENT_CONNECTED: u32 = 1;
pub const ZMEMIF_EVENT_DISCONNECTED: u32 = 2;
pub const ZMEMIF_EVENT_RX_READY: u32 = 3;
pub const ZMEMIF_EVENT_REJECTED: u32 = 4;
pub const ZMEMIF_ROLE_CLIENT: u8 = 0;
pub const ZMEMIF_ROLE_SERVER: u8 = 1;
pub const ZMEMIF_MODE_ETHERNET: u8 = 0;
pub const ZMEMIF_MODE_IP: u8 = 1;
pub const ZMEMIF_MODE_PUNT_INJECT: u8 = 2;
/// Descriptor flag: the packet continues in the next descriptor.
pub const ZMEMIF_DESC_NEXT: u16 = 1;
/// `zmemif_port_config.flags`: a server on an abstract socket with neither a secret nor an
/// allow-list fails to start (INVALID_ARGUMENT) instead of warning once on stderr.
pub const ZMEMIF_PORT_REQUIRE_SECRET: u32 = 1;
/// `zmemif_port_config.flags`: a client connects only to a server running as `expect_server_uid`.
pub const ZMEMIF_PORT_EXPECT_SERVER_UID: u32 = 2;
/// A credential field of `zmemif_port_info` with no peer to describe.
pub const ZMEMIF_CRED_NONE: u32 = 0xFFFF_FFFF;
/// Entries in each allow-list of `zmemif_port_config`.
pub const ZMEMIF_MAX_ALLOW: usize = 16;
/// The largest packet, in bytes: a longer chain is dropped by `zmemif_rx_burst`.
pub const ZMEMIF_MAX_PACKET: u32 = 65535;
const _: () = assert!(ZMEMIF_MAX_PACKET == crate::conn::MAX_PACKET);
/// `zmemif_rx_queue_set_mode` modes.
pub const ZMEMIF_RX_MODE_ADAPTIVE: u32 = 0;
pub const ZMEMIF_RX_MODE_POLLING: u32 = 1;
pub const ZMEMIF_RX_MODE_INTERRUPT: u32 = 2;
/// `zmemif_port_info.state`.
pub const ZMEMIF_STATE_DISCONNECTED: u32 = 0;
pub const ZMEMIF_STATE_CONNECTING: u32 = 1;
pub const ZMEMIF_STATE_CONNECTED: u32 = 2;
pub const ZMEMIF_STATE_CLOSED: u32 = 3;
const _: () = assert!(
    ZMEMIF_STATE_DISCONNECTED == Status::Disconnected as u32
        && ZMEMIF_STATE_CONNECTING == Status::Connecting as u32
        && ZMEMIF_STATE_CONNECTED == Status::Connected as u32
        && ZMEMIF_STATE_CLOSED == Status::Closed as u32
);

/// Port configuration (216 bytes, plain data). Zero fields take their defaults.
#[repr(C)]
// Default: all zero, the default configuration of a client (Rust callers and tests)
#[derive(Clone, Copy, Default)]
pub struct zmemif_port_config {
    /// Interface id.
    pub id: u32,
    /// 0 client, 1 server.
    pub role: u8,
    /// 0 Ethernet, 1 IP, 2 punt/inject.
    pub mode: u8,
    /// log2 of the ring size, 1..=14 (0: 10).
    pub log2_ring_size: u8,
    /// Bytes of `secret` used, 0..=24 (0: no secret).
    pub secret_len: u8,
    /// Client-to-server queues, 1..=255 (0: 1).
    pub num_c2s: u16,
    /// Server-to-client queues, 1..=255 (0: 1).
    pub num_s2c: u16,
    /// Bytes per buffer, 1..=65535 (0: 2048).
    pub buffer_size: u32,
    /// Client: ms between connection attempts (0: 1000).
    pub reconnect_ms: u32,
    pub secret: [u8; 24],
    /// Interface name, NUL-padded (empty: "zmemif").
    pub name: [u8; 32],
    /// `ZMEMIF_PORT_*` bits; others must be 0.
    pub flags: u32,
    /// Client, with `ZMEMIF_PORT_EXPECT_SERVER_UID`: the uid the server must run as.
    pub expect_server_uid: u32,
    /// Server: entries used in `allow_uids`, 0..=16 (0: no uid list).
    pub n_allow_uids: u16,
    /// Server: entries used in `allow_gids`, 0..=16 (0: no gid list).
    pub n_allow_gids: u16,
    /// Server: only peers running as one of these uids, or with one of the gids, may connect.
    pub allow_uids: [u32; ZMEMIF_MAX_ALLOW],
    /// Server: gids allowed to connect (the peer's effective gid at connect).
    pub allow_gids: [u32; ZMEMIF_MAX_ALLOW],
}

/// A port's state, counters and peer credentials (80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct zmemif_port_info {
    /// 0 disconnected, 1 connecting, 2 connected, 3 closed.
    pub state: u32,
    /// Increments on each successful connect.
    pub generation: u32,
    pub num_c2s: u16,
    pub num_s2c: u16,
    pub log2_ring_size: u8,
    pub role: u8,
    pub num_regions: u16,
    pub buffer_size: u32,
    /// The most descriptors one received packet can have on the current connection (0 when not
    /// connected): a `zmemif_rx_burst` array of this many entries always makes progress. A client
    /// gets `ceil(65535 / buffer_size)` (at most the ring size); a server, which does not learn
    /// the client's buffer size, gets the ring size. Read it after each connect.
    pub max_segments: u32,
    pub connects: u64,
    pub disconnects: u64,
    /// Handshakes refused, by us or by the peer.
    pub rejects: u64,
    /// The connected peer's credentials (`SO_PEERCRED`); `ZMEMIF_CRED_NONE` while not connected.
    /// A pid not visible from our pid namespace is 0.
    pub peer_pid: u32,
    pub peer_uid: u32,
    pub peer_gid: u32,
    /// The process at the other end of the last refused handshake; `ZMEMIF_CRED_NONE`: none.
    pub rejected_pid: u32,
    pub rejected_uid: u32,
    pub rejected_gid: u32,
    pub reserved1: [u32; 2],
}

// The layouts bindings write and read by offset.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Desc>() == 16);
    assert!(size_of::<QueueStats>() == 64);
    assert!(offset_of!(QueueStats, interrupts) == 32);
    assert!(offset_of!(QueueStats, unread_at_disconnect) == 40);
    assert!(offset_of!(QueueStats, reserved) == 48);
    assert!(size_of::<zmemif_port_config>() == 216);
    assert!(offset_of!(zmemif_port_config, num_c2s) == 8);
    assert!(offset_of!(zmemif_port_config, buffer_size) == 12);
    assert!(offset_of!(zmemif_port_config, reconnect_ms) == 16);
    assert!(offset_of!(zmemif_port_config, secret) == 20);
    assert!(offset_of!(zmemif_port_config, name) == 44);
    assert!(offset_of!(zmemif_port_config, flags) == 76);
    assert!(offset_of!(zmemif_port_config, expect_server_uid) == 80);
    assert!(offset_of!(zmemif_port_config, n_allow_uids) == 84);
    assert!(offset_of!(zmemif_port_config, n_allow_gids) == 86);
    assert!(offset_of!(zmemif_port_config, allow_uids) == 88);
    assert!(offset_of!(zmemif_port_config, allow_gids) == 152);
    assert!(size_of::<zmemif_port_info>() == 80);
    assert!(offset_of!(zmemif_port_info, buffer_size) == 16);
    assert!(offset_of!(zmemif_port_info, max_segments) == 20);
    assert!(offset_of!(zmemif_port_info, connects) == 24);
    assert!(offset_of!(zmemif_port_info, rejects) == 40);
    assert!(offset_of!(zmemif_port_info, peer_pid) == 48);
    assert!(offset_of!(zmemif_port_info, rejected_pid) == 60);
};

/// Called from the socket's control thread: `event` is 1 connected (arg = generation),
/// 2 disconnected (arg = generation that ended), 3 rx ready (arg = rx queue id), 4 handshake
/// refused (arg = refusals so far; the reason is in `zmemif_port_reason`, the other side's
/// credentials in `zmemif_port_info.rejected_*`).
pub type zmemif_event_cb = Option<extern "C" fn(ctx: u64, event: u32, arg: u32)>;

pub struct zmemif_socket(Socket);
pub struct zmemif_port(pub(crate) Port);
/// An rx queue: `zmemif_rx_queue_*`, `zmemif_rx_burst`, `zmemif_rx_release`.
pub struct zmemif_rx_queue(pub(crate) RxQueue);
/// A tx queue: `zmemif_tx_queue_*`, `zmemif_tx_alloc`, `zmemif_tx_burst`, `zmemif_tx_wait`.
pub struct zmemif_tx_queue(pub(crate) TxQueue);

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// This thread's message for its last failed call ("" when none).
#[cfg_attr(any(test, not(feature = "node")), allow(dead_code))]
pub(crate) fn last_error_message() -> String {
    LAST_ERROR.with(|l| l.borrow().clone())
}

pub(crate) fn set_error(e: &Error) -> i32 {
    LAST_ERROR.with(|l| *l.borrow_mut() = e.message.clone());
    e.code as i32
}

/// Runs `f`, turning an error into its code (message kept for `zmemif_last_error`) and a panic
/// into `Internal`.
fn guard(f: impl FnOnce() -> Result<i32>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => set_error(&e),
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_error(&Error::new(
                Code::Internal,
                format!("zmemif panicked: {what} (please report)"),
            ))
        }
    }
}

fn null(what: &str) -> Error {
    Error::invalid(format!("{what} is null"))
}

/// # Safety
/// `p` is null or a live handle of type `T` made by this library.
unsafe fn handle<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: the caller's contract; null is checked.
    unsafe { p.as_mut() }.ok_or_else(|| null(what))
}

/// # Safety
/// `p` is null (with `len` 0 allowed) or points to `len` readable bytes.
unsafe fn bytes<'a>(p: *const u8, len: u32) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null("buffer"));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

fn copy_out(s: &str, buf: *mut u8, len: u32) -> i32 {
    let b = s.as_bytes();
    if !buf.is_null() && len > 0 {
        let n = b.len().min(len as usize - 1);
        // SAFETY: the caller gave `len` writable bytes at `buf`; we write at most `len`.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), buf, n);
            *buf.add(n) = 0;
        }
    }
    b.len() as i32
}

/// A fixed description of an error code; a static, NUL-terminated string.
#[no_mangle]
pub extern "C" fn zmemif_strerror(code: i32) -> *const c_char {
    let s: &'static std::ffi::CStr = match Code::from_i32(code) {
        Some(c) => c.message_c(),
        None if code >= 0 => c"success",
        None => c"unknown error code",
    };
    s.as_ptr()
}

/// Copies this thread's message for its last failed call into `buf` (NUL-terminated, truncated
/// to `len`); returns the message's full length.
#[no_mangle]
pub extern "C" fn zmemif_last_error(buf: *mut u8, len: u32) -> i32 {
    LAST_ERROR.with(|l| copy_out(&l.borrow(), buf, len))
}

/// A control socket at `path` (`path_len` bytes, no NUL needed): a filesystem path, or an abstract
/// name when `abstract_` is non-zero. `uid`/`gid` 0xFFFFFFFF leave the owner; `mode` 0 means 0660.
///
/// # Safety
/// `path` points to `path_len` bytes; `out` to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn zmemif_socket_new(
    path: *const u8,
    path_len: u32,
    abstract_: u32,
    uid: u32,
    gid: u32,
    mode: u32,
    out: *mut *mut zmemif_socket,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { bytes(path, path_len) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let addr = if abstract_ != 0 {
            SocketAddr::Abstract(p.to_vec())
        } else {
            let s = std::str::from_utf8(p)
                .map_err(|_| Error::new(Code::SocketPath, "the socket path is not UTF-8"))?;
            SocketAddr::Path(s.into())
        };
        let perms = Perms {
            uid: (uid != u32::MAX).then_some(uid),
            gid: (gid != u32::MAX).then_some(gid),
            mode: if mode == 0 {
                Perms::default().mode
            } else {
                mode
            },
        };
        let s = Box::into_raw(Box::new(zmemif_socket(Socket::new(addr, perms)?)));
        owner::add(s as usize, Kind::Socket, close_boxed::<zmemif_socket>);
        // SAFETY: `out` is non-null and writable (caller's contract).
        unsafe { *out = s };
        Ok(0)
    })
}

/// # Safety
/// `s` is null or a socket from `zmemif_socket_new`, not used again.
#[no_mangle]
pub unsafe extern "C" fn zmemif_socket_free(s: *mut zmemif_socket) {
    if !s.is_null() {
        owner::forget(s as usize);
        // SAFETY: made by Box::into_raw in zmemif_socket_new; the caller gives it up.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(s) })));
    }
}

/// What the peer of a port is told when the thread that opened it ended without closing it.
const REASON_THREAD_ENDED: &str = "the thread that owned this interface ended";

/// Frees a handle made by `Box::into_raw` (owner.rs closes an ended thread's handles with it).
///
/// # Safety
/// `addr` is a live `T` handle made by this library that nobody else uses or frees.
unsafe fn close_boxed<T>(addr: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract; the handle is given up here.
        drop(unsafe { Box::from_raw(addr as *mut T) })
    }));
}

/// Closes a port whose thread ended, telling the peer so, then frees it.
///
/// # Safety
/// As `close_boxed`, for a port handle.
unsafe fn close_port_of_ended_thread(addr: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract; the handle is given up here.
        let p = unsafe { Box::from_raw(addr as *mut zmemif_port) };
        p.0.close_because(REASON_THREAD_ENDED);
    }));
}

fn id_list(ids: &[u32; ZMEMIF_MAX_ALLOW], n: u16, what: &str) -> Result<Vec<u32>> {
    ids.get(..n as usize).map(<[u32]>::to_vec).ok_or_else(|| {
        Error::invalid(format!(
            "{what}: {n} entries; at most {ZMEMIF_MAX_ALLOW}: allow a group instead"
        ))
    })
}

fn config_from(c: &zmemif_port_config) -> Result<PortConfig> {
    let role = match c.role {
        0 => Role::Client,
        1 => Role::Server,
        r => {
            return Err(Error::invalid(format!(
                "role {r}: use 0 (client) or 1 (server)"
            )))
        }
    };
    let mode = Mode::from_u8(c.mode).ok_or_else(|| {
        Error::invalid(format!(
            "mode {}: use 0 (ethernet), 1 (ip) or 2 (punt/inject)",
            c.mode
        ))
    })?;
    if c.log2_ring_size > 14 {
        return Err(Error::invalid(format!(
            "log2 ring size {}: use 1..=14 (2 to 16384 slots)",
            c.log2_ring_size
        )));
    }
    if c.secret_len as usize > c.secret.len() {
        return Err(Error::invalid("secret longer than 24 bytes"));
    }
    let known = ZMEMIF_PORT_REQUIRE_SECRET | ZMEMIF_PORT_EXPECT_SERVER_UID;
    if c.flags & !known != 0 {
        return Err(Error::invalid(format!(
            "flags {:#x}: only ZMEMIF_PORT_REQUIRE_SECRET (1) and ZMEMIF_PORT_EXPECT_SERVER_UID (2) exist",
            c.flags
        )));
    }
    let allow_uids = id_list(&c.allow_uids, c.n_allow_uids, "allow_uids")?;
    let allow_gids = id_list(&c.allow_gids, c.n_allow_gids, "allow_gids")?;
    let d = PortConfig::default();
    let name_end = c.name.iter().position(|&b| b == 0).unwrap_or(c.name.len());
    let name = std::str::from_utf8(&c.name[..name_end])
        .map_err(|_| Error::invalid("the interface name is not UTF-8"))?;
    Ok(PortConfig {
        id: c.id,
        role,
        mode,
        secret: (c.secret_len > 0).then(|| c.secret[..c.secret_len as usize].to_vec()),
        name: if name.is_empty() {
            d.name.clone()
        } else {
            name.to_string()
        },
        num_c2s: if c.num_c2s == 0 { 1 } else { c.num_c2s },
        num_s2c: if c.num_s2c == 0 { 1 } else { c.num_s2c },
        ring_size: if c.log2_ring_size == 0 {
            d.ring_size
        } else {
            1 << c.log2_ring_size
        },
        buffer_size: if c.buffer_size == 0 {
            d.buffer_size
        } else {
            c.buffer_size
        },
        reconnect: if c.reconnect_ms == 0 {
            d.reconnect
        } else {
            Duration::from_millis(c.reconnect_ms as u64)
        },
        allow_uids,
        allow_gids,
        require_secret: c.flags & ZMEMIF_PORT_REQUIRE_SECRET != 0,
        expect_server_uid: (c.flags & ZMEMIF_PORT_EXPECT_SERVER_UID != 0)
            .then_some(c.expect_server_uid),
        ..d
    })
}

/// A port (memif interface) on socket `s`. A client starts connecting at once and keeps trying.
/// A server on an abstract socket with neither a secret nor an allow-list prints a warning once
/// on stderr (with `ZMEMIF_PORT_REQUIRE_SECRET`: fails with INVALID_ARGUMENT instead).
///
/// # Safety
/// `s` is a live socket handle, `cfg` points to a `zmemif_port_config`, `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_new(
    s: *mut zmemif_socket,
    cfg: *const zmemif_port_config,
    out: *mut *mut zmemif_port,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let s = unsafe { handle(s, "socket") }?;
        // SAFETY: the caller's contract; null checked.
        let c = unsafe { cfg.as_ref() }.ok_or_else(|| null("config"))?;
        if out.is_null() {
            return Err(null("out"));
        }
        let p = Box::into_raw(Box::new(zmemif_port(Port::new(&s.0, config_from(c)?)?)));
        owner::add(p as usize, Kind::Port, close_port_of_ended_thread);
        // SAFETY: `out` is non-null and writable.
        unsafe { *out = p };
        Ok(0)
    })
}

/// Disconnects (telling the peer) and frees the port. Its queues stay valid but NOT_CONNECTED.
///
/// # Safety
/// `p` is null or a port from `zmemif_port_new`, not used again.
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_free(p: *mut zmemif_port) {
    if !p.is_null() {
        owner::forget(p as usize);
        // SAFETY: made by Box::into_raw in zmemif_port_new; the caller gives it up.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(p) })));
    }
}

/// Sets (or with `cb` null, clears) the event callback. It runs on the control thread. Clearing
/// it returns once no call of the old callback is running (except from inside that callback).
/// `cb` belongs to the calling thread: `zmemif_thread_callbacks_revoke` on that thread (or the
/// end of a JavaScript thread guarded by `zmemif_thread_guard_napi`) stops it too.
///
/// # Safety
/// `p` is a live port handle; `cb` stays callable until cleared, the port is freed, or the
/// calling thread's callbacks are revoked.
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_set_callback(
    p: *mut zmemif_port,
    cb: zmemif_event_cb,
    ctx: u64,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { handle(p, "port") }?;
        p.0.set_callback(cb.map(|f| {
            let gate = ThreadGate::current();
            Arc::new(move |ev: Event| {
                let (e, a) = event_args(ev);
                gate.call(|| f(ctx, e, a))
            }) as Callback
        }));
        Ok(0)
    })
}

/// Stops every callback the calling thread has given (`zmemif_port_set_callback`,
/// `zmemif_rx_queue_arm_cb`): when this returns none of them is running (unless this is called
/// from inside one) and none will be called again. Callbacks the thread gives afterwards work as
/// usual. For a thread whose callbacks are about to become invalid (its event loop ends).
#[no_mangle]
pub extern "C" fn zmemif_thread_callbacks_revoke() {
    let _ = catch_unwind(ThreadGate::revoke_current);
}

/// For a JavaScript thread (Bun or Node.js; `env` is its `napi_env`): registers an N-API
/// environment cleanup hook that, when the environment ends, stops the callbacks this thread has
/// given and will give, as `zmemif_thread_callbacks_revoke` does, and then closes every handle
/// the thread still owns as freeing it would: its queues (opened, or adopted with
/// `zmemif_*_queue_adopt`; a queue it shared is not its), then its ports (the peer is told "the
/// thread that owned this interface ended"), then its sockets. Views of a closed queue's memory must not
/// outlive the thread (they do not: its JavaScript has ended). A Bun Worker's environment ends
/// however the Worker ends (`terminate()`, an uncaught error, `process.exit()`), before its
/// `JSCallback`s are freed, and it may end without running any more JavaScript. Call it on the
/// thread, before giving callbacks and opening handles. 0, or INVALID_ARGUMENT when `env` is null
/// or this process has no N-API (`napi_add_env_cleanup_hook` is looked up in the process).
///
/// # Safety
/// `env` is the calling thread's live `napi_env`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_thread_guard_napi(env: *mut c_void) -> i32 {
    guard(|| {
        if env.is_null() {
            return Err(null("env"));
        }
        // SAFETY: the caller's contract.
        unsafe { crate::gate::guard_napi_env(env) }?;
        Ok(0)
    })
}

/// An event as the callback's (event, arg) numbers.
pub(crate) fn event_args(ev: Event) -> (u32, u32) {
    match ev {
        Event::Connected { generation } => (ZMEMIF_EVENT_CONNECTED, generation),
        Event::Disconnected { generation } => (ZMEMIF_EVENT_DISCONNECTED, generation),
        Event::RxReady { qid } => (ZMEMIF_EVENT_RX_READY, qid as u32),
        Event::Rejected { rejects, .. } => (ZMEMIF_EVENT_REJECTED, rejects),
    }
}

/// Waits up to `timeout_ms` (-1: forever) for the connection. 0, or TIMEOUT / PEER_REJECTED (the
/// reason is in `zmemif_last_error` and `zmemif_port_reason`) / CLOSED.
///
/// # Safety
/// `p` is a live port handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_wait_connected(p: *mut zmemif_port, timeout_ms: i32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { handle(p, "port") }?;
        p.0.wait_connected((timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64)))?;
        Ok(0)
    })
}

/// # Safety
/// `p` is a live port handle; `out` points to a writable `zmemif_port_info`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_info_get(
    p: *mut zmemif_port,
    out: *mut zmemif_port_info,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { handle(p, "port") }?;
        // SAFETY: the caller's contract; null checked.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        let i = p.0.info();
        let cred = |c: Option<crate::creds::PeerCred>| {
            c.map_or([ZMEMIF_CRED_NONE; 3], |c| [c.pid, c.uid, c.gid])
        };
        let [peer_pid, peer_uid, peer_gid] = cred(i.peer);
        let [rejected_pid, rejected_uid, rejected_gid] = cred(i.rejected_peer);
        *out = zmemif_port_info {
            state: i.status,
            generation: i.generation,
            num_c2s: i.num_c2s,
            num_s2c: i.num_s2c,
            log2_ring_size: i.log2_ring_size,
            role: p.0.config().role as u8,
            num_regions: i.num_regions,
            buffer_size: i.buffer_size,
            max_segments: i.max_segments as u32,
            connects: i.connects,
            disconnects: i.disconnects,
            rejects: i.rejects,
            peer_pid,
            peer_uid,
            peer_gid,
            rejected_pid,
            rejected_uid,
            rejected_gid,
            ..zmemif_port_info::default()
        };
        Ok(0)
    })
}

/// The peer's interface name, copied to `buf`; returns its length.
///
/// # Safety
/// `p` is a live port handle; `buf` has `len` writable bytes (or is null).
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_peer_name(p: *mut zmemif_port, buf: *mut u8, len: u32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { handle(p, "port") }?;
        Ok(copy_out(&p.0.info().peer_name, buf, len))
    })
}

/// Why the last connection ended or the last handshake failed; returns its length.
///
/// # Safety
/// As `zmemif_port_peer_name`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_port_reason(p: *mut zmemif_port, buf: *mut u8, len: u32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { handle(p, "port") }?;
        Ok(copy_out(&p.0.info().reason, buf, len))
    })
}

// ---- queues: an rx and a tx queue are different handle types; what both have is exported once
// per direction (`zmemif_rx_queue_*`, `zmemif_tx_queue_*`) over the generic helpers below ----

/// What both queue handles answer; the exports of each direction call these.
trait QueueHandle: Sized {
    const WHAT: &'static str;
    fn attach(&mut self) -> Result<u32>;
    fn detach(&mut self);
    fn num_regions(&self) -> usize;
    fn region(&self, idx: usize) -> Result<(*mut u8, usize)>;
    fn stats(&self) -> QueueStats;
}

impl QueueHandle for zmemif_rx_queue {
    const WHAT: &'static str = "rx queue";
    fn attach(&mut self) -> Result<u32> {
        self.0.attach()
    }
    fn detach(&mut self) {
        self.0.detach()
    }
    fn num_regions(&self) -> usize {
        self.0.num_regions()
    }
    fn region(&self, idx: usize) -> Result<(*mut u8, usize)> {
        self.0.region(idx)
    }
    fn stats(&self) -> QueueStats {
        self.0.stats()
    }
}

impl QueueHandle for zmemif_tx_queue {
    const WHAT: &'static str = "tx queue";
    fn attach(&mut self) -> Result<u32> {
        self.0.attach()
    }
    fn detach(&mut self) {
        self.0.detach()
    }
    fn num_regions(&self) -> usize {
        self.0.num_regions()
    }
    fn region(&self, idx: usize) -> Result<(*mut u8, usize)> {
        self.0.region(idx)
    }
    fn stats(&self) -> QueueStats {
        self.0.stats()
    }
}

/// # Safety
/// `p` is a live port handle; `out` is writable.
unsafe fn queue_open<Q>(
    p: *mut zmemif_port,
    qid: u32,
    out: *mut *mut Q,
    open: impl FnOnce(&Port, u16) -> Result<Q>,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { handle(p, "port") }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let qid = u16::try_from(qid)
            .map_err(|_| Error::new(Code::QueueRange, format!("queue id {qid} is out of range")))?;
        let q = Box::into_raw(Box::new(open(&p.0, qid)?));
        owner::add(q as usize, Kind::Queue, close_boxed::<Q>);
        // SAFETY: `out` is non-null and writable.
        unsafe { *out = q };
        Ok(0)
    })
}

/// # Safety
/// `q` is null or a handle from `queue_open` of the same type, not used again.
unsafe fn queue_free<Q>(q: *mut Q) {
    if !q.is_null() {
        owner::forget(q as usize);
        // SAFETY: made by Box::into_raw in queue_open; the caller gives it up.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(q) })));
    }
}

/// Makes a queue handle no thread's (`mine` false) or the calling thread's. Never reads `q`: a
/// handle the table does not know is CLOSED.
fn queue_owner<Q: QueueHandle>(q: *mut Q, mine: bool, op: &str) -> i32 {
    guard(|| {
        if q.is_null() {
            return Err(null(Q::WHAT));
        }
        if !owner::set_owner(q as usize, mine) {
            return Err(Error::new(
                Code::Closed,
                format!(
                    "{op}: this {} was freed (or closed when the thread that owned it ended): \
                     share a queue again from its port",
                    Q::WHAT
                ),
            ));
        }
        Ok(0)
    })
}

/// # Safety
/// `q` is a live queue handle.
unsafe fn queue_attach<Q: QueueHandle>(q: *mut Q) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let g = unsafe { handle(q, Q::WHAT) }?.attach()?;
        Ok((g & 0x7fff_ffff) as i32)
    })
}

/// # Safety
/// `q` is a live queue handle.
unsafe fn queue_detach<Q: QueueHandle>(q: *mut Q) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(q, Q::WHAT) }?.detach();
        Ok(0)
    })
}

/// # Safety
/// `q` is a live queue handle.
unsafe fn queue_num_regions<Q: QueueHandle>(q: *mut Q) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        Ok(unsafe { handle(q, Q::WHAT) }?.num_regions() as i32)
    })
}

/// # Safety
/// `q` is a live queue handle; `base` and `size` are null or writable.
unsafe fn queue_region<Q: QueueHandle>(q: *mut Q, idx: u32, base: *mut u64, size: *mut u64) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let (b, s) = unsafe { handle(q, Q::WHAT) }?.region(idx as usize)?;
        if base.is_null() || size.is_null() {
            return Err(null("base/size"));
        }
        // SAFETY: both non-null and writable (caller's contract).
        unsafe {
            *base = b as u64;
            *size = s as u64;
        }
        Ok(0)
    })
}

/// # Safety
/// `q` is a live queue handle; `out` is null or points to a writable `QueueStats`.
unsafe fn queue_stats<Q: QueueHandle>(q: *mut Q, out: *mut QueueStats) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let s = unsafe { handle(q, Q::WHAT) }?.stats();
        // SAFETY: the caller's contract; null checked.
        *unsafe { out.as_mut() }.ok_or_else(|| null("out"))? = s;
        Ok(0)
    })
}

/// Opens rx queue `qid` (the client's S2C ring `qid`, the server's C2S ring `qid`). It does not
/// attach by itself: call `zmemif_rx_queue_attach` once connected, and again after NOT_CONNECTED.
///
/// # Safety
/// `p` is a live port handle; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_open(
    p: *mut zmemif_port,
    qid: u32,
    out: *mut *mut zmemif_rx_queue,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        queue_open(p, qid, out, |p, q| {
            Ok(zmemif_rx_queue(p.rx_queue_manual(q)?))
        })
    }
}

/// Opens tx queue `qid` (the client's C2S ring `qid`, the server's S2C ring `qid`). It does not
/// attach by itself: call `zmemif_tx_queue_attach` once connected, and again after NOT_CONNECTED.
///
/// # Safety
/// `p` is a live port handle; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_open(
    p: *mut zmemif_port,
    qid: u32,
    out: *mut *mut zmemif_tx_queue,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        queue_open(p, qid, out, |p, q| {
            Ok(zmemif_tx_queue(p.tx_queue_manual(q)?))
        })
    }
}

/// # Safety
/// `q` is null or a queue from `zmemif_rx_queue_open`, not used again. Views of its regions must
/// be revoked first: freeing detaches, and the memory may be unmapped.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_free(q: *mut zmemif_rx_queue) {
    // SAFETY: the caller's contract.
    unsafe { queue_free(q) }
}

/// # Safety
/// As `zmemif_rx_queue_free`, for a queue from `zmemif_tx_queue_open`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_free(q: *mut zmemif_tx_queue) {
    // SAFETY: the caller's contract.
    unsafe { queue_free(q) }
}

/// Gives up the calling thread's ownership of rx queue `q`, to hand it to another thread (which
/// calls `zmemif_rx_queue_adopt`). A queue belongs to the thread that opened it, and when that
/// thread's N-API environment ends (`zmemif_thread_guard_napi`) the queues it still owns are
/// closed; a shared queue belongs to no thread until adopted. 0, or CLOSED for a handle already
/// freed. Does not read `q`.
#[no_mangle]
pub extern "C" fn zmemif_rx_queue_share(q: *mut zmemif_rx_queue) -> i32 {
    queue_owner(q, false, "zmemif_rx_queue_share")
}

/// Makes rx queue `q` (shared by another thread, `zmemif_rx_queue_share`) the calling thread's:
/// closed when this thread's environment ends, if this thread has not freed it. 0, or CLOSED for
/// a handle already freed. Does not read `q`.
#[no_mangle]
pub extern "C" fn zmemif_rx_queue_adopt(q: *mut zmemif_rx_queue) -> i32 {
    queue_owner(q, true, "zmemif_rx_queue_adopt")
}

/// As `zmemif_rx_queue_share`, for a tx queue.
#[no_mangle]
pub extern "C" fn zmemif_tx_queue_share(q: *mut zmemif_tx_queue) -> i32 {
    queue_owner(q, false, "zmemif_tx_queue_share")
}

/// As `zmemif_rx_queue_adopt`, for a tx queue.
#[no_mangle]
pub extern "C" fn zmemif_tx_queue_adopt(q: *mut zmemif_tx_queue) -> i32 {
    queue_owner(q, true, "zmemif_tx_queue_adopt")
}

/// Attaches to the port's current connection; returns its generation, or NOT_CONNECTED. While
/// attached, the connection's regions stay mapped, even after the peer is gone.
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_attach(q: *mut zmemif_rx_queue) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_attach(q) }
}

/// As `zmemif_rx_queue_attach`.
///
/// # Safety
/// `q` is a live tx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_attach(q: *mut zmemif_tx_queue) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_attach(q) }
}

/// Lets go of the connection: call after every view of its regions was revoked.
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_detach(q: *mut zmemif_rx_queue) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_detach(q) }
}

/// As `zmemif_rx_queue_detach`.
///
/// # Safety
/// `q` is a live tx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_detach(q: *mut zmemif_tx_queue) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_detach(q) }
}

/// Number of regions of the attached connection (0 when detached).
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_num_regions(q: *mut zmemif_rx_queue) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_num_regions(q) }
}

/// As `zmemif_rx_queue_num_regions`.
///
/// # Safety
/// `q` is a live tx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_num_regions(q: *mut zmemif_tx_queue) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_num_regions(q) }
}

/// Base address and size of region `idx` of the attached connection, for one view per region.
///
/// # Safety
/// `q` is a live rx queue handle; `base` and `size` are writable.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_region(
    q: *mut zmemif_rx_queue,
    idx: u32,
    base: *mut u64,
    size: *mut u64,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_region(q, idx, base, size) }
}

/// As `zmemif_rx_queue_region`.
///
/// # Safety
/// `q` is a live tx queue handle; `base` and `size` are writable.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_region(
    q: *mut zmemif_tx_queue,
    idx: u32,
    base: *mut u64,
    size: *mut u64,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_region(q, idx, base, size) }
}

/// # Safety
/// `q` is a live rx queue handle; `out` points to a writable `zmemif_queue_stats`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_stats_get(
    q: *mut zmemif_rx_queue,
    out: *mut QueueStats,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_stats(q, out) }
}

/// # Safety
/// `q` is a live tx queue handle; `out` points to a writable `zmemif_queue_stats`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_queue_stats_get(
    q: *mut zmemif_tx_queue,
    out: *mut QueueStats,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { queue_stats(q, out) }
}

/// 0 adaptive (poll while busy, ask for a signal only while waiting; default), 1 polling (never
/// signalled), 2 interrupt (signalled on every peer burst).
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_set_mode(q: *mut zmemif_rx_queue, mode: u32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = &mut unsafe { handle(q, "rx queue") }?.0;
        r.set_mode(match mode {
            ZMEMIF_RX_MODE_ADAPTIVE => RxMode::Adaptive,
            ZMEMIF_RX_MODE_POLLING => RxMode::Polling,
            ZMEMIF_RX_MODE_INTERRUPT => RxMode::Interrupt,
            m => {
                return Err(Error::invalid(format!(
                    "mode {m}: use 0 adaptive, 1 polling, 2 interrupt"
                )))
            }
        });
        Ok(0)
    })
}

/// Blocks until rx data, or `timeout_ms` (-1: forever). 1 ready, 0 timed out. (For tx space:
/// `zmemif_tx_wait`.)
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_wait(q: *mut zmemif_rx_queue, timeout_ms: i32) -> i32 {
    guard(|| {
        let t = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        // SAFETY: the caller's contract.
        let r = &mut unsafe { handle(q, "rx queue") }?.0;
        Ok(r.wait(t)? as i32)
    })
}

/// Asks the control thread to call the port callback (event 3, arg = qid) once data arrives.
/// Returns 1 (and arms nothing) when data is already there, 0 when armed.
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_arm(q: *mut zmemif_rx_queue) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = &mut unsafe { handle(q, "rx queue") }?.0;
        Ok(r.arm()? as i32)
    })
}

/// As `zmemif_rx_queue_arm`, but reports to `cb(ctx, 3, qid)` instead of the port callback: for a
/// queue served by another thread's event loop (a Worker), which hears of no port event, so `cb`
/// is also called when the connection ends (the next call on `q` then says NOT_CONNECTED).
/// 1 when data is already there, 0 armed. `cb` belongs to the calling thread, as for
/// `zmemif_port_set_callback`: revoking that thread's callbacks (or the end of a JavaScript
/// thread guarded by `zmemif_thread_guard_napi`) disarms it.
///
/// # Safety
/// `q` is a live rx queue handle; `cb` stays callable until it has fired, `q` is detached or
/// freed, the port is freed, or the calling thread's callbacks are revoked.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_queue_arm_cb(
    q: *mut zmemif_rx_queue,
    cb: zmemif_event_cb,
    ctx: u64,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = &mut unsafe { handle(q, "rx queue") }?.0;
        let f = cb.ok_or_else(|| null("callback"))?;
        let gate = ThreadGate::current();
        let cb: Callback = Arc::new(move |ev: Event| {
            if let Event::RxReady { qid } = ev {
                gate.call(|| f(ctx, ZMEMIF_EVENT_RX_READY, qid as u32))
            }
        });
        Ok(r.arm_with(Some(cb))? as i32)
    })
}

/// Blocks until at least `n` buffers are free (a chained packet's worth), or `timeout_ms`
/// (-1: forever). 1 ready, 0 timed out.
///
/// # Safety
/// `q` is a live tx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_wait(q: *mut zmemif_tx_queue, n: u32, timeout_ms: i32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let t = &mut unsafe { handle(q, "tx queue") }?.0;
        let n = u16::try_from(n).unwrap_or(u16::MAX);
        let t_out = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        Ok(t.wait(n, t_out)? as i32)
    })
}

/// Receives whole packets: writes up to `max` descriptors to `out` and returns how many. Releases
/// the previous burst first. NOT_CONNECTED: the connection ended (revoke views, then detach).
///
/// Chains: a packet of several buffers comes as consecutive descriptors, NEXT set on all but its
/// last, and only whole packets are returned. A chain longer than any legal packet (more than
/// `zmemif_port_info.max_segments` descriptors or 65535 bytes), including one that never ends,
/// is dropped and counted in `bad_descs`, and the ring moves on. When the first waiting packet is
/// legal but has more descriptors than `max`, the result is ZMEMIF_E_TOO_LARGE, nothing is
/// consumed (the packet stays first on the ring), and `zmemif_last_error` names the count it
/// needs: call again with an array at least that long. An array of `max_segments` entries never
/// gets TOO_LARGE, so sizing `out` by it after each connect always makes progress.
///
/// # Safety
/// `q` is a live rx queue handle; `out` has room for `max` descriptors.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_burst(q: *mut zmemif_rx_queue, out: *mut Desc, max: u32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = &mut unsafe { handle(q, "rx queue") }?.0;
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: `out` has room for `max` descriptors (caller's contract).
        let out = unsafe { std::slice::from_raw_parts_mut(out, max as usize) };
        Ok(r.rx_burst(out)? as i32)
    })
}

/// Gives back the buffers of the last burst now.
///
/// # Safety
/// `q` is a live rx queue handle.
#[no_mangle]
pub unsafe extern "C" fn zmemif_rx_release(q: *mut zmemif_rx_queue) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(q, "rx queue") }?.0.release()?;
        Ok(0)
    })
}

/// Reserves up to `n` free buffers, writing them (capacity in `length`) to `out`; returns how many.
///
/// # Safety
/// `q` is a live tx queue handle; `out` has room for `n` descriptors.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_alloc(q: *mut zmemif_tx_queue, out: *mut Desc, n: u32) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let t = &mut unsafe { handle(q, "tx queue") }?.0;
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: `out` has room for `n` descriptors (caller's contract).
        let out = unsafe { std::slice::from_raw_parts_mut(out, n as usize) };
        Ok(t.alloc(out)? as i32)
    })
}

/// Sends the first `n` reserved buffers with the lengths and NEXT flags in `descs[0..n]`.
///
/// # Safety
/// `q` is a live tx queue handle; `descs` holds `n` descriptors.
#[no_mangle]
pub unsafe extern "C" fn zmemif_tx_burst(
    q: *mut zmemif_tx_queue,
    descs: *const Desc,
    n: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let t = &mut unsafe { handle(q, "tx queue") }?.0;
        if descs.is_null() && n > 0 {
            return Err(null("descs"));
        }
        let d = if n == 0 {
            &[][..]
        } else {
            // SAFETY: `descs` holds `n` descriptors (caller's contract).
            unsafe { std::slice::from_raw_parts(descs, n as usize) }
        };
        Ok(t.tx_burst(d)? as i32)
    })
}

// ---- probing a server (`zmemif info`): crate::probe ----

/// `zmemif_probe_result.problem`: the HELLO was read.
pub const ZMEMIF_PROBE_OK: u32 = 0;
/// Nothing at that path (or its directory is missing).
pub const ZMEMIF_PROBE_ABSENT: u32 = 1;
/// The socket file or a directory on its path is not accessible.
pub const ZMEMIF_PROBE_PERMISSION: u32 = 2;
/// The path names something that is not a socket.
pub const ZMEMIF_PROBE_NOT_SOCKET: u32 = 3;
/// A socket file (or abstract name) nobody listens on.
pub const ZMEMIF_PROBE_NOT_LISTENING: u32 = 4;
/// A listener that is not a memif server.
pub const ZMEMIF_PROBE_NOT_MEMIF: u32 = 5;
/// A listener that sent no HELLO before the timeout.
pub const ZMEMIF_PROBE_NO_HELLO: u32 = 6;
/// `zmemif_probe` flags: also send INIT for `id` and report the server's answer.
pub const ZMEMIF_PROBE_ASK_ID: u32 = 1;
/// `zmemif_probe_result.id_answer`.
pub const ZMEMIF_PROBE_ID_NOT_ASKED: u8 = 0;
pub const ZMEMIF_PROBE_ID_ACCEPTED: u8 = 1;
pub const ZMEMIF_PROBE_ID_REFUSED: u8 = 2;
const _: () = assert!(
    ZMEMIF_PROBE_ABSENT == Problem::Absent as u32
        && ZMEMIF_PROBE_PERMISSION == Problem::Permission as u32
        && ZMEMIF_PROBE_NOT_SOCKET == Problem::NotSocket as u32
        && ZMEMIF_PROBE_NOT_LISTENING == Problem::NotListening as u32
        && ZMEMIF_PROBE_NOT_MEMIF == Problem::NotMemif as u32
        && ZMEMIF_PROBE_NO_HELLO == Problem::NoHello as u32
);

/// What a server's HELLO says (144 bytes, plain data), and why there is none.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct zmemif_probe_result {
    /// `ZMEMIF_PROBE_*`: 0 when the HELLO below was read.
    pub problem: u32,
    /// Protocol versions the server speaks, `(major << 8) | minor` (2.0 = 0x0200).
    pub min_version: u16,
    pub max_version: u16,
    /// The largest region index the server takes.
    pub max_region: u16,
    /// The largest client-to-server (S2M) ring index.
    pub max_c2s_ring: u16,
    /// The largest server-to-client (M2S) ring index.
    pub max_s2c_ring: u16,
    pub max_log2_ring_size: u8,
    /// `ZMEMIF_PROBE_ID_*`: the server's answer to an INIT for the id asked about.
    pub id_answer: u8,
    /// The server's application name, NUL-terminated.
    pub name: [u8; 32],
    /// With `id_answer` REFUSED: the server's reason, NUL-terminated.
    pub reason: [u8; 96],
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<zmemif_probe_result>() == 144);
    assert!(offset_of!(zmemif_probe_result, max_log2_ring_size) == 14);
    assert!(offset_of!(zmemif_probe_result, name) == 16);
    assert!(offset_of!(zmemif_probe_result, reason) == 48);
};

fn fill_cstr(dst: &mut [u8], s: &[u8]) {
    let n = s.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&s[..n]);
    dst[n..].fill(0);
}

/// Reads the HELLO of the memif server at `path` (`path_len` bytes; an abstract name when
/// `abstract_` is non-zero) without connecting an interface, then leaves with a DISCONNECT. With
/// `ZMEMIF_PROBE_ASK_ID` in `flags`, also sends INIT for interface `id` (no secret) and reports
/// whether the server accepts it. Blocks the caller up to `timeout_ms` per answer. Returns 0 with
/// `out` filled; or a negative code with `out.problem` saying why there is no HELLO and
/// `zmemif_last_error` what to do.
///
/// # Safety
/// `path` points to `path_len` bytes; `out` to a writable `zmemif_probe_result`.
#[no_mangle]
pub unsafe extern "C" fn zmemif_probe(
    path: *const u8,
    path_len: u32,
    abstract_: u32,
    id: u32,
    flags: u32,
    timeout_ms: u32,
    out: *mut zmemif_probe_result,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let p = unsafe { bytes(path, path_len) }?;
        // SAFETY: the caller's contract; null checked.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        if flags & !ZMEMIF_PROBE_ASK_ID != 0 {
            return Err(Error::invalid(format!("probe: unknown flags {flags:#x}")));
        }
        let addr = if abstract_ != 0 {
            SocketAddr::Abstract(p.to_vec())
        } else {
            let s = std::str::from_utf8(p)
                .map_err(|_| Error::new(Code::SocketPath, "the socket path is not UTF-8"))?;
            SocketAddr::Path(s.into())
        };
        let asked = (flags & ZMEMIF_PROBE_ASK_ID != 0).then_some(id);
        *out = zmemif_probe_result {
            problem: 0,
            min_version: 0,
            max_version: 0,
            max_region: 0,
            max_c2s_ring: 0,
            max_s2c_ring: 0,
            max_log2_ring_size: 0,
            id_answer: ZMEMIF_PROBE_ID_NOT_ASKED,
            name: [0; 32],
            reason: [0; 96],
        };
        match probe(&addr, asked, Duration::from_millis(u64::from(timeout_ms))) {
            Err(e) => {
                out.problem = e.problem as u32;
                Err(e.error)
            }
            Ok(r) => {
                let h = r.hello;
                out.min_version = h.min_version;
                out.max_version = h.max_version;
                out.max_region = h.max_region;
                out.max_c2s_ring = h.max_c2s_ring;
                out.max_s2c_ring = h.max_s2c_ring;
                out.max_log2_ring_size = h.max_log2_ring_size;
                fill_cstr(&mut out.name, &h.name);
                match r.id {
                    None => {}
                    Some(IdAnswer::Accepted) => out.id_answer = ZMEMIF_PROBE_ID_ACCEPTED,
                    Some(IdAnswer::Refused(why)) => {
                        out.id_answer = ZMEMIF_PROBE_ID_REFUSED;
                        fill_cstr(&mut out.reason, why.as_bytes());
                    }
                }
                Ok(0)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::*;

    #[test]
    fn c_constants_match_the_codes() {
        let pairs = [
            (ZMEMIF_E_INVALID_ARGUMENT, Code::InvalidArgument),
            (ZMEMIF_E_SOCKET_PATH, Code::SocketPath),
            (ZMEMIF_E_PERMISSION, Code::Permission),
            (ZMEMIF_E_ADDRESS_IN_USE, Code::AddressInUse),
            (ZMEMIF_E_ID_IN_USE, Code::IdInUse),
            (ZMEMIF_E_NOT_CONNECTED, Code::NotConnected),
            (ZMEMIF_E_TIMEOUT, Code::Timeout),
            (ZMEMIF_E_QUEUE_RANGE, Code::QueueRange),
            (ZMEMIF_E_BUSY, Code::Busy),
            (ZMEMIF_E_CLOSED, Code::Closed),
            (ZMEMIF_E_PEER_REJECTED, Code::PeerRejected),
            (ZMEMIF_E_TOO_LARGE, Code::TooLarge),
            (ZMEMIF_E_IO, Code::Io),
            (ZMEMIF_E_INTERNAL, Code::Internal),
        ];
        for (c, code) in pairs {
            assert_eq!(c, code as i32);
            // SAFETY: zmemif_strerror returns a static NUL-terminated string.
            let s = unsafe { std::ffi::CStr::from_ptr(zmemif_strerror(c)) };
            assert_eq!(s.to_str().unwrap(), code.describe());
        }
        assert_eq!(ZMEMIF_DESC_NEXT, crate::DESC_NEXT);
    }

    #[test]
    fn errors_come_back_with_messages_and_panics_do_not_cross() {
        let path = b"/nonexistent-dir/x.sock";
        let mut s = std::ptr::null_mut();
        // SAFETY: valid pointers and lengths.
        let rc = unsafe {
            zmemif_socket_new(
                path.as_ptr(),
                path.len() as u32,
                0,
                u32::MAX,
                u32::MAX,
                0,
                &mut s,
            )
        };
        assert_eq!(rc, 0, "the socket object itself needs no file");
        let cfg = zmemif_port_config {
            role: ZMEMIF_ROLE_SERVER,
            ..Default::default()
        };
        let mut p = std::ptr::null_mut();
        // SAFETY: `s` is live; pointers valid.
        let rc = unsafe { zmemif_port_new(s, &cfg, &mut p) };
        assert_eq!(rc, ZMEMIF_E_SOCKET_PATH);
        let mut buf = [0u8; 256];
        let n = zmemif_last_error(buf.as_mut_ptr(), buf.len() as u32);
        let msg = std::str::from_utf8(&buf[..n as usize]).unwrap();
        assert!(msg.contains("does not exist"), "{msg}");
        let bad = zmemif_port_config {
            log2_ring_size: 15,
            ..cfg
        };
        // SAFETY: as above.
        let rc = unsafe { zmemif_port_new(s, &bad, &mut p) };
        assert_eq!(rc, ZMEMIF_E_INVALID_ARGUMENT);
        for (bad, says) in [
            (
                zmemif_port_config {
                    n_allow_uids: 17,
                    ..cfg
                },
                "allow_uids: 17 entries; at most 16",
            ),
            (zmemif_port_config { flags: 4, ..cfg }, "flags 0x4"),
            (
                zmemif_port_config {
                    role: ZMEMIF_ROLE_CLIENT,
                    n_allow_gids: 1,
                    ..cfg
                },
                "applies to a server port",
            ),
            (
                zmemif_port_config {
                    flags: ZMEMIF_PORT_EXPECT_SERVER_UID,
                    ..cfg
                },
                "applies to a client port",
            ),
        ] {
            // SAFETY: as above.
            let rc = unsafe { zmemif_port_new(s, &bad, &mut p) };
            assert_eq!(rc, ZMEMIF_E_INVALID_ARGUMENT);
            let n = zmemif_last_error(buf.as_mut_ptr(), buf.len() as u32);
            let msg = std::str::from_utf8(&buf[..n as usize]).unwrap();
            assert!(msg.contains(says), "{msg}");
        }
        // SAFETY: null handles are refused, not followed.
        unsafe {
            assert_eq!(
                zmemif_rx_burst(std::ptr::null_mut(), std::ptr::null_mut(), 0),
                ZMEMIF_E_INVALID_ARGUMENT
            );
            zmemif_port_free(std::ptr::null_mut());
            zmemif_rx_queue_free(std::ptr::null_mut());
            zmemif_tx_queue_free(std::ptr::null_mut());
            zmemif_socket_free(s);
        }
        assert_eq!(guard(|| panic!("boom")), ZMEMIF_E_INTERNAL);
        let n = zmemif_last_error(buf.as_mut_ptr(), buf.len() as u32);
        assert!(std::str::from_utf8(&buf[..n as usize])
            .unwrap()
            .contains("boom"));
    }

    #[test]
    fn a_shared_queue_is_adopted_once_freed_it_is_closed_without_being_read() {
        let name = format!("zmemif-ffi-owner-test-{}", std::process::id());
        let mut s = std::ptr::null_mut();
        // SAFETY: valid pointers and lengths.
        let rc = unsafe {
            zmemif_socket_new(
                name.as_ptr(),
                name.len() as u32,
                1,
                u32::MAX,
                u32::MAX,
                0,
                &mut s,
            )
        };
        assert_eq!(rc, 0);
        let cfg = zmemif_port_config {
            role: ZMEMIF_ROLE_SERVER,
            secret_len: 4,
            secret: *b"test\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ..Default::default()
        };
        let mut p = std::ptr::null_mut();
        let mut q = std::ptr::null_mut();
        // SAFETY: `s` is live; pointers valid.
        unsafe {
            assert_eq!(zmemif_port_new(s, &cfg, &mut p), 0);
            assert_eq!(zmemif_rx_queue_open(p, 0, &mut q), 0);
        }
        assert_eq!(zmemif_rx_queue_share(q), 0);
        // Another thread adopts it (a handle crosses threads as a number).
        let addr = q as usize;
        let adopted = std::thread::spawn(move || zmemif_rx_queue_adopt(addr as *mut _));
        assert_eq!(adopted.join().unwrap(), 0);
        // SAFETY: `q` is live and freed once.
        unsafe { zmemif_rx_queue_free(q) };
        // The table answers for a freed handle: the pointer is not followed.
        assert_eq!(zmemif_rx_queue_adopt(q), ZMEMIF_E_CLOSED);
        let mut buf = [0u8; 256];
        let n = zmemif_last_error(buf.as_mut_ptr(), buf.len() as u32);
        let msg = std::str::from_utf8(&buf[..n as usize]).unwrap();
        assert!(msg.contains("share a queue again from its port"), "{msg}");
        assert_eq!(
            zmemif_tx_queue_share(std::ptr::null_mut()),
            ZMEMIF_E_INVALID_ARGUMENT
        );
        // SAFETY: live handles, freed once.
        unsafe {
            zmemif_port_free(p);
            zmemif_socket_free(s);
        }
    }
}
