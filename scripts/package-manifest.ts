/**
 * The package.json files scripts/package.sh publishes (the repository's own package.json is the
 * development manifest: devDependencies, scripts).
 *   bun scripts/package-manifest.ts platform DIR KEY    a platform package made by napi-rs:
 *                                                       adds bun.js, exports and engines
 *   bun scripts/package-manifest.ts main DIR KEY...     the main package, with the platform
 *                                                       packages KEY... as optionalDependencies
 */
import { readFileSync, writeFileSync } from "node:fs";

const root = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const [what, dir, ...keys] = process.argv.slice(2);
if (dir === undefined || (what !== "platform" && what !== "main")) {
  console.error("usage: package-manifest.ts platform DIR KEY | main DIR KEY...");
  process.exit(2);
}
const write = (m: unknown) => writeFileSync(`${dir}/package.json`, `${JSON.stringify(m, null, 2)}\n`);
const engines = { node: ">=20" };

if (what === "platform") {
  const key = keys[0]!;
  const node = `zmemif.${key}.node`;
  const m = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  // Under Bun, `with { type: "file" }` makes `bun build --compile` embed the library; a plain Bun
  // run refuses to import a .node file that way and the main package then resolves the path.
  writeFileSync(
    `${dir}/bun.js`,
    `// The library's path for Bun's dlopen (bun:ffi); embedded by \`bun build --compile\`.\n` +
      `import path from "./${node}" with { type: "file" };\n` +
      `import pkg from "./package.json" with { type: "json" };\n` +
      `export default path;\nexport const version = pkg.version;\n`,
  );
  m.files = [node, "bun.js"];
  m.exports = { ".": `./${node}`, "./bun": "./bun.js", "./package.json": "./package.json", [`./${node}`]: `./${node}` };
  m.engines = engines;
  write(m);
} else {
  write({
    name: root.name,
    version: root.version,
    description: "memif (DPDK net_memif / VPP libmemif) shared-memory packet interface for Bun and Node.js",
    license: root.license,
    type: "module",
    exports: {
      ".": {
        types: "./dist/index.d.ts",
        bun: "./ts/index.ts",
        default: "./dist/node.js",
      },
      "./package.json": "./package.json",
    },
    types: "./dist/index.d.ts",
    bin: root.bin,
    files: ["bin", "dist", "ts", "crates/zmemif/include", "README.md"],
    os: ["linux"],
    engines,
    optionalDependencies: Object.fromEntries(keys.map((k) => [`zmemif-${k}`, root.version])),
  });
}
