/**
 * An address pool of one family: an ordered list of prefixes (a node's pod CIDRs of that
 * family) walked round-robin. Reserved in every prefix: the network address, the gateway
 * (network + 1) and, for IPv4, the broadcast address.
 */
import { type Cidr, type Family, type Ip, cidrsOverlap, formatCidr, lastOf } from './addr.ts';

interface Range {
  cidr: Cidr;
  /** First and last allocatable addresses (inclusive). */
  first: bigint;
  last: bigint;
}

export class Pool {
  readonly family: Family;
  private ranges: Range[];
  /** Number of allocatable addresses. */
  readonly size: bigint;

  /** Throws RangeError on an empty list, mixed families, overlaps or a prefix too small. */
  constructor(cidrs: Cidr[]) {
    if (cidrs.length === 0) throw new RangeError('pool needs at least one prefix');
    this.family = cidrs[0].family;
    this.ranges = cidrs.map((c, i) => {
      if (c.family !== this.family) throw new RangeError('pool prefixes must share one address family');
      for (let j = 0; j < i; j++) {
        if (cidrsOverlap(c, cidrs[j])) throw new RangeError(`${formatCidr(c)} overlaps ${formatCidr(cidrs[j])}`);
      }
      const first = c.network + 2n;
      const last = c.family === 4 ? lastOf(c) - 1n : lastOf(c);
      if (last < first) {
        throw new RangeError(`${formatCidr(c)} has no allocatable address (need /${c.family === 4 ? 30 : 126} or larger)`);
      }
      return { cidr: c, first, last };
    });
    this.size = this.ranges.reduce((n, r) => n + (r.last - r.first + 1n), 0n);
  }

  get cidrs(): Cidr[] {
    return this.ranges.map((r) => r.cidr);
  }

  contains(ip: Ip): boolean {
    return ip.family === this.family && this.rangeIndex(ip.value) !== -1;
  }

  /** The prefix an allocatable address belongs to. */
  cidrOf(ip: Ip): Cidr | null {
    if (ip.family !== this.family) return null;
    const i = this.rangeIndex(ip.value);
    return i === -1 ? null : this.ranges[i].cidr;
  }

  /**
   * The allocatable address after `prev` in round-robin order; with `prev` null or outside the
   * pool, the first address of the first prefix.
   */
  next(prev: bigint | null): bigint {
    const i = prev === null ? -1 : this.rangeIndex(prev);
    if (i === -1) return this.ranges[0].first;
    if (prev! < this.ranges[i].last) return prev! + 1n;
    return this.ranges[(i + 1) % this.ranges.length].first;
  }

  private rangeIndex(v: bigint): number {
    for (let i = 0; i < this.ranges.length; i++) {
      const r = this.ranges[i];
      if (v >= r.first && v <= r.last) return i;
    }
    return -1;
  }
}
