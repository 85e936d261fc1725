// struct virtio_net_hdr (Linux include/uapi/linux/virtio_net.h; virtio 1.x spec §5.1.6): the
// 10 bytes Linux TUN/TAP puts in front of every packet read from, and expects in front of every
// packet written to, a device opened with IFF_VNET_HDR. Little-endian (virtio 1.0 byte order;
// the TUN default on little-endian hosts), so fields are plain `load<u16>`.
//
//  0       1          2         4          6            8             10
// +-------+----------+---------+----------+------------+-------------+
// | flags | gso_type | hdr_len | gso_size | csum_start | csum_offset |
// +-------+----------+---------+----------+------------+-------------+
//
// csum_start and hdr_len count from the first byte after this header (the Ethernet header on a
// TAP, the IP header on a TUN). NEEDS_CSUM (CHECKSUM_PARTIAL) means: the 16-bit field at
// csum_start + csum_offset holds the folded pseudo-header sum, and the checksum over
// [csum_start, end) is still to be computed and stored there.
//
// `vnetCheck` validates a header against the packet behind it, once; the facts it finds are left
// in the globals below (like ipv6Walk in wire/ipv6.ts), and after OFFLOAD_OK they are trusted.

import {
  OFFLOAD_OK, OR_VNET_TRUNCATED, OR_VNET_BAD_FLAGS, OR_GSO_UNSUPPORTED, OR_VNET_BAD_HDR_LEN,
  OR_VNET_BAD_CSUM, OR_VNET_BAD_GSO_SIZE, OR_GSO_PROTO_MISMATCH, OR_IP_MALFORMED, OR_IP_FRAGMENT,
  OR_IPV6_EXT_UNSUPPORTED, OR_TCP_MALFORMED, OR_UDP_MALFORMED,
} from "./reasons";
import { IPV4_TOTAL_LEN, IPV4_FLAGS_FRAG, IPV4_PROTO, IPV4_FLAG_MF, IPV4_FRAG_OFFSET_MASK } from "../wire/ipv4";
import { IPV6_PAYLOAD_LEN, IPV6_NEXT_HEADER, IPV6_HEADER_LEN, NH_HOP_BY_HOP, NH_DEST_OPTS, NH_FRAGMENT, NH_ROUTING, NH_AH } from "../wire/ipv6";
import { TCP_DATA_OFFSET, TCP_MIN_HEADER_LEN, IPPROTO_TCP } from "../wire/tcp";
import { UDP_LENGTH, UDP_CHECKSUM, UDP_HEADER_LEN, IPPROTO_UDP } from "../wire/udp";

export const VNET_FLAGS: i32 = 0;
export const VNET_GSO_TYPE: i32 = 1;
export const VNET_HDR_LEN: i32 = 2;
export const VNET_GSO_SIZE: i32 = 4;
export const VNET_CSUM_START: i32 = 6;
export const VNET_CSUM_OFFSET: i32 = 8;
/** sizeof(struct virtio_net_hdr); the TUNSETVNETHDRSZ default. */
export const VNET_LEN: i32 = 10;

export const VNET_F_NEEDS_CSUM: u8 = 1;
export const VNET_F_DATA_VALID: u8 = 2;

export const VNET_GSO_NONE: u8 = 0;
export const VNET_GSO_TCPV4: u8 = 1;
/** Legacy UFO: refused (the kernel stopped producing it in 4.14). */
export const VNET_GSO_UDP: u8 = 3;
export const VNET_GSO_TCPV6: u8 = 4;
/**
 * USO (SKB_GSO_UDP_L4; TUN_F_USO4/6 since Linux 6.2): a UDP datagram to cut into gso_size
 * payloads, each its own datagram. IPv4 or IPv6: the version comes from the packet.
 */
export const VNET_GSO_UDP_L4: u8 = 5;
/** Or'ed into gso_type: the first segment carries CWR (SKB_GSO_TCP_ECN). TCP only. */
export const VNET_GSO_ECN: u8 = 0x80;

/** Offset of the TCP checksum field inside the TCP header (the csum_offset of TCP GSO). */
export const TCP_CSUM_OFFSET: i32 = 16;

/** Largest link-header length (bytes before the IP header) the offload calls accept. */
export const L3_OFF_MAX: i32 = 64;

/** IPv6 extension headers walked at most before TCP (a bound on work per packet). */
const EXT_MAX: i32 = 8;

// ---- accessors ------------------------------------------------------------------------------
@inline export function vnetFlags(h: usize): u8 { return load<u8>(h, VNET_FLAGS); }
@inline export function vnetGsoType(h: usize): u8 { return load<u8>(h, VNET_GSO_TYPE); }
@inline export function vnetHdrLen(h: usize): i32 { return <i32>load<u16>(h, VNET_HDR_LEN); }
@inline export function vnetGsoSize(h: usize): i32 { return <i32>load<u16>(h, VNET_GSO_SIZE); }
@inline export function vnetCsumStart(h: usize): i32 { return <i32>load<u16>(h, VNET_CSUM_START); }
@inline export function vnetCsumOffset(h: usize): i32 { return <i32>load<u16>(h, VNET_CSUM_OFFSET); }

