/** A refused handshake surfaces as a MemifError carrying the peer's reason. */
import { afterEach, expect, test } from "bun:test";
import { MemifError, MemifSocket } from "../ts/index.ts";
import { abstractName, Peer } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

test("secret mismatch: connect() rejects with PEER_REJECTED and the peer's reason", async () => {
  const path = abstractName();
  peer = new Peer(["--socket", path, "--role", "server", "--secret", "right-secret", "--behaviour", "idle"]);
  await peer.waitFor(/^listening/);
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "client", secret: "wrong-secret", reconnectMs: 100 });
  let err: unknown;
  try {
    await port.connect({ timeoutMs: 5000 });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MemifError);
  const e = err as MemifError;
  expect(e.code).toBe("PEER_REJECTED");
  expect(e.reason ?? "").not.toBe("");
  expect(e.message).toContain(e.reason!);
  expect(e.reason!.toLowerCase()).toContain("secret");
  expect(port.info().rejects).toBeGreaterThan(0);

  // the same client with the right secret connects
  port.close();
  using good = socket.port({ role: "client", secret: "right-secret", reconnectMs: 100 });
  const ev = await good.connect({ timeoutMs: 5000 });
  expect(ev.peerName).toBe("bun-peer");
}, 15_000);
