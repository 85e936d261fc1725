/**
 * CNI spec handling of the weft plugin, in-process (runPlugin) against the fake router over a
 * real socket with netns work off, plus a few runs of the built executable: every command,
 * every error code, each accepted and some rejected versions, malformed configs, environment.
 * Needs no root; test/cni-plugin.test.ts covers real namespaces.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LinkState } from '../host/cni/netns.ts';
import { ABOUT, type PluginDeps, defaultDeps, runPlugin } from '../host/cni/plugin.ts';
import { SUPPORTED_VERSIONS } from '../host/cni/spec.ts';
import { LeaseStore } from '../host/ipam/store.ts';
import { FakeRouter } from './fakes/fake-router.ts';
import { RouterClient } from '../host/control/client.ts';
import { builtPlugin, removeBuiltPlugin, runCni } from './fakes/fake-router-harness.ts';

let dir: string;
let router: FakeRouter;
let netns: string;
let logs: string[];
let inspectOverride: ((ns: string, ifName: string) => Promise<LinkState | null>) | null;
let case_ = 0;

/** LinkState of an attachment as the fake router would have configured it. */
function linkFromRouter(ns: string, ifName: string): LinkState | null {
  const a = [...router.attachments.values()].find((x) => x.netns === ns && x.ifName === ifName);
  if (!a) return null;
  const addrs: LinkState['addrs'] = [];
  const routes: LinkState['routes'] = [];
  if (a.ipv4) {
    addrs.push({ family: 4, local: a.ipv4.split('/')[0], prefixlen: 32 });
    routes.push({ family: 4, dst: 'default', gateway: a.result.gateway4, dev: ifName }, { family: 4, dst: a.result.gateway4!, dev: ifName });
  }
  if (a.ipv6) {
    addrs.push({ family: 6, local: a.ipv6.split('/')[0], prefixlen: 128 });
    routes.push({ family: 6, dst: 'default', gateway: a.result.gateway6, dev: ifName });
  }
  return { name: ifName, mac: a.mac, mtu: a.result.mtu, up: true, addrs, routes };
}

const deps: PluginDeps = {
  ...defaultDeps,
  inspect: async (ns, ifName) => (inspectOverride ? inspectOverride(ns, ifName) : linkFromRouter(ns, ifName)),
  log: (m) => logs.push(m),
};

let conf: Record<string, any>;
const env = (command: string, extra: Record<string, string | undefined> = {}) => {
  const e: Record<string, string | undefined> = {
    CNI_COMMAND: command, CNI_CONTAINERID: `ctr${case_}`, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...extra,
  };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e as NodeJS.ProcessEnv;
};
const run = async (command: string, config: unknown = conf, extra: Record<string, string | undefined> = {}) => {
  const out = await runPlugin(env(command, extra), typeof config === 'string' ? config : JSON.stringify(config), deps);
  return { ...out, json: out.stdout ? JSON.parse(out.stdout) : undefined };
};
const leases = () => new LeaseStore(conf.dataDir).scan();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-cni-spec-'));
  netns = join(dir, 'fake-netns'); // ADD only checks the path exists; the fake router does no netns work here
  writeFileSync(netns, '');
  router = new FakeRouter({ socketPath: join(dir, 'weft.sock'), podCIDRs: ['10.60.0.0/24', 'fd00:60::/64'], netnsWork: false });
  await router.start();
});
afterAll(async () => {
  await router.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  case_++;
  logs = [];
  inspectOverride = null;
  router.attachments.clear(); // every test has its own lease directory, so its own address space
  router.calls.length = 0;
  conf = { cniVersion: '1.1.0', name: 'weftnet', type: 'weft', socket: router.socketPath, dataDir: join(dir, `ipam-${case_}`) };
});
afterEach(async () => {
  if (!router.socketPath || !(router as any).server) await router.start();
});

describe('VERSION and no command', () => {
  it('answers VERSION with empty stdin', async () => {
    const r = await run('VERSION', '');
    expect(r.exitCode).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });
  it('echoes the input cniVersion on VERSION, even one it does not support', async () => {
    expect((await run('VERSION', { cniVersion: '0.4.0' })).json.cniVersion).toBe('0.4.0');
    expect((await run('VERSION', { cniVersion: '9.9.9' })).json).toMatchObject({ cniVersion: '9.9.9', supportedVersions: [...SUPPORTED_VERSIONS] });
  });
  it('rejects undecodable VERSION input with 6', async () => {
    expect((await run('VERSION', '{nope')).json).toMatchObject({ code: 6 });
  });
  it('prints the about text on stderr without CNI_COMMAND', async () => {
    const r = await runPlugin({}, '', deps);
    expect(r).toEqual({ stdout: '', stderr: ABOUT + '\n', exitCode: 0 });
  });
  it('rejects an unknown command with 4', async () => {
    const r = await run('FROB');
    expect(r.exitCode).toBe(1);
    expect(r.json).toEqual({ cniVersion: '1.1.0', code: 4, msg: 'unknown CNI_COMMAND: FROB' });
  });
});

