/** What a process costs in CPU, for the tests and the benches that measure an idle or a busy one. */
import { readdirSync, readFileSync } from "node:fs";

/** CPU time of every thread of `pid`, in ns (/proc/PID/task/N/schedstat: run time first). */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}
