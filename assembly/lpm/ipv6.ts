// IPv6 longest-prefix match: direct 16-bit level, then 6-bit Poptrie levels at depths
// 16, 22, ..., 58 (bits of the high half) and 64, 70, ..., 124 (low half; the last reads bits
// 124..127 and two zero bits). Addresses and prefixes are 16 bytes in network byte order.
// Records are 32 bytes: the extra 8 compress a chain of up to 4 route-less single-child nodes
// into the record of the node below it (common.ts); sparse IPv6 tables are mostly such chains.
// See common.ts and docs/LPM.md.

import {
  LPM_MISS, ERR_BAD_LEN, ERR_BAD_VALUE, ERR_FULL, ERR_NOT_FOUND, Table, tableNew, tableInit,
  opSetPrefix, opLocate, tableApply, tableLiveBytes, tableCheck, tableCompact, tableNodeCount,
} from "./common";

const DIR_BITS: i32 = 16;
const LEVELS: i32 = 19;

/**
 * Arena bytes that hold any set of `maxRoutes` routes. Bound without path compression (which only
 * removes blocks): a route keeps at most 19 nodes alive, each at most 48 bytes (header, 32-byte
 * record, 1 + 2 leaves per route in the node, alignment), plus 16 bytes of list entry and leaves
 * per route; plus 1 MiB to rebuild subtrees beside the old ones. Measured with compression:
 * ~72 B/route for a realistic table, 252 B/route for random /128s (docs/LPM.md).
 */
export function lpm6ArenaBytesFor(maxRoutes: i32): usize {
  return <usize>(maxRoutes < 0 ? 0 : maxRoutes) * 928 + (1 << 20);
}

let T6: Table = changetype<Table>(0);
let dir6: usize = 0;

export function lpm6Init(maxRoutes: i32): void {
  lpm6InitSized(maxRoutes, <i32>lpm6ArenaBytesFor(maxRoutes));
}

export function lpm6InitSized(maxRoutes: i32, arenaBytes: i32): void {
  if (changetype<usize>(T6) == 0) T6 = tableNew();
  tableInit(T6, DIR_BITS, LEVELS, 128, 32, maxRoutes, <usize>(arenaBytes < 0 ? 0 : arenaBytes));
  dir6 = T6.dir;
}

