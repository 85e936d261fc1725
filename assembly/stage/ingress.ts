// Where bytes enter: validate once per port kind, answer what the router itself answers (ARP,
// neighbour solicitations), strip or check the link and tunnel layers, then hand a validated IP
// packet to the forwarding stage. Pod ports carry Ethernet, the host port bare IP, the underlay
// outer IP + UDP + VXLAN/Geneve + inner Ethernet.

import {
  PORT_HOST, PORT_UNDERLAY, NO_PEER, POD_HAS_IPV4, POD_HAS_IPV6, RX_FLAG_CSUM_VERIFIED, CFGF_GENEVE, CFGF_HAS_UNDERLAY4,
  CFGF_HAS_UNDERLAY6, TARGET_KIND_SHIFT, TARGET_PEER,
  CFGF_HAS_GATEWAY4, CFGF_HAS_GATEWAY6, PC_RX_PACKETS, EV_ARP_REPLIES, EV_NDP_ADVERTS,
  DROP_UNKNOWN_PORT, DROP_ETH_TRUNCATED, DROP_ETH_NOT_FOR_ROUTER, DROP_ETH_UNSUPPORTED_TYPE, DROP_SPOOFED_MAC,
  DROP_SPOOFED_IP, DROP_ARP_MALFORMED, DROP_ARP_NOT_FOR_GATEWAY, DROP_ARP_IGNORED, DROP_NOT_IP,
  DROP_IPV4_MALFORMED, DROP_IPV4_BAD_CHECKSUM, DROP_IPV6_MALFORMED, DROP_IPV6_BAD_EXT_HEADER,
  DROP_NDP_MALFORMED, DROP_NDP_IGNORED, DROP_LINK_LOCAL_NOT_ROUTED, DROP_MULTICAST_NOT_ROUTED,
  DROP_UNDERLAY_MALFORMED, DROP_UNDERLAY_BAD_CHECKSUM, DROP_UNDERLAY_FRAGMENT, DROP_UNDERLAY_NOT_FOR_US,
  DROP_UNKNOWN_PEER, DROP_NOT_TUNNEL_PORT, DROP_VXLAN_BAD_FLAGS, DROP_VNI_MISMATCH, DROP_GENEVE_MALFORMED,
  DROP_GENEVE_CRITICAL_OPTION, DROP_GENEVE_NOT_ETHERNET, DROP_GENEVE_OAM, DROP_INNER_MALFORMED,
  DROP_INNER_BAD_DST_MAC,
} from "../abi";
import {
  cfgFlags, cfgRouterMac, cfgVtepMac, cfgGateway4, cfgGateway6, cfgUnderlay4, cfgUnderlay6, cfgTunnelPortLe,
  cfgVni, countEvent, countPeer,
} from "../state";
import {
  ETH_HEADER_LEN, ETH_SRC, ethType, ethDstIsGroup, macEqual, ethEmit, ETHERTYPE_IPV4_LE, ETHERTYPE_IPV6_LE,
  ETHERTYPE_ARP_LE,
} from "../wire/ethernet";
import { arpCheck, arpOper, arpSpa, arpTpa, arpEmitReplyInPlace, ARP_OP_REQUEST, ARP_LEN, ARP_SHA } from "../wire/arp";
import {
  ipv4Check, IPV4_OK, IPV4_BAD_CHECKSUM, ipv4Src, ipv4Dst, ipv4Proto, ipv4HeaderLen, ipv4TotalLen,
  ipv4IsFragment, ipv4IsMulticastOrBroadcast,
} from "../wire/ipv4";
import {
  ipv6Check, ipv6PayloadLen, ipv6Walk, WALK_OK, walkProto, walkOffset, walkIsFragment, walkIsLaterFragment,
  ipv6IsLinkLocal, ipv6IsUnspecified, ipv6AddrEqual, ipv6Emit, IPV6_HEADER_LEN, IPV6_SRC, IPV6_DST,
  IPV6_HOP_LIMIT, NH_ICMPV6,
} from "../wire/ipv6";
import { udpCheck, udpLength, UDP_HEADER_LEN, UDP_DPORT, UDP_CHECKSUM, IPPROTO_UDP } from "../wire/udp";
import { vxlanCheck, vxlanVni, VXLAN_HEADER_LEN } from "../wire/vxlan";
import {
  geneveCheck, geneveVni, geneveHeaderLen, GENEVE_OK, GENEVE_UNKNOWN_CRITICAL, GENEVE_NOT_ETHERNET, GENEVE_OAM,
} from "../wire/geneve";
import {
  icmp6Type, ndpCheckSolicit, ndpEmitAdvert, ndpHasSourceLladdr, ipv6IsSolicitedNode, ICMP6_NEIGHBOR_SOLICIT, ICMP6_CHECKSUM, NDP_TARGET, NA_EMIT_LEN,
  NA_FLAG_ROUTER, NA_FLAG_SOLICITED, NA_FLAG_OVERRIDE,
} from "../wire/icmpv6";
import { csumPartial, csumFold, csumFinish, csumPseudo4, csumPseudo6 } from "../csum/checksum";
import { podRecord, podAttached, podFlags, podMac, podIpv4, podIpv6 } from "../tables/pods";
import { peerByAddr4, peerByAddr6 } from "../tables/peers";
import { routeLookup4, routeLookup6 } from "../tables/routes";
import { drop, deliver, txPush } from "./output";
import { route4, route6, ORIGIN_INPUT, setL4 } from "./forward";

