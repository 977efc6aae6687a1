//! The one place that knows how to run DPDK's `dpdk-testpmd` with one `net_memif` port, for
//! zmemif's tests and benches. The Rust tests use this library; the TypeScript tests and the
//! benches run its binary, `zmemif-testpmd` (src/main.rs), and read its JSON lines
//! (support/testpmd.ts). The command a *user* types is in examples/dpdk_recipe.ts instead.
//!
//! Written against DPDK 22.11 (Debian 12 `dpdk-dev`). Everything here was learned by running it:
//!
//! * A failed vdev or port start does not stop testpmd (it keeps running, exit code 0), so
//!   [`Testpmd::start`] reads the log and returns an error on any of [`START_FAILURES`].
//! * net_memif 22.11 accepts the keys `id role bsize rsize socket socket-abstract mac zero-copy
//!   secret`. **An unknown key makes it ignore every key** and fall back to its defaults (a client
//!   on the abstract socket `/run/memif.sock`). `start` therefore checks that the listener
//!   (server) or the connection (client) uses our socket name.
//! * The link coming up is only visible in the driver's own log (`memif_connect(): Connected.`),
//!   so the driver log level is raised to debug; the data path logs nothing, the handshake logs
//!   one line per message.
//! * A 22.11 client connects once, when its port starts, and never retries: start the server
//!   first. A client that is transmitting may segfault when its server goes away, so stop
//!   clients before servers.
//! * Either role's forwarding lcore may die of SIGSEGV (in librte_net_memif, right after the
//!   driver logs the peer's DISCONNECT) when the peer leaves while testpmd forwards: the PMD
//!   unmaps the rings under a running burst (forwarder/README.md, "A peer leaving mid-burst").
//!   A test that needs testpmd after its peer left runs it interactive and sends `stop` first.
//!   A server with two or more queue pairs can die the same way when a client connects while it
//!   forwards (the same README section): there, start forwarding once the link is up.
//! * After a memif session, testpmd sometimes segfaults (exit 139) on SIGTERM (2 of 15 runs
//!   here): don't assert on the exit status of a peer that was connected.
//! * Copy-mode transmit of chains (frames larger than one buffer) counts a packet's first buffer
//!   only after writing it, so it takes one slot more than it has free. With a packet of k
//!   buffers and k - 1 free, the packet goes out past the receiver's buffers and the uint16 free
//!   count wraps (a zmemif receiver disconnects it; testpmd then dies of SIGSEGV); with fewer,
//!   the packet waits, but the slot after the free ones, the receiver's, is already overwritten
//!   (a queued packet arrives cut in two). The receiver returns whole packets, so a burst starts
//!   with ring size mod k free: the benches keep k a power of two (benches/lib/geometry.ts).
//! * Without `--stats-period` (or `-i`), testpmd waits at "Press enter to exit" and exits at once
//!   when stdin is not a terminal. `--stats-period 1` prints a block per port about every second
//!   (every ~2 s on some VMs, where testpmd's timer calibration rounds the 1 s sleep down).
//!   stdout is a pipe, so the process runs under `stdbuf -oL -eL`, and stderr (DPDK's log) is
//!   merged into stdout so the driver's lines and testpmd's keep their order. Each line is
//!   stamped with `Instant::now()` when read; rates come from those stamps, not from testpmd's
//!   clock.
//! * Interactive (`-i`, [`TestpmdOpts::interactive`]): [`Testpmd::command`] sends one command and
//!   returns its reply. `show port stats 0` gives the counters exactly when asked; `stop` stops
//!   forwarding with the link still up, and its "Forward statistics" are the totals since `start`
//!   (net_memif zeroes its counters on disconnect, so read them before the link goes down).
//!
//! The process runs under `setpriv --pdeathsig TERM`, so it dies with the thread that started
//! it even if the test process is killed: keep a `Testpmd` on the thread that created it.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// The one JSON string escaper, shared with zmemif-peer (the file says why it lives there).
#[path = "../../../crates/zmemif/src/bin/shared/json.rs"]
mod json;
pub use json::json_str;

/// Log lines that mean the vdev or the port did not come up (testpmd itself keeps running).
pub const START_FAILURES: &[&str] = &[
    "failed to initialize", // vdev_probe(): failed to initialize net_memif0 device
    "probe failed",         // EAL: Bus (vdev) probe failed.
    "No probed ethernet devices", // testpmd: No probed ethernet devices
    "Fail to configure port",
    "Fail to start port", // Fail to start port 0: Operation not permitted
    "Not all ports were started",
    "Failed to setup socket", // listener path in use
    "EAL: Error",
    "EAL: FATAL",
    "Cannot init EAL",
];
/// testpmd printed this once forwarding runs (`rxonly packet forwarding - ports=1 - cores=1 ...`).
pub const READY: &str = "packet forwarding - ports=";
/// The driver's line when the rings are mapped and the link is up (either role).
pub const LINK_UP: &str = "memif_connect(): Connected.";
/// The driver's line when the link goes down (`memif_disconnect(): Disconnected, id: 0, role: server.`).
pub const LINK_DOWN: &str = "memif_disconnect(): Disconnected";
/// The driver's line when the peer sent DISCONNECT (`... Disconnect received: Incorrect secret`).
pub const DISCONNECT_RECEIVED: &str = "Disconnect received:";
/// testpmd's interactive prompt (written without a newline; the driver's log may follow it on
/// the same line, and during start-up it may even be cut in two).
pub const PROMPT: &str = "testpmd> ";

