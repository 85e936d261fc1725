// Interface configuration through iproute2, in any network namespace given by name or path.
// Configuration only (attach, detach, start, stop); never on the data path. Commands for one
// namespace go through a single `ip -batch -` process to keep attach latency low.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

export class NetlinkError extends Error {
  constructor(message: string, readonly stderr: string) { super(message); this.name = "NetlinkError"; }
}

/** argv prefix that runs a command in `netns` (undefined: ours): `ip -n NAME` or nsenter for a path. */
function inNs(netns: string | undefined, argv: string[]): [string, string[]] {
  if (!netns) return [argv[0]!, argv.slice(1)];
  const m = netns.match(/^\/(?:var\/)?run\/netns\/([^/]+)$/);
  if (m && argv[0] === "ip") return ["ip", ["-n", m[1]!, ...argv.slice(1)]];
  if (!netns.includes("/")) return argv[0] === "ip" ? ["ip", ["-n", netns, ...argv.slice(1)]] : ["ip", ["netns", "exec", netns, ...argv]];
  return ["nsenter", [`--net=${netns}`, "--", ...argv]];
}

export function run(netns: string | undefined, argv: string[], input?: string): string {
  const [cmd, args] = inNs(netns, argv);
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 20_000 });
  } catch (e) {
    const err = e as { stderr?: string; status?: number };
    const stderr = String(err.stderr ?? "").trim();
    throw new NetlinkError(`${cmd} ${args.join(" ")}${input ? ` <<< ${input.trim().replace(/\n/g, "; ")}` : ""}: ${stderr || `exit ${err.status}`}`, stderr);
  }
}

/** Runs several `ip` commands (without the leading "ip") in one process; stops at the first failure. */
export function ipBatch(netns: string | undefined, commands: string[]): void {
  if (commands.length === 0) return;
  run(netns, ["ip", "-batch", "-"], commands.join("\n") + "\n");
}

export function ip(netns: string | undefined, args: string[]): string {
  return run(netns, ["ip", ...args]);
}

/** True when `netns` (name or path) exists. */
export function netnsExists(netns: string): boolean {
  return existsSync(netns.includes("/") ? netns : `/var/run/netns/${netns}`);
}

/** The argument `ip link set ... netns X` takes: a name, or a path (iproute2 opens paths with a '/'). */
export function netnsArg(netns: string): string {
  const m = netns.match(/^\/(?:var\/)?run\/netns\/([^/]+)$/);
  return m ? m[1]! : netns;
}

export function linkExists(netns: string | undefined, ifname: string): boolean {
  try { ip(netns, ["link", "show", "dev", ifname]); return true; } catch { return false; }
}
