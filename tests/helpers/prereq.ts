/**
 * Suites that need what a machine may lack (root, network namespaces, ip/ethtool/python3, the
 * forwarder). Outside CI a missing prerequisite skips the suite with a message saying what is
 * missing. Under CI=true it is a failing test instead: CI installs everything
 * (scripts/install-deps.sh), so a missing prerequisite there is a broken CI, not a pass.
 */
import { describe, test } from "bun:test";

/** True when run by CI (`CI=true`, as `.ci/run` and scripts/test.sh are run there). */
export const IN_CI = process.env.CI === "true";

/**
 * describe(NAME, BODY) when `why` is null; otherwise, outside CI, a skipped suite and a warning;
 * under CI=true, one failing test that names `file` and what is missing.
 */
export function describeNeeding(file: string, why: string | null, name: string, body: () => void): void {
  if (why === null) {
    describe(name, body);
  } else if (IN_CI) {
    describe(name, () => {
      test("has what it needs (under CI=true a missing prerequisite fails)", () => {
        throw new Error(
          `${file}: ${why}. Under CI=true this fails instead of skipping: run scripts/install-deps.sh as root`,
        );
      });
    });
  } else {
    console.warn(`${file} skipped: ${why} (a skip is allowed outside CI only; under CI=true it fails)`);
    describe.skip(name, body);
  }
}