const SIGTERM_GRACE: Duration = Duration::from_secs(3);
const MAX_SOCKET_PATH: usize = 107;

static SEQ: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// Where the control socket lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socket {
    /// A filesystem socket (`socket-abstract=no`).
    Path(PathBuf),
    /// An abstract-namespace name, without the leading `@` (`socket-abstract=yes`).
    Abstract(String),
}

impl Socket {
    /// A fresh filesystem path under the temp dir, unique per process and call.
    pub fn unique_path(tag: &str) -> Socket {
        Socket::Path(std::env::temp_dir().join(format!("{}.sock", unique_name(tag))))
    }

    /// A fresh abstract name, unique per process and call.
    pub fn unique_abstract(tag: &str) -> Socket {
        Socket::Abstract(unique_name(tag))
    }

    /// The name as net_memif prints it in its log lines.
    fn log_name(&self) -> String {
        match self {
            Socket::Path(p) => p.display().to_string(),
            Socket::Abstract(n) => n.clone(),
        }
    }
}

/// testpmd `--forward-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwdMode {
    /// Return every received packet unchanged.
    Io,
    /// Return every received packet with MAC addresses swapped.
    Macswap,
    /// Return every received packet with MAC, IP and L4 ports swapped.
    FiveTupleSwap,
    /// Count and free.
    Rxonly,
    /// Generate UDP packets of `pkt_len` bytes (`--txpkts`); receives nothing.
    Txonly { pkt_len: u16 },
}

impl FwdMode {
    fn as_str(self) -> &'static str {
        match self {
            FwdMode::Io => "io",
            FwdMode::Macswap => "macswap",
            FwdMode::FiveTupleSwap => "5tswap",
            FwdMode::Rxonly => "rxonly",
            FwdMode::Txonly { .. } => "txonly",
        }
    }
}

/// How to start one testpmd. `TestpmdOpts::server(socket)` / `::client(socket)` then set fields.
#[derive(Clone, Debug)]
pub struct TestpmdOpts {
    pub role: Role,
    /// memif interface id (`id=`).
    pub id: u32,
    pub socket: Socket,
    pub mode: FwdMode,
    /// `--burst`; testpmd's default is 32.
    pub burst: Option<u16>,
    /// Queue pairs (`--rxq=N --txq=N`; net_memif takes its ring count from them).
    pub queues: u16,
    /// `secret=` (up to 24 bytes; 22.11 accepts longer and truncates).
    pub secret: Option<String>,
    /// `rsize=` log2 ring size, 1..=14 (default 10).
    pub rsize: Option<u8>,
    /// `bsize=` buffer size (default 2048).
    pub bsize: Option<u32>,
    /// CPU both lcores run on (main lcore sleeps, lcore 1 polls). Pin peers to different CPUs:
    /// two busy pollers on one CPU drop to ~0.1 Mpps.
    pub cpu: usize,
    /// `--tx-first`: send one burst when forwarding starts, to start an io/macswap loop
    /// between two testpmds. Implies waiting for the link before forwarding starts (testpmd's
    /// link check, up to 9 s), else the burst is dropped on a link that is still down.
    pub tx_first: bool,
    /// `--total-num-mbufs`.
    pub mbufs: u32,
    /// EAL `-m` (MB of non-huge memory).
    pub mem_mb: u32,
    /// Appended to the `--vdev` string, e.g. `"zero-copy=yes"`.
    pub extra_vdev_args: Vec<String>,
    /// Extra EAL arguments (before `--`).
    pub extra_eal_args: Vec<String>,
    /// Extra testpmd arguments (after `--`).
    pub extra_app_args: Vec<String>,
    /// How long `start` waits for forwarding to begin.
    pub start_timeout: Duration,
    /// Short name used in file names and error messages.
    pub name: String,
    /// Interactive (`-i`) instead of `--stats-period 1 --auto-start`: forwarding starts with the
    /// `start` command ([`Testpmd::command`]); no periodic stats prints.
    pub interactive: bool,
    /// `--mbuf-size` (data room + 128 headroom), for frames larger than the default 2048 bytes.
    pub mbuf_size: Option<u32>,
}

