// The blocking-wait data-plane loops (`datapath.loop: "epoll"`, host/router/workers/epoll-loop.ts,
// and `"native"`, native-loop.ts with the port I/O in src/engine.cc), each end to end as root in namespaces this file creates: with workers: 1 (one worker thread runs the
// data plane) and workers: 2 with offloads; connectivity, a 100 MB hash-verified TCP transfer,
// table changes answered while the loop blocks, clean shutdown and a killed worker. Config
// validation runs without root.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { pingEverywhere, startCluster, startOneNode, tcpTransfer, type Env } from "./e2e/harness.ts";
import { describeRequiring } from "./helpers/require.ts";
import { nativeAvailable } from "../host/native/index.ts";
import { ConfigError, parseNodeConfig } from "../host/config/node-config.ts";

const missing = [
  ...(process.getuid?.() === 0 ? [] : ["root"]),
  ...(existsSync("/dev/net/tun") ? [] : ["/dev/net/tun"]),
  ...(nativeAvailable() ? [] : ["the native addon (npm run build:native)"]),
];

type OneNode = Awaited<ReturnType<typeof startOneNode>>;

/** Stops the router (within 5 s: the loop sees the stop request also while it spins) and checks its host TUN is gone. */
async function expectCleanStop(c: OneNode["cluster"], r: OneNode["router"]): Promise<void> {
  const t0 = Date.now();
  await r.stop();
  expect(Date.now() - t0).toBeLessThan(5000);
  await expect(c.exec(c.nodes[0]!.ns, ["ip", "link", "show", "dev", "weft0"])).rejects.toThrow();
}

function sumOf(k: Record<string, number>, re: RegExp): number {
  return Object.keys(k).filter((n) => re.test(n)).reduce((a, n) => a + k[n]!, 0);
}

describe("datapath config", () => {
  const base = { name: "n1", vtepMac: "02:00:00:00:00:01", underlay: { ipv4: "192.168.9.1" }, podCIDRs: ["10.9.1.0/24"] };
  it("defaults to the native loop and accepts libuv, and epoll with a spin", () => {
    expect(parseNodeConfig(base).datapath).toEqual({ loop: "native", spinUs: 0, runtime: "v8" });
    expect(parseNodeConfig({ ...base, datapath: { loop: "libuv" } }).datapath).toEqual({ loop: "libuv", spinUs: 0, runtime: "v8" });
    expect(parseNodeConfig({ ...base, datapath: { loop: "epoll", spinUs: 20 } }).datapath).toEqual({ loop: "epoll", spinUs: 20, runtime: "v8" });
    expect(parseNodeConfig({ ...base, datapath: { loop: "native" } }).datapath).toEqual({ loop: "native", spinUs: 0, runtime: "v8" });
  });
  it("names the field of a bad value", () => {
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "busy" } })).toThrow(ConfigError);
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "busy" } })).toThrow(/^datapath\.loop: /);
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "libuv", spinUs: 5 } })).toThrow(/^datapath\.spinUs: needs datapath\.loop: native or epoll/);
    expect(parseNodeConfig({ ...base, datapath: { spinUs: 300 } }).datapath).toEqual({ loop: "native", spinUs: 300, runtime: "v8" });
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "epoll", spinUs: 5000 } })).toThrow(/^datapath\.spinUs: must be at most 1000 with datapath\.loop: epoll/);
    expect(parseNodeConfig({ ...base, datapath: { loop: "native", spinUs: 20000 } }).datapath).toEqual({ loop: "native", spinUs: 20000, runtime: "v8" });
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "native", spinUs: 1_000_001 } })).toThrow(/^datapath\.spinUs: must be an integer in 0\.\.1000000/);
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "epoll", wait: 1 } })).toThrow(/^datapath\.wait: unknown field/);
    expect(parseNodeConfig({ ...base, datapath: { runtime: "aot" } }).datapath).toEqual({ loop: "native", spinUs: 0, runtime: "aot" });
    expect(() => parseNodeConfig({ ...base, datapath: { loop: "epoll", runtime: "aot" } })).toThrow(/^datapath\.runtime: "aot" needs datapath\.loop: native/);
    expect(() => parseNodeConfig({ ...base, datapath: { runtime: "jit" } })).toThrow(/^datapath\.runtime: must be "v8" or "aot"/);
  });
});

