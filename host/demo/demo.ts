// `weft demo`: a local cluster of 2 nodes x 2 pods in network namespaces, a Weft router per node,
// pods reaching each other across nodes in IPv4 and IPv6 (ping and a TCP transfer), the
// counters, and everything removed on exit, also on Ctrl-C.
import { spawn } from "node:child_process";
import { Cluster, type ClusterSpec } from "./cluster.ts";
import { startRouterProcess, type RunningRouter } from "../router/process.ts";
import { packageRoot } from "../package-root.ts";

export interface DemoOptions extends ClusterSpec { keep?: boolean; bytes?: number; out?: (s: string) => void }

const TOOLS = `${packageRoot}host/demo/`;

async function tcpTransfer(c: Cluster, fromNs: string, toNs: string, to: string, bytes: number): Promise<{ sent: string; got: string; ms: number }> {
  const sink = spawn("ip", ["netns", "exec", toNs, "python3", TOOLS + "tcp_sink.py", to, "7900"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  sink.stdout.on("data", (d) => { out += d; });
  sink.stderr.on("data", (d) => { err += d; });
  const exited = new Promise<number>((resolve) => sink.on("exit", (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 10_000;
  while (!out.includes("\n")) {
    if (Date.now() > deadline || sink.exitCode !== null) { sink.kill(); throw new Error(`tcp sink did not start: ${err}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
  const t0 = Date.now();
  try {
    const sent = (await c.exec(fromNs, ["python3", TOOLS + "tcp_source.py", to, "7900", String(bytes)], 120_000)).trim();
    const code = await exited;
    if (code !== 0) throw new Error(`tcp sink exited ${code}: ${err}`);
    return { sent, got: out.split("\n")[1]!.trim(), ms: Date.now() - t0 };
  } finally {
    if (sink.exitCode === null) sink.kill();
  }
}

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const say = opts.out ?? ((s: string) => console.log(s));
  if (process.getuid?.() !== 0) { say("weft demo needs root (network namespaces, TAP/TUN)"); return 1; }
  // The routers run with the production defaults: TUN/TAP offloads and underlay UDP GSO/GRO on.
  const cluster = Cluster.create({ prefix: opts.prefix ?? "weftdemo", offloads: true, udpOffloads: true, ...opts });
  const routers: RunningRouter[] = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const r of routers) { try { await r.stop(); } catch { /* keep going */ } }
    cluster.destroy();
  };
  const onSignal = () => { say("\ninterrupted: removing the demo cluster"); void cleanup().then(() => process.exit(130)); };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let failures = 0;
  try {
    say(`cluster ${cluster.prefix}: ${cluster.nodes.length} nodes x ${cluster.nodes[0]!.pods.length} pods, ${cluster.spec.encapsulation} over IPv${cluster.spec.underlay}`);
    for (const n of cluster.nodes) {
      const r = await startRouterProcess(n.config, { log: (m) => say(`  [${n.config.name}] ${m}`) });
      routers.push(r);
      for (const p of n.pods) {
        const res = r.router.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
        say(`  pod ${p.name} (netns ${p.ns}): ${p.ipv4} ${p.ipv6} mac ${res.mac}`);
      }
      say(`  control socket: weft status --socket ${n.config.control.socket}`);
    }
    const check = async (what: string, fn: () => Promise<string>) => {
      try { const detail = await fn(); say(`  ok    ${what}${detail ? `  ${detail}` : ""}`); } catch (e) { failures++; say(`  FAIL  ${what}: ${(e as Error).message.split("\n")[0]}`); }
    };
    const rtt = (out: string) => out.match(/rtt [^=]+= ([\d.]+)\/([\d.]+)/)?.[2] ?? "";
    say("\nping");
    const a = cluster.pod("n1p1");
    for (const to of [cluster.pod("n1p2"), cluster.pod("n2p1"), cluster.pod("n2p2")]) {
      for (const fam of ["ipv4", "ipv6"] as const) await check(`${a.name} -> ${to.name} ${to[fam]}`, async () => `avg ${rtt(await cluster.ping(a.ns, to[fam], 3))} ms`);
    }
    await check(`node n1 (host network) -> n2p2 ${cluster.pod("n2p2").ipv4}`, async () => `avg ${rtt(await cluster.ping(cluster.nodes[0]!.ns, cluster.pod("n2p2").ipv4, 3))} ms`);
    say("\nTCP across nodes");
    const bytes = opts.bytes ?? 64 << 20;
    for (const fam of ["ipv4", "ipv6"] as const) {
      const to = cluster.pod("n2p2");
      await check(`${a.name} -> ${to.name} ${to[fam]}, ${bytes >> 20} MiB`, async () => {
        const r = await tcpTransfer(cluster, a.ns, to.ns, to[fam], bytes);
        if (r.sent !== r.got) throw new Error(`hash mismatch: sent ${r.sent}, received ${r.got}`);
        return `${((bytes * 8) / (r.ms / 1000) / 1e6).toFixed(0)} Mbit/s, sha256 verified`;
      });
    }
    for (const r of routers) {
      say(`\ncounters of ${r.router.config.name} (non-zero)`);
      for (const [k, v] of Object.entries(r.router.counters().counters)) if (v) say(`  ${k.padEnd(44)} ${v}`);
    }
    if (opts.keep) {
      say("\nthe cluster stays up; press Ctrl-C to remove it");
      await new Promise(() => {});
    }
  } finally {
    await cleanup();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  say(failures ? `\n${failures} check(s) failed` : "\nall checks passed; cluster removed");
  return failures ? 1 : 0;
}
