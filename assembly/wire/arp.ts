// ARP for IPv4 over Ethernet (RFC 826), 28 bytes after the Ethernet header.
//
// htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 oper(2) sha(6) spa(4) tha(6) tpa(4)

export const ARP_HTYPE: i32 = 0;
export const ARP_PTYPE: i32 = 2;
export const ARP_HLEN: i32 = 4;
export const ARP_PLEN: i32 = 5;
export const ARP_OPER: i32 = 6;
export const ARP_SHA: i32 = 8;
export const ARP_SPA: i32 = 14;
export const ARP_THA: i32 = 18;
export const ARP_TPA: i32 = 24;
export const ARP_LEN: i32 = 28;

export const ARP_OP_REQUEST: u16 = 1;
export const ARP_OP_REPLY: u16 = 2;

/** Valid Ethernet/IPv4 ARP: length, htype 1, ptype 0x0800, hlen 6, plen 4. */
@inline export function arpCheck(p: usize, len: i32): bool {
  // htype=0x0001, ptype=0x0800 as one LE u32: bytes 00 01 08 00; hlen=6 plen=4: bytes 06 04
  return len >= ARP_LEN && load<u32>(p, ARP_HTYPE) == 0x00080100 && load<u16>(p, ARP_HLEN) == 0x0406;
}
@inline export function arpOper(p: usize): u16 { return bswap<u16>(load<u16>(p, ARP_OPER)); }
/** Sender and target protocol addresses, network order as loaded. */
@inline export function arpSpa(p: usize): u32 { return load<u32>(p, ARP_SPA); }
@inline export function arpTpa(p: usize): u32 { return load<u32>(p, ARP_TPA); }

/**
 * Turns the request at `p` into a reply in place (RFC 826 "swap fields"): the target becomes the
 * requester, the sender becomes (`mac`, the requested address).
 */
export function arpEmitReplyInPlace(p: usize, mac: usize): void {
  const spa = load<u32>(p, ARP_SPA);
  const tpa = load<u32>(p, ARP_TPA);
  // tha := sha, tpa := spa
  store<u32>(p, load<u32>(p, ARP_SHA), ARP_THA);
  store<u16>(p, load<u16>(p, ARP_SHA + 4), ARP_THA + 4);
  store<u32>(p, spa, ARP_TPA);
  // sha := mac, spa := old tpa
  store<u32>(p, load<u32>(mac), ARP_SHA);
  store<u16>(p, load<u16>(mac, 4), ARP_SHA + 4);
  store<u32>(p, tpa, ARP_SPA);
  store<u16>(p, bswap<u16>(ARP_OP_REPLY), ARP_OPER);
}