impl TestpmdOpts {
    pub fn server(socket: Socket) -> TestpmdOpts {
        TestpmdOpts::new(Role::Server, socket)
    }

    pub fn client(socket: Socket) -> TestpmdOpts {
        TestpmdOpts::new(Role::Client, socket)
    }

    fn new(role: Role, socket: Socket) -> TestpmdOpts {
        TestpmdOpts {
            role,
            id: 0,
            socket,
            mode: FwdMode::Rxonly,
            burst: None,
            queues: 1,
            secret: None,
            rsize: None,
            bsize: None,
            cpu: 0,
            tx_first: false,
            mbufs: 16384,
            mem_mb: 512,
            extra_vdev_args: Vec::new(),
            extra_eal_args: Vec::new(),
            extra_app_args: Vec::new(),
            start_timeout: Duration::from_secs(20),
            name: role.as_str().to_string(),
            interactive: false,
            mbuf_size: None,
        }
    }

    fn vdev(&self) -> String {
        let mut v = format!("net_memif0,role={},id={}", self.role.as_str(), self.id);
        match &self.socket {
            Socket::Path(p) => write!(v, ",socket={},socket-abstract=no", p.display()),
            Socket::Abstract(n) => write!(v, ",socket={},socket-abstract=yes", n),
        }
        .expect("write to String");
        if let Some(s) = &self.secret {
            write!(v, ",secret={s}").expect("write to String");
        }
        if let Some(r) = self.rsize {
            write!(v, ",rsize={r}").expect("write to String");
        }
        if let Some(b) = self.bsize {
            write!(v, ",bsize={b}").expect("write to String");
        }
        for a in &self.extra_vdev_args {
            write!(v, ",{a}").expect("write to String");
        }
        v
    }

    fn args(&self, file_prefix: &str) -> Vec<String> {
        let cpu = self.cpu;
        let mut a = vec![
            format!("--lcores=0@{cpu},1@{cpu}"),
            "--no-huge".into(),
            "-m".into(),
            self.mem_mb.to_string(),
            "--no-pci".into(),
            "--no-telemetry".into(),
            "--no-shconf".into(),
            format!("--file-prefix={file_prefix}"),
            "--log-level=pmd.net.memif:debug".into(),
            format!("--vdev={}", self.vdev()),
        ];
        a.extend(self.extra_eal_args.iter().cloned());
        a.push("--".into());
        if self.interactive {
            a.push("-i".into());
        }
        a.push(format!("--total-num-mbufs={}", self.mbufs));
        // --mbuf-size must come before --txpkts, which is checked against it when parsed.
        if let Some(m) = self.mbuf_size {
            a.push(format!("--mbuf-size={m}"));
        }
        a.push(format!("--forward-mode={}", self.mode.as_str()));
        if !self.interactive {
            a.extend(["--stats-period=1".into(), "--auto-start".into()]);
        }
        a.extend([
            format!("--rxq={}", self.queues),
            format!("--txq={}", self.queues),
        ]);
        if let FwdMode::Txonly { pkt_len } = self.mode {
            a.push(format!("--txpkts={pkt_len}"));
        }
        if let Some(b) = self.burst {
            a.push(format!("--burst={b}"));
        }
        if self.tx_first {
            a.push("--tx-first".into());
        } else {
            a.push("--disable-link-check".into());
        }
        a.extend(self.extra_app_args.iter().cloned());
        a
    }
}

/// One port's counters from a `--stats-period` block:
///
/// ```text
///   ######################## NIC statistics for port 0  ########################
///   RX-packets: 42650976   RX-missed: 0          RX-bytes:  2729662976
///   RX-errors: 0
///   RX-nombuf:  0
///   TX-packets: 0          TX-errors: 0          TX-bytes:  0
///
///   Throughput (since last show)
///   Rx-pps:     20609711          Rx-bps:  10552174320
///   Tx-pps:            0          Tx-bps:            0
///   ############################################################################
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_missed: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_nombuf: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_bytes: u64,
    /// testpmd's own rate since the previous block (its clock; prefer deltas over `at`).
    pub rx_pps: u64,
    pub rx_bps: u64,
    pub tx_pps: u64,
    pub tx_bps: u64,
}

impl PortStats {
    fn set(&mut self, key: &str, v: u64) {
        match key {
            "RX-packets" => self.rx_packets = v,
            "RX-missed" => self.rx_missed = v,
            "RX-bytes" => self.rx_bytes = v,
            "RX-errors" => self.rx_errors = v,
            "RX-nombuf" => self.rx_nombuf = v,
            "TX-packets" => self.tx_packets = v,
            "TX-errors" => self.tx_errors = v,
            "TX-bytes" => self.tx_bytes = v,
            "Rx-pps" => self.rx_pps = v,
            "Rx-bps" => self.rx_bps = v,
            "Tx-pps" => self.tx_pps = v,
            "Tx-bps" => self.tx_bps = v,
            _ => {}
        }
    }

