// A standard single-node data plane for pipeline tests: two local pods, an IPv4 peer and an
// IPv6 peer, host routes for the gateway addresses.
import { Dataplane, type NodeDataplaneConfig } from "../../host/wasm/dataplane.ts";

export const NODE: NodeDataplaneConfig = {
  encapsulation: "vxlan", port: 8472, vni: 1,
  vtepMac: "02:00:00:00:00:01", routerMac: "02:00:00:00:00:fe",
  underlay4: "192.168.0.1", underlay6: "fd00::1",
  gateway4: "10.244.1.1", gateway6: "fd00:10:244:1::1",
  podMtu: 1450, hostMtu: 1450, tunnelMtu4: 1450, tunnelMtu6: 1430,
};
export const POD_A = { port: 2, mac: "02:aa:00:00:00:02", ipv4: "10.244.1.2", ipv6: "fd00:10:244:1::2" };
export const POD_B = { port: 3, mac: "02:aa:00:00:00:03", ipv4: "10.244.1.3", ipv6: "fd00:10:244:1::3" };
export const PEER4 = { idx: 0, vtepMac: "02:00:00:00:00:02", underlay: "192.168.0.2", cidr4: "10.244.2.0/24", cidr6: "fd00:10:244:2::/64" };
export const PEER6 = { idx: 1, vtepMac: "02:00:00:00:00:03", underlay: "fd00::3", cidr4: "10.244.3.0/24", cidr6: "fd00:10:244:3::/64" };

/** The test node's Dataplane; `wasmPath`: another build of the module (bench/ab.ts compares two). */
export function makeNode(overrides: Partial<NodeDataplaneConfig> = {}, limits = {}, wasmPath?: string): Dataplane {
  const dp = Dataplane.create({ maxPods: 64, maxPeers: 16, ...limits }, wasmPath);
  dp.configure({ ...NODE, ...overrides });
  for (const p of [POD_A, POD_B]) dp.attachPod(p.port, p);
  for (const p of [PEER4, PEER6]) {
    dp.setPeer(p.idx, p);
    dp.addRoute(p.cidr4, { kind: "peer", peer: p.idx });
    dp.addRoute(p.cidr6, { kind: "peer", peer: p.idx });
  }
  dp.addRoute("10.244.1.1/32", { kind: "host" });
  dp.addRoute("fd00:10:244:1::1/128", { kind: "host" });
  return dp;
}

/** Runs one packet through the pipeline; returns its result and copies of its TX packets. */
export function runOne(dp: Dataplane, bytes: Uint8Array, port: number, flags = 0) {
  dp.putPacket(0, bytes, port, flags);
  const n = dp.process(1);
  const out = Array.from({ length: n }, (_, k) => ({ ...dp.tx(k), bytes: dp.txBytes(k) }));
  return { result: dp.result(0), out };
}
