/**
 * Exit codes of the `zmemif` command, one meaning each, so a script can tell the cases apart.
 * `zmemif --help` prints this table; README.md ("Debugging a link") repeats it.
 */
import { MemifError } from "../errors.ts";
import { ProbeError } from "../probe.ts";
import { UsageError } from "./args.ts";

export const EXIT = {
  /** it worked (ping: every reply came back) */
  OK: 0,
  /** ran, but not everything came back (ping: some replies lost) */
  PARTIAL: 1,
  /** a bad command line */
  USAGE: 2,
  /** no server there: nothing at the path, not a socket, or nobody listening */
  NO_SERVER: 3,
  /** permission denied on the socket or its directory */
  PERMISSION: 4,
  /** something listens but is not a memif server (another socket type, no or a wrong HELLO) */
  NOT_MEMIF: 5,
  /** the server refused the interface (id not found, secret, already connected) */
  REFUSED: 6,
  /** timed out: no connection, or no reply at all */
  TIMEOUT: 7,
  /** anything else (I/O error, library missing): the message says what */
  ERROR: 8,
} as const;

export const EXIT_TABLE = `exit codes:
  0  ok                      1  some replies lost (ping)
  2  bad command line        3  no server at that socket (absent, not a socket, nobody listening)
  4  permission denied       5  not a memif server (other socket type, no HELLO)
  6  interface refused       7  timed out (no connection, no reply at all)
  8  other error (the message says what)`;

/** The exit code for an error a subcommand threw. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof ProbeError) {
    switch (e.problem) {
      case "absent":
      case "not-socket":
      case "not-listening":
        return EXIT.NO_SERVER;
      case "permission":
        return EXIT.PERMISSION;
      case "not-memif":
      case "no-hello":
        return EXIT.NOT_MEMIF;
    }
  }
  if (e instanceof MemifError) {
    switch (e.code) {
      case "SOCKET_PATH":
        return EXIT.NO_SERVER;
      case "PERMISSION":
        return EXIT.PERMISSION;
      case "PEER_REJECTED":
        return EXIT.REFUSED;
      case "TIMEOUT":
        return EXIT.TIMEOUT;
      case "INVALID_ARGUMENT":
        return EXIT.USAGE;
    }
  }
  return EXIT.ERROR;
}