    /// A JSON object with the field names of support/testpmd.ts (`rxPackets`, ...).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"rxPackets\":{},\"rxMissed\":{},\"rxBytes\":{},\"rxErrors\":{},\"rxNombuf\":{},\
             \"txPackets\":{},\"txErrors\":{},\"txBytes\":{},\"rxPps\":{},\"rxBps\":{},\
             \"txPps\":{},\"txBps\":{}}}",
            self.rx_packets,
            self.rx_missed,
            self.rx_bytes,
            self.rx_errors,
            self.rx_nombuf,
            self.tx_packets,
            self.tx_errors,
            self.tx_bytes,
            self.rx_pps,
            self.rx_bps,
            self.tx_pps,
            self.tx_bps
        )
    }
}

/// One complete `--stats-period` print: every port, and when its header line arrived.
#[derive(Clone, Debug)]
pub struct StatsSnapshot {
    /// Index in the sequence of snapshots (0 = first print).
    pub seq: usize,
    pub at: Instant,
    /// Indexed by port id.
    pub ports: Vec<PortStats>,
}

impl StatsSnapshot {
    pub fn port(&self, id: usize) -> PortStats {
        self.ports.get(id).copied().unwrap_or_default()
    }
}

/// Packets per second between two snapshots of port `port`, measured on our clock.
pub fn rates(a: &StatsSnapshot, b: &StatsSnapshot, port: usize) -> (f64, f64) {
    let secs = b.at.saturating_duration_since(a.at).as_secs_f64();
    if secs <= 0.0 {
        return (0.0, 0.0);
    }
    let (pa, pb) = (a.port(port), b.port(port));
    let rx = pb.rx_packets.saturating_sub(pa.rx_packets) as f64 / secs;
    let tx = pb.tx_packets.saturating_sub(pa.tx_packets) as f64 / secs;
    (rx, tx)
}

#[derive(Default)]
struct State {
    lines: Vec<String>,
    /// When each line was read.
    times: Vec<Instant>,
    snapshots: Vec<StatsSnapshot>,
    parser: StatsParser,
    open_pipes: u32,
    log: Option<File>,
}

impl State {
    fn exited(&self) -> bool {
        self.open_pipes == 0
    }

    fn count(&self, pattern: &str) -> usize {
        self.lines.iter().filter(|l| l.contains(pattern)).count()
    }

    fn find(&self, pattern: &str) -> Option<&String> {
        self.lines.iter().find(|l| l.contains(pattern))
    }

    /// The index of the first line at or after `from` for which `f` holds.
    fn position(&self, from: usize, f: impl Fn(&str) -> bool) -> Option<usize> {
        (from..self.lines.len()).find(|&i| f(&self.lines[i]))
    }

    /// Up when the last link event in the log is a connect.
    fn link_is_up(&self) -> bool {
        for l in self.lines.iter().rev() {
            if l.contains(LINK_UP) {
                return true;
            }
            if l.contains(LINK_DOWN) {
                return false;
            }
        }
        false
    }
}

#[derive(Default)]
struct StatsParser {
    expected_ports: usize,
    pending: Option<(Instant, Vec<PortStats>)>,
    port: Option<(usize, PortStats)>,
}

impl StatsParser {
    /// Feeds one stdout line; returns a snapshot when the last port block of a print closes.
    fn feed(&mut self, line: &str, now: Instant) -> Option<(Instant, Vec<PortStats>)> {
        if line.starts_with("Configuring Port ") {
            self.expected_ports += 1;
            return None;
        }
        if line.starts_with("Port statistics =") {
            self.pending = Some((now, Vec::new()));
            self.port = None;
            return None;
        }
        if let Some(rest) = line.split("NIC statistics for port ").nth(1) {
            let id = rest
                .split_whitespace()
                .next()
                .and_then(|t| t.parse().ok())?;
            self.port = Some((id, PortStats::default()));
            return None;
        }
        let (id, stats) = self.port.as_mut()?;
        let t = line.trim();
        if t.len() > 8 && t.bytes().all(|b| b == b'#') {
            let (id, stats) = (*id, *stats);
            self.port = None;
            let (_, ports) = self.pending.as_mut()?;
            if ports.len() <= id {
                ports.resize(id + 1, PortStats::default());
            }
            ports[id] = stats;
            if ports.len() >= self.expected_ports.max(1) {
                return self.pending.take();
            }
            return None;
        }
        let toks: Vec<&str> = t.split_whitespace().collect();
        for w in toks.windows(2) {
            if let (Some(key), Ok(v)) = (w[0].strip_suffix(':'), w[1].parse::<u64>()) {
                stats.set(key, v);
            }
        }
        None
    }
}

/// One interactive command's reply ([`Testpmd::command`]).
#[derive(Clone, Debug)]
pub struct Reply {
    pub lines: Vec<String>,
    /// When its first line arrived.
    pub at: Instant,
}

