//! Starts `zmemif-peer` (the crate's own peer binary) as a separate process and reads its JSON lines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use zmemif::{Desc, RxQueue, TxQueue, DESC_NEXT};

pub struct Peer {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    pub fn spawn(args: &[&str]) -> Peer {
        Peer::start(Command::new(env!("CARGO_BIN_EXE_zmemif-peer")), args)
    }

    /// `zmemif-peer --socket SOCKET --role ROLE --action ACTION` and then `more`: the arguments
    /// every test gives, written once.
    pub fn run(socket: &str, role: &str, action: &str, more: &[&str]) -> Peer {
        Peer::spawn(&run_args(socket, role, action, more))
    }

    /// As `run`, running as another user (see `spawn_as`).
    pub fn run_as(
        uid: u32,
        gid: u32,
        socket: &str,
        role: &str,
        action: &str,
        more: &[&str],
    ) -> Peer {
        Peer::spawn_as(uid, gid, &run_args(socket, role, action, more))
    }

    /// As `spawn`, running as another user: `setpriv` sets uid and gid and drops every
    /// supplementary group, then execs the peer (so its pid is the child's).
    pub fn spawn_as(uid: u32, gid: u32, args: &[&str]) -> Peer {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args(["--clear-groups", "--", env!("CARGO_BIN_EXE_zmemif-peer")]);
        Peer::start(c, args)
    }

    fn start(mut cmd: Command, args: &[&str]) -> Peer {
        let mut child = cmd
            .args(args)
            .args(["--interval-ms", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start zmemif-peer");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Peer {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The next line whose event is `ev` (an `error` line ends the wait too).
    pub fn wait_event(&mut self, ev: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let tag = format!("\"event\":\"{ev}\"");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(&tag) || l.contains("\"event\":\"error\"") {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "peer: no {ev} event within {timeout:?}; saw {:?}",
                    self.seen
                ),
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status if the peer exits within `timeout`, else `None` (it keeps running).
    pub fn try_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                self.sigkill();
                panic!("peer did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn run_args<'a>(socket: &'a str, role: &'a str, action: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--socket", socket, "--role", role, "--action", action];
    args.extend_from_slice(more);
    args
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number field of a JSON line (`"key":123`).
pub fn num(line: &str, key: &str) -> u64 {
    let tag = format!("\"{key}\":");
    let at = line
        .find(&tag)
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
        + tag.len();
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {line}"))
}

/// The payload `zmemif-peer --check` writes and verifies: the sequence number in the first
/// 8 bytes, then byte k = (seq*31 + k) mod 256.
pub fn pattern(seq: u64, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|k| (seq.wrapping_mul(31).wrapping_add(k as u64)) as u8)
        .collect();
    let n = len.min(8);
    v[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
    v
}

pub fn pattern_ok(pkt: &[u8]) -> bool {
    if pkt.len() < 8 {
        return true;
    }
    let seq = u64::from_le_bytes(pkt[..8].try_into().unwrap());
    pkt == pattern(seq, pkt.len()).as_slice()
}

/// Sends `pkt`, waiting for room.
pub fn send_blocking(tx: &mut TxQueue, pkt: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tx.send(pkt).expect("send") {
        assert!(Instant::now() < deadline, "no tx space for 10 s");
        tx.wait(1, Some(Duration::from_millis(50))).expect("wait");
    }
}

/// Calls `each` with every whole packet among `descs` (as rx_burst gave them: a packet is a chain
/// of descriptors, each but the last flagged DESC_NEXT), its buffers read out of `rx`.
pub fn each_packet(rx: &RxQueue, descs: &[Desc], mut each: impl FnMut(&[u8])) {
    let mut p = Vec::new();
    let mut i = 0;
    while i < descs.len() {
        let first = i;
        while descs[i].flags & DESC_NEXT != 0 {
            i += 1;
        }
        i += 1;
        p.clear();
        rx.read_packet(&descs[first..i], &mut p).unwrap();
        each(&p);
    }
}

/// Receives whole packets until `n` arrived or `timeout` passes; returns them.
pub fn recv_packets(rx: &mut RxQueue, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut descs = vec![Desc::default(); 256];
    while out.len() < n && Instant::now() < deadline {
        let k = rx.rx_burst(&mut descs).expect("rx_burst");
        each_packet(rx, &descs[..k], |p| out.push(p.to_vec()));
        if k == 0 {
            let _ = rx.wait(Some(Duration::from_millis(20)));
        }
    }
    out
}

pub fn tmp_sock(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("zmemif-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.sock"))
        .to_string_lossy()
        .into_owned()
}
