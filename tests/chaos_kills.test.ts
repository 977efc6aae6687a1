/**
 * Chaos, issue 9: Bun programs outlive peers SIGKILLed in the middle of a burst.
 *
 * - The echo server of examples/simple_echo.ts, through the burst API and (separately) through
 *   send(), against 100 clients each SIGKILLed 10-90 ms into its traffic: even clients are
 *   tests/helpers/chaos_client.ts (Bun; 64- and 9000-byte frames alternately, 64 in flight),
 *   odd ones zmemif-peer (Rust; --action both at full rate, 64 or 9000 bytes by turns). Then an
 *   honest client gets 4000 checked echoes.
 * - tests/helpers/chaos_client.ts (Bun) against its server SIGKILLed 20 times mid-burst and
 *   started again (zmemif-peer echo and simple_echo by turns): it reconnects each time, and every
 *   echo it gets is whole, unchanged and in order.
 * The figures are printed (kills, bursts cut short, echoes) for the note.
 */
import { afterEach, expect, test } from "bun:test";
import { alive, between, chaosClient, chaosSocket, example, kill9, rustPeer, waitCount } from "./helpers/chaos.ts";
import type { Proc } from "../support/proc.ts";

const started: Proc[] = [];
function track(p: Proc): Proc {
  started.push(p);
  return p;
}
afterEach(async () => {
  for (const p of started.splice(0)) await kill9(p);
});

interface Summary {
  echoed: number;
  sent: number;
  lost: number;
  unsent: number;
  bad: number;
  firstBad: string;
  connects: number;
}

const KILLS = Number(process.env.CHAOS_KILLS ?? 100);
const SERVER_KILLS = Number(process.env.CHAOS_SERVER_KILLS ?? 20);

for (const api of ["burst", "send"] as const) {
  test(
    `simple_echo --role server --api ${api} outlives ${KILLS} clients SIGKILLed mid-burst, then serves an honest client`,
    async () => {
      const sock = chaosSocket(`server-${api}`);
      const server = track(example("simple_echo", ["--role", "server", "--socket", sock, "--api", api]));
      await server.waitFor(/^waiting for a memif client/);
      for (let k = 0; k < KILLS; k++) {
        let client: Proc;
        if (k % 2 === 0) {
          client = track(chaosClient(sock, ["--flowing", "10"]));
          await client.waitFor(/^flowing 1$/, 15_000);
        } else {
          const size = k % 4 === 1 ? "9000" : "64";
          client = track(
            rustPeer([
              "--socket",
              sock,
              "--action",
              "both",
              "--size",
              size,
              "--interval-ms",
              "0",
              "--connect-timeout",
              "15",
            ]),
          );
          await client.waitFor(/"event":"connected"/, 15_000);
        }
        await Bun.sleep(between(10, 90));
        await kill9(client);
        started.splice(started.indexOf(client), 1);
        expect(alive(server.proc.pid), `after kill ${k + 1}: ${server.stderr}`).toBe(true);
        await waitCount(server, /^disconnected: /, k + 1); // it saw this client go before the next comes
      }
      const honest = track(chaosClient(sock, ["--count", "4000"]));
      expect(await honest.finished, honest.stderr).toBe(0);
      const r = honest.json<Summary>().at(-1)!;
      expect(r).toMatchObject({ echoed: 4000, lost: 0, bad: 0, unsent: 0, connects: 1 });
      expect(alive(server.proc.pid), server.stderr).toBe(true);
      await server.stop();
      const last = server.lines.at(-1) ?? "";
      const m = /^echoed (\d+) packets(?:; (\d+) burst\(s\) cut short)?/.exec(last);
      expect(m, server.lines.slice(-5).join("\n")).not.toBeNull();
      console.log(
        `chaos server --api ${api}: survived ${KILLS} SIGKILLed clients; echoed ${m![1]} packets, ` +
          `${m![2] ?? 0} burst(s) cut short by a kill; honest client: ${r.echoed} checked echoes, ${r.lost} lost`,
      );
    },
    60_000 + KILLS * 1000,
  );
}

test(
  `a Bun client (chaos_client) outlives its server SIGKILLed mid-burst ${SERVER_KILLS} times, reconnecting each time`,
  async () => {
    const sock = chaosSocket("client");
    const servers = [
      () =>
        rustPeer([
          "--socket",
          sock,
          "--role",
          "server",
          "--action",
          "echo",
          "--interval-ms",
          "0",
          "--connect-timeout",
          "30",
        ]),
      () => example("simple_echo", ["--role", "server", "--socket", sock]),
    ];
    let server = track(servers[0]!());
    const client = track(chaosClient(sock, ["--flowing", "200"]));
    for (let k = 1; k <= SERVER_KILLS; k++) {
      await client.waitFor(new RegExp(`^flowing ${k}$`), 20_000);
      await Bun.sleep(between(10, 90));
      await kill9(server);
      started.splice(started.indexOf(server), 1);
      await waitCount(client, /^disconnected /, k);
      expect(alive(client.proc.pid), client.stderr).toBe(true);
      server = track(servers[k % 2]!());
    }
    await client.waitFor(new RegExp(`^flowing ${SERVER_KILLS + 1}$`), 20_000);
    expect(await client.stop()).toBe(0);
    const r = client.json<Summary>().at(-1)!;
    expect(r.connects).toBe(SERVER_KILLS + 1);
    expect(r.bad, r.firstBad).toBe(0);
    expect(r.echoed).toBeGreaterThan((SERVER_KILLS + 1) * 200);
    console.log(
      `chaos client: survived ${SERVER_KILLS} SIGKILLed servers, ${r.connects} connections; ` +
        `${r.echoed} echoes checked (0 wrong), ${r.lost} lost in flight at the kills, ` +
        `${r.unsent} sends refused by a dying connection`,
    );
  },
  60_000 + SERVER_KILLS * 3000,
);
