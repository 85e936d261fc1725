// IPv4 longest-prefix match: direct 18-bit level, then 6-bit Poptrie levels at depths 18, 24, 30
// (the last one reads bits 30..31 followed by four zero bits). See common.ts and docs/LPM.md.
//
// Lookup cost: one u64 load for addresses whose /18 holds no route longer than /18; otherwise
// one record per level below (at most 3) and one leaf. Routes /19../24 resolve in the root node.

import {
  LPM_MISS, ERR_BAD_LEN, ERR_BAD_VALUE, ERR_FULL, ERR_NOT_FOUND, Table, tableNew, tableInit,
  opSetPrefix, opLocate, tableApply, tableLiveBytes, tableCheck, tableCompact, tableNodeCount,
} from "./common";

export { LPM_MISS } from "./common";

const DIR_BITS: i32 = 18;
const LEVELS: i32 = 3;

/**
 * Arena bytes that hold any set of `maxRoutes` routes: at most 3 nodes per route of 40 bytes
 * each (header, record, 1 + 2 leaves per route in the node, alignment) plus 16 bytes of list
 * entry per route, and room to rebuild the largest /18 subtree (< 461 KB) beside the old one.
 */
export function lpm4ArenaBytesFor(maxRoutes: i32): usize {
  return <usize>(maxRoutes < 0 ? 0 : maxRoutes) * 136 + (512 << 10);
}

let T4: Table = changetype<Table>(0);
/** Direct table base (copy of T4.dir) for the lookup path. */
let dir4: usize = 0;
/**
 * A node record that matches nothing (no child, no leaf run: its one leaf is LPM_MISS), used by
 * the batch lookup in place of "no root" so that its walk needs no branch on the direct entry.
 */
let emptyRecord4: usize = 0;

/** Allocates (once) and resets the table for up to `maxRoutes` routes. */
export function lpm4Init(maxRoutes: i32): void {
  lpm4InitSized(maxRoutes, <i32>lpm4ArenaBytesFor(maxRoutes));
}

/** As lpm4Init with an explicit arena size (tests use a small one to exercise ERR_FULL). */
export function lpm4InitSized(maxRoutes: i32, arenaBytes: i32): void {
  if (changetype<usize>(T4) == 0) {
    T4 = tableNew();
    emptyRecord4 = heap.alloc(32);
    memory.fill(emptyRecord4, 0, 32);
    store<u32>(emptyRecord4, <u32>(emptyRecord4 + 24), 20);   // leaves: the LPM_MISS word at +24
    store<u32>(emptyRecord4, LPM_MISS, 24);
  }
  tableInit(T4, DIR_BITS, LEVELS, 32, 24, maxRoutes, <usize>(arenaBytes < 0 ? 0 : arenaBytes));
  dir4 = T4.dir;
}

/** Inserts or replaces prefix/len (host byte order, host bits ignored). 0 or ERR_*; on error the table is unchanged. */
export function lpm4Insert(prefix: u32, len: i32, value: u32): i32 {
  if (<u32>len > 32) return ERR_BAD_LEN;
  if (value == LPM_MISS) return ERR_BAD_VALUE;
  const t = T4;
  if (changetype<usize>(t) == 0) return ERR_FULL;
  opSetPrefix(<u64>prefix << 32, 0, len);
  const e = opLocate(t);
  if (e != 0) {
    if (load<u32>(e) == value) return 0;
    return tableApply(t, value, false);
  }
  if (t.count >= t.maxRoutes) return ERR_FULL;
  const r = tableApply(t, value, false);
  if (r == 0) t.count++;
  return r;
}

/** Deletes prefix/len. 0, ERR_NOT_FOUND or ERR_BAD_LEN. */
export function lpm4Delete(prefix: u32, len: i32): i32 {
  if (<u32>len > 32) return ERR_BAD_LEN;
  const t = T4;
  if (changetype<usize>(t) == 0) return ERR_NOT_FOUND;
  opSetPrefix(<u64>prefix << 32, 0, len);
  if (opLocate(t) == 0) return ERR_NOT_FOUND;
  const r = tableApply(t, 0, true);
  if (r == 0) t.count--;
  return r;
}

/**
 * Host-order mask of the region around the address of the last span lookup
 * (lpm4LookupSpanNetInline) over which the table's answer is constant: /18 when the direct entry
 * has no root, else /24, /30 or /32 by the level whose leaf answered (a leaf is pushed over its
 * whole slot). Valid until the table next changes.
 */
export let lpm4SpanMask: u32 = 0;

/**
 * The lookup. Branchy on purpose: the branches are well predicted for a given traffic mix, and a
 * predicted "no root here" lets the core run ahead to the next address, overlapping the cache
 * misses of consecutive lookups. A branchless fixed-depth walk measured 2-10x slower: every
 * lookup then carries ~70 instructions that wait on the first miss, and the out-of-order window
 * holds only two or three lookups. `span` (a compile-time constant) also sets lpm4SpanMask.
 */
