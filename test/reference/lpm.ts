// The slow, obvious longest-prefix-match reference (a linear scan over the route list), a seeded
// PRNG, route-set generators shared by the LPM tests and bench/lpm.ts, and a small loader that
// drives the LPM exports of build/weft.wasm.

import { readFileSync, existsSync } from "node:fs";

export const LPM_MISS = 0xffffffff;

// ---- PRNG ------------------------------------------------------------------------------------
/** mulberry32: deterministic, fast, good enough for test data. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor((this.u32() / 4294967296) * n); }
  /** Picks from `weights` (pairs [item, weight]). */
  pick<T>(weights: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, w] of weights) total += w;
    let x = (this.u32() / 4294967296) * total;
    for (const [v, w] of weights) { if ((x -= w) < 0) return v; }
    return weights[weights.length - 1][0];
  }
}

// ---- IPv4 reference ------------------------------------------------------------------------
export function mask4(len: number): number { return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0; }

export interface Route4 { prefix: number; len: number; value: number; }

/** Routes keyed by prefix/len; lookup scans every route and keeps the longest match. */
export class Lpm4Ref {
  private routes = new Map<number, Route4>();   // key: masked prefix * 64 + len
  private sorted: Route4[] | null = null;
  get size(): number { return this.routes.size; }
  insert(prefix: number, len: number, value: number): void {
    const p = (prefix & mask4(len)) >>> 0;
    this.routes.set(p * 64 + len, { prefix: p, len, value: value >>> 0 });
    this.sorted = null;
  }
  delete(prefix: number, len: number): boolean {
    const p = (prefix & mask4(len)) >>> 0;
    this.sorted = null;
    return this.routes.delete(p * 64 + len);
  }
  has(prefix: number, len: number): boolean { return this.routes.has(((prefix & mask4(len)) >>> 0) * 64 + len); }
  list(): Route4[] { return [...this.routes.values()]; }
  lookup(addr: number): number {
    // Still a linear scan; the list is kept longest-first so the first match is the answer.
    if (!this.sorted) this.sorted = this.list().sort((a, b) => b.len - a.len);
    for (const r of this.sorted) {
      if (((addr & mask4(r.len)) >>> 0) === r.prefix) return r.value;
    }
    return LPM_MISS;
  }
}

// ---- IPv6 reference: addresses as 16-byte arrays (network order) ---------------------------
export interface Route6 { prefix: Uint8Array; len: number; value: number; }

export function maskBytes6(a: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    out[i] = a[i] & ((0xff00 >> bits) & 0xff);
  }
  return out;
}
export function hex6(a: Uint8Array): string { return Buffer.from(a).toString("hex"); }

export class Lpm6Ref {
  private routes = new Map<string, Route6>();
  private sorted: Route6[] | null = null;
  get size(): number { return this.routes.size; }
  insert(prefix: Uint8Array, len: number, value: number): void {
    const p = maskBytes6(prefix, len);
    this.routes.set(`${hex6(p)}/${len}`, { prefix: p, len, value: value >>> 0 });
    this.sorted = null;
  }
  delete(prefix: Uint8Array, len: number): boolean {
    this.sorted = null;
    return this.routes.delete(`${hex6(maskBytes6(prefix, len))}/${len}`);
  }
  has(prefix: Uint8Array, len: number): boolean { return this.routes.has(`${hex6(maskBytes6(prefix, len))}/${len}`); }
  list(): Route6[] { return [...this.routes.values()]; }
  lookup(addr: Uint8Array): number {
    if (!this.sorted) this.sorted = this.list().sort((a, b) => b.len - a.len);
    for (const r of this.sorted) {
      let ok = true;
      const full = r.len >> 3;
      for (let i = 0; i < full; i++) if (addr[i] !== r.prefix[i]) { ok = false; break; }
      if (ok && (r.len & 7) !== 0) {
        const m = (0xff00 >> (r.len & 7)) & 0xff;
        if ((addr[full] & m) !== r.prefix[full]) ok = false;
      }
      if (ok) return r.value;
    }
    return LPM_MISS;
  }
}

// ---- generators --------------------------------------------------------------------------
/** 2024-BGP-like IPv4 length mix (as in the calibration note, §3.4). */
export const BGP4_LENGTHS: ReadonlyArray<readonly [number, number]> = [
  [24, 62], [22, 12], [23, 10], [21, 4.5], [20, 4.5], [16, 1.4], [19, 2.2], [18, 1.1], [17, 0.6],
  [15, 0.2], [14, 0.2], [13, 0.1], [12, 0.05], [11, 0.03], [10, 0.02], [9, 0.01], [8, 0.02],
  [25, 0.1], [26, 0.1], [27, 0.08], [28, 0.08], [29, 0.06], [30, 0.04], [31, 0.02], [32, 0.1],
];

