// The forwarding stage for a validated IP packet: route lookup, TTL / hop limit, MTU (ICMP
// errors or IPv4 fragmentation), and emission to a pod, the host port or a peer.
//
// Packets "originated by the router" (our ICMP errors) take the same path with ORIGIN_ROUTER:
// no TTL decrement, no ICMP about them, no verdict of their own (they belong to the input
// packet that caused them, which is dropped with its reason).

import {
  PORT_HOST, PORT_UNDERLAY, NO_PEER, TARGET_KIND_SHIFT, TARGET_INDEX_MASK, TARGET_POD, TARGET_PEER,
  TARGET_HOST, DROP_NO_ROUTE, DROP_HOST_LOOP, DROP_BLACKHOLE, DROP_POD_DETACHED, DROP_PEER_DOWN,
  DROP_UNDERLAY_HAIRPIN, DROP_TTL_EXCEEDED, DROP_FRAG_NEEDED, DROP_PACKET_TOO_BIG,
  DROP_FRAGMENT_POOL_EXHAUSTED, DROP_NO_UNDERLAY_ADDRESS, EV_ICMP_UNDELIVERABLE, EV_FRAGMENTS_SENT,
  DROP_MARTIAN_SOURCE, DROP_MARTIAN_DESTINATION,
  CFGF_HAS_UNDERLAY4, CFGF_HAS_UNDERLAY6,
} from "../abi";
import {
  cfgFlags, cfgPodMtu, cfgHostMtu, cfgTunnelMtu4, cfgTunnelMtu6, cfgRouterMac, genUsed, genSlotCount,
  setGenUsed, genSlotStart, headroom, countEvent,
} from "../state";
import { ETH_HEADER_LEN, ethEmit, ETHERTYPE_IPV4_LE, ETHERTYPE_IPV6_LE } from "../wire/ethernet";
import {
  ipv4Dst, ipv4Src, ipv4Proto, ipv4HeaderLen, ipv4FlagsFrag, ipv4SetChecksum, IPV4_TTL, IPV4_CHECKSUM,
  IPV4_TOTAL_LEN, IPV4_FLAGS_FRAG, IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAG_OFFSET_MASK, IPV4_MIN_HEADER_LEN,
  ipv4IsMartianSource, ipv4IsMartianDestination, IPV4_SRC,
} from "../wire/ipv4";
import { IPV6_DST, IPV6_SRC, IPV6_HOP_LIMIT, ipv6IsUnspecified, ipv6IsLoopback } from "../wire/ipv6";
import { ICMP_DEST_UNREACH, ICMP_CODE_NET_UNREACH, ICMP_TIME_EXCEEDED, ICMP_CODE_TTL_EXCEEDED, ICMP_CODE_FRAG_NEEDED } from "../wire/icmp";
import { ICMP6_DEST_UNREACH, ICMP6_CODE_NO_ROUTE, ICMP6_TIME_EXCEEDED, ICMP6_CODE_HOP_LIMIT, ICMP6_PACKET_TOO_BIG } from "../wire/icmpv6";
import { csumReplace16 } from "../csum/checksum";
import { routeLookup4, routeLookup6, ROUTE_MISS } from "../tables/routes";
import { podRecord, podAttached, podMac } from "../tables/pods";
import { peerRecord, peerActive, peerIsV6 } from "../tables/peers";
import { encapsulate, encapLength, flowHash2, flowHash5 } from "./encap";
import { drop, deliver, forward, txPush } from "./output";
import { icmpError4, icmpError6 } from "./icmp-error";

export const ORIGIN_INPUT: i32 = 0;
export const ORIGIN_ROUTER: i32 = 1;

// Transport facts of the packet being forwarded, set by the caller before route4/route6:
// protocol and offset of the transport header from the IP header, or -1 when it has no usable
// ports (any fragment, or a truncated header). Used only for the flow hash.
export let l4Proto: u32 = 0;
export let l4Offset: i32 = -1;
@inline export function setL4(proto: u32, off: i32): void { l4Proto = proto; l4Offset = off; }

@inline function hasPorts(proto: u32): bool { return proto == 6 || proto == 17 || proto == 132; }

/** The flow's protocol and, when it has usable ports, its 4 port bytes (as loaded), as one word. */
@inline function flowProtoPorts(p: usize, len: i32): u64 {
  const ports: u32 = l4Offset >= 0 && hasPorts(l4Proto) && l4Offset + 4 <= len ? load<u32>(p + <usize>l4Offset) : 0;
  return (<u64>l4Proto << 32) | <u64>ports;
}

