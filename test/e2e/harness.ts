// Shared plumbing of the end-to-end tests: a netns cluster with in-process routers, servers
// started inside pods, and cleanup that always runs.
import { spawn, type ChildProcess } from "node:child_process";
import { Cluster, type ClusterSpec } from "../../host/demo/cluster.ts";
import { createRouter, type Router, type RouterOptions } from "../../host/router/router.ts";
import type { NodeConfig } from "../../host/config/node-config.ts";

export const TOOLS = new URL("../../host/demo/", import.meta.url).pathname;

export interface Env { cluster: Cluster; routers: Router[]; close(): Promise<void> }

/** Builds the cluster, starts one in-process router per node and attaches every pod. */
export async function startCluster(spec: ClusterSpec & { kernelNodes?: number[]; workers?: number; datapath?: { loop: "libuv" | "epoll" | "native"; spinUs?: number; runtime?: "v8" | "aot" }; routerOptions?: RouterOptions } = {}): Promise<Env> {
  const cluster = Cluster.create(spec);
  const routers: Router[] = [];
  const close = async () => {
    for (const r of routers) { try { await r.stop(); } catch { /* keep cleaning */ } }
    cluster.destroy();
  };
  try {
    for (const n of cluster.nodes) {
      if (spec.kernelNodes?.includes(n.index)) continue;
      const r = createRouter({ ...n.config, ...(spec.workers ? { workers: spec.workers } : {}),
        ...(spec.datapath ? { datapath: { loop: spec.datapath.loop, spinUs: spec.datapath.spinUs ?? 0, runtime: spec.datapath.runtime } } : {}) }, { log: () => {}, ...spec.routerOptions });
      await r.start();
      routers[n.index - 1] = r;
      for (const p of n.pods) r.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { cluster, routers, close };
}

/** Starts `python3 script args` in `ns` and resolves once it printed its first line. */
export function startServer(ns: string, script: string, args: string[]): Promise<{ proc: ChildProcess; result: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn("ip", ["netns", "exec", ns, "python3", TOOLS + script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "", ready = false;
    const result = new Promise<string>((res, rej) => {
      proc.on("exit", (code) => (code === 0 ? res(out.split("\n").filter(Boolean).slice(1).join("\n")) : rej(new Error(`${script} exited ${code}: ${err}`))));
    });
    result.catch(() => {});
    proc.stdout!.on("data", (d) => { out += d; if (!ready && out.includes("\n")) { ready = true; resolve({ proc, result }); } });
    proc.stderr!.on("data", (d) => { err += d; });
    proc.on("exit", (code) => { if (!ready) reject(new Error(`${script} exited ${code} before listening: ${err}`)); });
    setTimeout(() => { if (!ready) { proc.kill(); reject(new Error(`${script} did not start`)); } }, 10_000);
  });
}

/**
 * Pings from pod n1p1 to every other pod (IPv4 and IPv6), from node 1 to pod n2p1 and from pod
 * n2p1 to node 1's IPv6 gateway; returns router 1's counters after it (the callers assert on them).
 */
export async function pingEverywhere(env: Env): Promise<Record<string, number>> {
  const c = env.cluster;
  const a = c.pod("n1p1");
  for (const to of [c.pod("n1p2"), c.pod("n2p1"), c.pod("n2p2")]) {
    await c.ping(a.ns, to.ipv4, 2);
    await c.ping(a.ns, to.ipv6, 2);
  }
  await c.ping(c.nodes[0]!.ns, c.pod("n2p1").ipv4, 2);
  await c.ping(c.pod("n2p1").ns, c.nodes[0]!.config.gateway6!, 2);
  return env.routers[0]!.counters().counters;
}

/**
 * Sends `bytes` of TCP from pod n1p1 to pod n2p1 (`family` address, TCP `port`) and returns what
 * the sink received: "<bytes> <sha256>", which the caller compares with the source's line.
 */
export async function tcpTransfer(env: Env, port: number, bytes = 100 << 20, family: "ipv4" | "ipv6" = "ipv4"): Promise<{ sent: string; got: string }> {
  const c = env.cluster;
  const dst = c.pod("n2p1");
  const sink = await startServer(dst.ns, "tcp_sink.py", [dst[family], String(port)]);
  const sent = (await c.exec(c.pod("n1p1").ns, ["python3", TOOLS + "tcp_source.py", dst[family], String(port), String(bytes)], 180_000)).trim();
  return { sent, got: (await sink.result).trim() };
}

/**
 * A one-node, one-pod cluster and its in-process router (`config` over the node's own), started,
 * the pod attached. `close` stops the router and removes the namespaces; call it in `finally`.
 */
export async function startOneNode(config: Partial<NodeConfig>, options: RouterOptions): Promise<{ cluster: Cluster; router: Router; pod: Cluster["nodes"][number]["pods"][number]; close(): Promise<void> }> {
  const cluster = Cluster.create({ nodes: 1, podsPerNode: 1 });
  const node = cluster.nodes[0]!;
  const router = createRouter({ ...node.config, ...config }, options);
  const close = async () => { try { await router.stop(); } finally { cluster.destroy(); } };
  try {
    await router.start();
    const pod = node.pods[0]!;
    router.attachPod({ containerId: pod.name, ifName: pod.ifName, netns: `/var/run/netns/${pod.ns}`, ipv4: pod.ipv4, ipv6: pod.ipv6 });
    return { cluster, router, pod, close };
  } catch (e) {
    await close();
    throw e;
  }
}
