/**
 * Command-line options of the `zmemif` subcommands: one table per subcommand gives each option's
 * type, range and help line, from which both the parser and `--help` are made, so the two never
 * disagree. A bad argument is a `UsageError` (exit 2) naming the option and what it takes.
 */
import { parseArgs } from "node:util";

export interface OptionSpec {
  /** "int" is checked against min/max; "choice" against choices */
  type: "string" | "int" | "choice" | "flag";
  default?: string | number;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** placeholder in the usage line, e.g. FILE */
  arg?: string;
  help: string;
}

export type Specs = Record<string, OptionSpec>;

/** An option's parsed value: flags are booleans; an option with a default is never undefined. */
type ValueOf<O extends OptionSpec> = O["type"] extends "flag"
  ? boolean
  : (O["type"] extends "int" ? number : string) | (O extends { default: string | number } ? never : undefined);

export type Values<S extends Specs> = { [K in keyof S]: ValueOf<S[K]> };

export interface Command<S extends Specs> {
  name: string;
  /** positional arguments as shown in the usage line, e.g. "SOCKET" */
  positionals: string;
  summary: string;
  options: S;
  /** lines after the options: examples, exit codes */
  more?: string;
}

/** A bad command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
  }
}

export function usage<S extends Specs>(c: Command<S>): string {
  const lines = [
    `usage: zmemif ${c.name} ${c.positionals} [options]`.replace(/ +\[/, " ["),
    "",
    c.summary,
    "",
    "options:",
  ];
  for (const [k, s] of Object.entries(c.options)) {
    const arg = s.type === "flag" ? "" : s.type === "choice" ? ` ${s.choices!.join("|")}` : ` ${s.arg ?? "N"}`;
    const dflt = s.default !== undefined ? ` (default ${s.default})` : "";
    const left = `  --${k}${arg}`;
    lines.push((left.length >= 26 ? `${left}  ` : left.padEnd(26)) + s.help + dflt);
  }
  lines.push("  --help".padEnd(26) + "show this text");
  if (c.more !== undefined) lines.push("", c.more);
  return lines.join("\n");
}

/** Parses `argv` for command `c`: the positionals and the checked option values. `help` when asked. */
export function parse<S extends Specs>(
  c: Command<S>,
  argv: readonly string[],
): { help: true } | { help: false; positionals: string[]; values: Values<S> } {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [k, s] of Object.entries(c.options)) options[k] = { type: s.type === "flag" ? "boolean" : "string" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(c.name, (e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (parsed.values.help === true) return { help: true };
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const [k, s] of Object.entries(c.options)) {
    const raw = parsed.values[k] as string | boolean | undefined;
    if (s.type === "flag") {
      out[k] = raw === true;
      continue;
    }
    const v = raw ?? (s.default === undefined ? undefined : String(s.default));
    if (v === undefined) {
      out[k] = undefined;
      continue;
    }
    if (typeof v !== "string" || v === "") throw new UsageError(c.name, `--${k} needs a value: ${s.help}`);
    if (s.type === "int") {
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < (s.min ?? 0) || n > (s.max ?? Number.MAX_SAFE_INTEGER)) {
        throw new UsageError(c.name, `--${k} takes an integer in ${s.min ?? 0}..${s.max ?? "∞"}, not "${v}"`);
      }
      out[k] = n;
    } else if (s.type === "choice") {
      if (!s.choices!.includes(v))
        throw new UsageError(c.name, `--${k} takes one of ${s.choices!.join(", ")}, not "${v}"`);
      out[k] = v;
    } else {
      out[k] = v;
    }
  }
  return { help: false, positionals: parsed.positionals, values: out as Values<S> };
}

/** The one SOCKET positional every subcommand takes. */
export function socketArg(command: string, positionals: readonly string[]): string {
  if (positionals.length === 0) {
    throw new UsageError(command, "give the memif socket: a path (/run/memif.sock) or @name for an abstract socket");
  }
  if (positionals.length > 1) throw new UsageError(command, `one socket only, got ${positionals.join(" ")}`);
  const s = positionals[0]!;
  if (s === "@") throw new UsageError(command, "an abstract socket needs a name after the @");
  return s;
}