describe('versions', () => {
  it.each(['0.3.0', '0.3.1', '0.4.0'])('ADD with %s answers in the 0.3/0.4 result format', async (v) => {
    const r = await run('ADD', { ...conf, cniVersion: v });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.json.cniVersion).toBe(v);
    expect(r.json.ips).toEqual([
      { version: '4', address: '10.60.0.2/32', gateway: '10.60.0.1', interface: 0 },
      { version: '6', address: 'fd00:60::2/128', gateway: 'fd00:60::1', interface: 0 },
    ]);
    expect(r.json.interfaces).toEqual([{ name: 'eth0', mac: '0a:58:0a:3c:00:02', sandbox: netns }]);
    expect(r.json.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.60.0.1' }, { dst: '::/0', gw: 'fd00:60::1' }]);
    expect(r.json.dns).toEqual({});
    expect((await run('DEL', { ...conf, cniVersion: v })).exitCode).toBe(0);
  });
  it('ADD with 1.0.0 has no ips[].version and no interface mtu', async () => {
    const r = await run('ADD', { ...conf, cniVersion: '1.0.0' });
    expect(r.json.ips[0]).toEqual({ address: '10.60.0.2/32', gateway: '10.60.0.1', interface: 0 });
    expect(r.json.interfaces[0]).not.toHaveProperty('mtu');
  });
  it('ADD with 1.1.0 reports the interface mtu', async () => {
    const r = await run('ADD', { ...conf, mtu: 1400 });
    expect(r.json).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:0a:3c:00:02', mtu: 1400, sandbox: netns }],
      ips: [
        { address: '10.60.0.2/32', gateway: '10.60.0.1', interface: 0 },
        { address: 'fd00:60::2/128', gateway: 'fd00:60::1', interface: 0 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.60.0.1' }, { dst: '::/0', gw: 'fd00:60::1' }],
      dns: {},
    });
  });
  it.each([undefined, '0.1.0', '0.2.0', '1.2.0', '9.9.9', 1])('rejects cniVersion %s with 1', async (v) => {
    const c = { ...conf, cniVersion: v };
    for (const cmd of ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC']) {
      const r = await run(cmd, c);
      expect(r.exitCode).toBe(1);
      expect(r.json, cmd).toMatchObject({ code: 1, msg: 'incompatible CNI versions' });
      expect(r.json.details).toContain('plugin supports [0.3.0 0.3.1 0.4.0 1.0.0 1.1.0]');
    }
  });
  it('refuses CHECK below 0.4.0 and STATUS/GC below 1.1.0 with 1', async () => {
    expect((await run('CHECK', { ...conf, cniVersion: '0.3.1', prevResult: {} })).json).toMatchObject({ code: 1, msg: 'config version does not allow CHECK' });
    expect((await run('STATUS', { ...conf, cniVersion: '1.0.0' })).json).toMatchObject({ code: 1, msg: 'config version does not allow STATUS' });
    expect((await run('GC', { ...conf, cniVersion: '0.4.0' })).json).toMatchObject({ code: 1, msg: 'config version does not allow GC' });
  });
  it('reports errors in the config version', async () => {
    expect((await run('ADD', { ...conf, cniVersion: '0.4.0', name: undefined })).json).toMatchObject({ cniVersion: '0.4.0', code: 7 });
  });
});

