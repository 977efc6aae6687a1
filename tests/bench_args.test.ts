/**
 * The benches' command lines (benches/lib/args.ts): values read against their ranges, lists
 * repeated or comma-separated; and every bench, run as a user runs it, prints its --help (exit 0)
 * and says what is wrong with an unknown option or a bad value (exit 2) before it starts anything.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { choice, decimal, flag, integer, list, option, parse, text, UsageError } from "../benches/lib/args.ts";

const ROOT = join(import.meta.dir, "..");

const SPECS = {
  rounds: option(integer({ min: 1, max: 100 }), 3),
  seconds: option(decimal({ above: 0 })),
  size: list(integer({ min: 60, max: 65535 }), [64, 1500]),
  mode: list(choice(["adaptive", "polling", "interrupt"]), ["adaptive"], ["adaptive", "polling", "interrupt"]),
  save: option(text),
  json: flag,
};

function usageError(argv: string[]): string {
  try {
    parse(argv, SPECS);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

describe("parse", () => {
  test("defaults when nothing is given, values when given", () => {
    expect(parse([], SPECS)).toEqual({
      rounds: 3,
      seconds: undefined,
      size: [64, 1500],
      mode: ["adaptive"],
      save: undefined,
      json: false,
    });
    expect(parse(["--rounds", "7", "--seconds=0.25", "--save", "x.json", "--json"], SPECS)).toEqual({
      rounds: 7,
      seconds: 0.25,
      size: [64, 1500],
      mode: ["adaptive"],
      save: "x.json",
      json: true,
    });
    expect(parse(["--json", "--help"], SPECS)).toBe("help");
  });

  test("lists: repeated or comma-separated, in the order given, duplicates dropped; all", () => {
    const v = parse(["--size", "9000,64", "--size", "512", "--size", "64", "--mode", "interrupt,polling"], SPECS);
    expect(v !== "help" && v.size).toEqual([9000, 64, 512]);
    expect(v !== "help" && v.mode).toEqual(["interrupt", "polling"]);
    const all = parse(["--mode", "all"], SPECS);
    expect(all !== "help" && all.mode).toEqual(["adaptive", "polling", "interrupt"]);
  });

  test("a bad value names the option, what it takes and what was given", () => {
    expect(usageError(["--rounds", "0"])).toBe('--rounds must be an integer in 1..100, got "0"');
    expect(usageError(["--rounds", "1.5"])).toBe('--rounds must be an integer in 1..100, got "1.5"');
    expect(usageError(["--rounds", "2x"])).toBe('--rounds must be an integer in 1..100, got "2x"');
    expect(usageError(["--seconds", "0"])).toBe('--seconds must be a number > 0, got "0"');
    expect(usageError(["--seconds", "soon"])).toBe('--seconds must be a number > 0, got "soon"');
    expect(usageError(["--size", "64,59"])).toBe('--size must be an integer in 60..65535, got "59"');
    expect(usageError(["--mode", "busy"])).toBe('--mode must be one of adaptive, polling, interrupt, got "busy"');
    expect(usageError(["--bogus"])).toBe("Unknown option '--bogus'");
    expect(usageError(["--save"])).toContain("--save");
    expect(usageError(["extra"])).toContain("extra");
  });
});

function run(bench: string, ...args: string[]) {
  const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "benches", bench), ...args], { cwd: ROOT });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

// [bench, the first line of its --help, a bad value and what it says]
const BENCHES: [string, string, string[], string][] = [
  ["pps.ts", "bun run benches/pps.ts [options]", ["--burst", "0"], '--burst must be an integer in 1..256, got "0"'],
  [
    "udp_echo.ts",
    "usage: bun benches/udp_echo.ts [options]",
    ["--rx-mode", "busy"],
    '--rx-mode must be one of adaptive, polling, interrupt, got "busy"',
  ],
  [
    "insns.ts",
    "usage: bun benches/insns.ts --base DIR [--iterations LO,HI] [--direction c2s,s2c] [--jobs N] [--json]",
    ["--base", ROOT, "--iterations", "9,3"],
    "--iterations must be LO,HI with 0 < LO < HI",
  ],
  [
    "wake_paths.ts",
    "usage: bun benches/wake_paths.ts [--count N] [--json]",
    ["--count", "0"],
    '--count must be an integer >= 1, got "0"',
  ],
  [
    "capture.ts",
    "usage: bun benches/capture.ts [--rounds N] [--seconds S] [--size BYTES] [--json]",
    ["--size", "0"],
    '--size must be an integer in 1..65535, got "0"',
  ],
];

describe("every bench", () => {
  for (const [bench, first, bad, says] of BENCHES) {
    test(`${bench}: --help, an unknown option, a bad value`, () => {
      const help = run(bench, "--help");
      expect(help.code, help.err).toBe(0);
      expect(help.out.split("\n")[0]).toBe(first);
      const unknown = run(bench, "--bogus");
      expect(unknown.code, unknown.out + unknown.err).toBe(2);
      expect(unknown.err).toBe(`${bench}: Unknown option '--bogus'\n(see --help)\n`);
      const value = run(bench, ...bad);
      expect(value.code, value.out + value.err).toBe(2);
      expect(value.err).toBe(`${bench}: ${says}\n(see --help)\n`);
      expect(value.out).toBe("");
    });
  }

  test("bun_peer.ts (run by pps.ts): a bad value is an error event on stdout, exit 1", () => {
    const r = run("bun_peer.ts", "--action", "rx", "--socket", "@x", "--ring-size", "1");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({
      event: "error",
      message: '--ring-size must be an integer in 2..16384, got "1"',
    });
  });
});
