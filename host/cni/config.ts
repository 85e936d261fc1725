/**
 * The plugin's inputs: CNI_* environment variables and the network configuration on stdin,
 * validated into typed values. Every rejection is a CniError with the spec's code:
 * 4 for environment problems (naming the variables), 6 for undecodable JSON, 1 for an
 * unsupported cniVersion or a verb the config's version lacks, 7 for a missing or ill-typed
 * field, 2 for a field Weft does not support (naming key and value).
 */
import { type CniDns, type CniVersion, CniError, ErrorCode, SUPPORTED_VERSIONS, compareVersions, isSupportedVersion } from './spec.ts';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

export const DEFAULT_SOCKET = '/run/weft/weft.sock';
export const DEFAULT_DATA_ROOT = '/var/lib/weft/ipam';

export interface CniEnv {
  command: CniCommand;
  /** Empty for VERSION/STATUS/GC. */
  containerId: string;
  /** Empty when not given (allowed on DEL). */
  netns: string;
  ifName: string;
  /** Parsed CNI_ARGS (`K=V;K=V`). */
  args: Record<string, string>;
  path: string;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const KNOWN_CNI_ARGS = new Set(['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

/** `undefined` when CNI_COMMAND is absent (the caller prints the about text). */
export function commandOf(env: NodeJS.ProcessEnv): CniCommand | undefined {
  const c = env.CNI_COMMAND;
  if (c === undefined || c === '') return undefined;
  if (!COMMANDS.includes(c)) throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${c}`);
  return c as CniCommand;
}

/** Interface-name rules of the spec (and of Linux): 1–15 bytes, not . or .., no / : or space. */
export function ifNameProblem(name: string): string | null {
  if (name.length === 0) return 'interface name is empty';
  if (Buffer.byteLength(name) > 15) return 'interface name is too long';
  if (name === '.' || name === '..') return 'interface name is . or ..';
  if (/[/:\s]/.test(name)) return 'interface name contains / or : or whitespace';
  return null;
}

export function readEnv(env: NodeJS.ProcessEnv, command: CniCommand): CniEnv {
  const need: string[] = [];
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') need.push('CNI_CONTAINERID');
  if (command === 'ADD' || command === 'CHECK') need.push('CNI_NETNS');
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') need.push('CNI_IFNAME');
  const missing = need.filter((k) => !env[k]);
  if (missing.length) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(' ')}] missing`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifName = env.CNI_IFNAME ?? '';
  const netns = env.CNI_NETNS ?? '';
  if (need.includes('CNI_CONTAINERID') && !CONTAINER_ID.test(containerId)) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'invalid characters in containerID', containerId);
  }
  if (need.includes('CNI_IFNAME')) {
    const p = ifNameProblem(ifName);
    if (p) throw new CniError(ErrorCode.InvalidEnvironment, p, `CNI_IFNAME=${ifName}`);
  }
  if (netns && !netns.startsWith('/')) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'CNI_NETNS must be an absolute path', netns);
  }
  return { command, containerId, netns, ifName, args: parseCniArgs(env.CNI_ARGS ?? ''), path: env.CNI_PATH ?? '' };
}

/**
 * CNI_ARGS: `K=V` pairs separated by `;`. Keys Weft knows are kept; unknown keys are an error
 * unless `IgnoreUnknown` is 1/true (what Kubernetes runtimes send).
 */
