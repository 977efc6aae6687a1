/**
 * The Node.js bench peer: benches/bun_peer.ts bundled for Node.js (>= 20) by Bun.build, with the
 * zmemif entry swapped for the Node one (ts/node.ts, the N-API backend) and the heap accounting
 * (bun:jsc) for its Node stand-in (peer/heap_node.ts); peer/udp.ts picks node:dgram by itself.
 * Same protocol, same hot loops, so node-* and bun-* scenarios differ only in the runtime and its
 * binding.
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const OUT = here("../../target/bench-node/");
const SWAPS: [RegExp, string][] = [
  [/(^|\/)ts\/index\.ts$/, here("../../ts/node.ts")],
  [/^\.\/heap\.ts$/, here("../peer/heap_node.ts")],
];

let built: Promise<string> | null = null;

/** The bundle's path, built once per process. */
export function nodePeer(): Promise<string> {
  built ??= (async () => {
    mkdirSync(OUT, { recursive: true });
    const r = await Bun.build({
      entrypoints: [here("../bun_peer.ts")],
      outdir: OUT,
      target: "node",
      format: "esm",
      naming: "node_peer.mjs",
      plugins: [
        {
          name: "zmemif-node-peer",
          setup(b) {
            for (const [filter, path] of SWAPS) b.onResolve({ filter }, () => ({ path }));
          },
        },
      ],
    });
    if (!r.success) throw new Error(`building the Node.js bench peer failed: ${r.logs.join("\n")}`);
    return `${OUT}node_peer.mjs`;
  })();
  return built;
}
