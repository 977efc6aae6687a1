/**
 * UDP echo: the zmemif UDP sockets over memif beside Bun.udpSocket over loopback, in alternating
 * rounds of one run, with ratios paired round by round. See --help.
 *
 * Each round runs an echo service and a client in two processes, each pinned to a CPU of its own
 * with taskset (as pps.ts does): the echo on CPU 0, the client on CPU 1. Variants:
 *   bun           Bun.udpSocket echo (`data` handler → send) on 127.0.0.1, Bun.udpSocket client
 *   zmemif        the same service on zmemif's udpSocket (`data` → send: the migrated code)
 *   zmemif-b      zmemif's zero-copy hot path (`batch` handler → sendView)
 *   zmemif-dgram  zmemif's createSocket (node:dgram shape: 'message' → send)
 * the zmemif ones over one memif port between the processes (the echo is the memif server); each
 * zmemif variant once per --rx-mode. The client is the same for every zmemif variant: zmemif's
 * fastest, udpSocket with a `batch` handler and sendView, so that the echo service, the thing
 * compared, is what limits the rate (a client on the `data` handler capped it). The `batch` echo
 * does the same library work per datagram as this client, less the client's bookkeeping, so it
 * can be the client that limits there (speeding the library speeds both): the rows'
 * echoEmptyLooksPerS and clientEmptyLooksPerS (receive-loop looks that found the ring empty)
 * show which side waited for the other.
 *
 * Load: the client keeps `window` datagrams of `size` bytes in flight, each carrying its slot and
 * a sequence number. A reply sends the slot's next datagram. A datagram not answered within
 * LOSS_MS is counted lost and its slot sent again (a refused send is retried on `drain` and on
 * the next check), so a loss does not lower the load. Echoes per second are counted over
 * `seconds` after WARMUP_MS. Then `pings` round trips one at a time: p50 / p99 over the answered
 * ones; a ping not answered within PING_TIMEOUT_MS is counted lost, not timed. Then both
 * processes are left idle for `idle` seconds and their CPU time is read from
 * /proc/PID/task/N/schedstat (ns): the idle CPU of the echo service.
 *
 * Every wait has a deadline, so a dead or silent echo ends the round with an error naming what
 * was waited for (and the bench with exit 1): no echo during the whole load; a ping send refused
 * for SEND_REFUSED_MS in a row (the memif port is down); no ping answered for PING_SILENCE_MS;
 * the echo process exiting while the parent waits for the client; every child event on a timer.
 */
import { writeFileSync } from "node:fs";
import { createSocket, udpSocket, type UdpSocket } from "zmemif";
import { cpuNs } from "../support/cpu.ts";
import { Proc } from "../support/proc.ts";
import { choice, commandLine, decimal, flag, integer, list, option, text } from "./lib/args.ts";
import { HeapWatch } from "./peer/heap.ts";
import { median } from "./lib/stats.ts";

type Kind = "bun" | "zmemif" | "zmemif-b" | "zmemif-dgram";
type RxMode = "adaptive" | "polling" | "interrupt";
const ZMEMIF_KINDS: Kind[] = ["zmemif", "zmemif-b", "zmemif-dgram"];
const KINDS: Kind[] = ["bun", ...ZMEMIF_KINDS];
const RX_MODES: RxMode[] = ["adaptive", "polling", "interrupt"];
const HOST = "192.0.2.1";
const CLIENT = "198.51.100.9";
const HOST_MAC = "02:00:00:00:00:0f";
const CLIENT_MAC = "02:00:00:00:00:0c";
const ECHO_CPU = 0;
const CLIENT_CPU = 1;
/**
 * Load before the measured window: JSC's optimizing tiers (DFG, then FTL) compile the hot path on
 * the process's one CPU meanwhile; the rate reaches its steady state about 600 ms after the start
 * (one process, both ends, one CPU), so a shorter warm-up measured the compiler too.
 */
