/**
 * The bench peer's side of the control protocol: commands arrive as lines on stdin, replies and
 * events leave as one JSON object per line on stdout. The orchestrator (benches/lib/bun_endpoint.ts)
 * is the other side.
 *
 *   go     transmitters start sending (receivers ignore it)
 *   prep   full GC, then the heap baseline for the window (replies {"event":"prepped"})
 *   mark   replies {"event":"mark","t":ms,"rx":..,"tx":..,"rxb":..,"txb":..} on the peer's clock;
 *          a pinger also starts (first mark) or ends (second mark) recording round trips
 *   stop   transmitters stop sending, stay connected, reply {"event":"stopped",...counters}
 *   quit   reply {"event":"done",...counters, heap} and exit (SIGTERM/SIGINT do the same)
 *
 * The hot loops poll; they hand the event loop a turn every SLICE_MS so commands get read (a
 * command is answered within SLICE_MS; its reply carries the time it was handled).
 */

export type Command = "go" | "prep" | "mark" | "stop" | "quit";

/**
 * How long a hot loop runs before it yields one event-loop turn (stdin, signals, port events).
 * Each turn allocates one Immediate (Bun), so this sets the bench's allocation rate: 200 cells/s.
 */
export const SLICE_MS = 5;

export function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

export function fail(message: string): never {
  emit("error", { message });
  process.exit(1);
}

/** Calls `handler` for each command line on stdin; SIGTERM/SIGINT/stdin EOF are "quit". */
export function listen(handler: (cmd: Command) => void): void {
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === "go" || line === "prep" || line === "mark" || line === "stop" || line === "quit") handler(line);
      else if (line !== "") emit("error", { message: `unknown command ${JSON.stringify(line)}` });
    }
  });
  process.stdin.on("end", () => handler("quit"));
  process.on("SIGTERM", () => handler("quit"));
  process.on("SIGINT", () => handler("quit"));
}

/** Resolves on a later turn of the event loop. */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