/**
 * `n` distinct IPv4 routes with the BGP-like mix inside 1.0.0.0–223.255.255.255; 45% of those of
 * length >= 16 are more-specifics of an earlier route. Values are small distinct-ish integers.
 */
export function genBgp4(rng: Rng, n: number): Route4[] {
  const out: Route4[] = [];
  const seen = new Set<number>();
  while (out.length < n) {
    const len = rng.pick(BGP4_LENGTHS);
    let prefix: number;
    if (len >= 16 && out.length > 0 && rng.int(100) < 45) {
      const parent = out[rng.int(out.length)];
      if (parent.len >= len) continue;
      prefix = (parent.prefix | (rng.u32() & ~mask4(parent.len))) >>> 0;
    } else {
      prefix = ((1 + rng.int(223)) << 24 | (rng.u32() & 0xffffff)) >>> 0;
    }
    prefix = (prefix & mask4(len)) >>> 0;
    const key = prefix * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ prefix, len, value: 1 + rng.int(1 << 20) });
  }
  return out;
}

/** Realistic IPv6 mix: mostly /48, /32, /44, /40, /56, /64, some /128 (calibration §3.4). */
export const MIX6_LENGTHS: ReadonlyArray<readonly [number, number]> = [
  [48, 45], [32, 13], [44, 8], [40, 6], [36, 3], [29, 3], [46, 2], [47, 2], [42, 2], [56, 4], [64, 4],
  [128, 2], [28, 1], [30, 1], [31, 1], [33, 0.5], [34, 0.5], [38, 0.5], [45, 0.5], [43, 0.5],
  [60, 0.3], [52, 0.3], [24, 0.2], [22, 0.1], [20, 0.1], [19, 0.05], [16, 0.05],
];

/** `n` distinct IPv6 routes in 2000::/3 with MIX6_LENGTHS; half of those >= /32 nest in earlier ones. */
export function genMix6(rng: Rng, n: number): Route6[] {
  const out: Route6[] = [];
  const seen = new Set<string>();
  // allocations cluster in a few hundred /12../16s like the RIR blocks
  const tops: number[] = [];
  for (let i = 0; i < 300; i++) tops.push(0x2000 | rng.int(0x2000));
  while (out.length < n) {
    const len = rng.pick(MIX6_LENGTHS);
    const a = new Uint8Array(16);
    for (let i = 0; i < 16; i++) a[i] = rng.int(256);
    if (len >= 32 && out.length > 0 && rng.int(100) < 50) {
      const parent = out[rng.int(out.length)];
      if (parent.len >= len) continue;
      const p = maskBytes6(parent.prefix, parent.len);
      for (let i = 0; i < 16; i++) {
        const bits = Math.max(0, Math.min(8, parent.len - 8 * i));
        const m = (0xff00 >> bits) & 0xff;
        a[i] = (p[i] & m) | (a[i] & ~m & 0xff);
      }
    } else {
      const top = tops[rng.int(tops.length)];
      a[0] = top >> 8; a[1] = top & 0xff;
    }
    const prefix = maskBytes6(a, len);
    const key = `${hex6(prefix)}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ prefix, len, value: 1 + rng.int(1 << 20) });
  }
  return out;
}

/** A random address inside prefix/len. */
export function addrIn4(rng: Rng, prefix: number, len: number): number {
  return ((prefix & mask4(len)) | (rng.u32() & ~mask4(len))) >>> 0;
}
export function addrIn6(rng: Rng, prefix: Uint8Array, len: number): Uint8Array {
  const a = new Uint8Array(16);
  const p = maskBytes6(prefix, len);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    const m = (0xff00 >> bits) & 0xff;
    a[i] = p[i] | (rng.int(256) & ~m & 0xff);
  }
  return a;
}

// ---- the Wasm module ---------------------------------------------------------------------
export interface LpmExports {
  memory: WebAssembly.Memory;
  lpmScratch(bytes: number): number;
  lpm4Init(maxRoutes: number): void;
  lpm4InitSized(maxRoutes: number, arenaBytes: number): void;
  lpm4Insert(prefix: number, len: number, value: number): number;
  lpm4Delete(prefix: number, len: number): number;
  lpm4Lookup(addr: number): number;
  lpm4LookupNet(addr: number): number;
  lpm4LookupBatch(addrs: number, out: number, n: number): void;
  lpm4Count(): number;
  lpm4MemoryBytes(): number;
  lpm4LiveBytes(): number;
  lpm4Check(): number;
  lpm4Nodes(): number;
  lpm4Compact(): void;
  lpm4Compactions(): number;
  lpm6Init(maxRoutes: number): void;
  lpm6InitSized(maxRoutes: number, arenaBytes: number): void;
  lpm6Insert(prefix: number, len: number, value: number): number;
  lpm6Delete(prefix: number, len: number): number;
  lpm6Lookup(addr: number): number;
  lpm6LookupBatch(addrs: number, out: number, n: number): void;
  lpm6Count(): number;
  lpm6MemoryBytes(): number;
  lpm6LiveBytes(): number;
  lpm6Check(): number;
  lpm6Nodes(): number;
  lpm6Compact(): void;
  lpm6Compactions(): number;
  lpmBenchDir24Proxy(tbl: number, addrs: number, out: number, n: number): void;
}

/**
 * Instantiates build/weft.wasm. `env.abort` throws; any other function import the module may
 * have (other engineers' code) gets a stub that throws when called, so LPM tests do not depend
 * on them.
 */
export async function loadWeft(path = "build/weft.wasm"): Promise<LpmExports> {
  if (!existsSync(path)) throw new Error(`${path} missing: run \`npm run asbuild\` first`);
  const module = await WebAssembly.compile(readFileSync(path));
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {
    env: { abort: () => { throw new Error("abort"); } },
  };
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== "function") continue;
    imports[imp.module] ??= {};
    imports[imp.module][imp.name] ??= () => { throw new Error(`unexpected import ${imp.module}.${imp.name}`); };
  }
  const inst = await WebAssembly.instantiate(module, imports);
  return inst.exports as unknown as LpmExports;
}