// ---- shared: a validated IP packet goes on to forwarding --------------------------------------

/**
 * The route of an inner source must lead back to the peer it came from: a peer may only send
 * from its own pod CIDRs (flannel's host-to-pod traffic uses the peer's `.0` address, inside them).
 */
@inline function fromPeerOwned(target: u32, peer: i32): bool {
  return target == ((TARGET_PEER << TARGET_KIND_SHIFT) | <u32>peer);
}

/**
 * Validates the IPv4 packet at `p` (`avail` bytes) and forwards it. Anti-spoofing: `podRec` != 0
 * for a pod's packet, `peer` >= 0 for a decapsulated one.
 */
@inline function ipv4In(i: i32, p: usize, avail: i32, inPort: i32, podRec: usize, malformed: u8, peer: i32): void {
  const r = ipv4Check(p, avail);
  if (r != IPV4_OK) { drop(i, r == IPV4_BAD_CHECKSUM ? DROP_IPV4_BAD_CHECKSUM : malformed); return; }
  if (podRec != 0 && (!(podFlags(podRec) & POD_HAS_IPV4) || ipv4Src(p) != podIpv4(podRec))) { drop(i, DROP_SPOOFED_IP); return; }
  if (peer >= 0 && !fromPeerOwned(routeLookup4(ipv4Src(p)), peer)) { drop(i, DROP_SPOOFED_IP); return; }
  if (ipv4IsMulticastOrBroadcast(ipv4Dst(p))) { drop(i, DROP_MULTICAST_NOT_ROUTED); return; }
  const len = ipv4TotalLen(p); // trailing padding (e.g. Ethernet minimum frame) is not part of the packet
  setL4(ipv4Proto(p), ipv4IsFragment(p) ? -1 : ipv4HeaderLen(p));
  route4(i, p, len, inPort, ORIGIN_INPUT);
}

