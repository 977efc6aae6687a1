/**
 * UDP echo: the zmemif UDP socket over memif beside Bun.udpSocket over loopback, in alternating
 * rounds of one run, with ratios.
 *
 *   bun benches/udp_echo.ts [--rounds 3] [--seconds 2] [--size 64] [--window 256] [--pings 2000] [--json]
 *
 * Each round runs an echo service and a client in two processes (two cores):
 *   bun       Bun.udpSocket echo (`data` handler → send) on 127.0.0.1, Bun.udpSocket client
 *   zmemif    the same service on zmemif's udpSocket (`data` handler → send: the migrated code)
 *   zmemif-b  zmemif's zero-copy hot path (`batch` handler → sendView)
 * both zmemif ones over one memif port between the processes (echo is the memif server).
 * The client keeps `window` datagrams of `size` bytes in flight (a reply triggers the next send)
 * and counts replies for `seconds` (after 0.3 s of warm-up): echoed datagrams per second, each a
 * full round trip. Then one at a time, `pings` round trips: latency p50 / p99. Every figure
 * is printed with Bun.udpSocket's in the same run and the ratio. Rounds alternate the variants,
 * so a noisy neighbour hits them alike; the median of the rounds is reported.
 */
import { parseArgs } from "node:util";
import { udpSocket, type UdpSocket } from "zmemif";

type Kind = "bun" | "zmemif" | "zmemif-b";
const KINDS: Kind[] = ["bun", "zmemif", "zmemif-b"];
const HOST = "192.0.2.1";
const CLIENT = "198.51.100.9";
const HOST_MAC = "02:00:00:00:00:0f";
const CLIENT_MAC = "02:00:00:00:00:0c";

const { values: a } = parseArgs({
  options: {
    child: { type: "string" },
    kind: { type: "string", default: "bun" },
    target: { type: "string", default: "" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "2" },
    size: { type: "string", default: "64" },
    window: { type: "string", default: "256" },
    pings: { type: "string", default: "2000" },
    "rx-mode": { type: "string", default: "adaptive" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (a.help) {
  console.log(
    "usage: bun benches/udp_echo.ts [--rounds N] [--seconds S] [--size BYTES] [--window N] [--pings N]\n" +
      "       [--rx-mode adaptive|polling|interrupt] [--json]\n\n" +
      "UDP echo round trips per second and latency: zmemif's udpSocket over memif beside\n" +
      "Bun.udpSocket over loopback, alternating rounds, medians and ratios.",
  );
  process.exit(0);
}

const rxMode = a["rx-mode"] as "adaptive" | "polling" | "interrupt";
const say = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");

// ---------------------------------------------------------------- echo service (child)

async function echo(kind: Kind, target: string): Promise<void> {
  if (kind === "bun") {
    // the service as people write it today
    const s = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, data, port, address) {
          s.send(data, port, address);
        },
      },
    });
    say({ ready: s.port });
    return;
  }
  // the same service on zmemif: only the import and the options differ
  await udpSocket({
    hostname: HOST,
    port: 5000,
    memif: { socket: target, role: "server", connectTimeoutMs: -1, rxMode },
    socket:
      kind === "zmemif"
        ? {
            data(s, data, port, address) {
              s.send(data, port, address);
            },
          }
        : {
            batch(s, d) {
              for (let i = 0; i < d.count; i++) {
                s.sendView(d.view(i), d.offset(i), d.length(i), d.port(i), d.address(i));
              }
            },
          },
  });
  say({ ready: 5000 });
}

// ---------------------------------------------------------------- client (child)

interface ClientResult {
  pps: number;
  p50us: number;
  p99us: number;
  refused: number;
}

async function client(kind: Kind, target: string): Promise<void> {
  const seconds = Number(a.seconds);
  const size = Number(a.size);
  const window = Number(a.window);
  const pings = Number(a.pings);
  const payload = new Uint8Array(size).fill(0x5a);
  let replies = 0;
  let load = true;
  let wake: (() => void) | null = null;
  let refused = 0;
  let send: () => boolean;
  const onReply = () => {
    replies++;
    if (load) {
      if (!send()) refused++;
    } else if (wake !== null) {
      const w = wake;
      wake = null;
      w();
    }
  };
  let close: () => void;
  if (kind === "bun") {
    const port = Number(target);
    const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: onReply } });
    send = () => s.send(payload, port, "127.0.0.1");
    close = () => s.close();
  } else {
    const s: UdpSocket<"buffer"> = await udpSocket({
      hostname: CLIENT,
      port: 40000,
      memif: { socket: target, connectTimeoutMs: 10_000, mac: CLIENT_MAC, nextHopMac: HOST_MAC, rxMode },
      socket:
        kind === "zmemif"
          ? { data: onReply }
          : {
              batch(_s, d) {
                for (let i = 0; i < d.count; i++) onReply();
              },
            },
    });
    send = () => s.send(payload, 5000, HOST);
    close = () => s.close();
  }
  // load: `window` in flight, each reply sends the next
  for (let i = 0; i < window; i++) if (!send()) refused++;
  await Bun.sleep(300);
  const r0 = replies;
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  const pps = ((replies - r0) * 1000) / (performance.now() - t0);
  load = false;
  await Bun.sleep(200); // the in-flight ones come back
  // latency: one at a time
  const rtts: number[] = [];
  for (let i = 0; i < pings; i++) {
    const t = performance.now();
    const back = new Promise<void>((r) => (wake = r));
    send();
    const timeout = setTimeout(() => wake?.(), 1000);
    await back;
    clearTimeout(timeout);
    rtts.push(performance.now() - t);
  }
  rtts.sort((x, y) => x - y);
  const q = (p: number) => Math.round(rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]! * 1000);
  const out: ClientResult = { pps: Math.round(pps), p50us: q(50), p99us: q(99), refused };
  say(out);
  close();
  process.exit(0);
}

