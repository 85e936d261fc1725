// The node's forwarding state by name: pods on ports, peers on indexes, and the routes that
// follow from them, kept in step with the Wasm tables. Every operation either completes or
// leaves the tables as they were (a failed step undoes the earlier ones).

import { Dataplane, type NodeDataplaneConfig, type RouteTarget } from "../wasm/dataplane.ts";
import { PORT_HOST, PORT_UNDERLAY, PORT_POD_BASE } from "../wasm/abi.ts";
import type { NodeConfig, PeerConfig, PodConfig, RouteConfig } from "../config/node-config.ts";
import { parseCidr } from "../net/addr.ts";
import { TableFanout, localReplica } from "./fanout.ts";

export class TableError extends Error {
  constructor(message: string) { super(message); this.name = "TableError"; }
}

export function dataplaneConfigOf(c: NodeConfig): NodeDataplaneConfig {
  return {
    encapsulation: c.encapsulation, port: c.port, vni: c.vni, vtepMac: c.vtepMac, routerMac: c.routerMac,
    underlay4: c.underlay.ipv4, underlay6: c.underlay.ipv6, gateway4: c.gateway4, gateway6: c.gateway6,
    podMtu: c.mtu.pod, hostMtu: c.mtu.host, tunnelMtu4: c.mtu.tunnel4, tunnelMtu6: c.mtu.tunnel6,
    udpChecksum4: c.udpChecksum4, icmpRatePerSec: c.icmp.ratePerSec, icmpBurst: c.icmp.burst,
  };
}

export interface AttachedPod extends PodConfig { port: number }
export interface ActivePeer extends PeerConfig { idx: number }

export class NodeTables {
  readonly pods = new Map<string, AttachedPod>();
  readonly peers = new Map<string, ActivePeer>();
  readonly routes = new Map<string, RouteConfig>();

  /**
   * Every Wasm table change goes through here: applied to `dp` (replica 0) and to the replicas
   * added later (data-plane workers), all or none (host/tables/fanout.ts).
   */
  readonly fanout: TableFanout;

  constructor(readonly dp: Dataplane, readonly config: NodeConfig) {
    this.fanout = new TableFanout([localReplica(dp)]);
    this.fanout.apply({ op: "configure", config: dataplaneConfigOf(config) });
    // The gateways are the node's own addresses: traffic to them goes to the host port.
    if (config.gateway4) this.fanout.apply({ op: "addRoute", cidr: parseCidr(`${config.gateway4}/32`).text, target: { kind: "host" } });
    if (config.gateway6) this.fanout.apply({ op: "addRoute", cidr: parseCidr(`${config.gateway6}/128`).text, target: { kind: "host" } });
    for (const p of config.peers) this.addPeer(p);
    for (const p of config.pods) this.attachPod(p);
    for (const r of config.routes) this.addRoute(r);
  }

  static create(config: NodeConfig): NodeTables {
    return new NodeTables(Dataplane.create({ ...config.limits, offload: config.offloads?.tun ? {} : undefined }), config);
  }

  private freePort(): number {
    const used = new Set([...this.pods.values()].map((p) => p.port));
    for (let port = PORT_POD_BASE; port < this.dp.portCount; port++) if (!used.has(port)) return port;
    throw new TableError(`no free pod port (limit ${this.dp.portCount - PORT_POD_BASE} pods)`);
  }

  attachPod(pod: PodConfig): AttachedPod {
    if (this.pods.has(pod.name)) throw new TableError(`pod ${pod.name} is already attached`);
    for (const p of this.pods.values()) {
      if ((pod.ipv4 && p.ipv4 === pod.ipv4) || (pod.ipv6 && p.ipv6 === pod.ipv6)) throw new TableError(`pod ${pod.name}: address already used by pod ${p.name}`);
      if (pod.port !== undefined && p.port === pod.port) throw new TableError(`pod ${pod.name}: port ${pod.port} already used by pod ${p.name}`);
    }
    const port = pod.port ?? this.freePort();
    this.fanout.apply({ op: "attachPod", port, pod: { mac: pod.mac, ipv4: pod.ipv4, ipv6: pod.ipv6 } });
    const a = { ...pod, port };
    this.pods.set(pod.name, a);
    return a;
  }

