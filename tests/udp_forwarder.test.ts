/**
 * End to end through the DPDK forwarder (forwarder/, zmemif-fwd), in network namespaces made by
 * the test, as forwarder/tests/e2e.sh lays them out:
 *
 *   client ns                       host ns
 *   kernel UDP client ---- veth ---- af_packet uplink -- zmemif-fwd -- memif0 -- udp_echo.ts (a process)
 *   192.0.2.2                                               |      \-- memif1 -- a zmemif UDP socket here
 *                                    kernel (TAP, 192.0.2.1) +
 *
 * The kernel client sends to 192.0.2.1; the forwarder steers port 5000 to memif0 and 5001 to
 * memif1; the zmemif services answer; the kernel client receives every reply intact (the kernel
 * verifies checksums: InCsumErrors must not move), including a 4000-byte reply that we fragment
 * and the client's kernel reassembles. Needs forwarder/build/zmemif-fwd (or $FWD) and root;
 * without them it says why and skips, except under CI=true where it fails (helpers/prereq.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "bun";
import { udpSocket, type UdpSocket } from "../ts/index.ts";
import { KERNEL_PY, netnsUnavailable, Proc } from "./helpers/netns.ts";
import { describeNeeding } from "./helpers/prereq.ts";

const ROOT = join(import.meta.dir, "..");
const FWD = process.env.FWD ?? join(ROOT, "forwarder", "build", "zmemif-fwd");
const FWDTEST = join(ROOT, "forwarder", "tests", "fwdtest.py");
const ECHO = join(ROOT, "examples", "udp_echo.ts");
const HOST = "192.0.2.1";
const CLIENT = "192.0.2.2";

const why =
  netnsUnavailable() ??
  (existsSync(FWD) ? null : `the forwarder is not built (${FWD}); build it with make -C forwarder`);

function sh(args: string[]): string {
  const r = spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${args.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** As sh(), without blocking this process's event loop (the service on memif1 runs in it). */