const LOOPS = ["epoll", "native"] as const;
// runtime "aot": the native loop with the data plane compiled ahead of time (docs/AOT.md)
const VARIANTS = [...LOOPS, "libuv", "native-aot"] as const;
for (const variant of VARIANTS) for (const { workers, offloads } of [{ workers: 1, offloads: false }, { workers: 2, offloads: true }]) {
  const loop = variant === "native-aot" ? "native" : variant;
  const runtime = variant === "native-aot" ? "aot" as const : undefined;
  describeRequiring(missing.length && missing)(`datapath.loop ${loop}${runtime ? `, runtime ${runtime}` : ""}, workers: ${workers}, offloads ${offloads ? "on" : "off"}`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startCluster({ encapsulation: "vxlan", underlay: 4, workers, offloads, udpOffloads: offloads, datapath: { loop, ...(runtime ? { runtime } : {}) } });
    });
    afterAll(async () => { await env?.close(); });

    it(`runs the data plane ${loop === "libuv" && workers === 1 ? "on the main thread" : "in worker threads"}; pods reach pods and the host`, async () => {
      const threads = loop === "libuv" && workers === 1 ? 0 : workers;
      expect(env.routers.map((r) => r.workerCount)).toEqual([threads, threads]);
      const k = await pingEverywhere(env);
      expect(k["peer.n2.tx_packets"]).toBeGreaterThan(0);
      expect(k["peer.n2.rx_packets"]).toBeGreaterThan(0);
      if (loop !== "libuv") {
        // the packets were read after epoll wake-ups, and the control requests woke the loop too
        expect(sumOf(k, /^worker\.\d+\.loop_wakeups$/)).toBeGreaterThan(0);
        expect(sumOf(k, /^worker\.\d+\.loop_control_wakeups$/)).toBeGreaterThan(0);
      }
      if (loop !== "libuv") expect(sumOf(k, /^worker\.\d+\.loop_read_failures$/)).toBe(0);
      if (loop !== "libuv") {
        // every worker runs the module where the config says: V8, or the AOT build inside engineRun
        for (const r of env.routers) for (const { stats } of r.loopStats()) expect(stats.runtime).toBe(runtime ?? "v8");
      }
      expect(k["datapath.packets_in"]).toBeGreaterThan(0);
      expect(k["datapath.packets_out"]).toBeGreaterThan(0);
    });

    it("moves 100 MB of TCP across nodes, bytes verified by hash at the far end", async () => {
      const { sent, got } = await tcpTransfer(env, 7200);
      expect(got).toBe(sent);
      expect(got.split(" ")[0]).toBe(String(100 << 20));
      if (offloads) {
        const s = env.routers[0]!.datapathStats(), r = env.routers[1]!.datapathStats();
        expect(s.segmentsOut / s.superPacketsIn).toBeGreaterThan(4);
        expect(r.packetsOut / r.coalescedWrites).toBeGreaterThan(4);
        expect(s.offloadRefused).toBe(0);
      }
    }, 200_000);

    it("answers table changes while the loop is blocked (a route on and off again)", async () => {
      const c = env.cluster;
      const r = env.routers[0]!;
      const far = c.pod("n2p2");
      const peerIdx = r.tables.peers.get("n2")!.idx;
      r.addRoute({ dst: `${far.ipv4}/32`, target: { kind: "blackhole" } });
      expect(r.lookups(far.ipv4)).toEqual(Array.from({ length: workers }, () => ({ kind: "blackhole" })));
      await expect(c.ping(c.pod("n1p2").ns, far.ipv4, 1)).rejects.toThrow();
      r.removeRoute({ dst: `${far.ipv4}/32` });
      expect(r.lookups(far.ipv4)).toEqual(Array.from({ length: workers }, () => ({ kind: "peer", peer: peerIdx })));
      await c.ping(c.pod("n1p2").ns, far.ipv4, 1);
    }, 60_000);
  });
}

