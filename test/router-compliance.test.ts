/**
 * The router compliance suite (test/fakes/fake-router-compliance.ts) against the REAL router:
 * host/router/router.ts started in a node network namespace made here (a veth inside it
 * carries the underlay address), served by host/router/control-server.ts on a socket in a
 * temporary directory, exactly as `weft router` serves it (startRouterProcess).
 *
 * Below the suite: the rest of the suite's attach case (which stops at its first failing
 * assertion), and peer/static-route cases that only the real data plane can answer. They were
 * written as reproductions of router bugs (router.ts of ff0bd93; fixed in 9097ddc) and stay as
 * regression tests; docs/CNI.md "The router compliance suite against the real router".
 *
 * Needs root (network namespaces, TAP/TUN); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../host/config/node-config.ts';
import { RouterClient } from '../host/control/client.ts';
import { startRouterProcess, type RunningRouter } from '../host/router/process.ts';
import { routerComplianceSuite } from './fakes/fake-router-compliance.ts';
import { NetnsRegistry, canUseNetns, ipJson, tempDir } from './fakes/fake-router-harness.ts';
import { describeRequiring } from './helpers/require.ts';

const root = canUseNetns();
// Node namespaces, one per router started here; each is removed when its router stops.
const nodes = new NetnsRegistry('wrn');
if (root) nodes.removeStale();

/** A real router in a fresh node namespace, serving `socketPath`. */
async function startRealRouter(socketPath: string, podCIDRs: string[]): Promise<{ running: RunningRouter; stop(): Promise<void> }> {
  const node = nodes.create();
  try {
    const ipn = (...args: string[]) => execFileSync('ip', ['-n', node.name, ...args], { stdio: 'pipe' });
    ipn('link', 'set', 'lo', 'up');
    // the dummy driver is not everywhere; a veth pair inside the namespace does as well
    ipn('link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
    ipn('addr', 'add', '198.51.100.1/24', 'dev', 'ul0');
    ipn('link', 'set', 'ul1', 'up');
    ipn('link', 'set', 'ul0', 'up');
    const config = parseNodeConfig({
      name: 'compliance',
      vtepMac: '02:00:c6:33:64:01',
      underlay: { ipv4: '198.51.100.1' },
      podCIDRs,
      netns: node.name,
      control: { socket: socketPath },
    });
    const running = await startRouterProcess(config, { log: () => undefined });
    return {
      running,
      stop: async () => {
        try {
          await running.stop();
        } finally {
          nodes.remove(node.name);
        }
      },
    };
  } catch (e) {
    nodes.remove(node.name);
    throw e;
  }
}

if (root) {
  routerComplianceSuite('real router', async ({ socketPath, podCIDRs }) => startRealRouter(socketPath, podCIDRs));
} else {
  describeRequiring(['root'])('router compliance: real router', () => {});
}

describeRequiring(!root)('real router: beyond the compliance suite', () => {
  const pods = new NetnsRegistry('wrp');
  let dir: string;
  let r: Awaited<ReturnType<typeof startRealRouter>>;
  let c: RouterClient;

  beforeAll(async () => {
    pods.removeStale();
    dir = tempDir('weft-compliance-x-');
    r = await startRealRouter(join(dir, 'weft.sock'), ['10.71.0.0/24', 'fd00:71::/64']);
    c = await RouterClient.connect({ socketPath: join(dir, 'weft.sock') });
  });
  afterAll(async () => {
    c?.close();
    await r?.stop();
    pods.removeAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // The suite's attach case stops at its first failing assertion; this is all of it with the
  // router's own MTU, so that an MTU bug cannot hide anything behind it.
  it('attachPod without mtu: interface, addresses, routes, idempotence, listPods, routes, detach', async () => {
    const ns = pods.create();
    const args = { containerId: 'x1', ifName: 'eth0', netns: ns.path, ipv4: '10.71.0.7/24', ipv6: 'fd00:71::7/64', network: 'weft' };
    const res = await c.attachPod(args);
    const st = await c.status();
    expect(res).toMatchObject({ hostIfName: '', mtu: st.mtu.pod, sandbox: ns.path, gateway4: '10.71.0.1', gateway6: 'fd00:71::1' });
    const link = ipJson(ns.name, 'addr', 'show', 'dev', 'eth0')[0];
    expect(link.address).toBe(res.mac);
    expect(link.mtu).toBe(st.mtu.pod);
    expect(link.flags).toContain('UP');
    const global = link.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
    expect(global).toEqual(['10.71.0.7/32', 'fd00:71::7/128']);
    expect(ipJson(ns.name, 'route', 'show', 'default')).toContainEqual(expect.objectContaining({ gateway: '10.71.0.1', dev: 'eth0' }));
    expect(ipJson(ns.name, '-6', 'route', 'show', 'default')).toContainEqual(expect.objectContaining({ gateway: 'fd00:71::1', dev: 'eth0' }));
    expect(await c.attachPod(args)).toEqual(res);
    expect((await c.listPods()).pods.find((p) => p.containerId === 'x1')).toMatchObject({
      ifName: 'eth0', netns: ns.path, network: 'weft', ipv4: '10.71.0.7/32', ipv6: 'fd00:71::7/128', mac: res.mac,
    });
    expect((await c.routes()).routes).toContainEqual(expect.objectContaining({ dst: 'fd00:71::7/128', target: { kind: 'pod', containerId: 'x1', ifName: 'eth0' } }));
    expect(await c.detachPod({ containerId: 'x1', ifName: 'eth0' })).toEqual({ existed: true });
    expect(() => execFileSync('ip', ['-n', ns.name, 'link', 'show', 'eth0'], { stdio: 'pipe' })).toThrow();
  });

  // Was a router bug (fixed in 9097ddc): the result's mtu was status.mtu.pod, not the MTU it set.
  it('attachPod with mtu reports the MTU it configured (protocol.ts AttachPodArgs.mtu)', async () => {
    const ns = pods.create();
    const res = await c.attachPod({ containerId: 'x2', ifName: 'eth0', netns: ns.path, ipv4: '10.71.0.8/24', mtu: 1400 });
    try {
      expect(ipJson(ns.name, 'link', 'show', 'dev', 'eth0')[0].mtu).toBe(1400);
      expect(res.mtu).toBe(1400);
    } finally {
      await c.detachPod({ containerId: 'x2', ifName: 'eth0' });
    }
  });

  // Was a router bug (fixed in 9097ddc): a static route kept the peer's table index, not its
  // name. After the peer was removed (or upserted onto another index) the route kept the old
  // index, and whichever peer took that index next received the route's traffic.
  it('a static route via a peer never sends traffic to another peer after removePeer', async () => {
    const dp = r.running.router.tables.dp;
    await c.addPeer({ name: 'b', underlay: '198.51.100.2', podCIDRs: ['10.72.0.0/24'], vtepMac: '02:00:c6:33:64:02' });
    await c.addRoute({ dst: '10.73.0.0/16', target: { kind: 'peer', peer: 'b' } });
    const removed = await c.removePeer({ name: 'b' }).then(() => true, () => false); // refusing would be fine too
    await c.addPeer({ name: 'c', underlay: '198.51.100.3', podCIDRs: ['10.74.0.0/24'], vtepMac: '02:00:c6:33:64:03' });
    const cIdx = r.running.router.tables.peers.get('c')!.idx;
    try {
      if (removed) expect(dp.lookup('10.73.1.1')).not.toEqual({ kind: 'peer', peer: cIdx });
    } finally {
      await c.removeRoute({ dst: '10.73.0.0/16' });
      await c.removePeer({ name: 'c' });
      await c.removePeer({ name: 'b' });
    }
  });

  it('a static route via a peer follows the peer when it is upserted', async () => {
    const dp = r.running.router.tables.dp;
    await c.addPeer({ name: 'a', underlay: '198.51.100.2', podCIDRs: ['10.72.0.0/24'], vtepMac: '02:00:c6:33:64:02' });
    await c.addPeer({ name: 'b', underlay: '198.51.100.3', podCIDRs: ['10.74.0.0/24'], vtepMac: '02:00:c6:33:64:03' });
    await c.addRoute({ dst: '10.73.0.0/16', target: { kind: 'peer', peer: 'b' } });
    await c.removePeer({ name: 'a' });
    expect(await c.addPeer({ name: 'b', underlay: '198.51.100.4', podCIDRs: ['10.74.0.0/24'], vtepMac: '02:00:c6:33:64:03' })).toEqual({ created: false });
    const bIdx = r.running.router.tables.peers.get('b')!.idx;
    try {
      expect(dp.lookup('10.74.0.9')).toEqual({ kind: 'peer', peer: bIdx });
      expect(dp.lookup('10.73.1.1')).toEqual({ kind: 'peer', peer: bIdx });
    } finally {
      await c.removeRoute({ dst: '10.73.0.0/16' });
      await c.removePeer({ name: 'b' });
    }
  });
});
