// tests/worker_end.test.ts's case for Node.js (the N-API backend, dist/node.js), run by `node`:
//   node tests/helpers/node_worker_end.mjs BUN port|queue|give terminate|throw|exit ITERATIONS
// As tests/helpers/worker_end.ts: each iteration a node:worker_threads Worker attaches to a
// connection (a port of its own, or an rx and a tx queue it adopted from this thread's port), or
// (give) opens a port and hands its queues to this thread, which keeps a view of a tx buffer; it
// ends without closing anything. Then the peer (tests/helpers/command_peer.ts, started with BUN)
// must see the Worker's own port disconnect, told "the thread that owned this interface ended"
// (give: while this thread's view still reads what it writes, until a txBurst says NOT_CONNECTED
// and revokes it); or this thread must be able to share both queue ids again and close its port,
// which the peer must see; and this process's fds and memfd mappings must be back to what they
// were (after a warm-up Worker that closed everything itself), each within DEADLINE_MS.
// Prints "ok N" last. This file is also the Worker (it runs itself).
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { Batch, MemifError, MemifSocket, RxQueue, TxQueue } from "../../dist/node.js";

const SECRET = "worker-exit";
const DEADLINE_MS = 5000;
const REASON = "the thread that owned this interface ended";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!isMainThread) {
  const opened = [];
  parentPort.on("message", async (job) => {
    try {
      if (job.end === "throw") {
        setTimeout(() => {
          throw new Error("the Worker's script fails (on purpose)");
        }, 0);
        return;
      }
      if (job.end === "exit") process.exit(7);
      if (job.close) {
        for (const o of opened.reverse()) o.close();
        parentPort.postMessage({ closed: true });
        return;
      }
      if (job.kind === "give") {
        const socket = new MemifSocket(job.path);
        opened.push(socket);
        const port = socket.port({ role: "client", id: job.id, secret: SECRET, reconnectMs: 5 });
        await port.connect({ timeoutMs: 5000 });
        parentPort.postMessage({ ready: true, rx: port.shareQueue("rx", 0), tx: port.shareQueue("tx", 0) });
        return;
      }
      let rx;
      let tx;
      if (job.kind === "queue") {
        rx = RxQueue.adopt(job.rx);
        tx = TxQueue.adopt(job.tx);
      } else {
        const socket = new MemifSocket(job.path);
        opened.push(socket);
        const port = socket.port({ role: "client", id: job.id, secret: SECRET, reconnectMs: 5 });
        await port.connect({ timeoutMs: 5000 });
        rx = port.rxQueue(0);
        tx = port.txQueue(0);
      }
      opened.push(rx, tx);
      const batch = new Batch(1);
      if (tx.alloc(batch, 1) !== 1) throw new Error("tx.alloc: no buffer (not connected?)");
      batch.write(0, new Uint8Array(64).fill(0xab));
      void rx[Symbol.asyncIterator]().next(); // armed before it returns
      parentPort.postMessage({ ready: true });
    } catch (e) {
      parentPort.postMessage({ error: String(e?.stack ?? e) });
    }
  });
} else {
  const [bun, kind, end, iterArg] = process.argv.slice(2);
  const iterations = Number(iterArg);
  const path = `@zmemif-worker-end-node-${process.pid}`;
  const peer = spawn(bun, [fileURLToPath(new URL("./command_peer.ts", import.meta.url)), "--socket", path], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = [];
  let wake = () => {};
  let buf = "";
  peer.stdout.on("data", (d) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop();
    lines.push(...parts);
    wake();
  });
  /** The value `match` gives for the first peer line from index `from`, within `ms`. */
  const line = async (from, match, what, ms = 10_000) => {
    const deadline = Date.now() + ms;
    for (let i = from; ; ) {
      for (; i < lines.length; i++) {
        const v = match(lines[i]);
        if (v !== undefined) return v;
      }
      if (Date.now() > deadline) throw new Error(`command_peer: no ${what} within ${ms} ms: ${lines.slice(-5)}`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  const tell = async (command, answer) => {
    const from = lines.length;
    peer.stdin.write(`${command}\n`);
    const got = await line(from, (l) => (l === answer || l.startsWith("error ") ? l : undefined), answer);
    if (got !== answer) throw new Error(`command_peer: ${command}: ${got}`);
  };
  const peerSawDisconnect = (id, from) => {
    const prefix = `disconnected ${id} `;
    return line(from, (l) => (l.startsWith(prefix) ? l.slice(prefix.length) : undefined), `'${prefix}…'`, DEADLINE_MS);
  };
  const holdings = () => {
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
  };
  const diff = (before, after) => {
    const count = (xs) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map());
    const b = count(before);
    const c = count(after);
    const out = [];
    for (const k of new Set([...b.keys(), ...c.keys()])) {
      const d = (c.get(k) ?? 0) - (b.get(k) ?? 0);
      if (d !== 0) out.push(`${d > 0 ? "+" : ""}${d} ${k}`);
    }
    return out;
  };
  const released = async (base, what) => {
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
  };
  const message = (w) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the Worker did not answer within 10 s")), 10_000);
      w.once("message", (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  const sharedPort = async (id) => {
    const socket = new MemifSocket(path);
    const port = socket.port({ role: "client", id, secret: SECRET, reconnectMs: 5 });
    await port.connect({ timeoutMs: 5000 });
    return { socket, port, job: { kind: "queue", rx: port.shareQueue("rx", 0), tx: port.shareQueue("tx", 0) } };
  };
  const startWorker = async (id, job) => {
    const w = new Worker(new URL(import.meta.url));
    w.on("error", () => {}); // the "throw" end: expected
    const exited = new Promise((r) => w.once("exit", r));
    const ready = message(w);
    w.postMessage(job);
    const said = await ready;
    if (said.ready !== true) throw new Error(`interface ${id}: the Worker says ${JSON.stringify(said)}`);
    return { w, exited, said };
  };
  // give: this thread adopts the Worker's queues and keeps a view of a tx buffer, written
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
  const jobFor = (id, shared) => shared?.job ?? { kind: kind === "give" ? "give" : "port", path, id };

  await line(0, (l) => (l === "ready" ? l : undefined), "ready");
  {
    // warm-up: the same, closed by the Worker itself
    const id = 1000;
    await tell(`listen ${id}`, `listening ${id}`);
    const shared = kind === "queue" ? await sharedPort(id) : null;
    const { w, exited, said: given } = await startWorker(id, jobFor(id, shared));
    const taken = kind === "give" ? takeQueues(given) : null;
    const answer = message(w);
    w.postMessage({ close: true });
    const said = await answer;
    if (said.closed !== true) throw new Error(`warm-up: the Worker says ${JSON.stringify(said)}`);
    void w.terminate();
    await exited;
    shared?.socket.close();
    taken?.rx.close();
    taken?.tx.close();
    await tell(`drop ${id}`, `dropped ${id}`);
  }
  const base = holdings();

  for (let i = 0; i < iterations; i++) {
    const id = i + 1;
    await tell(`listen ${id}`, `listening ${id}`);
    const from = lines.length;
    const shared = kind === "queue" ? await sharedPort(id) : null;
    const { w, exited, said } = await startWorker(id, jobFor(id, shared));
    const taken = kind === "give" ? takeQueues(said) : null;
    await line(from, (l) => (l === `connected ${id}` ? l : undefined), `'connected ${id}'`, DEADLINE_MS);
    if (diff(base.maps, holdings().maps).length === 0) {
      throw new Error(`interface ${id}: no memfd mapping while connected: this check would see no leak`);
    }
    const endedAt = lines.length;
    if (end === "terminate") void w.terminate();
    else w.postMessage({ end });
    if (shared === null) {
      const reason = await peerSawDisconnect(id, endedAt);
      if (reason !== REASON) throw new Error(`interface ${id}: the peer was told '${reason}', not '${REASON}'`);
      await exited;
      if (taken !== null) {
        // this thread's view of the Worker's connection: still mapped, through this thread's queue
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
      await exited;
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
      const closedAt = lines.length;
      shared.socket.close();
      const reason = await peerSawDisconnect(id, closedAt);
      if (reason !== "Interface closed") {
        throw new Error(`interface ${id}: the peer was told '${reason}', not 'Interface closed'`);
      }
    }
    await released(base, `iteration ${i} (interface ${id})`);
    await tell(`drop ${id}`, `dropped ${id}`);
  }
  peer.stdin.end();
  console.log(`ok ${iterations}`);
  process.exit(0);
}