const WARMUP_MS = 1000;
/** A datagram of the load not answered in this time is lost (and its slot sent again). */
const LOSS_MS = 100;
/** How often the client looks for lost datagrams and refused sends. */
const CHECK_MS = 10;
/** In-flight datagrams of the load get this long to come back after it stops. */
const SETTLE_MS = 200;
const PING_TIMEOUT_MS = 200;
/** A ping whose send is refused this long in a row ends the round (the memif port stays down). */
const SEND_REFUSED_MS = 2000;
/** No ping answered for this long ends the round (the echo stopped answering). */
const PING_SILENCE_MS = 5000;
/** Points of the latency distribution each round reports (for the CDF plot). */
const CDF_POINTS = 200;

const HELP = `usage: bun benches/udp_echo.ts [options]

UDP echo round trips per second and latency: zmemif's UDP sockets over memif beside
Bun.udpSocket over loopback, in alternating rounds, ratios paired round by round.

  --rounds N         alternating rounds (default 3)
  --seconds S        load measured for S seconds per round (default 2)
  --size BYTES       UDP payload bytes, >= 8 (default 64)
  --window N         datagrams in flight during the load (default 256)
  --pings N          one-at-a-time round trips for latency (default 2000)
  --idle S           seconds both processes stay idle for the idle CPU reading (default 2)
  --rx-mode LIST     zmemif rx modes to run, comma-separated: adaptive,polling,interrupt or all
                     (default adaptive, the default mode)
  --busy-poll-us N   zmemif memif.busyPollUs (adaptive mode's busy-poll after traffic; default: the library's)
  --kinds LIST       variants: bun,zmemif,zmemif-b,zmemif-dgram (default all; bun is the baseline)
  --plot FILE.svg    write the latency CDF of every variant (pooled over the rounds)
  --json             one JSON line: {size, window, ..., rows: [{kind, rxMode, pps, p50us, p99us,
                     ppsRatio, p50Ratio, p99Ratio, lost, pingLost, refused, idleCpuPct, loadCpuPct,
                     loadCpuClientPct, echoEmptyLooksPerS, clientEmptyLooksPerS, ...}]}

Processes are pinned with taskset: the echo on CPU ${ECHO_CPU}, the client on CPU ${CLIENT_CPU}. The client
of every zmemif variant is zmemif's batch client (udpSocket, batch handler, sendView); Bun's is
Bun.udpSocket. The batch echo costs about what that client costs per datagram: read
echoEmptyLooksPerS / clientEmptyLooksPerS to see which side waited for the other.
Losses: a load datagram not answered in ${LOSS_MS} ms is lost and sent again (the window stays
full); a ping not answered in ${PING_TIMEOUT_MS} ms is lost and left out of the percentiles.
A dead echo fails the round and the bench (exit 1) with what was waited for: no echo during the
load, a ping send refused for ${SEND_REFUSED_MS} ms in a row, or no ping answered for ${PING_SILENCE_MS} ms.
Ratios: each round's figure over Bun.udpSocket's in the same round, median over the rounds.
idleCpuPct: the echo process's CPU (all threads) over the idle seconds, % of one core.
heapCellsPerDatagram: heap cells the echo allocated from its start to the end of the load, per
datagram it echoed (benches/peer/heap.ts: full GC before, cell count after; an undercount when
heapGcs > 0).
loadCpuPct: the same during the load; loadCpuClientPct: the client's. Run it alone: other load on
those CPUs moves every figure (a process under 100% was descheduled or asleep part of the load).
echoEmptyLooksPerS / clientEmptyLooksPerS (zmemif): receive-loop looks a second that found the ring
empty (the side waiting for the other: the other limits); echoWaitsPerS / clientWaitsPerS: times a
second the loop armed its queue and slept until the peer's signal (socket.stats() rxEmptyLooks,
rxWaits over the measured load).`;

