// End to end, as root in network namespaces: two nodes with two pods each, a Weft router per
// node (in this process), real TAP/TUN devices and UDP sockets. Every suite builds and removes
// its own uniquely named namespaces.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startCluster, startServer, tcpTransfer, TOOLS, type Env } from "./e2e/harness.ts";

for (const encapsulation of ["vxlan", "geneve"] as const) {
  for (const underlay of [4, 6] as const) {
    describe(`${encapsulation} over an IPv${underlay} underlay`, () => {
      let env: Env;
      beforeAll(async () => { env = await startCluster({ encapsulation, underlay }); });
      afterAll(async () => { await env?.close(); });

      it("pods reach pods on the same node and across nodes, IPv4 and IPv6", async () => {
        const c = env.cluster;
        const a = c.pod("n1p1");
        for (const to of [c.pod("n1p2"), c.pod("n2p1"), c.pod("n2p2")]) {
          await c.ping(a.ns, to.ipv4, 2);
          await c.ping(a.ns, to.ipv6, 2);
        }
        await c.ping(c.pod("n2p2").ns, a.ipv4, 2);
        const k = env.routers[0]!.counters().counters;
        expect(k["peer.n2.tx_packets"]).toBeGreaterThan(0);
        expect(k["peer.n2.rx_packets"]).toBeGreaterThan(0);
      });

      it("host-network processes reach pods on every node without NAT, and pods reach the host", async () => {
        const c = env.cluster;
        await c.ping(c.nodes[0]!.ns, c.pod("n2p1").ipv4, 2);
        await c.ping(c.nodes[0]!.ns, c.pod("n2p1").ipv6, 2);
        await c.ping(c.nodes[1]!.ns, c.pod("n1p2").ipv4, 2);
        await c.ping(c.pod("n1p1").ns, c.nodes[0]!.config.gateway4!, 2);
        await c.ping(c.pod("n2p1").ns, c.nodes[0]!.config.gateway6!, 2);
        // no NAT: the far pod sees the node's gateway address as the source
        const srv = await startServer(c.pod("n2p1").ns, "udp_echo.py", ["serve", c.pod("n2p1").ipv4, "7001"]);
        await c.exec(c.nodes[0]!.ns, ["python3", TOOLS + "udp_echo.py", "send", c.pod("n2p1").ipv4, "7001", "100"]);
        await srv.result;
      });
    });
  }
}

