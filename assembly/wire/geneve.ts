// Geneve header (RFC 8926 §3.4), 8 bytes + options, after the outer UDP header (port 6081).
//
// |Ver(2)|Opt Len(6)|O|C| Rsvd(6) |   Protocol Type (16)   |
// |        Virtual Network Identifier (24)     | Reserved  |
// |                 Variable-length options                |
//
// Option: class(16) type(8, high bit = critical) R(3) length(5, 4-byte units) data.

export const GENEVE_VER_OPTLEN: i32 = 0;
export const GENEVE_FLAGS: i32 = 1;
export const GENEVE_PROTOCOL: i32 = 2;
export const GENEVE_VNI: i32 = 4;
export const GENEVE_HEADER_LEN: i32 = 8;
export const GENEVE_PORT: u16 = 6081;
export const GENEVE_FLAG_OAM: u8 = 0x80;
export const GENEVE_FLAG_CRITICAL: u8 = 0x40;
/** Protocol type 0x6558 (Ethernet) as loaded with load<u16>. */
export const GENEVE_PROTO_ETHERNET_LE: u16 = 0x5865;

export const GENEVE_OK: i32 = 0;
export const GENEVE_BAD: i32 = 1;
/** Critical options present that we do not understand: RFC 8926 §3.5 says MUST drop. */
export const GENEVE_UNKNOWN_CRITICAL: i32 = 2;
export const GENEVE_NOT_ETHERNET: i32 = 3;
export const GENEVE_OAM: i32 = 4;

/** Total header length including options. */
@inline export function geneveHeaderLen(p: usize): i32 { return GENEVE_HEADER_LEN + ((<i32>load<u8>(p) & 0x3f) << 2); }
@inline export function geneveVni(p: usize): u32 { return bswap<u32>(load<u32>(p, GENEVE_VNI)) >> 8; }

/**
 * Validates the header at `p` with `avail` bytes: version 0, options inside the packet and well
 * formed (each option's length inside the option area), Ethernet payload, no OAM frame. We
 * understand no options, so any option with the critical bit set drops the packet (§3.5); the C
 * flag tells us upfront that one is present (§3.4). Other options are parsed and skipped.
 */
export function geneveCheck(p: usize, avail: i32): i32 {
  if (avail < GENEVE_HEADER_LEN) return GENEVE_BAD;
  const b0 = load<u8>(p);
  if ((b0 >> 6) != 0) return GENEVE_BAD;
  const hlen = geneveHeaderLen(p);
  if (hlen > avail) return GENEVE_BAD;
  const flags = load<u8>(p, GENEVE_FLAGS);
  if (flags & GENEVE_FLAG_OAM) return GENEVE_OAM;
  if (load<u16>(p, GENEVE_PROTOCOL) != GENEVE_PROTO_ETHERNET_LE) return GENEVE_NOT_ETHERNET;
  let off = GENEVE_HEADER_LEN;
  let critical = false;
  while (off < hlen) {
    if (off + 4 > hlen) return GENEVE_BAD;
    const o = p + <usize>off;
    if (load<u8>(o, 2) & 0x80) critical = true;
    off += 4 + ((<i32>load<u8>(o, 3) & 0x1f) << 2);
  }
  if (off != hlen) return GENEVE_BAD;
  if (critical || (flags & GENEVE_FLAG_CRITICAL)) return GENEVE_UNKNOWN_CRITICAL;
  return GENEVE_OK;
}

/** Writes an 8-byte header without options: version 0, Ethernet payload, `vni`. */
@inline export function geneveEmit(p: usize, vni: u32): void {
  store<u32>(p, <u32>GENEVE_PROTO_ETHERNET_LE << 16);
  store<u32>(p, bswap<u32>(vni << 8), GENEVE_VNI);
}
