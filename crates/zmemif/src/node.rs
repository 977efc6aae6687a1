//! The N-API binding for Node.js (cargo feature `node`): the C ABI of `ffi.rs` again, shaped for
//! a JavaScript caller that cannot take addresses. Built into the same library as the C ABI, so
//! one file per platform serves Node's `require`, Bun's `require` and Bun's `bun:ffi` `dlopen`.
//!
//! - Every function calls the matching `zmemif_*` export: one implementation, one set of checks.
//!   Each is exported under its name in the TypeScript `NativeBackend` interface
//!   (ts/native/backend.ts), which `ts/native/node.ts` derives the binding's type from.
//! - Handles are the C ABI's pointers carried as JS numbers (a user-space address fits in 2^53).
//!   Functions that make a handle return it, or the negative result code.
//! - Caller structs are typed arrays checked against their size. The hot path takes numbers only,
//!   as under `bun:ffi`: a descriptor array's address (`address_of`, taken once per array), so a
//!   burst is one call with nothing converted or allocated.
//! - A region is one external `ArrayBuffer` over the mapping (never a copy); `revokeRegion`
//!   revokes it before the queue detaches, so a stale view reads as empty instead of crashing.
//! - Events reach a JS thread through a thread-safe function (`event_hook`, one per JS thread),
//!   called with the same `(ctx, event, arg)` numbers as the C callback. It is weak: it does not
//!   keep the event loop alive (the caller holds the loop while something waits).

use std::ffi::CStr;
use std::sync::Arc;

use napi::bindgen_prelude::{
    ArrayBuffer, BigUint64ArraySlice, Either, External, FnArgs, FromNapiValue, Function, JsValue,
    Object, Uint32ArraySlice, Uint8ArraySlice,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Error as NapiError, Status};
use napi_derive::napi;

use crate::ffi::{
    self, zmemif_port, zmemif_port_config, zmemif_port_info, zmemif_probe_result, zmemif_rx_queue,
    zmemif_socket, zmemif_tx_queue,
};
use crate::queue::Desc;
use crate::state::Event;
use crate::stats::QueueStats;

/// The JS function events are delivered to: `(ctx, event, arg)`, weak, errors not passed in.
type Sink =
    ThreadsafeFunction<FnArgs<(f64, u32, u32)>, (), FnArgs<(f64, u32, u32)>, Status, false, true>;

fn ptr<T>(h: f64) -> *mut T {
    h as u64 as usize as *mut T
}

fn handle_or_code<T>(rc: i32, out: *mut T) -> f64 {
    if rc < 0 {
        rc as f64
    } else {
        out as usize as f64
    }
}

fn invalid(msg: &str) -> i32 {
    ffi::set_error(&crate::error::Error::invalid(msg.to_string()))
}

fn too_short(what: &str, have: usize, need: usize) -> i32 {
    invalid(&format!(
        "{what}: the array holds {have} elements, {need} needed"
    ))
}