/** Validates the IPv6 packet at `p` and forwards it; `ndpFrom` = pod record whose NS we may answer. */
function ipv6In(i: i32, p: usize, avail: i32, inPort: i32, podRec: usize, malformed: u8, peer: i32, groupFrame: bool): void {
  if (!ipv6Check(p, avail)) { drop(i, malformed); return; }
  const len = IPV6_HEADER_LEN + ipv6PayloadLen(p);
  if (ipv6Walk(p, len) != WALK_OK) { drop(i, DROP_IPV6_BAD_EXT_HEADER); return; }
  const src = p + IPV6_SRC;
  if (podRec != 0) {
    if (walkProto == NH_ICMPV6 && !walkIsFragment && walkOffset < len && icmp6Type(p + <usize>walkOffset) == ICMP6_NEIGHBOR_SOLICIT) {
      neighborSolicit(i, p, len, inPort, podRec);
      return;
    }
    if (ipv6IsLinkLocal(src) || ipv6IsUnspecified(src)) {
      // Router solicitations and other NDP (RFC 4861 types 133..137) we do not serve; anything
      // else from a link-local or unspecified source (MLD reports, ...) is not routable.
      const t = walkProto == NH_ICMPV6 && !walkIsFragment && walkOffset < len ? icmp6Type(p + <usize>walkOffset) : 0;
      drop(i, t >= 133 && t <= 137 ? DROP_NDP_IGNORED : DROP_LINK_LOCAL_NOT_ROUTED);
      return;
    }
    if (!(podFlags(podRec) & POD_HAS_IPV6) || !ipv6AddrEqual(src, podIpv6(podRec))) { drop(i, DROP_SPOOFED_IP); return; }
    // Only neighbour discovery is served from link-layer group frames; nothing is routed from
    // them (RFC 1812 §5.3.4 in spirit; and RFC 4443 §2.4(e.3) forbids errors about them).
    if (groupFrame) { drop(i, DROP_MULTICAST_NOT_ROUTED); return; }
  }
  if (peer >= 0 && !fromPeerOwned(routeLookup6(src), peer)) { drop(i, DROP_SPOOFED_IP); return; }
  const dst = p + IPV6_DST;
  if (load<u8>(dst) == 0xff) { drop(i, DROP_MULTICAST_NOT_ROUTED); return; }
  if (ipv6IsLinkLocal(dst) || ipv6IsLinkLocal(src)) { drop(i, DROP_LINK_LOCAL_NOT_ROUTED); return; }
  setL4(walkProto, walkIsFragment ? -1 : walkOffset);
  route6(i, p, len, inPort, ORIGIN_INPUT);
}

// ---- pod ports ---------------------------------------------------------------------------------

export function podIn(i: i32, f: usize, len: i32, port: i32): void {
  const rec = podRecord(port);
  if (rec == 0 || !podAttached(rec)) { drop(i, DROP_UNKNOWN_PORT); return; }
  if (len < ETH_HEADER_LEN) { drop(i, DROP_ETH_TRUNCATED); return; }
  if (!macEqual(f + ETH_SRC, podMac(rec))) { drop(i, DROP_SPOOFED_MAC); return; }
  if (!ethDstIsGroup(f) && !macEqual(f, cfgRouterMac)) { drop(i, DROP_ETH_NOT_FOR_ROUTER); return; }
  const type = ethType(f);
  const p = f + ETH_HEADER_LEN;
  const avail = len - ETH_HEADER_LEN;
  if (type == ETHERTYPE_IPV4_LE) {
    if (ethDstIsGroup(f)) { drop(i, DROP_MULTICAST_NOT_ROUTED); return; }
    ipv4In(i, p, avail, port, rec, DROP_IPV4_MALFORMED, -1);
  } else if (type == ETHERTYPE_IPV6_LE) {
    ipv6In(i, p, avail, port, rec, DROP_IPV6_MALFORMED, -1, ethDstIsGroup(f));
  } else if (type == ETHERTYPE_ARP_LE) {
    arpIn(i, f, p, avail, port, rec);
  } else {
    drop(i, DROP_ETH_UNSUPPORTED_TYPE);
  }
}

/**
 * RFC 826: answer requests for the gateway address with the router MAC. The sender must be the
 * pod itself (its MAC, and its address or 0.0.0.0 for an RFC 5227 probe).
 */
