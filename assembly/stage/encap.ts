// Encapsulation towards a peer node: VXLAN (RFC 7348) or Geneve (RFC 8926) over IPv4 or IPv6,
// prepended in place in the headroom in front of the inner IP packet.
//
// Wire contract (flannel `vxlan` / Linux kernel VXLAN): inner Ethernet dst = peer VTEP MAC,
// src = our VTEP MAC; UDP dst = configured port (8472 default); UDP source port = a hash of
// the inner flow scaled into the ephemeral range (as udp_flow_src_port() in Linux), so that
// fragments of one datagram and packets of one flow always use one port; outer IPv4 with DF
// clear, TTL 64, TOS 0 as the kernel sends it (test/vectors/kernel captures) and a correct header
// checksum (we never exceed the underlay MTU ourselves: RFC 7348 §4.3); outer UDP checksum zero
// over IPv4 unless configured (RFC 7348 §5 allows zero) and always computed over IPv6
// (RFC 8200 §8.1).

import { ETH_HEADER_LEN, ETHERTYPE_IPV4_LE, ETHERTYPE_IPV6_LE, macCopy } from "../wire/ethernet";
import { ipv4Emit, IPV4_MIN_HEADER_LEN } from "../wire/ipv4";
import { ipv6Emit, IPV6_HEADER_LEN } from "../wire/ipv6";
import { udpEmit, UDP_HEADER_LEN, UDP_CHECKSUM, IPPROTO_UDP } from "../wire/udp";
import { vxlanEmit } from "../wire/vxlan";
import { geneveEmit } from "../wire/geneve";
import { csumPartial, csumPseudo4, csumPseudo6, csumFinish, csumIpv4Header20 } from "../csum/checksum";
import { CFGF_GENEVE, CFGF_UDP_CSUM4 } from "../abi";
import {
  cfgFlags, cfgTunnelPort, cfgTunnelPortLe, cfgVni, cfgVtepMac, cfgUnderlay4, cfgUnderlay6, cfgSportMin, cfgSportSpan,
  nextIpv4Id, peerTemplateBase, PEER_TEMPLATE_SIZE,
} from "../state";
import { peerRecord, peerMac, peerAddr, peerIsV6 } from "../tables/peers";

/** Outer TTL / hop limit (Linux: the route's default, 64). */
const OUTER_TTL: u8 = 64;
/** Bytes the tunnel header adds after UDP (VXLAN and option-less Geneve are both 8). */
const TUNNEL_HEADER_LEN: i32 = 8;
/** Total bytes prepended in front of the inner IP packet: inner Ethernet + tunnel + UDP + outer IP. */
export const ENCAP_OVERHEAD4: i32 = ETH_HEADER_LEN + TUNNEL_HEADER_LEN + UDP_HEADER_LEN + IPV4_MIN_HEADER_LEN; // 50
export const ENCAP_OVERHEAD6: i32 = ETH_HEADER_LEN + TUNNEL_HEADER_LEN + UDP_HEADER_LEN + IPV6_HEADER_LEN; // 70

