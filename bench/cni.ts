// CNI latency: ADD and DEL p50/p99 over N containers (network namespaces) for the weft plugin
// (built bundle + the fake router, or a running router with --socket) and, in the same run,
// Debian's reference bridge + host-local (/usr/lib/cni, package containernetworking-plugins).
//
//   node --import tsx bench/cni.ts [--json FILE] [--containers N] [--socket PATH] [--dual-stack]
//
// Method: both plugins are exec'ed the way a runtime does (clean environment: PATH and CNI_*
// only; config on stdin) through `nsenter --net=<node netns>`, so the bridge and its veths
// live in a throw-away "node" namespace and both sides pay the same wrapper. Timing is
// spawnSync from exec to exit; the fake router runs in its own process (like the real one),
// so nothing else shares the timing process. ADDs of the two plugins alternate (weft i,
// bridge i, ...), then DELs alternate, one operation at a time, each into a fresh container
// netns; 3 warm-up ADD/DEL pairs per plugin are not counted.
// Needs root. Everything created is removed at the end, also on failure.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCniPlugin } from '../host/cni/build.ts';
import { RouterClient } from '../host/control/client.ts';
import { NetnsRegistry, canUseNetns, cniEnv, tempDir } from '../test/fakes/fake-router-harness.ts';
import { type BenchResult, printTable } from './common.ts';

export interface CniBenchOptions {
  /** Containers (ADD+DEL pairs) per plugin (default 100). */
  containers?: number;
  /** Use the router listening here instead of the fake router. */
  socket?: string;
  /** IPv4 + IPv6 for both plugins (default IPv4 only). */
  dualStack?: boolean;
  log?: (line: string) => void;
}

const REF_DIR = '/usr/lib/cni';

function ensureReferencePlugins(log: (s: string) => void): void {
  if (existsSync(`${REF_DIR}/bridge`) && existsSync(`${REF_DIR}/host-local`)) return;
  log('installing containernetworking-plugins (reference bridge + host-local)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'containernetworking-plugins'], { env, stdio: 'inherit' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'inherit' });
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'containernetworking-plugins'], { env, stdio: 'inherit' });
  }
  if (!existsSync(`${REF_DIR}/bridge`)) throw new Error(`reference plugins not found in ${REF_DIR}`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

/** Start test/fakes/fake-router-server.ts as a child process; resolves once it listens. */
async function startFakeRouter(socketPath: string, podCIDRs: string[]): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('../test/fakes/fake-router-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--socket', socketPath, ...podCIDRs.flatMap((c) => ['--pod-cidr', c])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined },
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('ready')) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`fake router exited (${code})`)));
  });
  return child;
}

/** SIGTERM the fake router and collect its per-op service times. */
async function stopFakeRouter(child: ChildProcess): Promise<Record<string, { count: number; p50: number; p99: number }>> {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
  try {
    return JSON.parse(out.trim().split('\n').pop() ?? '{}');
  } catch {
    return {};
  }
}