function arpIn(i: i32, f: usize, a: usize, avail: i32, port: i32, rec: usize): void {
  if (!arpCheck(a, avail)) { drop(i, DROP_ARP_MALFORMED); return; }
  if (!macEqual(a + ARP_SHA, podMac(rec))) { drop(i, DROP_SPOOFED_MAC); return; }
  const spa = arpSpa(a);
  if (spa != 0 && (!(podFlags(rec) & POD_HAS_IPV4) || spa != podIpv4(rec))) { drop(i, DROP_SPOOFED_IP); return; }
  if (arpOper(a) != ARP_OP_REQUEST) { drop(i, DROP_ARP_IGNORED); return; }
  // A probe (sender 0.0.0.0) for the gateway is answered too: RFC 5227 §2.1.1, we own the address.
  if (!(cfgFlags & CFGF_HAS_GATEWAY4) || arpTpa(a) != cfgGateway4) { drop(i, DROP_ARP_NOT_FOR_GATEWAY); return; }
  arpEmitReplyInPlace(a, cfgRouterMac);
  ethEmit(f, podMac(rec), cfgRouterMac, ETHERTYPE_ARP_LE);
  txPush(f, ETH_HEADER_LEN + ARP_LEN, port, <i32>NO_PEER, i);
  deliver(i, port);
  countEvent(EV_ARP_REPLIES);
}

/**
 * RFC 4861 §7.2.4: answer a valid Neighbor Solicitation for the gateway address with a solicited
 * Neighbor Advertisement carrying the router MAC. Only the gateway is answered: in particular a
 * pod's duplicate address detection (source ::) must go unanswered.
 */
function neighborSolicit(i: i32, p: usize, len: i32, port: i32, rec: usize): void {
  const m = p + <usize>walkOffset;
  const mlen = len - walkOffset;
  // §7.1.1: hop limit 255, valid checksum, code 0, length, options
  if (load<u8>(p, IPV6_HOP_LIMIT) != 255 || !ndpCheckSolicit(m, mlen)
    || csumFold(csumPartial(m, mlen, csumPseudo6(p + IPV6_SRC, p + IPV6_DST, NH_ICMPV6, <u32>mlen))) != 0xffff) {
    drop(i, DROP_NDP_MALFORMED);
    return;
  }
  const src = p + IPV6_SRC;
  if (!(cfgFlags & CFGF_HAS_GATEWAY6) || !ipv6AddrEqual(m + NDP_TARGET, cfgGateway6)) {
    drop(i, DROP_NDP_IGNORED);
    return;
  }
  const dad = ipv6IsUnspecified(src);
  // §7.1.1: a solicitation from :: must go to a solicited-node address and carry no source
  // link-layer address option.
  if (dad && (!ipv6IsSolicitedNode(p + IPV6_DST) || ndpHasSourceLladdr(m, mlen))) { drop(i, DROP_NDP_MALFORMED); return; }
  if (!dad && !ipv6IsLinkLocal(src) && (!(podFlags(rec) & POD_HAS_IPV6) || !ipv6AddrEqual(src, podIpv6(rec)))) {
    drop(i, DROP_SPOOFED_IP);
    return;
  }
  // Build the advertisement in front of the solicitation: Ethernet + IPv6 + NA (86 bytes) starting
  // 32 bytes before the frame. The destination (the solicitor) is copied out first. Duplicate
  // address detection of the gateway (source ::) is defended with an unsolicited advertisement to
  // all nodes, ff02::1 (RFC 4861 §7.2.4, RFC 4862 §5.4.3).
  const d0: u64 = dad ? 0x00000000000002ff : load<u64>(src);
  const d1: u64 = dad ? 0x0100000000000000 : load<u64>(src, 8);
  const f = p - ETH_HEADER_LEN - 32;
  const ip = f + ETH_HEADER_LEN;
  const na = ip + IPV6_HEADER_LEN;
  ndpEmitAdvert(na, dad ? NA_FLAG_ROUTER | NA_FLAG_OVERRIDE : NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE, cfgGateway6, cfgRouterMac);
  ipv6Emit(ip, 0, 0, NA_EMIT_LEN, NH_ICMPV6, 255, cfgGateway6, cfgGateway6);
  store<u64>(ip, d0, IPV6_DST);
  store<u64>(ip, d1, IPV6_DST + 8);
  const sum = csumPartial(na, NA_EMIT_LEN, csumPseudo6(ip + IPV6_SRC, ip + IPV6_DST, NH_ICMPV6, <u32>NA_EMIT_LEN));
  store<u16>(na, csumFinish(sum), ICMP6_CHECKSUM);
  ethEmit(f, podMac(rec), cfgRouterMac, ETHERTYPE_IPV6_LE);
  if (dad) { store<u32>(f, 0x00003333); store<u16>(f, 0x0100, 4); } // 33:33:00:00:00:01
  txPush(f, ETH_HEADER_LEN + IPV6_HEADER_LEN + NA_EMIT_LEN, port, <i32>NO_PEER, i);
  deliver(i, port);
  countEvent(EV_NDP_ADVERTS);
}

