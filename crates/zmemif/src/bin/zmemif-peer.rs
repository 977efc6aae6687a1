//! zmemif-peer: a memif peer made of the crate alone, for tests, benchmarks and interop checks.
//!
//! It connects or listens, then runs one action on every queue pair it has, and prints one JSON
//! object per line on stdout: `{"event":"connected",...}`, `{"event":"stats",...}` each interval,
//! and `{"event":"done",...}` at the end.

use std::io::Write;
use std::time::{Duration, Instant};

use zmemif::{
    Code, Desc, Mode, Perms, Port, PortConfig, Role, RxQueue, Socket, SocketAddr, TxQueue,
    DESC_NEXT,
};

#[path = "shared/json.rs"]
mod json;
use json::json_str;

const HELP: &str = "\
zmemif-peer: a memif peer built on the zmemif crate alone

USAGE: zmemif-peer [OPTIONS]

  --socket PATH|@NAME   control socket: a path, or @name for an abstract name [default: /run/memif.sock]
  --role client|server  [default: client]
  --id N                interface id [default: 0]
  --secret S            shared secret (up to 24 bytes)
  --allow-uid LIST      server: only peers running as these uids (comma separated) may connect
  --allow-gid LIST      server: only peers with these gids (either list admits)
  --require-secret      server: an abstract socket with neither secret nor allow-list is an error
  --expect-server-uid N client: connect only to a server running as uid N
  --mode eth|ip         interface mode [default: eth]
  --queues N            queues in each direction [default: 1]
  --c2s N, --s2c N      client-to-server / server-to-client queues, when they differ
  --ring-size N         slots per ring, a power of two [default: 1024]
  --buffer-size N       bytes per buffer [default: 2048]
  --action A            sink: receive on every rx queue; source: transmit on every tx queue;
                        both: source and sink; echo: send back what arrives on rx queue q through
                        tx queue q; idle: connect and wait [default: sink]
  --size N              source: packet bytes (chained when larger than a buffer) [default: 64]
  --burst N             packets per burst [default: 32]
  --count N             source/both: packets to send in all, then stop sending (0 = until
                        --seconds) [default: 0]; both goes on receiving meanwhile
  --seconds S           stop after S seconds of traffic (0 = run until killed or --count)
                        [default: 0]; a source stops sending then, and leaves once its peer took
                        what it sent
  --check               sink/echo: verify the payload pattern written by `source` (byte k of packet
                        number s is (s*31+k) mod 256, s in the first 8 bytes)
  --interval-ms N       print stats every N ms (0 = only at the end) [default: 1000]
  --connect-timeout S   give up if not connected in S seconds [default: 30]; a server keeps
                        waiting when a client is refused (wrong id, secret, mode, uid)
  --forever             server: serve one peer after another until killed (a \"done\" line per
                        peer); waits for each next peer without a time limit
  --help                this text