impl Reply {
    /// Port `port`'s counters in a `show port stats PORT` reply.
    pub fn port_stats(&self, port: usize) -> Option<PortStats> {
        let text = format!("Port statistics ====\n{}", self.lines.join("\n"));
        parse_stats(&text, port + 1).first()?.get(port).copied()
    }

    /// `(rx, tx)` packets since `start` in a `stop` reply: the totals after "Forward statistics
    /// for port PORT" (with several queues, per-stream blocks come first).
    pub fn forward_totals(&self, port: usize) -> Option<(u64, u64)> {
        let head = format!("Forward statistics for port {port}");
        let from = self.lines.iter().position(|l| l.contains(&head))?;
        let field = |name: &str| {
            self.lines[from..].iter().find_map(|l| {
                let rest = l.split(name).nth(1)?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
        };
        Some((field("RX-packets:")?, field("TX-packets:")?))
    }
}

/// What a [`Watcher`] saw since the previous call.
#[derive(Debug, Default)]
pub struct Updates {
    /// New log lines.
    pub lines: Vec<String>,
    /// New complete stats prints.
    pub snapshots: Vec<StatsSnapshot>,
    /// testpmd's output ended (it exited); nothing more will come.
    pub ended: bool,
}

/// Follows a [`Testpmd`]'s log from another thread (the launcher binary prints it as it comes).
pub struct Watcher {
    shared: Shared,
}

impl Watcher {
    /// Waits (up to `timeout`) for lines after the first `lines_seen` or prints after the first
    /// `snaps_seen`, and returns them; `ended` once testpmd's output is closed.
    pub fn next(&self, lines_seen: usize, snaps_seen: usize, timeout: Duration) -> Updates {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut s = m.lock().unwrap_or_else(|e| e.into_inner());
        while s.lines.len() <= lines_seen && s.snapshots.len() <= snaps_seen && !s.exited() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            s = cv
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Updates {
            lines: s.lines.get(lines_seen..).unwrap_or_default().to_vec(),
            snapshots: s.snapshots.get(snaps_seen..).unwrap_or_default().to_vec(),
            ended: s.exited(),
        }
    }
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `dpdk-testpmd`. Dropping it stops the process, removes the socket file it served,
/// and removes its temp dir (kept when the test is panicking, or with `ZMEMIF_KEEP_LOGS=1`).
pub struct Testpmd {
    opts: TestpmdOpts,
    child: Option<Child>,
    /// testpmd's command line (interactive only).
    stdin: Option<ChildStdin>,
    status: Option<ExitStatus>,
    shared: Shared,
    readers: Vec<JoinHandle<()>>,
    dir: PathBuf,
    log_path: PathBuf,
    file_prefix: String,
}

impl Testpmd {
    /// Starts testpmd and waits until it forwards (interactive: until its ports are up and it
    /// waits for commands). A server must start before its client.
    pub fn start(opts: TestpmdOpts) -> Result<Testpmd, String> {
        let bin = find_testpmd()?;
        let mut opts = opts;
        if let Socket::Abstract(n) = &opts.socket {
            opts.socket = Socket::Abstract(n.trim_start_matches('@').to_string());
        }
        check_socket(&opts)?;

        let name = unique_name(&opts.name);
        let dir = std::env::temp_dir().join(&name);
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let log_path = dir.join("testpmd.log");
        let mut log =
            File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let file_prefix = name.clone();
        let args = opts.args(&file_prefix);

        // setpriv: the process gets SIGTERM when this thread dies; stdbuf: line-buffered stdout.
        let mut argv: Vec<String> = Vec::new();
        if let Some(p) = which("setpriv") {
            argv.extend([p.display().to_string(), "--pdeathsig".into(), "TERM".into()]);
        }
        if let Some(p) = which("stdbuf") {
            argv.extend([p.display().to_string(), "-oL".into(), "-eL".into()]);
        }
        argv.push(bin.display().to_string());
        argv.extend(args);
        writeln!(log, "# {}", argv.join(" ")).map_err(|e| format!("write log: {e}"))?;

        // DPDK logs to stderr and testpmd prints to stdout: one pipe keeps them in order
        // (READY must not overtake the driver's lines). Each exec keeps the same pid.
        let mut child = Command::new("sh")
            .args(["-c", "exec 2>&1; exec \"$@\"", "sh"])
            .args(&argv)
            .stdin(if opts.interactive {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", argv[0]))?;

        let shared: Shared = Arc::new((
            Mutex::new(State {
                open_pipes: 1,
                log: Some(log),
                ..State::default()
            }),
            Condvar::new(),
        ));
        let out = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take();
        let readers = vec![spawn_reader(out, shared.clone())];

        let t = Testpmd {
            opts,
            child: Some(child),
            stdin,
            status: None,
            shared,
            readers,
            dir,
            log_path,
            file_prefix,
        };
        // On failure `t` drops here: the error carries the log's last lines.
        t.wait_ready().map(|()| t)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let timeout = self.opts.start_timeout;
        let interactive = self.opts.interactive;
        self.wait(timeout, "start", |s| {
            if let Some(l) = START_FAILURES.iter().find_map(|p| s.find(p)) {
                return Some(Err(format!("port did not start: {l:?}")));
            }
            if interactive {
                // The first prompt can be cut in two by the driver's log: the "Done" that ends
                // port start-up is what counts.
                s.lines
                    .iter()
                    .find(|l| l.contains(PROMPT) || l.trim() == "Done")
                    .map(|_| Ok(()))
            } else {
                s.find(READY).map(|_| Ok(()))
            }
        })?;
        if interactive {
            let _ = self.wait(Duration::from_secs(1), "the prompt", |s| {
                s.find(PROMPT).map(|_| Ok(()))
            });
        }
        // net_memif 22.11 ignores all its arguments when one key is unknown: make sure ours
        // were applied by looking for our socket name in the driver's own line.
        let sock = self.opts.socket.log_name();
        let (want, what) = match self.opts.role {
            Role::Server => (format!("Memif listener socket {sock} created."), "listener"),
            Role::Client => (format!("Memif socket: {sock} connected."), "connection"),
        };
        let s = lock(&self.shared);
        if s.find(&want).is_none() {
            drop(s);
            return Err(self.fail(&format!(
                "no {what} on {sock:?} in the log: were the vdev arguments ignored? \
                 (net_memif 22.11 drops ALL its arguments when one key is unknown; \
                 valid keys: id role bsize rsize socket socket-abstract mac zero-copy secret)"
            )));
        }
        Ok(())
    }

    /// Waits for `f` to return `Some`, waking on every new log line; fails on timeout or exit.
    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&State) -> Option<Result<T, String>>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.shared;
        let mut s = m.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match f(&s) {
                Some(Ok(v)) => return Ok(v),
                Some(Err(e)) => {
                    drop(s);
                    return Err(self.fail(&e));
                }
                None => {}
            }
            if s.exited() {
                drop(s);
                return Err(self.fail(&format!("testpmd exited while waiting for {what}")));
            }
            let now = Instant::now();
            if now >= deadline {
                drop(s);
                return Err(self.fail(&format!("timed out after {timeout:?} waiting for {what}")));
            }
            s = cv
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// An error message with the log path and its last lines.
    fn fail(&self, msg: &str) -> String {
        let s = lock(&self.shared);
        let tail: Vec<&str> = s
            .lines
            .iter()
            .rev()
            .take(25)
            .rev()
            .map(String::as_str)
            .collect();
        format!(
            "testpmd[{}]: {msg}\nlog: {}\n--- last lines ---\n{}",
            self.opts.name,
            self.log_path.display(),
            tail.join("\n")
        )
    }

    /// Interactive: sends `cmd` and returns the lines of its reply. A `show port stats` reply
    /// ends at the closing `####` of its block, a `stop` reply at `Done.`, a `start` reply at its
    /// `... packet forwarding - ports=` line, any other at the next prompt (a stale or garbled
    /// prompt cannot cut the first three short). The prompt is written in pieces, and the driver's
    /// log (a peer connecting or leaving just then) can come between them: a reply that ended at
    /// the prompt would never be recognised.
    pub fn command(&mut self, cmd: &str, timeout: Duration) -> Result<Reply, String> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.fail(&format!("cannot send {cmd:?}: not started interactive")));
        };
        let from = lock(&self.shared).lines.len();
        if let Err(e) = writeln!(stdin, "{cmd}").and_then(|()| stdin.flush()) {
            let why = self.exit_note();
            return Err(self.fail(&format!("cannot send {cmd:?}: {e}{why}")));
        }
        let stats = cmd.starts_with("show port stats");
        let stop = cmd == "stop";
        let start = cmd == "start";
        let end = self.wait(timeout, &format!("the reply to {cmd}"), |s| {
            if stats {
                let head = s.position(from, |l| l.contains("NIC statistics"))?;
                s.position(head, |l| {
                    let t = l.trim();
                    t.len() >= 20 && t.bytes().all(|b| b == b'#')
                })
                .map(|i| Ok(i + 1))
            } else if stop {
                s.position(from, |l| l.trim() == "Done.").map(|i| Ok(i + 1))
            } else if start {
                s.position(from, |l| {
                    l.contains(READY) || l.contains("Packet forwarding already started")
                })
                .map(|i| Ok(i + 1))
            } else {
                s.position(from, |l| l.contains(PROMPT)).map(Ok)
            }
        })?;
        if stats || stop || start {
            // The prompt after it, so that the next reply starts after it.
            let _ = self.wait(Duration::from_secs(1), "the prompt", |s| {
                s.position(end, |l| l.contains(PROMPT)).map(Ok)
            });
        }
        let s = lock(&self.shared);
        Ok(Reply {
            lines: s.lines[from..end].to_vec(),
            at: s.times.get(from).copied().unwrap_or_else(Instant::now),
        })
    }

    /// ` (testpmd exited: STATUS)` once the process has exited (waiting up to 1 s: a closed
    /// stdin is seen before the exit), else empty: why a command could not be sent.
    fn exit_note(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.is_running() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        match self.status {
            Some(st) => format!(" (testpmd exited: {st})"),
            None => String::new(),
        }
    }

    /// A handle another thread can follow the log with ([`Watcher::next`]).
    pub fn watcher(&self) -> Watcher {
        Watcher {
            shared: self.shared.clone(),
        }
    }

    /// Waits until a log line contains `pattern`; returns that line.
    pub fn wait_for_log(&self, pattern: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for_log_count(pattern, 1, timeout)
    }

    /// Waits until `n` log lines contain `pattern`; returns the n-th.
    pub fn wait_for_log_count(
        &self,
        pattern: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<String, String> {
        self.wait(timeout, &format!("{n} x {pattern:?}"), |s| {
            s.lines
                .iter()
                .filter(|l| l.contains(pattern))
                .nth(n.saturating_sub(1))
                .cloned()
                .map(Ok)
        })
    }

    /// Waits until the memif link is up (`memif_connect(): Connected.` is the last link event).
    /// A client fails at once on `Disconnect received: REASON` (22.11 clients never retry).
    pub fn link_up(&self, timeout: Duration) -> Result<(), String> {
        let role = self.opts.role;
        self.wait(timeout, "link up", |s| {
            if s.link_is_up() {
                return Some(Ok(()));
            }
            if role == Role::Client {
                if let Some(l) = s.find(DISCONNECT_RECEIVED) {
                    return Some(Err(format!("peer refused the connection: {l:?}")));
                }
            }
            None
        })
    }

    /// Waits until the memif link is down (never up counts as down).
    pub fn link_down(&self, timeout: Duration) -> Result<(), String> {
        self.wait(timeout, "link down", |s| {
            (!s.link_is_up()).then_some(Ok(()))
        })
    }

    /// How many times the link came up so far.
    pub fn connect_count(&self) -> usize {
        lock(&self.shared).count(LINK_UP)
    }

    /// The latest complete stats print, if any.
    pub fn stats(&self) -> Option<StatsSnapshot> {
        lock(&self.shared).snapshots.last().cloned()
    }

    /// Waits for the next stats print after this call.
    pub fn next_stats(&self, timeout: Duration) -> Result<StatsSnapshot, String> {
        let seen = lock(&self.shared).snapshots.len();
        self.wait(timeout, "a stats print", |s| {
            s.snapshots.get(seen).cloned().map(Ok)
        })
    }

    /// Waits for a stats print (past or future) that satisfies `pred`.
    pub fn wait_for_stats(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&StatsSnapshot) -> bool,
    ) -> Result<StatsSnapshot, String> {
        self.wait(timeout, "stats matching the condition", |s| {
            s.snapshots.iter().rev().find(|x| pred(x)).cloned().map(Ok)
        })
    }

    /// The whole log so far (stdout and stderr, ANSI escapes removed).
    pub fn log_text(&self) -> String {
        lock(&self.shared).lines.join("\n")
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn opts(&self) -> &TestpmdOpts {
        &self.opts
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(st))) => {
                self.status = Some(st);
                self.reap();
                false
            }
            _ => false,
        }
    }

    /// Stops testpmd: SIGTERM, then SIGKILL after 3 s. Idempotent; returns the exit status.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let mut status = child.try_wait().ok().flatten();
            if status.is_none() {
                // std has no SIGTERM; the shell's builtin kill has.
                let _ = Command::new("sh")
                    .args([
                        "-c",
                        "kill -TERM \"$1\" 2>/dev/null",
                        "sh",
                        &pid.to_string(),
                    ])
                    .status();
                let deadline = Instant::now() + SIGTERM_GRACE;
                while status.is_none() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                    status = child.try_wait().ok().flatten();
                }
            }
            if status.is_none() {
                let _ = child.kill();
                status = child.wait().ok();
            }
            self.status = status;
            self.reap();
        }
        self.status
    }

    fn reap(&mut self) {
        self.child = None;
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl std::fmt::Debug for Testpmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testpmd")
            .field("name", &self.opts.name)
            .field("pid", &self.pid())
            .field("log", &self.log_path)
            .finish_non_exhaustive()
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        self.kill();
        // Remove the socket file only if this testpmd created it (DPDK removes it on a clean
        // exit, not on SIGKILL or a crash); never someone else's.
        if let (Role::Server, Socket::Path(p)) = (self.opts.role, &self.opts.socket) {
            let created = format!("Memif listener socket {} created.", p.display());
            if lock(&self.shared).find(&created).is_some() {
                let _ = fs::remove_file(p);
            }
        }
        // EAL leaves an empty runtime dir per --file-prefix.
        for base in [
            Some(PathBuf::from("/var/run/dpdk")),
            runtime_dir().map(|d| d.join("dpdk")),
        ]
        .into_iter()
        .flatten()
        {
            let _ = fs::remove_dir(base.join(&self.file_prefix));
        }
        if thread::panicking() || keep_logs() {
            eprintln!(
                "testpmd[{}] log kept: {}",
                self.opts.name,
                self.log_path.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn keep_logs() -> bool {
    std::env::var_os("ZMEMIF_KEEP_LOGS").is_some()
}

fn runtime_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
}

fn unique_name(tag: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("zmemif-tp-{}-{n}-{tag}", std::process::id())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `$ZMEMIF_TESTPMD`, else `dpdk-testpmd` in `PATH`. Missing testpmd is an error, not a skip.
pub fn find_testpmd() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ZMEMIF_TESTPMD") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("ZMEMIF_TESTPMD={} is not a file", p.display()))
        };
    }
    which("dpdk-testpmd").ok_or_else(|| {
        "dpdk-testpmd not found in PATH: install DPDK with `apt-get install dpdk-dev` \
         (or run scripts/install-deps.sh), or set ZMEMIF_TESTPMD=/path/to/dpdk-testpmd"
            .to_string()
    })
}

