// What the router was told at run time survives a restart (control.stateFile,
// host/router/router-state.ts): the state file's format and its failure modes without root; as
// root, a stopped router's pods come back on the next start, a SIGKILLed `weft router` process's
// pods come back when it is run again (their TAPs died with its fds), and peers and routes changed
// through the control socket are replayed over the config's. Each test makes and removes its own
// namespaces.
import { describe, it, expect } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Cluster } from "../host/demo/cluster.ts";
import { RouterClient } from "../host/control/client.ts";
import { createRouter, type Router } from "../host/router/router.ts";
import { emptyRouterState, loadRouterState, saveRouterState, RouterStateError, type SavedPod } from "../host/router/router-state.ts";
import { ConfigError, parseNodeConfig } from "../host/config/node-config.ts";
import { describeRequiring } from "./helpers/require.ts";
import { threeNodes } from "./helpers/three-nodes.ts";
import { nativeAvailable } from "../host/native/index.ts";

const missing = [
  ...(process.getuid?.() === 0 ? [] : ["root"]),
  ...(existsSync("/dev/net/tun") ? [] : ["/dev/net/tun"]),
  ...(nativeAvailable() ? [] : ["the native addon (npm run build:native)"]),
];

function tempDir(): string { return mkdtempSync(join(tmpdir(), "weft-router-state-")); }
const pod = (name: string): SavedPod => ({ containerId: name, ifName: "eth0", netns: `/var/run/netns/${name}`, ipv4: "10.1.1.5/32", mtu: 1450, mac: "0a:00:00:00:00:05" });
const savedNames = (file: string) => (JSON.parse(readFileSync(file, "utf8")) as { pods: SavedPod[] }).pods.map((p) => p.containerId).sort();