for (const loop of LOOPS) describeRequiring(missing.length && missing)(`datapath.loop ${loop}: shutdown`, () => {
  it("stops cleanly: workers leave the loop, devices removed, no thread left waiting", async () => {
    const { cluster: c, router: r, pod: p, close } = await startOneNode({ datapath: { loop, spinUs: 0 } }, { log: () => {} });
    try {
      expect(r.workerCount).toBe(1);
      await c.ping(p.ns, c.nodes[0]!.config.gateway4!, 2);
      const thread = (r as unknown as { pool: { workers: { thread: { threadId: number; once(e: "exit", f: (code: number) => void): void } }[] } }).pool.workers[0]!.thread;
      const exited = new Promise<number>((res) => thread.once("exit", res));
      const t0 = Date.now();
      await r.stop();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r.running).toBe(false);
      expect(r.workerCount).toBe(0);
      await exited;
      await expect(c.exec(c.nodes[0]!.ns, ["ip", "link", "show", "dev", "weft0"])).rejects.toThrow();
      await expect(c.exec(p.ns, ["ip", "link", "show", "dev", p.ifName])).rejects.toThrow();
    } finally {
      await close();
    }
  }, 60_000);

  if (loop === "native") it("with datapath.spinUs the loop polls before sleeping: pods still reach the node, and it stops cleanly", async () => {
    const { cluster: c, router: r, pod: p, close } = await startOneNode({ datapath: { loop, spinUs: 300 } }, { log: () => {} });
    try {
      expect(r.workerCount).toBe(1);
      await c.ping(p.ns, c.nodes[0]!.config.gateway4!, 3);
      expect(r.counters().counters["worker.0.loop_sleeps"]).toBeGreaterThan(0);
      await expectCleanStop(c, r);
    } finally {
      await close();
    }
  }, 60_000);

  if (loop === "native") it("with a spin longer than the gaps between packets it polls (poll mode): pings 200 ms apart are spin hits, not wake-ups from sleep", async () => {
    const { cluster: c, router: r, pod: p, close } = await startOneNode({ datapath: { loop, spinUs: 1_000_000 } }, { log: () => {} });
    try {
      await c.ping(p.ns, c.nodes[0]!.config.gateway4!, 1);
      const before = r.counters().counters;
      await c.ping(p.ns, c.nodes[0]!.config.gateway4!, 6); // 200 ms apart, inside the 1 s spin
      const after = r.counters().counters;
      const hits = after["worker.0.loop_spin_hits"]! - before["worker.0.loop_spin_hits"]!;
      expect(hits).toBeGreaterThanOrEqual(5); // every request after the first at least
      // silence longer than the spin: the loop goes back to sleeping
      await new Promise((res) => setTimeout(res, 2500));
      expect(r.counters().counters["worker.0.loop_sleeps"]!).toBeGreaterThan(after["worker.0.loop_sleeps"]!);
      await expectCleanStop(c, r);
    } finally {
      await close();
    }
  }, 60_000);

  it("a worker killed while it waits in epoll_wait stops the router", async () => {
    let fatal: Error | undefined;
    const { cluster: c, router: r, pod: p, close } = await startOneNode({ workers: 2, datapath: { loop, spinUs: 0 } }, { log: () => {}, onFatal: (e) => { fatal = e; } });
    try {
      await c.ping(p.ns, c.nodes[0]!.config.gateway4!, 1);
      await (r as unknown as { pool: { workers: { thread: { terminate(): Promise<number> } }[] } }).pool.workers[1]!.thread.terminate();
      const deadline = Date.now() + 10_000;
      while (!fatal && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      expect(fatal?.message).toMatch(/worker 1: exited/);
      expect(r.running).toBe(false);
      await expect(c.exec(c.nodes[0]!.ns, ["ip", "link", "show", "dev", "weft0"])).rejects.toThrow();
      await expect(c.exec(p.ns, ["ip", "link", "show", "dev", p.ifName])).rejects.toThrow();
    } finally {
      await close();
    }
  }, 60_000);
});

