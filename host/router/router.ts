// The router: what a node runs. It owns the Wasm data plane, the pod TAPs, the host TUN and the
// underlay sockets, and serves the control socket and metrics. Use it as a library
// (createRouter(config) then start()/stop()) or through `weft router --config node.yaml`.
//
// Design notes
// - Every pod is a TAP created in the node's namespace; its fd stays with the router and the
//   device moves into the pod's namespace, renamed, addressed (/32, /128), routed via the
//   gateway. A failed step of an attach undoes the earlier ones.
// - The host port is a TUN in the node's namespace carrying routes for the cluster CIDRs with the
//   gateway address as source, so host-network processes reach every pod without NAT.
// - The underlay is one UDP port (8472 VXLAN, 6081 Geneve); the native layer presents datagrams
//   as full IP packets and sends full IP packets (the pipeline sets the outer source port).
// - Table changes run between batches: Node is single-threaded and the batch loop never awaits.
// - `workers: N > 1` (docs/WORKERS.md): the batch loop runs in N worker threads, each with its
//   own Wasm instance and one queue of every device (IFF_MULTI_QUEUE TAP/TUN, SO_REUSEPORT
//   underlay sockets); this thread keeps the control plane, owns every fd, and replicates each
//   table op to all workers (NodeTables' fan-out) before answering. A worker that dies or stops
//   answering stops the router (onFatal), which removes everything it made.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { openTun, openUnderlay, type TunDevice, type Underlay } from "../io/index.ts";
import { NodeTables, TableError } from "../tables/node-tables.ts";
import { parseNodeConfig, parsePeer, type NodeConfig, type PeerConfig } from "../config/node-config.ts";
import { Datapath, type OffloadPort } from "./datapath.ts";
import { loadNative } from "../native/index.ts";
import { ip, ipBatch, netnsExists, linkExists, NetlinkError } from "./netlink.ts";
import { PORT_HOST, PORT_UNDERLAY, RX_FLAG_CSUM_VERIFIED, DROP_REASONS, EVENTS } from "../wasm/abi.ts";
import { parseCidr, parseIp, formatIp, formatMac, randomMac, ipFamily } from "../net/addr.ts";
import type * as P from "../control/protocol.ts";
import type { Counters, RouteTarget } from "../wasm/dataplane.ts";
import type { DatapathStats, PortIoErrors } from "./datapath.ts";
import { LinuxTunDevice } from "../io/linux/tun.ts";
import { LinuxUnderlay } from "../io/linux/underlay.ts";
import { WorkerPool } from "./workers/pool.ts";
import { loadRouterState, saveRouterState, type RouterState, type SavedRoute } from "./router-state.ts";
import type { PortQueue, WorkerResult } from "./workers/messages.ts";

/** A worker's batch-loop statistics (Router.loopStats). */
type LoopStats = NonNullable<WorkerResult["loopStats"]>;

export class RouterOpError extends Error {
  constructor(readonly code: P.RouterErrorCode, message: string) { super(message); this.name = "RouterOpError"; }
}

/** `taps`: one fd per data-plane worker (queues of one multi-queue TAP); `tap` = taps[0]. */
/** What TUNSETOFFLOAD accepted on a TAP/TUN: nothing (plain packets), TCP (TSO), TCP and UDP (USO). */
type TunOffloadState = "none" | "tso" | "uso";

interface Attachment extends P.PodAttachment {
  tap: TunDevice; taps: TunDevice[]; tapName: string; key: string; mtu: number; offload: TunOffloadState;
  /** The pod namespace's inode when attached (netnsInode), so that a restore never uses a recycled path. */
  netnsInode?: number;
}

export interface RouterOptions {
  /** Log sink (default: stderr lines). */
  log?: (msg: string) => void;
  /**
   * The router stopped itself because a data-plane worker died or stopped answering (it has
   * already removed its interfaces). Default: nothing beyond the log line.
   */
  onFatal?: (e: Error) => void;
  /**
   * Tests: answer the USO probe as a kernel before 6.2 would (TUNSETOFFLOAD with TUN_F_USO4/6
   * fails with EINVAL), so the TSO-only fallback runs on any kernel.
   */
  refuseTunUso?: boolean;
  /**
   * How often the watchdog looks at the host TUN, its addresses and routes (checkHostPort) and at
   * the pods' interfaces (checkPods), in ms; 0 = never. Default 10 000.
   */
  hostCheckMs?: number;
}

/** Peers (by name) and static routes (by destination) a config change added, replaced and removed. */
export interface TableChanges {
  peers: { added: string[]; replaced: string[]; removed: string[] };
  routes: { added: string[]; replaced: string[]; removed: string[] };
  /** Removals made through the socket that the config overrode ("peer n3"): it changed or dropped what they removed. */
  superseded: string[];
}

/** What Router.reload changed, and the fields that wait for a restart. */
export interface ReloadResult extends TableChanges { restartNeeded: string[] }