#[napi]
pub fn strerror(code: i32) -> String {
    // SAFETY: zmemif_strerror returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::zmemif_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's message for the last failure ("" when none).
#[napi]
pub fn last_error() -> String {
    ffi::last_error_message()
}

/// A socket handle, or a negative code.
#[napi]
pub fn socket_new(path: Uint8ArraySlice<'_>, abstract_: u32, uid: u32, gid: u32, mode: u32) -> f64 {
    let mut out: *mut zmemif_socket = std::ptr::null_mut();
    // SAFETY: `path` is `path.len()` readable bytes; `out` is writable.
    let rc = unsafe {
        ffi::zmemif_socket_new(
            path.as_ptr(),
            path.len() as u32,
            abstract_,
            uid,
            gid,
            mode,
            &mut out,
        )
    };
    handle_or_code(rc, out)
}

#[napi]
pub fn socket_free(s: f64) {
    // SAFETY: the binding passes a handle from socket_new once.
    unsafe { ffi::zmemif_socket_free(ptr(s)) }
}

/// A port handle, or a negative code. `config` holds a `zmemif_port_config` (216 bytes).
#[napi]
pub fn port_new(s: f64, config: Uint8ArraySlice<'_>) -> f64 {
    if config.len() < std::mem::size_of::<zmemif_port_config>() {
        return too_short(
            "port_new config",
            config.len(),
            std::mem::size_of::<zmemif_port_config>(),
        ) as f64;
    }
    let mut cfg = std::mem::MaybeUninit::<zmemif_port_config>::uninit();
    // SAFETY: the struct is plain data (integers and byte arrays): any bytes are a valid value;
    // `config` holds at least its size.
    let cfg = unsafe {
        std::ptr::copy_nonoverlapping(
            config.as_ptr(),
            cfg.as_mut_ptr().cast::<u8>(),
            std::mem::size_of::<zmemif_port_config>(),
        );
        cfg.assume_init()
    };
    let mut out: *mut zmemif_port = std::ptr::null_mut();
    // SAFETY: a live socket handle (binding's contract); `cfg` and `out` are local.
    let rc = unsafe { ffi::zmemif_port_new(ptr(s), &cfg, &mut out) };
    handle_or_code(rc, out)
}

#[napi]
pub fn port_free(p: f64) {
    // SAFETY: the binding passes a handle from port_new once.
    unsafe { ffi::zmemif_port_free(ptr(p)) }
}

/// A callback the core may call from its control thread, run on this JS thread's event loop
/// with `(ctx, event, arg)`. Weak: it does not keep the loop alive.
#[napi]
pub fn event_hook(
    f: Function<'_, FnArgs<(f64, u32, u32)>, ()>,
) -> napi::Result<External<Arc<Sink>>> {
    let tsfn: Sink = f
        .build_threadsafe_function()
        .weak::<true>()
        .callee_handled::<false>()
        .build()?;
    Ok(External::new(Arc::new(tsfn)))
}

fn deliver(sink: &Sink, ctx: f64, ev: Event) {
    let (e, a) = ffi::event_args(ev);
    // Closing (the JS thread has exited) is fine: nobody is left to tell.
    let _ = sink.call(
        FnArgs::from((ctx, e, a)),
        ThreadsafeFunctionCallMode::NonBlocking,
    );
}

/// Sets the port's event callback to `hook` with `ctx`; `hook` null clears it.
#[napi]
pub fn port_set_callback(p: f64, hook: Option<&External<Arc<Sink>>>, ctx: f64) -> i32 {
    // SAFETY: a live port handle (binding's contract).
    let Some(port) = (unsafe { ptr::<zmemif_port>(p).as_ref() }) else {
        return invalid("port is null");
    };
    port.0.set_callback(hook.map(|h| {
        let s = Arc::clone(h);
        Arc::new(move |ev: Event| deliver(&s, ctx, ev)) as crate::state::Callback
    }));
    0
}

#[napi]
pub fn port_wait_connected(p: f64, timeout_ms: i32) -> i32 {
    // SAFETY: a live port handle (binding's contract).
    unsafe { ffi::zmemif_port_wait_connected(ptr(p), timeout_ms) }
}

/// Fills `out` (80 bytes) with a `zmemif_port_info`.
#[napi(js_name = "portInfo")]
pub fn port_info_get(p: f64, mut out: Uint8ArraySlice<'_>) -> i32 {
    // SAFETY: the typed array is lent for this call only, and no JS runs until it returns.
    let out = unsafe { out.as_mut() };
    let need = std::mem::size_of::<zmemif_port_info>();
    if out.len() < need {
        return too_short("port_info_get", out.len(), need);
    }
    let mut info = zmemif_port_info::default();
    // SAFETY: a live port handle (binding's contract); `info` is local.
    let rc = unsafe { ffi::zmemif_port_info_get(ptr(p), &mut info) };
    // SAFETY: `info` is plain data of `need` bytes; `out` holds at least that many.
    unsafe {
        std::ptr::copy_nonoverlapping((&raw const info).cast::<u8>(), out.as_mut_ptr(), need)
    };
    rc
}

#[napi]
pub fn port_peer_name(p: f64) -> String {
    read_string(|b, l| {
        // SAFETY: a live port handle; `b` is `l` writable bytes.
        unsafe { ffi::zmemif_port_peer_name(ptr(p), b, l) }
    })
}

#[napi]
pub fn port_reason(p: f64) -> String {
    read_string(|b, l| {
        // SAFETY: a live port handle; `b` is `l` writable bytes.
        unsafe { ffi::zmemif_port_reason(ptr(p), b, l) }
    })
}

// ---- queues: an rx and a tx queue are different handle types, as in the C ABI ----

/// An rx queue handle, or a negative code.
#[napi]
pub fn rx_queue_open(p: f64, qid: u32) -> f64 {
    let mut out: *mut zmemif_rx_queue = std::ptr::null_mut();
    // SAFETY: a live port handle; `out` is local.
    let rc = unsafe { ffi::zmemif_rx_queue_open(ptr(p), qid, &mut out) };
    handle_or_code(rc, out)
}

/// A tx queue handle, or a negative code.
#[napi]
pub fn tx_queue_open(p: f64, qid: u32) -> f64 {
    let mut out: *mut zmemif_tx_queue = std::ptr::null_mut();
    // SAFETY: a live port handle; `out` is local.
    let rc = unsafe { ffi::zmemif_tx_queue_open(ptr(p), qid, &mut out) };
    handle_or_code(rc, out)
}

#[napi]
pub fn rx_queue_free(q: f64) {
    // SAFETY: the binding passes a handle from rx_queue_open once, its views revoked.
    unsafe { ffi::zmemif_rx_queue_free(ptr(q)) }
}

#[napi]
pub fn tx_queue_free(q: f64) {
    // SAFETY: the binding passes a handle from tx_queue_open once, its views revoked.
    unsafe { ffi::zmemif_tx_queue_free(ptr(q)) }
}

/// Gives up this thread's ownership of the rx queue, to hand it to another thread.
#[napi]
pub fn rx_queue_share(q: f64) -> i32 {
    ffi::zmemif_rx_queue_share(ptr(q))
}

/// Makes the rx queue (shared by another thread) this thread's: closed when its environment ends.
#[napi]
pub fn rx_queue_adopt(q: f64) -> i32 {
    ffi::zmemif_rx_queue_adopt(ptr(q))
}

/// As `rx_queue_share`, for a tx queue.
#[napi]
pub fn tx_queue_share(q: f64) -> i32 {
    ffi::zmemif_tx_queue_share(ptr(q))
}

/// As `rx_queue_adopt`, for a tx queue.
#[napi]
pub fn tx_queue_adopt(q: f64) -> i32 {
    ffi::zmemif_tx_queue_adopt(ptr(q))
}

#[napi]
pub fn rx_queue_attach(q: f64) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    unsafe { ffi::zmemif_rx_queue_attach(ptr(q)) }
}