// A pod's interface deleted under the router (a runtime that removed the device without a CNI
// DEL): its fd reports an error for ever after. The router keeps forwarding for the other pods,
// does not spin on the dead fd, counts it (the epoll and native loops), and detaches the pod when asked.
// An underlay outage: sends fail, are counted (io.underlay.errors, last errno), and traffic resumes.
for (const variant of VARIANTS) {
  const loop = variant === "native-aot" ? "native" : variant;
  const runtime = variant === "native-aot" ? "aot" as const : undefined;
  describeRequiring(missing.length && missing)(`datapath.loop ${loop}${runtime ? `, runtime ${runtime}` : ""}: a pod's interface deleted under the router`, () => {
    it("keeps forwarding for the other pods, does not spin on the dead fd, and detaches the pod later", async () => {
      // the watchdog's timer off: this test calls its pod check itself
      const env = await startCluster({ nodes: 1, podsPerNode: 3, datapath: { loop, ...(runtime ? { runtime } : {}) }, routerOptions: { hostCheckMs: 0 } });
      try {
        const c = env.cluster, r = env.routers[0]!;
        const a = c.pod("n1p1"), gone = c.pod("n1p2"), b = c.pod("n1p3");
        await c.ping(a.ns, gone.ipv4, 1);
        await c.ping(a.ns, b.ipv4, 1);
        await c.exec(gone.ns, ["ip", "link", "del", "dev", gone.ifName]);
        // towards the dead pod: its writes fail, nothing else does
        await expect(c.ping(a.ns, gone.ipv4, 1)).rejects.toThrow();
        await c.ping(a.ns, b.ipv4, 2);
        await c.ping(b.ns, a.ipv6, 2);
        // quiet: the process (all its threads) stays idle instead of polling the dead fd
        const cpu0 = process.cpuUsage();
        await new Promise((res) => setTimeout(res, 1000));
        const cpu = process.cpuUsage(cpu0);
        expect((cpu.user + cpu.system) / 1000).toBeLessThan(200);
        if (loop !== "libuv") expect(sumOf(r.counters().counters, /^worker\.\d+\.loop_read_failures$/)).toBe(1);
        // the watchdog's pod check (every 10 s; called here) marks it, once
        expect(r.checkPods()).toEqual([`${gone.name}/${gone.ifName}`]);
        expect(r.checkPods()).toEqual([]);
        expect(r.listPods().pods.filter((p) => p.deviceGone).map((p) => p.containerId)).toEqual([gone.name]);
        expect(r.counters().counters["router.pod_devices_gone"]).toBe(1);
        expect(r.detachPod({ containerId: gone.name, ifName: gone.ifName })).toEqual({ existed: true });
        expect(r.listPods().pods.map((p) => p.containerId).sort()).toEqual([a.name, b.name]);
        await c.ping(b.ns, a.ipv4, 2);
        expect(r.running).toBe(true);
      } finally {
        await env.close();
      }
    }, 60_000);

    it("rides out an underlay outage: sends that fail are counted per port with their errno, traffic resumes when the link is back", async () => {
      const env = await startCluster({ encapsulation: "vxlan", underlay: 4, datapath: { loop, ...(runtime ? { runtime } : {}) } });
      try {
        const c = env.cluster, r = env.routers[0]!;
        const a = c.pod("n1p1"), far = c.pod("n2p1"), near = c.pod("n1p2");
        await c.ping(a.ns, far.ipv4, 1);
        expect(r.counters().counters["io.underlay.errors"]).toBe(0);
        await c.exec(c.nodes[0]!.ns, ["ip", "link", "set", "dev", "eth0", "down"]);
        await expect(c.ping(a.ns, far.ipv4, 1)).rejects.toThrow();
        await c.ping(a.ns, near.ipv4, 1); // the node's own pods are not affected
        const k = r.counters().counters;
        expect(k["io.underlay.errors"]).toBeGreaterThanOrEqual(1);
        expect(k["io.underlay.last_errno"]).toBe(101); // ENETUNREACH: no route to the peer while the link is down
        expect(k["io.underlay.kernel_drops"]).toBe(0);
        await c.exec(c.nodes[0]!.ns, ["ip", "link", "set", "dev", "eth0", "up"]);
        let ok = false;
        for (let t = 0; t < 20 && !ok; t++) ok = await c.ping(a.ns, far.ipv4, 1).then(() => true, () => false);
        expect(ok).toBe(true);
        expect(r.running).toBe(true);
      } finally {
        await env.close();
      }
    }, 90_000);
  });
}
