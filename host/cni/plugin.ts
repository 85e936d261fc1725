/**
 * The `weft` CNI plugin: the verbs, independent of the process (main.ts wires stdin/stdout,
 * tests may call {@link runPlugin} directly with fake dependencies).
 *
 * Design notes
 * ------------
 * Weft is an interface plugin with built-in IPAM; the router (a long-lived daemon reached over
 * the control socket) owns pod interfaces and the data plane.
 *
 *   ADD    lease (IPAM, one address per family) → attachPod → Result. Any failure after the
 *          lease undoes everything: detachPod (best effort; the router may have acted before a
 *          timeout) and release of the leases.
 *   DEL    detachPod → release. Idempotent. Works with an empty or vanished netns, without
 *          prevResult, and with the router down (leases are released; the router reconciles
 *          later). A router that answers with an error keeps the lease (DEL fails, the runtime
 *          retries) so an address is never reused while the data plane still routes it.
 *   CHECK  prevResult ↔ IPAM leases ↔ router attachment ↔ the interface in the netns.
 *   STATUS router reachable (else 51: existing pods depend on it) and every pool has a free
 *          address (else 50).
 *   GC     release leases and detach router attachments of this network that are not in
 *          `cni.dev/valid-attachments`; keeps going after errors, reports them at the end.
 *
 * Router errors map to CNI codes: unreachable/timeout → 11 (try again later), an error answer
 * → 100 with the router's code in `details`.
 */
import { existsSync, writeSync } from 'node:fs';
import { RouterClient, RouterError, RouterUnavailable } from '../control/client.ts';
import type { AttachPodArgs, AttachPodResult } from '../control/protocol.ts';
import { type Ip, canonicalMac, formatIp, gatewayOf, parseCidr, parseIp, parseIpWithPrefix } from '../ipam/addr.ts';
import { poolsFromCidrs } from '../ipam/index.ts';
import type { Pool } from '../ipam/pool.ts';
import { IpamExhausted, type Lease, LeaseStore, attachmentKey } from '../ipam/store.ts';
import {
  type CniCommand, type CniEnv, type WeftNetConf, commandOf, decodeConfig, parseConfig, readEnv,
} from './config.ts';
import type { LinkState } from './netns.ts';
import {
  type CniInterface, type CniIpConfig, type CniResult, CniError, ErrorCode, LATEST_VERSION, SUPPORTED_VERSIONS,
  formatResult, isSupportedVersion, parseResult,
} from './spec.ts';

/** The router operations the plugin uses (RouterClient satisfies it; tests may fake it). */
export type RouterPort = Pick<RouterClient, 'status' | 'attachPod' | 'detachPod' | 'listPods' | 'close'>;

export interface PluginDeps {
  connect(socketPath: string, timeoutMs: number): Promise<RouterPort>;
  leaseStore(dataDir: string): LeaseStore;
  inspect(netns: string, ifName: string): Promise<LinkState | null>;
  /** Diagnostics (stderr). */
  log(msg: string): void;
}

export const defaultDeps: PluginDeps = {
  connect: (socketPath, timeoutMs) => RouterClient.connect({ socketPath, timeoutMs }),
  leaseStore: (dir) => new LeaseStore(dir),
  inspect: async (netns, ifName) => (await import('./netns.ts')).inspectInterface(netns, ifName),
  log: (msg) => writeSync(2, `weft-cni: ${msg}\n`),
};

/**
 * Phase timings on stderr when WEFT_CNI_TRACE is set: milliseconds since the process started
 * (Node's time origin), to see where an invocation's time goes.
 */
function trace(label: string): void {
  // fs.writeSync, not process.stderr: creating that stream would itself cost milliseconds
  if (process.env.WEFT_CNI_TRACE) writeSync(2, `weft-cni trace ${performance.now().toFixed(2)} ms ${label}\n`);
}

export const ABOUT = `weft CNI plugin (Weft overlay router), CNI spec versions ${SUPPORTED_VERSIONS.join(', ')}`;