@inline function flowHash4(p: usize, len: i32): u32 {
  // source and destination address: one 8-byte load from offset 12
  return flowHash2(load<u64>(p, IPV4_SRC), flowProtoPorts(p, len));
}

@inline function flowHash6(p: usize, len: i32): u32 {
  return flowHash5(load<u64>(p, IPV6_SRC), load<u64>(p, IPV6_SRC + 8), load<u64>(p, IPV6_DST), load<u64>(p, IPV6_DST + 8), flowProtoPorts(p, len));
}

/** A router-originated packet that cannot be sent is only counted (its input has its verdict). */
@inline function failOrDrop(i: i32, origin: i32, reason: u8): void {
  if (origin == ORIGIN_INPUT) drop(i, reason); else countEvent(EV_ICMP_UNDELIVERABLE);
}

/** Emits an IP packet to the host port, a pod (with Ethernet) or a peer (encapsulated). */
@inline function emit(i: i32, p: usize, len: i32, is6: bool, kind: u32, idx: i32, rec: usize, hash: u32): void {
  if (kind == TARGET_HOST) {
    txPush(p, len, <i32>PORT_HOST, <i32>NO_PEER, i);
  } else if (kind == TARGET_POD) {
    const eth = p - ETH_HEADER_LEN;
    ethEmit(eth, podMac(rec), cfgRouterMac, is6 ? ETHERTYPE_IPV6_LE : ETHERTYPE_IPV4_LE);
    txPush(eth, len + ETH_HEADER_LEN, idx, <i32>NO_PEER, i);
  } else {
    const o = encapsulate(p, len, is6, idx, rec, hash);
    txPush(o, encapLength(len, peerIsV6(rec)), <i32>PORT_UNDERLAY, idx, i);
  }
}

/**
 * Resolves the egress of a target (the checks that depend only on the route and the input port,
 * before TTL and MTU, so that a packet that cannot go anywhere earns no ICMP error); returns its
 * MTU, or 0 after dropping.
 */
@inline function egressMtu(i: i32, kind: u32, idx: i32, inPort: i32, origin: i32, rec: usize): i32 {
  if (kind == TARGET_HOST) {
    if (origin == ORIGIN_INPUT && inPort == <i32>PORT_HOST) { drop(i, DROP_HOST_LOOP); return 0; }
    return cfgHostMtu;
  }
  if (kind != TARGET_POD && kind != TARGET_PEER) { failOrDrop(i, origin, DROP_BLACKHOLE); return 0; }
  if (kind == TARGET_POD) {
    if (rec == 0 || !podAttached(rec)) { failOrDrop(i, origin, DROP_POD_DETACHED); return 0; }
    return cfgPodMtu;
  }
  // TARGET_PEER
  if (origin == ORIGIN_INPUT && inPort == <i32>PORT_UNDERLAY) { drop(i, DROP_UNDERLAY_HAIRPIN); return 0; }
  if (!peerActive(rec)) { failOrDrop(i, origin, DROP_PEER_DOWN); return 0; }
  if (peerIsV6(rec)) {
    if (!(cfgFlags & CFGF_HAS_UNDERLAY6)) { failOrDrop(i, origin, DROP_NO_UNDERLAY_ADDRESS); return 0; }
    return cfgTunnelMtu6;
  }
  if (!(cfgFlags & CFGF_HAS_UNDERLAY4)) { failOrDrop(i, origin, DROP_NO_UNDERLAY_ADDRESS); return 0; }
  return cfgTunnelMtu4;
}

@inline function targetRecord(kind: u32, idx: i32): usize {
  return kind == TARGET_POD ? podRecord(idx) : kind == TARGET_PEER ? peerRecord(idx) : 0;
}

@inline function setVerdict(i: i32, kind: u32, idx: i32): void {
  if (kind == TARGET_PEER) forward(i, idx);
  else deliver(i, kind == TARGET_HOST ? <i32>PORT_HOST : idx);
}