/// Rejects paths that cannot work and removes a stale server socket file nobody listens on.
fn check_socket(opts: &TestpmdOpts) -> Result<(), String> {
    let Socket::Path(p) = &opts.socket else {
        return Ok(());
    };
    let len = p.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "socket path {} is {len} bytes; max {MAX_SOCKET_PATH}",
            p.display()
        ));
    }
    if !p.is_absolute() {
        return Err(format!("socket path {} must be absolute", p.display()));
    }
    // A memif listener is SOCK_SEQPACKET: a stream connect to a live one fails with EPROTOTYPE,
    // to a dead one with ECONNREFUSED.
    let probe = UnixStream::connect(p);
    let alive = match &probe {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => e.raw_os_error() != Some(111), // ECONNREFUSED
    };
    let exists = fs::symlink_metadata(p).is_ok();
    match opts.role {
        Role::Server if exists && alive => Err(format!(
            "socket {} already has a live listener (another test or engineer?): use a unique path",
            p.display()
        )),
        Role::Server if exists => {
            fs::remove_file(p).map_err(|e| format!("remove stale socket {}: {e}", p.display()))
        }
        Role::Client if !exists => Err(format!(
            "no server socket at {}: start the server first (a DPDK 22.11 client connects once, \
             at port start, and never retries)",
            p.display()
        )),
        _ => Ok(()),
    }
}

