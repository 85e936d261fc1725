/**
 * IPAM: address parsing/formatting, pools, the lease store, crash safety (processes killed at
 * each step of an allocation or release, and at random), and 50 concurrent processes.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IpamExhausted, LeaseStore, Pool, attachmentKey, canonicalIp, canonicalMac, cidrContains, formatCidr, formatIp,
  gatewayOf, parseAttachmentKey, parseCidr, parseIp, poolsFromCidrs,
} from '../host/ipam/index.ts';

let root: string;
let n = 0;
const freshDir = () => join(root, `store-${n++}`);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'weft-ipam-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('addresses', () => {
  it('parses and formats IPv4 strictly', () => {
    expect(formatIp(parseIp('10.1.2.3')!)).toBe('10.1.2.3');
    expect(parseIp('255.255.255.255')!.value).toBe(0xffffffffn);
    for (const bad of ['10.1.2', '10.1.2.3.4', '256.1.1.1', '01.1.1.1', '1.1.1.-1', '1..1.1', ' 1.1.1.1', '1.1.1.1/24', 'a.b.c.d', '']) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });

  it('parses IPv6 in all forms and formats per RFC 5952', () => {
    const cases: [string, string][] = [
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first longest run
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run wins
      ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'], // no :: for a single zero group
      ['fd00:0010:0244:0001::0005', 'fd00:10:244:1::5'],
      ['::ffff:10.1.2.3', '::ffff:a01:203'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ];
    for (const [input, want] of cases) expect(canonicalIp(input), input).toBe(want);
    for (const bad of [':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '::1%eth0', '1:2:3:4:5:6:7', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4']) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });

  it('round-trips random IPv6 values through text', () => {
    for (let i = 0; i < 2000; i++) {
      let v = 0n;
      for (let g = 0; g < 8; g++) v = (v << 16n) | BigInt(Math.random() < 0.4 ? 0 : Math.floor(Math.random() * 65536));
      const text = formatIp({ family: 6, value: v });
      expect(parseIp(text)).toEqual({ family: 6, value: v });
    }
  });

  it('handles CIDRs, gateways and MACs', () => {
    expect(parseCidr('10.244.1.0/24')).toEqual({ family: 4, network: 0x0af40100n, prefix: 24 });
    expect(parseCidr('10.244.1.5/24')).toBeNull();
    expect(parseCidr('10.244.1.5/24', false)).toMatchObject({ network: 0x0af40100n });
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('fd00::/129')).toBeNull();
    expect(parseCidr('10.0.0.0/024')).toBeNull();
    expect(formatCidr(parseCidr('fd00:10::/64')!)).toBe('fd00:10::/64');
    expect(formatIp(gatewayOf(parseCidr('fd00:10::/64')!))).toBe('fd00:10::1');
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseIp('10.9.9.9')!)).toBe(true);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseIp('11.0.0.0')!)).toBe(false);
    expect(canonicalMac('0A-58-0A-00-00-01')).toBe('0a:58:0a:00:00:01');
    expect(canonicalMac('0a:58:0a:00:00')).toBeNull();
  });

  it('builds and parses attachment keys', () => {
    expect(attachmentKey('abc', 'eth0')).toBe('abc:eth0');
    expect(parseAttachmentKey('abc:eth0')).toEqual({ containerId: 'abc', ifName: 'eth0' });
    expect(() => attachmentKey('a:b', 'eth0')).toThrow(RangeError);
    expect(() => attachmentKey('', 'eth0')).toThrow(RangeError);
    expect(parseAttachmentKey('nocolon')).toBeNull();
  });
});

describe('Pool', () => {
  it('reserves network, gateway and broadcast; walks round-robin across prefixes', () => {
    const p = new Pool([parseCidr('10.0.0.0/30')!, parseCidr('10.0.1.0/29')!]);
    expect(p.size).toBe(1n + 5n);
    const seen: string[] = [];
    let cur: bigint | null = null;
    for (let i = 0; i < 7; i++) {
      cur = p.next(cur);
      seen.push(formatIp({ family: 4, value: cur }));
    }
    expect(seen).toEqual(['10.0.0.2', '10.0.1.2', '10.0.1.3', '10.0.1.4', '10.0.1.5', '10.0.1.6', '10.0.0.2']);
    expect(p.contains(parseIp('10.0.0.1')!)).toBe(false);
    expect(p.contains(parseIp('10.0.1.7')!)).toBe(false);
    expect(p.next(parseIp('192.168.0.1')!.value)).toBe(parseIp('10.0.0.2')!.value);
  });

  it('keeps the last IPv6 address and starts after the gateway', () => {
    const p = new Pool([parseCidr('fd00::/126')!]);
    expect(p.size).toBe(2n);
    expect(formatIp({ family: 6, value: p.next(null) })).toBe('fd00::2');
    expect(formatIp({ family: 6, value: p.next(p.next(null)) })).toBe('fd00::3');
  });

  it('rejects bad pools', () => {
    expect(() => new Pool([])).toThrow(RangeError);
    expect(() => new Pool([parseCidr('10.0.0.0/31')!])).toThrow(/no allocatable/);
    expect(() => new Pool([parseCidr('fd00::/127')!])).toThrow(/no allocatable/);
    expect(() => new Pool([parseCidr('10.0.0.0/24')!, parseCidr('10.0.0.128/25')!])).toThrow(/overlaps/);
    expect(() => new Pool([parseCidr('10.0.0.0/24')!, parseCidr('fd00::/64')!])).toThrow(/family/);
    expect(() => poolsFromCidrs(['10.0.0.1/24'])).toThrow(/host bits/);
    expect(() => poolsFromCidrs(['bogus'])).toThrow(/not a CIDR/);
    expect(poolsFromCidrs(['fd00::/64', '10.0.0.0/24']).map((p) => p.family)).toEqual([4, 6]);
  });
});

describe('LeaseStore', () => {
  const dual = () => poolsFromCidrs(['10.20.0.0/24', 'fd00:20::/64']);

  it('leases one address per family as symlinks naming the owner', () => {
    const dir = freshDir();
    const s = new LeaseStore(dir);
    const l = s.allocate('c1:eth0', dual());
    expect(l.map((x) => x.address)).toEqual(['10.20.0.2', 'fd00:20::2']);
    expect(readlinkSync(join(dir, 'leases', '10.20.0.2'))).toBe('c1:eth0');
    expect(lstatSync(join(dir, 'leases', 'fd00:20::2')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'last_reserved.4'))).toBe('10.20.0.2');
    expect(s.leasesOf('c1:eth0')).toHaveLength(2);
  });

  it('is idempotent per key and keys by containerId and ifName', () => {
    const s = new LeaseStore(freshDir());
    const a = s.allocate('c1:eth0', dual());
    expect(s.allocate('c1:eth0', dual())).toEqual(a);
    const b = s.allocate('c1:net1', dual());
    expect(b[0].address).not.toBe(a[0].address);
    expect(s.scan()).toHaveLength(4);
  });

  it('allocates round-robin from the last reserved address, not the lowest free one', () => {
    const s = new LeaseStore(freshDir());
    const pools = poolsFromCidrs(['10.21.0.0/29']); // .2 .. .6
    expect(s.allocate('a:eth0', pools)[0].address).toBe('10.21.0.2');
    expect(s.allocate('b:eth0', pools)[0].address).toBe('10.21.0.3');
    s.release('a:eth0');
    expect(s.allocate('c:eth0', pools)[0].address).toBe('10.21.0.4');
    expect(s.allocate('d:eth0', pools)[0].address).toBe('10.21.0.5');
    expect(s.allocate('e:eth0', pools)[0].address).toBe('10.21.0.6');
    expect(s.allocate('f:eth0', pools)[0].address).toBe('10.21.0.2'); // wrapped, .2 was freed
  });

  it('reports exhaustion clearly and rolls back the other family', () => {
    const dir = freshDir();
    const s = new LeaseStore(dir);
    const pools = poolsFromCidrs(['10.22.0.0/24', 'fd00:22::/126']); // 2 IPv6 addresses
    s.allocate('a:eth0', pools);
    s.allocate('b:eth0', pools);
    const err = (() => {
      try {
        s.allocate('c:eth0', pools);
      } catch (e) {
        return e;
      }
    })() as IpamExhausted;
    expect(err).toBeInstanceOf(IpamExhausted);
    expect(err.family).toBe(6);
    expect(err.message).toBe('no free IPv6 address in fd00:22::/126');
    expect(s.leasesOf('c:eth0')).toEqual([]); // the IPv4 lease taken first was released
    expect(s.usage(pools[1])).toMatchObject({ size: 2n, used: 2n, free: 0n });
    expect(s.usage(pools[0])).toMatchObject({ used: 2n, free: 251n });
  });

  it('keeps leases a key held before a failed call', () => {
    const s = new LeaseStore(freshDir());
    const v4 = poolsFromCidrs(['10.23.0.0/24']);
    const dualTight = poolsFromCidrs(['10.23.0.0/24', 'fd00:23::/126']);
    s.allocate('x:eth0', poolsFromCidrs(['fd00:23::/126']));
    s.allocate('y:eth0', poolsFromCidrs(['fd00:23::/126']));
    const held = s.allocate('k:eth0', v4);
    expect(() => s.allocate('k:eth0', dualTight)).toThrow(IpamExhausted);
    expect(s.leasesOf('k:eth0')).toEqual(held);
  });

  it('skips addresses taken since its scan (EEXIST) and foreign entries', () => {
    const dir = freshDir();
    const s = new LeaseStore(dir);
    mkdirSync(join(dir, 'leases'), { recursive: true });
    writeFileSync(join(dir, 'leases', '10.24.0.2'), 'not a symlink');
    writeFileSync(join(dir, 'leases', 'README'), 'ignored');
    symlinkSync('other:eth0', join(dir, 'leases', '10.24.0.3'));
    expect(s.allocate('me:eth0', poolsFromCidrs(['10.24.0.0/24']))[0].address).toBe('10.24.0.4');
    expect(s.gc(new Set()).released.map((l) => l.address).sort()).toEqual(['10.24.0.3', '10.24.0.4']);
    expect(existsSync(join(dir, 'leases', '10.24.0.2'))).toBe(true); // never touched
  });

  it('survives a corrupt or missing round-robin hint', () => {
    const dir = freshDir();
    const s = new LeaseStore(dir, { durable: false });
    s.allocate('a:eth0', poolsFromCidrs(['10.25.0.0/24']));
    const hint = join(dir, 'last_reserved.4');
    rmSync(hint);
    symlinkSync('garbage', hint); // unparsable: start from the first address (taken: skip it)
    expect(s.allocate('b:eth0', poolsFromCidrs(['10.25.0.0/24']))[0].address).toBe('10.25.0.3');
    rmSync(hint);
    symlinkSync('fd00::1', hint); // other family
    expect(s.allocate('c:eth0', poolsFromCidrs(['10.25.0.0/24']))[0].address).toBe('10.25.0.4');
    rmSync(hint);
    writeFileSync(hint, '10.25.0.100\n'); // a regular file (hand-written): ignored, then replaced
    expect(s.allocate('d:eth0', poolsFromCidrs(['10.25.0.0/24']))[0].address).toBe('10.25.0.5');
    expect(readlinkSync(hint)).toBe('10.25.0.5');
    rmSync(hint);
    expect(s.allocate('e:eth0', poolsFromCidrs(['10.25.0.0/24']))[0].address).toBe('10.25.0.6');
    symlinkSync('10.25.0.9', join(dir, `.last_reserved.4.${process.pid}.tmp`)); // stale temp with our pid
    expect(s.allocate('f:eth0', poolsFromCidrs(['10.25.0.0/24']))[0].address).toBe('10.25.0.7');
    expect(readlinkSync(hint)).toBe('10.25.0.7');
  });

  it('release is idempotent and only touches the key', () => {
    const s = new LeaseStore(freshDir());
    s.allocate('a:eth0', dual());
    s.allocate('b:eth0', dual());
    expect(s.release('a:eth0')).toHaveLength(2);
    expect(s.release('a:eth0')).toEqual([]);
    expect(s.release('never:eth0')).toEqual([]);
    expect(s.scan().map((l) => l.key)).toEqual(['b:eth0', 'b:eth0']);
    expect(new LeaseStore(freshDir()).release('a:eth0')).toEqual([]); // no directory at all
  });

  it('gc keeps valid attachments and removes stale temp files of dead processes', () => {
    const dir = freshDir();
    const s = new LeaseStore(dir);
    s.allocate('keep:eth0', dual());
    s.allocate('drop:eth0', dual());
    writeFileSync(join(dir, '.last_reserved.4.999999999.tmp'), 'x');
    writeFileSync(join(dir, `.last_reserved.4.${process.pid}.tmp`), 'x');
    const { released, errors } = s.gc(new Set(['keep:eth0']));
    expect(errors).toEqual([]);
    expect(released.map((l) => l.key)).toEqual(['drop:eth0', 'drop:eth0']);
    expect(s.scan().every((l) => l.key === 'keep:eth0')).toBe(true);
    expect(existsSync(join(dir, '.last_reserved.4.999999999.tmp'))).toBe(false);
    expect(existsSync(join(dir, `.last_reserved.4.${process.pid}.tmp`))).toBe(true);
  });

  it('allocates from huge IPv6 pools without walking them', () => {
    const s = new LeaseStore(freshDir(), { durable: false });
    const pools = poolsFromCidrs(['fd00:99::/48']);
    for (let i = 0; i < 20; i++) s.allocate(`k${i}:eth0`, pools);
    expect(s.usage(pools[0]).free).toBe(2n ** 80n - 2n - 20n);
  });
});

// ---------------------------------------------------------------------------------------------
// multi-process: crash points, random kills, 50 concurrent allocators
// ---------------------------------------------------------------------------------------------

let bundle: string;
beforeAll(async () => {
  const { build } = await import('esbuild');
  bundle = join(root, 'ipam.cjs');
  await build({
    entryPoints: [fileURLToPath(new URL('../host/ipam/index.ts', import.meta.url))],
    bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: bundle, logLevel: 'silent',
  });
});

/** A worker process: one IPAM operation (or a churn loop), optionally SIGKILLing itself at a step. */
const WORKER = `
const ipam = require(process.env.BUNDLE);
const pools = ipam.poolsFromCidrs(JSON.parse(process.env.CIDRS));
const [crashStep, crashNth] = (process.env.CRASH || ':0').split(':');
let seen = 0;
const store = new ipam.LeaseStore(process.env.DIR, {
  onStep: (step) => { if (step === crashStep && ++seen === Number(crashNth)) process.kill(process.pid, 'SIGKILL'); },
});
const out = (o) => process.stdout.write(JSON.stringify(o));
const mode = process.env.MODE;
if (mode === 'alloc') {
  try { out({ ok: true, addrs: store.allocate(process.env.KEY, pools).map((l) => l.address) }); }
  catch (e) { out({ ok: false, name: e.name, msg: e.message }); }
} else if (mode === 'release') {
  out({ ok: true, released: store.release(process.env.KEY).map((l) => l.address) });
} else if (mode === 'churn') {
  for (let i = 0; ; i++) {
    const key = process.env.KEY + '-' + (i % 7) + ':eth0';
    try { if (i % 3 === 2) store.release(key); else store.allocate(key, pools); } catch (e) { if (e.name !== 'IpamExhausted') throw e; }
  }
}
`;