A session ends with a \"done\" line whose reason is \"deadline\" (--seconds), \"count\" (--count
sent; with --action both and no --seconds: once the tx rings drained and nothing arrived for
200 ms), \"disconnected\" (the peer left: not an error, exit status 0) or \"fault\" (we ended the
connection: the peer broke the protocol, e.g. bad descriptors or an impossible ring index; exit
status 3, a --forever server goes on serving). After \"disconnected\" and \"fault\", \"detail\"
says why: the reason the peer sent (or how its socket closed), or the one we sent it. A source
(and both, at \"count\") leaves only once its peer took everything on its tx rings, waiting up to
5 s for it: leaving earlier would end the connection with those packets unread, and its \"tx\"
counts them as sent. Their \"done\" line says \"drained\": true, or false when the wait ran out.
";

struct Opts {
    socket: String,
    role: Role,
    id: u32,
    secret: Option<String>,
    allow_uids: Vec<u32>,
    allow_gids: Vec<u32>,
    require_secret: bool,
    expect_server_uid: Option<u32>,
    mode: Mode,
    c2s: u16,
    s2c: u16,
    ring_size: u32,
    buffer_size: u32,
    action: String,
    size: usize,
    burst: usize,
    count: u64,
    seconds: f64,
    check: bool,
    interval_ms: u64,
    connect_timeout: f64,
    forever: bool,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        socket: "/run/memif.sock".into(),
        role: Role::Client,
        id: 0,
        secret: None,
        allow_uids: Vec::new(),
        allow_gids: Vec::new(),
        require_secret: false,
        expect_server_uid: None,
        mode: Mode::Ethernet,
        c2s: 1,
        s2c: 1,
        ring_size: 1024,
        buffer_size: 2048,
        action: "sink".into(),
        size: 64,
        burst: 32,
        count: 0,
        seconds: 0.0,
        check: false,
        interval_ms: 1000,
        connect_timeout: 30.0,
        forever: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--help" || a == "-h" {
            print!("{HELP}");
            std::process::exit(0);
        }
        if a == "--check" {
            o.check = true;
            continue;
        }
        if a == "--require-secret" {
            o.require_secret = true;
            continue;
        }
        if a == "--forever" {
            o.forever = true;
            continue;
        }
        let v = args
            .next()
            .ok_or(format!("{a} needs a value (see --help)"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{a}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--socket" => o.socket = v,
            "--role" => {
                o.role = match v.as_str() {
                    "client" => Role::Client,
                    "server" => Role::Server,
                    _ => return Err(format!("--role {v}: use client or server")),
                }
            }
            "--id" => o.id = num(&v)? as u32,
            "--secret" => o.secret = Some(v),
            "--allow-uid" | "--allow-gid" => {
                let ids = v
                    .split(',')
                    .map(|x| num(x).map(|n| n as u32))
                    .collect::<Result<Vec<_>, _>>()?;
                if a == "--allow-uid" {
                    o.allow_uids.extend(ids)
                } else {
                    o.allow_gids.extend(ids)
                }
            }
            "--expect-server-uid" => o.expect_server_uid = Some(num(&v)? as u32),
            "--mode" => {
                o.mode = match v.as_str() {
                    "eth" => Mode::Ethernet,
                    "ip" => Mode::Ip,
                    _ => return Err(format!("--mode {v}: use eth or ip")),
                }
            }
            "--queues" => {
                o.c2s = num(&v)? as u16;
                o.s2c = o.c2s;
            }
            "--c2s" => o.c2s = num(&v)? as u16,
            "--s2c" => o.s2c = num(&v)? as u16,
            "--ring-size" => o.ring_size = num(&v)? as u32,
            "--buffer-size" => o.buffer_size = num(&v)? as u32,
            "--action" => o.action = v,
            "--size" => o.size = num(&v)? as usize,
            "--burst" => o.burst = num(&v)?.max(1) as usize,
            "--count" => o.count = num(&v)?,
            "--seconds" => o.seconds = v.parse().map_err(|_| format!("--seconds {v}"))?,
            "--interval-ms" => o.interval_ms = num(&v)?,
            "--connect-timeout" => {
                o.connect_timeout = v.parse().map_err(|_| format!("--connect-timeout {v}"))?
            }
            _ => return Err(format!("unknown option {a} (see --help)")),
        }
    }
    if !["sink", "source", "both", "echo", "idle"].contains(&o.action.as_str()) {
        return Err(format!(
            "--action {}: use sink, source, both, echo or idle",
            o.action
        ));
    }
    if o.size == 0 || o.size > 65535 {
        return Err(format!("--size {}: use 1 to 65535", o.size));
    }
    if o.forever && o.role != Role::Server {
        return Err("--forever is for --role server (a client reconnects by itself)".into());
    }
    Ok(o)
}

fn pattern(seq: u64, k: usize) -> u8 {
    (seq.wrapping_mul(31).wrapping_add(k as u64)) as u8
}

/// Packet bytes for `source`: the sequence number, then the pattern.
fn fill(buf: &mut [u8], seq: u64) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(seq, k);
    }
    let n = buf.len().min(8);
    buf[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

fn verify(pkt: &[u8]) -> bool {
    if pkt.len() < 8 {
        return true;
    }
    let seq = u64::from_le_bytes(pkt[..8].try_into().unwrap());
    pkt.iter()
        .enumerate()
        .skip(8)
        .all(|(k, &b)| b == pattern(seq, k))
}

/// How long a source that stopped sending waits for its peer to take what is on a tx ring.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Waits until the peer took everything on every tx ring (each ring wholly free again), up to
/// DRAIN_WAIT for each; true if they all drained.
fn drain(txs: &mut [TxQueue]) -> zmemif::Result<bool> {
    let mut drained = true;
    for q in txs.iter_mut() {
        drained &= q.wait(u16::MAX, Some(DRAIN_WAIT))?;
    }
    Ok(drained)
}

#[derive(Default, Clone, Copy)]
struct Totals {
    rx: u64,
    rx_bytes: u64,
    tx: u64,
    tx_bytes: u64,
    bad_payload: u64,
    tx_full: u64,
}

fn emit(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("zmemif-peer: {e}");
            std::process::exit(2);
        }
    };
    match run(&o) {
        Ok(Some(why)) => {
            eprintln!("zmemif-peer: we ended the connection: {why}");
            std::process::exit(3);
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("zmemif-peer: {e}");
            emit(format!(
                "{{\"event\":\"error\",\"code\":\"{}\",\"message\":{}}}",
                e.code.name(),
                json_str(&e.message)
            ));
            std::process::exit(1);
        }
    }
}

