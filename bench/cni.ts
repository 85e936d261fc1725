// CNI latency: ADD and DEL p50/p99 over N containers (network namespaces) for the weft plugin
// and, in the same run, Debian's reference bridge + host-local (/usr/lib/cni, package
// containernetworking-plugins).
//
//   node --import tsx bench/cni.ts [--json FILE] [--containers N] [--dual-stack]
//                                  [--socket PATH | --fake-router]
//
// Weft is measured two ways against the same router: through the native shim (host/cni-shim,
// installed as `weft`: the fast path, the plugin runs inside the router) and as the Node plugin
// alone (`weft-node`, what the shim falls back to). The router is a real Weft router with its
// CNI server, started as its own process (`bench/cni.ts --serve-router CONFIG`) on a throw-away
// node namespace; `--socket PATH` uses a running router instead (its CNI socket beside PATH);
// `--fake-router` measures the Node plugin against the fake router as before the shim existed.
//
// Method: every plugin is exec'ed the way a runtime does (clean environment: PATH and CNI_*
// only; config on stdin) through `nsenter --net=<node netns>`, so the bridge and its veths live
// in the node namespace and all pay the same wrapper. Timing is spawnSync from exec to exit;
// the router runs in its own process, so nothing else shares the timing process. ADDs of the
// plugins alternate (weft shim i, weft node i, bridge i, ...), then DELs alternate, one
// operation at a time, each into a fresh container netns; 3 warm-up ADD/DEL pairs per plugin
// are not counted. Needs root. Everything created is removed at the end, also on failure.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCniPlugin } from '../host/cni/build.ts';
import { buildShim } from '../host/cni-shim/build.mjs';
import { RouterClient } from '../host/control/client.ts';
import { NetnsRegistry, canUseNetns, cniEnv, tempDir } from '../test/fakes/fake-router-harness.ts';
import { type BenchResult, printTable } from './common.ts';

export interface CniBenchOptions {
  /** Containers (ADD+DEL pairs) per plugin (default 100). */
  containers?: number;
  /** Use the router listening here (control socket; its CNI socket beside it) instead of starting one. */
  socket?: string;
  /** Measure the Node plugin against the fake router (no shim), as before the fast path. */
  fakeRouter?: boolean;
  /** IPv4 + IPv6 for every plugin (default IPv4 only). */
  dualStack?: boolean;
  log?: (line: string) => void;
}

const REF_DIR = '/usr/lib/cni';
const SELF = fileURLToPath(import.meta.url);

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

type OpStats = Record<string, { count: number; p50: number; p99: number }>;

