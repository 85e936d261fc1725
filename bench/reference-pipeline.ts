// The slow TypeScript reference model (test/reference/model.ts) run on the same frames as the
// Wasm pipeline benchmark, on the same node tables (test/helpers/node.ts), for the side-by-side
// figure the issue asks for.
import { parseNodeConfig } from "../host/config/node-config.ts";
import { modelTablesFromConfig } from "../test/reference/tables.ts";
import { referenceProcess } from "../test/reference/model.ts";
import { NODE, POD_A, POD_B, PEER4, PEER6 } from "../test/helpers/node.ts";

export function referencePipeline(frames: { port: number; bytes: Uint8Array }[]): () => void {
  const cfg = parseNodeConfig({
    name: "bench", encapsulation: NODE.encapsulation, port: NODE.port, vni: NODE.vni, vtepMac: NODE.vtepMac, routerMac: NODE.routerMac,
    underlay: { ipv4: NODE.underlay4, ipv6: NODE.underlay6, mtu: 1500 }, podCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"],
    gateway4: NODE.gateway4, gateway6: NODE.gateway6,
    pods: [POD_A, POD_B].map((p) => ({ name: `p${p.port}`, mac: p.mac, ipv4: p.ipv4, ipv6: p.ipv6, port: p.port })),
    peers: [PEER4, PEER6].map((p) => ({ name: `peer${p.idx}`, underlay: p.underlay, vtepMac: p.vtepMac, podCIDRs: [p.cidr4, p.cidr6] })),
  });
  const tables = modelTablesFromConfig(cfg);
  return () => { for (const f of frames) referenceProcess(tables, f.port, f.bytes); };
}
