// The peer table: other nodes reachable over the underlay. A peer has an underlay address (IPv4
// or IPv6) and a VTEP MAC (the inner destination MAC, as flannel's VtepMAC). Routes to peers'
// pod CIDRs are separate (TARGET_PEER); a route to an inactive peer drops with PeerDown.
//
// Decapsulation accepts packets only from known peer addresses: an open-addressing hash from
// address to peer index, rebuilt on every change (peer changes are rare; lookups are per packet).

import {
  PEER_RECORD_SIZE, PEER_MAC, PEER_FLAGS, PEER_ADDR, PEER_ACTIVE, PEER_IPV6, ERR_BAD_ARGUMENT, ERR_NOT_FOUND,
} from "../abi";
import { maxPeers, peerTableBase } from "../state";

let hashBase: usize = 0;
let hashMask: u32 = 0;

/** Called once from init after the peer table exists. */
export function peersInit(): void {
  let n: u32 = 4;
  while (n < <u32>maxPeers * 2) n <<= 1;
  hashMask = n - 1;
  hashBase = heap.alloc(<usize>n * 4);
  memory.fill(hashBase, 0, <usize>n * 4);
}

@inline export function peerRecord(idx: i32): usize { return peerTableBase + <usize>(idx * PEER_RECORD_SIZE); }
@inline export function peerActive(rec: usize): bool { return (load<u32>(rec, PEER_FLAGS) & PEER_ACTIVE) != 0; }
@inline export function peerIsV6(rec: usize): bool { return (load<u32>(rec, PEER_FLAGS) & PEER_IPV6) != 0; }
@inline export function peerMac(rec: usize): usize { return rec + PEER_MAC; }
@inline export function peerAddr(rec: usize): usize { return rec + PEER_ADDR; }

@inline function hashAddr(a: usize, v6: bool): u32 {
  let h: u32 = load<u32>(a) * 0x9e3779b1;
  if (v6) h ^= (load<u32>(a, 4) * 0x85ebca6b) ^ (load<u32>(a, 8) * 0xc2b2ae35) ^ (load<u32>(a, 12) * 0x27d4eb2f);
  return (h ^ (h >> 15)) & hashMask;
}

function rebuildHash(): void {
  memory.fill(hashBase, 0, <usize>(hashMask + 1) * 4);
  for (let i = 0; i < maxPeers; i++) {
    const rec = peerRecord(i);
    if (!peerActive(rec)) continue;
    let h = hashAddr(peerAddr(rec), peerIsV6(rec));
    while (load<u32>(hashBase + (<usize>h << 2)) != 0) h = (h + 1) & hashMask;
    store<u32>(hashBase + (<usize>h << 2), <u32>i + 1);
  }
}

/** Index of the active IPv4 peer with underlay address `a` (network order as loaded), or -1. */
export function peerByAddr4(a: u32): i32 {
  let h = (a * 0x9e3779b1);
  h = (h ^ (h >> 15)) & hashMask;
  while (true) {
    const v = load<u32>(hashBase + (<usize>h << 2));
    if (v == 0) return -1;
    const rec = peerRecord(<i32>v - 1);
    if (!peerIsV6(rec) && load<u32>(rec, PEER_ADDR) == a) return <i32>v - 1;
    h = (h + 1) & hashMask;
  }
  return -1;
}

/** Index of the active IPv6 peer whose underlay address is the 16 bytes at `a`, or -1. */
export function peerByAddr6(a: usize): i32 {
  let h = hashAddr(a, true);
  const a0 = load<u64>(a);
  const a1 = load<u64>(a, 8);
  while (true) {
    const v = load<u32>(hashBase + (<usize>h << 2));
    if (v == 0) return -1;
    const rec = peerRecord(<i32>v - 1);
    if (peerIsV6(rec) && load<u64>(rec, PEER_ADDR) == a0 && load<u64>(rec, PEER_ADDR + 8) == a1) return <i32>v - 1;
    h = (h + 1) & hashMask;
  }
  return -1;
}

/** Adds or replaces peer `idx` from the record at `src`. Two peers may not share an address. */
export function peerSet(idx: i32, src: usize): i32 {
  if (<u32>idx >= <u32>maxPeers) return ERR_BAD_ARGUMENT;
  const flags = load<u32>(src, PEER_FLAGS) & PEER_IPV6;
  if (load<u8>(src, PEER_MAC) & 1) return ERR_BAD_ARGUMENT;
  const other = flags & PEER_IPV6 ? peerByAddr6(src + PEER_ADDR) : peerByAddr4(load<u32>(src, PEER_ADDR));
  if (other >= 0 && other != idx) return ERR_BAD_ARGUMENT;
  const rec = peerRecord(idx);
  memory.copy(rec, src, <usize>PEER_RECORD_SIZE);
  if (!(flags & PEER_IPV6)) { store<u32>(rec, 0, PEER_ADDR + 4); store<u64>(rec, 0, PEER_ADDR + 8); }
  store<u32>(rec, flags | PEER_ACTIVE, PEER_FLAGS);
  rebuildHash();
  return 0;
}

export function peerDel(idx: i32): i32 {
  if (<u32>idx >= <u32>maxPeers) return ERR_BAD_ARGUMENT;
  const rec = peerRecord(idx);
  if (!peerActive(rec)) return ERR_NOT_FOUND;
  memory.fill(rec, 0, <usize>PEER_RECORD_SIZE);
  rebuildHash();
  return 0;
}
