// Pods come and go all day: attach/detach churn must not leak fds or data-plane ports. With
// limits.maxPods 4, 200 detach/attach cycles of one pod only work if every detach gives its port
// back (to the tables, the workers and the native engine); traffic still flows after them. Runs
// as root in namespaces it makes and removes; one node, workers 1 (default loop) and workers 2
// with offloads (multi-queue TAPs, GRO states).
import { it, expect } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import { Cluster } from "../host/demo/cluster.ts";
import { createRouter } from "../host/router/router.ts";
import { describeRequiring } from "./helpers/require.ts";
import { nativeAvailable } from "../host/native/index.ts";

const missing = [
  ...(process.getuid?.() === 0 ? [] : ["root"]),
  ...(existsSync("/dev/net/tun") ? [] : ["/dev/net/tun"]),
  ...(nativeAvailable() ? [] : ["the native addon (npm run build:native)"]),
];

for (const { workers, offloads } of [{ workers: 1, offloads: false }, { workers: 2, offloads: true }]) {
  describeRequiring(missing.length && missing)(`attach/detach churn, workers ${workers}, offloads ${offloads ? "on" : "off"}`, () => {
    it("200 cycles with maxPods 4: no fd left behind, ports reused, traffic after", async () => {
      const cluster = Cluster.create({ nodes: 1, podsPerNode: 2, offloads, udpOffloads: offloads });
      const node = cluster.nodes[0]!;
      const r = createRouter({ ...node.config, workers, limits: { ...node.config.limits, maxPods: 4 } }, { log: () => {} });
      try {
        await r.start();
        const [a, b] = node.pods as [typeof node.pods[0], typeof node.pods[0]];
        const attach = (p: typeof a) => r.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
        attach(a);
        attach(b);
        await cluster.ping(a.ns, b.ipv4, 1);
        const fds = readdirSync("/proc/self/fd").length;
        for (let i = 0; i < 200; i++) {
          expect(r.detachPod({ containerId: b.name, ifName: b.ifName })).toEqual({ existed: true });
          attach(b);
        }
        expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(fds + 2);
        await cluster.ping(a.ns, b.ipv4, 2);
        await cluster.ping(b.ns, a.ipv6, 2);
        expect(r.listPods().pods.length).toBe(2);
      } finally {
        await r.stop();
        cluster.destroy();
      }
    }, 120_000);
  });
}