describe("vxlan over IPv4: transfers, MTU, fragments and drops", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4 }); });
  afterAll(async () => { await env?.close(); });

  it("moves 100 MB of TCP across nodes, bytes verified by hash at the far end", async () => {
    const { sent, got } = await tcpTransfer(env, 7100);
    expect(got).toBe(sent);
    expect(got.split(" ")[0]).toBe(String(100 << 20));
  }, 240_000);

  it("carries a 2000-byte UDP datagram across nodes (IPv4 fragments) and IPv6", async () => {
    const c = env.cluster;
    for (const fam of ["ipv4", "ipv6"] as const) {
      const dst = c.pod("n2p2");
      const srv = await startServer(dst.ns, "udp_echo.py", ["serve", dst[fam], "7200"]);
      const out = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "udp_echo.py", "send", dst[fam], "7200", "2000"])).trim().split(" ");
      await srv.result;
      expect(out[0]).toBe("2000");
      expect(out[1]).toBe(out[2]);
    }
  });

  it("answers DF packets over the tunnel MTU with fragmentation needed, and TCP adapts", async () => {
    const c = env.cluster;
    const src = c.pod("n1p2"), dst = c.pod("n2p2");
    // the pod believes its link carries 1500 bytes; the tunnel carries 1450
    await c.exec(src.ns, ["ip", "link", "set", "dev", "eth0", "mtu", "1500"]);
    await c.exec(src.ns, ["ip", "route", "flush", "cache"]);
    const before = env.routers[0]!.counters().counters["drop.FragNeeded"]!;
    await expect(c.ping(src.ns, dst.ipv4, 1, ["-M", "do", "-s", "1472"])).rejects.toThrow();
    const sink = await startServer(dst.ns, "tcp_sink.py", [dst.ipv4, "7300"]);
    const sent = (await c.exec(src.ns, ["python3", TOOLS + "tcp_source.py", dst.ipv4, "7300", String(4 << 20)], 60_000)).trim();
    expect((await sink.result).trim()).toBe(sent);
    const k = env.routers[0]!.counters().counters;
    expect(k["drop.FragNeeded"]!).toBeGreaterThan(before);
    expect(k["event.icmpErrorsSent"]!).toBeGreaterThan(0);
    const pmtu = await c.exec(src.ns, ["ip", "route", "get", dst.ipv4]);
    expect(pmtu).toMatch(/mtu 1450/);
  }, 120_000);

  it("drops a pod's spoofed source and VXLAN from an unknown address, and counts them", async () => {
    const c = env.cluster;
    const a = c.pod("n1p1");
    const before = env.routers[0]!.counters().counters;
    await c.exec(a.ns, ["ip", "addr", "add", `10.${c.net}.1.99/32`, "dev", "eth0"]);
    await expect(c.ping(a.ns, c.pod("n2p1").ipv4, 1, ["-I", `10.${c.net}.1.99`])).rejects.toThrow();
    // a VXLAN packet to node 1 from an address that is not a peer
    const ul = `${c.prefix}ul`;
    await c.exec(ul, ["ip", "addr", "add", `192.168.${c.net}.99/24`, "dev", "br0"]);
    await c.exec(ul, ["ip", "link", "set", "br0", "up"]);
    await c.exec(ul, ["python3", "-c", `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("192.168.${c.net}.99",0));[s.sendto(bytes([8,0,0,0,0,0,1,0])+bytes(64),("192.168.${c.net}.1",8472)) for _ in range(3)]`]);
    await new Promise((r) => setTimeout(r, 300));
    const after = env.routers[0]!.counters().counters;
    expect(after["drop.SpoofedIp"]!).toBeGreaterThan(before["drop.SpoofedIp"]!);
    expect(after["drop.UnknownPeer"]! - before["drop.UnknownPeer"]!).toBe(3);
  });
});

describe("host routes follow the peers when no cluster CIDRs are configured", () => {
  it("adds a peer's pod CIDRs to the host TUN and removes them with the peer", async () => {
    const { Cluster } = await import("../host/demo/cluster.ts");
    const { createRouter } = await import("../host/router/router.ts");
    const { parseNodeConfig } = await import("../host/config/node-config.ts");
    const c = Cluster.create({ nodes: 1, podsPerNode: 0 });
    const cfg = parseNodeConfig({ ...c.nodes[0]!.config, clusterCIDRs: [], peers: [], mtu: undefined, limits: undefined, control: { stateFile: false } });
    const r = createRouter({ ...cfg, mtu: c.nodes[0]!.config.mtu, limits: c.nodes[0]!.config.limits }, { log: () => {} });
    try {
      await r.start();
      const routes = async () => c.exec(c.nodes[0]!.ns, ["ip", "route", "show", "dev", "weft0"]);
      r.addPeer({ name: "b", underlay: "192.168.1.2", vtepMac: "02:00:00:00:00:0b", podCIDRs: ["10.72.0.0/24"] });
      expect(await routes()).toMatch(/10\.72\.0\.0\/24/);
      r.removePeer({ name: "b" });
      expect(await routes()).not.toMatch(/10\.72\.0\.0\/24/);
    } finally {
      await r.stop();
      c.destroy();
    }
  });
});