// Mixing steps of MurmurHash3 (public domain, A. Appleby); the offload code's flow table uses them.
@inline export function hashMix(h: u32, k: u32): u32 {
  k *= 0xcc9e2d51;
  k = rotl<u32>(k, 15);
  k *= 0x1b873593;
  h ^= k;
  h = rotl<u32>(h, 13);
  return h * 5 + 0xe6546b64;
}
@inline export function hashFinal(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

// ---- the flow hash ------------------------------------------------------------------------------
// The outer UDP source port (and the outer IPv6 flow label) only has to be a stable function of
// the inner flow (addresses, protocol, ports) that spreads flows well (RFC 7348 §5: "a hash of
// fields from the inner packet"). Each 64-bit word is multiplied by its own odd constant and the
// products are xored, so the multiplies run in parallel (one multiply-and-finish chain per packet
// instead of a chain per word); the finish mixes the high bits down and takes the high 32 bits of
// one more product. Callers use the high bits (sourcePortFor) and the low 20 (flow label).
const FLOW_K0: u64 = 0x9e3779b97f4a7c15;
const FLOW_K1: u64 = 0xc2b2ae3d27d4eb4f;
const FLOW_K2: u64 = 0x165667b19e3779f9;
const FLOW_K3: u64 = 0xd6e8feb86659fd93;
const FLOW_K4: u64 = 0xff51afd7ed558ccd;
const FLOW_FINISH: u64 = 0xc4ceb9fe1a85ec53;

@inline function flowFinish(h: u64): u32 {
  h ^= h >> 32;
  h *= FLOW_FINISH;
  return <u32>((h ^ (h >> 29)) >> 32);
}
/** Flow hash of two 64-bit words (IPv4: both addresses; protocol and ports). */
@inline export function flowHash2(a: u64, b: u64): u32 {
  return flowFinish((a * FLOW_K0) ^ (b * FLOW_K1));
}
/** Flow hash of five 64-bit words (IPv6: both addresses; protocol and ports). */
@inline export function flowHash5(a: u64, b: u64, c: u64, d: u64, e: u64): u32 {
  return flowFinish((a * FLOW_K0) ^ (b * FLOW_K1) ^ (c * FLOW_K2) ^ (d * FLOW_K3) ^ (e * FLOW_K4));
}

/** The outer UDP source port for a flow hash: scaled into [min, max] (Linux udp_flow_src_port). */
@inline export function sourcePortFor(hash: u32): u16 {
  return <u16>(<u32>((<u64>hash * <u64>cfgSportSpan) >> 32) + cfgSportMin);
}

// ---- precomputed outer headers (VPP-style rewrite strings) ------------------------------------
// Per peer, the 48 (IPv4) or 68 (IPv6) bytes in front of the inner ethertype are fixed but for
// lengths, the IPv4 ID and checksums, the UDP source port and the IPv6 flow label. They are built
// once per peer and per config change (rebuildTemplate), and per packet copied with four
// 16-byte stores and patched. Template layout: header bytes at offset 0 (IPv4: IP 20, UDP 8,
// tunnel 8, inner dst+src MAC 12 = 48; IPv6: 40 + 8 + 8 + 12 = 68), then at TPL_SUM the partial
// sum (u64) of the fixed IPv4 header words (checksum, length and ID fields zero).
const TPL_SUM: i32 = 80;
const TPL_LEN4: i32 = 48;
const TPL_LEN6: i32 = 68;

@inline function templateOf(peerIdx: i32): usize { return peerTemplateBase + <usize>(peerIdx * PEER_TEMPLATE_SIZE); }

/** Builds peer `peerIdx`'s template from its record and the current config. */
export function rebuildTemplate(peerIdx: i32): void {
  const peer = peerRecord(peerIdx);
  const t = templateOf(peerIdx);
  memory.fill(t, 0, <usize>PEER_TEMPLATE_SIZE);
  const v6 = peerIsV6(peer);
  const ipLen = v6 ? IPV6_HEADER_LEN : IPV4_MIN_HEADER_LEN;
  const udp = t + <usize>ipLen;
  const tun = udp + UDP_HEADER_LEN;
  const macs = tun + TUNNEL_HEADER_LEN;
  if (v6) {
    ipv6Emit(t, 0, 0, 0, IPPROTO_UDP, OUTER_TTL, cfgUnderlay6, peerAddr(peer));
  } else {
    ipv4Emit(t, 0, 0, 0, 0, OUTER_TTL, IPPROTO_UDP, cfgUnderlay4, load<u32>(peerAddr(peer)));
    store<u16>(t, 0, 10); // checksum field: computed per packet
    store<u64>(t, csumIpv4Header20(t), TPL_SUM);
  }
  udpEmit(udp, 0, cfgTunnelPort, 0);
  if (cfgFlags & CFGF_GENEVE) geneveEmit(tun, cfgVni); else vxlanEmit(tun, cfgVni);
  macCopy(macs, peerMac(peer));
  macCopy(macs + 6, cfgVtepMac);
}

/**
 * Prepends inner Ethernet, tunnel, UDP and outer IP headers to the inner IP packet at `p`
 * (`len` bytes, `innerIs6` its family) for peer `peerIdx` (record `peer`). Returns the start of
 * the outer IP header; the outer packet is encapLength(len, peerIsV6(peer)) bytes long.
 * Precondition: at least ENCAP_OVERHEAD6 bytes of headroom before `p`; the peer's template is
 * current (rebuildTemplate after every peer or config change).
 */
@inline export function encapsulate(p: usize, len: i32, innerIs6: bool, peerIdx: i32, peer: usize, flowHash: u32): usize {
  const t = templateOf(peerIdx);
  const udpLen = len + ETH_HEADER_LEN + TUNNEL_HEADER_LEN + UDP_HEADER_LEN;
  const sport = sourcePortFor(flowHash);
  store<u16>(p - 2, innerIs6 ? ETHERTYPE_IPV6_LE : ETHERTYPE_IPV4_LE);
  if (peerIsV6(peer)) {
    const ip = p - <usize>(2 + TPL_LEN6);
    if (ASC_FEATURE_SIMD) {
      v128.store(ip, v128.load(t));
      v128.store(ip, v128.load(t, 16), 16);
      v128.store(ip, v128.load(t, 32), 32);
      v128.store(ip, v128.load(t, 48), 48);
    } else {
      for (let o: usize = 0; o < 64; o += 8) store<u64>(ip + o, load<u64>(t + o));
    }
    store<u32>(ip, load<u32>(t, 64), 64);
    store<u32>(ip, bswap<u32>((6 << 28) | (flowHash & 0xfffff)));
    store<u16>(ip, bswap<u16>(<u16>udpLen), 4);
    const udp = ip + IPV6_HEADER_LEN;
    store<u32>(udp, <u32>bswap<u16>(sport) | (<u32>cfgTunnelPortLe << 16));
    store<u32>(udp, <u32>bswap<u16>(<u16>udpLen), 4);
    const sum = csumPartial(udp, udpLen, csumPseudo6(ip + 8, ip + 24, IPPROTO_UDP, <u32>udpLen));
    let c = csumFinish(sum);
    if (c == 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones
    store<u16>(udp, c, UDP_CHECKSUM);
    return ip;
  }
  const ip = p - <usize>(2 + TPL_LEN4);
  if (ASC_FEATURE_SIMD) {
    v128.store(ip, v128.load(t));
    v128.store(ip, v128.load(t, 16), 16);
    v128.store(ip, v128.load(t, 32), 32);
  } else {
    for (let o: usize = 0; o < 48; o += 8) store<u64>(ip + o, load<u64>(t + o));
  }
  const total = udpLen + IPV4_MIN_HEADER_LEN;
  const lenLe = <u32>bswap<u16>(<u16>total);
  const idLe = <u32>bswap<u16>(nextIpv4Id());
  store<u16>(ip, <u16>lenLe, 2);
  store<u16>(ip, <u16>idLe, 4);
  store<u16>(ip, csumFinish(load<u64>(t, TPL_SUM) + <u64>lenLe + <u64>idLe), 10);
  const udp = ip + IPV4_MIN_HEADER_LEN;
  store<u32>(udp, <u32>bswap<u16>(sport) | (<u32>cfgTunnelPortLe << 16));
  store<u32>(udp, <u32>bswap<u16>(<u16>udpLen), 4);
  if (cfgFlags & CFGF_UDP_CSUM4) {
    const sum = csumPartial(udp, udpLen, csumPseudo4(ip + 12, ip + 16, IPPROTO_UDP, <u32>udpLen));
    let c = csumFinish(sum);
    if (c == 0) c = 0xffff;
    store<u16>(udp, c, UDP_CHECKSUM);
  }
  return ip;
}

/** Length of the outer packet for an inner IP packet of `len` bytes. */
@inline export function encapLength(len: i32, outerIs6: bool): i32 {
  return len + (outerIs6 ? ENCAP_OVERHEAD6 : ENCAP_OVERHEAD4);
}
