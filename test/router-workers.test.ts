// End to end with data-plane workers (workers: 2), as root in namespaces this file creates: the
// router-e2e connectivity checks and the 100 MB hash-verified TCP transfer, with TUN/TAP and UDP offloads
// off and on; a flow stays on one worker; a route/peer change made under traffic reaches every
// worker. These run the libuv loop in the workers (datapath.loop: libuv); the default native loop
// and the epoll loop are test/router-epoll.test.ts (and router-e2e.test.ts runs the default).
import { it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { pingEverywhere, startCluster, startOneNode, startServer, tcpTransfer, TOOLS, type Env } from "./e2e/harness.ts";
import { describeRequiring } from "./helpers/require.ts";
import { nativeAvailable } from "../host/native/index.ts";

const missing = [
  ...(process.getuid?.() === 0 ? [] : ["root"]),
  ...(existsSync("/dev/net/tun") ? [] : ["/dev/net/tun"]),
  ...(nativeAvailable() ? [] : ["the native addon (npm run build:native)"]),
];

/** Sum of `key` over the workers' counters, and the per-worker values. */
function perWorker(k: Record<string, number>, suffix: string): number[] {
  return Object.keys(k).filter((n) => /^worker\.\d+\./.test(n) && n.endsWith(suffix)).sort().map((n) => k[n]!);
}

for (const offloads of [false, true]) {
  describeRequiring(missing.length && missing)(`workers: 2, vxlan over IPv4, offloads (tun, udpGso, udpGro) ${offloads ? "on" : "off"}`, () => {
    let env: Env;
    beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, workers: 2, offloads, udpOffloads: offloads, datapath: { loop: "libuv" } }); });
    afterAll(async () => { await env?.close(); });

    it("runs two workers and pods reach pods (same node, across nodes, IPv4 and IPv6) and the host", async () => {
      expect(env.routers.map((r) => r.workerCount)).toEqual([2, 2]);
      const k = await pingEverywhere(env);
      expect(k["peer.n2.tx_packets"]).toBeGreaterThan(0);
      expect(k["peer.n2.rx_packets"]).toBeGreaterThan(0);
      // the sums are over both workers: they match the per-worker figures
      expect(perWorker(k, ".packets_in").reduce((x, y) => x + y, 0)).toBe(k["datapath.packets_in"]);
    });

    it("moves 100 MB of TCP across nodes, bytes verified by hash at the far end", async () => {
      const { sent, got } = await tcpTransfer(env, 7100);
      expect(got).toBe(sent);
      expect(got.split(" ")[0]).toBe(String(100 << 20));
      if (offloads) {
        const s = env.routers[0]!.datapathStats();
        expect(s.segmentsOut / s.superPacketsIn).toBeGreaterThan(4);
        // each worker sends with a GSO sender of its own, the far node's workers split GRO datagrams
        const k0 = env.routers[0]!.counters().counters, k1 = env.routers[1]!.counters().counters;
        expect(k0["underlay.udp_gso_active"]).toBe(1);
        expect(k0["underlay.gso_segments"]! / k0["underlay.gso_sends"]!).toBeGreaterThan(4);
        expect(k0["underlay.gso_fallbacks"]).toBe(0);
        expect(k1["underlay.gro_segments"]).toBeGreaterThan(k1["underlay.gro_datagrams"]!);
        // the Wasm offload counters, summed over the workers
        expect(k0["offload.split_gso"]).toBeGreaterThan(0);
        expect(k1["offload.gro_super"]).toBeGreaterThan(0);
      }
    }, 240_000);
  });
}

