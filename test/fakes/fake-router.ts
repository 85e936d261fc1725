/**
 * A fake Weft router: serves the control protocol (host/control/protocol.ts) on a Unix socket
 * and really does the pod-side netns work of attachPod, so CNI CHECK can inspect real
 * interfaces. There is no data plane.
 *
 * attachPod creates a persistent TAP named ifName directly inside the pod netns, sets MAC and
 * MTU, adds the addresses as /32 and /128, an on-link route to each gateway and a default
 * route via it — one `ip -batch` process per attach. detachPod deletes the TAP if the netns
 * still exists. (The real router owns the TAP's file descriptor instead; that difference does
 * not matter to the plugin.)
 *
 * Test controls: {@link FakeRouter.failNext} (answer an op with an error, before or after doing
 * the work), {@link FakeRouter.hangNext} (never answer), {@link FakeRouter.restart} (with or
 * without forgetting state), and the {@link FakeRouter.calls} log.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { dirname } from 'node:path';
import {
  FrameDecoder, PROTOCOL_VERSION, ProtocolError, encodeFrame, parseRequest,
  type AttachPodArgs, type AttachPodResult, type OpName, type PeerEntry, type PodAttachment, type Request,
  type RouteEntry, type WireError,
} from '../../host/control/protocol.ts';
import { formatIp, gatewayOf, parseCidr, parseIpWithPrefix } from '../../host/ipam/addr.ts';

export interface FakeRouterOptions {
  socketPath: string;
  podCIDRs: string[];
  nodeName?: string;
  /** Pod MTU when attachPod gives none (default 1450). */
  mtu?: number;
  /** Create interfaces in pod netns (default true). Without it attachPod only records state. */
  netnsWork?: boolean;
}

interface Attachment extends PodAttachment {
  args: AttachPodArgs;
  result: AttachPodResult;
}

interface Injected {
  code: string;
  message: string;
  /** Do the op's work first, then fail (a router that crashed half way, or lied). */
  afterWork: boolean;
}

class OpFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const NETNS_DIR = '/var/run/netns';

/** `ip -n` takes a name under /var/run/netns; walk back up to reach any absolute path. */
function ipNetnsArg(path: string): string[] {
  if (path.startsWith(`${NETNS_DIR}/`) && !path.slice(NETNS_DIR.length + 1).includes('/')) return ['-n', path.slice(NETNS_DIR.length + 1)];
  if (path.startsWith('/run/netns/') && !path.slice(11).includes('/')) return ['-n', path.slice(11)];
  return ['-n', `../../..${path}`];
}

function runIp(netnsPath: string, batch: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    mkdirSync(NETNS_DIR, { recursive: true });
    const child = spawn('ip', [...ipNetnsArg(netnsPath), '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(batch);
  });
}