@inline function walk(dir: usize, a: u32, span: bool): u32 {
  const e = load<u64>(dir + (<usize>(a >> 14) << 3));
  let rec = <usize>(e >> 32);
  const def = <u32>e;
  if (rec == 0) {
    if (span) lpm4SpanMask = 0xffffc000;
    return def;
  }
  let mask: u32 = 0xffffff00;
  let sh = <u64>(((a >> 8) & 63) ^ 63);          // slot at depth 18: bits 18..23
  let t = load<u64>(rec) << sh;                   // bit 63 = "slot is a child", popcnt = its rank
  if (<i64>t < 0) {
    rec = <usize>load<u32>(rec, 16) + <usize>(<u32>popcnt<u64>(t) * 24);
    sh = <u64>(((a >> 2) & 63) ^ 63);             // depth 24: bits 24..29
    t = load<u64>(rec) << sh;
    mask = 0xfffffffc;
    if (<i64>t < 0) {
      rec = <usize>load<u32>(rec, 16) + <usize>(<u32>popcnt<u64>(t) * 24);
      sh = <u64>(((a << 4) & 63) ^ 63);           // depth 30: bits 30..31, then zeros
      mask = 0xffffffff;
    }
  }
  if (span) lpm4SpanMask = mask;
  const leaf = load<u32>(<usize>load<u32>(rec, 20) + <usize>(<u32>popcnt<u64>(load<u64>(rec, 8) << sh) << 2));
  return select<u32>(def, leaf, leaf == LPM_MISS);
}

@inline function lookup(dir: usize, a: u32): u32 {
  return walk(dir, a, false);
}

/**
 * lpm4LookupNetInline that also sets lpm4SpanMask: every address `x` with
 * `(bswap(x) & lpm4SpanMask) == (bswap(addrNetOrder) & lpm4SpanMask)` has the same answer until
 * the table changes (the pipeline's per-batch route memos, stage/fast.ts).
 */
@inline export function lpm4LookupSpanNetInline(addrNetOrder: u32): u32 {
  return walk(dir4, bswap<u32>(addrNetOrder), true);
}

/** Value of the longest prefix matching `addr` (host byte order), or LPM_MISS. */
export function lpm4Lookup(addr: u32): u32 {
  return lookup(dir4, addr);
}

/** The same for an address as loaded from packet bytes (`load<u32>` of network order). */
export function lpm4LookupNet(addrNetOrder: u32): u32 {
  return lookup(dir4, bswap<u32>(addrNetOrder));
}

/** lpm4LookupNet inlined into the caller (the pipeline's route lookups: no call per packet). */
@inline export function lpm4LookupNetInline(addrNetOrder: u32): u32 {
  return lookup(dir4, bswap<u32>(addrNetOrder));
}

/**
 * lookup() for the batch call: the same walk, but a direct entry without a root walks the empty
 * record instead of returning early. Sixteen of them are interleaved per iteration (their direct
 * entries loaded first): with no data-dependent branch before the record and leaf loads, the
 * cache misses of the sixteen lookups overlap (in-prefix addresses need three dependent loads
 * each). Groups of 8 overlapped fewer misses (in-prefix x1.09-1.39 for 16, bench/ab.ts); 12, 24
 * and 32 gained less or lost, and staging the entries or records through memory lost.
 */
@inline function lookupFromEntry(e: u64, a: u32, empty: usize): u32 {
  const root = <usize>(e >> 32);
  const def = <u32>e;
  let rec = select<usize>(root, empty, root != 0);
  let sh = <u64>(((a >> 8) & 63) ^ 63);
  let t = load<u64>(rec) << sh;
  if (<i64>t < 0) {
    rec = <usize>load<u32>(rec, 16) + <usize>(<u32>popcnt<u64>(t) * 24);
    sh = <u64>(((a >> 2) & 63) ^ 63);
    t = load<u64>(rec) << sh;
    if (<i64>t < 0) {
      rec = <usize>load<u32>(rec, 16) + <usize>(<u32>popcnt<u64>(t) * 24);
      sh = <u64>(((a << 4) & 63) ^ 63);
    }
  }
  const leaf = load<u32>(<usize>load<u32>(rec, 20) + <usize>(<u32>popcnt<u64>(load<u64>(rec, 8) << sh) << 2));
  return select<u32>(def, leaf, leaf == LPM_MISS);
}