#[napi]
pub fn tx_queue_attach(q: f64) -> i32 {
    // SAFETY: a live tx queue handle (binding's contract).
    unsafe { ffi::zmemif_tx_queue_attach(ptr(q)) }
}

#[napi]
pub fn rx_queue_detach(q: f64) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    unsafe { ffi::zmemif_rx_queue_detach(ptr(q)) }
}

#[napi]
pub fn tx_queue_detach(q: f64) -> i32 {
    // SAFETY: a live tx queue handle (binding's contract).
    unsafe { ffi::zmemif_tx_queue_detach(ptr(q)) }
}

#[napi]
pub fn rx_queue_num_regions(q: f64) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    unsafe { ffi::zmemif_rx_queue_num_regions(ptr(q)) }
}

#[napi]
pub fn tx_queue_num_regions(q: f64) -> i32 {
    // SAFETY: a live tx queue handle (binding's contract).
    unsafe { ffi::zmemif_tx_queue_num_regions(ptr(q)) }
}

/// One external ArrayBuffer over region `idx` of the rx queue's attached connection (never a
/// copy), or a negative code. It must be revoked with `revokeRegion` before the queue detaches.
#[napi]
pub fn rx_queue_region(
    env: Env,
    q: f64,
    idx: u32,
) -> napi::Result<Either<ArrayBuffer<'static>, i32>> {
    let (mut base, mut size) = (0u64, 0u64);
    // SAFETY: a live rx queue handle; `base` and `size` are local.
    let rc = unsafe { ffi::zmemif_rx_queue_region(ptr(q), idx, &mut base, &mut size) };
    region_buffer(env, rc, base, size)
}

/// As `rx_queue_region`, for a tx queue.
#[napi]
pub fn tx_queue_region(
    env: Env,
    q: f64,
    idx: u32,
) -> napi::Result<Either<ArrayBuffer<'static>, i32>> {
    let (mut base, mut size) = (0u64, 0u64);
    // SAFETY: a live tx queue handle; `base` and `size` are local.
    let rc = unsafe { ffi::zmemif_tx_queue_region(ptr(q), idx, &mut base, &mut size) };
    region_buffer(env, rc, base, size)
}

