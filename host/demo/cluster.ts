// A cluster of nodes and pods in network namespaces on this machine, for `weft demo`, the
// end-to-end tests and `npm run bench:e2e`. Every name carries the cluster's prefix; destroy()
// removes every namespace it made (and with them every interface), also after a failure.
//
// Layout (N nodes, P pods each): namespace <prefix>n<i> is node i, joined to the others by an
// underlay bridge in namespace <prefix>ul (veth per node); pods are namespaces <prefix>n<i>p<j>.
// Node i: underlay 192.168.<net>.<i> and fd<net>::<i>, pod CIDRs 10.<net>.<i>.0/24 and
// fd<net>:<i>::/64, cluster CIDRs 10.<net>.0.0/16 and fd<net>::/16 (net = 100..199 per cluster, hex in IPv6).

import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { parseNodeConfig, type NodeConfig } from "../config/node-config.ts";

const execFileP = promisify(execFile);

export interface ClusterSpec {
  /** Prefix of every namespace name; short (<= 6 chars). Default "wd" + random. */
  prefix?: string;
  nodes?: number;
  podsPerNode?: number;
  /** Underlay address family the peers use (the nodes have both). */
  underlay?: 4 | 6;
  encapsulation?: "vxlan" | "geneve";
  /** Underlay MTU (default 1500). */
  mtu?: number;
  /** Directory for control sockets (default /run/weft). */
  socketDir?: string;
  /** Second octet of the IPv4 nets (and the IPv6 prefix); default random 100..199. */
  net?: number;
  metricsBasePort?: number;
  /**
   * Nodes that run the Linux kernel's own VXLAN, set up as flannel's `vxlan` backend does (device
   * flannel.<VNI>, static FDB, neighbour and route entries per peer, pods on a bridge) instead of
   * Weft: the interoperability peer.
   */
  kernelNodes?: number[];
  /** Weft nodes open their TAPs/TUN with offloads (TSO split / GRO coalescing in Wasm). */
  offloads?: boolean;
  /** Weft nodes use UDP GSO on underlay sends and UDP GRO on underlay receives (offloads.udpGso/udpGro). */
  udpOffloads?: boolean;
}

export interface ClusterNode { index: number; ns: string; underlay4: string; underlay6: string; config: NodeConfig; pods: ClusterPod[]; kernel: boolean }
export interface ClusterPod { name: string; ns: string; node: number; ipv4: string; ipv6: string; ifName: string }

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
}

export class Cluster {
  readonly prefix: string;
  readonly net: number;
  /** First group of the cluster's IPv6 addresses: fd + the net in hex (fd64..fdc7). */
  readonly v6: string;
  readonly nodes: ClusterNode[] = [];
  private readonly namespaces: string[] = [];

  private constructor(readonly spec: Required<Omit<ClusterSpec, "metricsBasePort">> & { metricsBasePort?: number }) {
    this.prefix = spec.prefix;
    this.net = spec.net;
    this.v6 = `fd${spec.net.toString(16).padStart(2, "0")}`;
  }

  static create(spec: ClusterSpec = {}): Cluster {
    const full = {
      prefix: spec.prefix ?? `wd${randomBytes(2).toString("hex")}`,
      nodes: spec.nodes ?? 2, podsPerNode: spec.podsPerNode ?? 2, underlay: spec.underlay ?? 4,
      encapsulation: spec.encapsulation ?? "vxlan", mtu: spec.mtu ?? 1500, socketDir: spec.socketDir ?? "/run/weft",
      net: spec.net ?? 100 + (randomBytes(1)[0]! % 100), metricsBasePort: spec.metricsBasePort,
      kernelNodes: spec.kernelNodes ?? [], offloads: spec.offloads ?? false, udpOffloads: spec.udpOffloads ?? false,
    };
    const c = new Cluster(full);
    try { c.build(); } catch (e) { c.destroy(); throw e; }
    return c;
  }

