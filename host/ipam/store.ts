/**
 * Lease store: which address belongs to which attachment, on disk, safe against crashes and
 * against concurrent processes, with no lock.
 *
 * Design notes
 * ------------
 * Layout of `dir` (one directory per CNI network):
 *
 *     leases/<address>        symlink whose target is the owner key "<containerId>:<ifName>"
 *     last_reserved.4 / .6    symlink whose target is the address handed out last (round-robin hint)
 *     .last_reserved.<f>.<pid>.tmp   transient, renamed over last_reserved.<f>
 *
 * A lease is one symlink named by the canonical address. symlink(2) creates the name and its
 * content in one atomic step and fails with EEXIST if the name exists, so:
 * - two processes can never both own an address: exactly one symlink() succeeds; the loser
 *   moves on to the next candidate (no lock file, so no stale lock to detect);
 * - a crash at any point leaves either no lease or a complete one naming its owner; there is
 *   no half-written state to repair;
 * - a lease whose owner died mid-ADD is found by the owner key: a retried ADD of the same
 *   (containerId, ifName) reuses it, DEL releases it, GC releases it if the attachment is not
 *   listed as valid.
 * After creating or removing leases the directory is fsync'ed (`durable`, default on) so an
 * acknowledged ADD/DEL survives power loss. The round-robin hint is a symlink too (created
 * under a per-process temporary name and renamed over: atomic); losing it or reading a stale
 * one is harmless. Symlinks rather than small files also keep the plugin's cold start cheap:
 * one readlink per entry, no open/read/close.
 *
 * Callers must not run two operations for the same key concurrently (CNI guarantees this);
 * operations on different keys may run in any number of processes at once.
 */
import {
  closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync,
} from 'node:fs';
import { type Family, type Ip, formatCidr, formatIp, parseIp } from './addr.ts';
import type { Pool } from './pool.ts';

/** Owner key of a lease: "<containerId>:<ifName>" (a CNI containerId cannot contain ':'). */
export function attachmentKey(containerId: string, ifName: string): string {
  if (!containerId || containerId.includes(':') || containerId.includes('/') || !ifName || ifName.includes('/')) {
    throw new RangeError(`invalid attachment key ${JSON.stringify(containerId)}/${JSON.stringify(ifName)}`);
  }
  return `${containerId}:${ifName}`;
}

export function parseAttachmentKey(key: string): { containerId: string; ifName: string } | null {
  const i = key.indexOf(':');
  if (i <= 0 || i === key.length - 1) return null;
  return { containerId: key.slice(0, i), ifName: key.slice(i + 1) };
}

export interface Lease {
  ip: Ip;
  /** Canonical address text (the file name). */
  address: string;
  /** Owner key, or null for an entry that is not a lease symlink (kept as used, never touched). */
  key: string | null;
}

export class IpamExhausted extends Error {
  override name = 'IpamExhausted';
  constructor(readonly family: Family, readonly pool: string[]) {
    super(`no free IPv${family} address in ${pool.join(', ')}`);
  }
}

/** Points where a test may stop the process to check crash safety. */
export type LeaseStep = 'leased' | 'synced' | 'hinted' | 'unlinked';

export interface LeaseStoreOptions {
  /** fsync the lease directory after changes (default true). */
  durable?: boolean;
  /** Called after each step; tests kill the process here. */
  onStep?: (step: LeaseStep, address: string) => void;
}

export interface PoolUsage {
  family: Family;
  cidrs: string[];
  size: bigint;
  used: bigint;
  free: bigint;
}

export class LeaseStore {
  readonly leasesDir: string;
  private durable: boolean;
  private onStep?: (step: LeaseStep, address: string) => void;

  constructor(readonly dir: string, opts: LeaseStoreOptions = {}) {
    this.leasesDir = `${dir}/leases`;
    this.durable = opts.durable ?? true;
    this.onStep = opts.onStep;
  }

  /** Whether the last scan found the lease directory. */
  private scanFound = false;

