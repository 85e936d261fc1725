// VXLAN header (RFC 7348 §5), 8 bytes after the outer UDP header.
//
// +-+-+-+-+-+-+-+-+-------------------------------------------+
// |R|R|R|R|I|R|R|R|            Reserved (24)                  |
// +-----------------------------------------------+-----------+
// |            VXLAN Network Identifier (24)      | Reserved  |
//
// Linux's VXLAN device (and flannel's `vxlan` backend) use UDP port 8472 by default; IANA's is 4789.

export const VXLAN_FLAGS: i32 = 0;
export const VXLAN_VNI: i32 = 4;
export const VXLAN_HEADER_LEN: i32 = 8;
export const VXLAN_FLAG_I: u8 = 0x08;
export const VXLAN_PORT_LINUX: u16 = 8472;
export const VXLAN_PORT_IANA: u16 = 4789;

/** RFC 7348 §5: the I flag MUST be 1; the other flag bits and reserved fields are ignored on receipt. */
@inline export function vxlanCheck(p: usize, avail: i32): bool {
  return avail >= VXLAN_HEADER_LEN && (load<u8>(p, VXLAN_FLAGS) & VXLAN_FLAG_I) != 0;
}
@inline export function vxlanVni(p: usize): u32 { return bswap<u32>(load<u32>(p, VXLAN_VNI)) >> 8; }

/** Writes flags = I, reserved = 0 and `vni`. */
@inline export function vxlanEmit(p: usize, vni: u32): void {
  store<u32>(p, <u32>VXLAN_FLAG_I);
  store<u32>(p, bswap<u32>(vni << 8), VXLAN_VNI);
}