/// The external ArrayBuffer over a region `zmemif_*_queue_region` returned (`rc` 0), or its code.
fn region_buffer(
    env: Env,
    rc: i32,
    base: u64,
    size: u64,
) -> napi::Result<Either<ArrayBuffer<'static>, i32>> {
    if rc < 0 {
        return Ok(Either::B(rc));
    }
    let mut value = std::ptr::null_mut();
    // SAFETY: the mapping stays valid until the queue detaches, and the binding detaches this
    // buffer first; no finalizer: the memory belongs to the core.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            env.raw(),
            base as usize as *mut std::ffi::c_void,
            size as usize,
            None,
            std::ptr::null_mut(),
            &mut value,
        )
    };
    if status != sys::Status::napi_ok {
        // Never fall back to a copy: writes into a copy would silently go nowhere.
        return Err(NapiError::new(
            Status::GenericFailure,
            format!(
                "cannot make an external ArrayBuffer over the shared memory (napi status {status})"
            ),
        ));
    }
    // SAFETY: `value` is the ArrayBuffer just made in this env.
    Ok(Either::A(unsafe {
        ArrayBuffer::from_napi_value(env.raw(), value)
    }?))
}

/// Revokes a region's ArrayBuffer: every view of it reads as empty from now on.
#[napi(js_name = "revokeRegion")]
pub fn detach_buffer(buffer: ArrayBuffer<'_>) -> napi::Result<()> {
    if buffer.is_detached()? {
        return Ok(());
    }
    buffer.detach()
}

/// `out` as a `zmemif_queue_stats`, or the code for an array too short.
fn stats_out(out: &mut BigUint64ArraySlice<'_>, what: &str) -> Result<*mut QueueStats, i32> {
    // SAFETY: the typed array is lent for this call only, and no JS runs until it returns.
    let out = unsafe { out.as_mut() };
    let need = std::mem::size_of::<QueueStats>() / 8;
    if out.len() < need {
        return Err(too_short(what, out.len(), need));
    }
    // A QueueStats is 64 bytes of u64 fields, 8-aligned, as the array's elements are.
    Ok(out.as_mut_ptr().cast::<QueueStats>())
}

/// Fills `out` (8 u64) with the rx queue's `zmemif_queue_stats`.
#[napi(js_name = "rxQueueStats")]
pub fn rx_queue_stats_get(q: f64, mut out: BigUint64ArraySlice<'_>) -> i32 {
    match stats_out(&mut out, "rx_queue_stats_get") {
        // SAFETY: a live rx queue handle; `p` holds a QueueStats.
        Ok(p) => unsafe { ffi::zmemif_rx_queue_stats_get(ptr(q), p) },
        Err(rc) => rc,
    }
}

/// Fills `out` (8 u64) with the tx queue's `zmemif_queue_stats`.
#[napi(js_name = "txQueueStats")]
pub fn tx_queue_stats_get(q: f64, mut out: BigUint64ArraySlice<'_>) -> i32 {
    match stats_out(&mut out, "tx_queue_stats_get") {
        // SAFETY: a live tx queue handle; `p` holds a QueueStats.
        Ok(p) => unsafe { ffi::zmemif_tx_queue_stats_get(ptr(q), p) },
        Err(rc) => rc,
    }
}

#[napi(js_name = "queueSetMode")]
pub fn rx_queue_set_mode(q: f64, mode: u32) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    unsafe { ffi::zmemif_rx_queue_set_mode(ptr(q), mode) }
}

#[napi(js_name = "queueWait")]
pub fn rx_queue_wait(q: f64, timeout_ms: i32) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    unsafe { ffi::zmemif_rx_queue_wait(ptr(q), timeout_ms) }
}

#[napi(js_name = "queueArm")]
pub fn rx_queue_arm(q: f64) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    unsafe { ffi::zmemif_rx_queue_arm(ptr(q)) }
}

