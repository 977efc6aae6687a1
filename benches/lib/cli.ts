/** pps.ts's command line. */
import { SCENARIOS, type ScenarioName } from "../scenarios/case.ts";
import { choice, decimal, flag, integer, list, option, text, type Values } from "./args.ts";

export const HELP = `bun run benches/pps.ts [options]

What memif buys a Bun program, beside what it would use otherwise, measured in one run on this
machine: packets per second between two processes over memif (zmemif's Bun API, DPDK testpmd,
the crate's own Rust peer) and over UDP loopback, plus round-trip latency.

Scenarios (default: all):
  bun-bun     Bun client ↔ Bun server (each in its own process), each direction
  bun-dpdk    Bun ↔ dpdk-testpmd: Bun receiving (testpmd txonly) and transmitting (testpmd
              rxonly), Bun as client and as server
  dpdk-dpdk   testpmd txonly → testpmd rxonly, the C baseline, each direction
  rust-rust   zmemif-peer source → zmemif-peer sink (the crate without Bun), each direction
  echo        round trip of one packet in flight, Bun client → Bun server / testpmd io / testpmd
              macswap → back, with the Bun sides polling or in interrupt mode
  udp         Bun.udpSocket on 127.0.0.1, sendMany bursts → a receiving Bun.udpSocket
  node-bun    Node.js (N-API) client → Bun server, and Bun client → Node.js server (c2s): the
              Bun peer built for Node.js (target/bench-node/node_peer.mjs), beside bun-bun
  node-node   Node.js client → Node.js server (c2s)
  dgram       node:dgram on 127.0.0.1, one send per datagram → a receiving node:dgram socket

Options:
  --scenario NAME   a scenario, repeatable or comma-separated
  --size BYTES      packet size(s), repeatable or comma-separated [64,512,1500,9000]; sizes above
                    the 2048-byte buffer are sent as chains. Where a packet would take a number
                    of 2048-byte buffers that is not a power of two, the buffers are larger, so
                    that it takes the power of two below (9000 B: 4 of 2304), in every scenario
                    alike: DPDK 22.11's net_memif transmits a chain that does not fit its free
                    slots one slot too far (it cuts a queued packet in two, or overruns the ring:
                    a zmemif receiver then disconnects it and testpmd dies of SIGSEGV), which
                    rings of 1024 slots and such chains never make it try (benches/lib/geometry.ts)
  --burst N         packets per burst (memif) or per sendMany (udp) [32]
  --queues Q        queue pairs per connection, all served by the one core of each side [1]
  --seconds S       measuring window per round [3]
  --warmup S        traffic before the window opens [1]
  --rounds R        rounds; each round runs every selected case once, in turn (A, B, C, A, B,
                    C, ...), so scenarios that are compared see the same machine [3]
  --json            one JSON object per line instead of tables: kind "round" per run of a case,
                    "result" per case and size (medians of the rounds, min, max), "target" per
                    target of issue 4
  --save FILE       also write the JSON lines to FILE (keeps the tables on stdout)
  --plot FILE.svg   also draw received Mpps by packet size for each case
  --base DIR        also run bun-bun with the Bun peer of another checkout DIR (its
                    benches/bun_peer.ts, ts/ and built library), as scenario bun-base, and
                    rust-rust with DIR's target/release/zmemif-peer, as scenario rust-base, in
                    the same alternating rounds: the figures beside an earlier version's (each
                    only when its own scenario is selected)
  --smoke           CI mode: one or two cases of each scenario (both roles of bun-dpdk) at 64
                    bytes, 1 round, short windows; exits 1 if a case fails or moves no packets
  --help            this text

Every peer is its own process; the transmitter (or pinger) is pinned to CPU 1 and the receiver
(or echoer) to CPU 0. Figures are medians of the rounds with [min–max]; ratios are taken round by
round between cases of the same round. CPU is user+system time over the window, per process, in
% of one core. A run in which a polling end got less than 90% of its CPU (something else ran
there) is run again, twice at most; if it stays starved it is kept in the JSON but left out of
the medians whenever the case has clean rounds. A CPU time that cannot be read counts as starved.
Ratios pair only rounds that both cases measured cleanly; without one the ratio is shown missing
with the reason, and a target whose ratio is missing is MISSED. A target (64 bytes) is a report,
not a check (the exit status does not depend on it): PASS when every round meets it, MISSED when
none does, SPLIT when rounds fall on both sides (this run does not decide it; the median and
[min-max] are printed beside it).

Needs target/release/libzmemif.so (with the N-API binding for node-*) and zmemif-peer
(cargo build --release -p zmemif --features node), node (Node.js >= 20) for node-* and dgram, and
dpdk-testpmd (scripts/install-deps.sh) for the scenarios that use them; scripts/bench.sh
installs and builds them, then runs this.`;

export interface Options {
  scenarios: ScenarioName[];
  sizes: number[];
  burst: number;
  queues: number;
  seconds: number;
  warmup: number;
  rounds: number;
  json: boolean;
  save: string | undefined;
  plot: string | undefined;
  smoke: boolean;
  /** --base: a checkout whose Bun peer runs as bun-base and zmemif-peer as rust-base */
  base: string | undefined;
}

/** The options as given; `optionsOf` fills in the defaults (--smoke changes some). */
export const OPTIONS = {
  scenario: list(choice(SCENARIOS), SCENARIOS),
  size: list(integer({ min: 60, max: 65535 })),
  burst: option(integer({ min: 1, max: 256 }), 32),
  queues: option(integer({ min: 1, max: 16 }), 1),
  seconds: option(decimal({ min: 0.1, max: 3600 })),
  warmup: option(decimal({ min: 0.3, max: 600 })),
  rounds: option(integer({ min: 1, max: 100 })),
  json: flag,
  save: option(text),
  plot: option(text),
  smoke: flag,
  base: option(text),
};

export function optionsOf(v: Values<typeof OPTIONS>): Options {
  const smoke = v.smoke;
  return {
    scenarios: v.scenario,
    sizes: v.size.length > 0 ? v.size : smoke ? [64] : [64, 512, 1500, 9000],
    burst: v.burst,
    queues: v.queues,
    seconds: v.seconds ?? (smoke ? 0.5 : 3),
    warmup: v.warmup ?? (smoke ? 0.3 : 1),
    rounds: v.rounds ?? (smoke ? 1 : 3),
    json: v.json,
    save: v.save,
    plot: v.plot,
    smoke,
    base: v.base,
  };
}
