/**
 * Black-box suite: the built `weft` executable, exec'ed like a runtime does (clean env, config
 * on stdin), against the fake router doing real netns work. Needs root (skipped otherwise).
 * Every namespace is uniquely named and removed in afterAll, also when a test fails.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseStore } from '../host/ipam/store.ts';
import { FakeRouter } from './fakes/fake-router.ts';
import { type CniInvocation, NetnsRegistry, builtPlugin, canUseNetns, ipJson, removeBuiltPlugin, runCni, tempDir } from './fakes/fake-router-harness.ts';
import { describeRequiring } from './helpers/require.ts';

const POD_CIDRS = ['10.70.0.0/24', 'fd00:70::/64'];

describeRequiring(!canUseNetns())('weft CNI plugin, black box, real namespaces', () => {
  const reg = new NetnsRegistry('wcn');
  let dir: string;
  let plugin: string;
  let router: FakeRouter;
  let conf: Record<string, unknown>;
  let seq = 0;
  const sleepers: ChildProcess[] = [];

  beforeAll(async () => {
    reg.removeStale();
    dir = tempDir('weft-cni-bb-');
    plugin = (await builtPlugin()).plugin;
    router = new FakeRouter({ socketPath: join(dir, 'run', 'weft.sock'), podCIDRs: POD_CIDRS });
    await router.start();
    conf = { cniVersion: '1.1.0', name: 'weft-bb', type: 'weft', socket: router.socketPath, dataDir: join(dir, 'ipam') };
  }, 60_000);

  afterAll(async () => {
    for (const s of sleepers) s.kill('SIGKILL');
    await router?.stop();
    reg.removeAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await removeBuiltPlugin();
  });

  const store = () => new LeaseStore(join(dir, 'ipam'));
  const pod = () => {
    const ns = reg.create();
    return { ns, inv: { containerId: `bb${seq++}-${process.pid}`, netns: ns.path, ifName: 'eth0' } satisfies Omit<CniInvocation, 'command'> };
  };
  const cni = (command: string, inv: Omit<CniInvocation, 'command'>, c: unknown = conf) => runCni(plugin, { command, ...inv }, c);
  const linkIn = (ns: string, ifName = 'eth0') => {
    try {
      return ipJson(ns, 'addr', 'show', 'dev', ifName)[0] ?? null;
    } catch {
      return null;
    }
  };

  it('ADD creates eth0 with MAC, /32 + /128 and default routes; CHECK passes; DEL removes it all', async () => {
    const { ns, inv } = pod();
    const add = await cni('ADD', inv);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const res = add.json;
    expect(res.interfaces).toEqual([{ name: 'eth0', mac: expect.stringMatching(/^0a:58:/), mtu: 1450, sandbox: ns.path }]);
    const [v4, v6] = res.ips.map((i: any) => i.address);
    expect(v4).toMatch(/^10\.70\.0\.\d+\/32$/);
    expect(v6).toMatch(/^fd00:70::[0-9a-f]+\/128$/);

    const link = linkIn(ns.name);
    expect(link.address).toBe(res.interfaces[0].mac);
    expect(link.mtu).toBe(1450);
    const addrs = link.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`);
    expect(addrs.sort()).toEqual([v4, v6].sort());
    expect(ipJson(ns.name, 'route', 'show', 'default')).toContainEqual(expect.objectContaining({ gateway: '10.70.0.1', dev: 'eth0' }));
    expect(ipJson(ns.name, '-6', 'route', 'show', 'default')).toContainEqual(expect.objectContaining({ gateway: 'fd00:70::1', dev: 'eth0' }));

    const chk = await cni('CHECK', inv, { ...conf, prevResult: res });
    expect(chk.code, chk.stdout).toBe(0);
    expect(chk.stdout).toBe('');

    const del = await cni('DEL', inv, { ...conf, prevResult: res });
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(linkIn(ns.name)).toBeNull();
    expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
    expect(router.attachments.has(`${inv.containerId}:eth0`)).toBe(false);
  });

  it.each(['0.4.0', '1.0.0'])('ADD/CHECK/DEL with a %s config', async (v) => {
    const { inv } = pod();
    const c = { ...conf, cniVersion: v };
    const add = await cni('ADD', inv, c);
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.cniVersion).toBe(v);
    expect('version' in add.json.ips[0]).toBe(v === '0.4.0');
    expect((await cni('CHECK', inv, { ...c, prevResult: add.json })).code).toBe(0);
    expect((await cni('DEL', inv, { ...c, prevResult: add.json })).code).toBe(0);
  });

  it('CHECK catches an address, a route or the interface removed behind its back', async () => {
    const { ns, inv } = pod();
    const add = await cni('ADD', inv);
    const c = { ...conf, prevResult: add.json };
    const v6 = add.json.ips[1].address;
    execFileSync('ip', ['-n', ns.name, 'route', 'del', 'default', 'via', '10.70.0.1']);
    let r = await cni('CHECK', inv, c);
    expect(r.json).toMatchObject({ code: 102, msg: 'route 0.0.0.0/0 via 10.70.0.1 not found in ' + ns.path });
    execFileSync('ip', ['-n', ns.name, 'route', 'add', 'default', 'via', '10.70.0.1', 'dev', 'eth0']);
    expect((await cni('CHECK', inv, c)).code).toBe(0);
    execFileSync('ip', ['-n', ns.name, 'addr', 'del', v6, 'dev', 'eth0']);
    r = await cni('CHECK', inv, c);
    expect(r.json).toMatchObject({ code: 102, msg: `address ${v6} not found on eth0` });
    execFileSync('ip', ['-n', ns.name, 'link', 'del', 'eth0']);
    r = await cni('CHECK', inv, c);
    expect(r.json).toMatchObject({ code: 102, msg: `interface eth0 not found in ${ns.path}` });
    expect((await cni('DEL', inv)).code).toBe(0);
  });

  it('DEL is idempotent, and works without CNI_NETNS and without prevResult', async () => {
    const { ns, inv } = pod();
    expect((await cni('ADD', inv)).code).toBe(0);
    const noNetns = { containerId: inv.containerId, ifName: 'eth0' };
    expect(await cni('DEL', noNetns)).toMatchObject({ code: 0, stdout: '' });
    expect(linkIn(ns.name)).toBeNull(); // the router knew the netns
    for (let i = 0; i < 3; i++) expect((await cni('DEL', noNetns)).code).toBe(0);
    expect((await cni('DEL', inv)).code).toBe(0);
    expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
  });

  it('DEL after the netns is gone releases the lease and the router state', async () => {
    const { ns, inv } = pod();
    expect((await cni('ADD', inv)).code).toBe(0);
    reg.remove(ns.name);
    expect(existsSync(ns.path)).toBe(false);
    expect((await cni('DEL', inv)).code).toBe(0);
    expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
    expect(router.attachments.has(`${inv.containerId}:eth0`)).toBe(false);
  });

  it('DEL with the router down succeeds and releases the lease', async () => {
    const { inv } = pod();
    expect((await cni('ADD', inv)).code).toBe(0);
    await router.stop();
    try {
      const del = await cni('DEL', inv);
      expect(del.code, del.stdout).toBe(0);
      expect(del.stderr).toMatch(/router unavailable/);
      expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
    } finally {
      await router.start();
    }
    // the router reconciles later; a repeated DEL now also clears its side
    expect((await cni('DEL', inv)).code).toBe(0);
    expect(router.attachments.has(`${inv.containerId}:eth0`)).toBe(false);
  });

  it.each([false, true])('router restart between ADD and DEL (state forgotten: %s)', async (forgetState) => {
    const { ns, inv } = pod();
    const add = await cni('ADD', inv);
    expect(add.code).toBe(0);
    await router.restart({ forgetState });
    expect((await cni('CHECK', inv, { ...conf, prevResult: add.json })).json?.code ?? 0).toBe(forgetState ? 102 : 0);
    expect((await cni('DEL', inv, { ...conf, prevResult: add.json })).code).toBe(0);
    expect(linkIn(ns.name)).toBeNull(); // removed by state, or through the netns hint
    expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
  });

  it('a failed ADD is rolled back: lease released, interface removed', async () => {
    const { ns, inv } = pod();
    router.failNext('attachPod', 'INTERNAL', 'data plane rejected the port', { afterWork: true });
    const add = await cni('ADD', inv);
    expect(add.json).toMatchObject({ code: 100, details: 'INTERNAL: data plane rejected the port' });
    expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
    expect(linkIn(ns.name)).toBeNull();
    expect(router.attachments.has(`${inv.containerId}:eth0`)).toBe(false);
    // the runtime's DEL after a failed ADD is harmless
    expect((await cni('DEL', inv)).code).toBe(0);
  });

  it('ADD into a netns whose eth0 is someone else\'s fails and leaves that interface alone', async () => {
    const { ns, inv } = pod();
    execFileSync('ip', ['-n', ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const add = await cni('ADD', inv);
    expect(add.json).toMatchObject({ code: 100, details: expect.stringMatching(/^IF_EXISTS/) });
    expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
    expect(ipJson(ns.name, '-d', 'link', 'show', 'eth0')[0].linkinfo.info_kind).toBe('veth');
  });

  it('works with a /proc/<pid>/ns/net path like containerd passes', async () => {
    const sleeper = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    await new Promise((r) => setTimeout(r, 200));
    const path = `/proc/${sleeper.pid}/ns/net`;
    // unshare execs sleep in the new netns: same pid
    expect(execFileSync('readlink', [path], { encoding: 'utf8' })).not.toBe(execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }));
    const inv = { containerId: `proc${process.pid}`, netns: path, ifName: 'eth0' };
    const add = await cni('ADD', inv);
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.interfaces[0].sandbox).toBe(path);
    expect((await cni('CHECK', inv, { ...conf, prevResult: add.json })).code).toBe(0);
    expect((await cni('DEL', inv)).code).toBe(0);
    sleeper.kill('SIGKILL');
  });

  it('GC removes leases and interfaces of attachments not listed as valid', async () => {
    const pods = [pod(), pod(), pod()];
    for (const p of pods) expect((await cni('ADD', p.inv)).code).toBe(0);
    const keep = pods[1];
    const others = [...router.attachments.values()]
      .filter((a) => !pods.some((p) => p.inv.containerId === a.containerId))
      .map((a) => ({ containerID: a.containerId, ifname: a.ifName }));
    const gc = await runCni(plugin, { command: 'GC' }, {
      ...conf, 'cni.dev/valid-attachments': [{ containerID: keep.inv.containerId, ifname: 'eth0' }, ...others],
    });
    expect(gc).toMatchObject({ code: 0, stdout: '' });
    expect(linkIn(pods[0].ns.name)).toBeNull();
    expect(linkIn(pods[2].ns.name)).toBeNull();
    expect(linkIn(keep.ns.name)).not.toBeNull();
    const keys = new Set(store().scan().map((l) => l.key));
    expect(keys.has(`${keep.inv.containerId}:eth0`)).toBe(true);
    expect(keys.has(`${pods[0].inv.containerId}:eth0`)).toBe(false);
    expect((await cni('DEL', keep.inv)).code).toBe(0);
  });

  it('STATUS succeeds with the router up and reports 51 with it down', async () => {
    expect(await runCni(plugin, { command: 'STATUS' }, conf)).toMatchObject({ code: 0, stdout: '' });
    await router.stop();
    try {
      expect((await runCni(plugin, { command: 'STATUS' }, conf)).json).toMatchObject({ code: 51 });
    } finally {
      await router.start();
    }
  });

  it('50 parallel ADDs get 50 distinct addresses, then 50 parallel DELs clean up', async () => {
    const nss = reg.createMany(50);
    const invs = nss.map((ns, i) => ({ containerId: `par${i}-${process.pid}`, netns: ns.path, ifName: 'eth0' }));
    const adds = await Promise.all(invs.map((inv) => cni('ADD', inv)));
    for (const a of adds) expect(a.code, a.stdout + a.stderr).toBe(0);
    const v4 = adds.map((a) => a.json.ips[0].address);
    const v6 = adds.map((a) => a.json.ips[1].address);
    const macs = adds.map((a) => a.json.interfaces[0].mac);
    expect(new Set(v4).size).toBe(50);
    expect(new Set(v6).size).toBe(50);
    expect(new Set(macs).size).toBe(50);
    for (const i of [0, 17, 49]) {
      const addr = linkIn(nss[i].name).addr_info.find((x: any) => x.family === 'inet');
      expect(`${addr.local}/32`).toBe(v4[i]);
    }
    const checks = await Promise.all(invs.slice(0, 10).map((inv, i) => cni('CHECK', inv, { ...conf, prevResult: adds[i].json })));
    for (const c of checks) expect(c.code, c.stdout).toBe(0);
    const dels = await Promise.all(invs.map((inv) => cni('DEL', inv)));
    for (const d of dels) expect(d.code, d.stdout).toBe(0);
    const left = store().scan().filter((l) => l.key?.startsWith('par'));
    expect(left).toEqual([]);
    for (const i of [0, 25, 49]) expect(linkIn(nss[i].name)).toBeNull();
    const p50 = adds.map((a) => a.ms).sort((a, b) => a - b)[25];
    console.log(`50 parallel ADDs: p50 ${p50.toFixed(1)} ms (2 cores, includes queueing)`);
  }, 300_000);
});