fn spawn_reader(mut pipe: impl Read + Send + 'static, shared: Shared) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let now = Instant::now();
            let mut s = lock(&shared);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = buf.drain(..=nl).collect();
                push_line(&mut s, &raw, now);
            }
            // An interactive prompt has no newline: report it as a line of its own.
            if buf.ends_with(PROMPT.as_bytes()) {
                let raw = std::mem::take(&mut buf);
                push_line(&mut s, &raw, now);
            }
            drop(s);
            shared.1.notify_all();
        }
        let mut s = lock(&shared);
        if !buf.is_empty() {
            push_line(&mut s, &buf, Instant::now());
        }
        s.open_pipes -= 1;
        drop(s);
        shared.1.notify_all();
    })
}

fn push_line(s: &mut State, raw: &[u8], now: Instant) {
    let line = strip_ansi(&String::from_utf8_lossy(raw));
    let line = line.trim_end_matches(['\n', '\r']).to_string();
    if let Some(f) = s.log.as_mut() {
        let _ = writeln!(f, "{line}");
    }
    if let Some((at, ports)) = s.parser.feed(&line, now) {
        let seq = s.snapshots.len();
        s.snapshots.push(StatsSnapshot { seq, at, ports });
    }
    s.lines.push(line);
    s.times.push(now);
}

/// Parses testpmd output (as printed) into complete stats prints, for tests of the parser.
pub fn parse_stats(text: &str, ports: usize) -> Vec<Vec<PortStats>> {
    let mut p = StatsParser {
        expected_ports: ports,
        ..StatsParser::default()
    };
    let now = Instant::now();
    text.lines()
        .filter_map(|l| p.feed(&strip_ansi(l), now))
        .map(|(_, v)| v)
        .collect()
}

/// Serialises DPDK tests within one test binary: each test runs two busy pollers and the CI
/// machines have two CPUs. Hold the guard for the whole test.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes CSI escapes (testpmd clears the screen before each stats print).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' && it.peek() == Some(&'[') {
            it.next();
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
