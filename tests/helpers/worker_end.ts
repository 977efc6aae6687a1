/**
 * A Bun process whose Workers end without closing what they opened, run by
 * tests/worker_end.test.ts as a child process (a crash is its exit status, not the test runner's):
 *
 *   bun tests/helpers/worker_end.ts --case port|queue|give --end terminate|throw|exit --iterations N
 *
 * The peer is tests/helpers/command_peer.ts, another process, which prints each connection of
 * the interfaces it serves as it comes and goes. Each iteration starts a Worker
 * (tests/helpers/worker_end_worker.ts) that attaches to a connection and waits on it:
 *  - port:  on a socket and client port of its own. After the Worker ends (terminate(), an
 *           uncaught error, process.exit()) the peer must see that connection end, told
 *           "the thread that owned this interface ended", within DEADLINE_MS;
 *  - queue: on an rx and a tx queue of this thread's port, which it adopted. After the Worker
 *           ends, this thread must be able to share both queue ids again (the Worker's queues
 *           were closed), and to close its port, which the peer must see within DEADLINE_MS;
 *  - give:  the Worker opens a port of its own and hands its rx and tx queue to this thread,
 *           which adopts them, allocates a tx buffer and keeps a view of it. After the Worker
 *           ends the peer must see its port disconnect (as for `port`), while this thread's view
 *           still reads what it writes (the memory stays mapped for this thread's queue: an
 *           unmapped view would crash the process); the next txBurst says NOT_CONNECTED and
 *           revokes the view, and this thread closes the queues.
 * Then this process's open fds (/proc/self/fd) and shared-memory mappings (/memfd: lines of
 * /proc/self/maps) must be back to what they were before the iteration, within DEADLINE_MS.
 * The baseline is taken after a warm-up Worker that did the same and closed everything itself.
 * Prints "ok N" last.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { parseArgs } from "node:util";
import { Proc } from "../../support/proc.ts";
import { Batch, MemifError, MemifSocket, type QueueToken, RxQueue, TxQueue } from "../../ts/index.ts";
import { abstractName } from "./peers.ts";

const DEADLINE_MS = 5000;
const REASON = "the thread that owned this interface ended";

const { values: a } = parseArgs({
  options: {
    case: { type: "string", default: "port" },
    end: { type: "string", default: "terminate" },
    iterations: { type: "string", default: "5" },
  },
});
const kind = a.case === "queue" || a.case === "give" ? a.case : "port";
const end = a.end ?? "terminate";
if (!["terminate", "throw", "exit"].includes(end)) throw new Error(`--end ${end}: terminate, throw or exit`);
const iterations = Number(a.iterations);

const WORKER = new URL("./worker_end_worker.ts", import.meta.url).href;
const path = abstractName();
const peer = new Proc([process.execPath, new URL("./command_peer.ts", import.meta.url).pathname, "--socket", path], {
  stdin: "pipe",
  name: "command_peer",
});
await peer.waitFor(/^ready$/);

/** Sends `command` to the peer and waits for its answer line, or its error. */
async function tell(command: string, answer: string): Promise<void> {
  const from = peer.lines.length;
  peer.write(`${command}\n`);
  const said = (line: string) => (line === answer || line.startsWith("error ") ? line : undefined);
  const { value } = await peer.waitLine(from, said, 10_000, `'${answer}'`);
  if (value !== answer) throw new Error(`command_peer: ${command}: ${value}`);
}

/** The peer's next `disconnected ID REASON` line from `from` on: its reason. */
async function peerSawDisconnect(id: number, from: number): Promise<string> {
  const prefix = `disconnected ${id} `;
  const got = (l: string) => (l.startsWith(prefix) ? l.slice(prefix.length) : undefined);
  return (await peer.waitLine(from, got, DEADLINE_MS, `'${prefix}…' within ${DEADLINE_MS} ms`)).value;
}

