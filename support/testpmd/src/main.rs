//! `zmemif-testpmd`: runs one dpdk-testpmd with the library of this crate and reports it as JSON
//! lines, for the TypeScript tests and the benches (support/testpmd.ts drives it). `--help`
//! says it all.

use std::io::{self, BufRead, Read};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use zmemif_testpmd::{
    find_testpmd, json_str, parse_stats, FwdMode, Reply, Role, Socket, StatsSnapshot, Testpmd,
    TestpmdOpts, Watcher, DISCONNECT_RECEIVED, LINK_DOWN, LINK_UP,
};

const HELP: &str = "\
usage: zmemif-testpmd --role server|client (--socket PATH | --abstract NAME) [OPTIONS]
       zmemif-testpmd --parse-stats [--ports N] < printed-testpmd-output
       zmemif-testpmd --which

Starts dpdk-testpmd with one net_memif port (net_memif0) and waits until it forwards; a failed
start is an error even though testpmd keeps running. Then reports it on stdout, one JSON object a
line, until `stop` (or the end of stdin): testpmd is stopped (SIGTERM, SIGKILL after 3 s) and the
socket file it served, its DPDK runtime directory and its temp dir are removed.

options:
  --role server|client           memif role (a DPDK 22.11 client never retries: server first)
  --socket PATH                  filesystem socket (socket-abstract=no)
  --abstract NAME                abstract socket, with or without the @ (socket-abstract=yes)
  --id N                         memif interface id (0)
  --mode MODE                    io, macswap, 5tswap, rxonly (default), txonly
  --pkt-len N                    txonly packet length (64)
  --burst N                      --burst (testpmd's default 32)
  --queues N                     queue pairs, --rxq/--txq (1)
  --secret S  --rsize N  --bsize N   net_memif's secret=, rsize= (log2), bsize=
  --cpu N                        the CPU both lcores run on (0)
  --tx-first                     send one burst once the link is up (waits for the link)
  --mbufs N                      --total-num-mbufs (16384)
  --mem-mb N                     EAL -m (512)
  --mbuf-size N                  --mbuf-size, for frames over 2048 bytes
  --vdev-arg K=V                 appended to the --vdev string (repeatable)
  --eal-arg ARG  --app-arg ARG   more EAL / testpmd arguments (repeatable)
  --start-timeout-ms N           how long to wait for the start (20000)
  --name NAME                    short name for file names and messages (the role)
  --interactive                  testpmd -i: forwarding starts with `cmd start`
  --parse-stats [--ports N]      parse printed --stats-period output from stdin; a stats line each
  --which                        print the dpdk-testpmd it runs ($ZMEMIF_TESTPMD, else PATH)

stdin, a command a line:
  stop                           stop testpmd, clean up, print `exit`, exit (so does end of input)
  cmd TEXT                       interactive: send TEXT to testpmd, print its `reply`

stdout, a JSON object a line:
  {\"event\":\"ready\",\"pid\":N,\"log\":PATH}         started (PATH: the full log, kept with ZMEMIF_KEEP_LOGS=1)
  {\"event\":\"log\",\"line\":TEXT}                   each line testpmd and DPDK print (ANSI escapes removed)
  {\"event\":\"link\",\"up\":BOOL}                     the memif link came up or went down
  {\"event\":\"refused\",\"line\":TEXT}               the peer sent DISCONNECT (e.g. Incorrect secret)
  {\"event\":\"stats\",\"seq\":N,\"t\":MS,\"ports\":[{\"rxPackets\":N,...}]}   a complete stats print
  {\"event\":\"reply\",\"cmd\":TEXT,\"t\":MS,\"lines\":[...],\"stats\":{...},\"forward\":{\"rx\":N,\"tx\":N}}
                                  `stats` for show port stats, `forward` (totals since start) for stop
  {\"event\":\"ended\"}                             testpmd's output closed (it exited)
  {\"event\":\"error\",\"message\":TEXT}              start failed (then exit 1), or a command failed
  {\"event\":\"exit\",\"code\":N|null}               testpmd's exit code (128+signal); the last line
MS is milliseconds since the launcher started, read when the line arrived.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("--which") {
        return match find_testpmd() {
            Ok(p) => {
                println!("{}", p.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.first().map(String::as_str) == Some("--parse-stats") {
        let ports = match args.get(1..3) {
            Some([flag, n]) if flag == "--ports" => n.parse().unwrap_or(1),
            _ => 1,
        };
        let mut text = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut text) {
            eprintln!("zmemif-testpmd: read stdin: {e}");
            return ExitCode::FAILURE;
        }
        for (seq, ports) in parse_stats(&text, ports).iter().enumerate() {
            println!(
                "{{\"event\":\"stats\",\"seq\":{seq},\"ports\":{}}}",
                ports_json(ports)
            );
        }
        return ExitCode::SUCCESS;
    }
    match parse_opts(&args) {
        Ok(opts) => run(opts),
        Err(e) => {
            eprintln!("zmemif-testpmd: {e}\n(zmemif-testpmd --help says what it takes)");
            ExitCode::from(2)
        }
    }
}

fn parse_opts(args: &[String]) -> Result<TestpmdOpts, String> {
    let mut role = None;
    let mut socket = None;
    let mut mode = "rxonly".to_string();
    let mut pkt_len: u16 = 64;
    let mut set: Vec<(String, String)> = Vec::new();
    let mut flags: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--role" => {
                role = Some(match value()?.as_str() {
                    "server" => Role::Server,
                    "client" => Role::Client,
                    r => return Err(format!("--role must be server or client, not {r:?}")),
                })
            }
            "--socket" => socket = Some(Socket::Path(value()?.into())),
            "--abstract" => socket = Some(Socket::Abstract(value()?)),
            "--mode" => mode = value()?,
            "--pkt-len" => pkt_len = num(a, &value()?)?,
            "--tx-first" | "--interactive" => flags.push(a.clone()),
            "--id" | "--burst" | "--queues" | "--secret" | "--rsize" | "--bsize" | "--cpu"
            | "--mbufs" | "--mem-mb" | "--mbuf-size" | "--vdev-arg" | "--eal-arg" | "--app-arg"
            | "--start-timeout-ms" | "--name" => set.push((a.clone(), value()?)),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    let role = role.ok_or("--role is required")?;
    let socket = socket.ok_or("--socket PATH or --abstract NAME is required")?;
    let mut o = match role {
        Role::Server => TestpmdOpts::server(socket),
        Role::Client => TestpmdOpts::client(socket),
    };
    o.mode = match mode.as_str() {
        "io" => FwdMode::Io,
        "macswap" => FwdMode::Macswap,
        "5tswap" => FwdMode::FiveTupleSwap,
        "rxonly" => FwdMode::Rxonly,
        "txonly" => FwdMode::Txonly { pkt_len },
        m => {
            return Err(format!(
                "--mode must be io, macswap, 5tswap, rxonly or txonly, not {m:?}"
            ))
        }
    };
    o.tx_first = flags.iter().any(|f| f == "--tx-first");
    o.interactive = flags.iter().any(|f| f == "--interactive");
    for (k, v) in set {
        match k.as_str() {
            "--id" => o.id = num(&k, &v)?,
            "--burst" => o.burst = Some(num(&k, &v)?),
            "--queues" => o.queues = num(&k, &v)?,
            "--secret" => o.secret = Some(v),
            "--rsize" => o.rsize = Some(num(&k, &v)?),
            "--bsize" => o.bsize = Some(num(&k, &v)?),
            "--cpu" => o.cpu = num(&k, &v)?,
            "--mbufs" => o.mbufs = num(&k, &v)?,
            "--mem-mb" => o.mem_mb = num(&k, &v)?,
            "--mbuf-size" => o.mbuf_size = Some(num(&k, &v)?),
            "--vdev-arg" => o.extra_vdev_args.push(v),
            "--eal-arg" => o.extra_eal_args.push(v),
            "--app-arg" => o.extra_app_args.push(v),
            "--start-timeout-ms" => o.start_timeout = Duration::from_millis(num(&k, &v)?),
            _ => o.name = v, // --name
        }
    }
    Ok(o)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag} must be a number, not {v:?}"))
}

fn ports_json(ports: &[zmemif_testpmd::PortStats]) -> String {
    let p: Vec<String> = ports.iter().map(|s| s.to_json()).collect();
    format!("[{}]", p.join(","))
}

fn ms(t0: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

fn run(opts: TestpmdOpts) -> ExitCode {
    let t0 = Instant::now();
    let mut tp = match Testpmd::start(opts) {
        Ok(tp) => tp,
        Err(e) => {
            println!("{{\"event\":\"error\",\"message\":{}}}", json_str(&e));
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{{\"event\":\"ready\",\"pid\":{},\"log\":{}}}",
        tp.pid().unwrap_or(0),
        json_str(&tp.log_path().display().to_string())
    );
    let watcher = tp.watcher();
    let follower = thread::spawn(move || follow(&watcher, t0));
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line == "stop" {
            break;
        }
        if let Some(cmd) = line.strip_prefix("cmd ") {
            match tp.command(cmd, Duration::from_secs(15)) {
                Ok(r) => println!("{}", reply_json(cmd, &r, t0)),
                Err(e) => println!("{{\"event\":\"error\",\"message\":{}}}", json_str(&e)),
            }
        } else if !line.is_empty() {
            let msg = format!("unknown command {line:?} (stop, or cmd TEXT)");
            println!("{{\"event\":\"error\",\"message\":{}}}", json_str(&msg));
        }
    }
    let status = tp.kill();
    drop(tp); // removes what it left behind
    let _ = follower.join();
    let code = status.and_then(|s| {
        use std::os::unix::process::ExitStatusExt;
        s.code().or_else(|| s.signal().map(|n| 128 + n))
    });
    match code {
        Some(c) => println!("{{\"event\":\"exit\",\"code\":{c}}}"),
        None => println!("{{\"event\":\"exit\",\"code\":null}}"),
    }
    ExitCode::SUCCESS
}

/// Prints the log, link changes, refusals and stats prints as they come, until the output ends.
fn follow(w: &Watcher, t0: Instant) {
    let (mut lines, mut snaps) = (0, 0);
    let mut up = false;
    loop {
        let u = w.next(lines, snaps, Duration::from_secs(1));
        for l in &u.lines {
            println!("{{\"event\":\"log\",\"line\":{}}}", json_str(l));
            let change = if l.contains(LINK_UP) {
                Some(true)
            } else if l.contains(LINK_DOWN) {
                Some(false)
            } else {
                None
            };
            if let Some(now) = change.filter(|&now| now != up) {
                up = now;
                println!("{{\"event\":\"link\",\"up\":{up}}}");
            }
            if l.contains(DISCONNECT_RECEIVED) {
                println!("{{\"event\":\"refused\",\"line\":{}}}", json_str(l));
            }
        }
        for s in &u.snapshots {
            println!("{}", stats_json(s, t0));
        }
        lines += u.lines.len();
        snaps += u.snapshots.len();
        if u.ended {
            println!("{{\"event\":\"ended\"}}");
            return;
        }
    }
}

fn stats_json(s: &StatsSnapshot, t0: Instant) -> String {
    format!(
        "{{\"event\":\"stats\",\"seq\":{},\"t\":{:.3},\"ports\":{}}}",
        s.seq,
        ms(t0, s.at),
        ports_json(&s.ports)
    )
}

fn reply_json(cmd: &str, r: &Reply, t0: Instant) -> String {
    let lines: Vec<String> = r.lines.iter().map(|l| json_str(l)).collect();
    let mut j = format!(
        "{{\"event\":\"reply\",\"cmd\":{},\"t\":{:.3},\"lines\":[{}]",
        json_str(cmd),
        ms(t0, r.at),
        lines.join(",")
    );
    if let Some(port) = cmd.strip_prefix("show port stats ") {
        if let Some(s) = port.trim().parse().ok().and_then(|p| r.port_stats(p)) {
            j.push_str(&format!(",\"stats\":{}", s.to_json()));
        }
    }
    if cmd == "stop" {
        if let Some((rx, tx)) = r.forward_totals(0) {
            j.push_str(&format!(",\"forward\":{{\"rx\":{rx},\"tx\":{tx}}}"));
        }
    }
    j.push('}');
    j
}
