/**
 * Bun ↔ DPDK 22.11 net_memif through a real dpdk-testpmd, in both roles, over filesystem and
 * abstract sockets. testpmd forwards back (`io`) what it receives, so every payload is checked
 * end to end. `--no-flush-rx`: testpmd otherwise drops what arrives before forwarding starts.
 * testpmd io drops what it cannot forward at once, so packets go out in chunks smaller than the
 * rx ring and come back before the next chunk. A missing testpmd is a failure, not a skip.
 *
 * A testpmd server runs interactive so that its forwarding stops before our client leaves:
 * DPDK 22.11's net_memif unmaps a leaving peer's rings while its lcore may be inside a burst on
 * them (forwarder/README.md, "A peer leaving mid-burst"), and testpmd died of it (SIGSEGV in
 * librte_net_memif, right after "Disconnect received") in 10 of 200 runs on a loaded machine.
 * Nothing in the protocol makes a peer survive that; the test still requires it to see our
 * DISCONNECT.
 */
import { afterEach, expect, test } from "bun:test";
import { Batch, MemifSocket, type Port, type RxQueue } from "../ts/index.ts";
import { payload, sameBytes } from "./helpers/peers.ts";
import { Testpmd, uniqueAbstract, uniqueSocketPath, type Socket } from "../support/testpmd.ts";

const RING = 1024;
const CHUNK = 256; // < RING
const SIZES = [60, 64, 128, 512, 1000, 1500];

let testpmd: Testpmd | null = null;
afterEach(async () => {
  // A 22.11 client must go before its server (it may crash otherwise): the tests stop it
  // themselves while our server is up; this is the fallback on failure.
  if (testpmd !== null) await testpmd.kill();
  testpmd = null;
});

function start(role: "server" | "client", socket: Socket, interactive = false): Promise<Testpmd> {
  return Testpmd.start({
    role,
    socket,
    mode: "io",
    cpu: 0,
    interactive,
    extraAppArgs: ["--no-flush-rx"],
    name: `io-${role}`,
  });
}

function memifPath(s: Socket): string {
  return "path" in s ? s.path : `@${s.abstract}`;
}

/** Receives exactly `n` packets (copies), or throws after `timeoutMs`. */
async function receive(rx: RxQueue, batch: Batch, n: number, timeoutMs: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const deadline = performance.now() + timeoutMs;
  while (out.length < n) {
    const got = rx.rxBurst(batch);
    for (let i = 0; i < got; i = batch.packetEnd(i)) out.push(batch.copyPacket(i));
    if (got === 0) {
      if (performance.now() > deadline) {
        throw new Error(`received ${out.length} of ${n} packets back from testpmd within ${timeoutMs} ms`);
      }
      await Promise.race([rx.readable(), Bun.sleep(50)]);
    }
  }
  rx.release();
  return out;
}

/** Sends `count` packets of several sizes; checks each comes back unchanged and in order. */
async function exchange(port: Port, count: number, sizes: readonly number[] = SIZES): Promise<void> {
  using tx = port.txQueue(0);
  using rx = port.rxQueue(0);
  const batch = new Batch(32);
  let back = 0;
  for (let start = 0; start < count; start += CHUNK) {
    const sent: Uint8Array[] = [];
    for (let i = start; i < Math.min(count, start + CHUNK); i++) {
      const p = payload(i, sizes[i % sizes.length]!);
      await tx.send(p, { timeoutMs: 5000 });
      sent.push(p);
    }
    const got = await receive(rx, batch, sent.length, 10_000);
    for (let k = 0; k < sent.length; k++) {
      if (!sameBytes(got[k]!, sent[k]!)) {
        throw new Error(
          `packet ${start + k}: ${got[k]!.byteLength} bytes came back, ` +
            `not the ${sent[k]!.byteLength} sent (or changed)`,
        );
      }
    }
    back += got.length;
  }
  expect(back).toBe(count);
  expect(tx.stats().packets).toBe(count);
  expect(rx.stats().packets).toBe(count);
  expect(rx.stats().badDescs).toBe(0);
}

async function bunClientTestpmdServer(socket: Socket, sizes: readonly number[] = SIZES): Promise<void> {
  testpmd = await start("server", socket, true);
  await testpmd.command("start");
  using s = new MemifSocket(memifPath(socket));
  using port = s.port({ role: "client", ringSize: RING, reconnectMs: 100, name: "bun-client" });
  const ev = await port.connect({ timeoutMs: 10_000 });
  expect(ev.peerName).toBe("net_memif0");
  await testpmd.linkUp(5000);
  await exchange(port, 3000, sizes);
  // No burst of testpmd's may run when we leave (see the top); its totals since `start`.
  const stopped = await testpmd.command("stop");
  expect(stopped.forward).toEqual({ rx: 3000, tx: 3000 });
  port.close();
  await testpmd.linkDown(5000); // testpmd saw our disconnect
}

async function bunServerTestpmdClient(socket: Socket): Promise<void> {
  using s = new MemifSocket(memifPath(socket));
  using port = s.port({ role: "server", ringSize: RING, name: "bun-server" });
  const connected = port.connect({ timeoutMs: 10_000 });
  testpmd = await start("client", socket);
  const ev = await connected;
  expect(ev.peerName).toBe("net_memif0");
  await testpmd.linkUp(5000);
  await exchange(port, 3000);
  await testpmd.kill(); // the client first
  testpmd = null;
}

test(
  "Bun client <-> testpmd server (io), filesystem socket",
  () => bunClientTestpmdServer(uniqueSocketPath("bc-fs")),
  60_000,
);
test(
  "Bun client <-> testpmd server (io), abstract socket",
  () => bunClientTestpmdServer(uniqueAbstract("bc-abs")),
  60_000,
);
test(
  "Bun server <-> testpmd client (io), filesystem socket",
  () => bunServerTestpmdClient(uniqueSocketPath("bs-fs")),
  60_000,
);
test(
  "Bun server <-> testpmd client (io), abstract socket",
  () => bunServerTestpmdClient(uniqueAbstract("bs-abs")),
  60_000,
);
test(
  "chained packets (up to 9000 bytes) through testpmd and back",
  () => bunClientTestpmdServer(uniqueAbstract("bc-jumbo"), [2049, 4000, 9000]),
  60_000,
);