const a = commandLine("udp_echo.ts", HELP, {
  // --child, --kind, --target: how main() starts the echo and the client processes of a round
  child: option(choice(["echo", "client"])),
  kind: option(choice(KINDS), "bun"),
  target: option(text, ""),
  rounds: option(integer({ min: 1 }), 3),
  seconds: option(decimal({ above: 0 }), 2),
  size: option(integer({ min: 8 }), 64),
  window: option(integer({ min: 1 }), 256),
  pings: option(integer({ min: 1 }), 2000),
  idle: option(decimal({ above: 0 }), 2),
  "rx-mode": list(choice(RX_MODES), ["adaptive"], RX_MODES),
  "busy-poll-us": option(integer({ min: 0 })),
  kinds: list(choice(KINDS), KINDS),
  plot: option(text),
  json: flag,
});
const { rounds, seconds, size, window, pings } = a;
const idleS = a.idle;
const modeList = a["rx-mode"];
const kindList = a.kinds;
const busyPollUs = a["busy-poll-us"];
const busyPoll = busyPollUs === undefined ? {} : { busyPollUs };
const emit = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");

/** Ends a child with an error event: the parent's wait fails with `message` (support/proc.ts). */
function die(message: string): never {
  emit({ event: "error", message });
  process.exit(1);
}

// ---------------------------------------------------------------- echo service (child)

/** Datagrams the echo answered (for the heap figure per datagram). */
let echoed = 0;

/** The receive loop's counters (zmemif: rxLooks, rxEmptyLooks, rxWaits), for which side waited. */
interface Looks {
  looks: number;
  empty: number;
  waits: number;
}
const NO_LOOKS: Looks = { looks: 0, empty: 0, waits: 0 };
let looksOf: () => Looks = () => NO_LOOKS;
function looksFrom(s: { stats(): { rxLooks: number; rxEmptyLooks: number; rxWaits: number } }): () => Looks {
  return () => {
    const st = s.stats();
    return { looks: st.rxLooks, empty: st.rxEmptyLooks, waits: st.rxWaits };
  };
}
const looksDiff = (a: Looks, b: Looks): Looks => ({
  looks: b.looks - a.looks,
  empty: b.empty - a.empty,
  waits: b.waits - a.waits,
});

/**
 * Heap cells allocated from the start of the service (a full GC first: benches/peer/heap.ts) to
 * the parent's "close" on stdin at the end of the measured load, per datagram echoed meanwhile;
 * and the receive loop's counters between the parent's "load" (the measured load begins) and
 * "close".
 */
function watchHeap(): void {
  const heap = new HeapWatch();
  heap.prep();
  heap.open();
  let buf = "";
  let atLoad = NO_LOOKS;
  let loaded = false;
  process.stdin.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    if (!loaded && buf.includes("load\n")) {
      loaded = true;
      atLoad = looksOf();
    }
    if (!buf.includes("close\n")) return;
    heap.close();
    emit({ event: "heap", datagrams: echoed, looks: looksDiff(atLoad, looksOf()), ...heap.report() });
  });
}

async function echo(kind: Kind, target: string, rxMode: RxMode): Promise<void> {
  if (kind === "bun") {
    // the service as people write it today
    const s = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, data, port, address) {
          echoed++;
          s.send(data, port, address);
        },
      },
    });
    watchHeap();
    emit({ event: "ready", port: s.port });
    return;
  }
  const memif = { socket: target, role: "server" as const, connectTimeoutMs: -1, rxMode, ...busyPoll };
  if (kind === "zmemif-dgram") {
    // node:dgram shape: only the import and the memif option differ
    const s = createSocket({ type: "udp4", memif });
    s.on("message", (msg, rinfo) => {
      echoed++;
      s.send(msg, rinfo.port, rinfo.address);
    });
    s.bind(5000, HOST, () => {
      looksOf = looksFrom(s.socket!);
      watchHeap();
      emit({ event: "ready", port: 5000 });
    });
    return;
  }
  // the Bun-shaped service on zmemif: only the import and the options differ
  const s = await udpSocket({
    hostname: HOST,
    port: 5000,
    memif,
    socket:
      kind === "zmemif"
        ? {
            data(s, data, port, address) {
              echoed++;
              s.send(data, port, address);
            },
          }
        : {
            batch(s, d) {
              echoed += d.count;
              for (let i = 0; i < d.count; i++) {
                s.sendView(d.view(i), d.offset(i), d.length(i), d.port(i), d.address(i));
              }
            },
          },
  });
  looksOf = looksFrom(s);
  watchHeap();
  emit({ event: "ready", port: 5000 });
}