describe("the host port's watchdog", () => {
  it("puts back a host route and an address someone removed, and opens the host TUN again when it is deleted", async () => {
    const { Cluster } = await import("../host/demo/cluster.ts");
    const { createRouter } = await import("../host/router/router.ts");
    const c = Cluster.create({ nodes: 1, podsPerNode: 1 });
    const node = c.nodes[0]!;
    const p = node.pods[0]!;
    const logs: string[] = [];
    const r = createRouter(node.config, { log: (m) => logs.push(m), hostCheckMs: 0 }); // checked by hand here
    try {
      await r.start();
      r.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
      const host = node.config.hostInterface, gw4 = node.config.gateway4!, cluster4 = node.config.clusterCIDRs[0]!;
      const bothWays = async () => { await c.ping(node.ns, p.ipv4, 1); await c.ping(p.ns, gw4, 1); };
      await bothWays();
      expect(r.checkHostPort()).toEqual([]);
      expect(r.health()).toEqual({ ok: true, problems: [] });
      await c.exec(node.ns, ["ip", "route", "del", cluster4, "dev", host]);
      await expect(c.ping(node.ns, p.ipv4, 1)).rejects.toThrow();
      expect(r.checkHostPort()).toEqual([`route ${cluster4}`]);
      await bothWays();
      await c.exec(node.ns, ["ip", "addr", "del", `${gw4}/32`, "dev", host]);
      expect(r.checkHostPort()).toContain(`address ${gw4}`);
      await bothWays();
      await c.exec(node.ns, ["ip", "link", "del", "dev", host]);
      expect(r.health()).toEqual({ ok: false, problems: [`host interface ${host} is missing`] }); // what a probe sees until the repair
      expect(r.checkHostPort()).toEqual([`interface ${host}`]);
      await bothWays();
      expect(r.checkHostPort()).toEqual([]);
      expect(r.health().ok).toBe(true);
      expect(r.counters().counters["router.host_repairs"]).toBeGreaterThanOrEqual(3);
      expect(logs.join("\n")).toMatch(new RegExp(`host port: ${host} is gone; opening it again`));
    } finally {
      await r.stop();
      c.destroy();
    }
  }, 60_000);

  it("health: every data-plane worker answers; a dead worker stops the router and the probe says so", async () => {
    const { Cluster } = await import("../host/demo/cluster.ts");
    const { createRouter } = await import("../host/router/router.ts");
    const c = Cluster.create({ nodes: 1, podsPerNode: 0 });
    const node = c.nodes[0]!;
    let fatal: Error | undefined;
    // The epoll loop: terminate() reaches a thread blocked in the native loop only after many of its
    // 200 ms waits (V8 checks for termination rarely in a loop that calls into the addon), seconds here.
    const r = createRouter({ ...node.config, workers: 2, datapath: { ...node.config.datapath, loop: "epoll" } } as typeof node.config, { log: () => {}, hostCheckMs: 0, onFatal: (e) => { fatal = e; } });
    try {
      await r.start();
      expect(r.health()).toEqual({ ok: true, problems: [] });
      const pool = (r as unknown as { pool: { workers: { thread: { terminate(): Promise<number> } }[] } }).pool;
      await pool.workers[1]!.thread.terminate();
      for (let t = 0; t < 100 && !fatal; t++) await new Promise((res) => setTimeout(res, 20));
      expect(fatal?.message).toMatch(/worker 1/);
      expect(r.health()).toEqual({ ok: false, problems: ["not running"] });
    } finally {
      await r.stop();
      c.destroy();
    }
  }, 60_000);

  it("runs by itself every hostCheckMs", async () => {
    const { Cluster } = await import("../host/demo/cluster.ts");
    const { createRouter } = await import("../host/router/router.ts");
    const c = Cluster.create({ nodes: 1, podsPerNode: 0 });
    const node = c.nodes[0]!;
    const r = createRouter(node.config, { log: () => {}, hostCheckMs: 100 });
    try {
      await r.start();
      const cluster4 = node.config.clusterCIDRs[0]!;
      const routes = () => c.exec(node.ns, ["ip", "route", "show", "dev", node.config.hostInterface]);
      await c.exec(node.ns, ["ip", "route", "del", cluster4, "dev", node.config.hostInterface]);
      let back = false;
      for (let t = 0; t < 50 && !back; t++) { await new Promise((res) => setTimeout(res, 100)); back = (await routes()).includes(cluster4); }
      expect(back).toBe(true);
    } finally {
      await r.stop();
      c.destroy();
    }
  }, 60_000);
});