/** out[i] = lookup(addrs[i]) for n host-order u32 addresses (groups of 16, the tail one by one). */
export function lpm4LookupBatch(addrsPtr: usize, outPtr: usize, n: i32): void {
  const dir = dir4;
  const empty = emptyRecord4;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>(i << 2);
    const a0 = load<u32>(addrsPtr + o, 0);
    const a1 = load<u32>(addrsPtr + o, 4);
    const a2 = load<u32>(addrsPtr + o, 8);
    const a3 = load<u32>(addrsPtr + o, 12);
    const a4 = load<u32>(addrsPtr + o, 16);
    const a5 = load<u32>(addrsPtr + o, 20);
    const a6 = load<u32>(addrsPtr + o, 24);
    const a7 = load<u32>(addrsPtr + o, 28);
    const a8 = load<u32>(addrsPtr + o, 32);
    const a9 = load<u32>(addrsPtr + o, 36);
    const a10 = load<u32>(addrsPtr + o, 40);
    const a11 = load<u32>(addrsPtr + o, 44);
    const a12 = load<u32>(addrsPtr + o, 48);
    const a13 = load<u32>(addrsPtr + o, 52);
    const a14 = load<u32>(addrsPtr + o, 56);
    const a15 = load<u32>(addrsPtr + o, 60);
    const e0 = load<u64>(dir + (<usize>(a0 >> 14) << 3));
    const e1 = load<u64>(dir + (<usize>(a1 >> 14) << 3));
    const e2 = load<u64>(dir + (<usize>(a2 >> 14) << 3));
    const e3 = load<u64>(dir + (<usize>(a3 >> 14) << 3));
    const e4 = load<u64>(dir + (<usize>(a4 >> 14) << 3));
    const e5 = load<u64>(dir + (<usize>(a5 >> 14) << 3));
    const e6 = load<u64>(dir + (<usize>(a6 >> 14) << 3));
    const e7 = load<u64>(dir + (<usize>(a7 >> 14) << 3));
    const e8 = load<u64>(dir + (<usize>(a8 >> 14) << 3));
    const e9 = load<u64>(dir + (<usize>(a9 >> 14) << 3));
    const e10 = load<u64>(dir + (<usize>(a10 >> 14) << 3));
    const e11 = load<u64>(dir + (<usize>(a11 >> 14) << 3));
    const e12 = load<u64>(dir + (<usize>(a12 >> 14) << 3));
    const e13 = load<u64>(dir + (<usize>(a13 >> 14) << 3));
    const e14 = load<u64>(dir + (<usize>(a14 >> 14) << 3));
    const e15 = load<u64>(dir + (<usize>(a15 >> 14) << 3));
    store<u32>(outPtr + o, lookupFromEntry(e0, a0, empty), 0);
    store<u32>(outPtr + o, lookupFromEntry(e1, a1, empty), 4);
    store<u32>(outPtr + o, lookupFromEntry(e2, a2, empty), 8);
    store<u32>(outPtr + o, lookupFromEntry(e3, a3, empty), 12);
    store<u32>(outPtr + o, lookupFromEntry(e4, a4, empty), 16);
    store<u32>(outPtr + o, lookupFromEntry(e5, a5, empty), 20);
    store<u32>(outPtr + o, lookupFromEntry(e6, a6, empty), 24);
    store<u32>(outPtr + o, lookupFromEntry(e7, a7, empty), 28);
    store<u32>(outPtr + o, lookupFromEntry(e8, a8, empty), 32);
    store<u32>(outPtr + o, lookupFromEntry(e9, a9, empty), 36);
    store<u32>(outPtr + o, lookupFromEntry(e10, a10, empty), 40);
    store<u32>(outPtr + o, lookupFromEntry(e11, a11, empty), 44);
    store<u32>(outPtr + o, lookupFromEntry(e12, a12, empty), 48);
    store<u32>(outPtr + o, lookupFromEntry(e13, a13, empty), 52);
    store<u32>(outPtr + o, lookupFromEntry(e14, a14, empty), 56);
    store<u32>(outPtr + o, lookupFromEntry(e15, a15, empty), 60);
  }
  for (; i < n; i++) {
    const o = <usize>(i << 2);
    store<u32>(outPtr + o, lookup(dir, load<u32>(addrsPtr + o)));
  }
}

export function lpm4Count(): i32 { return changetype<usize>(T4) == 0 ? 0 : T4.count; }
export function lpm4MemoryBytes(): i32 { return changetype<usize>(T4) == 0 ? 0 : <i32>T4.reserved; }
/** Bytes of live blocks in the arena (nodes, leaves, route lists). */
export function lpm4LiveBytes(): i32 { return changetype<usize>(T4) == 0 ? 0 : tableLiveBytes(T4); }
/** 0 when every structural invariant holds, else a code (tests). */
export function lpm4Check(): i32 { return changetype<usize>(T4) == 0 ? 0 : tableCheck(T4); }
/** Number of trie nodes (walks the table; tests and benchmarks). */
export function lpm4Nodes(): i32 { return changetype<usize>(T4) == 0 ? 0 : tableNodeCount(T4); }
export function lpm4Compact(): void { if (changetype<usize>(T4) != 0) tableCompact(T4); }
export function lpm4Compactions(): i32 { return changetype<usize>(T4) == 0 ? 0 : T4.compactions; }
