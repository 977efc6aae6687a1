/**
 * The benches' command lines, read one way. A bench lists its options (each a flag, or a value
 * read by `text`, `integer`, `decimal` or `choice`, single or a list, with its range and default)
 * and keeps its own --help text. `commandLine` then prints that text and exits 0 on `--help`;
 * on an unknown option, a missing or bad value, it prints `bench.ts: what is wrong` and
 * `(see --help)` and exits 2.
 *
 *   const o = commandLine("wake_paths.ts", HELP, { count: option(integer({ min: 1 }), 2000), json: flag });
 *
 * (The `zmemif` CLI has its own, ts/cli/args.ts: it makes its --help from its option table, where
 * the benches keep prose; and the benches do not reach into the package's internals.)
 */
import { parseArgs } from "node:util";

/** A command line the bench cannot run with: printed with "(see --help)", exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Bounds of a number: `min` and `max` inclusive, `above` exclusive. */
export interface Range {
  min?: number;
  max?: number;
  above?: number;
}

/** Reads one value given to `--name`; throws a UsageError saying what the option takes. */
export type Value<T> = (name: string, given: string) => T;

/** How an option is given (what node:util's parseArgs is told) and read into the bench's value. */
export interface Spec<T> {
  readonly type: "string" | "boolean";
  readonly multiple: boolean;
  /** `given` is undefined when the option is not on the command line */
  read(name: string, given: string | boolean | (string | boolean)[] | undefined): T;
}

export type Specs = Record<string, Spec<unknown>>;
export type Values<S extends Specs> = { [K in keyof S]: S[K] extends Spec<infer T> ? T : never };

function describe(r: Range): string {
  if (r.min !== undefined && r.max !== undefined) return ` in ${r.min}..${r.max}`;
  const bounds: string[] = [];
  if (r.min !== undefined) bounds.push(`>= ${r.min}`);
  if (r.above !== undefined) bounds.push(`> ${r.above}`);
  if (r.max !== undefined) bounds.push(`<= ${r.max}`);
  return bounds.length === 0 ? "" : ` ${bounds.join(" and ")}`;
}

function inRange(r: Range, n: number): boolean {
  return (
    (r.min === undefined || n >= r.min) && (r.above === undefined || n > r.above) && (r.max === undefined || n <= r.max)
  );
}

export const text: Value<string> = (_name, given) => given;

export function integer(range: Range = {}): Value<number> {
  return (name, given) => {
    const n = Number(given);
    if (!/^[+-]?\d+$/.test(given.trim()) || !Number.isSafeInteger(n) || !inRange(range, n)) {
      throw new UsageError(`--${name} must be an integer${describe(range)}, got ${JSON.stringify(given)}`);
    }
    return n;
  };
}

export function decimal(range: Range = {}): Value<number> {
  return (name, given) => {
    const n = Number(given);
    if (given.trim() === "" || !Number.isFinite(n) || !inRange(range, n)) {
      throw new UsageError(`--${name} must be a number${describe(range)}, got ${JSON.stringify(given)}`);
    }
    return n;
  };
}

export function choice<const C extends string>(choices: readonly C[]): Value<C> {
  return (name, given) => {
    if (!choices.includes(given as C)) {
      throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got ${JSON.stringify(given)}`);
    }
    return given as C;
  };
}

/** A switch: true when given. */
export const flag: Spec<boolean> = { type: "boolean", multiple: false, read: (_name, given) => given === true };

/** An option that takes one value (given twice, the last counts); `dflt` when it is not given. */
export function option<T>(value: Value<T>): Spec<T | undefined>;
export function option<T>(value: Value<T>, dflt: NoInfer<T>): Spec<T>;
export function option<T>(value: Value<T>, dflt?: T): Spec<T | undefined> {
  return {
    type: "string",
    multiple: false,
    read: (name, given) => (given === undefined ? dflt : value(name, given as string)),
  };
}

/**
 * An option that takes values repeated or comma-separated (`--size 64,512 --size 1500`), each read
 * by `value`, duplicates dropped, in the order given; `dflt` when none is given. With `all`, the
 * word "all" among them stands for those.
 */
export function list<T>(value: Value<T>, dflt: NoInfer<readonly T[]> = [], all?: NoInfer<readonly T[]>): Spec<T[]> {
  return {
    type: "string",
    multiple: true,
    read(name, given) {
      const items = ((given ?? []) as string[])
        .flatMap((g) => g.split(","))
        .map((s) => s.trim())
        .filter((s) => s !== "");
      if (items.length === 0) return [...dflt];
      if (all !== undefined && items.includes("all")) return [...all];
      return [...new Set(items.map((s) => value(name, s)))];
    },
  };
}

/** Reads `argv` by `specs`: the values, or "help" when --help is given. Throws a UsageError. */
export function parse<S extends Specs>(argv: readonly string[], specs: S): Values<S> | "help" {
  const options: Record<string, { type: "string" | "boolean"; multiple: boolean }> = {
    help: { type: "boolean", multiple: false },
  };
  for (const [k, s] of Object.entries(specs)) options[k] = { type: s.type, multiple: s.multiple };
  let given: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    given = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    // node:util's own words ("Unknown option '--x'", "Option '--size <value>' argument missing"),
    // less its hint about positionals, which no bench takes.
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (given.help === true) return "help";
  const values: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(specs)) values[k] = s.read(k, given[k]);
  return values as Values<S>;
}

/**
 * The command line of bench `script` (`argv`: what follows the script): `--help` prints `help`
 * and exits 0; an unknown option or a bad value, or a UsageError thrown by `check` (which relates
 * options to each other and makes what the bench uses of them), prints
 * `script: what is wrong` and "(see --help)" to stderr and exits 2.
 */
export function commandLine<S extends Specs, T = Values<S>>(
  script: string,
  help: string,
  specs: S,
  check: (values: Values<S>) => T = (values) => values as unknown as T,
  argv: readonly string[] = process.argv.slice(2),
): T {
  try {
    const values = parse(argv, specs);
    if (values === "help") {
      console.log(help);
      process.exit(0);
    }
    return check(values);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${script}: ${e.message}\n(see --help)`);
    process.exit(2);
  }
}
