/** The `zmemif` command under Node.js (compiled to dist/cli/node.js): the N-API backend, then main.ts. */
import "../node.ts";
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