/// Ends with the reason we gave when we ended a connection for a peer fault (not with --forever).
fn run(o: &Opts) -> zmemif::Result<Option<String>> {
    let socket = Socket::new(SocketAddr::parse(&o.socket)?, Perms::default())?;
    let port = Port::new(
        &socket,
        PortConfig {
            id: o.id,
            role: o.role,
            mode: o.mode,
            secret: o.secret.as_ref().map(|s| s.as_bytes().to_vec()),
            name: "zmemif-peer".into(),
            num_c2s: o.c2s,
            num_s2c: o.s2c,
            ring_size: o.ring_size,
            buffer_size: o.buffer_size,
            allow_uids: o.allow_uids.clone(),
            allow_gids: o.allow_gids.clone(),
            require_secret: o.require_secret,
            expect_server_uid: o.expect_server_uid,
            ..PortConfig::default()
        },
    )?;
    let mut timeout = Some(Duration::from_secs_f64(o.connect_timeout));
    loop {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match port.wait_connected(left) {
                Ok(()) => break,
                // One refused client (wrong secret, id, mode or uid) must not take a server
                // down: reported as a "rejected" line.
                Err(e) if e.code == Code::PeerRejected && o.role == Role::Server => {
                    let r = port.info().rejected_peer;
                    emit(format!(
                        "{{\"event\":\"rejected\",\"reason\":{},\"peer_pid\":{},\"peer_uid\":{}}}",
                        json_str(&port.info().reason),
                        r.map_or(-1, |p| i64::from(p.pid)),
                        r.map_or(-1, |p| i64::from(p.uid))
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        let fault = session(o, &port)?;
        if !o.forever {
            return Ok(fault);
        }
        timeout = None;
    }
}

/// Serves one connected peer until the action ends or the connection ends, and prints its lines.
/// Returns our reason when we ended the connection because the peer broke the protocol.
fn session(o: &Opts, port: &Port) -> zmemif::Result<Option<String>> {
    let info = port.info();
    let (pid, uid, gid) = info.peer.map_or((-1, -1, -1), |p| {
        (i64::from(p.pid), i64::from(p.uid), i64::from(p.gid))
    });
    emit(format!(
        "{{\"event\":\"connected\",\"peer\":{},\"c2s\":{},\"s2c\":{},\"log2_ring\":{},\"regions\":{},\"peer_pid\":{pid},\"peer_uid\":{uid},\"peer_gid\":{gid}}}",
        json_str(&info.peer_name), info.num_c2s, info.num_s2c, info.log2_ring_size, info.num_regions
    ));
    let (nrx, ntx) = match o.role {
        Role::Client => (info.num_s2c, info.num_c2s),
        Role::Server => (info.num_c2s, info.num_s2c),
    };
    let mut rxs: Vec<RxQueue> = (0..nrx)
        .map(|q| port.rx_queue(q))
        .collect::<zmemif::Result<_>>()?;
    let mut txs: Vec<TxQueue> = (0..ntx)
        .map(|q| port.tx_queue(q))
        .collect::<zmemif::Result<_>>()?;
    let do_rx = matches!(o.action.as_str(), "sink" | "both" | "echo");
    let do_tx = matches!(o.action.as_str(), "source" | "both");
    let mut per_rx = vec![0u64; nrx as usize];

    let mut loops = 0u64;
    let start = Instant::now();
    let deadline = (o.seconds > 0.0).then(|| start + Duration::from_secs_f64(o.seconds));
    let mut t = Totals::default();
    let mut last = (start, t);
    let mut seq = 0u64;
    // A burst of whole packets: `burst` packets of this size (at least one 65535-byte chain).
    let segs = o.size.div_ceil(o.buffer_size.max(1) as usize).max(1);
    // The longest packet this connection can carry always fits (info.max_segments), so rx_burst
    // never answers TOO_LARGE.
    let rx_max = (o.burst * segs).max(info.max_segments as usize);
    let mut descs = vec![Desc::default(); rx_max];
    let mut txd = vec![Desc::default(); o.burst * 64];
    let mut scratch = vec![0u8; 65536];
    let mut pkt = Vec::with_capacity(65536);
    let mut tx_done = false;
    let mut cap_hint = o.buffer_size as usize;
    // both --count: when the last packet went out, and when something last arrived.
    let mut quiet = (start, 0u64);
    // both --count: the tx rings were seen drained once, with nothing received since.
    let mut drained_once = false;
    // source, and both at "count": whether the peer took everything sent before we left.
    let mut drained: Option<bool> = None;
    // The connection ending at any point (NOT_CONNECTED from any call) ends the session as
    // "disconnected" (or "fault", see below), not as an error.
    let pumped = (|| -> zmemif::Result<&'static str> {
        let mut end_reason = "deadline";
        'run: loop {
            if do_rx {
                for q in 0..rxs.len() {
                    let got = rxs[q].rx_burst(&mut descs[..rx_max])?;
                    if got == 0 {
                        continue;
                    }
                    let mut i = 0;
                    while i < got {
                        let first = i;
                        let mut len = 0usize;
                        while descs[i].flags & DESC_NEXT != 0 {
                            len += descs[i].length as usize;
                            i += 1;
                        }
                        len += descs[i].length as usize;
                        i += 1;
                        t.rx += 1;
                        per_rx[q] += 1;
                        t.rx_bytes += len as u64;
                        if o.check || o.action == "echo" {
                            pkt.clear();
                            rxs[q].read_packet(&descs[first..i], &mut pkt)?;
                            if o.check && !verify(&pkt) {
                                t.bad_payload += 1;
                            }
                            if o.action == "echo" && q < txs.len() {
                                // Back-pressure: wait for room rather than drop.
                                while !txs[q].send(&pkt)? {
                                    t.tx_full += 1;
                                    txs[q].wait(1, Some(Duration::from_millis(100)))?;
                                }
                                t.tx += 1;
                                t.tx_bytes += len as u64;
                            }
                        }
                    }
                }
            }
            if do_tx {
                for q in 0..txs.len() {
                    if o.count > 0 && seq >= o.count {
                        if !do_rx {
                            // Everything sent: let the peer take it all before stopping.
                            drained = Some(drain(&mut txs)?);
                            end_reason = "count";
                            break 'run;
                        }
                        // both: stop sending, go on receiving while the tx rings drain (the last
                        // echoes come back meanwhile); the clock check below ends the session.
                        if !tx_done {
                            tx_done = true;
                            quiet = (Instant::now(), t.rx);
                        }
                        break;
                    }
                    let want = o.burst.min(if o.count > 0 {
                        (o.count - seq) as usize
                    } else {
                        usize::MAX
                    });
                    let need = (want * o.size.div_ceil(cap_hint.max(1))).min(txd.len());
                    let got = txs[q].alloc(&mut txd[..need])?;
                    if got > 0 {
                        cap_hint = txd[0].length as usize;
                    }
                    // Build packets from the reserved buffers, as many as fit whole (a buffer's
                    // capacity is ours as client, the client's offer as server).
                    let (mut used, mut pkts) = (0usize, 0usize);
                    while pkts < want {
                        let mut left = o.size;
                        let mut end = used;
                        while left > 0 && end < got {
                            left -= left.min(txd[end].length as usize);
                            end += 1;
                        }
                        if left > 0 {
                            break;
                        }
                        let body = &mut scratch[..o.size];
                        if o.check {
                            fill(body, seq);
                        } else {
                            let k = o.size.min(8);
                            body[..k].copy_from_slice(&seq.to_le_bytes()[..k]);
                        }
                        let mut at = 0;
                        for (i, d) in txd[used..end].iter_mut().enumerate() {
                            let take = (o.size - at).min(d.length as usize);
                            if o.check {
                                txs[q].write(d, 0, &body[at..at + take])?;
                            } else if i == 0 && take >= 8 {
                                // The sequence number only: a fixed 8-byte store.
                                txs[q].write(d, 0, &seq.to_le_bytes())?;
                            } else if i == 0 {
                                txs[q].write(d, 0, &body[..take])?;
                            }
                            d.length = take as u32;
                            d.flags = if at + take < o.size { DESC_NEXT } else { 0 };
                            at += take;
                        }
                        used = end;
                        pkts += 1;
                        seq += 1;
                    }
                    if pkts == 0 {
                        t.tx_full += 1;
                        continue;
                    }
                    txs[q].tx_burst(&txd[..used])?;
                    t.tx += pkts as u64;
                    t.tx_bytes += (pkts * o.size) as u64;
                }
            }
            if !do_rx && !do_tx {
                if port.status() != zmemif::Status::Connected {
                    end_reason = "disconnected";
                    break 'run;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            // The clock is read every 256 turns: a vDSO call per burst is a tenth of the work.
            loops += 1;
            if (do_rx || do_tx) && loops % 256 != 0 {
                continue;
            }
            let now = Instant::now();
            if let Some(d) = deadline {
                if now >= d {
                    if do_tx && !do_rx {
                        // Stop sending, and leave only once the peer took what is on the rings:
                        // our disconnect ends the connection, and a receiver reads nothing of a
                        // connection that ended, so what it had not read yet would be lost
                        // (counted as sent all the same).
                        drained = Some(drain(&mut txs)?);
                    }
                    break;
                }
            } else if tx_done {
                if t.rx != quiet.1 {
                    quiet = (now, t.rx);
                    drained_once = false;
                } else if now.duration_since(quiet.0) >= Duration::from_millis(200) {
                    let mut empty = true;
                    for q in txs.iter_mut() {
                        empty &= q.wait(u16::MAX, Some(Duration::ZERO))?;
                    }
                    // The peer gives our last buffers back after it sent their echoes, perhaps
                    // since the rx sweep above: sweep the rx rings once more before ending.
                    if empty && drained_once {
                        end_reason = "count";
                        drained = Some(true);
                        break 'run;
                    }
                    drained_once = empty;
                }
            }
            if o.interval_ms > 0
                && now.duration_since(last.0) >= Duration::from_millis(o.interval_ms)
            {
                let dt = now.duration_since(last.0).as_secs_f64();
                emit(format!(
                "{{\"event\":\"stats\",\"rx\":{},\"tx\":{},\"rx_mpps\":{:.4},\"tx_mpps\":{:.4},\"bad_payload\":{}}}",
                t.rx,
                t.tx,
                (t.rx - last.1.rx) as f64 / dt / 1e6,
                (t.tx - last.1.tx) as f64 / dt / 1e6,
                t.bad_payload
            ));
                last = (now, t);
            }
        }
        Ok(end_reason)
    })();
    let mut end_reason = match pumped {
        Ok(r) => r,
        Err(e) if e.code == Code::NotConnected => "disconnected",
        Err(e) => return Err(e),
    };
    // Who ended the connection: the peer (it left, or told us why), or the core, for a peer that
    // broke the protocol (it sent the peer a DISCONNECT with this reason). A queue that found the
    // peer broken answers NOT_CONNECTED at once; the control thread sends the DISCONNECT and
    // records the reason a moment later: wait for that (leaving earlier would end the connection
    // as "Interface closed" instead).
    let mut fault = None;
    let mut detail = String::new();
    if end_reason == "disconnected" {
        let until = Instant::now() + Duration::from_secs(5);
        while port.info().disconnects == info.disconnects && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        let info = port.info();
        detail = format!(",\"detail\":{}", json_str(&info.reason));
        if info.local {
            end_reason = "fault";
            fault = Some(info.reason);
        }
    }
    let drained = drained.map_or(String::new(), |d| format!(",\"drained\":{d}"));
    let secs = start.elapsed().as_secs_f64();
    let mut bad_descs = 0;
    for q in &rxs {
        bad_descs += q.stats().bad_descs;
    }
    for q in &txs {
        bad_descs += q.stats().bad_descs;
    }
    emit(format!(
        "{{\"event\":\"done\",\"reason\":\"{end_reason}\",\"seconds\":{secs:.3},\"rx\":{},\"rx_bytes\":{},\"tx\":{},\"tx_bytes\":{},\"rx_mpps\":{:.4},\"tx_mpps\":{:.4},\"bad_payload\":{},\"bad_descs\":{bad_descs},\"tx_full\":{},\"per_rx\":{:?}{drained}{detail}}}",
        t.rx,
        t.rx_bytes,
        t.tx,
        t.tx_bytes,
        t.rx as f64 / secs / 1e6,
        t.tx as f64 / secs / 1e6,
        t.bad_payload,
        t.tx_full,
        per_rx
    ));
    Ok(fault)
}
