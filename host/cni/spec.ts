/**
 * CNI specification pieces the plugin needs: versions, error codes, and the Result type with
 * its per-version wire forms (CNI spec 0.3.0 … 1.1.0).
 *
 * Version differences that matter here:
 * - 0.3.x/0.4.0 results carry `ips[].version` ("4"/"6"); 1.0.0 dropped it.
 * - 1.1.0 added `interfaces[].mtu/socketPath/pciID` and `routes[].mtu/advmss/priority/table/scope`.
 * - CHECK exists from 0.4.0; STATUS and GC from 1.1.0.
 */

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Semver-ish compare of "a.b.c" strings; non-numeric parts compare as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Error codes. 1–51 are the spec's; 100+ are Weft's own (documented in docs/CNI.md); 999 is
 * what the reference plugins use for unexpected internal errors.
 */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableLimitedConnectivity: 51,
  /** The router answered an op with an error; details carry its code and message. */
  RouterError: 100,
  /** No free address in a pod CIDR (not transient: it clears only when pods are deleted). */
  IpamExhausted: 101,
  /** CHECK found the attachment differs from prevResult or from IPAM/router state. */
  CheckFailed: 102,
  Internal: 999,
} as const;

export class CniError extends Error {
  override name = 'CniError';
  constructor(readonly code: number, msg: string, readonly details?: string) {
    super(msg);
  }
  toJSON(cniVersion: string): Record<string, unknown> {
    const o: Record<string, unknown> = { cniVersion, code: this.code, msg: this.message };
    if (this.details) o.details = this.details;
    return o;
  }
}

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** netns path for interfaces inside the container; absent for host interfaces. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}
export interface CniIpConfig {
  /** `a.b.c.d/len` or `x::y/len`. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
/** Version-neutral result (the 1.1.0 shape). */
export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

const pick = <T extends object>(o: T, keys: readonly (keyof T)[]): Partial<T> => {
  const out: Partial<T> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
};

/** The wire form of `r` for `version` (fields the version lacks are dropped). */
export function formatResult(r: CniResult, version: CniVersion): Record<string, unknown> {
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const pre1 = compareVersions(version, '1.0.0') < 0;
  const ifKeys: (keyof CniInterface)[] = v11 ? ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] : ['name', 'mac', 'sandbox'];
  const routeKeys: (keyof CniRoute)[] = v11 ? ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] : ['dst', 'gw'];
  const out: Record<string, unknown> = { cniVersion: version };
  out.interfaces = r.interfaces.map((i) => pick(i, ifKeys));
  out.ips = r.ips.map((ip) => {
    const o: Record<string, unknown> = {};
    if (pre1) o.version = ip.address.includes(':') ? '6' : '4';
    o.address = ip.address;
    if (ip.gateway !== undefined) o.gateway = ip.gateway;
    if (ip.interface !== undefined) o.interface = ip.interface;
    return o;
  });
  out.routes = r.routes.map((rt) => pick(rt, routeKeys));
  out.dns = pick(r.dns, ['nameservers', 'domain', 'search', 'options']);
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const optNum = (v: unknown): v is number | undefined => v === undefined || (typeof v === 'number' && Number.isFinite(v));
const strArr = (v: unknown): v is string[] | undefined => v === undefined || (Array.isArray(v) && v.every((s) => typeof s === 'string'));

/**
 * Parse a result of any supported version (a prevResult). Throws CniError 7 naming the
 * offending field.
 */
export function parseResult(raw: unknown, field = 'prevResult'): CniResult {
  const bad = (what: string) => new CniError(ErrorCode.InvalidNetworkConfig, `invalid ${field}`, what);
  if (!isObj(raw)) throw bad('not an object');
  const interfaces: CniInterface[] = [];
  if (raw.interfaces !== undefined) {
    if (!Array.isArray(raw.interfaces)) throw bad('interfaces must be an array');
    raw.interfaces.forEach((i, n) => {
      if (!isObj(i) || typeof i.name !== 'string' || !optStr(i.mac) || !optStr(i.sandbox) || !optNum(i.mtu)) {
        throw bad(`interfaces[${n}] must have a string name and optional string mac/sandbox`);
      }
      const o: CniInterface = { name: i.name };
      if (i.mac !== undefined) o.mac = i.mac as string;
      if (i.mtu !== undefined) o.mtu = i.mtu as number;
      if (i.sandbox !== undefined) o.sandbox = i.sandbox as string;
      if (typeof i.socketPath === 'string') o.socketPath = i.socketPath;
      if (typeof i.pciID === 'string') o.pciID = i.pciID;
      interfaces.push(o);
    });
  }
  const ips: CniIpConfig[] = [];
  if (raw.ips !== undefined) {
    if (!Array.isArray(raw.ips)) throw bad('ips must be an array');
    raw.ips.forEach((ip, n) => {
      if (!isObj(ip) || typeof ip.address !== 'string' || !optStr(ip.gateway) || !optNum(ip.interface)) {
        throw bad(`ips[${n}] must have a string address, optional string gateway, optional numeric interface`);
      }
      if (ip.interface !== undefined && (!Number.isInteger(ip.interface) || (ip.interface as number) < 0 || (ip.interface as number) >= interfaces.length)) {
        throw bad(`ips[${n}].interface ${ip.interface} does not index interfaces`);
      }
      const o: CniIpConfig = { address: ip.address };
      if (ip.gateway !== undefined) o.gateway = ip.gateway as string;
      if (ip.interface !== undefined) o.interface = ip.interface as number;
      ips.push(o);
    });
  }
  const routes: CniRoute[] = [];
  if (raw.routes !== undefined) {
    if (!Array.isArray(raw.routes)) throw bad('routes must be an array');
    raw.routes.forEach((rt, n) => {
      if (!isObj(rt) || typeof rt.dst !== 'string' || !optStr(rt.gw)) throw bad(`routes[${n}] must have a string dst and optional string gw`);
      const o: CniRoute = { dst: rt.dst };
      if (rt.gw !== undefined) o.gw = rt.gw as string;
      for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (typeof rt[k] === 'number') o[k] = rt[k] as number;
      routes.push(o);
    });
  }
  let dns: CniDns = {};
  if (raw.dns !== undefined) {
    const d = raw.dns;
    if (!isObj(d) || !strArr(d.nameservers) || !optStr(d.domain) || !strArr(d.search) || !strArr(d.options)) {
      throw bad('dns must be {nameservers?, domain?, search?, options?}');
    }
    dns = pick(d as CniDns, ['nameservers', 'domain', 'search', 'options']);
  }
  return { interfaces, ips, routes, dns };
}
