// Building the reference model's tables from the node configuration the router itself reads, so
// a differential test feeds both sides from one source.

import type { NodeConfig } from "../../host/config/node-config.ts";
import type { ModelPod, ModelTables } from "./model.ts";

/**
 * `pods` must carry the ports the router assigned (NodeTables.pods values do); pods in the config
 * without a port are placed after the given ones, from port 2, in config order.
 */
export function modelTablesFromConfig(c: NodeConfig, pods?: Iterable<ModelPod>): ModelTables {
  const placed = pods ? [...pods] : [];
  let next = 2;
  const used = new Set(placed.map((p) => p.port));
  for (const p of c.pods) {
    if (placed.some((q) => q.name === p.name)) continue;
    let port = p.port;
    if (port === undefined) {
      while (used.has(next)) next++;
      port = next;
    }
    used.add(port);
    placed.push({ name: p.name, port, mac: p.mac, ipv4: p.ipv4, ipv6: p.ipv6 });
  }
  return {
    node: {
      vtepMac: c.vtepMac,
      routerMac: c.routerMac,
      underlay4: c.underlay.ipv4,
      underlay6: c.underlay.ipv6,
      encap: c.encapsulation,
      port: c.port,
      vni: c.vni,
      mtu: { ...c.mtu },
      gateway4: c.gateway4,
      gateway6: c.gateway6,
      udpChecksum4: c.udpChecksum4,
      // The router has no link-local address of its own and follows RFC 7348 on VXLAN flags.
      linkLocalGateway: false,
      vxlanIgnoreReserved: true,
    },
    pods: placed,
    peers: c.peers.map((p) => ({ ...p, podCIDRs: [...p.podCIDRs] })),
    routes: c.routes.map((r) => ({ ...r })),
  };
}