describe('malformed configuration', () => {
  const bad: [string, unknown, number, RegExp][] = [
    ['bad JSON', '{"cniVersion":', 6, /failed to decode/],
    ['empty stdin', '', 6, /failed to decode/],
    ['a JSON array', '[]', 6, /must be a JSON object/],
    ['a JSON string', '"x"', 6, /must be a JSON object/],
    ['missing name', { cniVersion: '1.1.0', type: 'weft' }, 7, /missing network name/],
    ['name with a slash', { cniVersion: '1.1.0', name: 'a/b', type: 'weft' }, 7, /invalid network name/],
    ['numeric name', { cniVersion: '1.1.0', name: 5, type: 'weft' }, 7, /invalid network name/],
    ['missing type', { cniVersion: '1.1.0', name: 'n' }, 7, /missing type/],
    ['numeric type', { cniVersion: '1.1.0', name: 'n', type: 3 }, 7, /type must be a string/],
  ];
  it.each(bad)('%s', async (_what, config, code, msg) => {
    const r = await run('ADD', config);
    expect(r.exitCode).toBe(1);
    expect(r.json.code).toBe(code);
    expect(r.json.msg).toMatch(msg);
  });

  const badFields: [string, Record<string, unknown>, number, RegExp][] = [
    ['relative socket', { socket: 'weft.sock' }, 7, /socket must be an absolute path/],
    ['numeric socket', { socket: 1 }, 7, /socket/],
    ['relative dataDir', { dataDir: 'x' }, 7, /dataDir/],
    ['podCIDRs not an array', { podCIDRs: '10.0.0.0/24' }, 7, /podCIDRs must be/],
    ['empty podCIDRs', { podCIDRs: [] }, 7, /podCIDRs must be/],
    ['invalid CIDR', { podCIDRs: ['10.0.0.0/33'] }, 7, /invalid podCIDRs/],
    ['CIDR with host bits', { podCIDRs: ['10.0.0.7/24'] }, 7, /invalid podCIDRs/],
    ['CIDR too small', { podCIDRs: ['10.0.0.0/31'] }, 7, /invalid podCIDRs/],
    ['overlapping CIDRs', { podCIDRs: ['10.0.0.0/16', '10.0.1.0/24'] }, 7, /invalid podCIDRs/],
    ['mtu as string', { mtu: '1450' }, 7, /mtu must be an integer/],
    ['mtu too small', { mtu: 100 }, 7, /mtu/],
    ['mtu < 1280 with IPv6', { mtu: 1000 }, 7, /mtu below 1280/],
    ['timeoutMs', { timeoutMs: 1 }, 7, /timeoutMs/],
    ['dns not an object', { dns: 'x' }, 7, /dns must be/],
    ['dns.nameservers not strings', { dns: { nameservers: [1] } }, 7, /dns must be/],
    ['disableCheck not a boolean', { disableCheck: 'yes' }, 7, /disableCheck/],
    ['runtimeConfig not an object', { runtimeConfig: [] }, 7, /runtimeConfig/],
    ['cniVersions not strings', { cniVersions: [1] }, 7, /cniVersions/],
    ['prevResult not an object', { prevResult: 'x' }, 7, /invalid prevResult/],
    ['prevResult ips index out of range', { prevResult: { interfaces: [], ips: [{ address: '1.2.3.4/32', interface: 0 }] } }, 7, /invalid prevResult/],
    ['unknown field', { bridge: 'cni0' }, 2, /unsupported field in network config: bridge/],
    ['a delegated ipam', { ipam: { type: 'host-local' } }, 2, /ipam\.type/],
    ['ipMasq', { ipMasq: true }, 2, /ipMasq/],
  ];
  it.each(badFields)('%s', async (_what, fields, code, msg) => {
    const r = await run('ADD', { ...conf, ...fields });
    expect(r.exitCode, r.stdout).toBe(1);
    expect(r.json.code, r.stdout).toBe(code);
    expect(r.json.msg).toMatch(msg);
    expect(leases()).toEqual([]);
  });

  it('names key and value of an unsupported field (code 2)', async () => {
    const r = await run('ADD', { ...conf, isGateway: true });
    expect(r.json).toEqual({ cniVersion: '1.1.0', code: 2, msg: 'unsupported field in network config: isGateway', details: 'isGateway=true' });
  });

  it('tolerates runtime-inserted and well-known fields', async () => {
    const r = await run('ADD', {
      ...conf, cniVersions: ['1.0.0', '1.1.0'], runtimeConfig: { portMappings: [] }, args: { cni: { labels: [] } },
      capabilities: { portMappings: true }, ipMasq: false, ipam: {}, disableCheck: false, disableGC: false,
      'cni.dev/valid-attachments': [], 'cni.dev/something-new': 1,
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'], domain: 'cluster.local' },
    });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.json.dns).toEqual({ nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] });
  });
});

