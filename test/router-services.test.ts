// The router as a process and its services: `weft router --config` in a node namespace, the
// control socket through the `weft` CLI (tables and -o json; peers and routes changed), Prometheus metrics, and a clean
// shutdown on SIGTERM that removes every interface it made.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Cluster } from "../host/demo/cluster.ts";
import { RouterClient } from "../host/control/client.ts";

const weft = (args: string[]) => spawnSync(process.execPath, ["bin/weft.mjs", ...args], { encoding: "utf8", timeout: 30_000 });

describe("weft router as a process", () => {
  let c: Cluster;
  let dir: string;
  let proc: ChildProcess | undefined;
  let socket: string;
  const metricsPort = 19000 + (process.pid % 1000);

  beforeAll(async () => {
    c = Cluster.create({ nodes: 2, podsPerNode: 1 });
    dir = mkdtempSync(join(tmpdir(), "weft-router-proc-"));
    socket = join(dir, "weft.sock");
    const n = c.nodes[0]!;
    // offloads left out: the router runs with the defaults (TUN/TAP offloads, UDP GSO/GRO on)
    const { mtu: _m, limits: _l, offloads: _o, ...cfg } = n.config;
    const file = join(dir, "node.yaml");
    writeFileSync(file, stringify({ ...cfg, netns: undefined, control: { socket }, metrics: { listen: `127.0.0.1:${metricsPort}` } }));
    // the router runs inside the node's namespace, as a node's router would
    proc = spawn("ip", ["netns", "exec", n.ns, process.execPath, "bin/weft.mjs", "router", "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    for (let t = 0; t < 200 && !existsSync(socket); t++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(socket), "control socket").toBe(true);
    const client = await RouterClient.connect({ socketPath: socket });
    const p = n.pods[0]!;
    await client.call("attachPod", { containerId: "c1", ifName: "eth0", netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
    client.close();
  }, 60_000);

  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    c?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers the CLI with tables and JSON", async () => {
    const st = weft(["status", "--socket", socket, "-o", "json"]);
    expect(st.status, st.stderr).toBe(0);
    const j = JSON.parse(st.stdout);
    expect(j).toMatchObject({ nodeName: "n1", encapsulation: "vxlan", port: 8472, vni: 1, counts: { pods: 1, peers: 1 }, health: { ok: true, problems: [] }, stateFile: join(dir, "weft.state.json") });
    expect(weft(["status", "--socket", socket]).stdout).toMatch(/^health\s+ok$/m);
    const routes = weft(["routes", "--socket", socket]);
    expect(routes.stdout).toMatch(/DESTINATION\s+TARGET\s+ORIGIN/);
    expect(routes.stdout).toMatch(new RegExp(`10\\.${c.net}\\.2\\.0/24\\s+peer n2`));
    expect(weft(["peers", "--socket", socket]).stdout).toMatch(new RegExp(`n2\\s+192\\.168\\.${c.net}\\.2`));
    const pods = weft(["pods", "--socket", socket]);
    expect(pods.stdout).toMatch(/^CONTAINER\s+IFNAME\s+IPV4\s+IPV6\s+MAC/);
    expect(pods.stdout).toMatch(new RegExp(`c1\\s+eth0\\s+${c.pod("n1p1").ipv4.replace(/\./g, "\\.")}/32\\s`));
    expect(JSON.parse(weft(["pods", "--socket", socket, "-o", "json"]).stdout).pods).toHaveLength(1);
    await c.ping(c.pod("n1p1").ns, c.nodes[0]!.config.gateway4!, 1);
    const counters = JSON.parse(weft(["counters", "--socket", socket, "-o", "json"]).stdout).counters;
    expect(counters["port.pod:c1/eth0.rx_packets"]).toBeGreaterThan(0);
    expect(weft(["status", "--socket", join(dir, "nope.sock")]).status).not.toBe(0);
  });

  it("changes peers and static routes from the CLI, kept in the state file; refusals carry the router's code", async () => {
    const peers = () => JSON.parse(weft(["peers", "--socket", socket, "-o", "json"]).stdout).peers as { name: string; origin: string }[];
    expect(peers()).toEqual([expect.objectContaining({ name: "n2", origin: "config" })]);
    const add = weft(["peers", "add", "n9", "--socket", socket, "--underlay", "192.0.2.9", "--vtep-mac", "02:00:00:00:00:09", "--pod-cidr", "10.250.9.0/24", "--pod-cidr", "fd00:250:9::/64"]);
    expect(add.status, add.stderr).toBe(0);
    expect(add.stdout.trim()).toBe("peer n9 added");
    expect(weft(["peers", "--socket", socket]).stdout).toMatch(/NAME\s+UNDERLAY\s+VTEP MAC\s+POD CIDRS\s+ORIGIN\n(.*\n)*n9\s+192\.0\.2\.9\s+02:00:00:00:00:09\s+10\.250\.9\.0\/24 fd00:250:9::\/64\s+control/);
    const route = weft(["routes", "add", "10.251.0.0/16", "--via", "peer:n9", "--socket", socket]);
    expect(route.status, route.stderr).toBe(0);
    expect(weft(["routes", "--socket", socket]).stdout).toMatch(/10\.251\.0\.0\/16\s+peer n9\s+static/);
    // the state file next to the socket has both
    const saved = JSON.parse(readFileSync(join(dir, "weft.state.json"), "utf8"));
    expect(saved.peersSet.map((p: { name: string }) => p.name)).toEqual(["n9"]);
    expect(saved.routesSet).toEqual([{ dst: "10.251.0.0/16", target: { kind: "peer", peer: "n9" } }]);
    // refused by the router: its code and reason, exit 1, nothing changed
    const bad = weft(["peers", "add", "n8", "--socket", socket, "--underlay", "300.1.1.1", "--vtep-mac", "02:00:00:00:00:08", "--pod-cidr", "10.250.8.0/24"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^weft peers: BAD_REQUEST: peer\.underlay: /);
    const noPeer = weft(["routes", "add", "10.252.0.0/16", "--via", "peer:nope", "--socket", socket]);
    expect(noPeer.status).toBe(1);
    expect(noPeer.stderr).toMatch(/NOT_FOUND: no peer nope/);
    // usage errors: exit 2 with the usage
    const usage = weft(["routes", "add", "10.252.0.0/16", "--via", "pod:x", "--socket", socket]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--via pod:x: use peer:NAME, host or blackhole/);
    expect(weft(["peers", "add", "n7", "--socket", socket, "--underlay", "192.0.2.7", "--vtep-mac", "02:00:00:00:00:07"]).status).toBe(2);
    expect(weft(["peers", "frob", "--socket", socket]).status).toBe(2);
    // removal, and removing what is not there
    expect(weft(["routes", "del", "10.251.0.0/16", "--socket", socket]).stdout.trim()).toBe("route 10.251.0.0/16 removed");
    const again = weft(["routes", "del", "10.251.0.0/16", "--socket", socket]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/no static route 10\.251\.0\.0\/16/);
    expect(weft(["peers", "del", "n9", "--socket", socket]).stdout.trim()).toBe("peer n9 removed");
    expect(weft(["peers", "del", "n9", "--socket", socket]).status).toBe(1);
    expect(peers().map((p) => p.name)).toEqual(["n2"]);
    const after = JSON.parse(readFileSync(join(dir, "weft.state.json"), "utf8"));
    expect([after.peersSet, after.routesSet]).toEqual([[], []]);
  });

  it("serves Prometheus metrics", async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
    // the metrics address is in the router's (node) namespace: fetch from there
    const body = res ? await res.text() : (spawnSync("ip", ["netns", "exec", c.nodes[0]!.ns, "python3", "-c", `import urllib.request;print(urllib.request.urlopen("http://127.0.0.1:${metricsPort}/metrics").read().decode())`], { encoding: "utf8" }).stdout);
    expect(body).toMatch(/# TYPE weft_drops_total counter/);
    const health = spawnSync("ip", ["netns", "exec", c.nodes[0]!.ns, "python3", "-c", `import urllib.request;r=urllib.request.urlopen("http://127.0.0.1:${metricsPort}/healthz");print(r.status, r.read().decode().strip())`], { encoding: "utf8" });
    expect(health.stdout.trim(), health.stderr).toBe("200 ok");
    expect(body).toMatch(/weft_port_rx_packets_total\{node="n1",port="pod:c1\/eth0"\} [1-9]/);
    expect(body).toMatch(/weft_batch_size_bucket\{node="n1",le="\+Inf"\} [1-9]/);
    expect(body).toMatch(/weft_io_errors_total\{node="n1",port="pod:c1\/eth0"\} 0/);
    expect(body).toMatch(/weft_underlay_kernel_drops_total\{node="n1"\} 0/);
    expect(body).toMatch(/weft_tun_offload_active\{node="n1",device="host",offload="tso"\} 1/);
    expect(body).toMatch(/weft_underlay_udp_offload_active\{node="n1",offload="gso"\} 1/);
    expect(body).toMatch(/weft_offload_wasm_total\{node="n1",what="split_segments"\} \d+/);
    expect(body).toMatch(/weft_offload_refused_total\{node="n1",reason="GsoUnsupported"\} 0/);
    expect(body).toMatch(/weft_loop_total\{node="n1",worker="0",what="sleeps"\} [1-9]/); // the native loop (default) sleeps when idle
    expect(body).toMatch(/weft_loop_total\{node="n1",worker="0",what="spin_hits"\} 0/);   // no spin configured
    expect(body).toMatch(/weft_router_events_total\{node="n1",what="host_repairs"\} 0/);
    expect(body).toMatch(/weft_router_events_total\{node="n1",what="state_write_failures"\} 0/);
    expect(body).toMatch(/weft_pods\{node="n1",state="up"\} 1\n/);
    expect(body).toMatch(/weft_pods\{node="n1",state="device_gone"\} 0\n/);
    expect(body).toMatch(/weft_peers\{node="n1",origin="config"\} 1\n/);
    expect(body).toMatch(/weft_healthy\{node="n1"\} 1\n/);
  });

  it("removes every interface it made on SIGTERM", async () => {
    const n = c.nodes[0]!;
    expect(await c.exec(n.ns, ["ip", "link", "show", "weft0"])).toMatch(/weft0/);
    expect(await c.exec(n.pods[0]!.ns, ["ip", "link", "show", "eth0"])).toMatch(/eth0/);
    const exited = new Promise<number | null>((r) => proc!.once("exit", (code) => r(code)));
    proc!.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(c.exec(n.ns, ["ip", "link", "show", "weft0"])).rejects.toThrow();
    await expect(c.exec(n.pods[0]!.ns, ["ip", "link", "show", "eth0"])).rejects.toThrow();
    expect(await c.exec(n.ns, ["ip", "route", "show", `10.${c.net}.0.0/16`])).toBe("");
    expect(existsSync(socket)).toBe(false);
  });
});
