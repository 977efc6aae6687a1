//! CPU cost of the data path, one thread: a client and a server port of this process connected
//! through their rings, the thread alternating `alloc` + `tx_burst` on one side and `rx_burst` on
//! the other. No cross-core traffic, so this is the instruction cost per packet, not a rate two
//! processes reach (that is `bun run benches/pps.ts --scenario rust-rust`).
//!
//!   cargo bench -p zmemif --bench burst_cost [-- --burst 32 --packets 20000000]

use std::time::{Duration, Instant};

use zmemif::{Desc, Perms, Port, PortConfig, Role, Socket, SocketAddr};

fn main() {
    let mut burst = 32usize;
    let mut packets = 20_000_000u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--burst" => burst = args.next().and_then(|v| v.parse().ok()).expect("--burst N"),
            "--packets" => {
                packets = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--packets N")
            }
            "--bench" => {}
            other => panic!("unknown argument {other}: use --burst N --packets N"),
        }
    }
    let addr =
        SocketAddr::Abstract(format!("zmemif-burst-cost-{}", std::process::id()).into_bytes());
    let s = Socket::new(addr, Perms::default()).unwrap();
    let server = Port::new(
        &s,
        PortConfig {
            role: Role::Server,
            ..PortConfig::default()
        },
    )
    .unwrap();
    let client = Port::new(&s, PortConfig::default()).unwrap();
    client.wait_connected(Some(Duration::from_secs(5))).unwrap();
    server.wait_connected(Some(Duration::from_secs(5))).unwrap();
    for (dir, (mut tx, mut rx)) in [
        (
            "client→server",
            (client.tx_queue(0).unwrap(), server.rx_queue(0).unwrap()),
        ),
        (
            "server→client",
            (server.tx_queue(0).unwrap(), client.rx_queue(0).unwrap()),
        ),
    ] {
        let mut txd = vec![Desc::default(); burst];
        let mut rxd = vec![Desc::default(); burst];
        let mut run = |n: u64| {
            let (mut sent, mut got) = (0u64, 0u64);
            while got < n {
                let k = tx.alloc(&mut txd).unwrap();
                for d in &mut txd[..k] {
                    d.length = 64;
                }
                sent += tx.tx_burst(&txd[..k]).unwrap() as u64;
                got += rx.rx_burst(&mut rxd).unwrap() as u64;
            }
            (sent, got)
        };
        run(packets / 10); // warm up
        let t = Instant::now();
        let (_, got) = run(packets);
        let dt = t.elapsed().as_secs_f64();
        println!(
            "{dir}: burst {burst}: {:.2} ns per packet (tx + rx, one thread), {:.1} Mpps",
            dt * 1e9 / got as f64,
            got as f64 / dt / 1e6
        );
    }
}