/** Forwards the IPv4 packet at `p` (`len` bytes, header validated) that entered on `inPort`. */
export function route4(i: i32, p: usize, len: i32, inPort: i32, origin: i32): void {
  if (origin == ORIGIN_INPUT) {
    if (ipv4IsMartianSource(ipv4Src(p))) { drop(i, DROP_MARTIAN_SOURCE); return; }
    if (ipv4IsMartianDestination(ipv4Dst(p))) { drop(i, DROP_MARTIAN_DESTINATION); return; }
  }
  const target = routeLookup4(ipv4Dst(p));
  if (target == ROUTE_MISS) {
    if (origin == ORIGIN_INPUT) {
      drop(i, DROP_NO_ROUTE);
      icmpError4(i, p, len, ICMP_DEST_UNREACH, ICMP_CODE_NET_UNREACH, 0);
    } else countEvent(EV_ICMP_UNDELIVERABLE);
    return;
  }
  const kind = target >> TARGET_KIND_SHIFT;
  const idx = <i32>(target & TARGET_INDEX_MASK);
  const rec = targetRecord(kind, idx);
  const mtu = egressMtu(i, kind, idx, inPort, origin, rec);
  if (mtu == 0) return;
  if (origin == ORIGIN_INPUT) {
    const ttlProto = load<u16>(p, IPV4_TTL);
    // Delivery to the node itself is not a forwarding hop: no TTL check or decrement.
    if (kind != TARGET_HOST && (ttlProto & 0xff) <= 1) {
      drop(i, DROP_TTL_EXCEEDED);
      icmpError4(i, p, len, ICMP_TIME_EXCEEDED, ICMP_CODE_TTL_EXCEEDED, 0);
      return;
    }
    if (len > mtu && (ipv4FlagsFrag(p) & IPV4_FLAG_DF)) {
      drop(i, DROP_FRAG_NEEDED);
      icmpError4(i, p, len, ICMP_DEST_UNREACH, ICMP_CODE_FRAG_NEEDED, <u32>mtu);
      return;
    }
    if (kind != TARGET_HOST) {
      // RFC 1812 §5.3.1 / RFC 1624 eqn. 3: TTL - 1 with an incremental checksum update.
      const newTtlProto = ttlProto - 1;
      store<u16>(p, newTtlProto, IPV4_TTL);
      store<u16>(p, <u16>csumReplace16(load<u16>(p, IPV4_CHECKSUM), ttlProto, newTtlProto), IPV4_CHECKSUM);
    }
  } else if (len > mtu) { countEvent(EV_ICMP_UNDELIVERABLE); return; }
  const hash = kind == TARGET_PEER ? flowHash4(p, len) : 0;
  if (len > mtu) { fragment4(i, p, len, mtu, kind, idx, rec, hash); return; }
  emit(i, p, len, false, kind, idx, rec, hash);
  if (origin == ORIGIN_INPUT) setVerdict(i, kind, idx);
}

/** Bytes of the IPv4 options at `p` whose copy flag is set (RFC 791 §3.1), copied to `dst`. */
function copyOptions(p: usize, hlen: i32, dst: usize): i32 {
  let off = IPV4_MIN_HEADER_LEN;
  let out = 0;
  while (off < hlen) {
    const type = load<u8>(p + <usize>off);
    if (type == 0) break;                      // end of option list
    if (type == 1) { off++; continue; }        // no-operation
    if (off + 1 >= hlen) break;
    const olen = <i32>load<u8>(p + <usize>off, 1);
    if (olen < 2 || off + olen > hlen) break;  // malformed: copy no further
    if (type & 0x80) {
      memory.copy(dst + <usize>out, p + <usize>off, <usize>olen);
      out += olen;
    }
    off += olen;
  }
  while (out & 3) { store<u8>(dst + <usize>out, 0); out++; } // pad with end-of-list
  return out;
}

/**
 * RFC 791 §3.2 fragmentation of the IPv4 packet at `p` (TTL already decremented) for an egress
 * MTU `mtu`: the first fragment stays in place, the others are built in generated slots. Either
 * every fragment is emitted or the packet is dropped (FragmentPoolExhausted).
 */