export function parseCniArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (s === '') return out;
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(ErrorCode.InvalidEnvironment, 'invalid CNI_ARGS pair', pair);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const ignoreUnknown = /^(1|true)$/i.test(out.IgnoreUnknown ?? '');
  if (!ignoreUnknown) {
    const unknown = Object.keys(out).filter((k) => !KNOWN_CNI_ARGS.has(k));
    if (unknown.length) {
      throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_ARGS: ${unknown.join(', ')}`, 'set IgnoreUnknown=1 to ignore them');
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// network configuration
// ---------------------------------------------------------------------------------------------

export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

export interface WeftNetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Router control socket. */
  socket: string;
  /** Pod CIDRs from the config; absent = ask the router (`status`). */
  podCIDRs?: string[];
  /** Lease directory of this network. */
  dataDir: string;
  mtu?: number;
  /** Deadline of one router call in ms. */
  timeoutMs: number;
  dns: CniDns;
  /** Raw prevResult (parsed by the verbs that use it). */
  prevResult?: unknown;
  /** GC: attachments to keep (from `cni.dev/valid-attachments` or `cni.dev/attachments`). */
  validAttachments?: ValidAttachment[];
}

/** Fields Weft reads or tolerates; anything else is rejected with code 2. */
const KNOWN_FIELDS = new Set([
  'cniVersion', 'cniVersions', 'name', 'type', 'prevResult', 'runtimeConfig', 'args', 'capabilities', 'dns',
  'ipMasq', 'ipam', 'disableCheck', 'disableGC', 'socket', 'cniSocket', 'podCIDRs', 'dataDir', 'mtu', 'timeoutMs',
]);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
};
const invalid = (msg: string, details?: string) => new CniError(ErrorCode.InvalidNetworkConfig, msg, details);

/** Decode stdin; code 6 on bad JSON or a non-object. */
export function decodeConfig(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(ErrorCode.DecodeFailure, 'failed to decode network configuration', (e as Error).message);
  }
  if (!isObj(raw)) throw new CniError(ErrorCode.DecodeFailure, 'network configuration must be a JSON object');
  return raw;
}

/** The config's cniVersion, checked against ours (a missing one means 0.1.0, per the spec). */
export function versionOf(raw: Record<string, unknown>): CniVersion {
  const v = raw.cniVersion === undefined ? '0.1.0' : raw.cniVersion;
  if (!isSupportedVersion(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion, 'incompatible CNI versions',
      `config is ${show(v)}, plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`,
    );
  }
  return v;
}

export function parseConfig(raw: Record<string, unknown>, command: CniCommand): WeftNetConf {
  const cniVersion = versionOf(raw);
  const minimum = command === 'CHECK' ? '0.4.0' : command === 'STATUS' || command === 'GC' ? '1.1.0' : null;
  if (minimum && compareVersions(cniVersion, minimum) < 0) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${command}`, `config is ${cniVersion}, ${command} needs ${minimum} or later`);
  }

  if (raw.name === undefined || raw.name === '') throw invalid('missing network name');
  if (typeof raw.name !== 'string' || !NETWORK_NAME.test(raw.name)) throw invalid('invalid network name', show(raw.name));
  if (raw.type === undefined || raw.type === '') throw invalid('missing type');
  if (typeof raw.type !== 'string') throw invalid('type must be a string', show(raw.type));

  for (const [k, v] of Object.entries(raw)) {
    if (!KNOWN_FIELDS.has(k) && !k.startsWith('cni.dev/')) {
      throw new CniError(ErrorCode.UnsupportedField, `unsupported field in network config: ${k}`, `${k}=${show(v)}`);
    }
  }
  if (raw.ipam !== undefined) {
    if (!isObj(raw.ipam)) throw invalid('ipam must be an object', show(raw.ipam));
    const keys = Object.keys(raw.ipam);
    if (keys.length) {
      throw new CniError(
        ErrorCode.UnsupportedField, `unsupported field in network config: ipam.${keys[0]}`,
        `ipam.${keys[0]}=${show(raw.ipam[keys[0]])}: weft has built-in IPAM, configure podCIDRs instead`,
      );
    }
  }
  if (raw.ipMasq !== undefined && raw.ipMasq !== false) {
    if (typeof raw.ipMasq !== 'boolean') throw invalid('ipMasq must be a boolean', show(raw.ipMasq));
    throw new CniError(ErrorCode.UnsupportedField, 'unsupported field in network config: ipMasq', 'ipMasq=true: masquerading is the router\'s job');
  }
  for (const k of ['disableCheck', 'disableGC'] as const) {
    if (raw[k] !== undefined && typeof raw[k] !== 'boolean') throw invalid(`${k} must be a boolean`, show(raw[k]));
  }
  if (raw.cniVersions !== undefined && (!Array.isArray(raw.cniVersions) || !raw.cniVersions.every((x) => typeof x === 'string'))) {
    throw invalid('cniVersions must be an array of strings', show(raw.cniVersions));
  }
  if (raw.runtimeConfig !== undefined && !isObj(raw.runtimeConfig)) throw invalid('runtimeConfig must be an object', show(raw.runtimeConfig));
  if (raw.args !== undefined && !isObj(raw.args)) throw invalid('args must be an object', show(raw.args));

  const socket = raw.socket ?? DEFAULT_SOCKET;
  if (typeof socket !== 'string' || !socket.startsWith('/')) throw invalid('socket must be an absolute path', show(raw.socket));
  // read by the native shim only (host/cni-shim); checked here so a bad value fails loudly
  if (raw.cniSocket !== undefined && (typeof raw.cniSocket !== 'string' || !raw.cniSocket.startsWith('/'))) {
    throw invalid('cniSocket must be an absolute path', show(raw.cniSocket));
  }
  const dataDir = raw.dataDir ?? `${DEFAULT_DATA_ROOT}/${raw.name}`;
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) throw invalid('dataDir must be an absolute path', show(raw.dataDir));

  let podCIDRs: string[] | undefined;
  if (raw.podCIDRs !== undefined) {
    if (!Array.isArray(raw.podCIDRs) || raw.podCIDRs.length === 0 || !raw.podCIDRs.every((c) => typeof c === 'string')) {
      throw invalid('podCIDRs must be a non-empty array of CIDR strings', show(raw.podCIDRs));
    }
    podCIDRs = raw.podCIDRs as string[];
  }
  let mtu: number | undefined;
  if (raw.mtu !== undefined) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < 576 || raw.mtu > 65535) {
      throw invalid('mtu must be an integer from 576 to 65535', show(raw.mtu));
    }
    mtu = raw.mtu;
  }
  let timeoutMs = 30000;
  if (raw.timeoutMs !== undefined) {
    if (typeof raw.timeoutMs !== 'number' || !Number.isInteger(raw.timeoutMs) || raw.timeoutMs < 100 || raw.timeoutMs > 600000) {
      throw invalid('timeoutMs must be an integer from 100 to 600000', show(raw.timeoutMs));
    }
    timeoutMs = raw.timeoutMs;
  }
  let dns: CniDns = {};
  if (raw.dns !== undefined) {
    const d = raw.dns;
    const strs = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
    if (!isObj(d) || !strs(d.nameservers) || !strs(d.search) || !strs(d.options) || (d.domain !== undefined && typeof d.domain !== 'string')) {
      throw invalid('dns must be {nameservers?: string[], domain?: string, search?: string[], options?: string[]}', show(d));
    }
    dns = {};
    if (d.nameservers) dns.nameservers = d.nameservers as string[];
    if (d.domain !== undefined) dns.domain = d.domain as string;
    if (d.search) dns.search = d.search as string[];
    if (d.options) dns.options = d.options as string[];
  }

  let validAttachments: ValidAttachment[] | undefined;
  const va = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (va !== undefined) {
    if (!Array.isArray(va) || !va.every((a) => isObj(a) && typeof a.containerID === 'string' && typeof a.ifname === 'string')) {
      throw invalid('cni.dev/valid-attachments must be an array of {containerID, ifname}', show(va));
    }
    validAttachments = (va as ValidAttachment[]).map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
  }

  return {
    cniVersion, name: raw.name, type: raw.type, socket, podCIDRs, dataDir, mtu, timeoutMs, dns,
    prevResult: raw.prevResult ?? undefined, validAttachments,
  };
}