describeRequiring(missing.length && missing)("workers: 2, flows and table changes", () => {
  let env: Env;
  beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, workers: 2 }); });
  afterAll(async () => { await env?.close(); });

  it("keeps the packets of one TCP flow on one worker per node", async () => {
    const c = env.cluster;
    const src = c.pod("n1p1"), dst = c.pod("n2p1");
    await c.ping(src.ns, dst.ipv4, 1); // neighbours resolved before counting
    const k0 = [env.routers[0]!.counters().counters, env.routers[1]!.counters().counters];
    const sink = await startServer(dst.ns, "tcp_sink.py", [dst.ipv4, "7400"]);
    const sent = (await c.exec(src.ns, ["python3", TOOLS + "tcp_source.py", dst.ipv4, "7400", String(8 << 20)], 60_000)).trim();
    expect((await sink.result).trim()).toBe(sent);
    const k1 = [env.routers[0]!.counters().counters, env.routers[1]!.counters().counters];
    const delta = (node: number, suffix: string) => {
      const a = perWorker(k0[node]!, suffix), b = perWorker(k1[node]!, suffix);
      return b.map((v, i) => v - a[i]!);
    };
    // node 1 reads the flow from the source pod's TAP; node 2 receives it on the underlay
    for (const [node, suffix] of [[0, `.port.pod:${src.name}/${src.ifName}.rx_packets`], [1, ".port.underlay.rx_packets"]] as const) {
      const d = delta(node, suffix);
      expect(d.length).toBe(2);
      const total = d[0]! + d[1]!;
      expect(total).toBeGreaterThan(1000);
      // the flow may move once, right at its start (see docs/WORKERS.md): allow a handful
      expect(Math.min(...d)).toBeLessThanOrEqual(8);
    }
    // node 2: the ACKs the far pod sends back are read on the TAP queue of the worker that wrote
    // the data to it (the kernel's TUN flow steering learns the queue from our writes)
    const data = delta(1, ".port.underlay.rx_packets"), acks = delta(1, `.port.pod:${dst.name}/${dst.ifName}.rx_packets`);
    const w = data[0]! > data[1]! ? 0 : 1;
    expect(acks[w]!).toBeGreaterThan(100);
    expect(acks[1 - w]!).toBeLessThanOrEqual(8);
  }, 90_000);

  it("applies a route and a peer change made under traffic to every worker", async () => {
    const c = env.cluster;
    const r = env.routers[0]!;
    const src = c.pod("n1p1"), dst = c.pod("n2p1");
    const sink = await startServer(dst.ns, "tcp_sink.py", [dst.ipv4, "7500"]);
    const transfer = c.exec(src.ns, ["python3", TOOLS + "tcp_source.py", dst.ipv4, "7500", String(60 << 20)], 120_000);
    await new Promise((res) => setTimeout(res, 300)); // the transfer is running
    const peerIdx = r.tables.peers.get("n2")!.idx;
    // a blackhole for one far pod, then gone again: every worker sees each state
    r.addRoute({ dst: `${c.pod("n2p2").ipv4}/32`, target: { kind: "blackhole" } });
    expect(r.lookups(c.pod("n2p2").ipv4)).toEqual([{ kind: "blackhole" }, { kind: "blackhole" }]);
    await expect(c.ping(c.pod("n1p2").ns, c.pod("n2p2").ipv4, 1)).rejects.toThrow();
    r.removeRoute({ dst: `${c.pod("n2p2").ipv4}/32` });
    expect(r.lookups(c.pod("n2p2").ipv4)).toEqual([{ kind: "peer", peer: peerIdx }, { kind: "peer", peer: peerIdx }]);
    await c.ping(c.pod("n1p2").ns, c.pod("n2p2").ipv4, 1);
    // the peer replaced (same name, same address) while its traffic flows: all workers follow
    const p = r.peers().peers.find((x) => x.name === "n2")!;
    r.addPeer({ name: "n2", underlay: p.underlay, vtepMac: p.vtepMac, podCIDRs: [...p.podCIDRs] });
    const idx2 = r.tables.peers.get("n2")!.idx;
    expect(r.lookups(dst.ipv4)).toEqual([{ kind: "peer", peer: idx2 }, { kind: "peer", peer: idx2 }]);
    const sent = (await transfer).trim();
    expect((await sink.result).trim()).toBe(sent);
  }, 150_000);
});

describeRequiring(missing.length && missing)("workers: 2, a worker crash", () => {
  it("stops the router cleanly: reported, interfaces and routes removed", async () => {
    const logs: string[] = [];
    let fatal: Error | undefined;
    const { cluster: c, router: r, pod: p, close } = await startOneNode({ workers: 2 }, { log: (m) => logs.push(m), onFatal: (e) => { fatal = e; } });
    try {
      await c.ping(p.ns, c.nodes[0]!.config.gateway4!, 1);
      expect(await c.exec(p.ns, ["ip", "-d", "link", "show", "dev", p.ifName])).toMatch(/multi_queue numqueues 2 /);
      expect(await c.exec(c.nodes[0]!.ns, ["ip", "-d", "link", "show", "dev", "weft0"])).toMatch(/multi_queue numqueues 2 /);
      // kill one worker thread from outside, as a crash would
      await (r as unknown as { pool: { workers: { thread: { terminate(): Promise<number> } }[] } }).pool.workers[1]!.thread.terminate();
      const deadline = Date.now() + 10_000;
      while (!fatal && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      expect(fatal?.message).toMatch(/worker 1: exited/);
      expect(r.running).toBe(false);
      expect(logs.join("\n")).toMatch(/stopping the router/);
      await expect(c.exec(c.nodes[0]!.ns, ["ip", "link", "show", "dev", "weft0"])).rejects.toThrow();
      await expect(c.exec(p.ns, ["ip", "link", "show", "dev", p.ifName])).rejects.toThrow();
    } finally {
      await close();
    }
  }, 60_000);
});