async function run(args: string[]): Promise<string> {
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${args.join(" ")}: exit ${code}: ${out}${err}`);
  return out;
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

describeNeeding("udp_forwarder.test.ts", why, "through the forwarder", () => {
  const id = ((Math.random() * 0x10000) | 0).toString(16).padStart(4, "0");
  const nsH = `zmf-udp-fh${id}`;
  const nsC = `zmf-udp-fc${id}`;
  const vethU = `zmf-udp-u${id}`;
  const vethC = `zmf-udp-c${id}`;
  const kif = `zmf-udp-k${id}`;
  const tmp = mkdtempSync(join(tmpdir(), "zmf-udp-fwd-"));
  const sock = join(tmp, "memif.sock");
  const mgmt = join(tmp, "mgmt.sock");
  let fwd: Proc | null = null;
  let echo: Proc | null = null;
  let svc: UdpSocket<"buffer"> | null = null;
  const inC = (args: string[]) => run(["ip", "netns", "exec", nsC, ...args]);
  const counters = (keys: string[]) =>
    sh(["python3", FWDTEST, "mgmt", mgmt, ...keys])
      .trim()
      .split(/\s+/)
      .map(Number);

  beforeAll(async () => {
    sh(["ip", "netns", "add", nsH]);
    sh(["ip", "netns", "add", nsC]);
    sh(["ip", "link", "add", vethU, "netns", nsH, "type", "veth", "peer", "name", vethC, "netns", nsC]);
    await inC(["ip", "link", "set", "lo", "up"]);
    await inC(["ip", "addr", "add", `${CLIENT}/24`, "dev", vethC]);
    await inC(["ip", "link", "set", vethC, "up"]);
    sh(["ip", "-n", nsH, "link", "set", "lo", "up"]);
    sh(["ip", "-n", nsH, "link", "set", vethU, "up"]);
    // the veth stands in for a NIC the host kernel does not see (as in forwarder/tests/e2e.sh)
    sh([
      "ip",
      "netns",
      "exec",
      nsH,
      "sysctl",
      "-qw",
      `net.ipv4.conf.${vethU}.arp_ignore=8`,
      `net.ipv4.conf.${vethU}.rp_filter=1`,
      "net.ipv4.conf.all.rp_filter=1",
      `net.ipv6.conf.${vethU}.disable_ipv6=1`,
    ]);
    for (const [ns, dev] of [
      [nsC, vethC],
      [nsH, vethU],
    ] as const) {
      spawnSync(
        [
          "ip",
          "netns",
          "exec",
          ns,
          "ethtool",
          "-K",
          dev,
          "tso",
          "off",
          "gso",
          "off",
          "gro",
          "off",
          "tx",
          "off",
          "rx",
          "off",
        ],
        {
          stdout: "ignore",
          stderr: "ignore",
        },
      );
    }
    fwd = new Proc([
      "ip",
      "netns",
      "exec",
      nsH,
      FWD,
      "-l",
      process.env.FWD_LCORES ?? "0,1",
      "--no-huge",
      "-m",
      "512",
      "--no-pci",
      "--no-telemetry",
      "--no-shconf",
      "--file-prefix",
      `zmf-udp-fwd${id}`,
      `--vdev=net_af_packet0,iface=${vethU}`,
      "--",
      "--host",
      `${HOST}/24`,
      "--memif-ports",
      "2",
      "--udp-ports",
      "5000:0,5001:1",
      "--memif-socket",
      sock,
      "--mgmt",
      mgmt,
      "--kernel-iface",
      kif,
      "--stats-period",
      "0",
    ]);
    const t0 = performance.now();
    for (;;) {
      if (
        spawnSync(["python3", FWDTEST, "mgmt", mgmt, "uplink.link"], { stdout: "ignore", stderr: "ignore" })
          .exitCode === 0
      )
        break;
      if (performance.now() - t0 > 20_000)
        throw new Error(`forwarder did not start:\n${fwd.lines.join("\n")}\n${fwd.stderr}`);
      await Bun.sleep(100);
    }
    // memif0: the echo example, as a user runs it; memif1: a socket in this process
    echo = new Proc([process.execPath, ECHO, "--host", HOST, "--ports", "5000", sock, "0"]);
    svc = await udpSocket({
      hostname: HOST,
      port: 5001,
      memif: { socket: sock, id: 1, connectTimeoutMs: 20_000 },
      socket: {
        data(s, data, port, address) {
          const text = data.toString();
          // "big:N" asks for an N-byte reply (fragmented by us, reassembled by the client's kernel)
          const big = /^big:(\d+)$/.exec(text);
          s.send(big !== null ? pattern(Number(big[1])) : data, port, address);
        },
      },
    });
    await echo.waitFor(/^listening/, 20_000);
    sh(["python3", FWDTEST, "wait-link", mgmt, "memif0", "up", "20"]);
  }, 60_000);

  /** SIGTERM, then SIGKILL after 5 s; the exit code. */
  async function stopForwarder(): Promise<number> {
    if (fwd === null) return 0;
    const f = fwd;
    fwd = null;
    f.proc.kill("SIGTERM");
    const t = setTimeout(() => f.kill(), 5000);
    const code = await f.exited;
    clearTimeout(t);
    return code;
  }

  afterAll(async () => {
    // the forwarder first: DPDK 22.11's memif PMD may unmap a region under a burst when a peer
    // leaves (forwarder/README.md, "A peer leaving mid-burst"), so its peers leave after it
    await stopForwarder();
    svc?.close();
    echo?.proc.kill("SIGTERM");
    spawnSync(["ip", "netns", "del", nsC]);
    spawnSync(["ip", "netns", "del", nsH]);
    rmSync(tmp, { recursive: true, force: true });
  }, 20_000);

  test("a kernel client's datagrams are echoed intact by the zmemif services; the kernel finds no bad checksum", async () => {
    const before = JSON.parse(await inC(["python3", KERNEL_PY, "csum-errors"]));
    const [m0before, m1before] = counters(["memif0.tx", "memif1.tx"]);
    for (const [port, count, size] of [
      [5000, 200, 64],
      [5000, 100, 1400],
      [5000, 20, 1472],
      [5001, 50, 300],
    ] as const) {
      const out = JSON.parse(
        (await inC(["python3", KERNEL_PY, "client", HOST, String(port), String(count), String(size)])).trim(),
      );
      expect(out, `port ${port}, ${count} x ${size} B`).toMatchObject({ sent: count, ok: count, bad: 0, lost: 0 });
    }
    // many flows at once (fwdtest.py, the forwarder's own client)
    const flows = await inC(["python3", FWDTEST, "udp", HOST, "5000", "400", "--flows", "16", "--size", "200"]);
    expect(JSON.parse(flows.trim())).toMatchObject({ replies_intact: 400, bad: 0, lost: 0 });
    const after = JSON.parse(await inC(["python3", KERNEL_PY, "csum-errors"]));
    expect(after.ipv4 - before.ipv4).toBe(0);
    const [m0after, m1after] = counters(["memif0.tx", "memif1.tx"]);
    expect(m0after! - m0before!).toBe(200 + 100 + 20 + 400);
    expect(m1after! - m1before!).toBe(50);
  }, 60_000);

  test("a reply larger than the MTU leaves in fragments we make, and the client's kernel reassembles it", async () => {
    for (const n of [1473, 4000, 20000]) {
      const out = JSON.parse((await inC(["python3", KERNEL_PY, "ask", HOST, "5001", `big:${n}`])).trim());
      expect(out).toEqual({
        len: n,
        sha: new Bun.CryptoHasher("sha256").update(pattern(n)).digest("hex"),
        src: HOST,
        port: 5001,
      });
    }
    expect(svc!.stats()).toMatchObject({ badChecksum: 0, truncated: 0, malformed: 0, refused: 0, lostOnDisconnect: 0 });
    expect(svc!.stats().txFrames).toBeGreaterThan(svc!.stats().tx);
  }, 30_000);

  test("zmemif stats reads the forwarder's counters (--json, --once table), and says when it cannot", async () => {
    const cli = join(import.meta.dir, "..", "ts", "cli", "bun.ts");
    const zmemif = (args: string[]) =>
      spawnSync([process.execPath, cli, "stats", ...args], { stdout: "pipe", stderr: "pipe" });
    const j = zmemif([mgmt, "--json"]);
    expect(j.exitCode).toBe(0);
    const doc = JSON.parse(j.stdout.toString());
    const [rx0, tx0] = counters(["memif0.rx", "memif0.tx"]);
    const memif0 = doc.ports.find((p: { name: string }) => p.name === "memif0");
    expect(memif0).toMatchObject({ kind: "memif", link: "up", rx: rx0, tx: tx0 });
    const t = zmemif([mgmt, "--once"]);
    expect(t.exitCode).toBe(0);
    const lines = t.stdout.toString().split("\n");
    expect(lines[1]).toMatch(/^port\s+kind\s+link\s+rx\s+tx\s+steered\s+dropped/);
    expect(lines.find((l) => l.startsWith("memif0 "))).toMatch(/^memif0\s+memif\s+up\s+[\d,]+\s+[\d,]+/);
    const none = zmemif([join(tmp, "none.sock"), "--once"]);
    expect(none.exitCode).toBe(3);
    expect(none.stderr.toString()).toContain("no forwarder listens on");
    const memif = zmemif([sock, "--once"]);
    expect(memif.exitCode).toBe(5);
    expect(memif.stderr.toString()).toContain("not the forwarder's management socket");
  }, 20_000);

  test("the forwarder dropped nothing; the echo's counters: nothing refused, nothing bad", async () => {
    const read = `import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); sys.stdout.write(s.makefile().read())`;
    const doc = JSON.parse(sh(["python3", "-c", read, mgmt]));
    const dropped = (doc.ports as { name: string; dropped: number; drops: unknown }[]).filter((p) => p.dropped);
    expect(dropped).toEqual([]);
    expect(await stopForwarder()).toBe(0);
    echo!.proc.kill("SIGTERM");
    await echo!.exited;
    const st = JSON.parse(echo!.lines.find((l) => l.startsWith("{"))!);
    expect(st).toMatchObject({ badChecksum: 0, truncated: 0, malformed: 0, refused: 0, lostOnDisconnect: 0 });
    expect(st.rx).toBe(720);
    expect(st.tx).toBe(720);
  }, 20_000);
});