function macFor(a: AttachPodArgs, port: number): string {
  const v4 = a.ipv4 ? parseIpWithPrefix(a.ipv4) : null;
  const tail = v4 ? Number(v4.ip.value) : (0x7e000000 + port) >>> 0;
  const b = [0x0a, 0x58, (tail >>> 24) & 0xff, (tail >>> 16) & 0xff, (tail >>> 8) & 0xff, tail & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export class FakeRouter {
  readonly attachments = new Map<string, Attachment>();
  readonly peers = new Map<string, PeerEntry>();
  readonly staticRoutes = new Map<string, RouteEntry>();
  /** Every request received, in order. */
  readonly calls: { op: OpName; args: unknown }[] = [];
  /** Time spent serving each op (ms), for benchmarks. */
  readonly opTimes: { op: OpName; ms: number }[] = [];
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  private failures = new Map<OpName, Injected[]>();
  private hangs = new Map<OpName, number>();
  private startedAt = Date.now();
  private nextPort = 1;

  constructor(readonly opts: FakeRouterOptions) {}

  get socketPath(): string {
    return this.opts.socketPath;
  }

  async start(): Promise<void> {
    if (this.server) return;
    mkdirSync(dirname(this.socketPath), { recursive: true });
    rmSync(this.socketPath, { force: true });
    const server = createServer((s) => this.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
    this.server = server;
    this.startedAt = Date.now();
  }

  /** Stop serving: close the listener and every connection. State is kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  /** Stop and start again; `forgetState` simulates a router that lost its in-memory state. */
  async restart(opts: { forgetState?: boolean } = {}): Promise<void> {
    await this.stop();
    if (opts.forgetState) {
      this.attachments.clear();
      this.peers.clear();
      this.staticRoutes.clear();
    }
    await this.start();
  }

  /** Make the next call of `op` fail with `code` (optionally after doing the work). */
  failNext(op: OpName, code = 'INTERNAL', message = 'injected failure', opts: { afterWork?: boolean } = {}): void {
    const list = this.failures.get(op) ?? [];
    list.push({ code, message, afterWork: opts.afterWork ?? false });
    this.failures.set(op, list);
  }

  /** Never answer the next `count` calls of `op` (the work is done). */
  hangNext(op: OpName, count = 1): void {
    this.hangs.set(op, (this.hangs.get(op) ?? 0) + count);
  }

  private serve(s: Socket): void {
    this.sockets.add(s);
    const dec = new FrameDecoder();
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    s.on('data', (chunk: Buffer) => {
      let bodies: unknown[];
      try {
        bodies = dec.push(chunk);
      } catch (e) {
        const code = e instanceof ProtocolError && e.code === 'FRAME_TOO_LARGE' ? 'FRAME_TOO_LARGE' : 'BAD_REQUEST';
        s.end(encodeFrame({ id: 0, ok: false, error: { code, message: (e as Error).message } }));
        return;
      }
      for (const body of bodies) {
        const parsed = parseRequest(body);
        if (!parsed.ok) {
          this.reply(s, { id: parsed.id, ok: false, error: parsed.error });
          continue;
        }
        void this.handle(s, parsed.request);
      }
    });
  }

  private reply(s: Socket, msg: unknown): void {
    if (!s.destroyed) s.write(encodeFrame(msg));
  }

  private async handle(s: Socket, req: Request): Promise<void> {
    this.calls.push({ op: req.op, args: req.args });
    const injected = this.failures.get(req.op)?.shift();
    const hang = (this.hangs.get(req.op) ?? 0) > 0;
    if (hang) this.hangs.set(req.op, this.hangs.get(req.op)! - 1);
    try {
      if (injected && !injected.afterWork) throw new OpFailure(injected.code, injected.message);
      const t0 = performance.now();
      const result = await this.dispatch(req);
      this.opTimes.push({ op: req.op, ms: performance.now() - t0 });
      if (injected) throw new OpFailure(injected.code, injected.message);
      if (hang) return;
      this.reply(s, { id: req.id, ok: true, result });
    } catch (e) {
      if (hang) return;
      const error: WireError = e instanceof OpFailure ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: (e as Error).message };
      this.reply(s, { id: req.id, ok: false, error });
    }
  }

  private async dispatch(req: Request): Promise<unknown> {
    const a = req.args as Record<string, any>;
    switch (req.op) {
      case 'status':
        return this.status();
      case 'attachPod':
        return this.attach(a as AttachPodArgs);
      case 'detachPod':
        return this.detach(a.containerId, a.ifName, a.netns);
      case 'listPods':
        return { pods: [...this.attachments.values()].map(({ args: _a, result: _r, ...p }) => p) };
      case 'routes':
        return { routes: this.routeTable() };
      case 'peers':
        return { peers: [...this.peers.values()] };
      case 'counters':
        return { counters: { attach: this.calls.filter((c) => c.op === 'attachPod').length } };
      case 'addPeer': {
        const created = !this.peers.has(a.name);
        this.peers.set(a.name, { name: a.name, underlay: a.underlay, podCIDRs: a.podCIDRs, vtepMac: a.vtepMac, origin: 'control' });
        return { created };
      }
      case 'removePeer':
        return { existed: this.peers.delete(a.name) };
      case 'addRoute': {
        const prev = this.staticRoutes.get(a.dst);
        const created = !prev || JSON.stringify(prev.target) !== JSON.stringify(a.target);
        this.staticRoutes.set(a.dst, { dst: a.dst, target: a.target, origin: 'static' });
        return { created };
      }
      case 'removeRoute':
        return { existed: this.staticRoutes.delete(a.dst) };
    }
  }

  status() {
    const v4 = this.opts.podCIDRs.map((c) => parseCidr(c)).find((c) => c?.family === 4);
    const v6 = this.opts.podCIDRs.map((c) => parseCidr(c)).find((c) => c?.family === 6);
    return {
      protocolVersion: PROTOCOL_VERSION,
      nodeName: this.opts.nodeName ?? 'fake-node',
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      encapsulation: 'vxlan',
      vni: 1,
      port: 8472,
      mtu: { underlay: 1500, pod: this.opts.mtu ?? 1450 },
      podCIDRs: this.opts.podCIDRs,
      clusterCIDRs: this.opts.podCIDRs,
      gateway4: v4 ? formatIp(gatewayOf(v4)) : undefined,
      gateway6: v6 ? formatIp(gatewayOf(v6)) : undefined,
      counts: { pods: this.attachments.size, peers: this.peers.size, routes: this.routeTable().length },
    };
  }

  private routeTable(): RouteEntry[] {
    const pods: RouteEntry[] = [];
    for (const p of this.attachments.values()) {
      for (const ip of [p.ipv4, p.ipv6]) {
        if (ip) pods.push({ dst: ip, target: { kind: 'pod', containerId: p.containerId, ifName: p.ifName }, origin: 'auto' });
      }
    }
    return [...pods, ...this.staticRoutes.values()];
  }

  private async attach(a: AttachPodArgs): Promise<AttachPodResult> {
    const key = `${a.containerId}:${a.ifName}`;
    const existing = this.attachments.get(key);
    if (existing) {
      if (existing.args.ipv4 === a.ipv4 && existing.args.ipv6 === a.ipv6 && existing.netns === a.netns) return existing.result;
      throw new OpFailure('CONFLICT', `${key} is attached with other arguments`);
    }
    const v4 = a.ipv4 ? parseIpWithPrefix(a.ipv4) : null;
    const v6 = a.ipv6 ? parseIpWithPrefix(a.ipv6) : null;
    if ((a.ipv4 && !v4) || (a.ipv6 && !v6)) throw new OpFailure('BAD_REQUEST', 'bad address');
    for (const other of this.attachments.values()) {
      const same = (x?: string, y?: string) => !!x && !!y && x.split('/')[0] === y.split('/')[0];
      if (same(other.ipv4, a.ipv4) || same(other.ipv6, a.ipv6)) {
        throw new OpFailure('CONFLICT', `address in use by ${other.containerId}:${other.ifName}`);
      }
    }
    if (!existsSync(a.netns)) throw new OpFailure('NETNS_NOT_FOUND', `netns ${a.netns} does not exist`);
    const port = this.nextPort++;
    const mac = macFor(a, port);
    const mtu = a.mtu ?? this.opts.mtu ?? 1450;
    const gw = (p: { ip: { family: 4 | 6; value: bigint }; prefix: number } | null) => {
      if (!p) return undefined;
      const cidr = { family: p.ip.family, network: p.ip.value & ~((1n << BigInt((p.ip.family === 4 ? 32 : 128) - p.prefix)) - 1n), prefix: p.prefix };
      return formatIp(gatewayOf(cidr));
    };
    const gateway4 = gw(v4);
    const gateway6 = gw(v6);
    const routes = [
      ...(gateway4 ? [{ dst: '0.0.0.0/0', gw: gateway4 }] : []),
      ...(gateway6 ? [{ dst: '::/0', gw: gateway6 }] : []),
    ];
    if (this.opts.netnsWork ?? true) {
      const n = a.ifName;
      const lines = [`tuntap add mode tap name ${n}`, `link set ${n} address ${mac} mtu ${mtu}`];
      if (v4) lines.push(`addr add ${formatIp(v4.ip)}/32 dev ${n}`);
      if (v6) lines.push(`addr add ${formatIp(v6.ip)}/128 dev ${n} nodad`);
      lines.push(`link set ${n} up`);
      if (gateway4) lines.push(`route add ${gateway4}/32 dev ${n} scope link`, `route add default via ${gateway4} dev ${n}`);
      if (gateway6) lines.push(`route add ${gateway6}/128 dev ${n}`, `route add default via ${gateway6} dev ${n}`);
      const r = await runIp(a.netns, lines.join('\n') + '\n');
      if (r.code !== 0) {
        if (/exists|Device or resource busy/i.test(r.stderr)) throw new OpFailure('IF_EXISTS', `${n} exists in ${a.netns}: ${r.stderr.trim()}`);
        // undo a half-done batch (the TAP may exist with part of its config)
        await runIp(a.netns, `link del ${n}\n`).catch(() => undefined);
        throw new OpFailure('INTERNAL', `ip failed: ${r.stderr.trim()}`);
      }
    }
    const result: AttachPodResult = { hostIfName: '', mac, mtu, sandbox: a.netns, gateway4, gateway6, routes };
    this.attachments.set(key, {
      containerId: a.containerId, ifName: a.ifName, netns: a.netns, network: a.network,
      ipv4: v4 ? `${formatIp(v4.ip)}/32` : undefined, ipv6: v6 ? `${formatIp(v6.ip)}/128` : undefined,
      mac, port, args: a, result,
    });
    return result;
  }

  private async detach(containerId: string, ifName: string, netnsHint?: string): Promise<{ existed: boolean }> {
    const key = `${containerId}:${ifName}`;
    const att = this.attachments.get(key);
    this.attachments.delete(key);
    const netns = att?.netns ?? netnsHint;
    if ((this.opts.netnsWork ?? true) && netns && existsSync(netns)) {
      // with lost state the netns hint is all there is (the plugin gives none on rollback)
      await runIp(netns, `link del ${ifName}\n`);
    }
    return { existed: att !== undefined };
  }
}
