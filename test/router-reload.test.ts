// The node config read again while the router runs (Router.reload; SIGHUP to `weft router`): its
// peers and routes are taken without a restart, the control socket's changes stay on top, a change
// that fails halfway is rolled back, a config that does not parse changes nothing, and fields that
// need a restart are named; a signal that comes while the process is starting is acted on once it
// has started. As root, in namespaces each test makes and removes.
import { describe, it, expect } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Cluster } from "../host/demo/cluster.ts";
import { RouterClient } from "../host/control/client.ts";
import { createRouter, RouterOpError, type Router } from "../host/router/router.ts";
import { parseNodeConfig, type NodeConfig } from "../host/config/node-config.ts";
import { describeRequiring } from "./helpers/require.ts";
import { threeNodes } from "./helpers/three-nodes.ts";
import { nativeAvailable } from "../host/native/index.ts";

const missing = [
  ...(process.getuid?.() === 0 ? [] : ["root"]),
  ...(existsSync("/dev/net/tun") ? [] : ["/dev/net/tun"]),
  ...(nativeAvailable() ? [] : ["the native addon (npm run build:native)"]),
];

const peerNames = (r: Router) => r.peers().peers.map((p) => p.name).sort();
const staticRoutes = (r: Router) => r.routes().routes.filter((e) => e.origin === "static").map((e) => e.dst).sort();