  detachPod(name: string): boolean {
    const p = this.pods.get(name);
    if (!p) return false;
    this.fanout.apply({ op: "detachPod", port: p.port });
    this.pods.delete(name);
    return true;
  }

  private freePeerIndex(): number {
    const used = new Set([...this.peers.values()].map((p) => p.idx));
    for (let i = 0; i < this.dp.maxPeers; i++) if (!used.has(i)) return i;
    throw new TableError(`no free peer slot (limit ${this.dp.maxPeers})`);
  }

  /** Adds (or replaces) a peer and the routes to its pod CIDRs, atomically. */
  addPeer(peer: PeerConfig): ActivePeer {
    const old = this.peers.get(peer.name);
    if (old) this.removePeer(peer.name);
    const idx = this.freePeerIndex();
    const added: string[] = [];
    try {
      this.fanout.apply({ op: "setPeer", idx, peer: { vtepMac: peer.vtepMac, underlay: peer.underlay } });
      for (const c of peer.podCIDRs) { this.fanout.apply({ op: "addRoute", cidr: parseCidr(c).text, target: { kind: "peer", peer: idx } }); added.push(c); }
    } catch (e) {
      for (const c of added) this.fanout.apply({ op: "removeRoute", cidr: parseCidr(c).text });
      this.fanout.apply({ op: "removePeer", idx });
      if (old) this.addPeer(old);
      throw e;
    }
    const a = { ...peer, idx };
    this.peers.set(peer.name, a);
    return a;
  }

  removePeer(name: string): boolean {
    const p = this.peers.get(name);
    if (!p) return false;
    for (const c of p.podCIDRs) this.fanout.apply({ op: "removeRoute", cidr: parseCidr(c).text });
    this.fanout.apply({ op: "removePeer", idx: p.idx });
    this.peers.delete(name);
    return true;
  }

  targetOf(via: RouteConfig["via"]): RouteTarget {
    if (via === "host") return { kind: "host" };
    if (via === "blackhole") return { kind: "blackhole" };
    if (via.startsWith("peer:")) {
      const p = this.peers.get(via.slice(5));
      if (!p) throw new TableError(`route via unknown peer ${via.slice(5)}`);
      return { kind: "peer", peer: p.idx };
    }
    const pod = this.pods.get(via.slice(4));
    if (!pod) throw new TableError(`route via unknown pod ${via.slice(4)}`);
    return { kind: "pod", port: pod.port };
  }

  addRoute(r: RouteConfig): void {
    const c = parseCidr(r.dst);
    this.fanout.apply({ op: "addRoute", cidr: c.text, target: this.targetOf(r.via) });
    this.routes.set(c.text, { dst: c.text, via: r.via });
  }

  removeRoute(dst: string): boolean {
    const c = parseCidr(dst);
    const ok = this.fanout.apply({ op: "removeRoute", cidr: c.text });
    this.routes.delete(c.text);
    return ok;
  }

  /** "pod:NAME", "host", "underlay" or "port:N" for a port number. */
  portName(port: number): string {
    if (port === PORT_HOST) return "host";
    if (port === PORT_UNDERLAY) return "underlay";
    for (const p of this.pods.values()) if (p.port === port) return `pod:${p.name}`;
    return `port:${port}`;
  }

  peerName(idx: number): string {
    for (const p of this.peers.values()) if (p.idx === idx) return `peer:${p.name}`;
    return `peer:#${idx}`;
  }

  /** Port number for "host", "underlay", "pod:NAME" or a bare pod name. */
  portOf(name: string): number {
    if (name === "host") return PORT_HOST;
    if (name === "underlay") return PORT_UNDERLAY;
    const pod = this.pods.get(name.startsWith("pod:") ? name.slice(4) : name);
    if (!pod) throw new TableError(`unknown port ${name} (host, underlay, or pod:NAME of an attached pod)`);
    return pod.port;
  }
}