  private addNs(name: string): string {
    sh(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    sh(["ip", "-n", name, "link", "set", "lo", "up"]);
    // No router solicitations or DAD noise on links created later.
    sh(["ip", "netns", "exec", name, "sh", "-c", "sysctl -qw net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.dad_transmits=0 net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.forwarding=0"]);
    return name;
  }

  private build(): void {
    const { prefix: p, nodes, podsPerNode, mtu, net } = { ...this.spec };
    const ul = this.addNs(`${p}ul`);
    sh(["ip", "-n", ul, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", ul, "link", "set", "br0", "mtu", String(mtu), "up"]);
    for (let i = 1; i <= nodes; i++) {
      const ns = this.addNs(`${p}n${i}`);
      sh(["ip", "link", "add", "eth0", "netns", ns, "mtu", String(mtu), "type", "veth", "peer", "name", `n${i}`, "netns", ul, "mtu", String(mtu)]);
      sh(["ip", "-n", ul, "link", "set", `n${i}`, "master", "br0", "up"]);
      const u4 = `192.168.${net}.${i}`, u6 = `${this.v6}::${i}`;
      sh(["ip", "-n", ns, "addr", "add", `${u4}/24`, "dev", "eth0"]);
      sh(["ip", "-n", ns, "-6", "addr", "add", `${u6}/64`, "dev", "eth0", "nodad"]);
      sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
      const pods: ClusterPod[] = [];
      for (let j = 1; j <= podsPerNode; j++) {
        const pns = this.addNs(`${p}n${i}p${j}`);
        pods.push({ name: `n${i}p${j}`, ns: pns, node: i, ipv4: `10.${net}.${i}.${10 + j}`, ipv6: `${this.v6}:${i}::${(10 + j).toString(16)}`, ifName: "eth0" });
      }
      this.nodes.push({ index: i, ns, underlay4: u4, underlay6: u6, config: undefined as unknown as NodeConfig, pods, kernel: this.spec.kernelNodes.includes(i) });
    }
    for (const n of this.nodes) n.config = this.nodeConfig(n.index);
    for (const n of this.nodes) if (n.kernel) this.buildKernelNode(n);
  }

  /**
   * A flannel-style kernel VXLAN node (dataplane-anchors.md §1.2): flannel.<vni> with our VTEP MAC,
   * learning off; per peer a permanent neighbour <peer pod net address> -> peer VTEP MAC, an FDB
   * entry peer VTEP MAC -> peer underlay address, and a route <peer pod CIDR> via that address
   * onlink; the device owns <own pod net address>/32. Pods hang off a bridge with the gateway.
   */
  private buildKernelNode(n: ClusterNode): void {
    const c = n.config, ns = n.ns, dev = `flannel.${c.vni}`;
    const ipn = (args: string[]) => sh(["ip", "-n", ns, ...args]);
    sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
    // veth hands CHECKSUM_PARTIAL packets to the next namespace as they are; a real wire never
    // carries a partial checksum, and neither must our underlay (the receiving node would read the
    // inner TCP checksum unfinished): make the kernel finish checksums before the underlay.
    sh(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off"]);
    const local = c.underlay.ipv4 ? ["local", c.underlay.ipv4] : ["local", c.underlay.ipv6!];
    ipn(["link", "add", dev, "type", "vxlan", "id", String(c.vni), "dstport", String(c.port), ...local, "dev", "eth0", "nolearning"]);
    ipn(["link", "set", dev, "address", c.vtepMac, "mtu", String(c.mtu.pod), "up"]);
    const [p4, p6] = [c.podCIDRs.find((x) => !x.includes(":"))!, c.podCIDRs.find((x) => x.includes(":"))!];
    ipn(["addr", "add", `${p4.split("/")[0]}/32`, "dev", dev]);
    ipn(["link", "add", "cni0", "type", "bridge"]);
    ipn(["link", "set", "cni0", "mtu", String(c.mtu.pod), "up"]);
    ipn(["addr", "add", `${c.gateway4}/${p4.split("/")[1]}`, "dev", "cni0"]);
    ipn(["-6", "addr", "add", `${c.gateway6}/${p6.split("/")[1]}`, "dev", "cni0", "nodad"]);
    for (const peer of c.peers) {
      const [q4, q6] = [peer.podCIDRs.find((x) => !x.includes(":"))!, peer.podCIDRs.find((x) => x.includes(":"))!];
      const gw4 = q4.split("/")[0]!, gw6 = q6.split("/")[0]!;
      ipn(["neigh", "add", gw4, "lladdr", peer.vtepMac, "dev", dev, "nud", "permanent"]);
      ipn(["-6", "neigh", "add", gw6, "lladdr", peer.vtepMac, "dev", dev, "nud", "permanent"]);
      sh(["ip", "netns", "exec", ns, "bridge", "fdb", "append", peer.vtepMac, "dev", dev, "dst", peer.underlay, "self", "permanent"]);
      ipn(["route", "add", q4, "via", gw4, "dev", dev, "onlink"]);
      ipn(["-6", "route", "add", q6, "via", gw6, "dev", dev, "onlink"]);
    }
    for (const p of n.pods) {
      const hostEnd = `v${p.name}`;
      sh(["ip", "link", "add", hostEnd, "netns", ns, "type", "veth", "peer", "name", p.ifName, "netns", p.ns]);
      ipn(["link", "set", hostEnd, "master", "cni0", "mtu", String(c.mtu.pod), "up"]);
      const ipp = (args: string[]) => sh(["ip", "-n", p.ns, ...args]);
      ipp(["link", "set", p.ifName, "mtu", String(c.mtu.pod), "up"]);
      ipp(["addr", "add", `${p.ipv4}/${p4.split("/")[1]}`, "dev", p.ifName]);
      ipp(["-6", "addr", "add", `${p.ipv6}/${p6.split("/")[1]}`, "dev", p.ifName, "nodad"]);
      ipp(["route", "add", "default", "via", c.gateway4!]);
      ipp(["-6", "route", "add", "default", "via", c.gateway6!]);
    }
  }

  vtepMac(i: number): string { return `02:77:${this.net.toString(16).padStart(2, "0")}:00:00:${i.toString(16).padStart(2, "0")}`; }

  nodeConfig(i: number): NodeConfig {
    const s = this.spec, net = this.net;
    const peers = this.nodes.filter((n) => n.index !== i).map((n) => ({
      name: `n${n.index}`, underlay: s.underlay === 4 ? n.underlay4 : n.underlay6, vtepMac: this.vtepMac(n.index),
      podCIDRs: [`10.${net}.${n.index}.0/24`, `${this.v6}:${n.index}::/64`],
    }));
    return parseNodeConfig({
      name: `n${i}`, encapsulation: s.encapsulation, vtepMac: this.vtepMac(i),
      underlay: s.underlay === 4 ? { ipv4: `192.168.${net}.${i}`, mtu: s.mtu } : { ipv6: `${this.v6}::${i}`, mtu: s.mtu },
      podCIDRs: [`10.${net}.${i}.0/24`, `${this.v6}:${i}::/64`], clusterCIDRs: [`10.${net}.0.0/16`, `${this.v6}::/16`],
      peers, netns: `${this.prefix}n${i}`, offloads: { tun: s.offloads, udpGso: s.udpOffloads, udpGro: s.udpOffloads },
      // No pod state file: the demo's, the tests' and the benchmarks' clusters are built afresh each time.
      control: { socket: `${s.socketDir}/${this.prefix}-n${i}.sock`, cniSocket: `${s.socketDir}/${this.prefix}-n${i}.cni.sock`, stateFile: false },
      ...(s.metricsBasePort ? { metrics: { listen: `127.0.0.1:${s.metricsBasePort + i}` } } : {}),
    });
  }

  pod(name: string): ClusterPod {
    for (const n of this.nodes) for (const p of n.pods) if (p.name === name) return p;
    throw new Error(`no pod ${name}`);
  }

  /** Runs argv inside namespace `ns` without blocking the event loop (routers may run in-process). */
  async exec(ns: string, argv: string[], timeoutMs = 30_000): Promise<string> {
    const r = await execFileP("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
    return r.stdout;
  }

  /** ping -c count; resolves with the output, rejects when no reply. */
  async ping(fromNs: string, to: string, count = 3, extra: string[] = []): Promise<string> {
    return this.exec(fromNs, ["ping", "-n", "-c", String(count), "-i", "0.2", "-W", "2", ...extra, to]);
  }

  /** Removes every namespace this cluster created. Never throws. */
  destroy(): void {
    for (const ns of this.namespaces.splice(0).reverse()) {
      try { sh(["ip", "netns", "del", ns]); } catch { /* gone */ }
    }
  }
}