describe("control.stateFile", () => {
  const base = { name: "n1", vtepMac: "02:00:00:00:00:01", underlay: { ipv4: "192.168.9.1" }, podCIDRs: ["10.9.1.0/24"] };
  it("defaults next to the control socket; false turns it off; a bad value names the field", () => {
    expect(parseNodeConfig(base).control.stateFile).toBe("/run/weft/weft.state.json");
    expect(parseNodeConfig({ ...base, control: { socket: "/x/y/n1.sock" } }).control.stateFile).toBe("/x/y/n1.state.json");
    expect(parseNodeConfig({ ...base, control: { stateFile: "/var/lib/weft/p.json" } }).control.stateFile).toBe("/var/lib/weft/p.json");
    expect(parseNodeConfig({ ...base, control: { stateFile: false } }).control.stateFile).toBe(false);
    // a parsed config written out and read again keeps "none" (bench and demo routers write their configs)
    expect(parseNodeConfig(JSON.parse(JSON.stringify(parseNodeConfig({ ...base, control: { stateFile: false } })))).control.stateFile).toBe(false);
    expect(() => parseNodeConfig({ ...base, control: { stateFile: true } })).toThrow(ConfigError);
    expect(() => parseNodeConfig({ ...base, control: { stateFile: 5 } })).toThrow(/^control\.stateFile: /);
    expect(() => parseNodeConfig({ ...base, control: { socket: "/a.sock", stateFile: "/a.sock" } })).toThrow(/^control\.stateFile: must differ/);
    expect(() => parseNodeConfig({ ...base, control: { sockets: "/a" } })).toThrow(/^control\.sockets: unknown field/);
  });

  it("round-trips, skips bad entries, moves an unreadable file aside and refuses another node's", () => {
    const dir = tempDir();
    const none = { ...emptyRouterState(), skipped: [] };
    try {
      const file = join(dir, "sub", "n1.state.json");
      expect(loadRouterState(file, "n1")).toEqual(none); // none yet
      const peer = { name: "n2", underlay: "192.168.9.2", vtepMac: "02:00:00:00:00:02", podCIDRs: ["10.9.2.0/24"] };
      const st = { pods: [pod("a"), pod("b")], peersSet: [peer], peersRemoved: [{ ...peer, name: "n3" }],
        routesSet: [{ dst: "10.8.0.0/16", target: { kind: "peer" as const, peer: "n2" } }], routesRemoved: [{ dst: "fd00:8::/64", target: { kind: "blackhole" as const } }] };
      saveRouterState(file, "n1", st);
      expect(existsSync(`${file}.tmp`)).toBe(false);
      expect(loadRouterState(file, "n1")).toEqual({ ...st, skipped: [] });
      expect(() => loadRouterState(file, "n2")).toThrow(RouterStateError);
      expect(() => loadRouterState(file, "n2")).toThrow(/holds the state of node "n1", not "n2"/);
      // the first format (pods only) is read as it was written
      writeFileSync(file, JSON.stringify({ version: 1, node: "n1", pods: [pod("a"), { ...pod("c"), mac: "nope" }, { containerId: "d" }, 7] }));
      const v1 = loadRouterState(file, "n1");
      expect(v1).toEqual({ ...none, pods: [pod("a")], skipped: ['pods[1]: mac "nope"', "pods[2]: ifName missing", "pods[3]: not a mapping"] });
      writeFileSync(file, JSON.stringify({ version: 2, node: "n1", pods: [], peersSet: [peer, { ...peer, underlay: "nope" }], peersRemoved: 3,
        routesSet: [{ dst: "10.8.0.0/33", target: { kind: "host" } }, { dst: "10.7.0.0/16", target: { kind: "pod" } }, { dst: "10.6.0.0/16", target: { kind: "host" } }] }));
      const bad = loadRouterState(file, "n1");
      expect(bad.peersSet).toEqual([peer]);
      expect(bad.routesSet).toEqual([{ dst: "10.6.0.0/16", target: { kind: "host" } }]);
      expect(bad.skipped).toHaveLength(4);
      expect(bad.skipped[0]).toMatch(/^peersSet\[1\]: underlay: /);
      expect(bad.skipped[1]).toBe("peersRemoved: not a list");
      expect(bad.skipped[2]).toMatch(/^routesSet\[0\]: /);
      expect(bad.skipped[3]).toBe('routesSet[1]: target {"kind":"pod"}');
      writeFileSync(file, "{ torn");
      const torn = loadRouterState(file, "n1");
      expect(torn.pods).toEqual([]);
      expect(torn.movedAside).toMatch(/moved to .*n1\.state\.json\.bad$/);
      expect(existsSync(file)).toBe(false);
      expect(readFileSync(`${file}.bad`, "utf8")).toBe("{ torn"); // kept for a human, not lost
      writeFileSync(file, JSON.stringify({ version: 9, node: "n1", pods: [] }));
      expect(loadRouterState(file, "n1").movedAside).toMatch(/not a version 1 or 2 router state/);
      writeFileSync(join(dir, "blocker"), ""); // a file where the state's directory would be (root ignores modes)
      expect(() => saveRouterState(join(dir, "blocker", "n1.state.json"), "n1", emptyRouterState())).toThrow(/control\.stateFile .*: cannot write: E[A-Z]+: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeRequiring(missing.length && missing)("what the router was told survives a restart", () => {
  it("a stopped router's pods come back on the next start: same interface, addresses and MAC; a pod whose netns went, or whose path names another namespace now, is dropped", async () => {
    const cluster = Cluster.create({ nodes: 1, podsPerNode: 4 });
    const dir = tempDir();
    const file = join(dir, "n1.state.json");
    const node = cluster.nodes[0]!;
    const cfg = { ...node.config, control: { ...node.config.control, stateFile: file } };
    const [a, b, gone, recycled] = node.pods as [typeof node.pods[0], typeof node.pods[0], typeof node.pods[0], typeof node.pods[0]];
    let r = createRouter(cfg, { log: () => {} });
    try {
      await r.start();
      const macs = new Map<string, string>();
      for (const p of [a, b, gone, recycled]) macs.set(p.name, r.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 }).mac);
      await cluster.ping(a.ns, b.ipv4, 1);
      expect(savedNames(file)).toEqual([a.name, b.name, gone.name, recycled.name].sort());
      await r.stop();
      // stopped as on SIGTERM: the interfaces are gone, the file still lists the pods
      await expect(cluster.exec(a.ns, ["ip", "link", "show", "dev", a.ifName])).rejects.toThrow();
      expect(savedNames(file)).toEqual([a.name, b.name, gone.name, recycled.name].sort());
      spawnSync("ip", ["netns", "del", gone.ns]); // this pod went away while the router was down
      // and this path names another namespace now (as /proc/<pid>/ns/net does when a pid is reused)
      spawnSync("ip", ["netns", "del", recycled.ns]);
      expect(spawnSync("ip", ["netns", "add", recycled.ns]).status).toBe(0);
      const logs: string[] = [];
      r = createRouter(cfg, { log: (m) => logs.push(m) });
      await r.start();
      expect(r.listPods().pods.map((p) => [p.containerId, p.mac, p.ipv4, p.ipv6]).sort()).toEqual(
        [a, b].map((p) => [p.name, macs.get(p.name), `${p.ipv4}/32`, `${p.ipv6}/128`]).sort());
      expect(logs.join("\n")).toMatch(new RegExp(`state: pod ${gone.name}/${gone.ifName}: netns .* is gone; dropped`));
      expect(logs.join("\n")).toMatch(new RegExp(`state: pod ${recycled.name}/${recycled.ifName}: .* is another namespace now; dropped`));
      await expect(cluster.exec(recycled.ns, ["ip", "link", "show", "dev", recycled.ifName])).rejects.toThrow(); // nothing made there
      expect(savedNames(file)).toEqual([a.name, b.name].sort());
      expect((await cluster.exec(a.ns, ["ip", "-br", "link", "show", "dev", a.ifName]))).toContain(macs.get(a.name)!);
      await cluster.ping(a.ns, b.ipv4, 2);
      await cluster.ping(b.ns, a.ipv6, 2);
      // the file follows a detach
      expect(r.detachPod({ containerId: b.name, ifName: b.ifName })).toEqual({ existed: true });
      expect(savedNames(file)).toEqual([a.name]);
      expect(r.counters().counters["router.state_write_failures"]).toBe(0);
    } finally {
      await r.stop();
      cluster.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it("peers and routes changed through the control socket are replayed over the config's at start; a config edit of a removed peer wins", async () => {
    const t = threeNodes();
    const { cluster } = t;
    const dir = tempDir();
    const file = join(dir, "n1.state.json");
    const [n1] = t.nodes;
    const [p1, p2, p3] = t.pods;
    const peerN2 = t.peer("n2"), peerN3 = t.peer("n3");
    const net = cluster.net;
    // n1 starts knowing only n3, with one static route of its own
    const cfg = { ...n1.config, peers: [peerN3], routes: [{ dst: `10.${net}.250.0/24`, via: "peer:n3" as const }], control: { ...n1.config.control, stateFile: file } };
    const staticRoutes = (r: Router) => r.routes().routes.filter((e) => e.origin === "static").map((e) => [e.dst, e.target]);
    let r: Router | undefined;
    try {
      r = await t.start(cfg);
      await cluster.ping(p1.ns, p3.ipv4, 1);
      await expect(cluster.ping(p1.ns, p2.ipv4, 1, ["-W", "1"])).rejects.toThrow(); // no peer n2 yet
      // the control plane's changes
      expect(r.addPeer(peerN2)).toEqual({ created: true });
      expect(r.removePeer({ name: "n3" })).toEqual({ existed: true });
      r.addRoute({ dst: `10.${net}.240.0/24`, target: { kind: "peer", peer: "n2" } });
      expect(r.removeRoute({ dst: `10.${net}.250.0/24` })).toEqual({ existed: true });
      await cluster.ping(p1.ns, p2.ipv4, 1);
      await r.stop();

      const logs: string[] = [];
      r = createRouter(cfg, { log: (m) => logs.push(m) });
      await r.start();
      expect(r.peers().peers.map((p) => p.name)).toEqual(["n2"]);
      expect(staticRoutes(r)).toEqual([[`10.${net}.240.0/24`, { kind: "peer", peer: "n2" }]]);
      expect(r.listPods().pods.map((p) => p.containerId)).toEqual([p1.name]);
      await cluster.ping(p1.ns, p2.ipv4, 2); // the runtime peer carries traffic after the restart
      await cluster.ping(p1.ns, p2.ipv6, 2);
      await expect(cluster.ping(p1.ns, p3.ipv4, 1, ["-W", "1"])).rejects.toThrow(); // and the removed one stays removed
      expect(logs.join("\n")).toContain(`state: peers added n2; peers removed n3; routes added 10.${net}.240.0/24; routes removed 10.${net}.250.0/24`);
      // n2 removed again at run time: nothing of it is left to replay
      expect(r.removePeer({ name: "n2" })).toEqual({ existed: true });
      const saved = JSON.parse(readFileSync(file, "utf8"));
      expect(saved.peersSet).toEqual([]);
      expect(saved.peersRemoved.map((p: { name: string }) => p.name)).toEqual(["n3"]);
      expect(saved.routesSet).toEqual([{ dst: `10.${net}.240.0/24`, target: { kind: "peer", peer: "n2" } }]);
      expect(saved.routesRemoved).toEqual([{ dst: `10.${net}.250.0/24`, target: { kind: "peer", peer: "n3" } }]);
      await r.stop();

      // the operator edits n3 in the config file: the config's n3 is the one meant, the old removal is not replayed
      const edited = { ...cfg, peers: [{ ...peerN3, podCIDRs: [...peerN3.podCIDRs, `10.${net}.230.0/24`] }] };
      const logs2: string[] = [];
      r = createRouter(edited, { log: (m) => logs2.push(m) });
      await r.start();
      expect(r.peers().peers.map((p) => p.name)).toEqual(["n3"]);
      expect(logs2.join("\n")).toContain(`state: routes added 10.${net}.240.0/24; routes removed 10.${net}.250.0/24; the config changed what these removals removed, its own taken: peer n3`);
      // the route via n2 is back as it was at run time: a static route via an absent peer, blackholed until n2 comes
      expect(staticRoutes(r)).toEqual([[`10.${net}.240.0/24`, { kind: "peer", peer: "n2" }]]);
      expect(r.lookups(`10.${net}.240.7`)).toEqual([{ kind: "blackhole" }]);
      await cluster.ping(p1.ns, p3.ipv4, 2);
      expect(r.counters().counters["router.state_write_failures"]).toBe(0);
    } finally {
      await r?.stop();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("reads the state file's name before version 2 (<socket>.pods.json) once, then keeps <socket>.state.json", async () => {
    const cluster = Cluster.create({ nodes: 1, podsPerNode: 1 });
    const dir = tempDir();
    const node = cluster.nodes[0]!;
    const p = node.pods[0]!;
    const { mtu: _m, limits: _l, offloads: _o, ...raw } = node.config;
    const cfg = parseNodeConfig({ ...raw, control: { socket: join(dir, "n1.sock") } }); // the default state file
    expect(cfg.control.stateFile).toBe(join(dir, "n1.state.json"));
    const legacy = join(dir, "n1.pods.json");
    writeFileSync(legacy, JSON.stringify({ version: 1, node: "n1", pods: [{ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: `${p.ipv4}/32`, mtu: 1450, mac: "0a:58:00:00:00:07" }] }));
    const logs: string[] = [];
    const r = createRouter(cfg, { log: (m) => logs.push(m) });
    try {
      await r.start();
      expect(r.listPods().pods.map((x) => [x.containerId, x.mac])).toEqual([[p.name, "0a:58:00:00:00:07"]]);
      expect(logs.join("\n")).toContain(`state: read ${legacy} (the state file's name before version 2)`);
      expect(existsSync(legacy)).toBe(false);
      expect(savedNames(cfg.control.stateFile as string)).toEqual([p.name]);
      await cluster.ping(p.ns, node.config.gateway4!, 1);
    } finally {
      await r.stop();
      cluster.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a recorded change that cannot be applied at start is dropped with its line; the others stand", async () => {
    const cluster = Cluster.create({ nodes: 1, podsPerNode: 0 });
    const dir = tempDir();
    const file = join(dir, "n1.state.json");
    const node = cluster.nodes[0]!;
    const cfg = { ...node.config, peers: [], limits: { ...node.config.limits, maxPeers: 1 }, control: { ...node.config.control, stateFile: file } };
    const peer = (name: string, third: number) => ({ name, underlay: "192.0.2.9", vtepMac: "02:00:00:00:00:09", podCIDRs: [`10.250.${third}.0/24`] });
    saveRouterState(file, "n1", { ...emptyRouterState(), peersSet: [peer("a", 1), peer("b", 2)], routesSet: [{ dst: "10.251.0.0/16", target: { kind: "peer", peer: "a" } }] });
    const logs: string[] = [];
    const r = createRouter(cfg, { log: (m) => logs.push(m) });
    try {
      await r.start();
      expect(r.peers().peers.map((p) => p.name)).toEqual(["a"]);
      expect(logs.join("\n")).toContain("state: peer b: no free peer slot (limit 1); dropped");
      expect(logs.join("\n")).toContain("state: peers added a; routes added 10.251.0.0/16");
      const saved = JSON.parse(readFileSync(file, "utf8"));
      expect(saved.peersSet.map((p: { name: string }) => p.name)).toEqual(["a"]);
      expect(saved.routesSet).toHaveLength(1);
    } finally {
      await r.stop();
      cluster.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a SIGKILLed `weft router` gives its pods their interfaces back when it runs again (state file next to its socket)", async () => {
    const cluster = Cluster.create({ nodes: 1, podsPerNode: 2 });
    const dir = tempDir();
    const socket = join(dir, "weft.sock");
    const node = cluster.nodes[0]!;
    const { mtu: _m, limits: _l, offloads: _o, ...raw } = node.config;
    const file = join(dir, "node.yaml");
    writeFileSync(file, stringify({ ...raw, control: { socket } }));
    const procs: ChildProcess[] = [];
    const run = async () => {
      const p = spawn(process.execPath, ["bin/weft.mjs", "router", "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
      procs.push(p);
      let err = "";
      p.stderr!.on("data", (d) => { err += d; });
      for (let t = 0; t < 300; t++) {
        if (existsSync(socket)) { try { (await RouterClient.connect({ socketPath: socket, timeoutMs: 500 })).close(); return { p, err: () => err }; } catch { /* stale or not yet */ } }
        if (p.exitCode !== null) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`weft router did not come up: ${err}`);
    };
    const [a, b] = node.pods as [typeof node.pods[0], typeof node.pods[0]];
    try {
      const first = await run();
      const client = await RouterClient.connect({ socketPath: socket });
      for (const p of [a, b]) await client.attachPod({ containerId: p.name, ifName: p.ifName, netns: `/var/run/netns/${p.ns}`, ipv4: p.ipv4, ipv6: p.ipv6 });
      client.close();
      await cluster.ping(a.ns, b.ipv4, 1);
      expect(savedNames(join(dir, "weft.state.json"))).toEqual([a.name, b.name].sort());
      first.p.kill("SIGKILL");
      await new Promise((res) => first.p.once("exit", res));
      // its fds closed: the pods' TAPs are gone with them
      await expect(cluster.exec(a.ns, ["ip", "link", "show", "dev", a.ifName])).rejects.toThrow();
      const second = await run();
      expect(second.err()).toMatch(/, 2 pods/);
      await cluster.ping(a.ns, b.ipv4, 2);
      await cluster.ping(b.ns, a.ipv6, 2);
      second.p.kill("SIGTERM");
      const code = await new Promise<number | null>((res) => second.p.once("exit", res));
      expect(code).toBe(0);
      await expect(cluster.exec(a.ns, ["ip", "link", "show", "dev", a.ifName])).rejects.toThrow();
    } finally {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      cluster.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
