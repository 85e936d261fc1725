// Suites that need root, namespaces, TUN/TAP or Debian packages run in CI (as root, with every
// package .ci/run installs). When a prerequisite is missing they fail with a clear message
// instead of skipping silently.
import { describe, it } from "vitest";

export function describeRequiring(missing: unknown): typeof describe {
  if (!missing) return describe;
  return ((name: string) =>
    describe(name, () => {
      it("has its prerequisites (root, iproute2, /dev/net/tun and the packages .ci/run installs)", () => {
        throw new Error(`${name}: prerequisites missing (${Array.isArray(missing) ? missing.join(", ") : "see the suite's guard"})`);
      });
    })) as unknown as typeof describe;
}
