/**
 * Installing zmemif as users do, from the npm tarballs only (scripts/package.sh), in temporary
 * projects whose PATH has no cargo or rustc:
 *  - `bun add` of the tarballs: a Bun server and a Bun client in two processes (checked packets,
 *    one of them a chained 9000-byte packet);
 *  - `npm install` of the same tarballs: a Node.js server with a Bun client, a Node.js client with
 *    a Bun server;
 *  - `bun build --compile`: the executable runs from another directory once node_modules is gone;
 *  - broken installations: each error says what to do.
 *
 * ZMEMIF_PACKAGES=DIR uses the tarballs in DIR (scripts/test.sh makes them once); otherwise the
 * test runs scripts/package.sh itself.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const TMP = mkdtempSync(join(tmpdir(), "zmemif-node-package-"));
const VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const PLATFORM_PKG = "zmemif-linux-x64-gnu";

/** A PATH with node, npm and bun, and no directory that holds cargo or rustc. */
function cleanPath(): string {
  const bin = join(TMP, "bin");
  mkdirSync(bin, { recursive: true });
  symlinkSync(Bun.which("node")!, join(bin, "node"));
  symlinkSync(Bun.which("npm")!, join(bin, "npm"));
  symlinkSync(Bun.which(BUN) ?? BUN, join(bin, "bun"));
  const keep = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d !== "" && !existsSync(join(d, "cargo")) && !existsSync(join(d, "rustc")));
  return [bin, ...keep].join(delimiter);
}

