// Interoperability: node 1 runs Weft, node 2 the Linux kernel's VXLAN set up as flannel's
// `vxlan` backend (VNI 1, port 8472, static FDB / neighbour / route entries for Weft's VTEP MAC).
// Pods on each side reach each other in both directions, IPv4 and IPv6, ICMP and TCP.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startCluster, startServer, TOOLS, type Env } from "./e2e/harness.ts";

describe("Linux kernel VXLAN (flannel-style) as a peer", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, kernelNodes: [2] }); });
  afterAll(async () => { await env?.close(); });

  it("pods ping each other in both directions, IPv4 and IPv6", async () => {
    const c = env.cluster;
    const w = c.pod("n1p1"), k = c.pod("n2p1");
    await c.ping(w.ns, k.ipv4, 2);
    await c.ping(k.ns, w.ipv4, 2);
    await c.ping(w.ns, k.ipv6, 2);
    await c.ping(k.ns, w.ipv6, 2);
    // the kernel node's host reaches Weft's pods (source: its flannel.1 address x.x.2.0)
    await c.ping(c.nodes[1]!.ns, w.ipv4, 2);
    const cnt = env.routers[0]!.counters().counters;
    expect(cnt["peer.n2.rx_packets"]).toBeGreaterThan(0);
    expect(cnt["drop.InnerBadDstMac"]).toBe(0);
  });

  it("exchanges TCP both ways, bytes verified", async () => {
    const c = env.cluster;
    const w = c.pod("n1p2"), k = c.pod("n2p2");
    for (const [from, to] of [[w, k], [k, w]] as const) {
      for (const fam of ["ipv4", "ipv6"] as const) {
        const sink = await startServer(to.ns, "tcp_sink.py", [to[fam], "7400"]);
        const sent = (await c.exec(from.ns, ["python3", TOOLS + "tcp_source.py", to[fam], "7400", String(8 << 20)], 60_000)).trim();
        expect((await sink.result).trim()).toBe(sent);
      }
    }
  }, 120_000);
});

describe("Linux kernel VXLAN as a peer, Weft with TUN/TAP offloads", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, kernelNodes: [2], offloads: true }); });
  afterAll(async () => { await env?.close(); });

  it("exchanges TCP both ways, bytes verified", async () => {
    const c = env.cluster;
    const w = c.pod("n1p1"), k = c.pod("n2p1");
    for (const [from, to] of [[w, k], [k, w]] as const) {
      const sink = await startServer(to.ns, "tcp_sink.py", [to.ipv4, "7410"]);
      const sent = (await c.exec(from.ns, ["python3", TOOLS + "tcp_source.py", to.ipv4, "7410", String(16 << 20)], 60_000)).trim();
      expect((await sink.result).trim()).toBe(sent);
    }
  }, 120_000);
});

describe("Linux kernel VXLAN as a peer, Weft with TUN/TAP offloads and underlay UDP GSO + GRO", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, kernelNodes: [2], offloads: true, udpOffloads: true }); });
  afterAll(async () => { await env?.close(); });

  it("exchanges TCP both ways, bytes verified; the kernel's VXLAN receives Weft's GSO datagrams", async () => {
    const c = env.cluster;
    const w = c.pod("n1p1"), k = c.pod("n2p1");
    for (const [from, to] of [[w, k], [k, w]] as const) {
      for (const fam of ["ipv4", "ipv6"] as const) {
        const sink = await startServer(to.ns, "tcp_sink.py", [to[fam], "7420"]);
        const sent = (await c.exec(from.ns, ["python3", TOOLS + "tcp_source.py", to[fam], "7420", String(16 << 20)], 60_000)).trim();
        expect((await sink.result).trim()).toBe(sent);
      }
    }
    const cnt = env.routers[0]!.counters().counters;
    expect(cnt["underlay.udp_gso_active"]).toBe(1);
    expect(cnt["underlay.gso_segments"]!).toBeGreaterThan(cnt["underlay.gso_sends"]! * 4);
    expect(cnt["underlay.gso_fallbacks"]).toBe(0);
  }, 120_000);
});
