// ICMPv6 (RFC 4443) and the Neighbor Discovery messages we answer (RFC 4861 §4.3, §4.4, §4.6.1).
//
// Common header: type(1) code(1) checksum(2) body...
// Neighbor Solicitation: reserved(4) target(16) options...
// Neighbor Advertisement: R|S|O flags + reserved(4) target(16) options...
// Option: type(1) length in 8-octet units(1) value; type 1 source / 2 target link-layer address.

export const ICMP6_TYPE: i32 = 0;
export const ICMP6_CODE: i32 = 1;
export const ICMP6_CHECKSUM: i32 = 2;
export const ICMP6_REST: i32 = 4;
export const ICMP6_HEADER_LEN: i32 = 8;

export const ICMP6_DEST_UNREACH: u8 = 1;
export const ICMP6_PACKET_TOO_BIG: u8 = 2;
export const ICMP6_TIME_EXCEEDED: u8 = 3;
export const ICMP6_PARAM_PROBLEM: u8 = 4;
export const ICMP6_ECHO_REQUEST: u8 = 128;
export const ICMP6_ECHO_REPLY: u8 = 129;
export const ICMP6_ROUTER_SOLICIT: u8 = 133;
export const ICMP6_ROUTER_ADVERT: u8 = 134;
export const ICMP6_NEIGHBOR_SOLICIT: u8 = 135;
export const ICMP6_NEIGHBOR_ADVERT: u8 = 136;

export const ICMP6_CODE_NO_ROUTE: u8 = 0;
export const ICMP6_CODE_ADDR_UNREACH: u8 = 3;
export const ICMP6_CODE_HOP_LIMIT: u8 = 0;

export const NDP_TARGET: i32 = 8;
export const NDP_OPTIONS: i32 = 24;
export const NDP_MIN_LEN: i32 = 24;
export const NDP_OPT_SOURCE_LLADDR: u8 = 1;
export const NDP_OPT_TARGET_LLADDR: u8 = 2;
/** NA flags in the first byte of the rest field: Router, Solicited, Override. */
export const NA_FLAG_ROUTER: u8 = 0x80;
export const NA_FLAG_SOLICITED: u8 = 0x40;
export const NA_FLAG_OVERRIDE: u8 = 0x20;
/** Length of the NA we emit: header + target + one target link-layer address option. */
export const NA_EMIT_LEN: i32 = 32;

@inline export function icmp6Type(p: usize): u8 { return load<u8>(p, ICMP6_TYPE); }
/** Errors are types 0..127 (RFC 4443 §2.1). */
@inline export function icmp6IsError(type: u8): bool { return type < 128; }

/**
 * RFC 4861 §7.1.1 checks for a Neighbor Solicitation of `len` ICMPv6 bytes (checksum and hop
 * limit are checked by the caller): code 0, length >= 24, target not multicast, every option of
 * non-zero length inside the message.
 */
export function ndpCheckSolicit(p: usize, len: i32): bool {
  if (len < NDP_MIN_LEN || load<u8>(p, ICMP6_CODE) != 0) return false;
  if (load<u8>(p, NDP_TARGET) == 0xff) return false;
  let off = NDP_OPTIONS;
  while (off < len) {
    if (off + 2 > len) return false;
    const olen = <i32>load<u8>(p + <usize>off, 1) << 3;
    if (olen == 0 || off + olen > len) return false;
    off += olen;
  }
  return true;
}

/** True when the (already checked) solicitation of `len` bytes carries a source link-layer option. */
export function ndpHasSourceLladdr(p: usize, len: i32): bool {
  let off = NDP_OPTIONS;
  while (off + 2 <= len) {
    const o = p + <usize>off;
    if (load<u8>(o) == NDP_OPT_SOURCE_LLADDR) return true;
    const olen = <i32>load<u8>(o, 1) << 3;
    if (olen == 0) return false;
    off += olen;
  }
  return false;
}

/** ff02::1:ff00:0/104, the solicited-node multicast prefix (RFC 4291 §2.7.1). */
@inline export function ipv6IsSolicitedNode(a: usize): bool {
  return load<u64>(a) == 0x00000000000002ff && (load<u64>(a, 8) & 0x000000ffffffffff) == 0x000000ff01000000;
}

/**
 * Writes a Neighbor Advertisement body (32 bytes: header, target, target link-layer option) at `p`.
 * Checksum zero: the caller completes it over the pseudo-header.
 */
@inline export function ndpEmitAdvert(p: usize, flags: u8, target: usize, mac: usize): void {
  store<u32>(p, <u32>ICMP6_NEIGHBOR_ADVERT);
  store<u32>(p, <u32>flags, ICMP6_REST);
  store<u64>(p, load<u64>(target), NDP_TARGET);
  store<u64>(p, load<u64>(target, 8), NDP_TARGET + 8);
  store<u8>(p, NDP_OPT_TARGET_LLADDR, NDP_OPTIONS);
  store<u8>(p, 1, NDP_OPTIONS + 1);
  store<u32>(p, load<u32>(mac), NDP_OPTIONS + 2);
  store<u16>(p, load<u16>(mac, 4), NDP_OPTIONS + 6);
}

/** Writes type, code and the 4-byte rest field (host order; the MTU for Packet Too Big). */
@inline export function icmp6Emit(p: usize, type: u8, code: u8, rest: u32): void {
  store<u32>(p, <u32>type | (<u32>code << 8));
  store<u32>(p, bswap<u32>(rest), ICMP6_REST);
}
