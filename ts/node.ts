/**
 * zmemif for Node.js (>= 20): the classes of ts/api.ts on the N-API backend (ts/native/node.ts),
 * loaded on first use. The package's "default" export condition; Bun takes ts/index.ts.
 */
import { useBackend } from "./native/backend.ts";
import { checkRuntime } from "./native/locate.ts";
import { loadNodeBackend } from "./native/node.ts";

checkRuntime(); // a Node.js too old for zmemif fails here, with what to do
useBackend(loadNodeBackend);

export * from "./api.ts";