interface WorkerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: any;
  stderr: string;
}

function worker(env: Record<string, string>, killAfterMs?: number): Promise<WorkerResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['-e', WORKER], {
      env: { PATH: process.env.PATH ?? '', BUNDLE: bundle, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      let out: any;
      try {
        out = stdout ? JSON.parse(stdout) : undefined;
      } catch {
        out = stdout;
      }
      resolvePromise({ code, signal, out, stderr });
    });
  });
}

/** Invariants of a lease directory: every entry a complete lease; ≤ 1 address per family per key. */
function checkInvariants(dir: string): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  const leasesDir = join(dir, 'leases');
  if (!existsSync(leasesDir)) return byKey;
  for (const name of readdirSync(leasesDir)) {
    expect(canonicalIp(name), `entry ${name}`).toBe(name);
    expect(lstatSync(join(leasesDir, name)).isSymbolicLink(), `entry ${name}`).toBe(true);
    const key = readlinkSync(join(leasesDir, name));
    expect(parseAttachmentKey(key), `owner of ${name}: ${key}`).not.toBeNull();
    byKey.set(key, [...(byKey.get(key) ?? []), name]);
  }
  for (const [key, addrs] of byKey) {
    const v4 = addrs.filter((a) => !a.includes(':'));
    const v6 = addrs.filter((a) => a.includes(':'));
    expect(v4.length, `${key} IPv4 leases ${v4}`).toBeLessThanOrEqual(1);
    expect(v6.length, `${key} IPv6 leases ${v6}`).toBeLessThanOrEqual(1);
  }
  return byKey;
}

