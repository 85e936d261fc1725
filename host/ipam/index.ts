/**
 * Weft IPAM: node-local address leases for pod attachments, one IPv4 and/or one IPv6 address
 * per (containerId, ifName), allocated round-robin from the node's pod CIDRs. See store.ts
 * for the on-disk design (lock-free, crash-safe) and docs/CNI.md for the operator's view.
 */
import { type Cidr, type Family, formatCidr, parseCidr } from './addr.ts';
import { Pool } from './pool.ts';

export * from './addr.ts';
export { Pool } from './pool.ts';
export * from './store.ts';

/**
 * Pools from pod CIDR strings: one pool per family, IPv4 first, prefixes in the given order.
 * Throws RangeError naming the bad entry (invalid, host bits set, overlapping, too small).
 */
export function poolsFromCidrs(cidrs: readonly string[]): Pool[] {
  const byFamily = new Map<Family, Cidr[]>();
  for (const s of cidrs) {
    const c = parseCidr(s, false);
    if (!c) throw new RangeError(`${JSON.stringify(s)} is not a CIDR`);
    if (formatCidr(c) !== s && parseCidr(s, true) === null) throw new RangeError(`${s} has host bits set (did you mean ${formatCidr(c)}?)`);
    const list = byFamily.get(c.family) ?? [];
    list.push(c);
    byFamily.set(c.family, list);
  }
  const out: Pool[] = [];
  for (const f of [4, 6] as const) {
    const list = byFamily.get(f);
    if (list) out.push(new Pool(list));
  }
  return out;
}
