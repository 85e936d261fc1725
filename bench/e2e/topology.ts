// The measured topology, built fresh for every round and implementation: host/demo/cluster.ts with
// 2 nodes x 2 pods, underlay MTU 1500, pod MTU 1450, VXLAN VNI 1 on port 8472 over IPv4.
//   kernel-vxlan: both nodes are flannel-style kernel VXLAN nodes (Cluster kernelNodes [1, 2]);
//   weft:         both nodes run `weft router` as their own process; pods attached over the socket.
//   c-relay[-poll]: the floor, a minimal C relay per node (c-relay.c), pods on its TUNs.
// The measured pair is n1p1 (client) -> n2p1 (server), IPv4, as in the kernel anchor; parallel UDP
// senders take turns over n1p1 and n1p2 (see measure.ts).
import { randomBytes } from "node:crypto";
import { Cluster, type ClusterPod } from "../../host/demo/cluster.ts";
import { loopOf, workersOf, type Impl } from "./options.ts";
import { ProcessTable, sleep } from "./procs.ts";
import { WeftRouterProcess } from "./weft-router.ts";
import { CRelayProcess } from "./c-relay.ts";

export interface Topology {
  impl: Impl;
  cluster: Cluster;
  client: ClusterPod;
  server: ClusterPod;
  /** The pods of the client's node, the client first: UDP senders are spread over them. */
  clientNodePods: ClusterPod[];
  routers: WeftRouterProcess[];
  /** c-relay / c-relay-poll: the relay processes (the floor's "routers"). */
  relays: CRelayProcess[];
  /** Every namespace of this topology. */
  namespaces: string[];
  /** Stops the routers and removes the namespaces. Idempotent, never throws. */
  close(): Promise<void>;
}

/** Namespace prefixes of every topology this process built (for the final leak check). */
export const builtPrefixes: string[] = [];

export interface TopologyOptions {
  /** node --flags for the router processes (profiling). */
  nodeArgs?: string[];
  /** Kernel side: tx checksum offload back on on the nodes' underlay veth (see Options.kernelOffload). */
  kernelOffload?: boolean;
  /** Weft side: the routers' TUN/TAP offloads (offloads.tun: vnet headers, TSO split, GRO coalescing). */
  weftOffload?: boolean;
  /** Weft side: underlay UDP GSO + GRO (offloads.udpGso, offloads.udpGro). */
  weftUdpOffload?: boolean;
}

export async function buildTopology(impl: Impl, procs: ProcessTable, dir: string, opts: TopologyOptions = {}): Promise<Topology> {
  const prefix = `wb${randomBytes(2).toString("hex")}`;
  builtPrefixes.push(prefix);
  const cluster = Cluster.create({ prefix, nodes: 2, podsPerNode: 2, underlay: 4, encapsulation: "vxlan", mtu: 1500, kernelNodes: impl === "kernel-vxlan" ? [1, 2] : [] });
  const routers: WeftRouterProcess[] = [];
  const relays: CRelayProcess[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all([...routers, ...relays].map((r) => r.stop().catch(() => {})));
    cluster.destroy();
  };
  const namespaces = [`${prefix}ul`, ...cluster.nodes.flatMap((n) => [n.ns, ...n.pods.map((p) => p.ns)])];
  const topo: Topology = { impl, cluster, client: cluster.pod("n1p1"), server: cluster.pod("n2p1"), clientNodePods: cluster.nodes[0]!.pods, routers, relays, namespaces, close };
  try {
    const workers = workersOf(impl);
    if (workers !== undefined) {
      for (const n of cluster.nodes) routers.push(await WeftRouterProcess.start(n, dir, procs, opts.nodeArgs ?? [], opts.weftOffload, workers, opts.weftUdpOffload, loopOf(impl)));
    } else if (impl === "c-relay" || impl === "c-relay-poll") {
      for (const n of cluster.nodes) relays.push(await CRelayProcess.start(n, dir, procs, impl === "c-relay-poll"));
    } else if (opts.kernelOffload) {
      for (const n of cluster.nodes) {
        const r = await procs.run(["ip", "netns", "exec", n.ns, "ethtool", "-K", "eth0", "tx", "on"], 10_000);
        if (r.code !== 0) throw new Error(`ethtool -K eth0 tx on in ${n.ns}: ${r.stderr}`);
      }
    }
    await waitReachable(topo, procs);
  } catch (e) {
    await close();
    throw e;
  }
  return topo;
}

/** Pings server from client until one answer arrives (ARP/NDP, router start-up), at most 20 s. */
async function waitReachable(t: Topology, procs: ProcessTable): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = "";
  while (Date.now() < deadline) {
    const r = await procs.run(["ip", "netns", "exec", t.client.ns, "ping", "-4", "-n", "-c", "1", "-W", "1", t.server.ipv4], 5000);
    if (r.code === 0) return;
    last = r.stdout + r.stderr;
    await sleep(200);
  }
  throw new Error(`${t.impl}: ${t.client.name} cannot reach ${t.server.name} ${t.server.ipv4}:\n${last}`);
}
