// Test fixtures: uniquely named network namespaces and links that are always removed, so tests
// may run concurrently with others on one machine. Every name starts with "wt" and carries a
// per-fixture id (pid + random); interfaces live only inside namespaces the fixture created.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ip, netnsPath } from "../linux/netns.ts";

/** True when namespaces, veth and TUN/TAP can be used here (root, iproute2, /dev/net/tun). */
export function canUseNetns(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0 || !existsSync("/dev/net/tun")) return false;
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export class NetnsFixture {
  /** 6 hex digits: low bits of the pid, then random. */
  readonly id = ((process.pid & 0xfff).toString(16).padStart(3, "0") + randomBytes(2).toString("hex").slice(0, 3));
  private readonly namespaces: string[] = [];

  /** A name unique to this fixture: "wt" + id + label (label ≤ 7 chars keeps it ≤ 15). */
  name(label: string): string {
    const n = `wt${this.id}${label}`;
    if (n.length > 15) throw new RangeError(`name too long: ${n}`);
    return n;
  }

  /** Creates namespace name(label) with lo up and IPv6 autoconfiguration noise disabled. */
  addNetns(label: string, opts: { ipv6?: boolean } = {}): { name: string; path: string } {
    const name = this.name(label);
    ip(["netns", "add", name]);
    this.namespaces.push(name);
    ip(["link", "set", "lo", "up"], name);
    // Links created later inherit "default": no router solicitations, DAD or MLD frames unless asked.
    const v6 = opts.ipv6 ? "0" : "1";
    const conf = "/proc/sys/net/ipv6/conf/default";
    this.exec(name, ["sh", "-c",
      `echo ${v6} > ${conf}/disable_ipv6; echo 0 > ${conf}/accept_ra; echo 0 > ${conf}/accept_dad; ` +
      `echo 0 > ${conf}/dad_transmits; echo 0 > ${conf}/router_solicitations; true`]);  // absent without IPv6
    return { name, path: netnsPath(name) };
  }

  /** Runs a command inside namespace `ns`; returns stdout. */
  exec(ns: string, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): string {
    return execFileSync("ip", ["netns", "exec", ns, ...argv], {
      encoding: "utf8", timeout: opts.timeoutMs ?? 10_000, input: opts.input, stdio: ["pipe", "pipe", "pipe"],
    });
  }

  ip(args: string[], ns?: string): string {
    return ip(args, ns);
  }

  /** A veth pair a (in nsA) <-> b (in nsB). */
  addVeth(a: string, nsA: string, b: string, nsB: string): void {
    ip(["link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB]);
  }

  /** MAC address of `ifname` in `ns`. */
  mac(ifname: string, ns: string): string {
    const j = JSON.parse(ip(["-j", "link", "show", "dev", ifname], ns)) as { address: string }[];
    return j[0]!.address;
  }

  /** Deletes every namespace created (and with them all their links). Never throws. */
  cleanup(): void {
    for (const ns of this.namespaces.splice(0).reverse()) {
      try {
        ip(["netns", "del", ns]);
      } catch {
        /* already gone */
      }
    }
  }
}

/** Reads a counter from /proc/net/snmp or /proc/net/snmp6 inside `ns` (e.g. "Icmp", "OutDestUnreachs"). */
export function snmpCounter(fx: NetnsFixture, ns: string, group: string, field: string): number {
  if (group.endsWith("6")) {
    const text = fx.exec(ns, ["cat", "/proc/net/snmp6"]);
    const line = text.split("\n").find((l) => l.startsWith(group + field + " ") || l.startsWith(group + field + "\t"));
    return line ? Number(line.trim().split(/\s+/)[1]) : NaN;
  }
  const lines = fx.exec(ns, ["cat", "/proc/net/snmp"]).split("\n").filter((l) => l.startsWith(group + ":"));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1);
  return Number(values[names.indexOf(field)]);
}
