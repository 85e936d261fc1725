// Route tables: one IPv4 and one IPv6 longest-prefix-match table (assembly/lpm) mapping prefixes
// to a target (abi.ts TARGET_*). Addresses here are network order as loaded from packets.

import { lpm4Insert, lpm4Delete, lpm4LookupNetInline, lpm4LookupSpanNetInline, lpm4SpanMask } from "../lpm/ipv4";
import { lpm6Insert, lpm6Delete, lpm6LookupInline } from "../lpm/ipv6";
import { LPM_MISS } from "../lpm/common";
import { ERR_BAD_ARGUMENT, TARGET_KIND_SHIFT, TARGET_POD, TARGET_PEER, TARGET_HOST, TARGET_BLACKHOLE } from "../abi";
import { scratchBase } from "../state";

export const ROUTE_MISS: u32 = LPM_MISS;

@inline export function routeLookup4(addrNet: u32): u32 { return lpm4LookupNetInline(addrNet); }
/**
 * routeLookup4 that also returns, in `routeSpanMask4` (network order), the region around `addrNet`
 * with the same target: `(x & mask) == (addrNet & mask)` gives the same result until a table op.
 */
@inline export function routeLookupSpan4(addrNet: u32): u32 {
  const t = lpm4LookupSpanNetInline(addrNet);
  routeSpanMask4 = bswap<u32>(lpm4SpanMask);
  return t;
}
export let routeSpanMask4: u32 = 0;
@inline export function routeLookup6(addr: usize): u32 { return lpm6LookupInline(addr); }

function targetValid(target: u32): bool {
  const kind = target >> TARGET_KIND_SHIFT;
  return kind == TARGET_POD || kind == TARGET_PEER || kind == TARGET_HOST || kind == TARGET_BLACKHOLE;
}

export function routeInsert4(addrNet: u32, len: i32, target: u32): i32 {
  if (len < 0 || len > 32 || !targetValid(target)) return ERR_BAD_ARGUMENT;
  return lpm4Insert(bswap<u32>(addrNet), len, target);
}
export function routeDelete4(addrNet: u32, len: i32): i32 {
  if (len < 0 || len > 32) return ERR_BAD_ARGUMENT;
  return lpm4Delete(bswap<u32>(addrNet), len);
}
export function routeInsert6(addr: usize, len: i32, target: u32): i32 {
  if (len < 0 || len > 128 || !targetValid(target)) return ERR_BAD_ARGUMENT;
  return lpm6Insert(addr, len, target);
}
export function routeDelete6(addr: usize, len: i32): i32 {
  if (len < 0 || len > 128) return ERR_BAD_ARGUMENT;
  return lpm6Delete(addr, len);
}

/** Route ops reading the prefix from the start of the scratch area. */
export function routeSetFromScratch(family: i32, len: i32, target: u32): i32 {
  if (family == 4) return routeInsert4(load<u32>(scratchBase), len, target);
  if (family == 6) return routeInsert6(scratchBase, len, target);
  return ERR_BAD_ARGUMENT;
}
export function routeDelFromScratch(family: i32, len: i32): i32 {
  if (family == 4) return routeDelete4(load<u32>(scratchBase), len);
  if (family == 6) return routeDelete6(scratchBase, len);
  return ERR_BAD_ARGUMENT;
}
export function routeGetFromScratch(family: i32): u32 {
  if (family == 4) return routeLookup4(load<u32>(scratchBase));
  if (family == 6) return routeLookup6(scratchBase);
  return ROUTE_MISS;
}
