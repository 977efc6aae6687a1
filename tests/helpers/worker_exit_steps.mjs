// The steps of tests/worker_exit.test.ts's child process, written once for both runtimes: Bun
// (tests/helpers/worker_exit.ts on ts/index.ts, with tests/helpers/worker_exit_worker.ts as its
// Worker) and Node.js (tests/helpers/node_worker_exit.mjs on dist/node.js, worker_threads). Each
// passes in what differs: its MemifSocket and RxQueue, how it starts a Worker, and how it reads
// command_peer's lines (tests/helpers/bun_steps.ts, tests/helpers/node_steps.mjs). Plain
// JavaScript so that Node runs it as it is; worker_exit_steps.d.mts types it for the Bun side.

export const SECRET = "worker-exit";
const WAIT_MS = 10_000;

/** Rejects with `message` unless `p` settles within `ms`. */
export function within(p, ms, message) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** `tell` and `offer` over command_peer's stdin and stdout lines (`peer`: lines, write, waitLine). */
export function commands(peer) {
  const ask = (command, match, what) => {
    const from = peer.lines.length;
    peer.write(`${command}\n`);
    return peer.waitLine(from, (l) => match(l) || l.startsWith("error "), what, WAIT_MS);
  };
  return {
    /** Sends `command` and waits for its answer line, or its error. */
    async tell(command, answer) {
      const got = await ask(command, (l) => l === answer, `'${answer}'`);
      if (got !== answer) throw new Error(`command_peer: ${command}: ${got}`);
    },
    /** Has the peer send `n` packets to interface `id` while it is connected (the Worker's port, closing). */
    async offer(id, n) {
      const got = await ask(`offer ${id} ${n}`, (l) => l.startsWith(`offered ${id} `), `'offered ${id} …'`);
      if (got.startsWith("error ")) throw new Error(`command_peer: offer ${id} ${n}: ${got}`);
    },
  };
}

/**
 * Ends this Worker as `end` says: "throw" throws from a timer (an uncaught error ends the Worker),
 * "exit" calls process.exit(7); any other value does nothing (the parent terminate()s it).
 */
export function endWorker(end) {
  if (end === "throw") {
    setTimeout(() => {
      throw new Error("the Worker's script fails (on purpose)");
    }, 0);
  } else if (end === "exit") {
    process.exit(7);
  }
}

/** A new socket on `path` and its client port of interface `id` (`options` added), connected. */
export async function connectPort(MemifSocket, path, id, options = {}) {
  const socket = new MemifSocket(path);
  const port = socket.port({ role: "client", id, secret: SECRET, ...options });
  await port.connect({ timeoutMs: 5000 });
  return { socket, port };
}

/**
 * The Worker's side of one message. {end: "throw"} throws from a timer (an uncaught error ends the
 * Worker), {end: "exit"} calls process.exit(7); both return undefined. {kind: "rx", rx} adopts the
 * shared rx queue, {kind: "port", path, id} opens its own socket and client port and takes rx
 * queue 0 (the port's callback is the Worker's); either waits on it (armed) and returns
 * {armed: true}, or {error}. Nothing is ever closed.
 */
export async function handle(job, { MemifSocket, RxQueue }) {
  if ("end" in job) {
    endWorker(job.end);
    return undefined;
  }
  try {
    let rx;
    if (job.kind === "rx") {
      rx = RxQueue.adopt(job.rx);
    } else {
      rx = (await connectPort(MemifSocket, job.path, job.id, { reconnectMs: 5 })).port.rxQueue(0);
    }
    // The first next() arms the queue before it returns (there is nothing to read yet).
    void rx[Symbol.asyncIterator]().next();
    return { armed: true };
  } catch (e) {
    return { error: String(e?.stack ?? e) };
  }
}

/**
 * The main thread's side: `iterations` Workers, each armed on a queue (kind "rx": of this thread's
 * port, shared; "port": of its own port), ended (`end`: terminate, throw or exit) without closing
 * anything, then the peer sends to that queue (every other pair of iterations) and ends the
 * connection. Even iterations go on at once (the Worker is being torn down), odd ones after it
 * ended. At the end this thread opens a new port and must receive a packet on it. `peer`: command_peer's
 * lines (commands()), `startWorker`: a Worker of this file's handle().
 */
export async function run({ zmemif, peer, path, kind, end, iterations, startWorker }) {
  const { MemifSocket } = zmemif;
  const { tell, offer } = commands(peer);
  for (let i = 0; i < iterations; i++) {
    const id = i + 1;
    await tell(`listen ${id}`, `listening ${id}`);
    const w = startWorker();
    const armed = within(w.next(), WAIT_MS, "the Worker did not say it waits within 10 s");
    let socket = null;
    if (kind === "rx") {
      let port;
      ({ socket, port } = await connectPort(MemifSocket, path, id, { reconnectMs: 5 }));
      w.post({ kind: "rx", rx: port.shareQueue("rx", 0) });
    } else {
      w.post({ kind: "port", path, id });
    }
    const said = await armed;
    if (said?.armed !== true) throw new Error(`iteration ${i}: the Worker says ${JSON.stringify(said)}`);
    if (end === "terminate") w.terminate();
    else w.post({ end });
    if (i % 2 === 1) await w.ended;
    // data for the armed queue (every other pair of iterations), then the connection ends
    if (i % 4 < 2 && kind === "rx") await tell(`send ${id} 4`, `sent ${id} 4`);
    if (i % 4 < 2 && kind === "port") await offer(id, 4);
    await tell(`drop ${id}`, `dropped ${id}`);
    socket?.close(); // this thread's port, with the Worker's queue (and arm) still open
    await w.ended;
  }

  // This thread still works: a new port, and a packet received on it.
  const id = iterations + 1;
  await tell(`listen ${id}`, `listening ${id}`);
  const { socket, port } = await connectPort(MemifSocket, path, id);
  const rx = port.rxQueue(0);
  const got = (async () => {
    for await (const p of rx) return p.byteLength;
    return -1;
  })();
  await tell(`send ${id} 1`, `sent ${id} 1`);
  const len = await within(got, 5000, "no packet on the new port within 5 s");
  if (len !== 64) throw new Error(`the new port received ${len} bytes, not 64`);
  socket.close();
}
