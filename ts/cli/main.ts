/**
 * The `zmemif` command: dispatches to one subcommand per file (info, ping, capture, stats) and
 * turns what they throw into a message and an exit code (exit.ts). Runtime-neutral: the entry
 * (cli/bun.ts for Bun, cli/node.ts for Node.js) chooses the native backend first.
 */
import { MemifError } from "../errors.ts";
import { UsageError } from "./args.ts";
import { EXIT, EXIT_TABLE, exitCodeOf } from "./exit.ts";
import { runCapture } from "./capture.ts";
import { runInfo } from "./info.ts";
import { runPing } from "./ping.ts";
import { runStats } from "./stats.ts";

type Run = (argv: readonly string[], out: (s: string) => void) => number | Promise<number>;

const COMMANDS: Record<string, { run: Run; what: string }> = {
  info: { run: runInfo, what: "what the memif server on SOCKET offers (its HELLO), without connecting" },
  ping: { run: runPing, what: "round trips through a peer that sends back what it receives" },
  capture: { run: runCapture, what: "stand as one end of a link and record what crosses it (pcapng)" },
  stats: { run: runStats, what: "the zmemif forwarder's counters (its --mgmt socket), refreshed every second" },
};

const HELP = () =>
  [
    "usage: zmemif COMMAND SOCKET [options]     (zmemif COMMAND --help for its options)",
    "",
    "Tools for memif links (DPDK net_memif, VPP libmemif, zmemif). SOCKET is a filesystem path",
    "or @name for an abstract socket (DPDK's default).",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(9)}${c.what}`),
    "",
    EXIT_TABLE,
  ].join("\n");

/** Runs the command line `argv` (without the program name); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out(HELP());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(
      `zmemif: no command "${name}"; the commands are ${Object.keys(COMMANDS).join(", ")} (zmemif --help)\n`,
    );
    return EXIT.USAGE;
  }
  try {
    return await command.run(rest, out);
  } catch (e) {
    const code = exitCodeOf(e);
    if (e instanceof UsageError) {
      process.stderr.write(`zmemif ${e.command}: ${e.message}\nrun \`zmemif ${e.command} --help\` for the options\n`);
    } else if (e instanceof MemifError) {
      process.stderr.write(`zmemif ${name}: ${e.message}\n`);
    } else {
      process.stderr.write(`zmemif ${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    return code;
  }
}
