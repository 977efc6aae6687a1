//! Through the C ABI: a callback belongs to the thread that gave it, and
//! `zmemif_thread_callbacks_revoke` on that thread stops it, port events and an armed rx queue's
//! own callback alike (what a Bun Worker's end does through its N-API cleanup hook,
//! `zmemif_thread_guard_napi`). Each is first shown to be called, then not after the revoke.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use zmemif::ffi::*;
use zmemif::Desc;

static PORT_EVENTS: AtomicU32 = AtomicU32::new(0);
static ARM_CALLS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_port(_ctx: u64, _event: u32, _arg: u32) {
    PORT_EVENTS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_arm(_ctx: u64, _event: u32, _arg: u32) {
    ARM_CALLS.fetch_add(1, Ordering::SeqCst);
}

/// The raw handles, as numbers, so a closure on another thread can take them.
#[derive(Clone, Copy)]
struct H(usize);

fn config(role: u8) -> zmemif_port_config {
    let mut secret = [0u8; 24];
    secret[..6].copy_from_slice(b"revoke");
    zmemif_port_config {
        role,
        secret_len: 6,
        reconnect_ms: 5,
        secret,
        ..Default::default()
    }
}

fn socket(name: &str) -> *mut zmemif_socket {
    let mut s = std::ptr::null_mut();
    // SAFETY: `name` is `len` bytes; `s` is writable.
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
    s
}

fn port(s: *mut zmemif_socket, role: u8) -> *mut zmemif_port {
    let mut p = std::ptr::null_mut();
    // SAFETY: `s` is a live socket; the config and `p` are local.
    assert_eq!(unsafe { zmemif_port_new(s, &config(role), &mut p) }, 0);
    p
}

fn wait_connected(p: *mut zmemif_port) {
    // SAFETY: `p` is a live port.
    assert_eq!(unsafe { zmemif_port_wait_connected(p, 5000) }, 0);
}

/// Waits up to 5 s for `counter` to reach `n`.
fn wait_for(counter: &AtomicU32, n: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} calls, {n} expected",
            counter.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The server sends one 64-byte packet on its tx queue 0.
fn send_one(server: *mut zmemif_port) {
    let mut q = std::ptr::null_mut();
    // SAFETY: `server` is a live, connected port; `q` and `d` are local.
    unsafe {
        assert_eq!(zmemif_tx_queue_open(server, 0, &mut q), 0);
        assert!(zmemif_tx_queue_attach(q) >= 0);
        let mut d = [Desc::default()];
        assert_eq!(zmemif_tx_alloc(q, d.as_mut_ptr(), 1), 1);
        d[0].length = 64;
        assert_eq!(zmemif_tx_burst(q, d.as_ptr(), 1), 1);
        zmemif_tx_queue_free(q);
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// One thread that stays (standing for a Worker): `run` has it do `f` and waits until it has.
struct Thread {
    jobs: std::sync::mpsc::Sender<(Job, std::sync::mpsc::Sender<()>)>,
}

impl Thread {
    fn start() -> Thread {
        let (jobs, rx) = std::sync::mpsc::channel::<(Job, std::sync::mpsc::Sender<()>)>();
        std::thread::spawn(move || {
            for (f, done) in rx {
                f();
                let _ = done.send(());
            }
        });
        Thread { jobs }
    }

    fn run(&self, f: impl FnOnce() + Send + 'static) {
        let (done, wait) = std::sync::mpsc::channel();
        self.jobs.send((Box::new(f), done)).unwrap();
        wait.recv().unwrap();
    }
}

#[test]
fn a_threads_callbacks_stop_when_it_revokes_them() {
    let name = format!("zmemif-worker-revoke-{}", std::process::id());
    let ss = socket(&name);
    let cs = socket(&name);
    let mut server = port(ss, ZMEMIF_ROLE_SERVER);
    let client = port(cs, ZMEMIF_ROLE_CLIENT);
    wait_connected(client);
    wait_connected(server);

    // The "Worker" thread gives the client port's callback; a reconnect reaches it.
    let worker = Thread::start();
    let c = H(client as usize);
    worker.run(move || {
        // SAFETY: a live port; `on_port` stays callable (a plain function).
        let rc = unsafe { zmemif_port_set_callback(c.0 as *mut zmemif_port, Some(on_port), 1) };
        assert_eq!(rc, 0);
    });
    // SAFETY: `server` is live and not used again; `ss` is live.
    unsafe { zmemif_port_free(server) };
    server = port(ss, ZMEMIF_ROLE_SERVER);
    wait_connected(server);
    wait_for(
        &PORT_EVENTS,
        2,
        "disconnected + connected before the revoke",
    );

    // The client's rx queue, armed from a thread with its own callback, is called on data.
    let mut rx = std::ptr::null_mut();
    wait_connected(client);
    // SAFETY: `client` is live; `rx` is local.
    unsafe {
        assert_eq!(zmemif_rx_queue_open(client, 0, &mut rx), 0);
        assert!(zmemif_rx_queue_attach(rx) >= 0);
    }
    let q = H(rx as usize);
    let arm = move || {
        // SAFETY: a live, attached rx queue; `on_arm` stays callable.
        let rc = unsafe { zmemif_rx_queue_arm_cb(q.0 as *mut zmemif_rx_queue, Some(on_arm), 2) };
        assert_eq!(rc, 0, "armed (the ring is empty)");
    };
    worker.run(arm);
    send_one(server);
    wait_for(&ARM_CALLS, 1, "the armed queue's callback");
    let mut out = [Desc::default(); 4];
    // SAFETY: `rx` is live; `out` has room for 4.
    assert_eq!(unsafe { zmemif_rx_burst(rx, out.as_mut_ptr(), 4) }, 1);

    // Armed again, then that thread revokes its callbacks: neither data nor a reconnect calls
    // anything of it any more.
    worker.run(move || {
        arm();
        zmemif_thread_callbacks_revoke();
    });
    let events = PORT_EVENTS.load(Ordering::SeqCst);
    send_one(server);
    // SAFETY: as above.
    unsafe { zmemif_port_free(server) };
    server = port(ss, ZMEMIF_ROLE_SERVER);
    wait_connected(server);
    wait_connected(client);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        ARM_CALLS.load(Ordering::SeqCst),
        1,
        "the revoked arm was called"
    );
    assert_eq!(
        PORT_EVENTS.load(Ordering::SeqCst),
        events,
        "the revoked port callback was called"
    );

    // SAFETY: every handle is live and not used again; queues before ports before sockets.
    unsafe {
        zmemif_rx_queue_free(rx);
        zmemif_port_free(client);
        zmemif_port_free(server);
        zmemif_socket_free(cs);
        zmemif_socket_free(ss);
    }
}
