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

export function lpm6Insert(prefixPtr: usize, len: i32, value: u32): i32 {
  if (<u32>len > 128) return ERR_BAD_LEN;
  if (value == LPM_MISS) return ERR_BAD_VALUE;
  const t = T6;
  if (changetype<usize>(t) == 0) return ERR_FULL;
  const k = loadKey(prefixPtr);
  opSetPrefix(<u64>i64x2.extract_lane(k, 1), <u64>i64x2.extract_lane(k, 0), len);
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
  const k = loadKey(prefixPtr);
  opSetPrefix(<u64>i64x2.extract_lane(k, 1), <u64>i64x2.extract_lane(k, 0), len);
  if (opLocate(t) == 0) return ERR_NOT_FOUND;
  const r = tableApply(t, 0, true);
  if (r == 0) t.count--;
  return r;
}

@inline function lookup(dir: usize, p: usize): u32 {
  const k = loadKey(p);
  const hi = <u64>i64x2.extract_lane(k, 1);
  const e = load<u64>(dir + (<usize>(hi >> 48) << 3));
  let rec = <usize>(e >> 32);
  const def = <u32>e;
  if (rec == 0) return def;
  const lo = <u64>i64x2.extract_lane(k, 0);
  let cur = hi << 16;   // key bits from the current depth on, left-aligned
  let n = 0;            // levels below the root; at 8 the key continues in `lo`
  let t: u64;
  let sh: u64;
  while (true) {
    const info = load<u32>(rec, 24);
    if (info != 0) {
      // a compressed chain: `levels` route-less single-child nodes, then the node this record holds
      const levels = info >> 27;
      const bits = <u64>(levels * 6);
      if ((cur >> (64 - bits)) != <u64>(info & 0x7FFFFFF)) {
        const v = load<u32>(rec, 28);                  // the key leaves the chain: its leaves' value
        return select<u32>(def, v, v == LPM_MISS);
      }
      n += <i32>levels;
      cur = select<u64>(lo, cur << bits, n == 8);
    }
    sh = (cur >> 58) ^ 63;
    t = load<u64>(rec) << sh;
    if (<i64>t >= 0) break;
    rec = <usize>load<u32>(rec, 16) + (<usize>popcnt<u64>(t) << 5);
    n++;
    cur = select<u64>(lo, cur << 6, n == 8);
  }
  const leaf = load<u32>(<usize>load<u32>(rec, 20) + <usize>(<u32>popcnt<u64>(load<u64>(rec, 8) << sh) << 2));
  return select<u32>(def, leaf, leaf == LPM_MISS);
}

/** Value of the longest prefix matching the 16-byte address at `addrPtr`, or LPM_MISS. */
export function lpm6Lookup(addrPtr: usize): u32 {
  return lookup(dir6, addrPtr);
}

/** lpm6Lookup inlined into the caller (the pipeline's route lookups: no call per packet). */
@inline export function lpm6LookupInline(addrPtr: usize): u32 {
  return lookup(dir6, addrPtr);
}

/** out[i] = lookup(16-byte address i) for n packed addresses. */
export function lpm6LookupBatch(addrsPtr: usize, outPtr: usize, n: i32): void {
  const dir = dir6;
  for (let i = 0; i < n; i++) {
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
