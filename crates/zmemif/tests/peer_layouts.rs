//! Our server with a client that lays its memory out as libmemif 4.0 does (region 0 = rings only,
//! region 1 = buffers), driven here by hand; and a queue's blocking wait in interrupt mode.

#[path = "support/peer.rs"]
mod peer;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use peer::{pattern, recv_packets, tmp_sock, Peer};
use zmemif::fuzzing::region::Region;
use zmemif::fuzzing::sock::{self, Recv};
use zmemif::fuzzing::wire::{ring_stride, AddRing, Init, Msg, COOKIE, VERSION};
use zmemif::{Desc, Perms, Port, PortConfig, Role, Socket, SocketAddr};

const T: Duration = Duration::from_secs(10);

fn recv_msg(fd: &OwnedFd) -> Msg {
    let deadline = Instant::now() + T;
    loop {
        match sock::recv(fd) {
            Recv::Msg(Ok(b), _) => return Msg::decode(&b).unwrap(),
            Recv::WouldBlock if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            _ => panic!("no message from the server"),
        }
    }
}

/// Raw access to the hand-made client's memory.
struct Mem {
    base: *mut u8,
}

impl Mem {
    fn w16(&self, off: usize, v: u16) {
        // SAFETY: callers pass offsets inside the region (checked by the asserts in the test);
        // the u16 fields are 2-aligned.
        unsafe { AtomicU16::from_ptr(self.base.add(off).cast()).store(v, Ordering::Release) }
    }
    fn r16(&self, off: usize) -> u16 {
        // SAFETY: as in w16.
        unsafe { AtomicU16::from_ptr(self.base.add(off).cast()).load(Ordering::Acquire) }
    }
    fn w32(&self, off: usize, v: u32) {
        // SAFETY: as in w16; u32 fields are 4-aligned.
        unsafe { self.base.add(off).cast::<u32>().write_volatile(v) }
    }
    fn r32(&self, off: usize) -> u32 {
        // SAFETY: as in w32.
        unsafe { self.base.add(off).cast::<u32>().read_volatile() }
    }
    fn write(&self, off: usize, b: &[u8]) {
        // SAFETY: callers keep [off, off + len) inside the region.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.base.add(off), b.len()) }
    }
    fn read(&self, off: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        // SAFETY: as in write.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(off), v.as_mut_ptr(), len) }
        v
    }
}

/// A server port (the default configuration) on a socket at `path`.
fn server(path: &str) -> (Socket, Port) {
    let s = Socket::new(SocketAddr::parse(path).unwrap(), Perms::default()).unwrap();
    let config = PortConfig {
        role: Role::Server,
        ..PortConfig::default()
    };
    let port = Port::new(&s, config).unwrap();
    (s, port)
}