describeRequiring(missing.length && missing)("the config read again while running", () => {
  it("takes the new peers and routes, keeps the control socket's changes on top, rolls back a change that fails halfway, names what waits for a restart", async () => {
    const t = threeNodes();
    const { cluster, peer } = t;
    const [n1] = t.nodes;
    const [p1, p2, p3] = t.pods;
    const net = cluster.net;
    const base: NodeConfig = { ...n1.config, peers: [peer("n2")], limits: { ...n1.config.limits, maxPeers: 2 } };
    try {
      const r = await t.start(base);
      await cluster.ping(p1.ns, p2.ipv4, 1);
      await expect(cluster.ping(p1.ns, p3.ipv4, 1, ["-W", "1"])).rejects.toThrow();

      // n2 out, n3 in, a route: taken live
      const next = { ...base, peers: [peer("n3")], routes: [{ dst: `10.${net}.240.0/24`, via: "peer:n3" as const }] };
      expect(r.reload(next)).toEqual({ peers: { added: ["n3"], replaced: [], removed: ["n2"] }, routes: { added: [`10.${net}.240.0/24`], replaced: [], removed: [] }, superseded: [], restartNeeded: [] });
      expect(peerNames(r)).toEqual(["n3"]);
      await cluster.ping(p1.ns, p3.ipv4, 2);
      await cluster.ping(p1.ns, p3.ipv6, 2);
      await expect(cluster.ping(p1.ns, p2.ipv4, 1, ["-W", "1"])).rejects.toThrow();
      // the same config again: nothing to do
      expect(r.reload(next)).toEqual({ peers: { added: [], replaced: [], removed: [] }, routes: { added: [], replaced: [], removed: [] }, superseded: [], restartNeeded: [] });

      // a peer added through the socket stays when the config does not have it
      r.addPeer(peer("n2"));
      expect(r.reload(next).peers).toEqual({ added: [], replaced: [], removed: [] });
      expect(peerNames(r)).toEqual(["n2", "n3"]);
      await cluster.ping(p1.ns, p2.ipv4, 1);

      // a config that needs a third peer slot (limit 2): n3 replaced by two others fails halfway and is rolled back
      const n4 = { ...peer("n3"), name: "n4", podCIDRs: [`10.${net}.204.0/24`] };
      const n5 = { ...peer("n3"), name: "n5", podCIDRs: [`10.${net}.205.0/24`] };
      const tooMany = { ...next, peers: [n4, n5], routes: [] };
      expect(() => r.reload(tooMany)).toThrow(RouterOpError);
      expect(() => r.reload(tooMany)).toThrow(/^reload: no free peer slot \(limit 2\); nothing changed$/);
      expect(peerNames(r)).toEqual(["n2", "n3"]);
      expect(staticRoutes(r)).toEqual([`10.${net}.240.0/24`]);
      expect(r.lookups(p3.ipv4)).toEqual(r.lookups(`10.${net}.3.200`)); // n3's CIDR still routed to n3
      await cluster.ping(p1.ns, p3.ipv4, 1);
      await cluster.ping(p1.ns, p2.ipv4, 1);

      // another node's config is refused; other fields are named and left for the next start
      expect(() => r.reload({ ...next, name: "n9" })).toThrow(/^name: the config is for node n9, this router is n1$/);
      const mtu = parseNodeConfig({ ...next, mtu: undefined, podMtu: 1300, limits: undefined });
      expect(r.reload({ ...mtu, limits: base.limits }).restartNeeded).toEqual(["mtu"]);
      expect(r.status().mtu.pod).toBe(base.mtu.pod);
    } finally {
      await t.close();
    }
  }, 120_000);

  it("`weft router` reads its config file again on SIGHUP; a file that does not parse changes nothing", async () => {
    const cluster = Cluster.create({ nodes: 3, podsPerNode: 0 });
    const dir = mkdtempSync(join(tmpdir(), "weft-reload-"));
    const socket = join(dir, "weft.sock");
    const n1 = cluster.nodes[0]!;
    const { mtu: _m, limits: _l, offloads: _o, ...raw } = n1.config;
    const file = join(dir, "node.yaml");
    const write = (peers: unknown[]) => writeFileSync(file, stringify({ ...raw, peers, control: { socket, stateFile: false } }));
    write([raw.peers[0]]);
    let proc: ChildProcess | undefined;
    let err = "";
    try {
      proc = spawn(process.execPath, ["bin/weft.mjs", "router", "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
      proc.stderr!.on("data", (d) => { err += d; });
      let client: RouterClient | undefined;
      for (let t = 0; t < 300 && !client; t++) {
        if (existsSync(socket)) client = await RouterClient.connect({ socketPath: socket, timeoutMs: 500 }).catch(() => undefined);
        if (!client) await new Promise((res) => setTimeout(res, 50));
      }
      expect(client, err).toBeDefined();
      const names = async () => (await client!.peers()).peers.map((p) => p.name).sort();
      const waitLog = async (re: RegExp) => { for (let t = 0; t < 100 && !re.test(err); t++) await new Promise((res) => setTimeout(res, 50)); expect(err).toMatch(re); };
      expect(await names()).toEqual(["n2"]);
      write(raw.peers);
      proc.kill("SIGHUP");
      await waitLog(/SIGHUP: reloaded .*node\.yaml: peers added n3/);
      expect(await names()).toEqual(["n2", "n3"]);
      writeFileSync(file, "peers: [ {name: ");
      proc.kill("SIGHUP");
      await waitLog(/SIGHUP: reload of .*node\.yaml refused, nothing changed: .*not valid YAML/);
      expect(await names()).toEqual(["n2", "n3"]);
      client!.close();
      proc.kill("SIGTERM");
      expect(await new Promise((res) => proc!.once("exit", res))).toBe(0);
    } finally {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      cluster.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a SIGTERM while `weft router` is starting stops it cleanly once started (exit 0, nothing left), not by the signal's default", async () => {
    const cluster = Cluster.create({ nodes: 1, podsPerNode: 0 });
    const dir = mkdtempSync(join(tmpdir(), "weft-early-term-"));
    const n1 = cluster.nodes[0]!;
    const { mtu: _m, limits: _l, offloads: _o, ...raw } = n1.config;
    const file = join(dir, "node.yaml");
    // workers: 2 makes the start take a while (two threads, their Wasm instances)
    writeFileSync(file, stringify({ ...raw, workers: 2, control: { socket: join(dir, "weft.sock"), stateFile: false } }));
    const proc = spawn(process.execPath, ["bin/weft.mjs", "router", "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    try {
      const exited = new Promise<[number | null, string | null]>((res) => proc.once("exit", (code, sig) => res([code, sig])));
      await new Promise<void>((res, rej) => {
        proc.stderr!.on("data", (d) => { err += d; if (/starting \(config /.test(err)) res(); });
        proc.once("exit", () => rej(new Error(`exited before starting: ${err}`)));
      });
      proc.kill("SIGTERM");
      expect(await exited, err).toEqual([0, null]);
      expect(err).toMatch(/SIGTERM, shutting down/);
      await expect(cluster.exec(n1.ns, ["ip", "link", "show", "dev", n1.config.hostInterface])).rejects.toThrow();
      expect(existsSync(join(dir, "weft.sock"))).toBe(false);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      cluster.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