  /** All entries of the lease directory (empty if it does not exist yet). */
  scan(): Lease[] {
    let names: string[];
    try {
      names = readdirSync(this.leasesDir);
      this.scanFound = true;
    } catch (e) {
      this.scanFound = false;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: Lease[] = [];
    for (const name of names) {
      const ip = parseIp(name);
      if (!ip || formatIp(ip) !== name) continue; // not ours (editor backup, stray file)
      let key: string | null;
      try {
        key = readlinkSync(`${this.leasesDir}/${name}`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue; // released meanwhile
        if (code !== 'EINVAL') throw e;
        key = null; // a regular file: counts as used, never released by us
      }
      out.push({ ip, address: name, key });
    }
    return out;
  }

  leasesOf(key: string): Lease[] {
    return this.scan().filter((l) => l.key === key);
  }

  /**
   * One address per pool for `key`. Idempotent: an address `key` already holds in a pool is
   * returned again. On failure (IpamExhausted, I/O) the leases created by this call are
   * removed before the error is thrown; leases the key held before stay.
   */
  allocate(key: string, pools: Pool[]): Lease[] {
    const all = this.scan();
    if (!this.scanFound) mkdirSync(this.leasesDir, { recursive: true, mode: 0o755 });
    const used = new Set(all.map((l) => `${l.ip.family}/${l.ip.value}`));
    const result: Lease[] = [];
    const created: Lease[] = [];
    try {
      for (const pool of pools) {
        const held = all.find((l) => l.key === key && pool.contains(l.ip));
        if (held) {
          result.push(held);
          continue;
        }
        const usedInPool = BigInt(all.filter((l) => pool.contains(l.ip)).length);
        const lease = this.take(key, pool, used, usedInPool);
        created.push(lease);
        result.push(lease);
      }
    } catch (e) {
      for (const l of created) this.unlinkOwned(l.address, key);
      if (created.length) this.sync();
      throw e;
    }
    return result;
  }

  /** Remove every lease of `key`; returns them (empty when there were none). */
  release(key: string): Lease[] {
    const mine = this.leasesOf(key);
    let removed = 0;
    for (const l of mine) if (this.unlinkOwned(l.address, key)) removed++;
    if (removed) this.sync();
    return mine;
  }

  /**
   * Release every lease whose key is not in `validKeys` (entries that are not lease symlinks
   * are left alone), and remove temporary files of dead processes. Keeps going after errors.
   */
  gc(validKeys: ReadonlySet<string>): { released: Lease[]; errors: Error[] } {
    const released: Lease[] = [];
    const errors: Error[] = [];
    let leases: Lease[] = [];
    try {
      leases = this.scan();
    } catch (e) {
      errors.push(e as Error);
    }
    for (const l of leases) {
      if (l.key === null || validKeys.has(l.key)) continue;
      try {
        if (this.unlinkOwned(l.address, l.key)) released.push(l);
      } catch (e) {
        errors.push(e as Error);
      }
    }
    if (released.length) this.sync();
    try {
      for (const name of readdirSync(this.dir)) {
        const m = /^\.last_reserved\.[46]\.(\d+)\.tmp$/.exec(name);
        if (m && !pidAlive(Number(m[1]))) unlinkSync(`${this.dir}/${name}`);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') errors.push(e as Error);
    }
    return { released, errors };
  }

  usage(pool: Pool, leases = this.scan()): PoolUsage {
    const used = BigInt(leases.filter((l) => pool.contains(l.ip)).length);
    return { family: pool.family, cidrs: pool.cidrs.map(formatCidr), size: pool.size, used, free: pool.size - used };
  }

  private take(key: string, pool: Pool, used: Set<string>, usedInPool: bigint): Lease {
    const fam = pool.family;
    if (usedInPool >= pool.size) throw new IpamExhausted(fam, pool.cidrs.map(formatCidr));
    let cand = pool.next(this.readHint(fam));
    for (let tried = 0n; tried < pool.size; tried++, cand = pool.next(cand)) {
      const tag = `${fam}/${cand}`;
      if (used.has(tag)) continue;
      const ip: Ip = { family: fam, value: cand };
      const address = formatIp(ip);
      try {
        symlinkSync(key, `${this.leasesDir}/${address}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
          used.add(tag); // taken by a concurrent ADD since our scan
          continue;
        }
        throw e;
      }
      used.add(tag);
      this.onStep?.('leased', address);
      this.sync();
      this.onStep?.('synced', address);
      this.writeHint(fam, address);
      this.onStep?.('hinted', address);
      return { ip, address, key };
    }
    throw new IpamExhausted(fam, pool.cidrs.map(formatCidr));
  }

  /** Unlink `address` if (and only if) it is a lease of `key`. */
  private unlinkOwned(address: string, key: string): boolean {
    const path = `${this.leasesDir}/${address}`;
    try {
      if (readlinkSync(path) !== key) return false;
      unlinkSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL') return false;
      throw e;
    }
    this.onStep?.('unlinked', address);
    return true;
  }

  private readHint(fam: Family): bigint | null {
    try {
      const ip = parseIp(readlinkSync(`${this.dir}/last_reserved.${fam}`));
      return ip && ip.family === fam ? ip.value : null;
    } catch {
      return null; // missing, or not a symlink (e.g. written by hand): start from the beginning
    }
  }

  private writeHint(fam: Family, address: string): void {
    const tmp = `${this.dir}/.last_reserved.${fam}.${process.pid}.tmp`;
    try {
      try {
        symlinkSync(address, tmp);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        unlinkSync(tmp); // left by a crashed process that had our pid
        symlinkSync(address, tmp);
      }
      renameSync(tmp, `${this.dir}/last_reserved.${fam}`);
    } catch {
      // a hint only: allocation stays correct without it
    }
  }

  private sync(): void {
    if (!this.durable) return;
    const fd = openSync(this.leasesDir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
