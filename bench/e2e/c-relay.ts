// The benchmark's floor (c-relay.c): per node one C relay process, TUN <-> UDP, one packet per
// syscall. Built with the system C compiler into the run's directory the first time a topology
// needs it; started inside the node's namespace; the pods' TUNs (eth0, made by the relay) get the
// pod's IPv4 address /32, the pod MTU and a route for the cluster's IPv4 CIDR. IPv4 only.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { ClusterNode } from "../../host/demo/cluster.ts";
import { ProcessTable, waitExit } from "./procs.ts";

const SOURCE = new URL("./c-relay.c", import.meta.url).pathname;

/** Compiles c-relay.c into `dir` (once per directory); returns the binary's path. */
export function buildCRelay(dir: string): string {
  const bin = join(dir, "c-relay");
  if (existsSync(bin)) return bin;
  try {
    execFileSync(process.env.CC ?? "cc", ["-O2", "-Wall", "-o", bin, SOURCE], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`cannot compile ${SOURCE} (a C compiler is needed for the c-relay floor): ${err.stderr?.toString() || err.message}`);
  }
  return bin;
}

export class CRelayProcess {
  private constructor(readonly node: ClusterNode, readonly proc: ChildProcess) {}

  get pid(): number { return this.proc.pid!; }
  get name(): string { return this.node.config.name; }

  /** Starts the relay of `node` towards its one peer, waits for "ready", configures the pods. */
  static async start(node: ClusterNode, dir: string, procs: ProcessTable, poll: boolean): Promise<CRelayProcess> {
    const c = node.config;
    const peer = c.peers[0];
    if (!peer || c.peers.length !== 1 || !c.underlay.ipv4) throw new Error(`c-relay: node ${c.name} needs exactly one peer and an IPv4 underlay`);
    const bin = buildCRelay(dir);
    const pods = node.pods.map((p) => `${p.ns}=${p.ipv4}`);
    const proc = procs.spawn(["ip", "netns", "exec", node.ns, bin, ...(poll ? ["--poll"] : []), c.underlay.ipv4, peer.underlay, String(c.port), String(c.vni), ...pods]);
    const relay = new CRelayProcess(node, proc);
    try {
      await waitReady(proc, c.name);
      const cidr4 = c.clusterCIDRs.find((x) => !x.includes(":"));
      if (!cidr4) throw new Error(`c-relay: node ${c.name} has no IPv4 cluster CIDR`);
      for (const p of node.pods) {
        const ip = (args: string[]) => execFileSync("ip", ["-n", p.ns, ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
        ip(["addr", "add", `${p.ipv4}/32`, "dev", "eth0"]);
        ip(["link", "set", "eth0", "mtu", String(c.mtu.pod), "up"]);
        ip(["route", "add", cidr4, "dev", "eth0"]);
      }
      return relay;
    } catch (e) {
      await relay.stop();
      throw e;
    }
  }

  /** SIGTERM, SIGKILL after 5 s. Idempotent. Its TUNs go with its fds. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    if ((await waitExit(p, 5000)) === "timeout") {
      p.kill("SIGKILL");
      await waitExit(p, 5000);
    }
  }
}

function waitReady(proc: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "", err = "";
    const timer = setTimeout(() => done(new Error(`c-relay ${name}: not ready within 10 s: ${err}`)), 10_000);
    const done = (e?: Error) => {
      clearTimeout(timer);
      proc.stdout!.removeAllListeners("data");
      proc.removeListener("exit", onExit);
      if (e) reject(e);
      else resolve();
    };
    const onExit = (code: number | null) => done(new Error(`c-relay ${name} exited (${code}) before it was ready: ${err}`));
    proc.stderr!.on("data", (d) => { err += d; });
    proc.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("ready\n")) done();
    });
    proc.once("exit", onExit);
  });
}