// ---- host port ---------------------------------------------------------------------------------

export function hostIn(i: i32, p: usize, len: i32): void {
  if (len < 1) { drop(i, DROP_NOT_IP); return; }
  const v = load<u8>(p) >> 4;
  if (v == 4) ipv4In(i, p, len, <i32>PORT_HOST, 0, DROP_IPV4_MALFORMED, -1);
  else if (v == 6) ipv6In(i, p, len, <i32>PORT_HOST, 0, DROP_IPV6_MALFORMED, -1, false);
  else drop(i, DROP_NOT_IP);
}

// ---- underlay ----------------------------------------------------------------------------------

/**
 * Decapsulation: outer IPv4/IPv6 to our underlay address from a known peer, UDP to our tunnel
 * port with a zero (IPv4 only, RFC 7348 §5) or valid checksum, VXLAN with the I flag and our VNI
 * (or Geneve with our VNI, Ethernet payload and no unknown critical option), inner Ethernet to our
 * VTEP MAC carrying IPv4 or IPv6.
 */
export function underlayIn(i: i32, p: usize, len: i32, rxFlags: u16): void {
  if (len < 1) { drop(i, DROP_UNDERLAY_MALFORMED); return; }
  const v = load<u8>(p) >> 4;
  let u: usize;
  let avail: i32;
  let peer: i32;
  let csumOk = (rxFlags & RX_FLAG_CSUM_VERIFIED) != 0;
  if (v == 4) {
    const r = ipv4Check(p, len);
    if (r != IPV4_OK) { drop(i, r == IPV4_BAD_CHECKSUM ? DROP_UNDERLAY_BAD_CHECKSUM : DROP_UNDERLAY_MALFORMED); return; }
    if (ipv4Dst(p) != cfgUnderlay4 || !(cfgFlags & CFGF_HAS_UNDERLAY4)) { drop(i, DROP_UNDERLAY_NOT_FOR_US); return; }
    if (ipv4IsFragment(p)) { drop(i, DROP_UNDERLAY_FRAGMENT); return; }
    if (ipv4Proto(p) != IPPROTO_UDP) { drop(i, DROP_NOT_TUNNEL_PORT); return; }
    peer = peerByAddr4(ipv4Src(p));
    if (peer < 0) { drop(i, DROP_UNKNOWN_PEER); return; }
    const hlen = ipv4HeaderLen(p);
    u = p + <usize>hlen;
    avail = ipv4TotalLen(p) - hlen;
    if (!udpCheck(u, avail)) { drop(i, DROP_UNDERLAY_MALFORMED); return; }
    avail = <i32>udpLength(u);
    if (load<u16>(u, UDP_DPORT) != cfgTunnelPortLe) { drop(i, DROP_NOT_TUNNEL_PORT); return; }
    if (!csumOk && load<u16>(u, UDP_CHECKSUM) != 0
      && csumFold(csumPartial(u, avail, csumPseudo4(p + 12, p + 16, IPPROTO_UDP, <u32>avail))) != 0xffff) {
      drop(i, DROP_UNDERLAY_BAD_CHECKSUM);
      return;
    }
  } else if (v == 6) {
    if (!ipv6Check(p, len)) { drop(i, DROP_UNDERLAY_MALFORMED); return; }
    const tot = IPV6_HEADER_LEN + ipv6PayloadLen(p);
    if (!(cfgFlags & CFGF_HAS_UNDERLAY6) || !ipv6AddrEqual(p + IPV6_DST, cfgUnderlay6)) { drop(i, DROP_UNDERLAY_NOT_FOR_US); return; }
    if (ipv6Walk(p, tot) != WALK_OK) { drop(i, DROP_UNDERLAY_MALFORMED); return; }
    if (walkIsFragment) { drop(i, DROP_UNDERLAY_FRAGMENT); return; }
    if (walkProto != IPPROTO_UDP) { drop(i, DROP_NOT_TUNNEL_PORT); return; }
    peer = peerByAddr6(p + IPV6_SRC);
    if (peer < 0) { drop(i, DROP_UNKNOWN_PEER); return; }
    u = p + <usize>walkOffset;
    avail = tot - walkOffset;
    if (!udpCheck(u, avail)) { drop(i, DROP_UNDERLAY_MALFORMED); return; }
    avail = <i32>udpLength(u);
    if (load<u16>(u, UDP_DPORT) != cfgTunnelPortLe) { drop(i, DROP_NOT_TUNNEL_PORT); return; }
    // RFC 8200 §8.1: a zero UDP checksum over IPv6 is invalid (RFC 6936 exceptions not enabled).
    if (!csumOk && (load<u16>(u, UDP_CHECKSUM) == 0
      || csumFold(csumPartial(u, avail, csumPseudo6(p + IPV6_SRC, p + IPV6_DST, IPPROTO_UDP, <u32>avail))) != 0xffff)) {
      drop(i, DROP_UNDERLAY_BAD_CHECKSUM);
      return;
    }
  } else { drop(i, DROP_UNDERLAY_MALFORMED); return; }
  countPeer(peer, PC_RX_PACKETS, len);

  let t = u + UDP_HEADER_LEN;
  let tavail = avail - UDP_HEADER_LEN;
  let inner: usize;
  let innerLen: i32;
  if (cfgFlags & CFGF_GENEVE) {
    const g = geneveCheck(t, tavail);
    if (g != GENEVE_OK) {
      drop(i, g == GENEVE_UNKNOWN_CRITICAL ? DROP_GENEVE_CRITICAL_OPTION : g == GENEVE_NOT_ETHERNET
        ? DROP_GENEVE_NOT_ETHERNET : g == GENEVE_OAM ? DROP_GENEVE_OAM : DROP_GENEVE_MALFORMED);
      return;
    }
    if (geneveVni(t) != cfgVni) { drop(i, DROP_VNI_MISMATCH); return; }
    const gl = geneveHeaderLen(t);
    inner = t + <usize>gl;
    innerLen = tavail - gl;
  } else {
    if (!vxlanCheck(t, tavail)) { drop(i, tavail < VXLAN_HEADER_LEN ? DROP_UNDERLAY_MALFORMED : DROP_VXLAN_BAD_FLAGS); return; }
    if (vxlanVni(t) != cfgVni) { drop(i, DROP_VNI_MISMATCH); return; }
    inner = t + VXLAN_HEADER_LEN;
    innerLen = tavail - VXLAN_HEADER_LEN;
  }
  if (innerLen < ETH_HEADER_LEN) { drop(i, DROP_INNER_MALFORMED); return; }
  if (!macEqual(inner, cfgVtepMac)) { drop(i, DROP_INNER_BAD_DST_MAC); return; }
  const type = ethType(inner);
  const ip = inner + ETH_HEADER_LEN;
  const ipAvail = innerLen - ETH_HEADER_LEN;
  if (type == ETHERTYPE_IPV4_LE) ipv4In(i, ip, ipAvail, <i32>PORT_UNDERLAY, 0, DROP_INNER_MALFORMED, peer);
  else if (type == ETHERTYPE_IPV6_LE) ipv6In(i, ip, ipAvail, <i32>PORT_UNDERLAY, 0, DROP_INNER_MALFORMED, peer, false);
  else drop(i, DROP_INNER_MALFORMED);
}
