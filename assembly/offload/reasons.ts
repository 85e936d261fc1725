// Offload outcomes: one list of reasons a vnet-headed input is refused (returned negated by the
// exports, counted here), and counters for what the offload calls produced. Keep in sync with
// docs/OFFLOADS.md and test/reference/offload.ts.

export const OFFLOAD_OK: i32 = 0;
/** An input or output descriptor outside memory, or a bad argument (l3Off, counts). */
export const OR_BAD_DESCRIPTOR: i32 = 1;
/** Shorter than the 10-byte virtio_net_hdr plus the link header. */
export const OR_VNET_TRUNCATED: i32 = 2;
/** flags other than NEEDS_CSUM or DATA_VALID, or both. */
export const OR_VNET_BAD_FLAGS: i32 = 3;
/** gso_type other than NONE, TCPV4, TCPV6 (+ECN), UDP_L4: legacy UFO (3), unknown; ECN without TCP GSO. */
export const OR_GSO_UNSUPPORTED: i32 = 4;
/** hdr_len beyond the packet. */
export const OR_VNET_BAD_HDR_LEN: i32 = 5;
/** NEEDS_CSUM with csum_start/csum_offset outside the packet, or (GSO) not the TCP / UDP checksum field. */
export const OR_VNET_BAD_CSUM: i32 = 6;
/** gso_size 0 with a GSO type. */
export const OR_VNET_BAD_GSO_SIZE: i32 = 7;
/** IP version, ethertype or transport protocol not what gso_type says (TCPV4 = IPv4 + TCP, UDP_L4 = IPv4 or IPv6 + UDP). */
export const OR_GSO_PROTO_MISMATCH: i32 = 8;
/** IP header or length fields malformed (also IPv4 total length 0: BIG TCP is not supported). */
export const OR_IP_MALFORMED: i32 = 9;
/** A GSO packet that is an IP fragment. */
export const OR_IP_FRAGMENT: i32 = 10;
/** IPv6 Routing or AH header in a GSO packet (pseudo-header / ICV cannot follow segmentation). */
export const OR_IPV6_EXT_UNSUPPORTED: i32 = 11;
/** TCP data offset below 5 words or beyond the IP payload. */
export const OR_TCP_MALFORMED: i32 = 12;
/** Needs more segments than output entries were given. */
export const OR_TOO_MANY_SEGMENTS: i32 = 13;
/** A segment (or the coalescing output) does not fit the output capacity. */
export const OR_OUTPUT_TOO_SMALL: i32 = 14;
/** UDP_L4: UDP header beyond the IP payload, or a UDP length other than the IP payload's. */
export const OR_UDP_MALFORMED: i32 = 15;
export const OFFLOAD_REASON_COUNT: i32 = 16;

// ---- counters (u64 each): [0, OFFLOAD_REASON_COUNT) refusals by reason, then these events ----
/** GSO super-packets split (TCP and UDP_L4; the UDP_L4 ones also in OC_SPLIT_USO). */
export const OC_SPLIT_GSO: i32 = OFFLOAD_REASON_COUNT + 0;
/** gso_type NONE packets passed (copied) through tsoSplit. */
export const OC_SPLIT_PLAIN: i32 = OFFLOAD_REASON_COUNT + 1;
/** Segments written by tsoSplit (plain packets included). */
export const OC_SPLIT_SEGMENTS: i32 = OFFLOAD_REASON_COUNT + 2;
/** NEEDS_CSUM on a gso_type NONE packet: checksum completed. */
export const OC_CSUM_COMPLETED: i32 = OFFLOAD_REASON_COUNT + 3;
/** Packets given to groCoalesce. */
export const OC_GRO_IN: i32 = OFFLOAD_REASON_COUNT + 4;
/** Super-packets (GSO outputs of two or more segments) written by groCoalesce. */
export const OC_GRO_SUPER: i32 = OFFLOAD_REASON_COUNT + 5;
/** Inputs that went into those super-packets. */
export const OC_GRO_MERGED: i32 = OFFLOAD_REASON_COUNT + 6;
/** Inputs passed through unchanged (gso_type NONE outputs). */
export const OC_GRO_PASSED: i32 = OFFLOAD_REASON_COUNT + 7;
/** TCP candidates refused for a wrong IPv4 header or TCP checksum (passed through: the kernel drops them). */
export const OC_GRO_BAD_CSUM: i32 = OFFLOAD_REASON_COUNT + 8;
/** UDP_L4 (USO) super-packets split. */
export const OC_SPLIT_USO: i32 = OFFLOAD_REASON_COUNT + 9;
export const OFFLOAD_COUNTER_COUNT: i32 = OFFLOAD_REASON_COUNT + 10;

/** Static (data-segment) storage: no allocation. */
export const offloadCountersBase: usize = memory.data(OFFLOAD_COUNTER_COUNT * 8, 16);

@inline export function offloadCount(idx: i32, by: u64 = 1): void {
  const p = offloadCountersBase + (<usize>idx << 3);
  store<u64>(p, load<u64>(p) + by);
}