// ---------------------------------------------------------------- orchestration

class Child {
  readonly proc: import("bun").Subprocess<"ignore", "pipe", "inherit">;
  readonly lines: string[] = [];
  #waiters: ((l: string) => void)[] = [];

  constructor(args: string[]) {
    const cmd = [process.execPath, import.meta.path, ...args];
    const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    this.proc = proc;
    void (async () => {
      let buf = "";
      const dec = new TextDecoder();
      for await (const c of proc.stdout) {
        buf += dec.decode(c, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const l = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.lines.push(l);
          for (const w of this.#waiters.splice(0)) w(l);
        }
      }
    })();
  }

  async json<T>(timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const l = this.lines.shift();
      if (l !== undefined && l.startsWith("{")) return JSON.parse(l) as T;
      if (performance.now() > deadline) throw new Error(`child printed nothing in ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.#waiters.push(() => r());
        setTimeout(r, 100);
      });
    }
  }
}

async function round(kind: Kind, n: number): Promise<ClientResult> {
  const sock = `@zmf-udp-bench-${process.pid}-${n}`;
  const e = new Child(["--child", "echo", "--kind", kind, "--target", sock, "--rx-mode", rxMode]);
  try {
    const ready = await (kind === "bun" ? e.json<{ ready: number }>(10_000) : Promise.resolve({ ready: 0 }));
    const c = new Child([
      "--child", "client", "--kind", kind, "--target", kind === "bun" ? String(ready.ready) : sock,
      "--seconds", a.seconds!, "--size", a.size!, "--window", a.window!, "--pings", a.pings!, "--rx-mode", rxMode,
    ]);
    const r = await c.json<ClientResult>(30_000 + Number(a.seconds) * 1000);
    await c.proc.exited;
    return r;
  } finally {
    e.proc.kill("SIGKILL");
    await e.proc.exited;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const rounds = Number(a.rounds);
  const results: Record<Kind, ClientResult[]> = { bun: [], zmemif: [], "zmemif-b": [] };
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const kind of KINDS) {
      const res = await round(kind, n++);
      results[kind].push(res);
      if (!a.json) {
        const line = `${res.pps} echoes/s, p50 ${res.p50us} µs, p99 ${res.p99us} µs`;
        console.error(`round ${r + 1}/${rounds} ${kind.padEnd(8)} ${line}`);
      }
    }
  }
  const med = (k: Kind) => ({
    pps: median(results[k].map((x) => x.pps)),
    p50us: median(results[k].map((x) => x.p50us)),
    p99us: median(results[k].map((x) => x.p99us)),
    refused: results[k].reduce((s, x) => s + x.refused, 0),
  });
  const base = med("bun");
  const rows = KINDS.map((k) => {
    const m = med(k);
    return { kind: k, ...m, ppsRatio: +(m.pps / base.pps).toFixed(2), p50Ratio: +(m.p50us / base.p50us).toFixed(2) };
  });
  if (a.json) {
    say({ size: Number(a.size), window: Number(a.window), seconds: Number(a.seconds), rounds, rxMode, rows });
    return;
  }
  console.log(
    `\nUDP echo, ${a.size}-byte payloads, ${a.window} in flight, ` +
      `${a.seconds} s x ${rounds} alternating rounds (medians), rx ${rxMode}`,
  );
  console.log("variant    echoes/s   vs bun   p50 µs  p99 µs  p50 vs bun");
  for (const r of rows) {
    const pps = `${String(r.pps).padStart(9)}  ${r.ppsRatio.toFixed(2).padStart(6)}x`;
    const lat = `${String(r.p50us).padStart(6)}  ${String(r.p99us).padStart(6)}  ${r.p50Ratio.toFixed(2).padStart(8)}x`;
    console.log(`${r.kind.padEnd(9)} ${pps}  ${lat}` + (r.refused > 0 ? `  (${r.refused} sends refused)` : ""));
  }
}

if (a.child === "echo") await echo(a.kind as Kind, a.target!);
else if (a.child === "client") await client(a.kind as Kind, a.target!);
else await main();