function fragment4(i: i32, p: usize, len: i32, mtu: i32, kind: u32, idx: i32, rec: usize, hash: u32): void {
  const hlen = ipv4HeaderLen(p);
  const payload = len - hlen;
  const firstData = (mtu - hlen) & ~7;
  const orig = ipv4FlagsFrag(p);
  const origOffset = <i32>(orig & IPV4_FRAG_OFFSET_MASK) << 3;
  const origMf = (orig & IPV4_FLAG_MF) != 0;
  const used = genUsed;
  if (firstData <= 0 || used >= genSlotCount) { drop(i, DROP_FRAGMENT_POOL_EXHAUSTED); return; }
  // The later fragments' header (copied options only) is built once, in the first free generated slot.
  const tmpl = genSlotStart(used) + <usize>headroom;
  memory.copy(tmpl, p, <usize>IPV4_MIN_HEADER_LEN);
  const laterHlen = hlen > IPV4_MIN_HEADER_LEN ? IPV4_MIN_HEADER_LEN + copyOptions(p, hlen, tmpl + IPV4_MIN_HEADER_LEN) : IPV4_MIN_HEADER_LEN;
  store<u8>(tmpl, <u8>(0x40 | (laterHlen >> 2)));
  const laterData = (mtu - laterHlen) & ~7;
  const rest = payload - firstData;
  const laterCount = (rest + laterData - 1) / laterData;
  if (used + laterCount > genSlotCount) { drop(i, DROP_FRAGMENT_POOL_EXHAUSTED); return; }

  // First fragment, in place: same header, shorter, MF set.
  store<u16>(p, bswap<u16>(<u16>(hlen + firstData)), IPV4_TOTAL_LEN);
  store<u16>(p, bswap<u16>(<u16>((orig & ~IPV4_FRAG_OFFSET_MASK) | IPV4_FLAG_MF | (origOffset >> 3))), IPV4_FLAGS_FRAG);
  ipv4SetChecksum(p, hlen);
  emit(i, p, hlen + firstData, false, kind, idx, rec, hash);
  countEvent(EV_FRAGMENTS_SENT);

  let off = firstData;
  for (let k = 0; k < laterCount; k++) {
    const n = min(laterData, payload - off);
    const q = genSlotStart(used + k) + <usize>headroom;
    if (k > 0) memory.copy(q, tmpl, <usize>laterHlen);
    const last = off + n >= payload;
    const ff: u32 = (<u32>(orig & IPV4_FLAG_DF)) | (!last || origMf ? <u32>IPV4_FLAG_MF : 0) | <u32>((origOffset + off) >> 3);
    store<u16>(q, bswap<u16>(<u16>(laterHlen + n)), IPV4_TOTAL_LEN);
    store<u16>(q, bswap<u16>(<u16>ff), IPV4_FLAGS_FRAG);
    memory.copy(q + <usize>laterHlen, p + <usize>(hlen + off), <usize>n);
    ipv4SetChecksum(q, laterHlen);
    emit(i, q, laterHlen + n, false, kind, idx, rec, hash);
    countEvent(EV_FRAGMENTS_SENT);
    off += n;
  }
  setGenUsed(used + laterCount);
  setVerdict(i, kind, idx);
}

/** Forwards the IPv6 packet at `p` (`len` bytes, header validated) that entered on `inPort`. */
export function route6(i: i32, p: usize, len: i32, inPort: i32, origin: i32): void {
  if (origin == ORIGIN_INPUT) {
    // RFC 4291: multicast, unspecified and loopback sources, unspecified and loopback destinations
    const src = p + IPV6_SRC;
    if (load<u8>(src) == 0xff || ipv6IsUnspecified(src) || ipv6IsLoopback(src)) { drop(i, DROP_MARTIAN_SOURCE); return; }
    if (ipv6IsUnspecified(p + IPV6_DST) || ipv6IsLoopback(p + IPV6_DST)) { drop(i, DROP_MARTIAN_DESTINATION); return; }
  }
  const target = routeLookup6(p + IPV6_DST);
  if (target == ROUTE_MISS) {
    if (origin == ORIGIN_INPUT) {
      drop(i, DROP_NO_ROUTE);
      icmpError6(i, p, len, ICMP6_DEST_UNREACH, ICMP6_CODE_NO_ROUTE, 0);
    } else countEvent(EV_ICMP_UNDELIVERABLE);
    return;
  }
  const kind = target >> TARGET_KIND_SHIFT;
  const idx = <i32>(target & TARGET_INDEX_MASK);
  const rec = targetRecord(kind, idx);
  const mtu = egressMtu(i, kind, idx, inPort, origin, rec);
  if (mtu == 0) return;
  if (origin == ORIGIN_INPUT) {
    const hl = load<u8>(p, IPV6_HOP_LIMIT);
    if (kind != TARGET_HOST && hl <= 1) {
      drop(i, DROP_TTL_EXCEEDED);
      icmpError6(i, p, len, ICMP6_TIME_EXCEEDED, ICMP6_CODE_HOP_LIMIT, 0);
      return;
    }
    // RFC 8200 §5: routers never fragment; Packet Too Big with the egress MTU.
    if (len > mtu) {
      drop(i, DROP_PACKET_TOO_BIG);
      icmpError6(i, p, len, ICMP6_PACKET_TOO_BIG, 0, <u32>mtu);
      return;
    }
    if (kind != TARGET_HOST) store<u8>(p, hl - 1, IPV6_HOP_LIMIT);
  } else if (len > mtu) { countEvent(EV_ICMP_UNDELIVERABLE); return; }
  const hash = kind == TARGET_PEER ? flowHash6(p, len) : 0;
  emit(i, p, len, true, kind, idx, rec, hash);
  if (origin == ORIGIN_INPUT) setVerdict(i, kind, idx);
}
