// IPv6 header (RFC 8200 §3) and the extension-header walk (RFC 8200 §4).
//
// +-------+---------------+-----------------------------+
// |ver=6  | traffic class | flow label (20)             |
// | payload length (16)   | next header  | hop limit    |
// | source address (128)                                |
// | destination address (128)                           |

export const IPV6_VER_TC_FLOW: i32 = 0;
export const IPV6_PAYLOAD_LEN: i32 = 4;
export const IPV6_NEXT_HEADER: i32 = 6;
export const IPV6_HOP_LIMIT: i32 = 7;
export const IPV6_SRC: i32 = 8;
export const IPV6_DST: i32 = 24;
export const IPV6_HEADER_LEN: i32 = 40;
/** RFC 8200 §5: every link has an MTU of at least 1280 bytes. */
export const IPV6_MIN_MTU: i32 = 1280;

export const NH_HOP_BY_HOP: u8 = 0;
export const NH_ROUTING: u8 = 43;
export const NH_FRAGMENT: u8 = 44;
export const NH_ESP: u8 = 50;
export const NH_AH: u8 = 51;
export const NH_ICMPV6: u8 = 58;
export const NH_NO_NEXT: u8 = 59;
export const NH_DEST_OPTS: u8 = 60;

/** The fragment header (RFC 8200 §4.5): next(1) reserved(1) offset:13|res:2|M:1 (2) id(4). */
export const FRAG6_OFFSET_FLAGS: i32 = 2;
export const FRAG6_LEN: i32 = 8;

/** Ext-header walk gives up after this many headers (a bound on work per packet). */
export const IPV6_MAX_EXT_HEADERS: i32 = 8;

@inline export function ipv6PayloadLen(p: usize): i32 { return <i32>bswap<u16>(load<u16>(p, IPV6_PAYLOAD_LEN)); }
@inline export function ipv6NextHeader(p: usize): u8 { return load<u8>(p, IPV6_NEXT_HEADER); }
@inline export function ipv6HopLimit(p: usize): u8 { return load<u8>(p, IPV6_HOP_LIMIT); }
@inline export function ipv6DstIsMulticast(p: usize): bool { return load<u8>(p, IPV6_DST) == 0xff; }
/** fe80::/10 */
@inline export function ipv6IsLinkLocal(a: usize): bool { return (load<u16>(a) & 0xc0ff) == 0x80fe; }
@inline export function ipv6IsUnspecified(a: usize): bool { return (load<u64>(a) | load<u64>(a, 8)) == 0; }
@inline export function ipv6AddrEqual(a: usize, b: usize): bool { return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8); }
@inline export function ipv6AddrCopy(dst: usize, src: usize): void { store<u64>(dst, load<u64>(src)); store<u64>(dst, load<u64>(src, 8), 8); }

/** Version 6 and payload length inside `len`. After true the caller may trust ipv6PayloadLen. */
@inline export function ipv6Check(p: usize, len: i32): bool {
  if (len < IPV6_HEADER_LEN) return false;
  if ((load<u8>(p) >> 4) != 6) return false;
  return IPV6_HEADER_LEN + ipv6PayloadLen(p) <= len;
}

/**
 * Writes a fixed header. Version 6, traffic class `tc`, flow label `flow` (20 bits), addresses
 * copied from pointers.
 */
@inline export function ipv6Emit(p: usize, tc: u8, flow: u32, payloadLen: i32, nextHeader: u8, hopLimit: u8, src: usize, dst: usize): void {
  const w0: u32 = (6 << 28) | (<u32>tc << 20) | (flow & 0xfffff);
  store<u32>(p, bswap<u32>(w0));
  store<u32>(p, <u32>bswap<u16>(<u16>payloadLen) | (<u32>nextHeader << 16) | (<u32>hopLimit << 24), IPV6_PAYLOAD_LEN);
  ipv6AddrCopy(p + IPV6_SRC, src);
  ipv6AddrCopy(p + IPV6_DST, dst);
}

// ---- extension-header walk ------------------------------------------------------------------
// Result of ipv6Walk, kept in globals (no allocation): upper-layer protocol, its offset from the
// start of the IPv6 header, and fragment facts.
export let walkProto: u8 = 0;
export let walkOffset: i32 = 0;
export let walkIsFragment: bool = false;
export let walkIsLaterFragment: bool = false;

export const WALK_OK: i32 = 0;
export const WALK_BAD: i32 = 1;

/**
 * Walks the extension headers of the packet at `p` whose IPv6 payload ends at `end` (offset from
 * p). Hop-by-hop only first (RFC 8200 §4.1); each header must fit; at most IPV6_MAX_EXT_HEADERS.
 * ESP, No Next Header and unknown values end the walk as the "upper-layer" protocol. A later
 * fragment (offset != 0) ends the walk at the fragment header's next header with no transport
 * header available.
 */
export function ipv6Walk(p: usize, end: i32): i32 {
  let nh = load<u8>(p, IPV6_NEXT_HEADER);
  let off = IPV6_HEADER_LEN;
  walkIsFragment = false;
  walkIsLaterFragment = false;
  for (let n = 0; n <= IPV6_MAX_EXT_HEADERS; n++) {
    if (nh == NH_HOP_BY_HOP) {
      if (n != 0) return WALK_BAD;
    } else if (nh != NH_ROUTING && nh != NH_DEST_OPTS && nh != NH_FRAGMENT && nh != NH_AH) {
      walkProto = nh;
      walkOffset = off;
      return WALK_OK;
    }
    if (off + 8 > end) return WALK_BAD;
    const h = p + <usize>off;
    const next = load<u8>(h);
    let hlen: i32;
    if (nh == NH_FRAGMENT) {
      hlen = FRAG6_LEN;
      const offFlags = bswap<u16>(load<u16>(h, FRAG6_OFFSET_FLAGS));
      walkIsFragment = true;
      if ((offFlags & 0xfff8) != 0) {
        walkIsLaterFragment = true;
        walkProto = next;
        walkOffset = off + FRAG6_LEN;
        return WALK_OK;
      }
    } else if (nh == NH_AH) {
      hlen = (<i32>load<u8>(h, 1) + 2) << 2; // RFC 4302 §2.2: in 4-octet units minus 2
    } else {
      hlen = (<i32>load<u8>(h, 1) + 1) << 3; // RFC 8200 §4.3: in 8-octet units minus 1
    }
    if (off + hlen > end) return WALK_BAD;
    off += hlen;
    nh = next;
  }
  return WALK_BAD;
}

/** ::1 (RFC 4291 §2.5.3). */
@inline export function ipv6IsLoopback(a: usize): bool { return load<u64>(a) == 0 && load<u64>(a, 8) == 0x0100000000000000; }