/** Byte-reverses the 16 bytes at p: lane 1 = high 64 bits, lane 0 = low 64 bits, as integers. */
@inline function loadKey(p: usize): v128 {
  const v = v128.load(p);
  return i8x16.shuffle(v, v, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}

/** The high 64 bits of the 16-byte big-endian address at p, as an integer (one shuffle with SIMD). */
@inline function keyHi(p: usize): u64 {
  if (ASC_FEATURE_SIMD) return <u64>i64x2.extract_lane(loadKey(p), 1);
  return bswap<u64>(load<u64>(p));
}

/** The low 64 bits of the 16-byte big-endian address at p, as an integer. */
@inline function keyLo(p: usize): u64 {
  if (ASC_FEATURE_SIMD) return <u64>i64x2.extract_lane(loadKey(p), 0);
  return bswap<u64>(load<u64>(p, 8));
}

export function lpm6Insert(prefixPtr: usize, len: i32, value: u32): i32 {
  if (<u32>len > 128) return ERR_BAD_LEN;
  if (value == LPM_MISS) return ERR_BAD_VALUE;
  const t = T6;
  if (changetype<usize>(t) == 0) return ERR_FULL;
  opSetPrefix(keyHi(prefixPtr), keyLo(prefixPtr), len);
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

export function lpm6Delete(prefixPtr: usize, len: i32): i32 {
  if (<u32>len > 128) return ERR_BAD_LEN;
  const t = T6;
  if (changetype<usize>(t) == 0) return ERR_NOT_FOUND;
  opSetPrefix(keyHi(prefixPtr), keyLo(prefixPtr), len);
  if (opLocate(t) == 0) return ERR_NOT_FOUND;
  const r = tableApply(t, 0, true);
  if (r == 0) t.count--;
  return r;
}

/** Lane state of the batch walk when the lane is done: bit 63 set, the answer in bits 0..31. */
const LANE_DONE: u64 = <u64>1 << 63;

/** The first lane state for the key (hi, lo): done with the default when the entry has no root. */
@inline function laneStart(dir: usize, hi: u64): u64 {
  const e = load<u64>(dir + (<usize>(hi >> 48) << 3));
  const root = e >> 32;
  return select<u64>(root, LANE_DONE | (e & 0xFFFFFFFF), root != 0);
}

/**
 * One step of a lookup's walk (lookup() runs it to the end, walk4 interleaves four): the chain
 * the record `rec` compresses, if any, then the node it holds. Lane state: `rec` in bits 0..31
 * and the levels below the root (at 8 the key continues in `lo`) in bits 32..39 while walking;
 * LANE_DONE | answer when done (returned unchanged). `def`: the direct entry's default. Branchy
 * on purpose (see the IPv4 walk): the rounds of walk4 overlap the records' cache misses anyway.
 */
@inline function laneStep(st: u64, hi: u64, lo: u64, def: u32): u64 {
  if (<i64>st < 0) return st;
  let rec = <usize>(<u32>st);
  let n = <i32>(st >> 32);
  // key bits from the current depth on, left-aligned
  let cur = select<u64>(hi << <u64>(16 + 6 * n), lo << <u64>(6 * n - 48), n < 8);
  const info = load<u32>(rec, 24);
  if (info != 0) {
    // a compressed chain: `levels` route-less single-child nodes, then the node this record holds
    const levels = info >> 27;
    const bits = <u64>(levels * 6);
    if ((cur >> (64 - bits)) != <u64>(info & 0x7FFFFFF)) {
      const v = load<u32>(rec, 28);                  // the key leaves the chain: its leaves' value
      return LANE_DONE | <u64>select<u32>(def, v, v == LPM_MISS);
    }
    n += <i32>levels;
    cur = select<u64>(lo, cur << bits, n == 8);
  }
  const sh = (cur >> 58) ^ 63;
  const t = load<u64>(rec) << sh;
  if (<i64>t >= 0) {
    const leaf = load<u32>(<usize>load<u32>(rec, 20) + <usize>(<u32>popcnt<u64>(load<u64>(rec, 8) << sh) << 2));
    return LANE_DONE | <u64>select<u32>(def, leaf, leaf == LPM_MISS);
  }
  return <u64>(<u32>(<usize>load<u32>(rec, 16) + (<usize>popcnt<u64>(t) << 5))) | (<u64>(n + 1) << 32);
}

/** The lookup: the walk of one lane until it is done. */
@inline function lookup(dir: usize, p: usize): u32 {
  let hi: u64, lo: u64;
  if (ASC_FEATURE_SIMD) {
    const k = loadKey(p);
    hi = <u64>i64x2.extract_lane(k, 1);
    lo = <u64>i64x2.extract_lane(k, 0);
  } else {
    hi = keyHi(p);
    lo = keyLo(p);
  }
  let st = laneStart(dir, hi);
  if (<i64>st < 0) return <u32>st;
  const def = load<u32>(dir + (<usize>(hi >> 48) << 3));
  do st = laneStep(st, hi, lo, def); while (<i64>st >= 0);
  return <u32>st;
}

/** Value of the longest prefix matching the 16-byte address at `addrPtr`, or LPM_MISS. */
export function lpm6Lookup(addrPtr: usize): u32 {
  return lookup(dir6, addrPtr);
}

/** lpm6Lookup inlined into the caller (the pipeline's route lookups: no call per packet). */
@inline export function lpm6LookupInline(addrPtr: usize): u32 {
  return lookup(dir6, addrPtr);
}

/**
 * out[0..3] = lookup() of the four 16-byte addresses at `a`, walked in rounds: one level of each
 * lookup per round, the lane states in registers, so that the four lookups' dependent record and
 * leaf loads (in-prefix addresses need three to five, mostly cache misses in a large table) are in
 * flight together instead of one after the other. Kept out of the batch loop (not inlined: the
 * walk's registers would cost the loop's random addresses, which never get here).
 */
function walk4(dir: usize, a: usize, o: usize): void {
  let h0: u64, h1: u64, h2: u64, h3: u64, l0: u64, l1: u64, l2: u64, l3: u64;
  if (ASC_FEATURE_SIMD) {
    const k0 = loadKey(a), k1 = loadKey(a + 16), k2 = loadKey(a + 32), k3 = loadKey(a + 48);
    h0 = <u64>i64x2.extract_lane(k0, 1); h1 = <u64>i64x2.extract_lane(k1, 1);
    h2 = <u64>i64x2.extract_lane(k2, 1); h3 = <u64>i64x2.extract_lane(k3, 1);
    l0 = <u64>i64x2.extract_lane(k0, 0); l1 = <u64>i64x2.extract_lane(k1, 0);
    l2 = <u64>i64x2.extract_lane(k2, 0); l3 = <u64>i64x2.extract_lane(k3, 0);
  } else {
    h0 = keyHi(a); h1 = keyHi(a + 16); h2 = keyHi(a + 32); h3 = keyHi(a + 48);
    l0 = keyLo(a); l1 = keyLo(a + 16); l2 = keyLo(a + 32); l3 = keyLo(a + 48);
  }
  const d0 = load<u32>(dir + (<usize>(h0 >> 48) << 3)), d1 = load<u32>(dir + (<usize>(h1 >> 48) << 3));
  const d2 = load<u32>(dir + (<usize>(h2 >> 48) << 3)), d3 = load<u32>(dir + (<usize>(h3 >> 48) << 3));
  let s0 = laneStart(dir, h0), s1 = laneStart(dir, h1), s2 = laneStart(dir, h2), s3 = laneStart(dir, h3);
  do {
    s0 = laneStep(s0, h0, l0, d0);
    s1 = laneStep(s1, h1, l1, d1);
    s2 = laneStep(s2, h2, l2, d2);
    s3 = laneStep(s3, h3, l3, d3);
  } while (<i64>(s0 & s1 & s2 & s3) >= 0);
  store<u32>(o, <u32>s0, 0);
  store<u32>(o, <u32>s1, 4);
  store<u32>(o, <u32>s2, 8);
  store<u32>(o, <u32>s3, 12);
}

/**
 * out[i] = lookup(16-byte address i) for n packed addresses, four at a time: when none of the
 * four direct entries has a root (most random addresses) the defaults are the answers; otherwise
 * walk4. The tail (< 4) uses lookup().
 */
export function lpm6LookupBatch(addrsPtr: usize, outPtr: usize, n: i32): void {
  const dir = dir6;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = addrsPtr + (<usize>i << 4);
    const o = outPtr + (<usize>i << 2);
    const e0 = load<u64>(dir + (<usize>(bswap<u16>(load<u16>(a)) ) << 3));
    const e1 = load<u64>(dir + (<usize>(bswap<u16>(load<u16>(a, 16))) << 3));
    const e2 = load<u64>(dir + (<usize>(bswap<u16>(load<u16>(a, 32))) << 3));
    const e3 = load<u64>(dir + (<usize>(bswap<u16>(load<u16>(a, 48))) << 3));
    if (((e0 | e1 | e2 | e3) >> 32) != 0) {
      walk4(dir, a, o);
    } else {
      store<u32>(o, <u32>e0, 0);
      store<u32>(o, <u32>e1, 4);
      store<u32>(o, <u32>e2, 8);
      store<u32>(o, <u32>e3, 12);
    }
  }
  for (; i < n; i++) {
    store<u32>(outPtr + <usize>(i << 2), lookup(dir, addrsPtr + <usize>(i << 4)));
  }
}

export function lpm6Count(): i32 { return changetype<usize>(T6) == 0 ? 0 : T6.count; }
export function lpm6MemoryBytes(): i32 { return changetype<usize>(T6) == 0 ? 0 : <i32>T6.reserved; }
export function lpm6LiveBytes(): i32 { return changetype<usize>(T6) == 0 ? 0 : tableLiveBytes(T6); }
export function lpm6Check(): i32 { return changetype<usize>(T6) == 0 ? 0 : tableCheck(T6); }
export function lpm6Nodes(): i32 { return changetype<usize>(T6) == 0 ? 0 : tableNodeCount(T6); }
export function lpm6Compact(): void { if (changetype<usize>(T6) != 0) tableCompact(T6); }
export function lpm6Compactions(): i32 { return changetype<usize>(T6) == 0 ? 0 : T6.compactions; }