/** What this process holds: its fds (by target) and its memfd mappings. */
function holdings(): { fds: string[]; maps: string[] } {
  const fds: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      fds.push(readlinkSync(`/proc/self/fd/${fd}`).replace(/\[\d+\]$/, "[]"));
    } catch {
      // the fd readdir itself used, closed meanwhile
    }
  }
  const maps = readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("/memfd:"))
    .map((l) => l.slice(l.indexOf("/memfd:")));
  return { fds: fds.sort(), maps: maps.sort() };
}

/** Differences between two holdings, as "+x" / "-x" per fd target or mapping. */
function diff(before: string[], after: string[]): string[] {
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const b = count(before);
  const c = count(after);
  const out: string[] = [];
  for (const k of new Set([...b.keys(), ...c.keys()])) {
    const d = (c.get(k) ?? 0) - (b.get(k) ?? 0);
    if (d !== 0) out.push(`${d > 0 ? "+" : ""}${d} ${k}`);
  }
  return out;
}

/** Waits until this process holds what it held at `base`; throws with the difference. */
async function released(base: { fds: string[]; maps: string[] }, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const now = holdings();
    const d = [...diff(base.fds, now.fds), ...diff(base.maps, now.maps).map((x) => `map ${x}`)];
    if (d.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not released within ${DEADLINE_MS} ms (fds / memfd maps against before): ${d.join(", ")}`,
      );
    }
    await Bun.sleep(20);
  }
}

/** The Worker's next message, within 10 s. */
function message(w: Worker): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the Worker did not answer within 10 s")), 10_000);
    w.onmessage = (m) => {
      clearTimeout(timer);
      resolve(m.data);
    };
  });
}

/** This thread's port of interface `id` (queue case), connected, with its rx and tx queue 0 shared. */
async function sharedPort(id: number) {
  const socket = new MemifSocket(path);
  const port = socket.port({ role: "client", id, secret: "worker-exit", reconnectMs: 5 });
  await port.connect({ timeoutMs: 5000 });
  return { socket, port, job: { kind: "queue", rx: port.shareQueue("rx", 0), tx: port.shareQueue("tx", 0) } };
}

/** Starts a Worker on interface `id` and waits until it says it waits on the connection. */
async function startWorker(
  id: number,
  job: Record<string, unknown>,
): Promise<{ w: Worker; closed: Promise<void>; said: Record<string, unknown> }> {
  const w = new Worker(WORKER);
  w.onerror = (e) => e.preventDefault(); // the "throw" end: expected
  const closed = new Promise<void>((r) => w.addEventListener("close", () => r()));
  const ready = message(w);
  w.postMessage(job);
  const said = await ready;
  if (said.ready !== true) throw new Error(`interface ${id}: the Worker says ${JSON.stringify(said)}`);
  return { w, closed, said };
}

/** `give`: this thread adopts the Worker's queues and keeps a view of a tx buffer, written. */
function takeQueues(said: Record<string, unknown>) {
  const rx = RxQueue.adopt(said.rx as QueueToken<"rx">);
  const tx = TxQueue.adopt(said.tx as QueueToken<"tx">);
  const batch = new Batch(1);
  if (tx.alloc(batch, 1) !== 1) throw new Error("tx.alloc on the Worker's queue: no buffer");
  const view = batch.view(batch.region(0));
  const at = batch.offset(0);
  view.fill(0x5a, at, at + 64);
  void rx[Symbol.asyncIterator]().next(); // armed, on this thread's hook
  return { rx, tx, batch, view, at };
}

/** The Worker's job for interface `id` (`port` and `give` open their own port there). */
function jobFor(id: number, shared: Awaited<ReturnType<typeof sharedPort>> | null): Record<string, unknown> {
  return shared?.job ?? { kind: kind === "give" ? "give" : "port", path, id };
}

// Warm-up: a Worker that does the same and closes everything itself, so that what Bun keeps
// after a first Worker (and this thread after its first port) is in the baseline.
{
  const id = 1000;
  await tell(`listen ${id}`, `listening ${id}`);
  const shared = kind === "queue" ? await sharedPort(id) : null;
  const { w, closed, said: given } = await startWorker(id, jobFor(id, shared));
  const taken = kind === "give" ? takeQueues(given) : null;
  const answer = message(w);
  w.postMessage({ close: true });
  const said = await answer;
  if (said.closed !== true) throw new Error(`warm-up: the Worker says ${JSON.stringify(said)}`);
  w.terminate();
  await closed;
  shared?.socket.close();
  taken?.rx.close();
  taken?.tx.close();
  await tell(`drop ${id}`, `dropped ${id}`);
}
const base = holdings();

for (let i = 0; i < iterations; i++) {
  const id = i + 1;
  await tell(`listen ${id}`, `listening ${id}`);
  const from = peer.lines.length;
  const shared = kind === "queue" ? await sharedPort(id) : null;
  const { w, closed, said } = await startWorker(id, jobFor(id, shared));
  const taken = kind === "give" ? takeQueues(said) : null;
  await peer.waitLine(from, (l) => (l === `connected ${id}` ? l : undefined), DEADLINE_MS, `'connected ${id}'`);
  if (diff(base.maps, holdings().maps).length === 0) {
    throw new Error(`interface ${id}: no memfd mapping while connected: this check would see no leak`);
  }
  const endedAt = peer.lines.length;
  if (end === "terminate") w.terminate();
  else w.postMessage({ end });
  if (shared === null) {
    const reason = await peerSawDisconnect(id, endedAt);
    if (reason !== REASON) throw new Error(`interface ${id}: the peer was told '${reason}', not '${REASON}'`);
    await closed;
    if (taken !== null) {
      // This thread's view of the Worker's connection: still mapped, through this thread's queue.
      const { view, at } = taken;
      for (let k = 0; k < 64; k++) view[at + k] = k;
      for (let k = 0; k < 64; k++) {
        if (view[at + k] !== k) throw new Error(`interface ${id}: the view reads ${view[at + k]} at ${k}, not ${k}`);
      }
      let threw: unknown = null;
      try {
        taken.tx.txBurst(taken.batch);
      } catch (e) {
        threw = e;
      }
      if (!(threw instanceof MemifError && threw.code === "NOT_CONNECTED")) {
        throw new Error(
          `interface ${id}: txBurst after the Worker's port closed: ${threw ?? "sent"}, not NOT_CONNECTED`,
        );
      }
      if (view.byteLength !== 0)
        throw new Error(`interface ${id}: the view was not revoked (${view.byteLength} bytes)`);
      taken.rx.close();
      taken.tx.close();
    }
  } else {
    await closed;
    // The Worker's queues were closed: both ids can be shared again, and used here.
    const deadline = Date.now() + DEADLINE_MS;
    let tokens: {
      rx: ReturnType<typeof shared.port.shareQueue<"rx">>;
      tx: ReturnType<typeof shared.port.shareQueue<"tx">>;
    };
    for (;;) {
      try {
        tokens = { rx: shared.port.shareQueue("rx", 0), tx: shared.port.shareQueue("tx", 0) };
        break;
      } catch (e) {
        if (Date.now() > deadline)
          throw new Error(`interface ${id}: the Worker's queues are still open after ${DEADLINE_MS} ms: ${e}`);
        await Bun.sleep(20);
      }
    }
    const rx = RxQueue.adopt(tokens.rx);
    const tx = TxQueue.adopt(tokens.tx);
    if (!rx.connected || !tx.connected) throw new Error(`interface ${id}: the queues shared again do not attach`);
    rx.close();
    tx.close();
    const closedAt = peer.lines.length;
    shared.socket.close();
    const reason = await peerSawDisconnect(id, closedAt);
    if (reason !== "Interface closed")
      throw new Error(`interface ${id}: the peer was told '${reason}', not 'Interface closed'`);
  }
  await released(base, `iteration ${i} (interface ${id})`);
  await tell(`drop ${id}`, `dropped ${id}`);
}

peer.write("");
console.log(`ok ${iterations}`);
process.exit(0);
