// tests/worker_exit.test.ts's case for Node.js (the N-API backend, dist/node.js), run by `node`:
//   node tests/helpers/node_worker_exit.mjs BUN rx|port terminate|throw|exit ITERATIONS
// As tests/helpers/worker_exit.ts: each iteration a node:worker_threads Worker waits armed on an rx
// queue (adopted from this thread's port, or of a port it opened itself), ends without closing
// anything, and then the peer (tests/helpers/command_peer.ts, started with BUN) sends to that queue
// (to the Worker's own port, which the core closes when the Worker ends, only while it is still
// connected: `offer`) and/or ends the connection. At the end this thread receives a packet on a
// new port and prints "ok N". This file is also the Worker (it runs itself).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { MemifSocket, RxQueue } from "../../dist/node.js";

const SECRET = "worker-exit";

if (!isMainThread) {
  parentPort.on("message", async (job) => {
    try {
      if (job.end === "throw") {
        setTimeout(() => {
          throw new Error("the Worker's script fails (on purpose)");
        }, 0);
        return;
      }
      if (job.end === "exit") process.exit(7);
      let rx;
      if (job.kind === "rx") rx = RxQueue.adopt(job.rx);
      else {
        const socket = new MemifSocket(job.path);
        const port = socket.port({ role: "client", id: job.id, secret: SECRET, reconnectMs: 5 });
        await port.connect({ timeoutMs: 5000 });
        rx = port.rxQueue(0);
      }
      void rx[Symbol.asyncIterator]().next(); // armed before it returns
      parentPort.postMessage({ armed: true });
    } catch (e) {
      parentPort.postMessage({ error: String(e?.stack ?? e) });
    }
  });
} else {
  const [bun, kind, end, iterArg] = process.argv.slice(2);
  const iterations = Number(iterArg);
  const path = `@zmemif-worker-exit-node-${process.pid}`;
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
  /** The first peer line from index `from` that `match` accepts, within 10 s. */
  const line = async (from, match, what) => {
    const deadline = Date.now() + 10_000;
    for (let i = from; ; ) {
      for (; i < lines.length; i++) if (match(lines[i])) return lines[i];
      if (Date.now() > deadline) throw new Error(`command_peer: no ${what} within 10 s: ${lines.slice(-5)}`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  const tell = async (command, answer) => {
    const from = lines.length;
    peer.stdin.write(`${command}\n`);
    const got = await line(from, (l) => l === answer || l.startsWith("error "), answer);
    if (got !== answer) throw new Error(`command_peer: ${command}: ${got}`);
  };
  await line(0, (l) => l === "ready", "ready");
  for (let i = 0; i < iterations; i++) {
    const id = i + 1;
    await tell(`listen ${id}`, `listening ${id}`);
    const w = new Worker(new URL(import.meta.url));
    w.on("error", () => {}); // the "throw" end: expected
    const exited = new Promise((r) => w.once("exit", r));
    const armed = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the Worker did not say it waits within 10 s")), 10_000);
      w.once("message", (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    let socket = null;
    if (kind === "rx") {
      socket = new MemifSocket(path);
      const port = socket.port({ role: "client", id, secret: SECRET, reconnectMs: 5 });
      await port.connect({ timeoutMs: 5000 });
      w.postMessage({ kind: "rx", rx: port.shareQueue("rx", 0) });
    } else {
      w.postMessage({ kind: "port", path, id });
    }
    const said = await armed;
    if (said.armed !== true) throw new Error(`iteration ${i}: the Worker says ${JSON.stringify(said)}`);
    if (end === "terminate") void w.terminate();
    else w.postMessage({ end });
    if (i % 2 === 1) await exited;
    if (i % 4 < 2 && kind === "rx") await tell(`send ${id} 4`, `sent ${id} 4`);
    if (i % 4 < 2 && kind === "port") {
      const from = lines.length;
      peer.stdin.write(`offer ${id} 4\n`);
      const got = await line(
        from,
        (l) => l.startsWith(`offered ${id} `) || l.startsWith("error "),
        `'offered ${id} …'`,
      );
      if (got.startsWith("error ")) throw new Error(`command_peer: offer ${id} 4: ${got}`);
    }
    await tell(`drop ${id}`, `dropped ${id}`);
    socket?.close();
    await exited;
  }
  const id = iterations + 1;
  await tell(`listen ${id}`, `listening ${id}`);
  const socket = new MemifSocket(path);
  const port = socket.port({ role: "client", id, secret: SECRET });
  await port.connect({ timeoutMs: 5000 });
  const rx = port.rxQueue(0);
  const got = (async () => {
    for await (const p of rx) return p.byteLength;
    return -1;
  })();
  await tell(`send ${id} 1`, `sent ${id} 1`);
  const len = await Promise.race([
    got,
    new Promise((_, reject) => setTimeout(() => reject(new Error("no packet on the new port within 5 s")), 5000)),
  ]);
  if (len !== 64) throw new Error(`the new port received ${len} bytes, not 64`);
  socket.close();
  peer.stdin.end();
  console.log(`ok ${iterations}`);
  process.exit(0);
}