/** Typed access to the LPM exports with a scratch buffer for batches. */
export class LpmWasm {
  readonly scratch: number;
  readonly scratchBytes: number;
  constructor(readonly ex: LpmExports, scratchBytes = 16 << 20) {
    this.scratch = ex.lpmScratch(scratchBytes);
    this.scratchBytes = scratchBytes;
  }
  /** Views are created per call: memory may have grown (init allocates). */
  get u8(): Uint8Array { return new Uint8Array(this.ex.memory.buffer); }
  get u32(): Uint32Array { return new Uint32Array(this.ex.memory.buffer); }

  insert4(prefix: number, len: number, value: number): number { return this.ex.lpm4Insert(prefix | 0, len, value | 0); }
  delete4(prefix: number, len: number): number { return this.ex.lpm4Delete(prefix | 0, len); }
  lookup4(addr: number): number { return this.ex.lpm4Lookup(addr | 0) >>> 0; }
  /** Batch lookup through the scratch buffer: addresses at scratch, results after them. */
  batch4(addrs: Uint32Array): Uint32Array {
    const n = addrs.length;
    if (n * 8 > this.scratchBytes) throw new Error("batch too large for scratch");
    const out = this.scratch + n * 4;
    this.u32.set(addrs, this.scratch >>> 2);
    this.ex.lpm4LookupBatch(this.scratch, out, n);
    return this.u32.slice(out >>> 2, (out >>> 2) + n);
  }

  private put6(a: Uint8Array, at = 0): number {
    const p = this.scratch + at;
    this.u8.set(a, p);
    return p;
  }
  insert6(prefix: Uint8Array, len: number, value: number): number { return this.ex.lpm6Insert(this.put6(prefix), len, value | 0); }
  delete6(prefix: Uint8Array, len: number): number { return this.ex.lpm6Delete(this.put6(prefix), len); }
  lookup6(addr: Uint8Array): number { return this.ex.lpm6Lookup(this.put6(addr)) >>> 0; }
  batch6(addrs: Uint8Array[]): Uint32Array {
    const n = addrs.length;
    if (n * 20 > this.scratchBytes) throw new Error("batch too large for scratch");
    const u8 = this.u8;
    for (let i = 0; i < n; i++) u8.set(addrs[i], this.scratch + 16 * i);
    const out = this.scratch + 16 * n;
    this.ex.lpm6LookupBatch(this.scratch, out, n);
    return this.u32.slice(out >>> 2, (out >>> 2) + n);
  }
}

// ---- small helpers for writing tests -------------------------------------------------------
export function ip4(s: string): number {
  const p = s.split(".").map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
/** Parses an IPv6 address (with `::`) into 16 bytes. */
export function ip6(s: string): Uint8Array {
  const [head, tail] = s.includes("::") ? s.split("::") : [s, null];
  const h = head ? head.split(":").filter((x) => x !== "") : [];
  const t = tail ? tail.split(":").filter((x) => x !== "") : [];
  const words = tail === null ? h : [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  words.forEach((w, i) => { const v = parseInt(w, 16); out[2 * i] = v >> 8; out[2 * i + 1] = v & 0xff; });
  return out;
}
