// The steps of tests/worker_end.test.ts's child process, written once for both runtimes: Bun
// (tests/helpers/worker_end.ts on ts/index.ts, with tests/helpers/worker_end_worker.ts as its
// Worker) and Node.js (tests/helpers/node_worker_end.mjs on dist/node.js, worker_threads). Each
// passes in what differs: its zmemif classes, how it starts a Worker, and how it reads
// command_peer's lines (tests/helpers/bun_steps.ts, tests/helpers/node_steps.mjs). Plain
// JavaScript so that Node runs it as it is; worker_end_steps.d.mts types it for the Bun side.
// What is the same as tests/helpers/worker_exit_steps.mjs comes from there.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { commands, connectPort, endWorker, within } from "./worker_exit_steps.mjs";

const DEADLINE_MS = 5000;
const REASON = "the thread that owned this interface ended";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The Worker's side of one message; `opened` is what it opened or adopted so far (it closes them
 * only when told {close: true}). {end: "throw"} / {end: "exit"}: endWorker(), returns undefined.
 *   {kind: "port", path, id}   its own socket and client port; rx queue 0 armed, tx queue 0 with
 *                              a buffer allocated and written; returns {ready: true}
 *   {kind: "queue", rx, tx}    adopts the shared rx and tx queues; the same waits and views
 *   {kind: "give", path, id}   its own socket and client port, whose rx and tx queue 0 it shares
 *                              with the parent: returns {ready, rx, tx} (the tokens) at once
 *   {close: true}              closes all it has, returns {closed: true}
 * or {error}.
 */
export async function handle(job, { Batch, MemifSocket, RxQueue, TxQueue }, opened) {
  if ("end" in job) {
    endWorker(job.end);
    return undefined;
  }
  try {
    if ("close" in job) {
      for (const o of opened.reverse()) o.close();
      return { closed: true };
    }
    if (job.kind === "give") {
      const { socket, port } = await connectPort(MemifSocket, job.path, job.id, { reconnectMs: 5 });
      opened.push(socket);
      return { ready: true, rx: port.shareQueue("rx", 0), tx: port.shareQueue("tx", 0) };
    }
    let rx;
    let tx;
    if (job.kind === "queue") {
      rx = RxQueue.adopt(job.rx);
      tx = TxQueue.adopt(job.tx);
    } else {
      const { socket, port } = await connectPort(MemifSocket, job.path, job.id, { reconnectMs: 5 });
      opened.push(socket);
      rx = port.rxQueue(0);
      tx = port.txQueue(0);
    }
    opened.push(rx, tx);
    // A buffer of the shared memory, viewed and written from this Worker (and never sent).
    const batch = new Batch(1);
    if (tx.alloc(batch, 1) !== 1) throw new Error("tx.alloc: no buffer (not connected?)");
    batch.write(0, new Uint8Array(64).fill(0xab));
    // The first next() arms the queue before it returns (there is nothing to read yet).
    void rx[Symbol.asyncIterator]().next();
    return { ready: true };
  } catch (e) {
    return { error: String(e?.stack ?? e) };
  }
}

/** What this process holds: its fds (by target) and its memfd mappings. */
function holdings() {
  const fds = [];
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
function diff(before, after) {
  const count = (xs) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map());
  const b = count(before);
  const c = count(after);
  const out = [];
  for (const k of new Set([...b.keys(), ...c.keys()])) {
    const d = (c.get(k) ?? 0) - (b.get(k) ?? 0);
    if (d !== 0) out.push(`${d > 0 ? "+" : ""}${d} ${k}`);
  }
  return out;
}

/** Waits until this process holds what it held at `base`; throws with the difference. */
async function released(base, what) {
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
    await sleep(20);
  }
}

/**
 * The main thread's side (tests/helpers/worker_end.ts says what each case checks): a warm-up
 * Worker that closes everything itself, the baseline of fds and memfd maps, then `iterations`
 * Workers of `kind` (port, queue, give) ended by `end` (terminate, throw, exit) without closing
 * anything, each checked as its case says and then for what this process still holds.
 */
