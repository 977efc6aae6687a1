/**
 * `zmemif stats MGMT [--once] [--json] [--interval MS]`: the zmemif forwarder's counters, read
 * from its management socket (`--mgmt PATH`: each connection gets one JSON object, then the
 * socket closes; see forwarder/README.md) and shown as a table of its ports (link, rx, tx,
 * steered, drops by cause, the port's hardware queue counters) with rates, refreshed every
 * second; `--once` prints one table, `--json` the object itself, for scripts.
 */
import { execFile } from "node:child_process";
import { createConnection } from "node:net";
import { probeServer } from "../probe.ts";
import { type Command, parse, socketArg, type Specs, usage } from "./args.ts";
import { EXIT, EXIT_TABLE } from "./exit.ts";

const options = {
  once: { type: "flag", help: "print once and exit (default: refresh until Ctrl-C)" },
  json: { type: "flag", help: "print the forwarder's JSON object (implies --once)" },
  interval: { type: "int", min: 100, max: 3_600_000, default: 1000, arg: "MS", help: "ms between refreshes" },
} satisfies Specs;

export const statsCommand: Command<typeof options> = {
  name: "stats",
  positionals: "MGMT_SOCKET",
  summary:
    "Shows the zmemif forwarder's counters, read from its management socket (forwarder --mgmt\n" +
    "PATH, default /run/zmemif-fwd.sock), as a table of its ports refreshed every second.",
  options,
  more: `examples:
  zmemif stats /run/zmemif-fwd.sock
  zmemif stats /run/zmemif-fwd.sock --json | jq '.ports[] | {name, rx, tx, dropped}'

${EXIT_TABLE}`,
};

/** Exit-code errors of this command: no forwarder there (3), permission (4), not its JSON (5). */
class StatsError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface FwdPort {
  name: string;
  kind: string;
  link: string;
  rx: number;
  tx: number;
  steered: number;
  dropped: number;
  drops: Record<string, number>;
  hw?: { ipackets: number; opackets: number; imissed: number; ierrors: number; oerrors: number; rx_nombuf: number };
}

interface FwdStats {
  program: string;
  uptime_s: number;
  ports: FwdPort[];
  mbufs?: { size: number; available: number };
}

/** Reads the forwarder's JSON object from its management socket. */
export function readStats(path: string, timeoutMs = 2000): Promise<FwdStats> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = createConnection({ path });
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new StatsError(
          EXIT.NOT_MEMIF,
          `${path} sent no complete JSON within ${timeoutMs} ms: is it the forwarder's --mgmt socket?`,
        ),
      );
    }, timeoutMs);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ECONNREFUSED" || e.code === "EPROTOTYPE") {
        // A memif control socket refuses a stream connection: say so rather than "nobody listens".
        try {
          const h = probeServer(path, { timeoutMs: 300 });
          reject(
            new StatsError(
              EXIT.NOT_MEMIF,
              `${path} is a memif socket (server "${h.name}"), not the forwarder's management socket: ` +
                "give the forwarder's --mgmt path",
            ),
          );
          return;
        } catch {
          // not memif either: nobody listens
        }
      }
      if (e.code === "ECONNRESET" && chunks.length === 0 && process.versions.bun !== undefined) {
        // Bun 1.4.4 fails the connect of a Unix socket whose server writes and closes at once (as
        // the forwarder does): read it through Node.js when there is one.
        readThroughNode(path).then(resolve, reject);
        return;
      }
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") {
        reject(
          new StatsError(
            EXIT.NO_SERVER,
            `no forwarder listens on ${path}: start it with --mgmt ${path}, or give its --mgmt path`,
          ),
        );
      } else if (e.code === "EACCES") {
        reject(new StatsError(EXIT.PERMISSION, `permission denied on ${path}: run as the forwarder's user (or root)`));
      } else if (e.code === "EPROTOTYPE") {
        reject(
          new StatsError(
            EXIT.NOT_MEMIF,
            `${path} is not the forwarder's management socket ` +
              "(another socket type: a memif socket? give the --mgmt path)",
          ),
        );
      } else reject(new StatsError(EXIT.ERROR, `cannot read ${path}: ${e.message}`));
    });
    s.on("end", () => {
      clearTimeout(timer);
      settle(path, Buffer.concat(chunks).toString("utf8"), resolve, reject);
    });
  });
}

