// Network-namespace plumbing through iproute2 (configuration, never the data path).
import { execFileSync } from "node:child_process";
import { IoError } from "../errors.ts";

/** The path of a named namespace, as `ip netns add NAME` creates it. */
export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

/** Runs `ip ARGS...` (in namespace `netns` when given); returns stdout; throws IoError on failure. */
export function ip(args: string[], netns?: string): string {
  const argv = netns ? ["-n", netns, ...args] : args;
  try {
    return execFileSync("ip", argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; status?: number };
    throw new IoError(`ip ${argv.join(" ")}: ${String(err.stderr ?? "").trim() || `exit ${err.status}`}`, "ERR_IPROUTE2", 0, undefined, { cause: e });
  }
}

/**
 * Moves interface `ifname` from namespace `from` (undefined: ours) into namespace `to`. A TUN/TAP
 * fd stays valid after its device moved.
 */
export function moveLink(ifname: string, to: string, from?: string): void {
  ip(["link", "set", "dev", ifname, "netns", to], from);
}
