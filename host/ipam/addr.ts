/**
 * IP addresses and prefixes as (family, bigint) values, with strict parsing and canonical
 * formatting (dotted quad; RFC 5952 for IPv6). Used by IPAM and the CNI plugin; kept free of
 * imports so the plugin bundle stays small.
 */

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  /** Address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** Network address (host bits zero). */
  network: bigint;
  prefix: number;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

const V4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!V4_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (s.length < 2 || s.length > 45) return null;
  let tail = s;
  let v4tail: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    v4tail = parseV4(s.slice(lastColon + 1));
    if (v4tail === null) return null;
    // the dotted quad stands for the last two groups: parse with a placeholder, patch below
    tail = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = tail.indexOf('::');
  if (dbl !== -1 && tail.indexOf('::', dbl + 1) !== -1) return null;
  let groups: string[];
  if (dbl === -1) {
    groups = tail.split(':');
    if (groups.length !== 8) return null;
  } else {
    const head = tail.slice(0, dbl);
    const rest = tail.slice(dbl + 2);
    const h = head === '' ? [] : head.split(':');
    const r = rest === '' ? [] : rest.split(':');
    const missing = 8 - h.length - r.length;
    if (missing < 1) return null;
    groups = [...h, ...new Array<string>(missing).fill('0'), ...r];
  }
  let v = 0n;
  for (const g of groups) {
    if (!V6_GROUP.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (v4tail !== null) v = (v & ~0xffffffffn) | v4tail;
  return v;
}

/** Parse an IPv4 or IPv6 address (no prefix, no zone). Returns null if invalid. */
export function parseIp(s: string): Ip | null {
  if (typeof s !== 'string') return null;
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === null ? null : { family: 4, value: v };
}

export function formatIp(ip: Ip): string {
  const { family, value } = ip;
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((sh) => String((value >> sh) & 0xffn)).join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // longest run of zero groups (length ≥ 2), first on ties (RFC 5952 §4.2)
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart === -1) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Canonical text of an address string, or null if invalid. */
export function canonicalIp(s: string): string | null {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : null;
}

/** Parse `addr/len`. With `strict`, host bits must be zero. Returns null if invalid. */
export function parseCidr(s: string, strict = true): Cidr | null {
  const p = parseIpWithPrefix(s);
  if (!p) return null;
  const { ip, prefix } = p;
  const network = ip.value & maskOf(ip.family, prefix);
  if (strict && network !== ip.value) return null;
  return { family: ip.family, network, prefix };
}

/** Parse `addr/len` keeping the address (interface-address form). */
export function parseIpWithPrefix(s: string): { ip: Ip; prefix: number } | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash === -1) return null;
  const ip = parseIp(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return null;
  const prefix = Number(lenText);
  if (prefix > bitsOf(ip.family)) return null;
  return { ip, prefix };
}

export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

/** Last address of the prefix (the IPv4 broadcast address). */
export function lastOf(c: Cidr): bigint {
  return c.network | (~maskOf(c.family, c.prefix) & ((1n << BigInt(bitsOf(c.family))) - 1n));
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return ip.family === c.family && (ip.value & maskOf(c.family, c.prefix)) === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(a.family, p);
  return (a.network & m) === (b.network & m);
}

/** The pod gateway of a pod CIDR: its first address after the network address. */
export function gatewayOf(c: Cidr): Ip {
  return { family: c.family, value: c.network + 1n };
}

/** Canonical MAC text (lower case, colon separated) or null if invalid. */
export function canonicalMac(s: string): string | null {
  if (typeof s !== 'string' || !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s)) return null;
  return s.toLowerCase().replace(/-/g, ':');
}