describe('environment', () => {
  it.each([
    ['ADD', { CNI_CONTAINERID: undefined }, 'required env variables [CNI_CONTAINERID] missing'],
    ['ADD', { CNI_NETNS: undefined }, 'required env variables [CNI_NETNS] missing'],
    ['ADD', { CNI_IFNAME: '' }, 'required env variables [CNI_IFNAME] missing'],
    ['ADD', { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined }, 'required env variables [CNI_CONTAINERID CNI_NETNS CNI_IFNAME] missing'],
    ['CHECK', { CNI_NETNS: undefined }, 'required env variables [CNI_NETNS] missing'],
    ['DEL', { CNI_CONTAINERID: undefined, CNI_NETNS: undefined }, 'required env variables [CNI_CONTAINERID] missing'],
    ['DEL', { CNI_IFNAME: undefined }, 'required env variables [CNI_IFNAME] missing'],
  ] as const)('%s with %o → 4', async (cmd, extra, msg) => {
    const c = cmd === 'CHECK' ? { ...conf, prevResult: { cniVersion: '1.1.0' } } : conf;
    const r = await run(cmd, c, extra);
    expect(r.exitCode).toBe(1);
    expect(r.json).toMatchObject({ code: 4, msg });
  });

  it.each([
    [{ CNI_CONTAINERID: 'bad/id' }, 'invalid characters in containerID'],
    [{ CNI_CONTAINERID: '-leading-dash' }, 'invalid characters in containerID'],
    [{ CNI_CONTAINERID: 'a:b' }, 'invalid characters in containerID'],
    [{ CNI_IFNAME: 'a-very-long-ifname' }, 'interface name is too long'],
    [{ CNI_IFNAME: '..' }, 'interface name is . or ..'],
    [{ CNI_IFNAME: 'eth/0' }, 'interface name contains / or : or whitespace'],
    [{ CNI_IFNAME: 'eth 0' }, 'interface name contains / or : or whitespace'],
    [{ CNI_NETNS: 'relative/ns' }, 'CNI_NETNS must be an absolute path'],
    [{ CNI_NETNS: '/nonexistent/netns' }, 'CNI_NETNS does not exist'],
    [{ CNI_ARGS: 'novalue' }, 'invalid CNI_ARGS pair'],
    [{ CNI_ARGS: 'FOO=bar' }, 'unknown CNI_ARGS: FOO'],
  ])('ADD with %o → 4', async (extra, msg) => {
    const r = await run('ADD', conf, extra);
    expect(r.json).toMatchObject({ code: 4, msg });
    expect(leases()).toEqual([]);
  });

  it('accepts Kubernetes CNI_ARGS and passes pod name/namespace to the router', async () => {
    const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u;OTHER=x';
    const r = await run('ADD', conf, { CNI_ARGS: args });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(router.calls.at(-1)).toMatchObject({ op: 'attachPod', args: { podNamespace: 'default', podName: 'web-0', network: 'weftnet' } });
  });

  it('ignores unrelated environment and needs no CNI_PATH', async () => {
    const r = await run('ADD', conf, { CNI_PATH: undefined, HOME: '/root', NODE_OPTIONS: '--max-old-space-size=64' });
    expect(r.exitCode, r.stdout).toBe(0);
  });

  it('STATUS and GC need no container variables', async () => {
    const none = { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined };
    expect((await run('STATUS', conf, none)).exitCode).toBe(0);
    expect((await run('GC', { ...conf, 'cni.dev/valid-attachments': [] }, none)).exitCode).toBe(0);
  });
});