/** Start a router process that prints `ready` when it serves and its op stats on SIGTERM. */
async function startRouterChild(argv: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined },
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('ready')) {
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => reject(new Error(`router process exited (${code})`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  return child;
}

/** SIGTERM the router process and collect its per-op service times. */
async function stopRouterChild(child: ChildProcess): Promise<OpStats> {
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

/**
 * `--serve-router CONFIG`: a Weft router with its CNI server, from a node config (JSON). Prints
 * `ready` once both sockets listen; on SIGTERM stops and prints the CNI server's per-command
 * service times (ms, inside the router: plugin logic + attach/detach) as one JSON line.
 */
async function serveRouter(configPath: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { parseNodeConfig } = await import('../host/config/node-config.ts');
  const { startRouterProcess } = await import('../host/router/process.ts');
  const { startCniServer, cniSocketOf } = await import('../host/router/cni-server.ts');
  const cfg = parseNodeConfig(JSON.parse(readFileSync(configPath, 'utf8')));
  const running = await startRouterProcess(cfg, { log: () => {} });
  const times: { op: string; ms: number }[] = [];
  await running.cni.close(); // replaced by one that records per-command service times
  const cni = await startCniServer(running.router, cniSocketOf(cfg), { onServed: (i) => times.push({ op: i.command, ms: i.ms }) });
  running.router.addService(cni);
  process.stdout.write('ready\n');
  const stop = async () => {
    await running.stop();
    const stats: OpStats = {};
    for (const op of new Set(times.map((t) => t.op))) {
      const xs = times.filter((t) => t.op === op).map((t) => t.ms);
      stats[op] = { count: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) };
    }
    process.stdout.write(JSON.stringify(stats) + '\n');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
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
  let routerChild: ChildProcess | null = null;
  try {
    // the installed layout: bin/weft = shim, bin/weft-node = Node plugin (the shim's fallback)
    const weftNode = await buildCniPlugin(join(dir, 'bin', 'weft-node'));
    writeFileSync(join(dir, 'bin', 'package.json'), '{"type":"commonjs"}\n');
    const shim = opts.fakeRouter ? null : buildShim(join(dir, 'bin', 'weft'));
    const v4 = '10.251.0.0/16';
    const v6 = 'fd00:251::/64';
    const podCIDRs = dual ? [v4, v6] : [v4];
    const node = reg.create();
    execFileSync('ip', ['-n', node.name, 'link', 'set', 'lo', 'up']);
    let socket = opts.socket;
    let routerKind: string;
    if (socket) {
      const c = await RouterClient.connect({ socketPath: socket });
      c.close();
      routerKind = `the running router at ${socket}`;
    } else if (opts.fakeRouter) {
      socket = join(dir, 'weft.sock');
      routerKind = 'fake router (test/fakes/fake-router.ts: one `ip -batch` per attach)';
      const script = fileURLToPath(new URL('../test/fakes/fake-router-server.ts', import.meta.url));
      routerChild = await startRouterChild(['--import', 'tsx', script, '--socket', socket, ...podCIDRs.flatMap((c) => ['--pod-cidr', c])]);
    } else {
      socket = join(dir, 'run', 'weft.sock');
      routerKind = 'a real router process with its CNI server';
      const cfgPath = join(dir, 'router.json');
      writeFileSync(cfgPath, JSON.stringify({
        name: 'bench', vtepMac: '02:77:00:00:00:01', underlay: { ipv4: '127.0.0.1' }, podCIDRs,
        control: { socket }, netns: node.name, hostInterface: 'weftb0', limits: { maxPods: 4 * (n + warm) },
      }));
      routerChild = await startRouterChild(['--import', 'tsx', SELF, '--serve-router', cfgPath]);
    }
    const weftConf = {
      cniVersion: '1.1.0', name: 'weft-bench', type: 'weft', socket, dataDir: join(dir, 'weft-ipam'),
      ...(opts.socket ? {} : { podCIDRs }),
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
      ...(shim ? [{ name: 'weft (shim)', argv: [...nsenter, shim], conf: weftConf }] : []),
      { name: shim ? 'weft (node plugin)' : 'weft', argv: [...nsenter, weftNode], conf: weftConf },
      { name: 'bridge+host-local', argv: [...nsenter, `${REF_DIR}/bridge`], conf: bridgeConf },
    ];
    const ref = plugins.length - 1;
    const total = n + warm;
    const nss = plugins.map(() => reg.createMany(total));
    const times = plugins.map(() => ({ add: [] as number[], del: [] as number[] }));
    log(`CNI bench: ${n} containers per plugin (+${warm} warm-up), ${dual ? 'dual-stack' : 'IPv4'}, weft with ${routerKind}`);
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

    // context: what a bare process start, the nsenter wrapper and a shim round trip cost here
    const bare = (argv: string[], env: Record<string, string> = { PATH: process.env.PATH ?? '' }, input?: string) => {
      const xs: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t = process.hrtime.bigint();
        spawnSync(argv[0], argv.slice(1), { env, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'ignore'] });
        xs.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      return pct(xs, 50);
    };
    const nodeStart = bare([process.execPath, '-e', '0']);
    const nsenterCost = bare([...nsenter, 'true']);
    const shimVersion = shim ? bare([...nsenter, shim], cniEnv({ command: 'VERSION' }), inputs[0]) : 0;

    const out: BenchResult[] = [];
    plugins.forEach((p, pi) => {
      for (const kind of ['add', 'del'] as const) {
        out.push({ name: `cni ${kind.toUpperCase()} ${p.name} p50`, value: pct(times[pi][kind], 50), unit: 'ms' });
        out.push({ name: `cni ${kind.toUpperCase()} ${p.name} p99`, value: pct(times[pi][kind], 99), unit: 'ms' });
      }
    });
    for (let pi = 0; pi < ref; pi++) {
      for (const kind of ['add', 'del'] as const) {
        out.push({
          name: `cni ${kind.toUpperCase()} p50 ratio ${plugins[pi].name} / ${plugins[ref].name}`,
          value: pct(times[pi][kind], 50) / pct(times[ref][kind], 50),
          unit: 'x',
          note: kind === 'add' && pi === 0 ? 'target <= 2' : undefined,
        });
      }
    }
    if (routerChild) {
      const stats = await stopRouterChild(routerChild);
      routerChild = null;
      const ops = opts.fakeRouter ? (['attachPod', 'detachPod'] as const) : (['ADD', 'DEL'] as const);
      for (const o of ops) {
        const what = opts.fakeRouter ? `fake router ${o} p50 (inside ADD/DEL)` : `router CNI server ${o} p50 (shim requests, inside the router)`;
        if (stats[o]) out.push({ name: what, value: stats[o].p50, unit: 'ms' });
      }
    }
    out.push({ name: 'node -e 0 start p50 (context)', value: nodeStart, unit: 'ms' });
    out.push({ name: 'nsenter wrapper p50 (context, in all)', value: nsenterCost, unit: 'ms' });
    if (shim) out.push({ name: 'shim VERSION round trip p50 (context, incl. nsenter)', value: shimVersion, unit: 'ms' });
    return out;
  } finally {
    if (routerChild) await stopRouterChild(routerChild);
    reg.removeAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && SELF === process.argv[1]) {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i === -1 ? undefined : args[i + 1];
  };
  const serve = arg('--serve-router');
  if (serve) {
    await serveRouter(serve);
  } else {
    const results = await runCniBench({
      containers: arg('--containers') ? Number(arg('--containers')) : undefined,
      socket: arg('--socket'),
      fakeRouter: args.includes('--fake-router'),
      dualStack: args.includes('--dual-stack'),
    });
    printTable('CNI ADD/DEL latency (ms, exec to exit, one operation at a time)', results);
    const json = arg('--json');
    if (json) writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
  }
}