/// As `queueArm`, but reports RX_READY to `hook` with `ctx` (a Worker's queue).
#[napi(js_name = "queueArmHook")]
pub fn rx_queue_arm_cb(q: f64, hook: &External<Arc<Sink>>, ctx: f64) -> i32 {
    // SAFETY: a live rx queue handle (binding's contract).
    let Some(queue) = (unsafe { ptr::<zmemif_rx_queue>(q).as_mut() }) else {
        return invalid("rx queue is null");
    };
    let s = Arc::clone(hook);
    let cb: crate::state::Callback = Arc::new(move |ev: Event| {
        if let Event::RxReady { .. } = ev {
            deliver(&s, ctx, ev)
        }
    });
    match queue.0.arm_with(Some(cb)) {
        Ok(ready) => ready as i32,
        Err(e) => ffi::set_error(&e),
    }
}

/// The calling thread's `napi_env`, as a number. Bun's backend loads this library as an N-API
/// module in a Worker only to get it, for `zmemif_thread_guard_napi` through bun:ffi (so the
/// core stops calling that Worker's `JSCallback`s when it ends; ts/native/bun.ts).
#[napi(js_name = "napiEnv")]
pub fn napi_env(env: Env) -> f64 {
    env.raw() as usize as f64
}

/// For a Node.js Worker: when this thread's environment ends, closes the handles it still owns
/// (`zmemif_thread_guard_napi`; napi-rs already stops its thread-safe functions). 0 or a code.
#[napi(js_name = "guardThread")]
pub fn guard_thread(env: Env) -> i32 {
    // SAFETY: `env` is this thread's live environment (napi-rs passes the caller's).
    unsafe { ffi::zmemif_thread_guard_napi(env.raw().cast()) }
}

#[napi]
pub fn tx_wait(q: f64, n: u32, timeout_ms: i32) -> i32 {
    // SAFETY: a live queue handle (binding's contract).
    unsafe { ffi::zmemif_tx_wait(ptr(q), n, timeout_ms) }
}

// ---- hot path: numbers only, one call per burst ----

/// The byte address of a descriptor array. Stable for the array's life: asking for it makes V8
/// keep the data off the heap, and a buffer made with `new ArrayBuffer` never moves.
/// `zmemif_probe` into `out` (144 bytes, a `zmemif_probe_result`). Blocks up to `timeout_ms`
/// per answer: for command-line tools, not for a program's event loop.
#[napi]
pub fn probe(
    path: Uint8ArraySlice<'_>,
    abstract_: u32,
    id: u32,
    flags: u32,
    timeout_ms: u32,
    mut out: Uint8ArraySlice<'_>,
) -> i32 {
    // SAFETY: the typed array is lent for this call only, and no JS runs until it returns.
    let out = unsafe { out.as_mut() };
    let need = std::mem::size_of::<zmemif_probe_result>();
    if out.len() < need {
        return too_short("probe", out.len(), need);
    }
    let Ok(len) = u32::try_from(path.len()) else {
        return invalid("probe: the path is too long");
    };
    // SAFETY: an all-zero `zmemif_probe_result` is valid plain data.
    let mut r: zmemif_probe_result = unsafe { std::mem::zeroed() };
    // SAFETY: `path` holds `len` bytes; `r` is local and writable.
    let rc =
        unsafe { ffi::zmemif_probe(path.as_ptr(), len, abstract_, id, flags, timeout_ms, &mut r) };
    // SAFETY: `r` is plain data of `need` bytes; `out` holds at least that many.
    unsafe { std::ptr::copy_nonoverlapping((&raw const r).cast::<u8>(), out.as_mut_ptr(), need) };
    rc
}

#[napi]
pub fn address_of(descs: Uint32ArraySlice<'_>) -> f64 {
    descs.as_ptr() as usize as f64
}

// The four burst functions are plain N-API callbacks, not `#[napi]` functions: napi-rs's
// generated wrapper (argument validation, borrow scopes) costs several times the burst itself.
// Each reads three numbers, calls the C ABI and returns its i32: five N-API calls in all.

