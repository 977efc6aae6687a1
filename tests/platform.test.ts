/**
 * ts/native/locate.ts's choice of platform package: the C library read from /proc/self/maps
 * (glibc or musl, for Node.js and Bun alike). The packages themselves are tested from their
 * tarballs in package.test.ts (under qemu for arm64, with musl's loader for musl).
 */
import { describe, expect, test } from "bun:test";
import { libcFromMaps, platformKey } from "../ts/native/locate.ts";

const line = (path: string) => `7f0000000000-7f0000001000 r-xp 00000000 08:01 1234    ${path}`;

describe("libcFromMaps", () => {
  test("glibc: libc.so.6, or libc-2.NN.so before glibc 2.34; x86_64 and aarch64 (under qemu)", () => {
    expect(libcFromMaps([line("/usr/bin/node"), line("/usr/lib/x86_64-linux-gnu/libc.so.6")].join("\n"))).toBe("gnu");
    expect(libcFromMaps(line("/lib/x86_64-linux-gnu/libc-2.31.so"))).toBe("gnu");
    expect(
      libcFromMaps(
        [line("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"), line("/usr/aarch64-linux-gnu/lib/libc.so.6")].join(
          "\n",
        ),
      ),
    ).toBe("gnu");
  });

  test("musl: Alpine's loader, its libc.musl name, Debian's musl package", () => {
    expect(libcFromMaps([line("/usr/bin/node"), line("/lib/ld-musl-x86_64.so.1")].join("\n"))).toBe("musl");
    expect(libcFromMaps(line("/lib/ld-musl-aarch64.so.1"))).toBe("musl");
    expect(libcFromMaps(line("/usr/lib/libc.musl-x86_64.so.1"))).toBe("musl");
    expect(libcFromMaps(line("/usr/lib/x86_64-linux-musl/libc.so"))).toBe("musl");
  });

  test("neither (a static binary, no /proc): undefined; a path that merely mentions musl is not musl", () => {
    expect(libcFromMaps("")).toBeUndefined();
    expect(libcFromMaps([line("/opt/app/bin/app"), "[heap]", "[stack]"].join("\n"))).toBeUndefined();
    expect(libcFromMaps(line("/home/u/musl-notes/node_modules/zmemif-linux-x64-musl/zmemif.node"))).toBeUndefined();
    expect(libcFromMaps([line("/home/u/musl/app.node"), line("/usr/lib/x86_64-linux-gnu/libc.so.6")].join("\n"))).toBe(
      "gnu",
    );
  });
});

test("this process (Bun on Debian's glibc, x64): linux-x64-gnu", () => {
  expect(platformKey()).toBe(`linux-${process.arch}-gnu`);
});