export interface PluginOutput {
  /** What goes to stdout (JSON result/error, or empty). */
  stdout: string;
  /** What goes to stderr (the about text when CNI_COMMAND is unset). */
  stderr: string;
  exitCode: number;
}

/** Run one plugin invocation. Never throws. */
export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string, deps: PluginDeps = defaultDeps): Promise<PluginOutput> {
  let version: string = LATEST_VERSION;
  try {
    trace('start');
    const command = commandOf(env);
    if (command === undefined) return { stdout: '', stderr: ABOUT + '\n', exitCode: 0 };
    if (command === 'VERSION') return ok(versionInfo(stdin));
    // like the reference plugins (skel): environment errors first, then the configuration;
    // decode early anyway so that errors are reported in the config's version
    let raw: Record<string, unknown> | null = null;
    let decodeError: unknown = null;
    try {
      raw = decodeConfig(stdin);
      if (isSupportedVersion(raw.cniVersion)) version = raw.cniVersion;
    } catch (e) {
      decodeError = e;
    }
    const cenv = readEnv(env, command);
    if (decodeError || !raw) throw decodeError;
    const conf = parseConfig(raw, command);
    const out = await dispatch(command, cenv, conf, deps);
    trace('done');
    return ok(out === undefined ? '' : JSON.stringify(out));
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(ErrorCode.Internal, (e as Error)?.message ?? String(e), (e as Error)?.stack);
    return { stdout: JSON.stringify(err.toJSON(version)), stderr: '', exitCode: 1 };
  }
}

const ok = (stdout: string): PluginOutput => ({ stdout, stderr: '', exitCode: 0 });

function versionInfo(stdin: string): string {
  let cniVersion: string = LATEST_VERSION;
  if (stdin.trim() !== '') {
    const raw = decodeConfig(stdin);
    if (typeof raw.cniVersion === 'string') cniVersion = raw.cniVersion;
  }
  return JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS });
}