#[test]
fn server_accepts_a_rings_only_region_0_with_buffers_in_region_1() {
    let path = tmp_sock("libmemif-layout");
    let addr = SocketAddr::parse(&path).unwrap();
    let (_s, port) = server(&path);

    const LOG2: u8 = 4;
    const R: usize = 1 << LOG2;
    const BS: usize = 256;
    let stride = ring_stride(LOG2);
    let rings = Region::create("rings", 2 * stride as u64).unwrap();
    let bufs = Region::create("bufs", (2 * R * BS) as u64).unwrap();
    let (rm, bm) = (Mem { base: rings.base() }, Mem { base: bufs.base() });
    let (c2s, s2c) = (0usize, stride);
    for (ring, first_buf) in [(c2s, 0usize), (s2c, R)] {
        rm.w32(ring, COOKIE);
        for j in 0..R {
            let d = ring + 128 + j * 16;
            assert!(d + 16 <= rings.len());
            rm.w16(d, 0);
            rm.w16(d + 2, 1); // region 1
            rm.w32(d + 4, BS as u32);
            rm.w32(d + 8, ((first_buf + j) * BS) as u32);
        }
    }
    let efd = [
        zmemif::fuzzing::conn::new_eventfd().unwrap(),
        zmemif::fuzzing::conn::new_eventfd().unwrap(),
    ];

    let fd = sock::connect_to(&addr).unwrap();
    assert!(matches!(recv_msg(&fd), Msg::Hello(_)));
    let ring = |c2s: bool, offset: u32| {
        Msg::AddRing(AddRing {
            c2s,
            index: 0,
            region: 0,
            offset,
            log2_size: LOG2,
            private_hdr_size: 0,
        })
    };
    let script: Vec<(Msg, Option<std::os::fd::BorrowedFd>)> = vec![
        (
            Msg::Init(Init {
                version: VERSION,
                id: 0,
                mode: 0,
                secret: vec![],
                name: b"libmemif-like".to_vec(),
            }),
            None,
        ),
        (
            Msg::AddRegion {
                index: 0,
                size: rings.len() as u64,
            },
            Some(rings.fd().as_fd()),
        ),
        (
            Msg::AddRegion {
                index: 1,
                size: bufs.len() as u64,
            },
            Some(bufs.fd().as_fd()),
        ),
        (ring(true, c2s as u32), Some(efd[0].as_fd())),
        (ring(false, s2c as u32), Some(efd[1].as_fd())),
    ];
    for (m, f) in script {
        sock::send(&fd, &m, f).unwrap();
        assert_eq!(recv_msg(&fd), Msg::Ack);
    }
    sock::send(
        &fd,
        &Msg::Connect {
            name: b"raw".to_vec(),
        },
        None,
    )
    .unwrap();
    assert!(matches!(recv_msg(&fd), Msg::Connected { .. }));
    port.wait_connected(Some(T)).unwrap();
    assert_eq!(port.info().num_regions, 2);

    // Client → server: 5 packets in region 1.
    for j in 0..5 {
        bm.write(j * BS, &pattern(j as u64, 100 + j));
        rm.w32(c2s + 128 + j * 16 + 4, (100 + j) as u32);
    }
    rm.w16(c2s + 6, 5); // head
    let mut rx = port.rx_queue(0).unwrap();
    let got = recv_packets(&mut rx, 5, T);
    assert_eq!(got.len(), 5);
    for (j, p) in got.iter().enumerate() {
        assert_eq!(p, &pattern(j as u64, 100 + j));
    }
    let mut d = [Desc::default(); 8];
    assert_eq!(rx.rx_burst(&mut d).unwrap(), 0); // releases: tail moves to 5
    assert_eq!(rm.r16(c2s + 64), 5);

    // Server → client: offer all S2C buffers, the server fills three.
    rm.w16(s2c + 6, R as u16);
    let mut tx = port.tx_queue(0).unwrap();
    for j in 0..3u64 {
        assert!(tx.send(&pattern(100 + j, 64)).unwrap());
    }
    assert_eq!(rm.r16(s2c + 64), 3); // tail
    for j in 0..3usize {
        let desc = s2c + 128 + j * 16;
        assert_eq!(rm.r16(desc + 2), 1, "the server keeps the offered region");
        let (len, off) = (rm.r32(desc + 4) as usize, rm.r32(desc + 8) as usize);
        assert_eq!(off, (R + j) * BS, "the server keeps the offered offset");
        assert_eq!(bm.read(off, len), pattern(100 + j as u64, 64));
    }
    drop(fd);
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn wait_sleeps_while_idle_and_wakes_on_traffic() {
    let path = tmp_sock("wait");
    let (_s, port) = server(&path);
    let mut peer = Peer::run(&path, "client", "idle", &[]);
    port.wait_connected(Some(T)).unwrap();
    peer.wait_event("connected", T);
    let mut rx = port.rx_queue(0).unwrap();
    // Idle: a 1 s wait times out having used (almost) no CPU.
    let (c0, t0) = (thread_cpu(), Instant::now());
    assert!(!rx.wait(Some(Duration::from_secs(1))).unwrap());
    let (cpu, wall) = (thread_cpu() - c0, t0.elapsed());
    assert!(wall >= Duration::from_millis(990), "{wall:?}");
    assert!(
        cpu < Duration::from_millis(50),
        "idle wait used {cpu:?} of CPU"
    );
    drop(peer);

    // Traffic: a sender that starts later wakes the waiter.
    let deadline = Instant::now() + T;
    while port.info().disconnects < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut src = Peer::run(&path, "client", "source", &["--count", "10"]);
    port.wait_connected(Some(T)).unwrap();
    let t0 = Instant::now();
    assert!(rx.wait(Some(T)).unwrap());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(rx.stats().interrupts >= 1 || rx.rx_burst(&mut [Desc::default(); 32]).unwrap() > 0);
    src.wait_event("done", T);
}
