// One node's Weft router as its own process, the way a node runs it:
//   ip netns exec <node> node bin/weft.mjs router --config <dir>/<node>.json
// The config is the cluster's NodeConfig written back in the file schema, without `netns`: the
// process already lives in the node's namespace and creates its devices there. Ready = the control
// socket answers `status`; pods are attached through the socket (attachPod), as the CNI plugin does.
import { openSync, closeSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { NodeConfig } from "../../host/config/node-config.ts";
import type { ClusterNode } from "../../host/demo/cluster.ts";
import { RouterClient } from "../../host/control/client.ts";
import { ProcessTable, sleep, waitExit } from "./procs.ts";
import type { Loop } from "./options.ts";

const WEFT_BIN = new URL("../../bin/weft.mjs", import.meta.url).pathname;

/** The file form of a parsed NodeConfig (what parseNodeConfig reads back to the same config). */
export function configFile(c: NodeConfig, opts: { netns: boolean; tunOffload?: boolean; udpOffload?: boolean; workers?: number; loop?: Loop }): Record<string, unknown> {
  return {
    name: c.name, encapsulation: c.encapsulation, port: c.port, vni: c.vni, vtepMac: c.vtepMac, routerMac: c.routerMac,
    underlay: { ipv4: c.underlay.ipv4, ipv6: c.underlay.ipv6, mtu: c.underlay.mtu, interface: c.underlay.interface },
    podCIDRs: c.podCIDRs, clusterCIDRs: c.clusterCIDRs, gateway4: c.gateway4, gateway6: c.gateway6, podMtu: c.mtu.pod,
    udpChecksum4: c.udpChecksum4, icmp: c.icmp, peers: c.peers, pods: c.pods, routes: c.routes,
    // Two routers on one machine: each its own CNI fast-path socket (the default, cni.sock beside
    // the control socket, would be shared).
    control: { ...c.control, cniSocket: cniSocketPath(c) }, metrics: c.metrics, hostInterface: c.hostInterface, limits: c.limits,
    offloads: { ...c.offloads, ...(opts.tunOffload ? { tun: true } : {}), ...(opts.udpOffload ? { udpGso: true, udpGro: true } : {}) },
    ...(opts.netns && c.netns ? { netns: c.netns } : {}),
    ...(opts.workers && opts.workers > 1 ? { workers: opts.workers } : {}),
    ...(opts.loop ? { datapath: { loop: opts.loop.loop, spinUs: opts.loop.loop === "libuv" ? 0 : opts.loop.spinUs ?? 0, ...(opts.loop.loop === "native" && opts.loop.runtime ? { runtime: opts.loop.runtime } : {}) } } : {}),
  };
}

/** The CNI socket of a benchmark router: the configured one, else <control socket>-cni.sock. */
export function cniSocketPath(c: NodeConfig): string {
  return (c.control as { cniSocket?: string }).cniSocket ?? c.control.socket.replace(/(\.sock)?$/, "-cni.sock");
}

export class WeftRouterProcess {
  private constructor(
    readonly node: ClusterNode,
    readonly proc: ChildProcess,
    readonly client: RouterClient,
    readonly logPath: string,
  ) {}

  get pid(): number { return this.proc.pid!; }
  get name(): string { return this.node.config.name; }

  /** Starts the router of `node`, waits for its control socket, attaches the node's pods. */
  static async start(node: ClusterNode, dir: string, procs: ProcessTable, nodeArgs: string[] = [], tunOffload = false, workers = 1, udpOffload = false, loop?: Loop): Promise<WeftRouterProcess> {
    const cfg = node.config;
    const cfgPath = join(dir, `${cfg.name}.json`);
    const logPath = join(dir, `${cfg.name}.log`);
    writeFileSync(cfgPath, JSON.stringify(configFile(cfg, { netns: false, tunOffload, udpOffload, workers, loop }), null, 2));
    const log = openSync(logPath, "a");
    let proc: ChildProcess;
    try {
      proc = procs.spawn(["ip", "netns", "exec", node.ns, process.execPath, ...nodeArgs, WEFT_BIN, "router", "--config", cfgPath], ["ignore", log, log]);
    } finally {
      closeSync(log);
    }
    let client: RouterClient | undefined;
    const deadline = Date.now() + 60_000;
    try {
      for (;;) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`router ${cfg.name} exited (${proc.exitCode ?? proc.signalCode}) before its socket answered:\n${tail(logPath)}`);
        if (Date.now() > deadline) throw new Error(`router ${cfg.name}: no answer on ${cfg.control.socket} within 60 s:\n${tail(logPath)}`);
        try {
          const c = await RouterClient.connect({ socketPath: cfg.control.socket, timeoutMs: 1000, callTimeoutMs: 10_000 });
          try { await c.status(); client = c; break; } catch { c.close(); }
        } catch { /* not listening yet */ }
        await sleep(100);
      }
      const r = new WeftRouterProcess(node, proc, client, logPath);
      for (const p of node.pods) {
        await client.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
      }
      return r;
    } catch (e) {
      client?.close();
      await stopProcess(proc, [cfg.control.socket, cniSocketPath(cfg)]);
      throw e;
    }
  }

  /** The router's flat counters (datapath.*, port.*, peer.*, drop.*, event.*). */
  async counters(): Promise<Record<string, number>> {
    return (await this.client.counters({ timeoutMs: 5000 })).counters;
  }

  /** SIGTERM (the router removes what it made), SIGKILL after 10 s. Idempotent. */
  async stop(): Promise<void> {
    this.client.close();
    await stopProcess(this.proc, [this.node.config.control.socket, cniSocketPath(this.node.config)]);
  }
}

async function stopProcess(proc: ChildProcess, sockets: string[]): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill("SIGTERM");
    if ((await waitExit(proc, 10_000)) === "timeout") {
      proc.kill("SIGKILL");
      await waitExit(proc, 5000);
    }
  }
  // A killed router leaves its socket files behind.
  for (const s of sockets) { try { if (existsSync(s)) rmSync(s); } catch { /* ignore */ } }
}

function tail(path: string): string {
  try { return readFileSync(path, "utf8").split("\n").slice(-20).join("\n"); } catch { return "(no log)"; }
}