/// `(queue, descs address, n)` from the call's arguments; a missing or non-number argument reads
/// as 0 (a null handle or address, which the C ABI refuses with INVALID_ARGUMENT).
///
/// # Safety
/// Called by N-API with a live `env` and `info`.
unsafe fn numbers3(env: sys::napi_env, info: sys::napi_callback_info) -> [f64; 3] {
    let mut argc = 3usize;
    let mut argv = [std::ptr::null_mut(); 3];
    let mut out = [0f64; 3];
    // SAFETY: `argv` has room for `argc` values; N-API fills at most that many.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if status == sys::Status::napi_ok {
        for (o, v) in out.iter_mut().zip(argv.iter()).take(argc) {
            // SAFETY: `v` is an argument of this call; a non-number leaves `o` at 0.
            unsafe { sys::napi_get_value_double(env, *v, o) };
        }
    }
    out
}

/// # Safety
/// Called by N-API with a live `env`.
unsafe fn int32(env: sys::napi_env, v: i32) -> sys::napi_value {
    let mut out = std::ptr::null_mut();
    // SAFETY: `out` is writable; on failure it stays null (undefined in JS).
    unsafe { sys::napi_create_int32(env, v, &mut out) };
    out
}

/// # Safety
/// Called by N-API; the binding passes a live queue handle and an address from `address_of` with
/// room for `n` descriptors (the same contract as under bun:ffi).
unsafe fn burst<Q>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    f: impl FnOnce(*mut Q, *mut Desc, u32) -> i32,
) -> sys::napi_value {
    // SAFETY: the caller's contract.
    let [q, d, n] = unsafe { numbers3(env, info) };
    // SAFETY: the caller's contract.
    unsafe { int32(env, f(ptr(q), ptr(d), n as u32)) }
}

unsafe extern "C" fn rx_burst(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see `burst`.
    unsafe { burst(env, info, |q, d, n| ffi::zmemif_rx_burst(q, d, n)) }
}

unsafe extern "C" fn tx_alloc(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see `burst`.
    unsafe { burst(env, info, |q, d, n| ffi::zmemif_tx_alloc(q, d, n)) }
}

unsafe extern "C" fn tx_burst(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see `burst`; tx_burst only reads the descriptors.
    unsafe { burst(env, info, |q, d, n| ffi::zmemif_tx_burst(q, d, n)) }
}

unsafe extern "C" fn rx_release(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see `burst` (one argument: the queue).
    let [q, _, _] = unsafe { numbers3(env, info) };
    // SAFETY: a live queue handle (binding's contract).
    unsafe { int32(env, ffi::zmemif_rx_release(ptr(q))) }
}

/// Adds the raw hot-path functions to the module's exports.
#[napi(module_exports)]
pub fn hot_path(exports: Object<'_>, env: Env) -> napi::Result<()> {
    let fns: [(&str, sys::napi_callback); 4] = [
        ("rxBurst", Some(rx_burst)),
        ("rxRelease", Some(rx_release)),
        ("txAlloc", Some(tx_alloc)),
        ("txBurst", Some(tx_burst)),
    ];
    for (name, cb) in fns {
        let mut f = std::ptr::null_mut();
        // SAFETY: a live env during module init; `name` is `name.len()` bytes of UTF-8.
        let status = unsafe {
            sys::napi_create_function(
                env.raw(),
                name.as_ptr().cast(),
                name.len() as isize,
                cb,
                std::ptr::null_mut(),
                &mut f,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(NapiError::new(
                Status::GenericFailure,
                format!("napi_create_function({name}) failed: {status}"),
            ));
        }
        let cname = std::ffi::CString::new(name).expect("no NUL in the names above");
        // SAFETY: `exports` is the module's exports object, `f` the function just made.
        let status = unsafe {
            sys::napi_set_named_property(env.raw(), exports.value().value, cname.as_ptr(), f)
        };
        if status != sys::Status::napi_ok {
            return Err(NapiError::new(
                Status::GenericFailure,
                format!("exporting {name} failed: {status}"),
            ));
        }
    }
    Ok(())
}

/// Calls `f(buf, len)` that returns a length, and decodes that many bytes as UTF-8.
fn read_string(f: impl FnOnce(*mut u8, u32) -> i32) -> String {
    let mut buf = [0u8; 1024];
    let n = f(buf.as_mut_ptr(), buf.len() as u32);
    if n <= 0 {
        return String::new();
    }
    String::from_utf8_lossy(&buf[..(n as usize).min(buf.len() - 1)]).into_owned()
}

// Desc is four u32 words: the JS side indexes a Uint32Array of them.
const _: () = assert!(std::mem::size_of::<Desc>() == 16 && std::mem::align_of::<Desc>() <= 4);
