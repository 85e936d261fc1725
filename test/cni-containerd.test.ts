/**
 * CNI end to end with a real runtime: Debian's containerd 1.6 + runc run busybox containers
 * with `ctr run --cni` through the Weft CNI plugin, on two nodes, and the containers ping each
 * other on the same node and across nodes, IPv4 and IPv6.
 *
 *   node namespace <p>n1                                  node namespace <p>n2
 *   ┌──────────────────────────────────────┐   underlay   ┌──────────────────────────────────────┐
 *   │ Weft router (in this process)        │◀── VXLAN ───▶│ Weft router (in this process)        │
 *   │  control socket <run>/n1/weft.sock   │   <p>ul br0  │  control socket <run>/n2/weft.sock   │
 *   │ containerd (nsenter --net), ctr run  │              │ containerd (nsenter --net), ctr run  │
 *   │  └ weft plugin (ADD/DEL) ─▶ socket   │              │  └ weft plugin (ADD/DEL) ─▶ socket   │
 *   │ containers a1, a2 (TAP eth0 each)    │              │ containers b1, b2 (TAP eth0 each)    │
 *   └──────────────────────────────────────┘              └──────────────────────────────────────┘
 *
 * Each node's `ctr run` sees only that node's conflist (socket + IPAM dataDir of the node) in
 * /etc/cni/net.d, through a private mount namespace: see test/e2e/containerd.ts. The pod CIDRs
 * come from the router's status (the conflist has none). Everything is removed in afterAll,
 * also after a failure; a run killed before that is cleaned up by the next one.
 *
 * Needs root and `containerd runc busybox-static util-linux iproute2 tar` (Debian); skipped
 * otherwise. Takes about 15-25 s on a 2-core machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../host/demo/cluster.ts';
import { startRouterProcess, type RunningRouter } from '../host/router/process.ts';
import {
  ContainerdNode, ContainerdRun, buildBusyboxImage, cachedResult, cgroupsOf, cleanupStaleRuns, filesUnder, missingTools,
  pidsWithCmdline,
} from './e2e/containerd.ts';
import { isRoot, runCni } from './fakes/fake-router-harness.ts';
import { describeRequiring } from './helpers/require.ts';

const REPO = resolve(import.meta.dirname, '..');
const NETWORK = 'weft-e2e';
const CONTAINERS: Record<number, string[]> = { 1: ['a1', 'a2'], 2: ['b1', 'b2'] };

const missing = isRoot() ? missingTools() : ['root'];

describeRequiring(missing.length > 0)('CNI end to end: containerd + runc, `ctr run --cni`, two Weft nodes', () => {
  let run: ContainerdRun | undefined;
  let cluster: Cluster | undefined;
  const routers: RunningRouter[] = [];
  const nodes: ContainerdNode[] = [];
  const routerLog: string[] = [];
  const timings: Record<string, number> = {};
  let binDir = '';
  /** containerd node and address of every container, by container id. */
  const where = new Map<string, { node: ContainerdNode; index: number; ipv4: string; ipv6: string; pid: number }>();

  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round(performance.now() - t);
    }
  };

  async function teardown(): Promise<void> {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const r of routers.splice(0)) {
      try {
        await r.stop();
      } catch {
        // keep cleaning
      }
    }
    cluster?.destroy();
    run?.cleanup();
  }

  beforeAll(async () => {
    const t0 = performance.now();
    cleanupStaleRuns();
    run = new ContainerdRun();
    try {
      binDir = join(run.dir, 'cni-bin');
      await timed('install plugin', () => execFileSync(join(REPO, 'bin/weft-cni-install'), [binDir], { stdio: 'pipe' }));
      const image = await timed('build image', () => buildBusyboxImage(join(run!.dir, 'image')));
      cluster = await timed('namespaces', () => Cluster.create({ nodes: 2, podsPerNode: 0 }));
      run.recordNetns([`${cluster.prefix}ul`, ...cluster.nodes.map((n) => n.ns)]);
      await timed('routers', async () => {
        for (const n of cluster!.nodes) {
          // every socket of a node in the node's own directory: nothing shared, nothing in /run/weft
          n.config = { ...n.config, control: { socket: join(run!.dir, `n${n.index}`, 'weft.sock') } };
          routers.push(await startRouterProcess(n.config, { log: (m) => routerLog.push(`${n.config.name}: ${m}`) }));
        }
      });
      await timed('containerd x2', async () => {
        nodes.push(...(await Promise.all(cluster!.nodes.map((n) => ContainerdNode.start({
          name: `n${n.index}`,
          netns: n.ns,
          namespace: run!.namespace,
          run: run!,
          cniBinDir: binDir,
          cniConfList: {
            cniVersion: '1.0.0',
            name: NETWORK,
            plugins: [{ type: 'weft', socket: n.config.control.socket, dataDir: join(run!.dir, `n${n.index}`, 'ipam') }],
          },
        })))));
      });
      await timed('image import x2', () => Promise.all(nodes.map((n) => n.importImage(image))));
      const tasks = await timed('containers x4', async () => {
        nodes.forEach((n, i) => CONTAINERS[i + 1]!.forEach((id) => n.run(id)));
        return Promise.all(nodes.map((n) => n.waitRunning(60_000)));
      });
      nodes.forEach((node, i) => {
        for (const p of routers[i]!.router.listPods().pods) {
          const id = CONTAINERS[i + 1]!.find((c) => node.cniContainerId(c) === p.containerId);
          if (id) where.set(id, { node, index: i + 1, ipv4: p.ipv4!.split('/')[0]!, ipv6: p.ipv6!.split('/')[0]!, pid: tasks[i]!.get(id)! });
        }
      });
      timings['setup total'] = Math.round(performance.now() - t0);
    } catch (e) {
      await teardown();
      throw new Error(`${(e as Error).message}\nrouter log:\n${routerLog.join('\n')}`);
    }
  }, 150_000);

  afterAll(async () => {
    const t = performance.now();
    await teardown();
    timings.teardown = Math.round(performance.now() - t);
    console.log(`[cni-containerd] timings (ms): ${JSON.stringify(timings)}`);
    // the cleanup is part of the contract: nothing of this run may survive it
    if (run) {
      const left = [
        ...pidsWithCmdline(`${run.dir}/`).map((p) => `process ${p}`),
        ...(existsSync(run.dir) ? [run.dir] : []),
        ...cgroupsOf(run.namespace),
        ...(cluster ? [`${cluster.prefix}ul`, ...cluster.nodes.map((n) => n.ns)].filter((n) => existsSync(`/run/netns/${n}`)) : []),
      ];
      if (left.length) throw new Error(`left behind: ${left.join(', ')}`);
    }
  }, 90_000);

  it('every container got eth0 from its own node: addresses in its pod CIDRs, libcni result, CNI CHECK passes', async () => {
    expect([...where.keys()].sort()).toEqual(['a1', 'a2', 'b1', 'b2']);
    for (const [id, c] of where) {
      const cfg = cluster!.nodes[c.index - 1]!.config;
      const [v4, v6] = [cfg.podCIDRs.find((x) => !x.includes(':'))!, cfg.podCIDRs.find((x) => x.includes(':'))!];
      expect(c.ipv4.startsWith(v4.split('.').slice(0, 3).join('.') + '.'), `${id} ${c.ipv4} in ${v4}`).toBe(true);
      expect(c.ipv6.startsWith(v6.split('::')[0]! + ':'), `${id} ${c.ipv6} in ${v6}`).toBe(true);
      const pod = routers[c.index - 1]!.router.listPods().pods.find((p) => p.containerId === c.node.cniContainerId(id))!;
      expect(pod).toMatchObject({ ifName: 'eth0', network: NETWORK, netns: `/proc/${c.pid}/ns/net` });

      // what the container itself sees
      const addr = await c.node.exec(id, ['ip', 'addr', 'show', 'eth0']);
      expect(addr.code, addr.out).toBe(0);
      expect(addr.out).toContain(`inet ${c.ipv4}/32`);
      expect(addr.out).toContain(`inet6 ${c.ipv6}/128`);
      expect(addr.out).toContain(pod.mac);
      const route = await c.node.exec(id, ['ip', 'route']);
      expect(route.out).toContain(`default via ${cfg.gateway4} dev eth0`);

      // the result ctr got from the plugin, as libcni cached it; CHECK it as a runtime would
      const cached = cachedResult(c.node, id);
      expect(cached, `libcni cache of ${id}`).toBeDefined();
      expect(cached!.result.ips.map((x: { address: string }) => x.address).sort()).toEqual([`${c.ipv4}/32`, `${c.ipv6}/128`].sort());
      expect(cached!.result.interfaces).toContainEqual(expect.objectContaining({ name: 'eth0', mac: pod.mac, sandbox: `/proc/${c.pid}/ns/net` }));
      const check = await runCni(join(binDir, 'weft'), {
        command: 'CHECK', containerId: c.node.cniContainerId(id), netns: `/proc/${c.pid}/ns/net`, ifName: 'eth0', path: binDir,
      }, { ...cached!.config.plugins[0], cniVersion: cached!.config.cniVersion, name: NETWORK, prevResult: cached!.result });
      expect(check.code, `CHECK ${id}: ${check.stdout}${check.stderr}`).toBe(0);
    }
  });

  const ping = async (from: string, to: string, family: 4 | 6) => {
    const src = where.get(from)!;
    const dst = where.get(to)!;
    const ip = family === 4 ? dst.ipv4 : dst.ipv6;
    const r = await src.node.exec(from, ['ping', `-${family}`, '-c', '3', '-i', '0.2', '-w', '10', ip], 20_000);
    expect(r.code, `${from} -> ${to} ${ip}: ${r.out}`).toBe(0);
    expect(r.out, `${from} -> ${to} ${ip}`).toMatch(/, [1-9]\d* packets received/);
  };

  it('containers on the same node ping each other, IPv4 and IPv6', async () => {
    const t = performance.now();
    for (const [a, b] of [['a1', 'a2'], ['a2', 'a1'], ['b1', 'b2'], ['b2', 'b1']]) {
      await ping(a!, b!, 4);
      await ping(a!, b!, 6);
    }
    timings['pings same node'] = Math.round(performance.now() - t);
  }, 60_000);

  it('containers on different nodes ping each other over the tunnel, IPv4 and IPv6', async () => {
    const t = performance.now();
    const before = routers[0]!.router.counters().counters;
    for (const [a, b] of [['a1', 'b1'], ['b1', 'a1'], ['a2', 'b2'], ['b2', 'a2']]) {
      await ping(a!, b!, 4);
      await ping(a!, b!, 6);
    }
    const after = routers[0]!.router.counters().counters;
    expect(after['peer.n2.tx_packets']! - before['peer.n2.tx_packets']!).toBeGreaterThanOrEqual(12);
    expect(after['peer.n2.rx_packets']! - before['peer.n2.rx_packets']!).toBeGreaterThanOrEqual(12);
    timings['pings across nodes'] = Math.round(performance.now() - t);
  }, 60_000);

  it('killing the tasks makes ctr run CNI DEL: attachments, leases and libcni cache entries are gone', async () => {
    const t = performance.now();
    const ended = (await Promise.all(nodes.map((n) => n.killAll(30_000)))).flat();
    timings['kill + DEL x4'] = Math.round(performance.now() - t);
    for (const e of ended) {
      // ctr exits 137 (its task died of SIGKILL); DEL errors appear in its output
      expect(e.log, `ctr run ${e.id}`).not.toMatch(/network review|failed \(delete\)|plugin type="weft" failed/i);
    }
    for (const [i, n] of nodes.entries()) {
      expect(routers[i]!.router.listPods().pods).toEqual([]);
      expect(filesUnder(join(n.dir, 'ipam')).filter((f) => f.startsWith('leases/'))).toEqual([]);
      const results = join(n.libcniDir, 'results');
      expect(existsSync(results) ? readdirSync(results) : []).toEqual([]);
      expect((await n.ctr(['containers', 'ls', '-q'])).trim()).toBe('');
    }
  }, 90_000);
});
