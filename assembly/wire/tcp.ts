// TCP header (RFC 9293 §3.1): sport(2) dport(2) seq(4) ack(4) offset/flags(2) window(2) csum(2) urg(2).

export const TCP_SPORT: i32 = 0;
export const TCP_DPORT: i32 = 2;
export const TCP_SEQ: i32 = 4;
export const TCP_ACK: i32 = 8;
export const TCP_DATA_OFFSET: i32 = 12;
export const TCP_FLAGS: i32 = 13;
export const TCP_WINDOW: i32 = 14;
export const TCP_CHECKSUM: i32 = 16;
export const TCP_MIN_HEADER_LEN: i32 = 20;

export const IPPROTO_TCP: u8 = 6;

@inline export function tcpHeaderLen(p: usize): i32 { return <i32>(load<u8>(p, TCP_DATA_OFFSET) >> 4) << 2; }

/** Data offset at least 5 words and inside the `avail` bytes of IP payload. */
@inline export function tcpCheck(p: usize, avail: i32): bool {
  if (avail < TCP_MIN_HEADER_LEN) return false;
  const h = tcpHeaderLen(p);
  return h >= TCP_MIN_HEADER_LEN && h <= avail;
}
/** The two ports as one u32 exactly as on the wire (for flow hashing). */
@inline export function tcpPorts(p: usize): u32 { return load<u32>(p, TCP_SPORT); }
