/** The package's dist/ for the Node.js tests, which run what the package ships. */
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/** Compiles dist/ (`tsc -p tsconfig.build.json`); throws if tsc fails. For beforeAll (it takes a while). */
export function buildDist(): void {
  const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")], {
    stdout: "inherit",
    stderr: "inherit",
  });
  if (r.exitCode !== 0) throw new Error("tsc -p tsconfig.build.json failed");
}