// ---------------------------------------------------------------- client (child)

export interface ClientResult {
  pps: number;
  /** load datagrams not answered within LOSS_MS, in the measured window and after it */
  lost: number;
  /** load datagrams sent in the measured window */
  sent: number;
  /** sends refused (ring or socket buffer full), retried */
  refused: number;
  /** replies that came after their datagram was counted lost */
  late: number;
  p50us: number;
  p99us: number;
  pingLost: number;
  /** CDF_POINTS quantiles of the answered pings, µs */
  cdf: number[];
  /** the client's receive loop during the measured load (zmemif) */
  clientLooks: Looks;
}

async function client(kind: Kind, target: string, rxMode: RxMode): Promise<void> {
  const payload = new Uint8Array(size).fill(0x5a);
  const pv = new DataView(payload.buffer);
  const seqOf = new Uint32Array(window);
  const sentAt = new Float64Array(window);
  const pending = new Uint8Array(window); // 1: its send was refused, send again
  let nextSeq = 1;
  let load = true;
  let counting = false;
  let replies = 0;
  let lost = 0;
  let sent = 0;
  let refused = 0;
  let late = 0;
  let pingSeq = 0;
  let pingWake: (() => void) | null = null;
  let sendRaw: () => boolean;

  const sendSlot = (slot: number): void => {
    const seq = nextSeq++ >>> 0;
    seqOf[slot] = seq;
    pv.setUint32(0, slot, true);
    pv.setUint32(4, seq, true);
    sentAt[slot] = clock; // coarse (CHECK_MS): a loss is ≥ LOSS_MS late anyway
    if (sendRaw()) {
      pending[slot] = 0;
      if (counting) sent++;
    } else {
      pending[slot] = 1;
      refused++;
    }
  };
  const onReply = (slot: number, seq: number): void => {
    if (slot === 0xffffffff) {
      if (seq === pingSeq && pingWake !== null) {
        const w = pingWake;
        pingWake = null;
        w();
      } else late++;
      return;
    }
    if (slot >= window || seqOf[slot] !== seq) {
      late++;
      return;
    }
    seqOf[slot] = 0;
    if (!load) return;
    if (counting) replies++;
    sendSlot(slot);
  };
  let clock = performance.now();
  const retry = (): void => {
    if (!load) return;
    const now = (clock = performance.now());
    for (let i = 0; i < window; i++) {
      if (pending[i] === 1) sendSlot(i);
      else if (seqOf[i] !== 0 && now - sentAt[i]! > LOSS_MS) {
        if (counting) lost++;
        sendSlot(i);
      }
    }
  };

  let close: () => void;
  if (kind === "bun") {
    const port = Number(target);
    const s = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(_s, d) {
          onReply(d.readUInt32LE(0), d.readUInt32LE(4));
        },
        drain: retry,
      },
    });
    sendRaw = () => s.send(payload, port, "127.0.0.1");
    close = () => s.close();
  } else {
    const memif = {
      socket: target,
      connectTimeoutMs: 10_000,
      mac: CLIENT_MAC,
      nextHopMac: HOST_MAC,
      rxMode,
      ...busyPoll,
    };
    const s: UdpSocket<"buffer"> = await udpSocket({
      hostname: CLIENT,
      port: 40000,
      memif,
      socket: {
        batch(_s, d) {
          for (let i = 0; i < d.count; i++) {
            const v = d.view(i);
            const o = d.offset(i);
            const slot = v[o]! | (v[o + 1]! << 8) | (v[o + 2]! << 16) | (v[o + 3]! << 24);
            const seq = v[o + 4]! | (v[o + 5]! << 8) | (v[o + 6]! << 16) | (v[o + 7]! << 24);
            onReply(slot >>> 0, seq >>> 0);
          }
        },
        drain: retry,
      },
    });
    sendRaw = () => s.sendView(payload, 0, size, 5000, HOST);
    close = () => s.close();
    looksOf = looksFrom(s);
  }

  // ---- load: `window` in flight, a reply sends its slot's next datagram
  const timer = setInterval(retry, CHECK_MS);
  for (let i = 0; i < window; i++) sendSlot(i);
  await Bun.sleep(WARMUP_MS);
  counting = true;
  emit({ event: "load" });
  const t0 = performance.now();
  const looks0 = looksOf();
  await Bun.sleep(seconds * 1000);
  counting = false;
  const clientLooks = looksDiff(looks0, looksOf());
  const loadMs = performance.now() - t0;
  const pps = (replies * 1000) / loadMs;
  if (replies === 0) {
    die(
      `no echo came back during the ${Math.round(loadMs)} ms load (${sent} sent, ${refused} refused): the echo is not answering`,
    );
  }
  emit({ event: "unload" });
  load = false;
  clearInterval(timer);
  await Bun.sleep(SETTLE_MS);
  for (let i = 0; i < window; i++) if (seqOf[i] !== 0 && pending[i] === 0) lost++; // never came back

  // ---- latency: one at a time
  const rtts: number[] = [];
  let pingLost = 0;
  pv.setUint32(0, 0xffffffff, true);
  let lastAnswer = performance.now();
  let refusedSince = -1; // when the current run of refused sends began
  for (let i = 0; i < pings; i++) {
    pingSeq = nextSeq++ >>> 0;
    pv.setUint32(4, pingSeq, true);
    const t = performance.now();
    if (!sendRaw()) {
      refused++;
      if (refusedSince < 0) refusedSince = t;
      else if (t - refusedSince >= SEND_REFUSED_MS) {
        die(
          `ping ${i + 1} of ${pings}: every send refused for ${SEND_REFUSED_MS} ms (the memif port is down: is the echo alive?)`,
        );
      }
      await Bun.sleep(1);
      i--;
      continue;
    }
    refusedSince = -1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = await new Promise<boolean>((r) => {
      pingWake = () => r(true);
      timer = setTimeout(() => {
        pingWake = null;
        r(false);
      }, PING_TIMEOUT_MS);
    });
    const dt = performance.now() - t;
    clearTimeout(timer);
    if (answered) {
      rtts.push(dt * 1000);
      lastAnswer = performance.now();
    } else {
      pingLost++;
      if (performance.now() - lastAnswer >= PING_SILENCE_MS) {
        die(
          `ping ${i + 1} of ${pings}: no ping answered for ${PING_SILENCE_MS} ms (${pingLost} lost): the echo stopped answering`,
        );
      }
    }
  }
  rtts.sort((x, y) => x - y);
  const q = (p: number) => (rtts.length === 0 ? NaN : rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]!);
  const cdf: number[] = [];
  for (let k = 0; k < CDF_POINTS; k++) cdf.push(+q((k + 0.5) / CDF_POINTS).toFixed(1));

  // ---- idle: the parent reads both processes' CPU meanwhile
  emit({ event: "idle" });
  await Bun.sleep(idleS * 1000 + 400);
  const out: ClientResult = {
    pps: Math.round(pps),
    lost,
    sent,
    refused,
    late,
    p50us: Math.round(q(0.5)),
    p99us: Math.round(q(0.99)),
    pingLost,
    cdf,
    clientLooks,
  };
  emit({ event: "result", ...out });
  close();
  process.exit(0);
}

