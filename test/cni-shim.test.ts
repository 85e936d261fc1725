/**
 * The native CNI fast path (host/cni-shim/shim.c + host/router/cni-server.ts) against a real
 * router on a node namespace, exec'ed like a runtime does. The reference is the Node plugin
 * (the same bundle the shim falls back to): for the same inputs, stdout and the exit code must
 * be byte-identical, with the router up (fast path: the CNI server counts what it served) and
 * with it down (the shim execs the Node plugin). Needs root (skipped otherwise).
 *
 * The router runs in this process, so every plugin run is asynchronous (spawn, not spawnSync).
 * ADD is compared by running it through one path and then repeating it through the other: a
 * repeated ADD of the same (containerId, ifName) returns the same lease and the router the
 * same attachment, so the second result must equal the first byte for byte.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCniPlugin } from '../host/cni/build.ts';
import { buildShim } from '../host/cni-shim/build.mjs';
import { type NodeConfig, parseNodeConfig } from '../host/config/node-config.ts';
import { LeaseStore } from '../host/ipam/store.ts';
import {
  CniAnswerStatus, type CniServer, cniSocketOf, decodeCniAnswer, encodeCniRequest, startCniServer,
} from '../host/router/cni-server.ts';
import { ControlServer } from '../host/router/control-server.ts';
import { type RunningRouter, startRouterProcess } from '../host/router/process.ts';
import { type CniInvocation, type CniRun, NetnsRegistry, canUseNetns, ipJson, runCni, tempDir } from './fakes/fake-router-harness.ts';
import { describeRequiring } from './helpers/require.ts';

const POD_CIDRS = ['10.71.0.0/24', 'fd00:71::/64'];

describeRequiring(!canUseNetns())('weft CNI shim: fast path through a real router, fallback to the Node plugin', () => {
  const reg = new NetnsRegistry('wsh');
  let dir: string;
  let shim: string;
  let nodePlugin: string;
  let cfg: NodeConfig;
  let running: RunningRouter;
  let cni: CniServer;
  let control: ControlServer | null = null;
  let conf: Record<string, unknown>;
  let seq = 0;

  beforeAll(async () => {
    reg.removeStale();
    dir = tempDir('weft-cni-shim-');
    // the installed layout: <bin>/weft is the shim, <bin>/weft-node its fallback
    nodePlugin = await buildCniPlugin(join(dir, 'bin', 'weft-node'));
    shim = buildShim(join(dir, 'bin', 'weft'));
    const node = reg.create();
    execFileSync('ip', ['-n', node.name, 'link', 'set', 'lo', 'up']);
    cfg = parseNodeConfig({
      name: 'shimtest', vtepMac: '02:77:00:00:00:71', underlay: { ipv4: '127.0.0.1' }, podCIDRs: POD_CIDRS,
      control: { socket: join(dir, 'run', 'weft.sock') }, netns: node.name,
    });
    running = await startRouterProcess(cfg, { log: () => {} });
    cni = running.cni; // startRouterProcess serves the CNI socket
    conf = { cniVersion: '1.1.0', name: 'weft-shim', type: 'weft', socket: cfg.control.socket, dataDir: join(dir, 'ipam') };
  }, 120_000);

  afterAll(async () => {
    await cni?.close();
    await control?.close();
    await running?.stop();
    reg.removeAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const store = (c = conf) => new LeaseStore(c.dataDir as string);
  const pod = () => {
    const ns = reg.create();
    return { ns, inv: { containerId: `sh${seq++}-${process.pid}`, netns: ns.path, ifName: 'eth0' } satisfies Omit<CniInvocation, 'command'> };
  };
  const viaShim = (command: string, inv: Omit<CniInvocation, 'command'>, c: unknown = conf) => runCni(shim, { command, ...inv }, c);
  const viaNode = (command: string, inv: Omit<CniInvocation, 'command'>, c: unknown = conf) => runCni(nodePlugin, { command, ...inv }, c);
  const linkIn = (ns: string, ifName = 'eth0') => {
    try {
      return ipJson(ns, 'addr', 'show', 'dev', ifName)[0] ?? null;
    } catch {
      return null;
    }
  };

  /**
   * Run through the shim, then the same through the Node plugin; stdout and exit code must be
   * identical. `fast`: whether the shim must have been served by this router (false: it must
   * have fallen back; null: either).
   */
  async function same(command: string, inv: Omit<CniInvocation, 'command'>, c: unknown = conf, fast: boolean | null = true, first: 'shim' | 'node' = 'shim'): Promise<CniRun> {
    const served = cni.stats.served;
    let s: CniRun;
    let n: CniRun;
    if (first === 'shim') {
      s = await viaShim(command, inv, c);
      if (fast !== null) expect(cni.stats.served - served, `${command} through the router's CNI server`).toBe(fast ? 1 : 0);
      n = await viaNode(command, inv, c);
    } else {
      n = await viaNode(command, inv, c);
      s = await viaShim(command, inv, c);
      if (fast !== null) expect(cni.stats.served - served, `${command} through the router's CNI server`).toBe(fast ? 1 : 0);
    }
    expect(s.stdout, `${command}: shim vs Node plugin stdout (stderr: ${s.stderr} | ${n.stderr})`).toBe(n.stdout);
    expect(s.code, `${command}: exit code`).toBe(n.code);
    return s;
  }

  describe('router up: the fast path', () => {
    it('ADD (shim first, then the same through the Node plugin), CHECK, DEL: same bytes, real interface', async () => {
      const { ns, inv } = pod();
      const add = await same('ADD', inv);
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json.interfaces).toEqual([{ name: 'eth0', mac: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/), mtu: 1450, sandbox: ns.path }]);
      const [v4, v6] = add.json.ips.map((i: any) => i.address);
      expect(v4).toMatch(/^10\.71\.0\.\d+\/32$/);
      expect(v6).toMatch(/^fd00:71::[0-9a-f]+\/128$/);
      const link = linkIn(ns.name);
      expect(link.address).toBe(add.json.interfaces[0].mac);
      expect(link.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`).sort()).toEqual([v4, v6].sort());
      expect(store().leasesOf(`${inv.containerId}:eth0`).map((l) => l.address).sort()).toEqual([v4, v6].map((a: string) => a.split('/')[0]).sort());

      const chk = await same('CHECK', inv, { ...conf, prevResult: add.json });
      expect(chk).toMatchObject({ code: 0, stdout: '' });

      const del = await same('DEL', inv, { ...conf, prevResult: add.json });
      expect(del).toMatchObject({ code: 0, stdout: '' });
      expect(linkIn(ns.name)).toBeNull();
      expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
      expect(running.router.listPods().pods.some((p) => p.containerId === inv.containerId)).toBe(false);
    });

    it('ADD through the Node plugin first, then the shim: same bytes', async () => {
      const { inv } = pod();
      const add = await same('ADD', inv, conf, true, 'node');
      expect(add.code).toBe(0);
      expect((await same('DEL', inv, conf, true, 'node')).code).toBe(0);
    });

    it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0'])('ADD/CHECK/DEL with a %s config', async (v) => {
      const { inv } = pod();
      const c = { ...conf, cniVersion: v };
      const add = await same('ADD', inv, c);
      expect(add.code, add.stdout).toBe(0);
      expect(add.json.cniVersion).toBe(v);
      if (v !== '0.3.0' && v !== '0.3.1') expect((await same('CHECK', inv, { ...c, prevResult: add.json })).code).toBe(0);
      expect((await same('DEL', inv, c)).code).toBe(0);
    });

    it('ADD with dns, mtu, CNI_ARGS (IgnoreUnknown), unicode and escapes in the config', async () => {
      const { inv } = pod();
      const text = JSON.stringify({ ...conf, mtu: 1400, dns: { nameservers: ['10.96.0.10'], domain: 'clüster.local', search: ['a\u00e9'] } })
        .replace('"weft"', '"w\\u0065ft"');
      const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=x';
      const add = await same('ADD', { ...inv, args }, text);
      expect(add.code, add.stdout).toBe(0);
      expect(add.json.dns).toEqual({ nameservers: ['10.96.0.10'], domain: 'clüster.local', search: ['aé'] });
      expect(add.json.interfaces[0].mtu).toBe(1400);
      expect(linkIn(inv.netns.split('/').pop()!).mtu).toBe(1400);
      expect((await same('DEL', inv)).code).toBe(0);
    });

    it('ADD chained after a prevResult appends to it', async () => {
      const { inv } = pod();
      const prevResult = { cniVersion: '1.1.0', interfaces: [{ name: 'lo0' }], ips: [{ address: '192.0.2.9/32', interface: 0 }], routes: [{ dst: '192.0.2.0/24' }], dns: { domain: 'prev' } };
      const add = await same('ADD', inv, { ...conf, prevResult });
      expect(add.code, add.stdout).toBe(0);
      expect(add.json.interfaces[0]).toEqual({ name: 'lo0' });
      expect(add.json.ips[1].interface).toBe(1);
      expect((await same('DEL', inv)).code).toBe(0);
    });

    it('CHECK finds a route and an address removed behind its back, with the same message', async () => {
      const { ns, inv } = pod();
      const add = await same('ADD', inv);
      const c = { ...conf, prevResult: add.json };
      execFileSync('ip', ['-n', ns.name, 'route', 'del', 'default', 'via', '10.71.0.1']);
      expect((await same('CHECK', inv, c)).json).toMatchObject({ code: 102, msg: `route 0.0.0.0/0 via 10.71.0.1 not found in ${ns.path}` });
      execFileSync('ip', ['-n', ns.name, 'addr', 'del', add.json.ips[1].address, 'dev', 'eth0']);
      execFileSync('ip', ['-n', ns.name, 'route', 'add', 'default', 'via', '10.71.0.1', 'dev', 'eth0']);
      expect((await same('CHECK', inv, c)).json).toMatchObject({ code: 102, msg: `address ${add.json.ips[1].address} not found on eth0` });
      expect((await same('CHECK', { ...inv, containerId: `unknown${process.pid}` }, c)).json).toMatchObject({ code: 3 });
      expect((await same('DEL', inv)).code).toBe(0);
    });

    it('DEL is idempotent and works without CNI_NETNS and after the netns is gone', async () => {
      const a = pod();
      expect((await viaShim('ADD', a.inv)).code).toBe(0);
      const noNetns = { containerId: a.inv.containerId, ifName: 'eth0' };
      expect(await same('DEL', noNetns)).toMatchObject({ code: 0, stdout: '' });
      expect(linkIn(a.ns.name)).toBeNull();
      const b = pod();
      expect((await viaShim('ADD', b.inv)).code).toBe(0);
      reg.remove(b.ns.name);
      expect(await same('DEL', b.inv)).toMatchObject({ code: 0, stdout: '' });
      expect(store().leasesOf(`${b.inv.containerId}:eth0`)).toEqual([]);
      expect(running.router.listPods().pods.some((p) => p.containerId === b.inv.containerId)).toBe(false);
    });

    it('a router error (foreign eth0) is code 100, rolled back, and leaves that interface alone', async () => {
      const { ns, inv } = pod();
      execFileSync('ip', ['-n', ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
      const add = await same('ADD', inv);
      expect(add.json).toMatchObject({ code: 100, details: expect.stringMatching(/^IF_EXISTS: /) });
      expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
      expect(ipJson(ns.name, '-d', 'link', 'show', 'eth0')[0].linkinfo.info_kind).toBe('veth');
    });

    it('STATUS, VERSION and GC', async () => {
      expect(await same('STATUS', {})).toMatchObject({ code: 0, stdout: '' });
      for (const c of [conf, { ...conf, cniVersion: '0.4.0' }, { ...conf, cniVersion: '9.9.9' }]) {
        expect((await same('VERSION', {}, c)).json).toEqual({ cniVersion: c.cniVersion, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
      }
      // without a readable config the shim tries the default socket (no router there in this test)
      for (const stdin of ['', '{"cniVersion":"0.4.0"}', '{nope', '[]']) await same('VERSION', {}, stdin, null);
      // GC on its own network (name and lease directory), so other tests' pods are not touched
      const g = { ...conf, name: 'weft-shim-gc', dataDir: join(dir, 'ipam-gc') };
      const pods = [pod(), pod(), pod()];
      for (const p of pods) expect((await viaShim('ADD', p.inv, g)).code).toBe(0);
      const keep = [{ containerID: pods[1].inv.containerId, ifname: 'eth0' }];
      expect(await same('GC', {}, { ...g, 'cni.dev/valid-attachments': keep })).toMatchObject({ code: 0, stdout: '' });
      expect(linkIn(pods[0].ns.name)).toBeNull();
      expect(linkIn(pods[2].ns.name)).toBeNull();
      expect(linkIn(pods[1].ns.name)).not.toBeNull();
      expect(store(g).scan().map((l) => l.key)).toEqual([`${pods[1].inv.containerId}:eth0`, `${pods[1].inv.containerId}:eth0`]);
      expect(running.router.listPods().pods.filter((p) => p.network === 'weft-shim-gc').map((p) => p.containerId)).toEqual([pods[1].inv.containerId]);
      expect((await same('GC', {}, g)).json).toMatchObject({ code: 7 }); // no valid-attachments
      expect((await same('GC', {}, { ...g, cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] })).json).toMatchObject({ code: 1 });
      expect((await same('DEL', pods[1].inv, g)).code).toBe(0);
    });

    it('without CNI_COMMAND the shim runs the Node plugin (about text on stderr, exit 0)', async () => {
      const served = cni.stats.served;
      const r = await runCni(shim, { command: '', env: { CNI_COMMAND: undefined } }, '');
      expect(r).toMatchObject({ code: 0, stdout: '' });
      expect(r.stderr).toMatch(/^weft CNI plugin/);
      expect(cni.stats.served).toBe(served);
    });

    it('a /proc/<pid>/ns/net path works through the fast path', async () => {
      const sleeper = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
      const inv = { containerId: `shproc${process.pid}`, netns: `/proc/${sleeper.pid}/ns/net`, ifName: 'eth0' };
      const add = await same('ADD', inv);
      expect(add.code, add.stdout).toBe(0);
      expect(add.json.interfaces[0].sandbox).toBe(inv.netns);
      expect((await same('CHECK', inv, { ...conf, prevResult: add.json })).code).toBe(0);
      expect((await same('DEL', inv)).code).toBe(0);
      sleeper.kill('SIGKILL');
    });

    describe('errors: same code and message through both', () => {
      // the last column: does the shim get the fast path (false: no readable config names the router)
      const cases: [string, string, Record<string, string | undefined>, (c: Record<string, unknown>) => unknown, boolean?][] = [
        ['missing CNI_CONTAINERID', 'ADD', { CNI_CONTAINERID: undefined }, (c) => c],
        ['every variable missing', 'ADD', { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined }, (c) => c],
        ['bad container ID', 'ADD', { CNI_CONTAINERID: 'bad/id' }, (c) => c],
        ['interface name too long', 'ADD', { CNI_IFNAME: 'eth0123456789abc' }, (c) => c],
        ['relative netns', 'DEL', { CNI_NETNS: 'run/netns/x' }, (c) => c],
        ['missing netns on ADD', 'ADD', { CNI_NETNS: '/run/netns/weft-shim-does-not-exist' }, (c) => c],
        ['unknown CNI_ARGS', 'ADD', { CNI_ARGS: 'FOO=bar' }, (c) => c],
        ['bad CNI_ARGS pair', 'DEL', { CNI_ARGS: 'novalue' }, (c) => c],
        ['unknown command', 'FROB', {}, (c) => c],
        ['env error before config error', 'ADD', { CNI_CONTAINERID: undefined }, () => '{nope', false],
        ['stdin not JSON', 'ADD', {}, () => '{nope', false],
        ['stdin empty', 'DEL', {}, () => '', false],
        ['stdin an array', 'ADD', {}, () => '[1]', false],
        ['missing cniVersion', 'ADD', {}, (c) => ({ ...c, cniVersion: undefined })],
        ['unsupported cniVersion', 'DEL', {}, (c) => ({ ...c, cniVersion: '0.2.0' })],
        ['CHECK below 0.4.0', 'CHECK', {}, (c) => ({ ...c, cniVersion: '0.3.1' })],
        ['STATUS below 1.1.0', 'STATUS', {}, (c) => ({ ...c, cniVersion: '1.0.0' })],
        ['unknown field', 'ADD', {}, (c) => ({ ...c, podCidrs: ['10.0.0.0/8'] })],
        ['delegated ipam', 'ADD', {}, (c) => ({ ...c, ipam: { type: 'host-local' } })],
        ['ipMasq true', 'ADD', {}, (c) => ({ ...c, ipMasq: true })],
        ['mtu out of range', 'ADD', {}, (c) => ({ ...c, mtu: 100 })],
        ['missing name', 'ADD', {}, (c) => ({ ...c, name: undefined })],
        ['relative cniSocket', 'ADD', {}, (c) => ({ ...c, cniSocket: 'cni.sock' })],
        ['bad podCIDRs', 'ADD', {}, (c) => ({ ...c, podCIDRs: ['10.71.0.1/24'] })],
        ['bad prevResult', 'ADD', {}, (c) => ({ ...c, prevResult: { ips: 'x' } })],
        ['CHECK without prevResult', 'CHECK', {}, (c) => c],
        ['mtu below 1280 with IPv6', 'ADD', {}, (c) => ({ ...c, mtu: 1000 })],
      ];
      it.each(cases)('%s', async (_name, command, env, mk, fast = true) => {
        const { inv } = pod();
        const r = await same(command, { ...inv, env }, mk(conf), fast ? true : null);
        expect(r.code).toBe(1);
        expect(r.json.code).toBeGreaterThan(0);
      });
    });

    it('finds the CNI socket through escapes, duplicate keys and nested look-alikes in the config', async () => {
      const sock = cfg.control.socket;
      const esc = JSON.stringify(sock).replace(/\//g, '\\/').replace('weft.sock', '\\u0077eft.sock');
      const configs = [
        `{"cniVersion":"1.1.0","name":"weft-shim","type":"weft","socket":${esc},"dataDir":${JSON.stringify(conf.dataDir)}}`,
        `{"socket":"/nonexistent/dir/weft.sock","cniVersion":"1.1.0","name":"weft-shim","type":"weft","dataDir":${JSON.stringify(conf.dataDir)},"sock\\u0065t":${JSON.stringify(sock)}}`,
        JSON.stringify({ args: { socket: '/nonexistent/a.sock', cniSocket: '/nonexistent/b.sock' }, dns: { domain: '"socket":"/x"' }, ...conf }),
        JSON.stringify({ ...conf, socket: '/nonexistent/dir/weft.sock', cniSocket: cniSocketOf(cfg), timeoutMs: 5000 }),
      ];
      for (const [i, text] of configs.entries()) {
        const served = cni.stats.served;
        const declined = cni.stats.declined;
        const r = await viaShim('STATUS', {}, text);
        if (i < 3) {
          expect(r, text).toMatchObject({ code: 0, stdout: '' });
          expect(cni.stats.served - served, text).toBe(1);
        } else {
          // a cniSocket naming this router with a socket that is not its own: declined, and the
          // Node plugin reports the router at `socket` unreachable, as it would on its own
          expect(cni.stats.declined - declined).toBe(1);
          expect(r.json).toMatchObject({ code: 51 });
          const n = await viaNode('STATUS', {}, text);
          expect(r.stdout).toBe(n.stdout);
        }
      }
    });

    it('50 parallel ADDs through the shim get 50 distinct addresses and MACs; 50 parallel DELs clean up', async () => {
      const nss = reg.createMany(50);
      const invs = nss.map((ns, i) => ({ containerId: `shpar${i}-${process.pid}`, netns: ns.path, ifName: 'eth0' }));
      const served = cni.stats.served;
      const adds = await Promise.all(invs.map((inv) => viaShim('ADD', inv)));
      for (const a of adds) expect(a.code, a.stdout + a.stderr).toBe(0);
      expect(cni.stats.served - served).toBe(50);
      expect(new Set(adds.map((a) => a.json.ips[0].address)).size).toBe(50);
      expect(new Set(adds.map((a) => a.json.ips[1].address)).size).toBe(50);
      expect(new Set(adds.map((a) => a.json.interfaces[0].mac)).size).toBe(50);
      for (const i of [0, 17, 49]) {
        const addr = linkIn(nss[i].name).addr_info.find((x: any) => x.family === 'inet');
        expect(`${addr.local}/32`).toBe(adds[i].json.ips[0].address);
      }
      const dels = await Promise.all(invs.map((inv) => viaShim('DEL', inv)));
      for (const d of dels) expect(d.code, d.stdout).toBe(0);
      expect(store().scan().filter((l) => l.key?.startsWith('shpar'))).toEqual([]);
      const p50 = adds.map((a) => a.ms).sort((a, b) => a - b)[25];
      console.log(`50 parallel ADDs through the shim: p50 ${p50.toFixed(1)} ms (includes queueing in the router)`);
    }, 300_000);

    it('40 parallel ADDs, half through the shim and half through the Node plugin, share the lease store safely', async () => {
      const nss = reg.createMany(40);
      const invs = nss.map((ns, i) => ({ containerId: `shmix${i}-${process.pid}`, netns: ns.path, ifName: 'eth0' }));
      const adds = await Promise.all(invs.map((inv, i) => (i % 2 ? viaNode : viaShim)('ADD', inv)));
      for (const a of adds) expect(a.code, a.stdout + a.stderr).toBe(0);
      expect(new Set(adds.map((a) => a.json.ips[0].address)).size).toBe(40);
      expect(new Set(adds.map((a) => a.json.ips[1].address)).size).toBe(40);
      const leases = store().scan().filter((l) => l.key?.startsWith('shmix'));
      expect(leases.length).toBe(80);
      expect(new Set(leases.map((l) => l.key)).size).toBe(40);
      const dels = await Promise.all(invs.map((inv, i) => (i % 2 ? viaShim : viaNode)('DEL', inv)));
      for (const d of dels) expect(d.code, d.stdout).toBe(0);
      expect(store().scan().filter((l) => l.key?.startsWith('shmix'))).toEqual([]);
    }, 300_000);
  });

  describe('the CNI server on its own', () => {
    const ask = (bytes: Buffer) => new Promise<Buffer>((resolve, reject) => {
      const s = connect(cni.path);
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
      s.end(bytes);
    });

    it('is a 0600 socket', () => {
      expect(statSync(cni.path).mode & 0o777).toBe(0o600);
    });

    it('answers a request whose deadline has passed with "expired", without acting', async () => {
      const { inv } = pod();
      const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: inv.containerId, CNI_NETNS: inv.netns, CNI_IFNAME: 'eth0' };
      const past = process.hrtime.bigint() / 1_000_000n - 1n;
      const a = decodeCniAnswer(await ask(encodeCniRequest({ deadlineMs: past, env, stdin: Buffer.from(JSON.stringify(conf)) })));
      expect(a?.status).toBe(CniAnswerStatus.Expired);
      expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
      const b = decodeCniAnswer(await ask(encodeCniRequest({ deadlineMs: 0n, env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.alloc(0) })));
      expect(b).toMatchObject({ status: CniAnswerStatus.Done, exitCode: 0 });
      expect(JSON.parse(b!.stdout).cniVersion).toBe('1.1.0');
    });

    it('declines what it does not understand', async () => {
      const good = encodeCniRequest({ deadlineMs: 0n, env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.alloc(0) });
      const badMagic = Buffer.from(good);
      badMagic.write('XXXX', 0, 'latin1');
      const badVersion = Buffer.from(good);
      badVersion[4] = 9;
      const huge = Buffer.from(good);
      huge.writeUInt32BE(64 << 20, 20);
      for (const req of [badMagic, badVersion, huge]) expect(decodeCniAnswer(await ask(req))?.status).toBe(CniAnswerStatus.Unsupported);
    });
  });

  describe('router down: the shim runs the Node plugin', () => {
    it('with only the CNI socket gone, ADD/DEL still work through the control socket (same bytes)', async () => {
      await cni.close();
      try {
        const { inv } = pod();
        const add = await same('ADD', inv, conf, false);
        expect(add.code, add.stdout).toBe(0);
        expect((await same('DEL', inv, conf, false)).code).toBe(0);
      } finally {
        cni = await startCniServer(running.router, cniSocketOf(cfg));
      }
    });

    it('with the router unreachable: DEL releases the lease, STATUS is 51, ADD is 11, errors and VERSION unchanged', async () => {
      const { inv } = pod();
      expect((await viaShim('ADD', inv)).code).toBe(0);
      await cni.close();
      await (control ?? running.control).close();
      try {
        expect(existsSync(cniSocketOf(cfg))).toBe(false);
        const del = await same('DEL', inv, conf, false);
        expect(del).toMatchObject({ code: 0, stdout: '' });
        expect(store().leasesOf(`${inv.containerId}:eth0`)).toEqual([]);
        const s = await viaShim('DEL', inv);
        expect(s.stderr).toMatch(/router unavailable/);
        expect((await same('STATUS', {}, conf, false)).json).toMatchObject({ code: 51 });
        const b = pod();
        expect((await same('ADD', b.inv, conf, false)).json).toMatchObject({ code: 11 });
        expect(store().leasesOf(`${b.inv.containerId}:eth0`)).toEqual([]);
        expect((await same('VERSION', {}, '', false)).code).toBe(0);
        expect((await same('ADD', { ...b.inv, env: { CNI_IFNAME: undefined } }, conf, false)).json).toMatchObject({ code: 4 });
        expect((await same('ADD', b.inv, '{nope', false)).json).toMatchObject({ code: 6 });
        expect((await same('CHECK', b.inv, { ...conf, cniVersion: '0.3.0' }, false)).json).toMatchObject({ code: 1 });
      } finally {
        control = await ControlServer.listen(cfg.control.socket, running.router);
        cni = await startCniServer(running.router, cniSocketOf(cfg));
      }
      // back up: a repeated DEL clears the router's side too (it kept the attachment)
      expect(await same('DEL', inv)).toMatchObject({ code: 0, stdout: '' });
      expect(running.router.listPods().pods.some((p) => p.containerId === inv.containerId)).toBe(false);
    });
  });

  it('the shim is a small static executable that finds weft-node beside it', () => {
    expect(readFileSync(shim).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(existsSync(join(dir, 'bin', 'weft-node'))).toBe(true);
  });
});
