/** The testpmd launcher itself, DPDK against DPDK. Needs dpdk-testpmd (missing = failure). */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { parseStats, ratesBetween, Testpmd, uniqueAbstract, uniqueSocketPath } from "../support/testpmd.ts";

test("testpmd txonly client -> rxonly server over memif", async () => {
  const socket = uniqueSocketPath("bun");
  await using srv = await Testpmd.start({ role: "server", socket, mode: "rxonly", cpu: 0 });
  await expect(Testpmd.start({ role: "server", socket })).rejects.toThrow(/live listener/);
  await using cli = await Testpmd.start({ role: "client", socket, mode: "txonly", txPktLen: 64, cpu: 1 });
  await cli.linkUp(5000);
  await srv.linkUp(5000);
  const a = await srv.nextStats(5000);
  const b = await srv.nextStats(5000);
  expect(b.ports[0]?.rxPackets ?? 0).toBeGreaterThan(a.ports[0]?.rxPackets ?? 0);
  expect(ratesBetween(a, b).rxPps).toBeGreaterThan(1000);
  const c = await cli.waitForStats((s) => (s.ports[0]?.txPackets ?? 0) > 0, 5000);
  expect(c.ports[0]?.rxPackets).toBe(0);
  // Clients first: a transmitting 22.11 client may crash when its server goes. Exit codes are
  // not checked: 22.11 testpmd sometimes segfaults (139) on SIGTERM after a memif session.
  await cli.kill();
  await srv.kill();
  if ("path" in socket) expect(existsSync(socket.path)).toBe(false);
}, 20_000);

test("a bad vdev argument is an error with the driver's reason", async () => {
  const start = Testpmd.start({ role: "server", socket: uniqueAbstract("bad"), rsize: 20 });
  await expect(start).rejects.toThrow(/failed to initialize[\s\S]*Invalid ring size/);
}, 15_000);

test("stats parser reads the 22.11 format", () => {
  const text = `\x1b[2J\x1b[1;1H
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 42650976   RX-missed: 0          RX-bytes:  2729662976
  RX-errors: 0
  RX-nombuf:  0         
  TX-packets: 5          TX-errors: 1          TX-bytes:  320

  Throughput (since last show)
  Rx-pps:     20609711          Rx-bps:  10552174320
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
`;
  const prints = parseStats(text);
  expect(prints.length).toBe(1);
  expect(prints[0]?.[0]).toMatchObject({
    rxPackets: 42650976,
    rxBytes: 2729662976,
    txPackets: 5,
    txErrors: 1,
    txBytes: 320,
    rxPps: 20609711,
  });
});
