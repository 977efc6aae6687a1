/**
 * Heap accounting over a measuring window, to show that the hot path allocates nothing:
 *  - `prep()`: full GC, then the live cell count and heap size (the baseline);
 *  - `open()` / `close()` at the window's two marks: GCs seen in between, and at the close (before
 *    any GC of ours) the cells now in the heap minus the baseline: the cells allocated since
 *    `prep()` when no GC ran meanwhile, fewer when one did (it frees some);
 *  - `growth()`: full GC again, heap size and RSS against the baseline (what stayed).
 *
 * GC runs are counted with a sentinel: an unreachable object registered with a
 * FinalizationRegistry dies at the next collection (eden or full) and is replaced by a new one.
 * JSC exposes no GC counter; this sees every collection that reaches the young generation.
 * Bun and JSC also collect on timers, so an idle process shows a GC every second or so: GC runs
 * alone do not prove allocation; the cell count says what the window allocated.
 */
import { fullGC, heapSize, heapStats, memoryUsage } from "bun:jsc";

let gcs = 0;
const registry = new FinalizationRegistry<number>(() => {
  gcs++;
  arm();
});
function arm(): void {
  registry.register({}, 0);
}
arm();

function cellsByType(): Record<string, number> {
  return heapStats().objectTypeCounts;
}

function total(counts: Record<string, number>): number {
  let n = 0;
  for (const c of Object.values(counts)) n += c;
  return n;
}

/** The types that grew most from `a` to `b`. */
function topGrowth(a: Record<string, number>, b: Record<string, number>, n: number): Record<string, number> {
  const grew = Object.entries(b)
    .map(([k, v]) => [k, v - (a[k] ?? 0)] as const)
    .filter(([, d]) => d > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, n);
  return Object.fromEntries(grew);
}

export interface HeapReport {
  /** heap bytes after a full GC at the end minus after a full GC before the window */
  heap_growth: number;
  /** resident set growth over the same span */
  rss_growth: number;
  /** cells in the heap after the window minus after the pre-window GC (allocations, if gcs = 0) */
  cells_window: number;
  /** garbage collections seen during the window (by the sentinel) */
  gcs_window: number;
  /** the cell types behind cells_window, most first */
  cells_top: Record<string, number>;
}

export class HeapWatch {
  #baseHeap = 0;
  #baseRss = 0;
  #baseCells: Record<string, number> = {};
  #baseGcs = 0;
  #cells = 0;
  #top: Record<string, number> = {};
  #gcs = 0;
  #prepped = false;

  prep(): void {
    fullGC();
    this.#baseHeap = heapSize();
    this.#baseRss = memoryUsage().current;
    this.#baseCells = cellsByType();
    this.#prepped = true;
  }

  /** The window's opening mark (the prep GC's own sentinel has been counted by then). */
  open(): void {
    this.#baseGcs = gcs;
  }

  /** Right after the window's closing mark. */
  close(): void {
    if (!this.#prepped) return;
    this.#gcs = gcs - this.#baseGcs;
    const now = cellsByType();
    this.#cells = total(now) - total(this.#baseCells);
    this.#top = topGrowth(this.#baseCells, now, 5);
  }

  report(): HeapReport | null {
    if (!this.#prepped) return null;
    fullGC();
    return {
      heap_growth: heapSize() - this.#baseHeap,
      rss_growth: memoryUsage().current - this.#baseRss,
      cells_window: this.#cells,
      gcs_window: this.#gcs,
      cells_top: this.#top,
    };
  }
}
