/** Interrupt mode: an idle receiver costs ~0 % CPU and wakes when traffic arrives. */
import { afterEach, expect, test } from "bun:test";
import { MemifSocket } from "../ts/index.ts";
import { abstractName, Peer } from "./helpers/peers.ts";

let peer: Peer | null = null;
afterEach(async () => {
  if (peer !== null) await peer.stop();
  peer = null;
});

test("idle rx uses little CPU and wakes on traffic", async () => {
  const path = abstractName();
  using socket = new MemifSocket(path);
  using port = socket.port({ role: "server" });
  const connected = port.connect({ timeoutMs: 5000 });
  peer = new Peer(["--socket", path, "--role", "client", "--behaviour", "send",
    "--start-delay-ms", "1500", "--count", "5", "--interval-ms", "100", "--size", "100"]);
  await connected;
  using rx = port.rxQueue(0);

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let firstAt = 0;
  let idleCpuMs = 0;
  const arrivals: number[] = [];
  for await (const packet of rx) {
    const now = performance.now();
    if (arrivals.length === 0) {
      firstAt = now - t0;
      const c = process.cpuUsage(cpu0);
      idleCpuMs = (c.user + c.system) / 1000;
    }
    expect(packet.length).toBe(100);
    arrivals.push(now);
    if (arrivals.length === 5) break;
  }
  // ~1.5 s of waiting: the whole process (JS thread + the core's control thread) stays under 5 %.
  expect(firstAt).toBeGreaterThan(1000);
  expect(idleCpuMs / firstAt).toBeLessThan(0.05);
  // the sender's 100 ms spacing is seen: each packet woke us promptly
  for (let i = 1; i < 5; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeLessThan(300);
}, 15_000);