describe('ADD', () => {
  it('gets pod CIDRs from the router when the config has none, and from the config otherwise', async () => {
    expect((await run('ADD')).json.ips[0].address).toBe('10.60.0.2/32');
    expect(router.calls.some((c) => c.op === 'status')).toBe(true);
    const before = router.calls.length;
    const r = await run('ADD', { ...conf, dataDir: join(dir, `ipam-own-${case_}`), podCIDRs: ['10.61.0.0/24'] }, { CNI_CONTAINERID: `own${case_}` });
    expect(r.json.ips).toEqual([{ address: '10.61.0.2/32', gateway: '10.61.0.1', interface: 0 }]);
    expect(router.calls.slice(before).map((c) => c.op)).toEqual(['attachPod']);
  });

  it('passes the pod CIDR prefix to attachPod and reports /32 and /128', async () => {
    await run('ADD');
    expect(router.calls.at(-1)!.args).toMatchObject({ ipv4: '10.60.0.2/24', ipv6: 'fd00:60::2/64', netns, ifName: 'eth0' });
  });

  it('is idempotent for a repeated ADD of the same attachment', async () => {
    const a = await run('ADD');
    const b = await run('ADD');
    expect(b.json).toEqual(a.json);
    expect(leases()).toHaveLength(2);
  });

  it('merges into a prevResult (chained after another plugin)', async () => {
    const prevResult = {
      cniVersion: '1.1.0', interfaces: [{ name: 'dummy0' }], ips: [{ address: '192.0.2.9/24', interface: 0 }],
      routes: [{ dst: '192.0.2.0/24' }], dns: { nameservers: ['1.1.1.1'] },
    };
    const r = await run('ADD', { ...conf, prevResult });
    expect(r.json.interfaces.map((i: any) => i.name)).toEqual(['dummy0', 'eth0']);
    expect(r.json.ips.map((i: any) => i.interface)).toEqual([0, 1, 1]);
    expect(r.json.routes[0]).toEqual({ dst: '192.0.2.0/24' });
    expect(r.json.dns).toEqual({ nameservers: ['1.1.1.1'] });
  });

  it('router unreachable → 11, nothing leased', async () => {
    const r = await run('ADD', { ...conf, socket: join(dir, 'missing.sock') });
    expect(r.json).toMatchObject({ code: 11, msg: 'weft router unavailable (ADD)' });
    expect(r.json.details).toMatch(/ENOENT/);
    expect(leases()).toEqual([]);
  });

  it('router refuses attachPod → 100 with the router code; leases released, detach attempted', async () => {
    router.failNext('attachPod', 'NETNS_NOT_FOUND', 'netns vanished');
    const r = await run('ADD');
    expect(r.json).toMatchObject({ code: 100, msg: 'weft router refused attachPod', details: 'NETNS_NOT_FOUND: netns vanished' });
    expect(leases()).toEqual([]);
    expect(router.calls.at(-1)).toMatchObject({ op: 'detachPod', args: { containerId: `ctr${case_}`, ifName: 'eth0' } });
    expect((router.calls.at(-1)!.args as any).netns).toBeUndefined();
  });

  it('attachPod failing after the router did the work → rolled back on both sides', async () => {
    router.failNext('attachPod', 'INTERNAL', 'crashed half way', { afterWork: true });
    const r = await run('ADD');
    expect(r.json.code).toBe(100);
    expect(leases()).toEqual([]);
    expect([...router.attachments.keys()]).not.toContain(`ctr${case_}:eth0`);
  });

  it('attachPod timing out → 11; rolled back on both sides', async () => {
    router.hangNext('attachPod');
    const r = await run('ADD', { ...conf, timeoutMs: 300 });
    expect(r.json).toMatchObject({ code: 11 });
    expect(r.json.details).toMatch(/did not answer attachPod within 300 ms/);
    expect(leases()).toEqual([]);
    expect([...router.attachments.keys()]).not.toContain(`ctr${case_}:eth0`);
  });

  it('a malformed attachPod answer is rejected and rolled back', async () => {
    const orig = (router as any).attach.bind(router);
    (router as any).attach = async (a: any) => ({ ...(await orig(a)), mac: 'not-a-mac' });
    try {
      const r = await run('ADD');
      expect(r.json).toMatchObject({ code: 100, msg: 'weft router sent a malformed attachPod result' });
      expect(leases()).toEqual([]);
    } finally {
      (router as any).attach = orig;
    }
  });

  it('pool exhausted → 101 with the pool named', async () => {
    const c = { ...conf, podCIDRs: ['10.62.0.0/30'] }; // one address
    expect((await run('ADD', c, { CNI_CONTAINERID: `x${case_}` })).exitCode).toBe(0);
    const calls = router.calls.length;
    const r = await run('ADD', c, { CNI_CONTAINERID: `y${case_}` });
    expect(r.json).toEqual({ cniVersion: '1.1.0', code: 101, msg: 'no free pod address', details: 'no free IPv4 address in 10.62.0.0/30' });
    expect(router.calls.length).toBe(calls); // the router was not asked
  });

  it('CONFLICT from an attachment whose DEL did not reach the router (lease released): it is detached and the ADD goes through', async () => {
    const c = { ...conf, podCIDRs: ['10.63.0.0/30'] }; // one address: the next ADD is handed the stale pod's
    const first = await run('ADD', c, { CNI_CONTAINERID: `old${case_}` });
    expect(first.exitCode, first.stdout).toBe(0);
    new LeaseStore(conf.dataDir).release(`old${case_}:eth0`); // what DEL does when the router is unreachable
    expect([...router.attachments.keys()]).toEqual([`old${case_}:eth0`]);
    const r = await run('ADD', c, { CNI_CONTAINERID: `new${case_}` });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.json.ips[0].address).toBe(first.json.ips[0].address);
    expect([...router.attachments.keys()]).toEqual([`new${case_}:eth0`]);
    expect(logs.join('\n')).toMatch(new RegExp(`detached the stale attachment old${case_}/eth0 \\(10\\.63\\.0\\.2/32: no lease`));
  });

  it('CONFLICT from a live attachment, or from another network\'s, is answered as is: nothing detached, the lease rolled back', async () => {
    const c = { ...conf, podCIDRs: ['10.64.0.0/30'] };
    const client = await RouterClient.connect({ socketPath: router.socketPath });
    try {
      await client.attachPod({ containerId: `foreign${case_}`, ifName: 'eth0', netns, ipv4: '10.64.0.2/30', network: 'othernet' });
    } finally {
      client.close();
    }
    const r = await run('ADD', c, { CNI_CONTAINERID: `mine${case_}` });
    expect(r.json).toMatchObject({ code: 100, msg: 'weft router refused attachPod' });
    expect(r.json.details).toMatch(/^CONFLICT: /);
    expect([...router.attachments.keys()]).toEqual([`foreign${case_}:eth0`]);
    expect(leases()).toEqual([]);
    expect(logs.join('\n')).not.toMatch(/stale attachment/);
  });

  it('unwritable lease directory → 5', async () => {
    const file = join(dir, `file-${case_}`);
    writeFileSync(file, '');
    const r = await run('ADD', { ...conf, dataDir: join(file, 'sub') });
    expect(r.json).toMatchObject({ code: 5, msg: 'IPAM allocation failed' });
    expect(r.json.details).toMatch(/ENOTDIR/);
  });
});