/** "peers added n2; routes removed 10.1.0.0/16": the non-empty parts, or "". */
export function describeChanges(c: TableChanges): string {
  const part = (what: string, x: TableChanges["peers"]) =>
    (["added", "replaced", "removed"] as const).filter((k) => x[k].length).map((k) => `${what} ${k} ${x[k].join(" ")}`);
  return [...part("peers", c.peers), ...part("routes", c.routes),
    ...(c.superseded.length ? [`the config changed what these removals removed, its own taken: ${c.superseded.join(", ")}`] : [])].join("; ");
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class Router {
  private currentConfig: NodeConfig;
  /** The node config: as given, with peers and routes as of the last reload. */
  get config(): NodeConfig { return this.currentConfig; }
  readonly tables: NodeTables;
  readonly datapath: Datapath;
  private readonly attachments = new Map<string, Attachment>();
  private readonly staticRoutes = new Map<string, P.AddRouteArgs["target"]>();
  /** The config's static routes (dst → target), the base that routeChanges are recorded against. */
  private readonly configRoutes = new Map<string, P.AddRouteArgs["target"]>();
  /** Peer changes made at run time over the config's, by name (kept in control.stateFile). */
  private readonly peerChanges = new Map<string, { set: PeerConfig } | { removed: PeerConfig }>();
  /** Static route changes made at run time over the config's, by dst (kept in control.stateFile). */
  private readonly routeChanges = new Map<string, { set: P.AddRouteArgs["target"] } | { removed: P.AddRouteArgs["target"] }>();
  private hostTun?: TunDevice;
  private hostQueues: TunDevice[] = [];
  private hostOffload: TunOffloadState = "none";
  /**
   * The USO probe's answer: undefined until a device was tried, false after the kernel refused
   * TUN_F_USO4|TUN_F_USO6 (EINVAL before Linux 6.2; not asked again), true once it accepted them.
   */
  private tunUso?: boolean;
  /** Data-plane workers (config.workers > 1), from start() to stop(). */
  private pool?: WorkerPool;
  private stopping = false;
  /** Routes installed on the host TUN (CIDR text), to remove the ones that no longer apply. */
  private readonly hostRoutes = new Set<string>();
  private underlay?: Underlay;
  private underlays: Underlay[] = [];
  private started = false;
  private startedAt = 0;
  /** Writes of control.stateFile that failed after an attach or detach (logged each time). */
  private stateWriteFailures = 0;
  /** Host TUNs opened again and host routes put back by checkHostPort. */
  private hostRepairs = 0;
  /** Pods found without their interface by checkPods. */
  private podDevicesGone = 0;
  private hostCheckTimer?: ReturnType<typeof setInterval>;
  private readonly log: (msg: string) => void;
  private services: { close(): Promise<void> }[] = [];
  private readonly onFatal?: (e: Error) => void;
  private readonly refuseTunUso: boolean;
  private readonly hostCheckMs: number;

  constructor(config: NodeConfig, opts: RouterOptions = {}) {
    this.currentConfig = config;
    this.onFatal = opts.onFatal;
    this.refuseTunUso = opts.refuseTunUso ?? false;
    this.hostCheckMs = opts.hostCheckMs ?? 10_000;
    this.log = opts.log ?? ((m) => process.stderr.write(`weft[${config.name}]: ${m}\n`));
    this.tables = NodeTables.create(config);
    this.datapath = new Datapath(this.tables.dp);
    for (const r of config.routes) this.configRoutes.set(parseCidr(r.dst).text, viaToTarget(r.via));
    for (const [dst, t] of this.configRoutes) this.staticRoutes.set(dst, t);
  }

  get running(): boolean { return this.started; }
  private get netns(): string | undefined { return this.config.netns; }
  private get nsPath(): string | undefined {
    const n = this.config.netns;
    return n === undefined ? undefined : n.includes("/") ? n : `/var/run/netns/${n}`;
  }

  /** Opens the host TUN and the underlay and starts moving packets. Undone entirely on failure. */
  async start(): Promise<void> {
    if (this.started) return;
    const undo: (() => void | Promise<void>)[] = [];
    const c = this.config;
    try {
      // The epoll loop blocks its thread, so it always runs in workers (one with workers: 1).
      if (c.workers > 1 || c.datapath?.loop === "epoll" || c.datapath?.loop === "native") {
        this.stopping = false;
        const pool = await WorkerPool.start({
          count: c.workers, limits: this.dataplaneLimits(), snapshot: () => this.tables.fanout.mirror.snapshot(),
          epoll: c.datapath?.loop === "epoll" || c.datapath?.loop === "native"
            ? { spinUs: c.datapath.spinUs, native: c.datapath.loop === "native", runtime: c.datapath.runtime } : undefined,
          onFailure: (worker, e) => this.workerFailed(worker, e),
        });
        this.pool = pool;
        for (const w of pool.workers) this.tables.fanout.addReplica(w);
        undo.push(() => this.closePool());
      }
      this.openHostPort();
      undo.push(() => this.closeHostPort());
      // One receive socket per worker on the same port (SO_REUSEPORT): the kernel hashes the
      // 4-tuple, so the datagrams of one tunnel flow (one outer source port) reach one worker.
      const reusePort = c.workers > 1;
      undo.push(() => { this.removePortQueues(PORT_UNDERLAY); for (const u of this.underlays) u.close(); this.underlays = []; this.underlay = undefined; });
      for (let i = 0; i < c.workers; i++) {
        // With workers the GSO sender of underlay 0 is the start-up probe; each worker opens its own.
        this.underlays.push(openUnderlay({ port: c.port, ipv4: c.underlay.ipv4 ?? false, ipv6: c.underlay.ipv6 ?? false, netns: this.nsPath, reusePort,
          udpGso: c.offloads.udpGso && i === 0, udpGro: c.offloads.udpGro,
        }));
      }
      this.underlay = this.underlays[0];
      const udp = this.underlay!.udpOffloads?.();
      for (const [name, o] of Object.entries(udp ?? {})) if (o.requested) this.log(`underlay UDP ${name.toUpperCase()}: ${o.active ? "on" : `off (${o.reason})`}`);
      // The kernel verified the UDP checksum of every datagram a UDP socket hands us.
      this.addPortQueues(PORT_UNDERLAY, this.underlays, "underlay", RX_FLAG_CSUM_VERIFIED);
      if (this.pool) this.pool.startAll();
      else this.datapath.start();
      undo.push(() => { for (const a of [...this.attachments.values()]) { try { this.removeAttachment(a); } catch { /* best effort */ } } });
      this.restoreState();
      this.started = true;
      this.startedAt = Date.now();
      const every = this.hostCheckMs;
      if (every > 0) {
        this.hostCheckTimer = setInterval(() => {
          try { this.checkHostPort(); } catch (e) { this.log(`host port check: ${(e as Error).message}`); }
          this.checkPods();
        }, every);
        this.hostCheckTimer.unref();
      }
      this.log(`started: ${c.encapsulation} port ${c.port} vni ${c.vni}, pod CIDRs ${c.podCIDRs.join(" ")}, ${this.tables.peers.size} peers` +
        (this.pool ? `, ${this.pool.size} data-plane workers` : "") + (this.attachments.size ? `, ${this.attachments.size} pods` : ""));
    } catch (e) {
      for (const u of undo.reverse()) { try { await u(); } catch { /* best effort */ } }
      throw e;
    }
  }

  /**
   * control.stateFile (host/router/router-state.ts): replays the peer and route changes made at
   * run time over the config's, then attaches again every pod the file records whose network
   * namespace still exists, then writes the file back with what holds now. An entry that cannot be
   * applied (a pod whose namespace is gone, its interface name taken, its address now outside the
   * pod CIDR; a peer that conflicts with the config's; a route via a peer no longer there) is
   * dropped with a log line; an unwritable file or one of another node fails the start.
   */
  private restoreState(): void {
    const file = this.config.control.stateFile;
    if (!file) return;
    // Before version 2 the file was "<name>.pods.json": read it once, then it is replaced.
    const legacy = file.endsWith(".state.json") ? `${file.slice(0, -".state.json".length)}.pods.json` : undefined;
    const fromLegacy = legacy !== undefined && !existsSync(file) && existsSync(legacy);
    const st = loadRouterState(fromLegacy ? legacy : file, this.config.name);
    if (fromLegacy) this.log(`state: read ${legacy} (the state file's name before version 2); ${file} from now on`);
    if (st.movedAside) this.log(`state: ${st.movedAside}`);
    for (const s of st.skipped) this.log(`state: ${s}: skipped`);
    for (const p of st.peersRemoved) this.peerChanges.set(p.name, { removed: p });
    for (const p of st.peersSet) this.peerChanges.set(p.name, { set: p });
    for (const r of st.routesRemoved) this.routeChanges.set(r.dst, { removed: r.target });
    for (const r of st.routesSet) this.routeChanges.set(r.dst, { set: r.target });
    if (this.peerChanges.size || this.routeChanges.size) {
      // One that cannot be applied is dropped with its line; the others stand.
      const done = this.applyConfig(this.config, (what, e) => this.log(`state: ${what}: ${e.message}; dropped`));
      this.log(`state: ${describeChanges(done) || "peers and routes as the config has them"}`);
    }
    for (const p of st.pods) {
      const key = this.key(p.containerId, p.ifName);
      if (!netnsExists(p.netns)) { this.log(`state: pod ${key}: netns ${p.netns} is gone; dropped`); continue; }
      // A path like /proc/<pid>/ns/net outlives its pod when the pid is reused: same path, another namespace.
      if (p.netnsInode !== undefined && netnsInode(p.netns) !== p.netnsInode) { this.log(`state: pod ${key}: ${p.netns} is another namespace now; dropped`); continue; }
      try {
        this.attach({ containerId: p.containerId, ifName: p.ifName, netns: p.netns, ipv4: p.ipv4, ipv6: p.ipv6, mtu: Math.min(p.mtu, this.config.mtu.pod), network: p.network }, p.mac);
        this.log(`state: pod ${key}: restored in ${p.netns}`);
      } catch (e) {
        this.log(`state: pod ${key}: ${(e as Error).message}; dropped`);
      }
    }
    this.saveState();
    if (fromLegacy) rmSync(legacy, { force: true });
  }

  /** What control.stateFile records now. */
  private currentState(): RouterState {
    const st: RouterState = { pods: [], peersSet: [], peersRemoved: [], routesSet: [], routesRemoved: [] };
    for (const a of this.attachments.values()) {
      st.pods.push({ containerId: a.containerId, ifName: a.ifName, netns: a.netns, ipv4: a.ipv4, ipv6: a.ipv6, mtu: a.mtu, mac: a.mac, network: a.network, netnsInode: a.netnsInode });
    }
    for (const c of this.peerChanges.values()) { if ("set" in c) st.peersSet.push(c.set); else st.peersRemoved.push(c.removed); }
    for (const [dst, c] of this.routeChanges) {
      if ("set" in c) st.routesSet.push({ dst, target: c.set } as SavedRoute);
      else st.routesRemoved.push({ dst, target: c.removed } as SavedRoute);
    }
    return st;
  }

  /** Writes control.stateFile (when configured); throws RouterStateError. */
  private saveState(): void {
    const file = this.config.control.stateFile;
    if (!file) return;
    saveRouterState(file, this.config.name, this.currentState());
  }

  /** After a change: the state file follows; when it cannot, the change stands and the failure is logged and counted. */
  private saveStateAfterChange(what: string): void {
    try {
      this.saveState();
    } catch (e) {
      this.stateWriteFailures++;
      this.log(`${what}: ${(e as Error).message} (it will not be restored after a restart)`);
    }
  }

  private dataplaneLimits() {
    return { ...this.config.limits, offload: this.config.offloads.tun ? {} : undefined };
  }

  /** Gives a port's queues to the data path: the one local Datapath, or queue i to worker i. */
  private addPortQueues(port: number, queues: (TunDevice | Underlay)[], name: string, rxFlags = 0, offload?: OffloadPort): void {
    if (!this.pool) { this.datapath.addPort(port, queues[0]!, name, rxFlags, offload); return; }
    // A worker's underlay queue sends with a GSO sender of its own when the start-up probe said yes.
    const gsoOn = port === PORT_UNDERLAY && !!this.underlay?.udpOffloads?.().gso.active;
    const gso = gsoOn ? { netns: this.nsPath ?? "", sndbuf: 8 << 20, mark: 0 } : undefined;
    this.pool.addPort(port, queues.map((q) => queueOf(q, gso)), name, rxFlags, offload);
  }

  /** After this returns no data path uses the port's fds any more: they may be closed. */
  private removePortQueues(port: number): void {
    this.datapath.removePort(port);
    this.pool?.removePort(port);
  }

  private async closePool(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.stopping = true;
    this.pool = undefined;
    for (const w of pool.workers) this.tables.fanout.removeReplica(w.name);
    await pool.close();
  }

  /** A worker died or stopped answering: report it and stop the whole router cleanly. */
  private workerFailed(worker: string, e: Error): void {
    if (this.stopping) return;
    this.log(`data-plane ${e.message}; stopping the router`);
    queueMicrotask(() => {
      if (this.stopping) return;
      this.tables.fanout.removeReplica(worker);
      this.stop().then(() => this.onFatal?.(e), (e2) => { this.log(`stop after worker failure: ${(e2 as Error).message}`); this.onFatal?.(e); });
    });
  }

  private openHostPort(): void {
    const c = this.config;
    const { devs, offload, state } = this.openDevice("tun", c.hostInterface, this.nsPath);
    const tun = devs[0]!;
    this.hostTun = tun;
    this.hostOffload = state;
    this.hostQueues = devs;
    const cmds = [`link set dev ${tun.name} mtu ${c.mtu.host} up`];
    if (c.gateway4) cmds.push(`addr add ${c.gateway4}/32 dev ${tun.name}`);
    if (c.gateway6) cmds.push(`addr add ${c.gateway6}/128 dev ${tun.name} nodad`);
    for (const dst of this.hostRouteCidrs()) {
      const fam = ipFamily(dst.split("/")[0]!);
      const src = fam === 4 ? c.gateway4 : c.gateway6;
      if (!src) continue;
      cmds.push(`route replace ${dst} dev ${tun.name} src ${src}`);
      this.hostRoutes.add(dst);
    }
    try {
      ipBatch(this.netns, cmds);
      this.addPortQueues(PORT_HOST, devs, "host", 0, offload);
    } catch (e) {
      this.hostRoutes.clear();
      for (const q of devs) q.close();
      this.hostTun = undefined;
      this.hostQueues = [];
      throw e;
    }
  }

  /**
   * Takes the host port off the data path and closes its queues. Closing a non-persistent TUN
   * deletes the device, and with it its addresses and routes.
   */
  private closeHostPort(): void {
    this.removePortQueues(PORT_HOST);
    for (const q of this.hostQueues) q.close();
    this.hostQueues = [];
    this.hostTun = undefined;
    this.hostRoutes.clear();
  }

  /** Cluster CIDRs if configured, else our pod CIDRs and every peer's. */
  private hostRouteCidrs(): string[] {
    const c = this.config;
    if (c.clusterCIDRs.length) return c.clusterCIDRs;
    return [...c.podCIDRs, ...[...this.tables.peers.values()].flatMap((p) => p.podCIDRs)];
  }

  /**
   * The host port's watchdog (every RouterOptions.hostCheckMs while started): the host TUN and its
   * routes are the router's, but anything on the node may remove them (an administrator, a
   * network manager that flushes routes it does not know on restart). A TUN that is gone is
   * opened again with its addresses and routes; missing addresses and routes are put back. Each
   * repair is logged and counted (router.host_repairs). Returns what it repaired.
   */
  checkHostPort(): string[] {
    if (!this.started || !this.hostTun) return [];
    const c = this.config;
    const name = this.hostTun.name;
    if (!linkExists(this.netns, name)) {
      this.log(`host port: ${name} is gone; opening it again`);
      this.closeHostPort();
      this.openHostPort();
      this.hostRepairs++;
      return [`interface ${name}`];
    }
    const canon = (dst: string, fam: 4 | 6) => parseCidr(dst.includes("/") ? dst : `${dst}/${fam === 4 ? 32 : 128}`).text;
    const addrs = new Set<string>();
    for (const a of JSON.parse(ip(this.netns, ["-j", "addr", "show", "dev", name]) || "[]") as { addr_info?: { local: string }[] }[])
      for (const i of a.addr_info ?? []) addrs.add(formatIpText(i.local));
    const routes = new Set<string>();
    for (const fam of [4, 6] as const)
      for (const r of JSON.parse(ip(this.netns, [`-${fam}`, "-j", "route", "show", "dev", name]) || "[]") as { dst: string }[])
        if (r.dst !== "default") routes.add(canon(r.dst, fam));
    const cmds: string[] = [];
    const fixed: string[] = [];
    if (c.gateway4 && !addrs.has(formatIpText(c.gateway4))) { cmds.push(`addr add ${c.gateway4}/32 dev ${name}`); fixed.push(`address ${c.gateway4}`); }
    if (c.gateway6 && !addrs.has(formatIpText(c.gateway6))) { cmds.push(`addr add ${c.gateway6}/128 dev ${name} nodad`); fixed.push(`address ${c.gateway6}`); }
    for (const dst of this.hostRoutes) {
      const fam = ipFamily(dst.split("/")[0]!);
      if (routes.has(canon(dst, fam))) continue;
      cmds.push(`route replace ${dst} dev ${name} src ${fam === 4 ? c.gateway4 : c.gateway6}`);
      fixed.push(`route ${dst}`);
    }
    if (cmds.length === 0) return [];
    this.log(`host port: ${fixed.join(", ")} missing on ${name}; putting back`);
    ipBatch(this.netns, cmds);
    this.hostRepairs += fixed.length;
    return fixed;
  }

  /**
   * Pods whose TAP is gone (deleted under the router, e.g. by a runtime that tore the pod down
   * without a CNI DEL; TUNGETIFF on its fd answers EBADFD): marked (`deviceGone` in listPods),
   * logged once and counted (router.pod_devices_gone); their traffic is dropped until detachPod.
   * Runs with the host port's watchdog; returns the keys it newly found.
   */
  checkPods(): string[] {
    const found: string[] = [];
    if (!this.started) return found;
    for (const a of this.attachments.values()) {
      if (a.deviceGone || !(a.tap instanceof LinuxTunDevice)) continue;
      let attached = true;
      try { attached = loadNative().tunAttached(a.tap.fd); } catch { continue; }
      if (attached) continue;
      a.deviceGone = true;
      this.podDevicesGone++;
      found.push(a.key);
      this.log(`pod ${a.key}: its interface ${a.ifName} in ${a.netns} is gone (deleted under the router); its traffic is dropped until it is detached`);
    }
    return found;
  }

  /** Stops the data path and removes every interface and route the router made. */
  async stop(): Promise<void> {
    if (this.hostCheckTimer) clearInterval(this.hostCheckTimer);
    this.hostCheckTimer = undefined;
    this.datapath.stop();
    // Workers first: once they are gone nothing but this thread touches the fds.
    await this.closePool();
    for (const s of this.services.splice(0)) { try { await s.close(); } catch { /* ignore */ } }
    for (const a of [...this.attachments.values()]) {
      try { this.removeAttachment(a); } catch (e) { this.log(`stop: detach ${a.key}: ${(e as Error).message}`); }
    }
    this.datapath.removePort(PORT_UNDERLAY);
    for (const u of this.underlays) u.close();
    this.underlays = [];
    this.underlay = undefined;
    this.closeHostPort();
    if (this.started) this.log("stopped");
    this.started = false;
  }

  /**
   * Opens a TAP (pod) or TUN (host port). With offloads on, IFF_VNET_HDR and TUNSETOFFLOAD
   * (CSUM, TSO4, TSO6, TSO_ECN, plus USO4|USO6 unless the kernel refused them before; never UFO)
   * are tried first. The kernel rejects unknown TUN_F bits with EINVAL as a whole (tun.c
   * set_offload before 6.2), so EINVAL with USO is retried without it, once, and USO is not
   * asked for again; a kernel that refuses TSO too gets a plain device (the fallback the offloads
   * issue asks for). All queues of a device get the same flags.
   */
  private openDevice(kind: "tap" | "tun", name: string, netns: string | undefined): { devs: TunDevice[]; offload?: OffloadPort; state: TunOffloadState } {
    if (this.config.offloads.tun && this.tables.dp.offload) {
      try {
        const n = loadNative();
        const tso = n.TUN_F.CSUM! | n.TUN_F.TSO4! | n.TUN_F.TSO6! | n.TUN_F.TSO_ECN!;
        const uso = n.TUN_F.USO4! | n.TUN_F.USO6!;
        let withUso = this.tunUso !== false;
        const devs = this.openQueues(kind, name, netns, true, (d) => {
          const fd = (d as unknown as { fd: number }).fd;
          if (withUso) {
            try {
              if (this.refuseTunUso) throw Object.assign(new Error("EINVAL: Invalid argument, ioctl TUNSETOFFLOAD (refuseTunUso)"), { code: "EINVAL" });
              n.tunSetOffload(fd, tso | uso);
              if (this.tunUso === undefined) this.log(`TUN/TAP USO (UDP segmentation offload): on`);
              this.tunUso = true;
              return;
            } catch (e) {
              if ((e as { code?: string }).code !== "EINVAL") throw e;
              withUso = false;
              if (this.tunUso !== false) this.log(`TUN/TAP USO (UDP segmentation offload): off (kernel refused TUN_F_USO4|TUN_F_USO6: ${(e as Error).message}); TSO only`);
              this.tunUso = false;
            }
          }
          n.tunSetOffload(fd, tso);
        });
        return { devs, offload: { l3Off: kind === "tap" ? 14 : 0 }, state: withUso ? "uso" : "tso" };
      } catch (e) {
        this.log(`${kind} ${name}: offloads refused (${(e as Error).message}); plain packets`);
      }
    }
    return { devs: this.openQueues(kind, name, netns, false), state: "none" };
  }

  /**
   * One fd per data-plane worker: with workers > 1 the device is IFF_MULTI_QUEUE and each open
   * of its name attaches one more queue (the kernel keeps a flow on one queue). All or none.
   */
  private openQueues(kind: "tap" | "tun", name: string, netns: string | undefined, vnetHdr: boolean, setup?: (d: TunDevice) => void): TunDevice[] {
    const n = this.config.workers;
    const devs: TunDevice[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const d = openTun({ kind, name: i === 0 ? name : devs[0]!.name, netns, vnetHdr: vnetHdr || undefined, multiQueue: n > 1 || undefined });
        devs.push(d);
        setup?.(d);
      }
    } catch (e) {
      for (const d of devs) d.close();
      throw e;
    }
    return devs;
  }

  /** Registers something to close on stop (control server, metrics). */
  addService(s: { close(): Promise<void> }): void { this.services.push(s); }

  // ---- pods ---------------------------------------------------------------------------------

  private key(containerId: string, ifName: string): string { return `${containerId}/${ifName}`; }

  attachPod(args: P.AttachPodArgs): P.AttachPodResult {
    const before = this.attachments.size;
    const r = this.attach(args);
    if (this.attachments.size !== before) this.saveStateAfterChange(`attach ${this.key(args.containerId, args.ifName)}`);
    return r;
  }

  /** attachPod; `restoreMac`: the MAC a restored pod had (router-state.ts), else a random one. */
  private attach(args: P.AttachPodArgs, restoreMac?: string): P.AttachPodResult {
    const c = this.config;
    if (!args.containerId || !args.ifName || !args.netns) throw new RouterOpError("BAD_REQUEST", "containerId, ifName and netns are required");
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(args.ifName)) throw new RouterOpError("BAD_REQUEST", `ifName ${JSON.stringify(args.ifName)} is not a valid interface name`);
    const key = this.key(args.containerId, args.ifName);
    const ipv4 = args.ipv4?.split("/")[0];
    const ipv6 = args.ipv6?.split("/")[0];
    if (!ipv4 && !ipv6) throw new RouterOpError("BAD_REQUEST", "ipv4 and/or ipv6 required");
    try {
      if (ipv4 && parseIp(ipv4).length !== 4) throw new Error(`ipv4 ${ipv4}`);
      if (ipv6 && parseIp(ipv6).length !== 16) throw new Error(`ipv6 ${ipv6}`);
    } catch (e) { throw new RouterOpError("BAD_REQUEST", `bad address: ${(e as Error).message}`); }
    if (ipv4 && !c.gateway4) throw new RouterOpError("BAD_REQUEST", "this node has no IPv4 pod CIDR");
    if (ipv6 && !c.gateway6) throw new RouterOpError("BAD_REQUEST", "this node has no IPv6 pod CIDR");
    const existing = this.attachments.get(key);
    if (existing) {
      if (existing.netns === args.netns && existing.ipv4?.split("/")[0] === ipv4 && existing.ipv6?.split("/")[0] === ipv6) return this.resultOf(existing);
      throw new RouterOpError("CONFLICT", `${key} is attached with other addresses or netns`);
    }
    for (const a of this.attachments.values()) {
      if ((ipv4 && a.ipv4?.split("/")[0] === ipv4) || (ipv6 && a.ipv6?.split("/")[0] === ipv6)) throw new RouterOpError("CONFLICT", `address already attached to ${a.key}`);
    }
    if (!netnsExists(args.netns)) throw new RouterOpError("NETNS_NOT_FOUND", `netns ${args.netns} does not exist`);
    if (linkExists(args.netns, args.ifName)) throw new RouterOpError("IF_EXISTS", `${args.ifName} already exists in ${args.netns}`);
    const mtu = args.mtu ?? c.mtu.pod;
    if (mtu > c.mtu.pod || mtu < 576) throw new RouterOpError("BAD_REQUEST", `mtu ${mtu} outside 576..${c.mtu.pod}`);

    const mac = restoreMac ?? formatMac(randomMac((n) => randomBytes(n)));
    const tapName = args.ifName;
    const undo: (() => void)[] = [];
    try {
      // The TAP is created right inside the pod's namespace under its final name (the native
      // layer enters the namespace for the open): no move, no rename. Its fd stays with us.
      const { devs: taps, offload, state } = this.openDevice("tap", tapName, args.netns.includes("/") ? args.netns : `/var/run/netns/${args.netns}`);
      const tap = taps[0]!;
      undo.push(() => { for (const t of taps) t.close(); }); // closing the last fd deletes the device, wherever it is
      const cmds = [
        `link set dev ${args.ifName} address ${mac} mtu ${mtu}`,
        `link set dev ${args.ifName} up`,
      ];
      const routes: P.PodRoute[] = [];
      if (ipv4) {
        cmds.push(`addr add ${ipv4}/32 dev ${args.ifName}`, `route add ${c.gateway4}/32 dev ${args.ifName} scope link`, `route add default via ${c.gateway4} dev ${args.ifName}`);
        routes.push({ dst: "0.0.0.0/0", gw: c.gateway4 });
      }
      if (ipv6) {
        cmds.push(`addr add ${ipv6}/128 dev ${args.ifName} nodad`, `route add ${c.gateway6}/128 dev ${args.ifName}`, `route add default via ${c.gateway6} dev ${args.ifName}`);
        routes.push({ dst: "::/0", gw: c.gateway6 });
      }
      ipBatch(args.netns, cmds);
      const pod = this.tables.attachPod({ name: key, mac, ipv4, ipv6 });
      undo.push(() => this.tables.detachPod(key));
      this.addPortQueues(pod.port, taps, `pod:${key}`, 0, offload);
      const a: Attachment = {
        containerId: args.containerId, ifName: args.ifName, netns: args.netns, network: args.network,
        ipv4: ipv4 ? `${ipv4}/32` : undefined, ipv6: ipv6 ? `${ipv6}/128` : undefined, mac, port: pod.port, tap, taps, tapName, key, mtu, offload: state,
        netnsInode: netnsInode(args.netns),
      };
      this.attachments.set(key, a);
      void routes;
      return this.resultOf(a);
    } catch (e) {
      for (const u of undo.reverse()) { try { u(); } catch { /* best effort */ } }
      if (e instanceof RouterOpError) throw e;
      if (e instanceof TableError) throw new RouterOpError("CONFLICT", e.message);
      throw new RouterOpError("INTERNAL", `attach ${key}: ${(e as Error).message}`);
    }
  }

  private resultOf(a: Attachment): P.AttachPodResult {
    const c = this.config;
    const routes: P.PodRoute[] = [];
    if (a.ipv4) routes.push({ dst: "0.0.0.0/0", gw: c.gateway4 });
    if (a.ipv6) routes.push({ dst: "::/0", gw: c.gateway6 });
    return { hostIfName: "", mac: a.mac, mtu: a.mtu, sandbox: a.netns, gateway4: a.ipv4 ? c.gateway4 : undefined, gateway6: a.ipv6 ? c.gateway6 : undefined, routes };
  }

  private removeAttachment(a: Attachment): void {
    this.removePortQueues(a.port);
    this.tables.detachPod(a.key);
    // Closing the TAP fds deletes the device, inside the pod's namespace too.
    for (const t of a.taps) t.close();
    this.attachments.delete(a.key);
  }

  detachPod(args: P.DetachPodArgs): P.DetachPodResult {
    const a = this.attachments.get(this.key(args.containerId, args.ifName));
    if (!a) return { existed: false };
    this.removeAttachment(a);
    this.saveStateAfterChange(`detach ${a.key}`);
    return { existed: true };
  }

  listPods(): P.ListPodsResult {
    return { pods: [...this.attachments.values()].map(({ tap: _t, taps: _q, tapName: _n, key: _k, mtu: _m, netnsInode: _i, ...rest }) => rest) };
  }

  // ---- peers and routes ----------------------------------------------------------------------

  addPeer(p: P.AddPeerArgs): P.AddPeerResult {
    let peer: PeerConfig;
    try { peer = parsePeer(p, "peer."); } catch (e) { throw new RouterOpError("BAD_REQUEST", (e as Error).message); }
    const created = !this.tables.peers.has(peer.name);
    try { this.setPeer(peer); } catch (e) { throw new RouterOpError("CONFLICT", (e as Error).message); }
    this.refreshHostRoutes();
    this.peerChanges.set(peer.name, { set: peer });
    this.saveStateAfterChange(`add peer ${peer.name}`);
    return { created };
  }

  removePeer(args: P.RemovePeerArgs): P.RemovePeerResult {
    const existed = this.deletePeer(args.name);
    if (existed) {
      this.refreshHostRoutes();
      const fromConfig = this.config.peers.find((c) => c.name === args.name);
      if (fromConfig) this.peerChanges.set(args.name, { removed: fromConfig });
      else this.peerChanges.delete(args.name);
      this.saveStateAfterChange(`remove peer ${args.name}`);
    }
    return { existed };
  }

  /** Adds or replaces a peer in the tables; its static routes follow. Throws TableError on a conflict. */
  private setPeer(peer: PeerConfig): void {
    this.tables.addPeer(peer);
    this.reapplyStaticRoutes(peer.name);
  }

  private deletePeer(name: string): boolean {
    const existed = this.tables.removePeer(name);
    if (existed) this.reapplyStaticRoutes(name);
    return existed;
  }

  /**
   * Static routes via `peer` follow it: re-pointed at its new table slot when it is replaced,
   * and blackholed while it is absent (never left pointing at a slot another peer may reuse).
   */
  private reapplyStaticRoutes(peer: string): void {
    for (const [dst, t] of this.staticRoutes) {
      if (t.kind !== "peer" || t.peer !== peer) continue;
      this.tables.addRoute({ dst, via: this.tables.peers.has(peer) ? `peer:${peer}` : "blackhole" });
    }
  }

  /** Without cluster CIDRs the host routes follow the peers: add new pod CIDRs, remove gone ones. */
  private refreshHostRoutes(): void {
    if (!this.hostTun || this.config.clusterCIDRs.length) return;
    const c = this.config;
    const want = new Set(this.hostRouteCidrs());
    const cmds: string[] = [];
    for (const dst of this.hostRoutes) if (!want.has(dst)) { cmds.push(`route del ${dst} dev ${this.hostTun.name}`); this.hostRoutes.delete(dst); }
    for (const dst of want) {
      const fam = ipFamily(dst.split("/")[0]!);
      const src = fam === 4 ? c.gateway4 : c.gateway6;
      if (src && !this.hostRoutes.has(dst)) { cmds.push(`route replace ${dst} dev ${this.hostTun.name} src ${src}`); this.hostRoutes.add(dst); }
    }
    try { ipBatch(this.netns, cmds); } catch (e) { this.log(`host routes: ${(e as NetlinkError).message}`); }
  }

  addRoute(args: P.AddRouteArgs): P.AddRouteResult {
    let dst: string;
    try { dst = parseCidr(args.dst).text; } catch (e) { throw new RouterOpError("BAD_REQUEST", `dst: ${(e as Error).message}`); }
    const given = args.target;
    if (given.kind === "peer" && !this.tables.peers.has(given.peer)) throw new RouterOpError("NOT_FOUND", `no peer ${given.peer}`);
    if (given.kind !== "peer" && given.kind !== "host" && given.kind !== "blackhole") throw new RouterOpError("BAD_REQUEST", `target kind ${(given as { kind: string }).kind} cannot be added`);
    const t: P.AddRouteArgs["target"] = given.kind === "peer" ? { kind: "peer", peer: given.peer } : { kind: given.kind };
    const same = sameJson(this.staticRoutes.get(dst), t);
    this.setStaticRoute(dst, t);
    this.routeChanges.set(dst, { set: t });
    this.saveStateAfterChange(`add route ${dst}`);
    return { created: !same };
  }

  removeRoute(args: P.RemoveRouteArgs): P.RemoveRouteResult {
    let dst: string;
    try { dst = parseCidr(args.dst).text; } catch (e) { throw new RouterOpError("BAD_REQUEST", `dst: ${(e as Error).message}`); }
    if (!this.staticRoutes.has(dst)) return { existed: false };
    this.removeStaticRoute(dst);
    const fromConfig = this.configRoutes.get(dst);
    if (fromConfig) this.routeChanges.set(dst, { removed: fromConfig });
    else this.routeChanges.delete(dst);
    this.saveStateAfterChange(`remove route ${dst}`);
    return { existed: true };
  }

  /** Sets a static route; one via a peer that is absent is blackholed until it comes (reapplyStaticRoutes). */
  private setStaticRoute(dst: string, t: P.AddRouteArgs["target"]): void {
    const via = t.kind === "peer" ? (this.tables.peers.has(t.peer) ? (`peer:${t.peer}` as const) : "blackhole") : t.kind;
    this.tables.addRoute({ dst, via });
    this.staticRoutes.set(dst, t);
  }

  /**
   * Takes the peers and static routes of `next` (the node config read again, on SIGHUP) while
   * running: the changes made through the control socket stay on top of them, as at a start
   * (router-state.ts); a removal of a config entry is kept only while `next` has that entry
   * unchanged. All of it is applied or, when one table change fails, none (rolled back, and
   * the error thrown). Other fields that differ take effect at the next start: named in
   * `restartNeeded`, nothing else of them is touched. A config of another node is refused.
   */
  reload(next: NodeConfig): ReloadResult {
    if (next.name !== this.config.name) throw new RouterOpError("BAD_REQUEST", `name: the config is for node ${next.name}, this router is ${this.config.name}`);
    const cur = this.config as unknown as Record<string, unknown>, nxt = next as unknown as Record<string, unknown>;
    const restartNeeded = [...new Set([...Object.keys(cur), ...Object.keys(nxt)])]
      .filter((k) => k !== "peers" && k !== "routes" && !sameJson(cur[k], nxt[k])).sort();
    let done: TableChanges;
    try {
      done = this.applyConfig(next);
    } catch (e) {
      throw new RouterOpError("CONFLICT", `reload: ${(e as Error).message}; nothing changed`);
    }
    this.saveStateAfterChange("reload");
    return { ...done, restartNeeded };
  }

  /**
   * Makes the tables hold `config`'s peers and static routes with the control socket's changes
   * (peerChanges, routeChanges) on top; a removal of a config entry stands only while `config`
   * has that entry unchanged (else the record goes: the config's word is the newer). Only what
   * differs is touched. With `skip`, an entry whose table change fails is reported to it, its
   * change record dropped, and the rest applied; without, the first failure rolls back every
   * change made and is thrown, and nothing of `config` is taken. On success `config`'s peers and
   * routes become the base.
   */
  private applyConfig(config: NodeConfig, skip?: (what: string, e: Error) => void): TableChanges {
    const peerChanges = new Map(this.peerChanges), routeChanges = new Map(this.routeChanges);
    const superseded: string[] = [];
    const wantPeers = new Map(config.peers.map((p) => [p.name, p]));
    for (const [name, ch] of peerChanges) {
      if ("set" in ch) wantPeers.set(name, ch.set);
      else if (sameJson(wantPeers.get(name), ch.removed)) wantPeers.delete(name);
      else { peerChanges.delete(name); superseded.push(`peer ${name}`); }
    }
    const configRoutes = new Map(config.routes.map((r) => [parseCidr(r.dst).text, viaToTarget(r.via)]));
    const wantRoutes = new Map(configRoutes);
    for (const [dst, ch] of routeChanges) {
      if ("set" in ch) wantRoutes.set(dst, ch.set);
      else if (sameJson(wantRoutes.get(dst), ch.removed)) wantRoutes.delete(dst);
      else { routeChanges.delete(dst); superseded.push(`route ${dst}`); }
    }
    const done: TableChanges = { peers: { added: [], replaced: [], removed: [] }, routes: { added: [], replaced: [], removed: [] }, superseded };
    const undo: (() => void)[] = [];
    const step = (what: string, change: () => void, back: () => void, dropRecord: () => void): boolean => {
      try { change(); } catch (e) {
        if (!skip) throw e;
        skip(what, e as Error);
        dropRecord();
        return false;
      }
      undo.push(back);
      return true;
    };
    const plain = ({ name, underlay, vtepMac, podCIDRs }: PeerConfig): PeerConfig => ({ name, underlay, vtepMac, podCIDRs });
    try {
      for (const [name, had] of [...this.tables.peers]) {
        if (wantPeers.has(name)) continue;
        const old = plain(had);
        if (step(`peer ${name}`, () => this.deletePeer(name), () => this.setPeer(old), () => peerChanges.delete(name))) done.peers.removed.push(name);
      }
      for (const [name, p] of wantPeers) {
        const had = this.tables.peers.get(name);
        const old = had && plain(had);
        if (old && sameJson(old, p)) continue;
        if (step(`peer ${name}`, () => this.setPeer(p), () => { if (old) this.setPeer(old); else this.deletePeer(name); }, () => peerChanges.delete(name))) {
          (old ? done.peers.replaced : done.peers.added).push(name);
        }
      }
      for (const [dst, t] of [...this.staticRoutes]) {
        if (wantRoutes.has(dst)) continue;
        if (step(`route ${dst}`, () => this.removeStaticRoute(dst), () => this.setStaticRoute(dst, t), () => routeChanges.delete(dst))) done.routes.removed.push(dst);
      }
      for (const [dst, t] of wantRoutes) {
        const old = this.staticRoutes.get(dst);
        if (old && sameJson(old, t)) continue;
        if (step(`route ${dst}`, () => this.setStaticRoute(dst, t), () => { if (old) this.setStaticRoute(dst, old); else this.removeStaticRoute(dst); }, () => routeChanges.delete(dst))) {
          (old ? done.routes.replaced : done.routes.added).push(dst);
        }
      }
    } catch (e) {
      for (const u of undo.reverse()) { try { u(); } catch { /* best effort: the old state was valid */ } }
      throw e;
    }
    this.currentConfig = { ...this.config, peers: config.peers, routes: config.routes };
    const replace = <K, V>(m: Map<K, V>, by: Map<K, V>) => { m.clear(); for (const [k, v] of by) m.set(k, v); };
    replace(this.configRoutes, configRoutes);
    replace(this.peerChanges, peerChanges);
    replace(this.routeChanges, routeChanges);
    if (done.peers.added.length || done.peers.replaced.length || done.peers.removed.length) this.refreshHostRoutes();
    return done;
  }

  private removeStaticRoute(dst: string): void {
    this.tables.removeRoute(dst);
    this.staticRoutes.delete(dst);
  }

  routes(): P.RoutesResult {
    const out: P.RouteEntry[] = [];
    const c = this.config;
    if (c.gateway4) out.push({ dst: `${c.gateway4}/32`, target: { kind: "host" }, origin: "auto" });
    if (c.gateway6) out.push({ dst: `${c.gateway6}/128`, target: { kind: "host" }, origin: "auto" });
    for (const a of this.attachments.values()) {
      const target = { kind: "pod" as const, containerId: a.containerId, ifName: a.ifName };
      if (a.ipv4) out.push({ dst: a.ipv4, target, origin: "auto" });
      if (a.ipv6) out.push({ dst: a.ipv6, target, origin: "auto" });
    }
    for (const p of this.tables.peers.values()) for (const dst of p.podCIDRs) out.push({ dst, target: { kind: "peer", peer: p.name }, origin: "auto" });
    for (const [dst, target] of this.staticRoutes) out.push({ dst, target, origin: "static" });
    return { routes: out };
  }

  peers(): P.PeersResult {
    return { peers: [...this.tables.peers.values()].map(({ name, underlay, podCIDRs, vtepMac }) =>
      ({ name, underlay, podCIDRs, vtepMac, origin: this.peerChanges.has(name) ? "control" as const : "config" as const })) };
  }

  status(): P.StatusResult {
    const c = this.config;
    return {
      protocolVersion: 1, nodeName: c.name, uptimeSeconds: this.started ? Math.round((Date.now() - this.startedAt) / 1000) : 0,
      encapsulation: c.encapsulation, vni: c.vni, port: c.port, mtu: { underlay: c.underlay.mtu, pod: c.mtu.pod },
      podCIDRs: c.podCIDRs, clusterCIDRs: c.clusterCIDRs, gateway4: c.gateway4, gateway6: c.gateway6,
      counts: { pods: this.attachments.size, peers: this.tables.peers.size, routes: this.routes().routes.length },
      health: this.health(), ...(c.control.stateFile ? { stateFile: c.control.stateFile } : {}),
    };
  }

  /** The Wasm counters: of the one data plane, or summed over the workers. */
  dataplaneCounters(): Counters {
    return this.pool ? this.pool.counters() : this.tables.dp.counters();
  }

  /** The batch loop's statistics: of the one Datapath, or summed over the workers. */
  datapathStats(): DatapathStats {
    return this.pool ? this.pool.stats() : this.datapath.stats;
  }

  /**
   * Per worker, its batch loop's own statistics (datapath.loop "epoll" or "native"; none with
   * "libuv"): wake-ups, control wake-ups, reads that failed and, with "native", spin hits, sleeps.
   */
  loopStats(): { worker: number; stats: LoopStats }[] {
    if (!this.pool || (this.config.datapath?.loop ?? "libuv") === "libuv") return [];
    const out: { worker: number; stats: LoopStats }[] = [];
    for (const { worker, stats } of this.pool.perWorker((w) => ({ worker: w.index, stats: w.call({ type: "loopStats" }) })))
      if (stats) out.push({ worker, stats });
    return out;
  }

  /** The router's own events: host port repairs, pods found without their device, state file writes that failed (with a state file). */
  routerEvents(): Record<string, number> {
    return { ...(this.config.control.stateFile ? { state_write_failures: this.stateWriteFailures } : {}), host_repairs: this.hostRepairs, pod_devices_gone: this.podDevicesGone };
  }

  /**
   * Liveness for a probe (GET /healthz): the router runs, every data-plane worker answers a
   * request (a wedged or dead worker does not), and the host interface exists (the watchdog puts
   * it back when it does not). Pods whose device is gone are the pods' trouble, not the router's.
   */
  health(): { ok: boolean; problems: string[] } {
    const problems: string[] = [];
    if (!this.started) problems.push("not running");
    else {
      for (const w of this.pool?.workers ?? []) {
        try { w.call({ type: "loopStats" }); } catch (e) { problems.push(`data plane ${w.name}: ${(e as Error).message}`); }
      }
      if (this.hostTun && !linkExists(this.netns, this.hostTun.name)) problems.push(`host interface ${this.hostTun.name} is missing`);
    }
    return { ok: problems.length === 0, problems };
  }

  /** Where each data plane would send a packet to `addr` now: one entry per worker, or the one local. */
  lookups(addr: string): (RouteTarget | undefined)[] {
    if (!this.pool) return [this.tables.dp.lookup(addr)];
    return this.pool.perWorker((w) => w.call({ type: "lookup", addr }) ?? undefined);
  }

  /** Number of data-plane workers running (0: the batch loop runs on this thread). */
  get workerCount(): number { return this.pool?.size ?? 0; }

  /**
   * Flat counters: drop.<Reason>, event.<name>, port.<name>.<counter>, peer.<name>.<counter>,
   * datapath.<stat> (summed over the workers), io.<port>.errors / truncated / last_errno and
   * io.underlay.kernel_drops (ioErrorsByName), and with workers > 1 worker.<i>.packets_in,
   * worker.<i>.batches, worker.<i>.port.<name>.rx_packets / tx_packets; with datapath.loop "epoll"
   * worker.<i>.loop_wakeups (epoll_wait returns with something ready), loop_control_wakeups and
   * loop_read_failures (reads whose fd died, e.g. a pod's device deleted under the router: no
   * longer watched); with "native" also loop_spin_hits (datapath.spinUs: the spin before a sleep found packets, the sleep and its
   * wake-up saved) and loop_sleeps (blocking waits).
   */
  counters(): P.CountersResult {
    const k = this.dataplaneCounters();
    const out: Record<string, number> = {};
    for (const r of DROP_REASONS) if (r !== "None") out[`drop.${r}`] = Number(k.drops[r]);
    for (const e of EVENTS) out[`event.${e}`] = Number(k.events[e]);
    const names = this.portNamesForCounters();
    for (const [port, name] of names) {
      const pc = k.ports[port]!;
      out[`port.${name}.rx_packets`] = Number(pc.rxPackets); out[`port.${name}.rx_bytes`] = Number(pc.rxBytes);
      out[`port.${name}.tx_packets`] = Number(pc.txPackets); out[`port.${name}.tx_bytes`] = Number(pc.txBytes);
    }
    for (const p of this.tables.peers.values()) {
      const pc = k.peers[p.idx]!;
      out[`peer.${p.name}.rx_packets`] = Number(pc.rxPackets); out[`peer.${p.name}.rx_bytes`] = Number(pc.rxBytes);
      out[`peer.${p.name}.tx_packets`] = Number(pc.txPackets); out[`peer.${p.name}.tx_bytes`] = Number(pc.txBytes);
    }
    const s = this.datapathStats();
    if (this.pool) {
      // Per worker: how the load spread (a flow stays on one worker).
      const perWorker = this.pool.perWorker((w) => ({ i: w.index, k: w.call({ type: "counters" }), s: w.call({ type: "stats" }) }));
      for (const { worker: i, stats: ls } of this.loopStats()) {
        out[`worker.${i}.loop_wakeups`] = ls.wakeups; out[`worker.${i}.loop_control_wakeups`] = ls.controlWakeups;
        if (ls.readFailures !== undefined) out[`worker.${i}.loop_read_failures`] = ls.readFailures;
        if (ls.spinHits !== undefined) out[`worker.${i}.loop_spin_hits`] = ls.spinHits;
        if (ls.sleeps !== undefined) out[`worker.${i}.loop_sleeps`] = ls.sleeps;
      }
      for (const { i, k: wk, s: ws } of perWorker) {
        out[`worker.${i}.packets_in`] = ws.packetsIn; out[`worker.${i}.batches`] = ws.batches;
        for (const [port, name] of names) {
          out[`worker.${i}.port.${name}.rx_packets`] = Number(wk.ports[port]!.rxPackets);
          out[`worker.${i}.port.${name}.tx_packets`] = Number(wk.ports[port]!.txPackets);
        }
      }
    }
    for (const [k, v] of Object.entries(this.routerEvents())) out[`router.${k}`] = v;
    out["datapath.batches"] = s.batches; out["datapath.packets_in"] = s.packetsIn; out["datapath.packets_out"] = s.packetsOut;
    out["datapath.tx_dropped"] = s.txDropped; out["datapath.tx_no_port"] = s.txNoPort;
    out["datapath.super_packets_in"] = s.superPacketsIn; out["datapath.segments_out"] = s.segmentsOut;
    out["datapath.coalesced_writes"] = s.coalescedWrites; out["datapath.offload_refused"] = s.offloadRefused;
    out["datapath.gro_writes_disabled"] = s.groWritesDisabled;
    Object.assign(out, this.tunOffloadCounters());
    for (const [name, v] of Object.entries(this.wasmOffloadCounters())) out[`offload.${name}`] = v;
    Object.assign(out, this.underlayOffloadCounters());
    for (const [name, e] of this.ioErrorsByName(names)) {
      out[`io.${name}.errors`] = e.errors; out[`io.${name}.truncated`] = e.truncated;
      if (e.lastErrno) out[`io.${name}.last_errno`] = e.lastErrno;
      if (name === "underlay") out["io.underlay.kernel_drops"] = e.kernelDrops;
    }
    return { counters: out };
  }

  /**
   * Per port name, summed over the workers' queues: packets lost to a per-packet I/O error (a pod's
   * link down: EIO; the underlay unreachable: ENETUNREACH, ...), with the last errno; received
   * packets larger than their slot; and datagrams the kernel dropped at the underlay's full
   * receive queue (SO_RXQ_OVFL). `names`: port -> name, as counters() names them.
   */
  ioErrorsByName(names: Map<number, string> = this.portNamesForCounters()): Map<string, Omit<PortIoErrors, "port">> {
    const per = this.pool ? this.pool.perWorker((w) => w.call({ type: "ioErrors" })) : [this.datapath.ioErrors()];
    const out = new Map<string, Omit<PortIoErrors, "port">>();
    for (const list of per) for (const e of list) {
      const name = names.get(e.port);
      if (!name) continue;
      const t = out.get(name) ?? { errors: 0, lastErrno: 0, truncated: 0, kernelDrops: 0 };
      t.errors += e.errors; t.truncated += e.truncated; t.kernelDrops += e.kernelDrops;
      if (e.lastErrno) t.lastErrno = e.lastErrno;
      out.set(name, t);
    }
    return out;
  }

  private portNamesForCounters(): Map<number, string> {
    const names = new Map<number, string>([[PORT_HOST, "host"], [PORT_UNDERLAY, "underlay"]]);
    for (const a of this.attachments.values()) names.set(a.port, `pod:${a.key}`);
    return names;
  }

  /**
   * offload.host_tun_tso / host_tun_uso (1 when the host TUN's TUNSETOFFLOAD took TSO / USO),
   * offload.pod_taps_tso / pod_taps_uso (how many pod TAPs did).
   */
  tunOffloadCounters(): Record<string, number> {
    const taps = [...this.attachments.values()];
    return {
      "offload.host_tun_tso": this.hostOffload === "none" ? 0 : 1, "offload.host_tun_uso": this.hostOffload === "uso" ? 1 : 0,
      "offload.pod_taps_tso": taps.filter((a) => a.offload !== "none").length, "offload.pod_taps_uso": taps.filter((a) => a.offload === "uso").length,
    };
  }

  /**
   * What the Wasm offload calls did (offloads.tun): split_*, gro_*, csum_completed and
   * refused.<Reason> (host/wasm/abi.ts OFFLOAD_REFUSALS), summed over the workers; {} when off.
   */
  wasmOffloadCounters(): Record<string, number> {
    if (!this.config.offloads.tun) return {};
    const per = this.pool ? this.pool.perWorker((w) => w.call({ type: "offloadCounters" })) : [this.tables.dp.namedOffloadCounters()];
    const out: Record<string, number> = {};
    for (const c of per) for (const [name, v] of Object.entries(c)) out[name] = (out[name] ?? 0) + v;
    return out;
  }

  /** underlay.udp_gso_active / udp_gro_active (1 when in use after probing) and their counters. */
  underlayOffloadCounters(): Record<string, number> {
    const u = this.underlay;
    if (!u) return {};
    const st = u.udpOffloads?.();
    const io = u.stats;
    const sum = { gsoActive: st?.gso.active ? 1 : 0, gsoSends: io.gsoSends, gsoSegments: io.gsoSegments, gsoFallbacks: io.gsoFallbacks, groDatagrams: io.groDatagrams, groSegments: io.groSegments, groInPlace: io.groInPlace };
    if (this.pool) {
      // The workers send and receive (each with its own GSO sender and GRO states): sum theirs.
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) if (k !== "gsoActive") sum[k] = 0;
      for (const w of this.pool.perWorker((w) => w.call({ type: "underlayStats" }))) {
        if (!w) continue;
        sum.gsoActive = Math.min(sum.gsoActive, w.gsoActive ?? 0);
        sum.gsoSends += w.gsoSends ?? 0; sum.gsoSegments += w.gsoSegments ?? 0; sum.gsoFallbacks += w.gsoFallbacks ?? 0;
        sum.groDatagrams += w.groDatagrams ?? 0; sum.groSegments += w.groSegments ?? 0; sum.groInPlace += w.groInPlace ?? 0;
      }
    }
    return {
      "underlay.udp_gso_active": sum.gsoActive, "underlay.udp_gro_active": st?.gro.active ? 1 : 0,
      "underlay.gso_sends": sum.gsoSends, "underlay.gso_segments": sum.gsoSegments, "underlay.gso_fallbacks": sum.gsoFallbacks,
      "underlay.gro_datagrams": sum.groDatagrams, "underlay.gro_segments": sum.groSegments, "underlay.gro_in_place": sum.groInPlace,
    };
  }
}

