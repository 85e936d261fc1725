// End to end with data-plane workers (workers: 2), as root in namespaces this file creates: the
// router-e2e connectivity checks and the 100 MB hash-verified TCP transfer, with TUN/TAP offloads
// off and on; a flow stays on one worker; a route/peer change made under traffic reaches every
// worker. (workers: 1 is test/router-e2e.test.ts, which runs the batch loop on the main thread.)
import { it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { startCluster, startServer, TOOLS, type Env } from "./e2e/harness.ts";
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
  describeRequiring(missing.length && missing)(`workers: 2, vxlan over IPv4, offloads ${offloads ? "on" : "off"}`, () => {
    let env: Env;
    beforeAll(async () => { env = await startCluster({ encapsulation: "vxlan", underlay: 4, workers: 2, offloads }); });
    afterAll(async () => { await env?.close(); });

    it("runs two workers and pods reach pods (same node, across nodes, IPv4 and IPv6) and the host", async () => {
      expect(env.routers.map((r) => r.workerCount)).toEqual([2, 2]);
      const c = env.cluster;
      const a = c.pod("n1p1");
      for (const to of [c.pod("n1p2"), c.pod("n2p1"), c.pod("n2p2")]) {
        await c.ping(a.ns, to.ipv4, 2);
        await c.ping(a.ns, to.ipv6, 2);
      }
      await c.ping(c.nodes[0]!.ns, c.pod("n2p1").ipv4, 2);
      await c.ping(c.pod("n2p1").ns, c.nodes[0]!.config.gateway6!, 2);
      const k = env.routers[0]!.counters().counters;
      expect(k["peer.n2.tx_packets"]).toBeGreaterThan(0);
      expect(k["peer.n2.rx_packets"]).toBeGreaterThan(0);
      // the sums are over both workers: they match the per-worker figures
      expect(perWorker(k, ".packets_in").reduce((x, y) => x + y, 0)).toBe(k["datapath.packets_in"]);
    });

    it("moves 100 MB of TCP across nodes, bytes verified by hash at the far end", async () => {
      const c = env.cluster;
      const dst = c.pod("n2p1");
      const sink = await startServer(dst.ns, "tcp_sink.py", [dst.ipv4, "7100"]);
      const sent = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "tcp_source.py", dst.ipv4, "7100", String(100 << 20)], 180_000)).trim();
      const got = (await sink.result).trim();
      expect(got).toBe(sent);
      expect(got.split(" ")[0]).toBe(String(100 << 20));
      if (offloads) {
        const s = env.routers[0]!.datapathStats();
        expect(s.segmentsOut / s.superPacketsIn).toBeGreaterThan(4);
      }
    }, 240_000);
  });
}