describe("with TUN/TAP offloads (IFF_VNET_HDR, TSO split and GRO coalescing in Wasm)", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, offloads: true }); });
  afterAll(async () => { await env?.close(); });

  it("moves 100 MB of TCP across nodes in IPv4 and IPv6 as super-packets, bytes verified", async () => {
    const c = env.cluster;
    const dst = c.pod("n2p1");
    for (const fam of ["ipv4", "ipv6"] as const) {
      const sink = await startServer(dst.ns, "tcp_sink.py", [dst[fam], "7500"]);
      const sent = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "tcp_source.py", dst[fam], "7500", String(100 << 20)], 180_000)).trim();
      expect((await sink.result).trim()).toBe(sent);
    }
    const tx = env.routers[0]!.datapathStats(), rx = env.routers[1]!.datapathStats();
    // the sender's kernel handed over super-packets (many segments per read) ...
    expect(tx.segmentsOut / tx.superPacketsIn).toBeGreaterThan(4);
    // ... and the receiving router wrote coalesced frames (many segments per write)
    expect(rx.packetsOut / rx.coalescedWrites).toBeGreaterThan(4);
    expect(tx.offloadRefused).toBe(0);
    // the same, by name in `weft counters`: the Wasm splitter's and coalescer's own counters
    const k0 = env.routers[0]!.counters().counters, k1 = env.routers[1]!.counters().counters;
    expect(k0["offload.split_segments"]! / k0["offload.split_gso"]!).toBeGreaterThan(4);
    expect(k1["offload.gro_merged"]! / k1["offload.gro_super"]!).toBeGreaterThan(4);
    expect(k0["offload.refused.GsoUnsupported"]).toBe(0);
  }, 240_000);

  it("still pings (same node, cross node, host) and carries a 2000-byte UDP datagram", async () => {
    await pingsAndCarries2000ByteUdp(env, 7600);
  });
});

describe("with TUN/TAP offloads: USO (a pod sending with UDP_SEGMENT)", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, offloads: true, udpOffloads: true }); });
  afterAll(async () => { await env?.close(); });

  it("pod TAPs and the host TUN take TUN_F_USO4|USO6; UDP_SEGMENT sends arrive at the far pod as the individual datagrams (count and hash), IPv4 and IPv6", async () => {
    const c = env.cluster;
    const r0 = env.routers[0]!;
    const tc = r0.counters().counters;
    expect(tc["offload.host_tun_uso"]).toBe(1);
    expect(tc["offload.pod_taps_uso"]).toBe(2);
    // sizes: multiples of gso_size, short last segments, one that fits one segment (no GSO), 50 segments
    const sizes = ["12000", "12001", "30017", "700", "47003", "2401", "60000", "5555"];
    const GSO = 1200;
    const count = sizes.reduce((s, n) => s + Math.ceil(Number(n) / GSO), 0);
    const dst = c.pod("n2p1");
    const splitUso = () => r0.counters().counters["offload.split_uso"]!;
    for (const fam of ["ipv4", "ipv6"] as const) {
      const uso0 = splitUso();
      const port = fam === "ipv4" ? "7900" : "7901";
      const sink = await startServer(dst.ns, "udp_gso.py", ["recv", dst[fam], port, String(count)]);
      const sent = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "udp_gso.py", "send", dst[fam], port, String(GSO), ...sizes])).trim();
      expect(sent.split(" ")[0]).toBe(String(count));
      expect((await sink.result).trim()).toBe(sent);
      // the sending router read GSO_UDP_L4 super-packets from the pod's TAP and split them in Wasm
      expect(splitUso() - uso0).toBe(sizes.filter((n) => Number(n) > GSO).length);
    }
    expect(r0.datapathStats().offloadRefused).toBe(0);
  }, 120_000);
});