// ---------------------------------------------------------------- orchestration

interface Variant {
  kind: Kind;
  rxMode: RxMode | null;
}

interface RoundResult extends ClientResult {
  /** heap cells the echo allocated during the load, per datagram (valid when heapGcs is 0) */
  heapCellsPerDatagram: number;
  heapGcs: number;
  /** the cell types behind it, most first */
  heapTop: Record<string, number>;
  idleCpuPct: number;
  idleCpuClientPct: number;
  loadCpuPct: number;
  loadCpuClientPct: number;
  /** the echo's receive loop during the measured load (zmemif) */
  echoLooks: Looks;
  /** the measured load, ms */
  loadMs: number;
}

const variantName = (v: Variant) => (v.rxMode === null ? v.kind : `${v.kind}/${v.rxMode}`);

const bpArgs = busyPollUs === undefined ? [] : ["--busy-poll-us", String(busyPollUs)];

/**
 * The client's next `event`, failing as soon as the echo process exits first (a dead echo is not
 * waited out) or after `ms`; `what` names the wait in the error.
 */
async function clientEvent(c: Proc, e: Proc, event: string, from: number, ms: number, what: string) {
  const echoGone = e.finished.then((code): never => {
    throw e.fail(`exited (code ${code}) while the client was waiting for ${what}`);
  });
  return await Promise.race([c.waitEvent(event, from, ms, what), echoGone]);
}

