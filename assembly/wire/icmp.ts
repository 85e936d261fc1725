// ICMP for IPv4 (RFC 792), the 8-byte header: type(1) code(1) checksum(2) rest(4).
// For "fragmentation needed" (type 3 code 4) the rest is unused(2) next-hop MTU(2) (RFC 1191 §4).

export const ICMP_TYPE: i32 = 0;
export const ICMP_CODE: i32 = 1;
export const ICMP_CHECKSUM: i32 = 2;
export const ICMP_REST: i32 = 4;
export const ICMP_MTU: i32 = 6;
export const ICMP_HEADER_LEN: i32 = 8;

export const IPPROTO_ICMP: u8 = 1;

export const ICMP_ECHO_REPLY: u8 = 0;
export const ICMP_DEST_UNREACH: u8 = 3;
export const ICMP_ECHO_REQUEST: u8 = 8;
export const ICMP_TIME_EXCEEDED: u8 = 11;
export const ICMP_PARAM_PROBLEM: u8 = 12;

export const ICMP_CODE_NET_UNREACH: u8 = 0;
export const ICMP_CODE_HOST_UNREACH: u8 = 1;
export const ICMP_CODE_FRAG_NEEDED: u8 = 4;
export const ICMP_CODE_TTL_EXCEEDED: u8 = 0;

/**
 * RFC 1812 §4.3.2.3: an ICMP error quotes as much of the original datagram as fits without
 * the error exceeding 576 bytes.
 */
export const ICMP_ERROR_MAX_LEN: i32 = 576;

@inline export function icmpType(p: usize): u8 { return load<u8>(p, ICMP_TYPE); }

/** True for ICMP error messages (never answered with another error, RFC 1812 §4.3.2.7). */
@inline export function icmpIsError(type: u8): bool {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/** Writes type, code and the 4-byte rest field (host order); checksum zero (caller completes it). */
@inline export function icmpEmit(p: usize, type: u8, code: u8, rest: u32): void {
  store<u32>(p, <u32>type | (<u32>code << 8));
  store<u32>(p, bswap<u32>(rest), ICMP_REST);
}
