import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Batch, MemifError, MemifSocket } from "../ts/index.ts";
import { codeOf } from "../ts/errors.ts";
import { abstractName, cleanupDirs, socketPath } from "./helpers/peers.ts";

afterAll(cleanupDirs);

describe("errors", () => {
  test("negative codes map to stable names", () => {
    expect(codeOf(-1)).toBe("INVALID_ARGUMENT");
    expect(codeOf(-6)).toBe("NOT_CONNECTED");
    expect(codeOf(-11)).toBe("PEER_REJECTED");
    expect(codeOf(-14)).toBe("INTERNAL");
    expect(codeOf(-99)).toBe("UNKNOWN");
  });

  test("a missing library says how to build it", async () => {
    const proc = Bun.spawn(
      [
        process.execPath,
        "-e",
        `import { MemifSocket } from ${JSON.stringify(join(import.meta.dir, "../ts/index.ts"))};
try { new MemifSocket("@x"); } catch (e) { console.log(e.code + " " + e.message); }`,
      ],
      { env: { ...process.env, ZMEMIF_LIB: "/nonexistent/libzmemif.so" }, stdout: "pipe" },
    );
    const out = await new Response(proc.stdout).text();
    expect(out).toContain("LIBRARY_NOT_FOUND");
    expect(out).toContain("/nonexistent/libzmemif.so");
  });
});

describe("validation", () => {
  test("ringSize must be a power of two, with a hint", () => {
    using socket = new MemifSocket(abstractName());
    let err: unknown;
    try {
      socket.port({ role: "server", ringSize: 1000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemifError);
    expect((err as MemifError).code).toBe("INVALID_ARGUMENT");
    expect((err as MemifError).message).toContain("power of two");
    expect((err as MemifError).message).toContain("512 or 1024");
  });

  test("out-of-range options name the option", () => {
    using socket = new MemifSocket(abstractName());
    expect(() => socket.port({ role: "server", bufferSize: 70000 })).toThrow(/bufferSize/);
    expect(() => socket.port({ role: "server", c2sQueues: 0 })).toThrow(/c2sQueues/);
    expect(() => socket.port({ role: "server", secret: "x".repeat(25) })).toThrow(/secret/);
    expect(() => socket.port({ role: "client", id: -1 })).toThrow(/id/);
  });

  test("two servers with the same id on one socket: ID_IN_USE", () => {
    using socket = new MemifSocket(socketPath());
    using _a = socket.port({ id: 3, role: "server" });
    let err: unknown;
    try {
      socket.port({ id: 3, role: "server" });
    } catch (e) {
      err = e;
    }
    expect((err as MemifError).code).toBe("ID_IN_USE");
  });

  test("a socket in a missing directory: SOCKET_PATH or IO, naming the path", () => {
    let err: unknown;
    try {
      const s = new MemifSocket("/nonexistent-dir/memif.sock");
      s.port({ role: "server" }).close(); // some cores bind lazily, at the first server port
      s.close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemifError);
    expect(["SOCKET_PATH", "IO", "PERMISSION"]).toContain((err as MemifError).code);
  });

  test("a batch before any burst has no views", () => {
    const b = new Batch(4);
    expect(b.count).toBe(0);
    expect(() => b.view(0)).toThrow(MemifError);
  });

  test("closing is idempotent and `using` closes", () => {
    const socket = new MemifSocket(abstractName());
    const port = socket.port({ role: "server" });
    port.close();
    port.close();
    expect(port.closed).toBe(true);
    socket.close();
    socket.close();
    expect(socket.closed).toBe(true);
  });
});
