// Ethernet II header (IEEE 802.3), 14 bytes, no VLAN tags.
//
//  0                   6                  12        14
// +-------------------+------------------+---------+
// | destination MAC   | source MAC       | type    |
// +-------------------+------------------+---------+

export const ETH_DST: i32 = 0;
export const ETH_SRC: i32 = 6;
export const ETH_TYPE: i32 = 12;
export const ETH_HEADER_LEN: i32 = 14;

/** Ethertypes as loaded with load<u16> (little-endian view of the network-order field). */
export const ETHERTYPE_IPV4_LE: u16 = 0x0008; // 0x0800
export const ETHERTYPE_ARP_LE: u16 = 0x0608;  // 0x0806
export const ETHERTYPE_IPV6_LE: u16 = 0xdd86; // 0x86DD
export const ETHERTYPE_TEB_LE: u16 = 0x5865;  // 0x6558 transparent Ethernet bridging (Geneve)

/** Returns true when `len` bytes can hold an Ethernet header. */
@inline export function ethCheck(len: i32): bool { return len >= ETH_HEADER_LEN; }

@inline export function ethType(p: usize): u16 { return load<u16>(p, ETH_TYPE); }

/** True when the destination MAC is a group (multicast or broadcast) address. */
@inline export function ethDstIsGroup(p: usize): bool { return (load<u8>(p, ETH_DST) & 1) != 0; }
@inline export function ethDstIsBroadcast(p: usize): bool {
  return load<u32>(p, ETH_DST) == 0xffffffff && load<u16>(p, ETH_DST + 4) == 0xffff;
}

/** Compares the 6-byte MAC at `a` with the one at `b`. */
@inline export function macEqual(a: usize, b: usize): bool {
  return load<u32>(a) == load<u32>(b) && load<u16>(a, 4) == load<u16>(b, 4);
}
@inline export function macCopy(dst: usize, src: usize): void {
  store<u32>(dst, load<u32>(src));
  store<u16>(dst, load<u16>(src, 4), 4);
}

/** Writes an Ethernet header at `p`: destination and source MACs copied from pointers, type in LE form. */
@inline export function ethEmit(p: usize, dstMac: usize, srcMac: usize, typeLe: u16): void {
  macCopy(p + ETH_DST, dstMac);
  macCopy(p + ETH_SRC, srcMac);
  store<u16>(p, typeLe, ETH_TYPE);
}
