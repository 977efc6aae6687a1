/**
 * zmemif for Bun: memif (DPDK net_memif / VPP libmemif) shared-memory packet interfaces.
 *
 *   using socket = new MemifSocket("/run/memif.sock");
 *   using port = socket.port({ id: 0, role: "client" });
 *   await port.connect();
 *   using tx = port.txQueue(0);
 *   await tx.send(new TextEncoder().encode("hello"));
 *
 * Hot path: `queue.rxBurst(batch)` / `queue.alloc(batch)` + `queue.txBurst(batch)` with a reused
 * `Batch`; packets are (region, offset, length) into `batch.view(region)`. Views are valid while
 * the connection lives and are revoked (emptied) when it ends; see ts/batch.ts.
 *
 * This module is the Bun entry: it runs the classes of ts/api.ts on the bun:ffi backend
 * (ts/native/bun.ts), loaded on first use.
 */
import { useBackend } from "./native/backend.ts";
import { loadBunBackend } from "./native/bun.ts";

useBackend(loadBunBackend);

export * from "./api.ts";
export { libraryPath } from "./native/bun.ts";