async function round(v: Variant, n: number): Promise<RoundResult> {
  const sock = `@zmf-udp-bench-udp-${process.pid}-${n}`;
  const mode = v.rxMode ?? "adaptive";
  const me = [process.execPath, import.meta.path];
  const e = new Proc([...me, "--child", "echo", "--kind", v.kind, "--target", sock, "--rx-mode", mode, ...bpArgs], {
    name: `echo ${variantName(v)}`,
    cpu: ECHO_CPU,
    stdin: "pipe",
  });
  let c: Proc | null = null;
  try {
    const target =
      v.kind === "bun" ? String((await e.waitEvent("ready", 0, 10_000, "the echo's UDP port")).j.port) : sock;
    c = new Proc(
      [
        ...me,
        "--child",
        "client",
        "--kind",
        v.kind,
        "--target",
        target,
        "--rx-mode",
        mode,
        "--seconds",
        String(seconds),
        "--size",
        String(size),
        "--window",
        String(window),
        "--pings",
        String(pings),
        "--idle",
        String(idleS),
        ...bpArgs,
      ],
      { name: `client ${variantName(v)}`, cpu: CLIENT_CPU, stdin: "pipe" },
    );
    const limit = 30_000 + seconds * 1000;
    const l0 = await clientEvent(c, e, "load", 0, limit, "the client connected and its load warmed up");
    e.write("load\n");
    const [e0, c0] = [cpuNs(e.pid), cpuNs(c.pid)];
    const l1 = await clientEvent(c, e, "unload", l0.index, limit, "the end of the client's measured load");
    const loadMs = l1.line.at - l0.line.at;
    const loadCpuPct = ((cpuNs(e.pid) - e0) / 1e6 / loadMs) * 100;
    const loadCpuClientPct = ((cpuNs(c.pid) - c0) / 1e6 / loadMs) * 100;
    e.write("close\n");
    const h = (await e.waitEvent("heap", 0, 10_000, "the echo's heap report")).j as {
      looks: Looks;
      datagrams: number;
      cells_window: number;
      gcs_window: number;
      cells_top: Record<string, number>;
    };
    const pingMs = limit + (pings * PING_TIMEOUT_MS) / 10;
    const i0 = await clientEvent(c, e, "idle", l1.index, pingMs, `the end of the client's ${pings} pings`);
    await Bun.sleep(100);
    const t0 = performance.now();
    const [ce0, cc0] = [cpuNs(e.pid), cpuNs(c.pid)];
    await Bun.sleep(idleS * 1000);
    const [ce1, cc1] = [cpuNs(e.pid), cpuNs(c.pid)];
    const ms = performance.now() - t0;
    const r = await clientEvent(c, e, "result", i0.index, 10_000 + idleS * 1000, "the client's result");
    return {
      ...(r.j as unknown as ClientResult),
      idleCpuPct: +(((ce1 - ce0) / 1e6 / ms) * 100).toFixed(2),
      idleCpuClientPct: +(((cc1 - cc0) / 1e6 / ms) * 100).toFixed(2),
      loadCpuPct: +loadCpuPct.toFixed(1),
      loadCpuClientPct: +loadCpuClientPct.toFixed(1),
      echoLooks: h.looks,
      loadMs,
      heapCellsPerDatagram: h.datagrams > 0 ? +(h.cells_window / h.datagrams).toFixed(4) : NaN,
      heapGcs: h.gcs_window,
      heapTop: h.cells_top,
    };
  } finally {
    await c?.stop(2000);
    await e.stop(200);
  }
}