describe('crash safety (processes killed mid-operation)', () => {
  const CIDRS = JSON.stringify(['10.30.0.0/24', 'fd00:30::/64']);

  const points = ['leased:1', 'synced:1', 'hinted:1', 'leased:2', 'synced:2', 'hinted:2'];
  it.each(points)('allocation killed at %s: nothing lost, nothing duplicated, retry and DEL converge', async (crash) => {
    const dir = freshDir();
    const s = new LeaseStore(dir);
    s.allocate('before:eth0', poolsFromCidrs(JSON.parse(CIDRS)));
    const r = await worker({ DIR: dir, CIDRS, MODE: 'alloc', KEY: 'victim:eth0', CRASH: crash });
    expect(r.signal).toBe('SIGKILL');
    const byKey = checkInvariants(dir);
    const leftBehind = byKey.get('victim:eth0') ?? [];
    expect(leftBehind).toHaveLength(Number(crash.split(':')[1])); // complete leases up to the crash
    expect(byKey.get('before:eth0')).toHaveLength(2);
    // the runtime retries ADD (same key): the orphan is reused, not duplicated
    const again = s.allocate('victim:eth0', poolsFromCidrs(JSON.parse(CIDRS))).map((l) => l.address);
    expect(again).toHaveLength(2);
    for (const a of leftBehind) expect(again).toContain(a);
    checkInvariants(dir);
    // ... or DEL: everything of the key goes
    expect(s.release('victim:eth0')).toHaveLength(2);
    expect(s.leasesOf('victim:eth0')).toEqual([]);
  });

  it('allocation killed at every step leaves an orphan that GC removes', async () => {
    const dir = freshDir();
    await worker({ DIR: dir, CIDRS, MODE: 'alloc', KEY: 'orphan:eth0', CRASH: 'leased:2' });
    expect(new LeaseStore(dir).gc(new Set()).released).toHaveLength(2);
    expect(checkInvariants(dir).size).toBe(0);
  });

  it('release killed between two unlinks: the repeated DEL finishes the job', async () => {
    const dir = freshDir();
    const s = new LeaseStore(dir);
    s.allocate('victim:eth0', poolsFromCidrs(JSON.parse(CIDRS)));
    const r = await worker({ DIR: dir, CIDRS, MODE: 'release', KEY: 'victim:eth0', CRASH: 'unlinked:1' });
    expect(r.signal).toBe('SIGKILL');
    expect(s.leasesOf('victim:eth0')).toHaveLength(1);
    checkInvariants(dir);
    const r2 = await worker({ DIR: dir, CIDRS, MODE: 'release', KEY: 'victim:eth0' });
    expect(r2.out.released).toHaveLength(1);
    expect(s.leasesOf('victim:eth0')).toEqual([]);
  });

  it('processes killed at random while allocating and releasing never corrupt the store', async () => {
    const dir = freshDir();
    const cidrs = JSON.stringify(['10.31.0.0/27', 'fd00:31::/122']);
    for (let round = 0; round < 3; round++) {
      const runs = Array.from({ length: 8 }, (_, i) =>
        worker({ DIR: dir, CIDRS: cidrs, MODE: 'churn', KEY: `r${round}w${i}` }, 150 + Math.floor(Math.random() * 250)),
      );
      const results = await Promise.all(runs);
      for (const r of results) expect(r.stderr, r.stderr).toBe('');
      checkInvariants(dir);
    }
    const s = new LeaseStore(dir);
    const before = s.scan().length;
    expect(s.gc(new Set()).released).toHaveLength(before);
    expect(readdirSync(join(dir, 'leases'))).toEqual([]);
  }, 180_000);
});

