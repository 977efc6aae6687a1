/** The `zmemif` command under Bun: the bun:ffi backend (../index.ts), then main.ts. */
import "../index.ts";
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