let PATH = "";
let tarballs: string[] = [];

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(cmd: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  const p = Bun.spawn(cmd, {
    cwd,
    env: { HOME: process.env.HOME ?? "/root", PATH, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out, err };
}

async function ok(cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const r = await run(cmd, cwd, env);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} (in ${cwd}) exited ${r.code}\n${r.out}\n${r.err}`);
  return r.out;
}

/** A fresh project directory with the peer programs and an empty package.json. */
function project(name: string): string {
  const dir = join(TMP, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `zmemif-node-test-${name}`, private: true, type: "module" }),
  );
  for (const f of ["peer.mjs", "load.mjs"]) cpSync(join(import.meta.dir, "package", f), join(dir, f));
  return dir;
}

/** Runs a server and a client (each [runtime, dir]) against each other; returns their lines. */
async function pair(server: [string, string], client: [string, string], sock: string): Promise<[string, string]> {
  const s = run([server[0], "peer.mjs", "server", sock], server[1]);
  await Bun.sleep(300);
  const c = run([client[0], "peer.mjs", "client", sock], client[1]);
  const [sr, cr] = await Promise.all([s, c]);
  if (sr.code !== 0 || cr.code !== 0) {
    throw new Error(`server exited ${sr.code}: ${sr.out}${sr.err}\nclient exited ${cr.code}: ${cr.out}${cr.err}`);
  }
  return [sr.out.trim(), cr.out.trim()];
}

let bunProject = "";
let npmProject = "";

beforeAll(async () => {
  PATH = cleanPath();
  expect(Bun.which("cargo", { PATH })).toBeNull();
  expect(Bun.which("rustc", { PATH })).toBeNull();
  let dir = process.env.ZMEMIF_PACKAGES ?? "";
  if (dir === "") {
    dir = join(TMP, "tarballs");
    const r = Bun.spawnSync(["bash", join(ROOT, "scripts", "package.sh"), dir], {
      stdout: "inherit",
      stderr: "inherit",
    });
    if (r.exitCode !== 0) throw new Error(`scripts/package.sh exited ${r.exitCode}`);
  }
  tarballs = readdirSync(dir)
    .filter((f) => f.endsWith(".tgz"))
    .map((f) => join(dir, f));
  expect(tarballs.map((t) => t.split("/").pop()).sort()).toContain(`${PLATFORM_PKG}-${VERSION}.tgz`);
  expect(tarballs.map((t) => t.split("/").pop())).toContain(`zmemif-${VERSION}.tgz`);

  bunProject = project("bun");
  await ok(["bun", "add", ...tarballs], bunProject);
  npmProject = project("npm");
  await ok(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], npmProject);
}, 600_000);

afterAll(() => {
  if (process.env.ZMEMIF_KEEP_LOGS !== "1") rmSync(TMP, { recursive: true, force: true });
});

describe("from the tarballs, no Rust in PATH", () => {
  test("the packages run no install script and ship what each runtime loads", async () => {
    for (const t of tarballs) {
      const list = await ok(["tar", "-xzOf", t, "package/package.json"], TMP);
      const m = JSON.parse(list);
      expect(m.scripts?.install ?? m.scripts?.postinstall ?? m.scripts?.preinstall).toBeUndefined();
    }
    const main = JSON.parse(readFileSync(join(npmProject, "node_modules", "zmemif", "package.json"), "utf8"));
    expect(main.optionalDependencies[PLATFORM_PKG]).toBe(VERSION);
    expect(existsSync(join(npmProject, "node_modules", "zmemif", "dist", "node.js"))).toBe(true);
    expect(existsSync(join(npmProject, "node_modules", "zmemif", "dist", "index.d.ts"))).toBe(true);
    const plat = JSON.parse(readFileSync(join(npmProject, "node_modules", PLATFORM_PKG, "package.json"), "utf8"));
    expect([plat.os, plat.cpu, plat.libc]).toEqual([["linux"], ["x64"], ["glibc"]]);
  });

  test("bun add: Bun server and Bun client, 20 checked packets incl. a chained 9000-byte one", async () => {
    expect(await pair(["bun", bunProject], ["bun", bunProject], "@zmemif-node-pkg-bb")).toEqual([
      "server ok 20 bun",
      "client ok 20 bun",
    ]);
  }, 60_000);

  test("npm install: Node.js server and Bun client", async () => {
    expect(await pair(["node", npmProject], ["bun", npmProject], "@zmemif-node-pkg-nb")).toEqual([
      "server ok 20 node",
      "client ok 20 bun",
    ]);
  }, 60_000);

  test("npm install: Node.js client and Bun server", async () => {
    expect(await pair(["bun", npmProject], ["node", npmProject], "@zmemif-node-pkg-bn")).toEqual([
      "server ok 20 bun",
      "client ok 20 node",
    ]);
  }, 60_000);

  test("the zmemif command: npm exec (npx) zmemif under Node.js (dist/) and bun x --bun zmemif (ts/) read a server's HELLO", async () => {
    const sock = "@zmemif-node-pkg-cli";
    const server = Bun.spawn(["bun", "peer.mjs", "server", sock], {
      cwd: bunProject,
      env: { HOME: process.env.HOME ?? "/root", PATH },
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await Bun.sleep(500);
      const viaNode = await run(["npm", "exec", "--no", "--", "zmemif", "info", sock, "--json"], npmProject);
      expect(viaNode.err).toBe("");
      expect(JSON.parse(viaNode.out)).toMatchObject({ socket: sock, name: "zmemif", compatible: true });
      const viaBun = await run(["bun", "x", "--bun", "zmemif", "info", sock, "--json"], bunProject);
      expect(viaBun.err).toBe("");
      expect(JSON.parse(viaBun.out)).toMatchObject({ socket: sock, name: "zmemif", compatible: true });
    } finally {
      server.kill("SIGKILL");
    }
    const absent = await run(["npm", "exec", "--no", "--", "zmemif", "info", "@zmemif-node-pkg-none"], npmProject);
    expect(absent.code).toBe(3);
    expect(absent.err).toContain("nobody listens on the abstract name @zmemif-node-pkg-none");
    const help = await run(["npm", "exec", "--no", "--", "zmemif", "--help"], npmProject);
    expect(help.code).toBe(0);
    expect(help.out).toContain("usage: zmemif COMMAND SOCKET [options]");
  }, 60_000);

  test("bun build --compile: the executable runs elsewhere with node_modules removed", async () => {
    const exe = join(TMP, "compiled", "peer");
    await ok(["bun", "build", "--compile", "peer.mjs", "--outfile", exe], bunProject);
    const away = join(TMP, "bun-node_modules-away");
    renameSync(join(bunProject, "node_modules"), away);
    try {
      const elsewhere = join(TMP, "elsewhere");
      mkdirSync(elsewhere, { recursive: true });
      const s = run([exe, "server", "@zmemif-node-pkg-exe"], elsewhere);
      await Bun.sleep(300);
      const c = await run(["node", "peer.mjs", "client", "@zmemif-node-pkg-exe"], npmProject);
      const sr = await s;
      expect([sr.code, sr.out.trim(), sr.err]).toEqual([0, "server ok 20 bun", expect.any(String)]);
      expect(c.out.trim()).toBe("client ok 20 node");
    } finally {
      renameSync(away, join(bunProject, "node_modules"));
    }
  }, 120_000);
});

describe("broken installations say what to do", () => {
  async function load(runtime: string, dir: string, env: Record<string, string> = {}, pre: string[] = []) {
    const r = await run([runtime, ...pre, "load.mjs"], dir, env);
    const line = r.out.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line) as { ok?: true; code?: string; message?: string };
    } catch {
      throw new Error(`load.mjs printed no JSON (exit ${r.code}): ${r.out}${r.err}`);
    }
  }

  test("a working installation loads (the baseline of the cases below)", async () => {
    expect(await load("node", npmProject)).toEqual({ ok: true });
    expect(await load("bun", npmProject)).toEqual({ ok: true });
  });

  test("unsupported platform: names it and the supported ones", async () => {
    const pre = join(npmProject, "fake-freebsd.mjs");
    writeFileSync(pre, 'Object.defineProperty(process, "platform", { value: "freebsd" });\n');
    const r = await load("node", npmProject, {}, ["--import", pre]);
    expect(r.code).toBe("UNSUPPORTED_PLATFORM");
    expect(r.message).toContain("freebsd-x64");
    expect(r.message).toContain("linux-x64-gnu, linux-x64-musl, linux-arm64-gnu");
  });

  test("Node.js too old: names both versions", async () => {
    const pre = join(npmProject, "fake-node18.mjs");
    writeFileSync(pre, 'Object.defineProperty(process.versions, "node", { value: "18.19.0" });\n');
    const r = await load("node", npmProject, {}, ["--import", pre]);
    expect(r.code).toBe("UNSUPPORTED_PLATFORM");
    expect(r.message).toContain("Node.js >= 20, this is 18.19.0");
  });

  test("ZMEMIF_LIB naming a missing file, then a file that is not zmemif", async () => {
    for (const rt of ["node", "bun"]) {
      const missing = await load(rt, npmProject, { ZMEMIF_LIB: "/nonexistent/libzmemif.so" });
      expect(missing.code).toBe("LIBRARY_NOT_FOUND");
      expect(missing.message).toContain("ZMEMIF_LIB=/nonexistent/libzmemif.so: no such file");
      const wrong = join(npmProject, "not-zmemif.so");
      writeFileSync(wrong, "not a library");
      chmodSync(wrong, 0o755);
      const bad = await load(rt, npmProject, { ZMEMIF_LIB: wrong });
      expect(bad.code).toBe("LIBRARY_LOAD_FAILED");
      expect(bad.message).toContain(wrong);
      expect(bad.message).toContain("ZMEMIF_LIB");
    }
  });

  test("platform package missing (optional dependencies skipped): names the package to add", async () => {
    const dir = join(npmProject, "node_modules", PLATFORM_PKG);
    const away = join(TMP, "platform-away");
    renameSync(dir, away);
    try {
      for (const rt of ["node", "bun"]) {
        const r = await load(rt, npmProject);
        expect(r.code).toBe("LIBRARY_NOT_FOUND");
        expect(r.message).toContain(`npm install ${PLATFORM_PKG}@${VERSION}`);
        expect(r.message).toContain("optional");
      }
    } finally {
      renameSync(away, dir);
    }
  });

  test("main and platform package versions differ: gives both", async () => {
    const file = join(npmProject, "node_modules", PLATFORM_PKG, "package.json");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(original), version: "0.0.1" }));
    try {
      for (const rt of ["node", "bun"]) {
        const r = await load(rt, npmProject);
        expect(r.code).toBe("LIBRARY_LOAD_FAILED");
        expect(r.message).toContain(`zmemif ${VERSION} found ${PLATFORM_PKG} 0.0.1`);
        expect(r.message).toContain(`${PLATFORM_PKG}@${VERSION}`);
      }
    } finally {
      writeFileSync(file, original);
    }
  });
});