/** Resolves with the forwarder's stats document read from `path`, or rejects saying what was read instead. */
function settle(path: string, text: string, resolve: (doc: FwdStats) => void, reject: (e: StatsError) => void): void {
  try {
    const doc = JSON.parse(text) as FwdStats;
    if (!Array.isArray(doc.ports)) throw new Error("no ports");
    resolve(doc);
  } catch {
    reject(
      new StatsError(
        EXIT.NOT_MEMIF,
        `${path} is not the forwarder's management socket: it sent ${JSON.stringify(text.slice(0, 60))}`,
      ),
    );
  }
}

const NODE_READ = `const s = require("net").createConnection({ path: process.argv[1] }); let b = "";
s.on("data", (d) => (b += d)); s.on("end", () => process.stdout.write(b));
s.on("error", (e) => { process.stderr.write(e.message); process.exit(1); });`;

/** Reads the management socket through a Node.js child (see readStats). */
function readThroughNode(path: string): Promise<FwdStats> {
  return new Promise((resolve, reject) => {
    execFile("node", ["-e", NODE_READ, path], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err !== null) {
        const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
        reject(
          new StatsError(
            EXIT.ERROR,
            missing
              ? `Bun cannot read ${path} (connect ECONNRESET: the server closes at once) and node is not in PATH: ` +
                  "run `npx zmemif stats` with Node.js"
              : `cannot read ${path}: ${stderr || err.message}`,
          ),
        );
        return;
      }
      settle(path, stdout, resolve, reject);
    });
  });
}

const n = (x: number) => x.toLocaleString("en-US");

/** The table: one row per port; rates when a previous sample is given. */
export function table(doc: FwdStats, prev?: { doc: FwdStats; ms: number }): string {
  const head = [
    "port",
    "kind",
    "link",
    "rx",
    "tx",
    "steered",
    "dropped",
    "rx/s",
    "tx/s",
    "hw imissed",
    "hw rx_nombuf",
    "drops by cause",
  ];
  const rows = doc.ports.map((p) => {
    const before = prev?.doc.ports.find((q) => q.name === p.name);
    const rate = (now: number, then: number | undefined) =>
      prev === undefined || then === undefined ? "-" : n(Math.round(((now - then) * 1000) / prev.ms));
    const causes = Object.entries(p.drops ?? {})
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k}=${n(v)}`)
      .join(" ");
    return [
      p.name,
      p.kind,
      p.link,
      n(p.rx),
      n(p.tx),
      n(p.steered),
      n(p.dropped),
      rate(p.rx, before?.rx),
      rate(p.tx, before?.tx),
      n(p.hw?.imissed ?? 0),
      n(p.hw?.rx_nombuf ?? 0),
      causes === "" ? "-" : causes,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < 3 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const mbufs = doc.mbufs === undefined ? "" : `, mbufs ${n(doc.mbufs.available)}/${n(doc.mbufs.size)} free`;
  return [`${doc.program}: up ${doc.uptime_s.toFixed(0)} s${mbufs}`, line(head), ...rows.map(line)].join("\n");
}

export async function runStats(argv: readonly string[], out: (s: string) => void): Promise<number> {
  const p = parse(statsCommand, argv);
  if (p.help) {
    out(usage(statsCommand));
    return EXIT.OK;
  }
  const path = socketArg("stats", p.positionals);
  const o = p.values;
  try {
    let doc = await readStats(path);
    if (o.json) {
      out(JSON.stringify(doc));
      return EXIT.OK;
    }
    if (o.once) {
      out(table(doc));
      return EXIT.OK;
    }
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    process.once("SIGINT", onSignal);
    let prev: { doc: FwdStats; ms: number; at: number } | undefined;
    let at = performance.now();
    while (!stop) {
      const clear = process.stdout.isTTY ? "\x1b[H\x1b[2J" : "";
      out(`${clear}${table(doc, prev === undefined ? undefined : { doc: prev.doc, ms: at - prev.at })}`);
      prev = { doc, ms: 0, at };
      await new Promise((r) => setTimeout(r, o.interval));
      if (stop) break;
      doc = await readStats(path);
      at = performance.now();
    }
    process.off("SIGINT", onSignal);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof StatsError) {
      process.stderr.write(`zmemif stats: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