describe('concurrency across processes', () => {
  it('50 processes allocating at once get 50 distinct addresses per family', async () => {
    const dir = freshDir();
    const CIDRS = JSON.stringify(['10.40.0.0/26', 'fd00:40::/120']);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => worker({ DIR: dir, CIDRS, MODE: 'alloc', KEY: `p${i}:eth0` })));
    for (const r of results) expect(r.out?.ok, JSON.stringify(r)).toBe(true);
    const v4 = results.map((r) => r.out.addrs[0]);
    const v6 = results.map((r) => r.out.addrs[1]);
    expect(new Set(v4).size).toBe(50);
    expect(new Set(v6).size).toBe(50);
    const pool = poolsFromCidrs(JSON.parse(CIDRS));
    for (const a of v4) expect(pool[0].contains(parseIp(a)!)).toBe(true);
    const byKey = checkInvariants(dir);
    expect(byKey.size).toBe(50);
  }, 180_000);

  it('50 processes racing for 29 addresses: 29 win, 21 get a clear exhaustion error, nothing leaks', async () => {
    const dir = freshDir();
    const CIDRS = JSON.stringify(['10.41.0.0/27', 'fd00:41::/120']);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => worker({ DIR: dir, CIDRS, MODE: 'alloc', KEY: `q${i}:eth0` })));
    const won = results.filter((r) => r.out?.ok);
    const lost = results.filter((r) => r.out && !r.out.ok);
    expect(won).toHaveLength(29);
    expect(lost).toHaveLength(21);
    for (const r of lost) expect(r.out).toMatchObject({ name: 'IpamExhausted', msg: 'no free IPv4 address in 10.41.0.0/27' });
    expect(new Set(won.map((r) => r.out.addrs[0])).size).toBe(29);
    const byKey = checkInvariants(dir);
    expect(byKey.size).toBe(29); // losers left no IPv6 lease behind
  }, 180_000);
});
