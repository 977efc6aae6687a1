/**
 * `zmemif info SOCKET [--id N] [--json]`: what the memif server on SOCKET says in its HELLO, read
 * without connecting an interface (probeServer), and with --id whether that interface id would
 * take a client. The first command to run when a handshake fails.
 */
import { probeServer, type ServerHello } from "../probe.ts";
import { type Command, parse, socketArg, type Specs, usage } from "./args.ts";
import { EXIT, EXIT_TABLE } from "./exit.ts";

const options = {
  id: { type: "int", min: 0, max: 0xffffffff, help: "ask whether this interface id takes a client (INIT, no secret)" },
  json: { type: "flag", help: "print one JSON object instead of text" },
  timeout: { type: "int", min: 1, max: 600_000, default: 2000, arg: "MS", help: "ms to wait for each answer" },
} satisfies Specs;

export const infoCommand: Command<typeof options> = {
  name: "info",
  positionals: "SOCKET",
  summary:
    "Reads the HELLO of the memif server on SOCKET (a path, or @name for an abstract socket): its\n" +
    "name, protocol versions and limits, then disconnects (a DISCONNECT saying why) without\n" +
    "connecting an interface. With --id, also asks whether that interface id takes a client.",
  options,
  more: `examples:
  zmemif info @zmemif-dpdk          DPDK testpmd's default: an abstract socket
  zmemif info /run/memif.sock --id 1 --json

${EXIT_TABLE}`,
};

function text(h: ServerHello): string {
  const rows: [string, string][] = [
    ["socket", h.socket],
    ["server", h.name === "" ? "(no name)" : h.name],
    [
      "protocol",
      `${h.minVersion === h.maxVersion ? h.minVersion : `${h.minVersion}..${h.maxVersion}`} ` +
        (h.compatible ? "(zmemif speaks 2.0: compatible)" : "(zmemif speaks 2.0: NOT compatible)"),
    ],
    ["max region", `${h.maxRegion} (largest region index)`],
    ["max C2S ring", `${h.maxC2sRing} (largest client-to-server (S2M) ring index)`],
    ["max S2C ring", `${h.maxS2cRing} (largest server-to-client (M2S) ring index)`],
    ["max ring size", `2^${h.maxLog2RingSize} = ${2 ** h.maxLog2RingSize} slots`],
  ];
  if (h.id !== undefined) {
    rows.push([
      `id ${h.id.id}`,
      h.id.accepted ? "accepts a client (INIT without a secret was acknowledged)" : `refused: ${h.id.reason}`,
    ]);
  }
  return rows.map(([k, v]) => `${k.padEnd(14)}${v}`).join("\n");
}

export function runInfo(argv: readonly string[], out: (s: string) => void): number {
  const p = parse(infoCommand, argv);
  if (p.help) {
    out(usage(infoCommand));
    return EXIT.OK;
  }
  const socket = socketArg("info", p.positionals);
  const v = p.values;
  const h = probeServer(socket, { id: v.id, timeoutMs: v.timeout });
  out(v.json ? JSON.stringify(h) : text(h));
  if (!h.compatible) return EXIT.NOT_MEMIF;
  return h.id !== undefined && !h.id.accepted ? EXIT.REFUSED : EXIT.OK;
}