/** Median over the rounds of x[r] / base[r] (paired: the same round's baseline). */
function pairedRatio(xs: number[], base: number[]): number {
  const rs = xs.map((x, i) => x / base[i]!).filter((r) => Number.isFinite(r));
  return rs.length === 0 ? NaN : +median(rs).toFixed(2);
}

/** Latency CDF, µs on a log axis, one line per variant. */
function cdfSvg(series: { name: string; values: number[] }[], title: string): string {
  const W = 900;
  const H = 520;
  const M = { left: 64, right: 250, top: 48, bottom: 56 };
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.log10(Math.max(0.5, Math.min(...all) * 0.8));
  const hi = Math.log10(Math.max(...all) * 1.25);
  const x = (us: number) => M.left + ((Math.log10(Math.max(us, 10 ** lo)) - lo) / (hi - lo)) * pw;
  const y = (f: number) => M.top + ph - f * ph;
  const colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22"];
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let f = 0; f <= 1.0001; f += 0.1) {
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y(f)}" y2="${y(f)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${y(f) + 4}" text-anchor="end">${f.toFixed(1)}</text>`);
  }
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < lo || Math.log10(v) > hi) continue;
      out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${x(v)}" y="${M.top + ph + 18}" text-anchor="middle">${v}</text>`);
    }
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">round trip, µs (log scale)</text>`);
  out.push(
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">fraction of round trips ≤ x</text>`,
  );
  series.forEach((s, i) => {
    const v = [...s.values].filter((u) => Number.isFinite(u)).sort((p, q) => p - q);
    if (v.length === 0) return;
    const color = colors[i % colors.length]!;
    const pts = v.map((u, k) => `${k === 0 ? "M" : "L"}${x(u).toFixed(1)},${y((k + 0.5) / v.length).toFixed(1)}`);
    const dash =
      s.name === "bun"
        ? ""
        : s.name.includes("polling")
          ? ` stroke-dasharray="2 3"`
          : s.name.includes("interrupt")
            ? ` stroke-dasharray="6 4"`
            : "";
    out.push(`<path d="${pts.join(" ")}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    const ly = M.top + 8 + i * 18;
    const lx = M.left + pw + 16;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    const label = s.name === "bun" ? "Bun.udpSocket (kernel loopback)" : s.name;
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${esc(label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

async function main(): Promise<void> {
  const variants: Variant[] = [];
  if (kindList.includes("bun")) variants.push({ kind: "bun", rxMode: null });
  for (const m of modeList)
    for (const k of ZMEMIF_KINDS) if (kindList.includes(k)) variants.push({ kind: k, rxMode: m });
  const results = new Map<string, RoundResult[]>();
  for (const v of variants) results.set(variantName(v), []);
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      let res: RoundResult;
      try {
        res = await round(v, n++);
      } catch (err) {
        console.error(`udp_echo.ts: round ${r + 1}/${rounds} ${variantName(v)} failed: ${(err as Error).message}`);
        process.exit(1);
      }
      results.get(variantName(v))!.push(res);
      if (!a.json) {
        const line =
          `${res.pps} echoes/s (lost ${res.lost} of ${res.sent}, refused ${res.refused}), ` +
          `p50 ${res.p50us} µs, p99 ${res.p99us} µs (lost ${res.pingLost}), ` +
          `CPU load ${res.loadCpuPct}% (client ${res.loadCpuClientPct}%) idle ${res.idleCpuPct}%, ` +
          `empty looks/waits echo ${res.echoLooks.empty}/${res.echoLooks.waits} ` +
          `client ${res.clientLooks.empty}/${res.clientLooks.waits}, ` +
          `heap ${res.heapCellsPerDatagram} cells/datagram (${res.heapGcs} GCs: ${JSON.stringify(res.heapTop)})`;
        console.error(`round ${r + 1}/${rounds} ${variantName(v).padEnd(22)} ${line}`);
      }
    }
  }
  const base = results.get("bun") ?? null;
  const rows = variants.map((v) => {
    const rs = results.get(variantName(v))!;
    const pick = (f: (x: RoundResult) => number) => rs.map(f);
    const ratio = (f: (x: RoundResult) => number) => (base === null ? NaN : pairedRatio(pick(f), base.map(f)));
    return {
      kind: v.kind,
      rxMode: v.rxMode,
      pps: Math.round(median(pick((x) => x.pps))),
      p50us: Math.round(median(pick((x) => x.p50us))),
      p99us: Math.round(median(pick((x) => x.p99us))),
      ppsRatio: ratio((x) => x.pps),
      p50Ratio: ratio((x) => x.p50us),
      p99Ratio: ratio((x) => x.p99us),
      lost: pick((x) => x.lost).reduce((s, x) => s + x, 0),
      sent: pick((x) => x.sent).reduce((s, x) => s + x, 0),
      pingLost: pick((x) => x.pingLost).reduce((s, x) => s + x, 0),
      refused: pick((x) => x.refused).reduce((s, x) => s + x, 0),
      late: pick((x) => x.late).reduce((s, x) => s + x, 0),
      idleCpuPct: +median(pick((x) => x.idleCpuPct)).toFixed(2),
      idleCpuClientPct: +median(pick((x) => x.idleCpuClientPct)).toFixed(2),
      loadCpuPct: +median(pick((x) => x.loadCpuPct)).toFixed(1),
      loadCpuClientPct: +median(pick((x) => x.loadCpuClientPct)).toFixed(1),
      echoEmptyLooksPerS: Math.round(median(pick((x) => (x.echoLooks.empty * 1000) / x.loadMs))),
      echoWaitsPerS: Math.round(median(pick((x) => (x.echoLooks.waits * 1000) / x.loadMs))),
      clientEmptyLooksPerS: Math.round(median(pick((x) => (x.clientLooks.empty * 1000) / x.loadMs))),
      clientWaitsPerS: Math.round(median(pick((x) => (x.clientLooks.waits * 1000) / x.loadMs))),
      heapCellsPerDatagram: +median(pick((x) => x.heapCellsPerDatagram)).toFixed(4),
      heapGcs: pick((x) => x.heapGcs).reduce((s, x) => s + x, 0),
    };
  });
  if (a.plot !== undefined) {
    const series = variants.map((v) => ({
      name: variantName(v),
      values: results.get(variantName(v))!.flatMap((x) => x.cdf),
    }));
    const title = `UDP echo round trip, one in flight, ${size} B: zmemif vs Bun.udpSocket (${rounds} rounds × ${pings} pings)`;
    writeFileSync(a.plot, cdfSvg(series, title));
    if (!a.json) console.error(`plot: ${a.plot}`);
  }
  if (a.json) {
    emit({ size, window, seconds, rounds, pings, idleSeconds: idleS, rxModes: modeList, rows });
    return;
  }
  console.log(
    `\nUDP echo, ${size}-byte payloads, ${window} in flight, ${seconds} s x ${rounds} alternating rounds ` +
      `(medians; ratios paired by round), echo on CPU ${ECHO_CPU}, client on CPU ${CLIENT_CPU}`,
  );
  console.log(
    "variant                  echoes/s   vs bun    lost  p50 µs  p99 µs  p50 vs  p99 vs  ping lost  CPU load  CPU idle",
  );
  for (const r of rows) {
    const name = r.rxMode === null ? r.kind : `${r.kind}/${r.rxMode}`;
    console.log(
      `${name.padEnd(22)} ${String(r.pps).padStart(10)}  ${r.ppsRatio.toFixed(2).padStart(6)}x  ${String(r.lost).padStart(6)}` +
        `  ${String(r.p50us).padStart(6)}  ${String(r.p99us).padStart(6)}  ${r.p50Ratio.toFixed(2).padStart(5)}x` +
        `  ${r.p99Ratio.toFixed(2).padStart(5)}x  ${String(r.pingLost).padStart(9)}  ${r.loadCpuPct.toFixed(0).padStart(7)}%` +
        `  ${r.idleCpuPct.toFixed(2).padStart(7)}%`,
    );
  }
}

if (a.child === "echo") await echo(a.kind, a.target, modeList[0]!);
else if (a.child === "client") await client(a.kind, a.target, modeList[0]!);
else await main();
