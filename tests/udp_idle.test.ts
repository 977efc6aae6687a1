/**
 * An idle UDP service costs (almost) nothing and still answers at once: the echo service
 * (examples/udp_echo.ts, the default rx mode, as memif server) in another process, a zmemif UDP
 * client here. After one exchange both are left idle for 5 s: the service's CPU time over those
 * seconds (every thread: the JS thread and the core's control thread, from
 * /proc/PID/task/N/schedstat) must stay under 1% of one core. Then its first datagram is answered.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { udpSocket } from "../ts/index.ts";
import { cpuNs } from "../support/cpu.ts";
import { Proc } from "./helpers/netns.ts";
import { abstractName } from "./helpers/peers.ts";
import { CLIENT4, CLIENT_MAC, HOST4, HOST_MAC } from "./helpers/udp_raw.ts";

const ECHO = join(import.meta.dir, "..", "examples", "udp_echo.ts");
const IDLE_MS = 5000;
const running: Proc[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

test("a UDP service left idle for 5 s uses under 1% of a core, then answers its first datagram", async () => {
  const path = abstractName();
  const echo = new Proc([process.execPath, ECHO, "--role", "server", "--host", HOST4, "--ports", "5000", path, "0"]);
  running.push(echo);
  let wake: ((t: number) => void) | null = null;
  const s = await udpSocket({
    hostname: CLIENT4,
    port: 40000,
    memif: { socket: path, connectTimeoutMs: 10_000, mac: CLIENT_MAC, nextHopMac: HOST_MAC },
    socket: {
      data(_s, data) {
        if (data.byteLength === 5) wake?.(performance.now());
      },
    },
  });
  const roundTrip = async (): Promise<number> => {
    const back = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no echo within 2 s")), 2000);
      wake = (t) => {
        clearTimeout(timer);
        resolve(t);
      };
    });
    const t0 = performance.now();
    expect(s.send("hello", 5000, HOST4)).toBe(true);
    return (await back) - t0;
  };
  try {
    await echo.waitFor(/^listening/);
    await roundTrip(); // both ends up, the service has seen traffic

    const pid = echo.proc.pid;
    const c0 = cpuNs(pid);
    const t0 = performance.now();
    await Bun.sleep(IDLE_MS);
    const cpu = (cpuNs(pid) - c0) / 1e6 / (performance.now() - t0);
    console.log(`idle service: ${(cpu * 100).toFixed(3)}% of a core over ${IDLE_MS / 1000} s`);
    expect(cpu).toBeLessThan(0.01);

    const ms = await roundTrip();
    console.log(`first datagram after the idle time answered in ${(ms * 1000).toFixed(0)} µs`);
  } finally {
    s.close();
  }
}, 20_000);