export async function run({ zmemif, peer, path, kind, end, iterations, startWorker }) {
  const { Batch, MemifError, MemifSocket, RxQueue, TxQueue } = zmemif;
  const { tell } = commands(peer);

  /** The peer's next `disconnected ID REASON` line from `from` on: its reason. */
  const peerSawDisconnect = async (id, from) => {
    const prefix = `disconnected ${id} `;
    const line = await peer.waitLine(from, (l) => l.startsWith(prefix), `'${prefix}…'`, DEADLINE_MS);
    return line.slice(prefix.length);
  };
  /** This thread's port of interface `id` (queue case), connected, with its rx and tx queue 0 shared. */
  const sharedPort = async (id) => {
    const { socket, port } = await connectPort(MemifSocket, path, id, { reconnectMs: 5 });
    return { socket, port, job: { kind: "queue", rx: port.shareQueue("rx", 0), tx: port.shareQueue("tx", 0) } };
  };
  /** The Worker's next message, within 10 s. */
  const message = (w) => within(w.next(), 10_000, "the Worker did not answer within 10 s");
  /** Starts a Worker on interface `id` and waits until it says it waits on the connection. */
  const start = async (id, job) => {
    const w = startWorker();
    const ready = message(w);
    w.post(job);
    const said = await ready;
    if (said.ready !== true) throw new Error(`interface ${id}: the Worker says ${JSON.stringify(said)}`);
    return { w, said };
  };
  /** `give`: this thread adopts the Worker's queues and keeps a view of a tx buffer, written. */
  const takeQueues = (said) => {
    const rx = RxQueue.adopt(said.rx);
    const tx = TxQueue.adopt(said.tx);
    const batch = new Batch(1);
    if (tx.alloc(batch, 1) !== 1) throw new Error("tx.alloc on the Worker's queue: no buffer");
    const view = batch.view(batch.region(0));
    const at = batch.offset(0);
    view.fill(0x5a, at, at + 64);
    void rx[Symbol.asyncIterator]().next(); // armed, on this thread's hook
    return { rx, tx, batch, view, at };
  };
  /** The Worker's job for interface `id` (`port` and `give` open their own port there). */
  const jobFor = (id, shared) => shared?.job ?? { kind: kind === "give" ? "give" : "port", path, id };

  // Warm-up: a Worker that does the same and closes everything itself, so that what the runtime
  // keeps after a first Worker (and this thread after its first port) is in the baseline.
  {
    const id = 1000;
    await tell(`listen ${id}`, `listening ${id}`);
    const shared = kind === "queue" ? await sharedPort(id) : null;
    const { w, said: given } = await start(id, jobFor(id, shared));
    const taken = kind === "give" ? takeQueues(given) : null;
    const answer = message(w);
    w.post({ close: true });
    const said = await answer;
    if (said.closed !== true) throw new Error(`warm-up: the Worker says ${JSON.stringify(said)}`);
    w.terminate();
    await w.ended;
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
    const { w, said } = await start(id, jobFor(id, shared));
    const taken = kind === "give" ? takeQueues(said) : null;
    await peer.waitLine(from, (l) => l === `connected ${id}`, `'connected ${id}'`, DEADLINE_MS);
    if (diff(base.maps, holdings().maps).length === 0) {
      throw new Error(`interface ${id}: no memfd mapping while connected: this check would see no leak`);
    }
    const endedAt = peer.lines.length;
    if (end === "terminate") w.terminate();
    else w.post({ end });
    if (shared === null) {
      const reason = await peerSawDisconnect(id, endedAt);
      if (reason !== REASON) throw new Error(`interface ${id}: the peer was told '${reason}', not '${REASON}'`);
      await w.ended;
      if (taken !== null) {
        // This thread's view of the Worker's connection: still mapped, through this thread's queue.
        const { view, at } = taken;
        for (let k = 0; k < 64; k++) view[at + k] = k;
        for (let k = 0; k < 64; k++) {
          if (view[at + k] !== k) throw new Error(`interface ${id}: the view reads ${view[at + k]} at ${k}, not ${k}`);
        }
        let threw = null;
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
      await w.ended;
      // The Worker's queues were closed: both ids can be shared again, and used here.
      const deadline = Date.now() + DEADLINE_MS;
      let tokens;
      for (;;) {
        try {
          tokens = { rx: shared.port.shareQueue("rx", 0), tx: shared.port.shareQueue("tx", 0) };
          break;
        } catch (e) {
          if (Date.now() > deadline) {
            throw new Error(`interface ${id}: the Worker's queues are still open after ${DEADLINE_MS} ms: ${e}`);
          }
          await sleep(20);
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
      if (reason !== "Interface closed") {
        throw new Error(`interface ${id}: the peer was told '${reason}', not 'Interface closed'`);
      }
    }
    await released(base, `iteration ${i} (interface ${id})`);
    await tell(`drop ${id}`, `dropped ${id}`);
  }
}