describe('DEL', () => {
  it('detaches and releases; repeated DEL succeeds; no output', async () => {
    await run('ADD');
    const r = await run('DEL');
    expect(r).toMatchObject({ exitCode: 0, stdout: '' });
    expect(leases()).toEqual([]);
    expect([...router.attachments.keys()]).not.toContain(`ctr${case_}:eth0`);
    expect((await run('DEL')).exitCode).toBe(0);
  });

  it('works with an empty CNI_NETNS and without prevResult', async () => {
    const add = await run('ADD');
    expect((await run('DEL', conf, { CNI_NETNS: '' })).exitCode).toBe(0);
    expect(leases()).toEqual([]);
    await run('ADD');
    expect((await run('DEL', { ...conf, prevResult: add.json }, { CNI_NETNS: undefined })).exitCode).toBe(0);
    expect(leases()).toEqual([]);
  });

  it('ignores a broken prevResult (DEL is best effort)', async () => {
    await run('ADD');
    expect((await run('DEL', { ...conf, prevResult: { ips: 'junk' } })).exitCode).toBe(0);
  });

  it('router down → success, lease released, logged', async () => {
    await run('ADD');
    await router.stop();
    try {
      const r = await run('DEL');
      expect(r.exitCode).toBe(0);
      expect(leases()).toEqual([]);
      expect(logs.join('\n')).toMatch(/router unavailable/);
    } finally {
      await router.start();
    }
  });

  it('router answering with an error → 100 and the lease is kept (the runtime retries)', async () => {
    await run('ADD');
    router.failNext('detachPod', 'BUSY', 'data plane restarting');
    const r = await run('DEL');
    expect(r.json).toMatchObject({ code: 100, details: 'BUSY: data plane restarting' });
    expect(leases()).toHaveLength(2);
    expect((await run('DEL')).exitCode).toBe(0);
    expect(leases()).toEqual([]);
  });
});

