/**
 * Router compliance suite: what any server of the control protocol (the real router and
 * test/fakes/fake-router.ts alike) must do for the CNI plugin to work. Register it from a test
 * file with a factory that starts a router serving the given pod CIDRs:
 *
 *   routerComplianceSuite('fake router', async ({ podCIDRs, socketPath }) => {
 *     const r = new FakeRouter({ socketPath, podCIDRs }); await r.start();
 *     return { stop: () => r.stop() };
 *   });
 *
 * Protocol-level cases run anywhere; attach/detach cases need root (real namespaces) and are
 * skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouterClient, RouterError } from '../../host/control/client.ts';
import { FrameDecoder, PROTOCOL_VERSION, encodeFrame } from '../../host/control/protocol.ts';
import { NetnsRegistry, canUseNetns, ipJson, tempDir } from './fake-router-harness.ts';
import { describeRequiring } from '../helpers/require.ts';

export interface RouterUnderTest {
  stop(): Promise<void>;
}
export type RouterFactory = (opts: { socketPath: string; podCIDRs: string[] }) => Promise<RouterUnderTest>;

const POD_CIDRS = ['10.71.0.0/24', 'fd00:71::/64'];

async function rawExchange(socketPath: string, bytes: Uint8Array): Promise<{ body: any; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = netConnect(socketPath);
    const d = new FrameDecoder();
    let body: any;
    s.on('data', (c) => {
      const [b] = d.push(c);
      if (b !== undefined) body = b;
    });
    s.on('error', reject);
    s.on('close', () => resolve({ body, closed: true }));
    s.write(bytes);
    setTimeout(() => {
      s.destroy();
      resolve({ body, closed: false });
    }, 1500);
  });
}

export function routerComplianceSuite(name: string, factory: RouterFactory): void {
  describe(`router compliance: ${name}`, () => {
    let dir: string;
    let socketPath: string;
    let router: RouterUnderTest;
    let c: RouterClient;

    beforeAll(async () => {
      dir = tempDir('weft-compliance-');
      socketPath = join(dir, 'weft.sock');
      router = await factory({ socketPath, podCIDRs: POD_CIDRS });
      c = await RouterClient.connect({ socketPath });
    });
    afterAll(async () => {
      c?.close();
      await router?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves status with the pod CIDRs and first-address gateways', async () => {
      const st = await c.status();
      expect(st.protocolVersion).toBe(PROTOCOL_VERSION);
      expect(st.podCIDRs).toEqual(POD_CIDRS);
      expect(st.gateway4).toBe('10.71.0.1');
      expect(st.gateway6).toBe('fd00:71::1');
      expect(typeof st.nodeName).toBe('string');
      expect(st.mtu.pod).toBeGreaterThanOrEqual(1280);
      expect(st.mtu.underlay).toBeGreaterThanOrEqual(st.mtu.pod);
      expect(st.counts).toEqual({ pods: expect.any(Number), peers: expect.any(Number), routes: expect.any(Number) });
    });

    it('answers unknown ops and bad arguments with typed errors and keeps the connection', async () => {
      await expect(c.call('fly' as never, {} as never)).rejects.toMatchObject({ code: 'UNKNOWN_OP' });
      await expect(c.call('attachPod', { containerId: 'x' } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect((await c.status()).protocolVersion).toBe(PROTOCOL_VERSION);
    });

    it('answers an oversized frame with FRAME_TOO_LARGE (id 0) and closes', async () => {
      const r = await rawExchange(socketPath, new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
      expect(r.body).toMatchObject({ id: 0, ok: false, error: { code: 'FRAME_TOO_LARGE' } });
      expect(r.closed).toBe(true);
    });

    it('answers an undecodable body with an id-0 error and closes', async () => {
      const r = await rawExchange(socketPath, new Uint8Array([0, 0, 0, 1, 0xc1]));
      expect(r.body).toMatchObject({ id: 0, ok: false });
      expect(r.closed).toBe(true);
    });

    it('handles pipelined requests on one connection', async () => {
      const frames = Buffer.concat([1, 2, 3].map((id) => encodeFrame({ id, op: 'status', args: {} })));
      const ids = await new Promise<number[]>((resolve, reject) => {
        const s = netConnect(socketPath);
        const d = new FrameDecoder();
        const got: number[] = [];
        s.on('data', (chunk) => {
          for (const b of d.push(chunk) as any[]) got.push(b.id);
          if (got.length === 3) {
            s.destroy();
            resolve(got.sort());
          }
        });
        s.on('error', reject);
        s.write(frames);
      });
      expect(ids).toEqual([1, 2, 3]);
    });

    it('upserts and removes peers and static routes', async () => {
      const peer = { name: 'node-b', underlay: '192.0.2.2', podCIDRs: ['10.72.0.0/24'], vtepMac: '02:00:c0:00:02:02' };
      expect(await c.addPeer(peer)).toEqual({ created: true });
      expect(await c.addPeer({ ...peer, underlay: '192.0.2.3' })).toEqual({ created: false });
      expect((await c.peers()).peers).toContainEqual({ ...peer, underlay: '192.0.2.3', origin: 'control' });
      expect(await c.addRoute({ dst: '10.73.0.0/16', target: { kind: 'peer', peer: 'node-b' } })).toMatchObject({ created: true });
      expect((await c.routes()).routes).toContainEqual({ dst: '10.73.0.0/16', target: { kind: 'peer', peer: 'node-b' }, origin: 'static' });
      expect(await c.removeRoute({ dst: '10.73.0.0/16' })).toEqual({ existed: true });
      expect(await c.removeRoute({ dst: '10.73.0.0/16' })).toEqual({ existed: false });
      expect(await c.removePeer({ name: 'node-b' })).toEqual({ existed: true });
      expect(await c.removePeer({ name: 'node-b' })).toEqual({ existed: false });
      expect(typeof (await c.counters()).counters).toBe('object');
    });

    it('detachPod of an unknown attachment is a no-op', async () => {
      expect(await c.detachPod({ containerId: 'never-attached', ifName: 'eth0' })).toEqual({ existed: false });
    });

    describeRequiring(!canUseNetns() && ['root with network namespaces'])('pod attachments in real namespaces', () => {
      const reg = new NetnsRegistry('wrc');
      beforeAll(() => reg.removeStale());
      afterAll(() => reg.removeAll());

      it('attachPod configures the pod interface as specified, idempotently; detachPod removes it', async () => {
        const ns = reg.create();
        const args = { containerId: 'comp1', ifName: 'eth0', netns: ns.path, ipv4: '10.71.0.7/24', ipv6: 'fd00:71::7/64', network: 'weft', mtu: 1400 };
        const res = await c.attachPod(args);
        expect(res).toMatchObject({ mtu: 1400, sandbox: ns.path, gateway4: '10.71.0.1', gateway6: 'fd00:71::1' });
        expect(res.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        expect(res.routes).toEqual(expect.arrayContaining([{ dst: '0.0.0.0/0', gw: '10.71.0.1' }, { dst: '::/0', gw: 'fd00:71::1' }]));
        const link = ipJson(ns.name, 'addr', 'show', 'dev', 'eth0')[0];
        expect(link.address).toBe(res.mac);
        expect(link.mtu).toBe(1400);
        expect(link.flags).toContain('UP');
        const global = link.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
        expect(global).toEqual(['10.71.0.7/32', 'fd00:71::7/128']);
        expect(ipJson(ns.name, 'route', 'show', 'default')).toContainEqual(expect.objectContaining({ gateway: '10.71.0.1', dev: 'eth0' }));
        expect(ipJson(ns.name, '-6', 'route', 'show', 'default')).toContainEqual(expect.objectContaining({ gateway: 'fd00:71::1', dev: 'eth0' }));
        expect(await c.attachPod(args)).toEqual(res); // idempotent
        const listed = (await c.listPods()).pods.find((p) => p.containerId === 'comp1');
        expect(listed).toMatchObject({ ifName: 'eth0', netns: ns.path, network: 'weft', ipv4: '10.71.0.7/32', ipv6: 'fd00:71::7/128', mac: res.mac });
        expect(typeof listed!.port).toBe('number');
        expect((await c.routes()).routes).toContainEqual(expect.objectContaining({ dst: '10.71.0.7/32', target: { kind: 'pod', containerId: 'comp1', ifName: 'eth0' } }));
        expect(await c.detachPod({ containerId: 'comp1', ifName: 'eth0' })).toEqual({ existed: true });
        expect(() => execFileSync('ip', ['-n', ns.name, 'link', 'show', 'eth0'], { stdio: 'pipe' })).toThrow();
        expect(await c.detachPod({ containerId: 'comp1', ifName: 'eth0' })).toEqual({ existed: false });
      });

      it('rejects a missing netns, a foreign interface, and an address in use', async () => {
        const err = (p: Promise<unknown>) => p.then(() => null, (e) => e as RouterError);
        expect(await err(c.attachPod({ containerId: 'comp2', ifName: 'eth0', netns: '/run/netns/does-not-exist-weft', ipv4: '10.71.0.8/24' })))
          .toMatchObject({ code: 'NETNS_NOT_FOUND' });
        const ns = reg.create();
        execFileSync('ip', ['-n', ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
        expect(await err(c.attachPod({ containerId: 'comp3', ifName: 'eth0', netns: ns.path, ipv4: '10.71.0.9/24' })))
          .toMatchObject({ code: 'IF_EXISTS' });
        const ns2 = reg.create();
        await c.attachPod({ containerId: 'comp4', ifName: 'eth0', netns: ns2.path, ipv4: '10.71.0.10/24' });
        const ns3 = reg.create();
        expect(await err(c.attachPod({ containerId: 'comp5', ifName: 'eth0', netns: ns3.path, ipv4: '10.71.0.10/24' })))
          .toMatchObject({ code: 'CONFLICT' });
        await c.detachPod({ containerId: 'comp4', ifName: 'eth0' });
      });

      it('detachPod works after the netns is gone', async () => {
        const ns = reg.create();
        await c.attachPod({ containerId: 'comp6', ifName: 'eth0', netns: ns.path, ipv4: '10.71.0.11/24' });
        reg.remove(ns.name);
        expect(await c.detachPod({ containerId: 'comp6', ifName: 'eth0' })).toEqual({ existed: true });
        expect((await c.listPods()).pods.some((p) => p.containerId === 'comp6')).toBe(false);
      });
    });
  });
}