export async function runCniBench(opts: CniBenchOptions = {}): Promise<BenchResult[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  if (!canUseNetns()) throw new Error('the CNI benchmark needs root, iproute2 and nsenter');
  ensureReferencePlugins(log);
  const n = opts.containers ?? 100;
  const warm = 3;
  const dual = opts.dualStack ?? false;
  const reg = new NetnsRegistry('wbn');
  reg.removeStale();
  const dir = tempDir('weft-cni-bench-');
  let fake: ChildProcess | null = null;
  try {
    const weft = await buildCniPlugin(join(dir, 'bin', 'weft'));
    const v4 = '10.251.0.0/16';
    const v6 = 'fd00:251::/64';
    let socket = opts.socket;
    let routerKind = 'real router';
    if (socket) {
      const c = await RouterClient.connect({ socketPath: socket });
      c.close();
    } else {
      socket = join(dir, 'weft.sock');
      fake = await startFakeRouter(socket, dual ? [v4, v6] : [v4]);
      routerKind = 'fake router (test/fakes/fake-router.ts: one `ip -batch` per attach)';
    }
    const node = reg.create();
    execFileSync('ip', ['-n', node.name, 'link', 'set', 'lo', 'up']);
    const weftConf = {
      cniVersion: '1.1.0', name: 'weft-bench', type: 'weft', socket, dataDir: join(dir, 'weft-ipam'),
      ...(opts.socket ? {} : { podCIDRs: dual ? [v4, v6] : [v4] }),
    };
    const bridgeConf = {
      cniVersion: '1.0.0', name: 'bridge-bench', type: 'bridge', bridge: 'wbench0', isGateway: true, ipMasq: false,
      ipam: {
        type: 'host-local',
        ranges: dual ? [[{ subnet: '10.252.0.0/16' }], [{ subnet: 'fd00:252::/64' }]] : [[{ subnet: '10.252.0.0/16' }]],
        routes: dual ? [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] : [{ dst: '0.0.0.0/0' }],
        dataDir: join(dir, 'host-local'),
      },
    };
    const nsenter = ['nsenter', `--net=${node.path}`];
    const plugins = [
      { name: 'weft', argv: [...nsenter, weft], conf: weftConf },
      { name: 'bridge+host-local', argv: [...nsenter, `${REF_DIR}/bridge`], conf: bridgeConf },
    ];
    const total = n + warm;
    const nss = plugins.map(() => reg.createMany(total));
    const times = plugins.map(() => ({ add: [] as number[], del: [] as number[] }));
    log(`CNI bench: ${n} containers per plugin (+${warm} warm-up), ${dual ? 'dual-stack' : 'IPv4'}, weft with the ${routerKind}`);
    const inputs = plugins.map((p) => JSON.stringify(p.conf));
    const op = (pi: number, i: number, command: 'ADD' | 'DEL') => {
      const p = plugins[pi];
      const env = cniEnv({ command, containerId: `bench-${pi}-${i}`, netns: nss[pi][i].path, ifName: 'eth0', path: REF_DIR });
      const t0 = process.hrtime.bigint();
      const r = spawnSync(p.argv[0], p.argv.slice(1), { env, input: inputs[pi], encoding: 'utf8' });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${p.name} ${command} #${i} failed (${r.status}): ${r.stdout} ${r.stderr}`);
      if (i >= warm) times[pi][command === 'ADD' ? 'add' : 'del'].push(ms);
    };
    for (let i = 0; i < total; i++) for (let pi = 0; pi < plugins.length; pi++) op(pi, i, 'ADD');
    for (let i = 0; i < total; i++) for (let pi = 0; pi < plugins.length; pi++) op(pi, i, 'DEL');

    // context: what a bare Node start and the nsenter wrapper cost on this machine, same method
    const bare = (argv: string[]) => {
      const xs: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t = process.hrtime.bigint();
        spawnSync(argv[0], argv.slice(1), { env: { PATH: process.env.PATH ?? '' }, stdio: 'ignore' });
        xs.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      return pct(xs, 50);
    };
    const nodeStart = bare([process.execPath, '-e', '0']);
    const nsenterCost = bare([...nsenter, 'true']);

    const out: BenchResult[] = [];
    plugins.forEach((p, pi) => {
      for (const kind of ['add', 'del'] as const) {
        out.push({ name: `cni ${kind.toUpperCase()} ${p.name} p50`, value: pct(times[pi][kind], 50), unit: 'ms' });
        out.push({ name: `cni ${kind.toUpperCase()} ${p.name} p99`, value: pct(times[pi][kind], 99), unit: 'ms' });
      }
    });
    for (const kind of ['add', 'del'] as const) {
      out.push({
        name: `cni ${kind.toUpperCase()} p50 ratio weft / bridge+host-local`,
        value: pct(times[0][kind], 50) / pct(times[1][kind], 50),
        unit: 'x',
        note: kind === 'add' ? 'target <= 2' : undefined,
      });
    }
    if (fake) {
      const stats = await stopFakeRouter(fake);
      fake = null;
      for (const o of ['attachPod', 'detachPod'] as const) {
        if (stats[o]) out.push({ name: `fake router ${o} p50 (inside ADD/DEL)`, value: stats[o].p50, unit: 'ms' });
      }
    }
    out.push({ name: 'node -e 0 start p50 (context)', value: nodeStart, unit: 'ms' });
    out.push({ name: 'nsenter wrapper p50 (context, in both)', value: nsenterCost, unit: 'ms' });
    return out;
  } finally {
    if (fake) await stopFakeRouter(fake);
    reg.removeAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i === -1 ? undefined : args[i + 1];
  };
  const results = await runCniBench({
    containers: arg('--containers') ? Number(arg('--containers')) : undefined,
    socket: arg('--socket'),
    dualStack: args.includes('--dual-stack'),
  });
  printTable('CNI ADD/DEL latency (ms, exec to exit, one operation at a time)', results);
  const json = arg('--json');
  if (json) writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
}