function queueOf(d: TunDevice | Underlay, gso?: { netns: string; sndbuf: number; mark: number }): PortQueue {
  if (d instanceof LinuxUnderlay) {
    const gro = d.udpOffloads().gro.active;
    return { kind: "underlay", fds: { ...d.fds }, port: d.port, udp: { gso, gro4: gro && d.fds.rx4 >= 0, gro6: gro && d.fds.rx6 >= 0 } };
  }
  if (d instanceof LinuxTunDevice) return { kind: d.kind, fd: d.fd, name: d.name };
  throw new Error("data-plane workers need Linux devices (fds); fakes run with workers: 1");
}

function viaToTarget(via: string): P.AddRouteArgs["target"] {
  if (via === "host") return { kind: "host" };
  if (via === "blackhole") return { kind: "blackhole" };
  if (via.startsWith("peer:")) return { kind: "peer", peer: via.slice(5) };
  return { kind: "blackhole" };
}

/** Validates `config` (a NodeConfig or the raw parsed YAML) and builds a router; call start(). */
export function createRouter(config: NodeConfig | Record<string, unknown>, opts: RouterOptions = {}): Router {
  const c = (config as NodeConfig).mtu && (config as NodeConfig).limits ? (config as NodeConfig) : parseNodeConfig(config);
  return new Router(c, opts);
}

/** The inode of the network namespace at `netns` (a name or a path), or undefined when it cannot be read. */
function netnsInode(netns: string): number | undefined {
  try { return statSync(netns.includes("/") ? netns : `/var/run/netns/${netns}`).ino; } catch { return undefined; }
}

/** An address in the canonical text form (ip's JSON and the config may write IPv6 differently). */
function formatIpText(a: string): string { return formatIp(parseIp(a)); }

export function ensureDir(path: string): void { mkdirSync(dirname(path), { recursive: true, mode: 0o755 }); }
