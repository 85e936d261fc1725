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

import { ETH_HEADER_LEN, ethEmit, ETHERTYPE_IPV4_LE, ETHERTYPE_IPV6_LE } from "../wire/ethernet";
import { ipv4Emit, IPV4_MIN_HEADER_LEN } from "../wire/ipv4";
import { ipv6Emit, IPV6_HEADER_LEN } from "../wire/ipv6";
import { udpEmit, UDP_HEADER_LEN, UDP_CHECKSUM, IPPROTO_UDP } from "../wire/udp";
import { vxlanEmit } from "../wire/vxlan";
import { geneveEmit } from "../wire/geneve";
import { csumPartial, csumPseudo4, csumPseudo6, csumFinish } from "../csum/checksum";
import { CFGF_GENEVE, CFGF_UDP_CSUM4 } from "../abi";
import {
  cfgFlags, cfgTunnelPort, cfgVni, cfgVtepMac, cfgUnderlay4, cfgUnderlay6, cfgSportMin, cfgSportSpan, nextIpv4Id,
} from "../state";
import { peerMac, peerAddr, peerIsV6 } from "../tables/peers";

/** Outer TTL / hop limit (Linux: the route's default, 64). */
const OUTER_TTL: u8 = 64;
/** Bytes the tunnel header adds after UDP (VXLAN and option-less Geneve are both 8). */
const TUNNEL_HEADER_LEN: i32 = 8;
/** Total bytes prepended in front of the inner IP packet: inner Ethernet + tunnel + UDP + outer IP. */
export const ENCAP_OVERHEAD4: i32 = ETH_HEADER_LEN + TUNNEL_HEADER_LEN + UDP_HEADER_LEN + IPV4_MIN_HEADER_LEN; // 50
export const ENCAP_OVERHEAD6: i32 = ETH_HEADER_LEN + TUNNEL_HEADER_LEN + UDP_HEADER_LEN + IPV6_HEADER_LEN; // 70

// Mixing steps of MurmurHash3 (public domain, A. Appleby).
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

/** The outer UDP source port for a flow hash: scaled into [min, max] (Linux udp_flow_src_port). */
@inline export function sourcePortFor(hash: u32): u16 {
  return <u16>(<u32>((<u64>hash * <u64>cfgSportSpan) >> 32) + cfgSportMin);
}

/**
 * Prepends inner Ethernet, tunnel, UDP and outer IP headers to the inner IP packet at `p`
 * (`len` bytes, `innerIs6` its family) for peer record `peer`. Returns the start of the outer
 * IP header; the outer packet is encapLength(len, peerIsV6(peer)) bytes long.
 * Precondition: at least ENCAP_OVERHEAD6 bytes of headroom before `p`.
 */
export function encapsulate(p: usize, len: i32, innerIs6: bool, peer: usize, flowHash: u32): usize {
  const eth = p - ETH_HEADER_LEN;
  ethEmit(eth, peerMac(peer), cfgVtepMac, innerIs6 ? ETHERTYPE_IPV6_LE : ETHERTYPE_IPV4_LE);
  const tun = eth - TUNNEL_HEADER_LEN;
  if (cfgFlags & CFGF_GENEVE) geneveEmit(tun, cfgVni); else vxlanEmit(tun, cfgVni);
  const udp = tun - UDP_HEADER_LEN;
  const udpLen = len + ETH_HEADER_LEN + TUNNEL_HEADER_LEN + UDP_HEADER_LEN;
  udpEmit(udp, sourcePortFor(flowHash), cfgTunnelPort, <u16>udpLen);
  if (peerIsV6(peer)) {
    const ip = udp - IPV6_HEADER_LEN;
    ipv6Emit(ip, 0, flowHash & 0xfffff, udpLen, IPPROTO_UDP, OUTER_TTL, cfgUnderlay6, peerAddr(peer));
    const sum = csumPartial(udp, udpLen, csumPseudo6(ip + 8, ip + 24, IPPROTO_UDP, <u32>udpLen));
    let c = csumFinish(sum);
    if (c == 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones
    store<u16>(udp, c, UDP_CHECKSUM);
    return ip;
  }
  const ip = udp - IPV4_MIN_HEADER_LEN;
  ipv4Emit(ip, 0, udpLen + IPV4_MIN_HEADER_LEN, nextIpv4Id(), 0, OUTER_TTL, IPPROTO_UDP, cfgUnderlay4, load<u32>(peerAddr(peer)));
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
