// IPv4 header (RFC 791 §3.1).
//
//  0      4      8              16    19               31
// +------+------+---------------+-----+----------------+
// |ver=4 | IHL  | DSCP/ECN      | total length         |
// | identification              |flags| fragment offset |
// | TTL         | protocol      | header checksum      |
// | source address                                     |
// | destination address                                |
// | options (IHL > 5)                                  |

import { csumFinish, csumIpv4Header20, csumPartialScalar, csumFold } from "../csum/checksum";

export const IPV4_VER_IHL: i32 = 0;
export const IPV4_TOS: i32 = 1;
export const IPV4_TOTAL_LEN: i32 = 2;
export const IPV4_ID: i32 = 4;
export const IPV4_FLAGS_FRAG: i32 = 6;
export const IPV4_TTL: i32 = 8;
export const IPV4_PROTO: i32 = 9;
export const IPV4_CHECKSUM: i32 = 10;
export const IPV4_SRC: i32 = 12;
export const IPV4_DST: i32 = 16;
export const IPV4_MIN_HEADER_LEN: i32 = 20;

/** Flags/fragment field in host order. */
export const IPV4_FLAG_DF: u16 = 0x4000;
export const IPV4_FLAG_MF: u16 = 0x2000;
export const IPV4_FRAG_OFFSET_MASK: u16 = 0x1fff;

@inline export function ipv4HeaderLen(p: usize): i32 { return <i32>(load<u8>(p) & 0x0f) << 2; }
@inline export function ipv4TotalLen(p: usize): i32 { return <i32>bswap<u16>(load<u16>(p, IPV4_TOTAL_LEN)); }
@inline export function ipv4FlagsFrag(p: usize): u16 { return bswap<u16>(load<u16>(p, IPV4_FLAGS_FRAG)); }
@inline export function ipv4Ttl(p: usize): u8 { return load<u8>(p, IPV4_TTL); }
@inline export function ipv4Proto(p: usize): u8 { return load<u8>(p, IPV4_PROTO); }
/** Addresses in network order as loaded (LE view). */
@inline export function ipv4Src(p: usize): u32 { return load<u32>(p, IPV4_SRC); }
@inline export function ipv4Dst(p: usize): u32 { return load<u32>(p, IPV4_DST); }
/** True for any fragment: MF set or a non-zero offset. */
@inline export function ipv4IsFragment(p: usize): bool { return (ipv4FlagsFrag(p) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0; }
/** True for a fragment other than the first: it carries no transport header. */
@inline export function ipv4IsLaterFragment(p: usize): bool { return (ipv4FlagsFrag(p) & IPV4_FRAG_OFFSET_MASK) != 0; }

/** Sum over the header including options (the checksum field included). */
@inline export function ipv4HeaderSum(p: usize, hlen: i32): u64 {
  return hlen == 20 ? csumIpv4Header20(p) : csumPartialScalar(p, hlen, 0);
}

export const IPV4_OK: i32 = 0;
export const IPV4_BAD_HEADER: i32 = 1;
export const IPV4_BAD_CHECKSUM: i32 = 2;

/**
 * Validates the header at `p` with `len` bytes available (RFC 1812 §5.2.2): version 4, IHL >= 5,
 * total length >= IHL*4 and <= len, header checksum. Returns IPV4_OK or a failure code.
 * After IPV4_OK the caller may trust ipv4HeaderLen and ipv4TotalLen.
 */
@inline export function ipv4Check(p: usize, len: i32): i32 {
  if (len < IPV4_MIN_HEADER_LEN) return IPV4_BAD_HEADER;
  const vi = load<u8>(p);
  if ((vi >> 4) != 4) return IPV4_BAD_HEADER;
  const hlen = <i32>(vi & 0x0f) << 2;
  if (hlen < IPV4_MIN_HEADER_LEN) return IPV4_BAD_HEADER;
  const tot = ipv4TotalLen(p);
  if (tot < hlen || tot > len) return IPV4_BAD_HEADER;
  if (csumFold(ipv4HeaderSum(p, hlen)) != 0xffff) return IPV4_BAD_CHECKSUM;
  return IPV4_OK;
}

/** Computes and stores the header checksum of a header whose checksum field may hold anything. */
@inline export function ipv4SetChecksum(p: usize, hlen: i32): void {
  store<u16>(p, 0, IPV4_CHECKSUM);
  store<u16>(p, csumFinish(ipv4HeaderSum(p, hlen)), IPV4_CHECKSUM);
}

/**
 * Writes a 20-byte header (no options) with checksum. `src`/`dst` in network order as loaded,
 * `flagsFrag` in host order (e.g. IPV4_FLAG_DF).
 */
@inline export function ipv4Emit(p: usize, tos: u8, totalLen: i32, id: u16, flagsFrag: u16, ttl: u8, proto: u8, src: u32, dst: u32): void {
  store<u32>(p, 0x45 | (<u32>tos << 8) | (<u32>bswap<u16>(<u16>totalLen) << 16));
  store<u32>(p, <u32>bswap<u16>(id) | (<u32>bswap<u16>(flagsFrag) << 16), IPV4_ID);
  store<u32>(p, <u32>ttl | (<u32>proto << 8), IPV4_TTL);
  store<u32>(p, src, IPV4_SRC);
  store<u32>(p, dst, IPV4_DST);
  // Sum in registers, not by re-reading the stored header (avoids a store-forwarding stall).
  const s: u64 = <u64>(0x45 | (<u32>tos << 8)) + <u64>bswap<u16>(<u16>totalLen) + <u64>bswap<u16>(id)
    + <u64>bswap<u16>(flagsFrag) + <u64>(<u32>ttl | (<u32>proto << 8)) + <u64>src + <u64>dst;
  store<u16>(p, csumFinish(s), IPV4_CHECKSUM);
}

/** True when the address (network order as loaded) is multicast 224/4 or limited broadcast. */
@inline export function ipv4IsMulticastOrBroadcast(a: u32): bool {
  return (a & 0xf0) == 0xe0 || a == 0xffffffff;
}

/**
 * RFC 1812 §5.3.7: a router must not forward packets from these sources: 0/8 ("this network"),
 * 127/8 (loopback), 224/4 (multicast) and 240/4 (class E, with the limited broadcast).
 * Addresses network order as loaded: the first octet is the low byte.
 */
@inline export function ipv4IsMartianSource(a: u32): bool {
  const o = a & 0xff;
  return o == 0 || o == 127 || o >= 224;
}
/** RFC 1812 §5.3.7: nor to 0/8, 127/8 or 240/4 (multicast and broadcast are handled apart). */
@inline export function ipv4IsMartianDestination(a: u32): bool {
  const o = a & 0xff;
  return o == 0 || o == 127 || (o >= 240 && a != 0xffffffff);
}