/** Writes a header. All fields as plain integers (stored little-endian). */
@inline export function vnetEmit(h: usize, flags: u8, gsoType: u8, hdrLen: i32, gsoSize: i32, csumStart: i32, csumOffset: i32): void {
  store<u32>(h, <u32>flags | (<u32>gsoType << 8) | (<u32>hdrLen << 16));
  store<u32>(h, <u32>(gsoSize & 0xffff) | (<u32>(csumStart & 0xffff) << 16), VNET_GSO_SIZE);
  store<u16>(h, <u16>csumOffset, VNET_CSUM_OFFSET);
}

/** The all-zero header: no offload, nothing to do (what a pass-through packet gets). */
@inline export function vnetEmitNone(h: usize): void {
  store<u64>(h, 0);
  store<u16>(h, 0, 8);
}

// ---- facts found by vnetCheck (valid after OFFLOAD_OK) ----------------------------------------
/** Header fields. gso type without the ECN bit; ECN bit apart. */
export let vnFlags: u8 = 0;
export let vnGso: u8 = 0;
export let vnEcn: bool = false;
export let vnGsoSize: i32 = 0;
export let vnCsumStart: i32 = 0;
export let vnCsumOffset: i32 = 0;
/** Bytes after the vnet header. */
export let vnFrameLen: i32 = 0;
/** GSO types only, all relative to the IP header: */
export let vnIsV6: bool = false;
/** UDP_L4 (USO) rather than TCPV4/TCPV6. */
export let vnIsUdp: bool = false;
/** IP header length incl. IPv4 options / IPv6 extension headers = offset of TCP / UDP. */
export let vnL4Off: i32 = 0;
/** TCP header length (options included), or 8 for UDP. */
export let vnL4HdrLen: i32 = 0;
/** IPv4 total length / 40 + IPv6 payload length; bytes of the frame after it are ignored. */
export let vnIpLen: i32 = 0;

/**
 * Walks IPv6 extension headers from the fixed header at `ip` to `proto` (TCP or UDP), inside
 * `end` bytes. Allowed before it: Hop-by-Hop (first only) and Destination Options. Returns the
 * transport header's offset, or a reason negated.
 */
function walk6To(ip: usize, end: i32, proto: u8): i32 {
  let nh = load<u8>(ip, IPV6_NEXT_HEADER);
  let off = IPV6_HEADER_LEN;
  for (let n = 0; n <= EXT_MAX; n++) {
    if (nh == proto) return off;
    if (n == EXT_MAX) break;
    if (nh == NH_HOP_BY_HOP) {
      if (n != 0) return -OR_IP_MALFORMED;
    } else if (nh == NH_FRAGMENT) {
      return -OR_IP_FRAGMENT;
    } else if (nh == NH_ROUTING || nh == NH_AH) {
      return -OR_IPV6_EXT_UNSUPPORTED;
    } else if (nh != NH_DEST_OPTS) {
      return -OR_GSO_PROTO_MISMATCH;
    }
    if (off + 8 > end) return -OR_IP_MALFORMED;
    const h = ip + <usize>off;
    const hlen = (<i32>load<u8>(h, 1) + 1) << 3; // RFC 8200 §4.3: 8-octet units minus 1
    if (off + hlen > end) return -OR_IP_MALFORMED;
    nh = load<u8>(h);
    off += hlen;
  }
  return -OR_IP_MALFORMED;
}

/**
 * Validates the vnet header at `h` against the frame behind it; `len` counts both; the IP header
 * is `l3Off` bytes into the frame (0 for TUN, 14 for an Ethernet TAP; when l3Off >= 2 the two
 * bytes before the IP header are its ethertype). Caller guarantees `len` bytes are in memory and
 * 0 <= l3Off <= L3_OFF_MAX. Checks, in this order (docs/OFFLOADS.md):
 *   length; flags; gso_type; hdr_len <= frame; NEEDS_CSUM field inside the frame;
 *   then for TCPV4/TCPV6/UDP_L4 only: gso_size > 0; IP version (and ethertype) matching gso_type
 *   (UDP_L4: 4 or 6); IP header and lengths; no fragment; TCP or UDP (IPv6: via HBH/DestOpts
 *   only); TCP header, or UDP header with its length = the IP payload's; and with NEEDS_CSUM,
 *   csum_start/csum_offset = the TCP (16) or UDP (6) checksum field.
 * Returns OFFLOAD_OK or a reason.
 */
