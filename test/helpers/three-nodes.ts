// Three nodes of one pod each, for the tests that change node n1's peers: n2's and n3's routers
// run from their cluster configs with their pods attached; n1's router is the test's own.
import { Cluster, type ClusterNode, type ClusterPod } from "../../host/demo/cluster.ts";
import { createRouter, type Router } from "../../host/router/router.ts";
import type { NodeConfig, PeerConfig } from "../../host/config/node-config.ts";

export interface ThreeNodes {
  cluster: Cluster;
  nodes: [ClusterNode, ClusterNode, ClusterNode];
  pods: [ClusterPod, ClusterPod, ClusterPod];
  /** n1's peer entry for `name` ("n2", "n3") as the cluster config has it. */
  peer(name: string): PeerConfig;
  /** Attaches `pod` to `router` under its own name. */
  attach(router: Router, pod: ClusterPod): void;
  /** Starts n2's and n3's routers and attaches their pods; then `n1Config`'s router, with p1 attached. */
  start(n1Config: NodeConfig): Promise<Router>;
  /** Stops the routers start() made (n1's too, if still running) and removes the namespaces. */
  close(): Promise<void>;
}

export function threeNodes(): ThreeNodes {
  const cluster = Cluster.create({ nodes: 3, podsPerNode: 1 });
  const nodes = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const pods = nodes.map((n) => n.pods[0]!) as [ClusterPod, ClusterPod, ClusterPod];
  const others: Router[] = [];
  const attach = (r: Router, p: ClusterPod) => { r.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 }); };
  return {
    cluster, nodes, pods, attach,
    peer: (name) => nodes[0].config.peers.find((p) => p.name === name)!,
    async start(n1Config) {
      for (const i of [1, 2]) {
        const o = createRouter(nodes[i]!.config, { log: () => {} });
        others.push(o);
        await o.start();
        attach(o, pods[i]!);
      }
      const r = createRouter(n1Config, { log: () => {} });
      others.push(r);
      await r.start();
      attach(r, pods[0]);
      return r;
    },
    async close() {
      for (const o of others.splice(0)) await o.stop();
      cluster.destroy();
    },
  };
}