describe("with TUN/TAP offloads on a kernel that refuses USO (refuseTunUso: EINVAL as before Linux 6.2)", () => {
  let env: Env;
  const logs: string[] = [];
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, offloads: true, routerOptions: { refuseTunUso: true, log: (m) => logs.push(m) } }); });
  afterAll(async () => { await env?.close(); });

  it("falls back to TSO only, says so once per router, and UDP_SEGMENT sends still arrive as the individual datagrams", async () => {
    const c = env.cluster;
    const r0 = env.routers[0]!;
    const tc = r0.counters().counters;
    expect([tc["offload.host_tun_tso"], tc["offload.host_tun_uso"], tc["offload.pod_taps_tso"], tc["offload.pod_taps_uso"]]).toEqual([1, 0, 2, 0]);
    expect(logs.filter((l) => l.includes("USO") && l.includes("off (kernel refused")).length).toBe(env.routers.length);
    expect(logs.some((l) => l.includes("offloads refused"))).toBe(false);
    const splitUso = () => r0.counters().counters["offload.split_uso"]!;
    const uso0 = splitUso();
    const sizes = ["12000", "30017", "700"];
    const count = sizes.reduce((s, n) => s + Math.ceil(Number(n) / 1200), 0);
    const dst = c.pod("n2p1");
    const sink = await startServer(dst.ns, "udp_gso.py", ["recv", dst.ipv4, "7902", String(count)]);
    const sent = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "udp_gso.py", "send", dst.ipv4, "7902", "1200", ...sizes])).trim();
    expect((await sink.result).trim()).toBe(sent);
    // the pod's kernel segmented them itself: no GSO_UDP_L4 read
    expect(splitUso() - uso0).toBe(0);
  }, 120_000);
});

for (const [encapsulation, underlay] of [["vxlan", 4], ["geneve", 6]] as const)
describe(`${encapsulation} over IPv${underlay} with TUN/TAP offloads and underlay UDP GSO + GRO (offloads.tun, udpGso, udpGro)`, () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation, underlay, offloads: true, udpOffloads: true }); });
  afterAll(async () => { await env?.close(); });

  it("moves 100 MB of TCP across nodes in IPv4 and IPv6, bytes verified, the underlay sending GSO runs", async () => {
    const c = env.cluster;
    const dst = c.pod("n2p1");
    for (const fam of ["ipv4", "ipv6"] as const) {
      const sink = await startServer(dst.ns, "tcp_sink.py", [dst[fam], "7700"]);
      const sent = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "tcp_source.py", dst[fam], "7700", String(100 << 20)], 180_000)).trim();
      expect((await sink.result).trim()).toBe(sent);
    }
    const tx = env.routers[0]!.counters().counters, rx = env.routers[1]!.counters().counters;
    expect(tx["underlay.udp_gso_active"]).toBe(1);
    expect(rx["underlay.udp_gro_active"]).toBe(1);
    // many segments per UDP_SEGMENT send; nothing fell back
    expect(tx["underlay.gso_segments"]! / tx["underlay.gso_sends"]!).toBeGreaterThan(4);
    expect(tx["underlay.gso_fallbacks"]).toBe(0);
    // the receiving socket got coalesced datagrams and split them
    expect(rx["underlay.gro_segments"]!).toBeGreaterThan(rx["underlay.gro_datagrams"]!);
    // ... most of them received in place (same segment size as the datagram before)
    expect(rx["underlay.gro_in_place"]!).toBeGreaterThan(rx["underlay.gro_segments"]! / 2);
  }, 240_000);

  it("still pings (same node, cross node, host, IPv4 and IPv6) and carries a 2000-byte UDP datagram", async () => {
    await pingsAndCarries2000ByteUdp(env, 7800);
  });
});

/** Pings same node, cross node (IPv4 and IPv6) and from the host, and echoes a 2000-byte UDP datagram across nodes. */
async function pingsAndCarries2000ByteUdp(env: Env, port: number): Promise<void> {
    const c = env.cluster;
    const a = c.pod("n1p2"), b = c.pod("n2p2");
    await c.ping(a.ns, b.ipv4, 2);
    await c.ping(a.ns, b.ipv6, 2);
    await c.ping(a.ns, c.pod("n1p1").ipv4, 2);
    await c.ping(c.nodes[0]!.ns, b.ipv4, 2);
    const srv = await startServer(b.ns, "udp_echo.py", ["serve", b.ipv4, String(port)]);
    const out = (await c.exec(a.ns, ["python3", TOOLS + "udp_echo.py", "send", b.ipv4, String(port), "2000"])).trim().split(" ");
    await srv.result;
    expect(out[0]).toBe("2000");
    expect(out[1]).toBe(out[2]);
}