export function vnetCheck(h: usize, len: i32, l3Off: i32): i32 {
  if (len < VNET_LEN + l3Off) return OR_VNET_TRUNCATED;
  const frameLen = len - VNET_LEN;
  const flags = vnetFlags(h);
  if ((flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) != 0 || flags == (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) return OR_VNET_BAD_FLAGS;
  const gt = vnetGsoType(h);
  const gso = gt & ~VNET_GSO_ECN;
  if (gso == VNET_GSO_NONE || gso == VNET_GSO_UDP_L4) {
    // ECN (SKB_GSO_TCP_ECN: CWR on the first segment only) means nothing without TCP
    if (gt != gso) return OR_GSO_UNSUPPORTED;
  } else if (gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6) {
    return OR_GSO_UNSUPPORTED;
  }
  if (vnetHdrLen(h) > frameLen) return OR_VNET_BAD_HDR_LEN;
  const cs = vnetCsumStart(h);
  const co = vnetCsumOffset(h);
  const needs = (flags & VNET_F_NEEDS_CSUM) != 0;
  if (needs && cs + co + 2 > frameLen) return OR_VNET_BAD_CSUM;
  vnFlags = flags;
  vnGso = gso;
  vnEcn = gt != gso;
  vnGsoSize = vnetGsoSize(h);
  vnCsumStart = cs;
  vnCsumOffset = co;
  vnFrameLen = frameLen;
  if (gso == VNET_GSO_NONE) return OFFLOAD_OK;

  if (vnGsoSize == 0) return OR_VNET_BAD_GSO_SIZE;
  const ip = h + <usize>(VNET_LEN + l3Off);
  const avail = frameLen - l3Off;
  if (avail < 1) return OR_IP_MALFORMED;
  const udp = gso == VNET_GSO_UDP_L4;
  const ver = <i32>(load<u8>(ip) >> 4);
  // SKB_GSO_UDP_L4 is one type for IPv4 and IPv6 (TUN_F_USO4/USO6 only gate which the device
  // is handed): the version is the packet's
  const v6 = udp ? ver == 6 : gso == VNET_GSO_TCPV6;
  if (ver != (v6 ? 6 : 4)) return OR_GSO_PROTO_MISMATCH;
  const proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
  if (l3Off >= 2 && load<u16>(ip - 2) != (v6 ? <u16>0xdd86 : <u16>0x0008)) return OR_GSO_PROTO_MISMATCH;
  let l4: i32;
  let ipLen: i32;
  if (!v6) {
    if (avail < 20) return OR_IP_MALFORMED;
    const ihl = <i32>(load<u8>(ip) & 0x0f) << 2;
    ipLen = <i32>bswap<u16>(load<u16>(ip, IPV4_TOTAL_LEN));
    if (ihl < 20 || ipLen < ihl || ipLen > avail) return OR_IP_MALFORMED;
    if ((bswap<u16>(load<u16>(ip, IPV4_FLAGS_FRAG)) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0) return OR_IP_FRAGMENT;
    if (load<u8>(ip, IPV4_PROTO) != proto) return OR_GSO_PROTO_MISMATCH;
    l4 = ihl;
  } else {
    if (avail < IPV6_HEADER_LEN) return OR_IP_MALFORMED;
    ipLen = IPV6_HEADER_LEN + <i32>bswap<u16>(load<u16>(ip, IPV6_PAYLOAD_LEN));
    if (ipLen > avail) return OR_IP_MALFORMED;
    l4 = walk6To(ip, ipLen, proto);
    if (l4 < 0) return -l4;
  }
  vnIsV6 = v6;
  vnIsUdp = udp;
  vnL4Off = l4;
  vnIpLen = ipLen;
  if (udp) {
    // The super-packet's UDP length covers all of it (udp_send_skb writes it so; RFC 768); a
    // mismatch means the lengths disagree, and segments would inherit the confusion.
    if (ipLen - l4 < UDP_HEADER_LEN) return OR_UDP_MALFORMED;
    if (<i32>bswap<u16>(load<u16>(ip + <usize>l4, UDP_LENGTH)) != ipLen - l4) return OR_UDP_MALFORMED;
    if (needs && (cs != l3Off + l4 || co != UDP_CHECKSUM)) return OR_VNET_BAD_CSUM;
    vnL4HdrLen = UDP_HEADER_LEN;
    return OFFLOAD_OK;
  }
  if (ipLen - l4 < TCP_MIN_HEADER_LEN) return OR_TCP_MALFORMED;
  const thl = <i32>(load<u8>(ip + <usize>l4, TCP_DATA_OFFSET) >> 4) << 2;
  if (thl < TCP_MIN_HEADER_LEN || thl > ipLen - l4) return OR_TCP_MALFORMED;
  if (needs && (cs != l3Off + l4 || co != TCP_CSUM_OFFSET)) return OR_VNET_BAD_CSUM;
  vnL4HdrLen = thl;
  return OFFLOAD_OK;
}
