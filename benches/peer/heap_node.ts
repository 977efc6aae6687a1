/**
 * heap.ts for the Node.js build of the bench peer (benches/lib/node_peer.ts swaps it in): V8 has
 * no cell counts like JSC's heapStats, so a Node peer reports no heap figures (null), and the
 * report shows none for it rather than numbers of another kind.
 */
import type { HeapReport } from "./heap.ts";

export type { HeapReport };

export class HeapWatch {
  prep(): void {}
  open(): void {}
  close(): void {}
  report(): HeapReport | null {
    return null;
  }
}
