/**
 * Argument handling shared by the examples: `--help`, and options checked with errors that say
 * what to do. Not part of the zmemif API.
 */
import { parseArgs } from "node:util";

export interface OptionSpec {
  /** "int" and "number" are checked against min/max; "choice" against choices */
  type: "string" | "int" | "number" | "choice" | "flag";
  default?: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  help: string;
}

export type Specs = Record<string, OptionSpec>;

export type Parsed<S extends Specs> = {
  [K in keyof S]: S[K]["type"] extends "int" | "number" ? number : S[K]["type"] extends "flag" ? boolean : string;
};

function usage(name: string, summary: string, specs: Specs): string {
  const lines = [`usage: bun examples/${name}.ts [options]`, "", summary, "", "options:"];
  for (const [k, s] of Object.entries(specs)) {
    const arg =
      s.type === "flag" ? "" : s.type === "choice" ? ` ${s.choices!.join("|")}` : s.type === "string" ? " VALUE" : " N";
    const dflt = s.default !== undefined ? ` (default ${s.default})` : "";
    const left = `  --${k}${arg}`;
    lines.push((left.length >= 34 ? `${left}  ` : left.padEnd(34)) + s.help + dflt);
  }
  lines.push(`  --help`.padEnd(34) + "show this text");
  return lines.join("\n");
}

/** Parses process.argv; prints usage and exits 0 on --help, prints the problem and exits 2 on a bad argument. */
export function cli<S extends Specs>(name: string, summary: string, specs: S): Parsed<S> {
  const fail = (msg: string): never => {
    process.stderr.write(`${name}: ${msg}\nrun \`bun examples/${name}.ts --help\` for the options\n`);
    process.exit(2);
  };
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [k, s] of Object.entries(specs)) options[k] = { type: s.type === "flag" ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false }));
  } catch (e) {
    return fail((e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (values.help === true) {
    process.stdout.write(usage(name, summary, specs) + "\n");
    process.exit(0);
  }
  const out: Record<string, string | number | boolean> = {};
  for (const [k, s] of Object.entries(specs)) {
    const raw = values[k] ?? s.default;
    if (s.type === "flag") {
      out[k] = raw === true;
      continue;
    }
    if (raw === undefined || raw === "") return fail(`--${k} is required: ${s.help}`);
    const v = String(raw);
    if (s.type === "choice") {
      if (!s.choices!.includes(v)) return fail(`--${k} must be one of ${s.choices!.join(", ")}, got '${v}'`);
      out[k] = v;
    } else if (s.type === "int" || s.type === "number") {
      const n = Number(v);
      const range = `${s.min ?? "-∞"}..${s.max ?? "∞"}`;
      if (v.trim() === "" || !Number.isFinite(n) || (s.type === "int" && !Number.isInteger(n))) {
        return fail(`--${k} must be ${s.type === "int" ? "an integer" : "a number"} in ${range}, got '${v}'`);
      }
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
        return fail(`--${k} must be in ${range}, got ${n}`);
      }
      out[k] = n;
    } else {
      out[k] = v;
    }
  }
  return out as Parsed<S>;
}

/** Runs `f` on the first SIGINT/SIGTERM (a second one exits at once). */
export function onStop(f: () => void): void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    f();
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

/** "12.3 µs" style for a duration in ms. */
export function us(ms: number): string {
  return `${(ms * 1000).toFixed(1)} µs`;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