describe('CHECK', () => {
  it('passes on a fresh ADD with no output', async () => {
    const add = await run('ADD');
    const r = await run('CHECK', { ...conf, prevResult: add.json });
    expect(r).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it.each(['0.4.0', '1.0.0'])('passes with a %s prevResult', async (v) => {
    const c = { ...conf, cniVersion: v };
    const add = await run('ADD', c);
    expect((await run('CHECK', { ...c, prevResult: add.json })).exitCode).toBe(0);
  });

  it('needs a prevResult → 7', async () => {
    await run('ADD');
    expect((await run('CHECK')).json).toMatchObject({ code: 7, msg: 'prevResult is required for CHECK' });
  });

  it('unknown attachment → 3', async () => {
    const add = await run('ADD');
    const r = await run('CHECK', { ...conf, prevResult: add.json }, { CNI_CONTAINERID: `other${case_}` });
    expect(r.json).toMatchObject({ code: 3 });
  });

  it('detects mismatches → 102', async () => {
    const add = await run('ADD');
    const mutate = async (f: (p: any) => void, msg: RegExp) => {
      const p = structuredClone(add.json);
      f(p);
      const r = await run('CHECK', { ...conf, prevResult: p });
      expect(r.json?.code, JSON.stringify(p)).toBe(102);
      expect(r.json.msg).toMatch(msg);
    };
    await mutate((p) => (p.interfaces[0].name = 'eth9'), /no interface eth0/);
    await mutate((p) => (p.interfaces[0].sandbox = '/run/netns/elsewhere'), /no interface eth0/);
    await mutate((p) => (p.ips[0].address = '10.60.0.99/32'), /not leased/);
    await mutate((p) => p.ips.pop(), /not in prevResult/);
    await mutate((p) => (p.interfaces[0].mac = '0a:58:00:00:00:01'), /MAC/);
    await mutate((p) => p.routes.push({ dst: '172.16.0.0/12', gw: '10.60.0.1' }), /route 172\.16\.0\.0\/12/);
  });

  it('detects state lost in the netns, the router and IPAM', async () => {
    const add = await run('ADD');
    const c = { ...conf, prevResult: add.json };
    inspectOverride = async () => null;
    expect((await run('CHECK', c)).json).toMatchObject({ code: 102, msg: /not found/ });
    inspectOverride = async (ns, ifn) => ({ ...linkFromRouter(ns, ifn)!, addrs: [] });
    expect((await run('CHECK', c)).json).toMatchObject({ code: 102, msg: /address 10\.60\.0\.2\/32 not found/ });
    inspectOverride = async (ns, ifn) => ({ ...linkFromRouter(ns, ifn)!, routes: [] });
    expect((await run('CHECK', c)).json).toMatchObject({ code: 102, msg: /route 0\.0\.0\.0\/0 via 10\.60\.0\.1 not found/ });
    inspectOverride = async (ns, ifn) => ({ ...linkFromRouter(ns, ifn)!, mac: '02:00:00:00:00:01' });
    expect((await run('CHECK', c)).json).toMatchObject({ code: 102, msg: /has MAC 02:00:00:00:00:01/ });
    inspectOverride = null;
    router.attachments.delete(`ctr${case_}:eth0`);
    expect((await run('CHECK', c)).json).toMatchObject({ code: 102, msg: /router has no attachment/ });
    new LeaseStore(conf.dataDir).release(`ctr${case_}:eth0`);
    expect((await run('CHECK', c)).json).toMatchObject({ code: 3 });
  });

  it('router down → 11', async () => {
    const add = await run('ADD');
    await router.stop();
    try {
      expect((await run('CHECK', { ...conf, prevResult: add.json })).json).toMatchObject({ code: 11 });
    } finally {
      await router.start();
    }
  });
});

describe('STATUS', () => {
  it('succeeds silently when the router answers and addresses are free', async () => {
    expect(await run('STATUS')).toMatchObject({ exitCode: 0, stdout: '' });
  });
  it('router down → 51', async () => {
    const r = await run('STATUS', { ...conf, socket: join(dir, 'missing.sock') });
    expect(r.json).toMatchObject({ code: 51, msg: 'weft router not available' });
  });
  it('router not answering → 51', async () => {
    router.hangNext('status');
    expect((await run('STATUS', { ...conf, timeoutMs: 200 })).json).toMatchObject({ code: 51 });
  });
  it('a pool without free addresses → 50', async () => {
    const c = { ...conf, podCIDRs: ['10.63.0.0/30', 'fd00:63::/64'] };
    await run('ADD', c);
    const r = await run('STATUS', c);
    expect(r.json).toMatchObject({ code: 50, msg: 'no free IPv4 pod address', details: '10.63.0.0/30: 1 of 1 leased' });
  });
});

describe('GC', () => {
  it('needs the valid attachments list → 7', async () => {
    expect((await run('GC')).json).toMatchObject({ code: 7, msg: 'GC needs cni.dev/valid-attachments' });
    expect((await run('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: 1 }] })).json).toMatchObject({ code: 7 });
  });

  it('removes leases and router attachments not listed; keeps listed ones and other networks', async () => {
    const ids = [`a${case_}`, `b${case_}`, `c${case_}`];
    for (const id of ids) expect((await run('ADD', conf, { CNI_CONTAINERID: id })).exitCode).toBe(0);
    const otherNet = { ...conf, name: 'othernet', dataDir: join(dir, `ipam-other-${case_}`), podCIDRs: ['10.64.0.0/24'] };
    expect((await run('ADD', otherNet, { CNI_CONTAINERID: `z${case_}` })).exitCode).toBe(0);
    const r = await run('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: ids[1], ifname: 'eth0' }, { containerID: 'bad:id', ifname: 'eth0' }] });
    expect(r).toMatchObject({ exitCode: 0, stdout: '' });
    expect(new Set(leases().map((l) => l.key))).toEqual(new Set([`${ids[1]}:eth0`]));
    const keys = [...router.attachments.keys()];
    expect(keys).toContain(`${ids[1]}:eth0`);
    expect(keys).not.toContain(`${ids[0]}:eth0`);
    expect(keys).not.toContain(`${ids[2]}:eth0`);
    expect(keys).toContain(`z${case_}:eth0`);
  });

  it('accepts the older cni.dev/attachments key', async () => {
    await run('ADD');
    expect((await run('GC', { ...conf, 'cni.dev/attachments': [] })).exitCode).toBe(0);
    expect(leases()).toEqual([]);
  });

  it('keeps going when the router is down: leases collected, error 11 reported', async () => {
    await run('ADD');
    const r = await run('GC', { ...conf, socket: join(dir, 'missing.sock'), 'cni.dev/valid-attachments': [] });
    expect(r.json).toMatchObject({ code: 11, msg: /GC incomplete/ });
    expect(leases()).toEqual([]);
  });

  it('reports router errors for individual attachments and continues', async () => {
    await run('ADD', conf, { CNI_CONTAINERID: `m${case_}` });
    await run('ADD', conf, { CNI_CONTAINERID: `n${case_}` });
    router.failNext('detachPod', 'BUSY', 'try later');
    const r = await run('GC', { ...conf, 'cni.dev/valid-attachments': [] });
    expect(r.json).toMatchObject({ code: 100, msg: /GC incomplete/ });
    expect([...router.attachments.values()].filter((a) => a.network === 'weftnet' && a.containerId.endsWith(String(case_)))).toHaveLength(1);
  });
});

describe('the built executable', () => {
  let plugin: string;
  beforeAll(async () => {
    plugin = (await builtPlugin()).plugin;
  });
  afterAll(removeBuiltPlugin);

  it('prints VERSION on stdout and exits 0', async () => {
    const r = await runCni(plugin, { command: 'VERSION' }, '');
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    expect(r.stderr).toBe('');
  });

  it('prints errors as JSON on stdout and exits 1', async () => {
    const r = await runCni(plugin, { command: 'ADD', containerId: 'c', netns: '/nonexistent', ifName: 'eth0' }, { cniVersion: '0.2.0', name: 'n', type: 'weft' });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 1 });
    expect(r.stderr).toBe('');
    const bad = await runCni(plugin, { command: 'ADD', containerId: 'c', netns, ifName: 'eth0' }, 'not json');
    expect(bad).toMatchObject({ code: 1, json: { code: 6 } });
    // environment errors come first, as with the reference plugins
    const both = await runCni(plugin, { command: 'ADD' }, 'not json');
    expect(both).toMatchObject({ code: 1, json: { code: 4 } });
  });

  it('prints the about text without CNI_COMMAND and exits 0', async () => {
    const r = await runCni(plugin, { command: '', env: { CNI_COMMAND: undefined } }, '');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(ABOUT + '\n');
  });

  it('does ADD, CHECK, DEL through the socket', async () => {
    const inv = { containerId: `bin${case_}`, netns, ifName: 'eth0' };
    const add = await runCni(plugin, { command: 'ADD', ...inv }, conf);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const chk = await runCni(plugin, { command: 'CHECK', ...inv }, { ...conf, prevResult: add.json });
    // no real interface here: CHECK reaches the netns inspection and fails there, after IPAM and router agreed
    expect(chk.json).toMatchObject({ code: 102, msg: /cannot inspect eth0|not found/ });
    const del = await runCni(plugin, { command: 'DEL', ...inv }, conf);
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(leases()).toEqual([]);
  });

  it('is not slowed down or corrupted by NODE_OPTIONS / NODE_EXTRA_CA_CERTS from the runtime', async () => {
    const r = await runCni(plugin, {
      command: 'VERSION',
      env: { NODE_OPTIONS: `--require ${join(dir, 'does-not-exist.cjs')}`, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' },
    }, '');
    expect(r.code).toBe(0);
    expect(r.json.cniVersion).toBe('1.1.0');
  });
});
