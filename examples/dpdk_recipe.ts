/**
 * The DPDK testpmd recipe, in one place: the commands that run `examples/dpdk_co_worker.ts`
 * against a real DPDK application. README.md shows them, `dpdk_co_worker.ts --help` prints them,
 * and tests/recipes.test.ts runs them exactly as written and checks the README still shows
 * them, so the documentation and the tests cannot drift apart. Not a program: nothing to run.
 *
 * Why each testpmd option is there (DPDK 22.11, Debian 12 `dpdk-dev`, no hugepages set up):
 * - `--no-huge -m 512`: ordinary memory, so it runs on any machine, as root;
 * - `--total-num-mbufs=16384`: without it testpmd sizes its mbuf pool for real NICs and stops
 *   with "Creation of mbuf pool for socket 0 failed: Cannot allocate memory" in 512 MB;
 * - `--stats-period=1`: prints counters every second and runs until Ctrl-C; without it testpmd
 *   waits at "Press enter to exit" and exits at once when stdin is not a terminal;
 * - `--file-prefix=zmemif-dpdk`: its own runtime directory, beside any other DPDK application;
 * - `--no-pci`: no NIC is probed; `--disable-link-check`: start forwarding without waiting for
 *   the memif links (they come up when the clients connect);
 * - two memif servers on the abstract socket `@zmemif-dpdk` (DPDK's default kind), id 0 and
 *   id 1, forwarded to each other in `io` mode; `--no-flush-rx` keeps what arrives early.
 */

/** The abstract socket name both sides use (`@zmemif-dpdk`, dpdk_co_worker's default `--socket`). */
export const DPDK_SOCKET = "zmemif-dpdk";

/** dpdk-testpmd serving memif ids 0 and 1 on `@zmemif-dpdk`, forwarding id 0 <-> id 1. */
export const TESTPMD: readonly string[] = [
  "dpdk-testpmd",
  "--no-huge",
  "-m",
  "512",
  "--no-pci",
  `--file-prefix=${DPDK_SOCKET}`,
  `--vdev=net_memif0,role=server,id=0,socket=${DPDK_SOCKET},socket-abstract=yes`,
  `--vdev=net_memif1,role=server,id=1,socket=${DPDK_SOCKET},socket-abstract=yes`,
  "--",
  "--total-num-mbufs=16384",
  "--forward-mode=io",
  "--no-flush-rx",
  "--auto-start",
  "--stats-period=1",
  "--disable-link-check",
];

/** The receiver (memif client, id 1): counts packets and losses until Ctrl-C. */
export const RECEIVER: readonly string[] = ["bun", "examples/dpdk_co_worker.ts", "--role", "receiver"];

/** The sender (memif client, id 0): 100 000 numbered frames at 100 000 per second. */
export const SENDER: readonly string[] = [
  "bun",
  "examples/dpdk_co_worker.ts",
  "--role",
  "sender",
  "--count",
  "100000",
  "--pps",
  "100000",
];

/** A command as a shell line; a long one broken after `--vdev` groups with `\`. */
export function shellLine(argv: readonly string[]): string {
  if (argv[0] !== "dpdk-testpmd") return argv.join(" ");
  const sep = argv.indexOf("--");
  const eal = argv.slice(1, sep);
  const vdevs = eal.filter((a) => a.startsWith("--vdev="));
  const rest = eal.filter((a) => !a.startsWith("--vdev="));
  return [[argv[0], ...rest].join(" "), ...vdevs.map((v) => `  ${v}`), `  ${argv.slice(sep).join(" ")}`].join(" \\\n");
}

/** The recipe as README.md and `--help` show it: three shells, in this order. */
export const RECIPE = [
  "# shell 1, as root: DPDK's testpmd, forwarding memif id 0 <-> id 1 (Ctrl-C stops it)",
  shellLine(TESTPMD),
  "# shell 2: the receiver (id 1)",
  shellLine(RECEIVER),
  "# shell 3: the sender (id 0)",
  shellLine(SENDER),
].join("\n");