async function dispatch(command: CniCommand, env: CniEnv, conf: WeftNetConf, deps: PluginDeps): Promise<object | undefined> {
  switch (command) {
    case 'ADD': return cmdAdd(env, conf, deps);
    case 'DEL': return cmdDel(env, conf, deps);
    case 'CHECK': return cmdCheck(env, conf, deps);
    case 'STATUS': return cmdStatus(conf, deps);
    case 'GC': return cmdGc(conf, deps);
    default: throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`);
  }
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function routerFailure(e: unknown, what: string): CniError {
  if (e instanceof RouterUnavailable) {
    return new CniError(ErrorCode.TryAgainLater, `weft router unavailable (${what})`, `${e.message}`);
  }
  if (e instanceof RouterError) {
    return new CniError(ErrorCode.RouterError, `weft router refused ${what}`, `${e.code}: ${e.message}`);
  }
  if (e instanceof CniError) return e;
  return new CniError(ErrorCode.Internal, `${what} failed`, (e as Error)?.message ?? String(e));
}

function ioFailure(e: unknown, what: string): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof IpamExhausted) return new CniError(ErrorCode.IpamExhausted, 'no free pod address', e.message);
  const err = e as NodeJS.ErrnoException;
  return new CniError(ErrorCode.IoFailure, `${what} failed`, err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e));
}

function poolsOf(podCIDRs: string[] | undefined, source: string): Pool[] {
  if (!podCIDRs || podCIDRs.length === 0) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'no pod CIDRs', `${source} has none; set podCIDRs in the network config`);
  }
  try {
    return poolsFromCidrs(podCIDRs);
  } catch (e) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid podCIDRs', `${source}: ${(e as Error).message}`);
  }
}

async function connect(conf: WeftNetConf, deps: PluginDeps, what: string, timeoutMs = Math.min(conf.timeoutMs, 2000)): Promise<RouterPort> {
  try {
    return await deps.connect(conf.socket, timeoutMs);
  } catch (e) {
    throw routerFailure(e, what);
  }
}

const hostPrefix = (ip: Ip) => (ip.family === 4 ? 32 : 128);

// ---------------------------------------------------------------------------------------------
// ADD
// ---------------------------------------------------------------------------------------------

async function cmdAdd(env: CniEnv, conf: WeftNetConf, deps: PluginDeps): Promise<object> {
  if (!existsSync(env.netns)) throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_NETNS does not exist', env.netns);
  const prev = conf.prevResult === undefined ? null : parseResult(conf.prevResult);
  const key = attachmentKey(env.containerId, env.ifName);
  const router = await connect(conf, deps, 'ADD');
  trace('connected');
  try {
    let podCIDRs = conf.podCIDRs;
    let source = 'network config';
    if (!podCIDRs) {
      try {
        podCIDRs = (await router.status({ timeoutMs: conf.timeoutMs })).podCIDRs;
        source = 'router status';
      } catch (e) {
        throw routerFailure(e, 'status');
      }
    }
    const pools = poolsOf(podCIDRs, source);
    if (conf.mtu !== undefined && conf.mtu < 1280 && pools.some((p) => p.family === 6)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'mtu below 1280 with an IPv6 pod CIDR', `mtu=${conf.mtu}`);
    }
    const store = deps.leaseStore(conf.dataDir);
    let leases: Lease[];
    try {
      leases = store.allocate(key, pools);
    } catch (e) {
      throw ioFailure(e, 'IPAM allocation');
    }
    trace('leased');
    let attached: AttachPodResult;
    try {
      const v4 = leases.find((l) => l.ip.family === 4);
      const v6 = leases.find((l) => l.ip.family === 6);
      const prefixOf = (l: Lease) => pools.find((p) => p.family === l.ip.family)!.cidrOf(l.ip)!.prefix;
      attached = await attachReconciling(router, store, {
        containerId: env.containerId,
        ifName: env.ifName,
        netns: env.netns,
        ipv4: v4 ? `${v4.address}/${prefixOf(v4)}` : undefined,
        ipv6: v6 ? `${v6.address}/${prefixOf(v6)}` : undefined,
        mtu: conf.mtu,
        network: conf.name,
        podNamespace: env.args.K8S_POD_NAMESPACE,
        podName: env.args.K8S_POD_NAME,
      }, conf.timeoutMs, deps);
      checkAttachResult(attached);
      trace('attached');
    } catch (e) {
      await rollback(router, env, store, key, deps);
      throw routerFailure(e, 'attachPod');
    }
    return formatResult(addResult(env, conf, leases, pools, attached, prev), conf.cniVersion);
  } finally {
    router.close();
  }
}

function checkAttachResult(r: AttachPodResult): void {
  if (typeof r !== 'object' || r === null || typeof r.mac !== 'string' || !canonicalMac(r.mac) || !Array.isArray(r.routes)) {
    throw new CniError(ErrorCode.RouterError, 'weft router sent a malformed attachPod result', JSON.stringify(r));
  }
}

/**
 * attachPod, reconciling once on CONFLICT (the router checklist's item 5, docs/CNI.md): an
 * attachment of this network that holds one of the new addresses, or this very key with other
 * addresses, is stale when none of its addresses is leased to its key in this network's IPAM
 * directory: its DEL released the leases while the router was unreachable (down, restarting,
 * or it restored the pod from its state file before the runtime removed the netns). Such
 * attachments are detached and the attach is tried again; any other CONFLICT is returned as is.
 */
async function attachReconciling(router: RouterPort, store: LeaseStore, args: AttachPodArgs, timeoutMs: number, deps: PluginDeps): Promise<AttachPodResult> {
  try {
    return await router.attachPod(args, { timeoutMs });
  } catch (e) {
    if (!(e instanceof RouterError) || e.code !== 'CONFLICT') throw e;
    const canon = (a: string | undefined) => {
      const ip = a ? parseIp(a.split('/')[0]!) : null;
      return ip ? formatIp(ip) : undefined;
    };
    const wanted = new Set([canon(args.ipv4), canon(args.ipv6)].filter((a): a is string => a !== undefined));
    const { pods } = await router.listPods({ timeoutMs });
    const stale = pods.filter((p) => {
      if (p.network !== args.network) return false;
      const sameKey = p.containerId === args.containerId && p.ifName === args.ifName;
      const addrs = [canon(p.ipv4), canon(p.ipv6)].filter((a): a is string => a !== undefined);
      if (!sameKey && !addrs.some((a) => wanted.has(a))) return false;
      const leased = new Set(store.leasesOf(attachmentKey(p.containerId, p.ifName)).map((l) => l.address));
      return !addrs.some((a) => leased.has(a));
    });
    if (stale.length === 0) throw e;
    for (const p of stale) {
      await router.detachPod({ containerId: p.containerId, ifName: p.ifName }, { timeoutMs });
      deps.log(`ADD ${attachmentKey(args.containerId, args.ifName)}: detached the stale attachment ${p.containerId}/${p.ifName} (${[p.ipv4, p.ipv6].filter(Boolean).join(' ')}: no lease; its DEL did not reach the router)`);
    }
    return await router.attachPod(args, { timeoutMs });
  }
}

async function rollback(router: RouterPort, env: CniEnv, store: LeaseStore, key: string, deps: PluginDeps): Promise<void> {
  try {
    // no netns hint: if attachPod failed with IF_EXISTS the interface there is not ours
    await router.detachPod({ containerId: env.containerId, ifName: env.ifName }, { timeoutMs: 5000 });
  } catch (e) {
    deps.log(`rollback: detachPod failed: ${(e as Error).message}`);
  }
  try {
    store.release(key);
  } catch (e) {
    deps.log(`rollback: lease release failed: ${(e as Error).message}`);
  }
}

function addResult(env: CniEnv, conf: WeftNetConf, leases: Lease[], pools: Pool[], a: AttachPodResult, prev: CniResult | null): CniResult {
  const interfaces: CniInterface[] = prev ? [...prev.interfaces] : [];
  if (a.hostIfName) interfaces.push({ name: a.hostIfName });
  const pod: CniInterface = { name: env.ifName, mac: canonicalMac(a.mac)!, sandbox: env.netns };
  if (a.mtu) pod.mtu = a.mtu;
  interfaces.push(pod);
  const index = interfaces.length - 1;
  const ips: CniIpConfig[] = prev ? [...prev.ips] : [];
  for (const l of leases) {
    const gw = l.ip.family === 4 ? a.gateway4 : a.gateway6;
    const cidr = pools.find((p) => p.family === l.ip.family)!.cidrOf(l.ip)!;
    ips.push({
      address: `${l.address}/${hostPrefix(l.ip)}`,
      gateway: gw ?? formatIp(gatewayOf(cidr)),
      interface: index,
    });
  }
  const routes = [...(prev?.routes ?? []), ...a.routes.map((r) => (r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst }))];
  const hasDns = Object.keys(conf.dns).length > 0;
  return { interfaces, ips, routes, dns: hasDns ? conf.dns : (prev?.dns ?? {}) };
}

// ---------------------------------------------------------------------------------------------
// DEL
// ---------------------------------------------------------------------------------------------

async function cmdDel(env: CniEnv, conf: WeftNetConf, deps: PluginDeps): Promise<undefined> {
  const key = attachmentKey(env.containerId, env.ifName);
  let router: RouterPort | null = null;
  try {
    router = await deps.connect(conf.socket, Math.min(conf.timeoutMs, 2000));
    trace('connected');
    await router.detachPod(
      { containerId: env.containerId, ifName: env.ifName, netns: env.netns || undefined },
      { timeoutMs: conf.timeoutMs },
    );
    trace('detached');
  } catch (e) {
    if (!(e instanceof RouterUnavailable)) throw routerFailure(e, 'detachPod');
    deps.log(`DEL ${key}: router unavailable (${e.message}); releasing the lease, the router reconciles on restart`);
  } finally {
    router?.close();
  }
  try {
    deps.leaseStore(conf.dataDir).release(key);
  } catch (e) {
    throw ioFailure(e, 'IPAM release');
  }
  trace('released');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// CHECK
// ---------------------------------------------------------------------------------------------

const checkFailed = (msg: string, details?: string) => new CniError(ErrorCode.CheckFailed, msg, details);

function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.family === y.family && x.value === y.value;
}

/** Does a kernel route (as printed by ip) cover the result route `dst` with gateway `gw`? */
function routeMatches(k: { family: 4 | 6; dst: string; gateway?: string }, dst: string, gw?: string): boolean {
  const want = parseCidr(dst, false);
  if (!want || want.family !== k.family) return false;
  const have = k.dst === 'default'
    ? { family: k.family, network: 0n, prefix: 0 }
    : parseCidr(k.dst.includes('/') ? k.dst : `${k.dst}/${k.family === 4 ? 32 : 128}`, false);
  if (!have || have.prefix !== want.prefix || have.network !== want.network) return false;
  if (gw !== undefined && (k.gateway === undefined || !sameIp(k.gateway, gw))) return false;
  return true;
}

async function cmdCheck(env: CniEnv, conf: WeftNetConf, deps: PluginDeps): Promise<undefined> {
  if (conf.prevResult === undefined) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'prevResult is required for CHECK');
  }
  const prev = parseResult(conf.prevResult);
  const index = prev.interfaces.findIndex((i) => i.name === env.ifName && (i.sandbox === undefined || i.sandbox === env.netns));
  if (index === -1) throw checkFailed(`prevResult has no interface ${env.ifName} in ${env.netns}`);
  const iface = prev.interfaces[index];
  const ips = prev.ips.filter((ip) => ip.interface === index);
  const want = ips.map((ip) => {
    const p = parseIpWithPrefix(ip.address);
    if (!p) throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid prevResult', `ips address ${ip.address}`);
    return p;
  });
  const key = attachmentKey(env.containerId, env.ifName);

  // IPAM: exactly the result's addresses are leased to this attachment
  let leases: Lease[];
  try {
    leases = deps.leaseStore(conf.dataDir).leasesOf(key);
  } catch (e) {
    throw ioFailure(e, 'IPAM read');
  }

  // router: the attachment exists with the same addresses and MAC
  const router = await connect(conf, deps, 'CHECK');
  let pod;
  try {
    pod = (await router.listPods({ timeoutMs: conf.timeoutMs })).pods.find(
      (p) => p.containerId === env.containerId && p.ifName === env.ifName,
    );
  } catch (e) {
    throw routerFailure(e, 'listPods');
  } finally {
    router.close();
  }
  if (leases.length === 0 && !pod) {
    throw new CniError(ErrorCode.UnknownContainer, `weft knows no attachment ${env.containerId}/${env.ifName}`);
  }
  for (const w of want) {
    if (!leases.some((l) => l.ip.family === w.ip.family && l.ip.value === w.ip.value)) {
      throw checkFailed(`address ${formatIp(w.ip)} is not leased to ${key}`, `leases: ${leases.map((l) => l.address).join(', ') || 'none'}`);
    }
  }
  for (const l of leases) {
    if (!want.some((w) => w.ip.family === l.ip.family && w.ip.value === l.ip.value)) {
      throw checkFailed(`lease ${l.address} of ${key} is not in prevResult`);
    }
  }
  if (!pod) throw checkFailed(`the router has no attachment ${env.containerId}/${env.ifName}`);
  for (const w of want) {
    const has = w.ip.family === 4 ? pod.ipv4 : pod.ipv6;
    const p = has ? parseIpWithPrefix(has) : null;
    if (!p || p.ip.value !== w.ip.value) throw checkFailed(`router attachment has ${has ?? 'no address'} for IPv${w.ip.family}, prevResult ${formatIp(w.ip)}`);
  }
  if (iface.mac && canonicalMac(pod.mac) !== canonicalMac(iface.mac)) {
    throw checkFailed(`router attachment MAC ${pod.mac} differs from prevResult ${iface.mac}`);
  }

  // the netns: interface, MAC, addresses, routes
  let link: LinkState | null;
  try {
    link = await deps.inspect(env.netns, env.ifName);
  } catch (e) {
    throw checkFailed(`cannot inspect ${env.ifName} in ${env.netns}`, (e as Error).message);
  }
  if (!link) throw checkFailed(`interface ${env.ifName} not found in ${env.netns}`);
  if (iface.mac && link.mac !== canonicalMac(iface.mac)) {
    throw checkFailed(`interface ${env.ifName} has MAC ${link.mac}, prevResult ${iface.mac}`);
  }
  for (const w of want) {
    if (!link.addrs.some((a) => a.family === w.ip.family && sameIp(a.local, formatIp(w.ip)) && a.prefixlen === w.prefix)) {
      throw checkFailed(`address ${formatIp(w.ip)}/${w.prefix} not found on ${env.ifName}`);
    }
  }
  for (const r of prev.routes) {
    if (!link.routes.some((k) => routeMatches(k, r.dst, r.gw))) {
      throw checkFailed(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} not found in ${env.netns}`);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// STATUS
// ---------------------------------------------------------------------------------------------

async function cmdStatus(conf: WeftNetConf, deps: PluginDeps): Promise<undefined> {
  let podCIDRs = conf.podCIDRs;
  let router: RouterPort;
  try {
    router = await deps.connect(conf.socket, Math.min(conf.timeoutMs, 2000));
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailableLimitedConnectivity, 'weft router not available', (e as Error).message);
  }
  try {
    const st = await router.status({ timeoutMs: Math.min(conf.timeoutMs, 5000) });
    podCIDRs ??= st.podCIDRs;
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailableLimitedConnectivity, 'weft router not available', (e as Error).message);
  } finally {
    router.close();
  }
  const pools = poolsOf(podCIDRs, conf.podCIDRs ? 'network config' : 'router status');
  let store: LeaseStore;
  let leases: Lease[];
  try {
    store = deps.leaseStore(conf.dataDir);
    leases = store.scan();
  } catch (e) {
    throw new CniError(ErrorCode.NotAvailable, 'IPAM lease store unreadable', (e as Error).message);
  }
  for (const pool of pools) {
    const u = store.usage(pool, leases);
    if (u.free <= 0n) {
      throw new CniError(ErrorCode.NotAvailable, `no free IPv${u.family} pod address`, `${u.cidrs.join(', ')}: ${u.used} of ${u.size} leased`);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// GC
// ---------------------------------------------------------------------------------------------

async function cmdGc(conf: WeftNetConf, deps: PluginDeps): Promise<undefined> {
  if (!conf.validAttachments) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments');
  }
  const valid = new Set<string>();
  for (const a of conf.validAttachments) {
    try {
      valid.add(attachmentKey(a.containerID, a.ifname));
    } catch {
      // a key we could never have created: nothing of ours to keep for it
    }
  }
  const errors: CniError[] = [];
  try {
    const { errors: errs } = deps.leaseStore(conf.dataDir).gc(valid);
    for (const e of errs) errors.push(ioFailure(e, 'IPAM gc'));
  } catch (e) {
    errors.push(ioFailure(e, 'IPAM gc'));
  }
  let router: RouterPort | null = null;
  try {
    router = await deps.connect(conf.socket, Math.min(conf.timeoutMs, 2000));
    const { pods } = await router.listPods({ timeoutMs: conf.timeoutMs });
    for (const p of pods) {
      if (p.network !== conf.name) continue;
      let k: string;
      try {
        k = attachmentKey(p.containerId, p.ifName);
      } catch {
        continue;
      }
      if (valid.has(k)) continue;
      try {
        await router.detachPod({ containerId: p.containerId, ifName: p.ifName, netns: p.netns }, { timeoutMs: conf.timeoutMs });
      } catch (e) {
        errors.push(routerFailure(e, `detachPod ${k}`));
      }
    }
  } catch (e) {
    errors.push(routerFailure(e, 'GC'));
  } finally {
    router?.close();
  }
  if (errors.length) {
    const first = errors[0];
    throw new CniError(first.code, `GC incomplete: ${first.message}`, errors.map((e) => `${e.message}: ${e.details ?? ''}`).join('; '));
  }
  return undefined;
}
