// UDP header (RFC 768), 8 bytes: sport(2) dport(2) length(2) checksum(2).

export const UDP_SPORT: i32 = 0;
export const UDP_DPORT: i32 = 2;
export const UDP_LENGTH: i32 = 4;
export const UDP_CHECKSUM: i32 = 6;
export const UDP_HEADER_LEN: i32 = 8;

export const IPPROTO_UDP: u8 = 17;

@inline export function udpSport(p: usize): u16 { return bswap<u16>(load<u16>(p, UDP_SPORT)); }
@inline export function udpDport(p: usize): u16 { return bswap<u16>(load<u16>(p, UDP_DPORT)); }
@inline export function udpLength(p: usize): u16 { return bswap<u16>(load<u16>(p, UDP_LENGTH)); }

/** The UDP length field must cover the header and fit inside the `avail` bytes of the IP payload. */
@inline export function udpCheck(p: usize, avail: i32): bool {
  if (avail < UDP_HEADER_LEN) return false;
  const l = <i32>udpLength(p);
  return l >= UDP_HEADER_LEN && l <= avail;
}

/** Writes ports and length; checksum zero (the caller fills it in when it computes one). */
@inline export function udpEmit(p: usize, sport: u16, dport: u16, length: u16): void {
  store<u32>(p, <u32>bswap<u16>(sport) | (<u32>bswap<u16>(dport) << 16), UDP_SPORT);
  store<u32>(p, <u32>bswap<u16>(length), UDP_LENGTH);
}
