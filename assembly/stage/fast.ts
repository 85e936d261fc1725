// Fast paths for the two common cases of a pod network, tried by processBatch before the general
// ingress (stage/ingress.ts):
//   encap  a pod's IPv4 frame without options, to the router MAC, routed to an active IPv4 peer;
//   decap  IPv4 + UDP + VXLAN from a known peer, to our address and port, carrying an IPv4
//          frame without options to our VTEP MAC, routed to an attached local pod.
//
// Contract: each function either handles the packet completely, with exactly the verdict, TX
// entry, rewrites and counters the general path would produce for it, or returns false having
// written nothing, and the caller runs the general path. So every check below only decides
// "fast or not", never a drop: any packet that fails one goes the general way and gets its reason
// there. All checks come before the first write. The differential tests (Wasm vs the TypeScript
// reference model) cover both paths; test/pipeline-fastpath.test.ts also checks that packets just outside
// the fast path (options, TTL 1, MTU, spoofing, ...) still get the general path's verdicts.
//
// What makes them cheaper than the general path for these packets: no calls, one pass of checks
// with the per-batch constants loaded once per batch (fastBegin), the IPv4 header sum and the
// flow hash from the words already loaded, a last-peer cache for the outer source address, and
// per-batch route memos (the last lookup's constant region, for sources and for destinations).

import {
  PORT_UNDERLAY, NO_PEER, TARGET_KIND_SHIFT, TARGET_INDEX_MASK, TARGET_POD, TARGET_PEER, PEER_FLAGS, PEER_ACTIVE,
  PEER_IPV6, POD_FLAGS, POD_ATTACHED, POD_HAS_IPV4, PC_RX_PACKETS, CFGF_GENEVE, CFGF_HAS_UNDERLAY4, RX_FLAG_CSUM_VERIFIED,
} from "../abi";
import {
  cfgFlags, cfgRouterMac, cfgVtepMac, cfgUnderlay4, cfgTunnelPortLe, cfgVni, cfgTunnelMtu4, cfgPodMtu, countPeer,
} from "../state";
import { ETH_HEADER_LEN, ETHERTYPE_IPV4_LE } from "../wire/ethernet";
import {
  IPV4_TTL, IPV4_FLAGS_FRAG, IPV4_MIN_HEADER_LEN, ipv4IsMulticastOrBroadcast, ipv4IsMartianSource,
  ipv4IsMartianDestination,
} from "../wire/ipv4";
import { UDP_HEADER_LEN, UDP_DPORT, UDP_CHECKSUM, IPPROTO_UDP } from "../wire/udp";
import { VXLAN_HEADER_LEN, VXLAN_FLAG_I } from "../wire/vxlan";
import { csumFold } from "../csum/checksum";
import { routeLookupSpan4, routeSpanMask4 } from "../tables/routes";
import { podRecord, podMac } from "../tables/pods";
import { peerRecord, peerByAddr4 } from "../tables/peers";
import { encapsulate, flowHash2, ENCAP_OVERHEAD4 } from "./encap";
import { deliver, forward, txPush } from "./output";

/** Flags/fragment word as loaded (LE view of the network-order field): MF and the offset bits. */
const FRAG_BITS_LE: u32 = 0xff3f;
/** Outer IPv4 + UDP + VXLAN + inner Ethernet + inner IPv4: the shortest packet decapFast takes. */
const DECAP_MIN_LEN: i32 = IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + VXLAN_HEADER_LEN + ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN;

// ---- per-batch constants ----------------------------------------------------------------------
// Loaded by fastBegin() at the start of every batch (the config cannot change inside one).
let routerMacLo: u32 = 0;
let routerMacHi: u32 = 0;
let vtepMacLo: u32 = 0;
let vtepMacHi: u32 = 0;
/** Encap fast path allowed by the config: an IPv4 underlay address. */
let encapOk = false;
/** Decap fast path allowed by the config: an IPv4 underlay address and VXLAN (not Geneve). */
let decapOk = false;
/** Last outer source address resolved to a peer in this batch (peers do not change inside one). */
let lastSrc: u32 = 0;
let lastPeer: i32 = -1;

/**
 * Per-batch route memos (routes change only between batches, so nothing outlives a batch): the
 * region of the last lookup as (base u32, mask u32, target u32), network order, one for inner
 * sources (decap anti-spoofing) and one for destinations. Reset to "matches nothing" (mask 0,
 * base 1) by fastBegin.
 */
const memoSrc: usize = memory.data(12, 4);
const memoDst: usize = memory.data(12, 4);

@inline function memoReset(m: usize): void {
  store<u32>(m, 1);
  store<u32>(m, 0, 4);
}

/** routeLookup4(a), from the memo `m` when `a` lies in its region; otherwise looked up and memoized. */
@inline function memoRoute4(m: usize, a: u32): u32 {
  if ((a & load<u32>(m, 4)) == load<u32>(m)) return load<u32>(m, 8);
  const t = routeLookupSpan4(a);
  const mask = routeSpanMask4;
  store<u32>(m, a & mask);
  store<u32>(m, mask, 4);
  store<u32>(m, t, 8);
  return t;
}

/** Call once per batch, before the first fast-path call. */
export function fastBegin(): void {
  routerMacLo = load<u32>(cfgRouterMac);
  routerMacHi = <u32>load<u16>(cfgRouterMac, 4);
  vtepMacLo = load<u32>(cfgVtepMac);
  vtepMacHi = <u32>load<u16>(cfgVtepMac, 4);
  // A group router MAC would make the general path drop unicast-looking IPv4 differently; the
  // fast path requires a unicast one (always true for a valid config: the host generates it).
  const v4 = (cfgFlags & CFGF_HAS_UNDERLAY4) != 0;
  encapOk = v4 && (routerMacLo & 1) == 0;
  decapOk = v4 && (cfgFlags & CFGF_GENEVE) == 0;
  lastSrc = 0;
  lastPeer = -1;
  memoReset(memoSrc);
  memoReset(memoDst);
}

/**
 * True when the 20-byte IPv4 header at `p` (`avail` bytes from `p` on) has no options, a total
 * length in [20, avail] and a valid checksum: ipv4Check's IPV4_OK for IHL 5.
 */
@inline function header20Ok(p: usize, avail: i32, w0: u32): bool {
  if ((w0 & 0xff) != 0x45) return false;
  const tot = <i32>bswap<u16>(<u16>(w0 >> 16));
  if (tot < IPV4_MIN_HEADER_LEN || tot > avail) return false;
  const s: u64 = <u64>w0 + <u64>load<u32>(p, 4) + <u64>load<u32>(p, 8) + <u64>load<u32>(p, 12) + <u64>load<u32>(p, 16);
  return csumFold(s) == 0xffff;
}

/** The flow hash of route4's flowHash4 for a validated 20-byte header (no options). */
@inline function flowHashOf(p: usize, tot: i32, ttlProto: u32): u32 {
  const proto = ttlProto >> 8;
  const frag = (<u32>load<u16>(p, IPV4_FLAGS_FRAG) & FRAG_BITS_LE) != 0;
  const hasPorts = proto == 6 || proto == 17 || proto == 132;
  const ports: u32 = !frag && hasPorts && IPV4_MIN_HEADER_LEN + 4 <= tot ? load<u32>(p, IPV4_MIN_HEADER_LEN) : 0;
  return flowHash2(load<u64>(p, 12), (<u64>proto << 32) | <u64>ports);
}

/**
 * RFC 1812 §5.3.1 / RFC 1624 eqn. 3: TTL - 1 with an incremental checksum update, for the header
 * word `w8` = load<u32>(p, 8) (TTL, protocol, checksum; TTL >= 2). With m' = m - 1 the update
 * ~(~HC + ~m + m') is ~(~HC + 0xfffe): the same bytes as route4's csumReplace16, written with
 * one u32 store.
 */
@inline function ttlDecrement(p: usize, w8: u32): void {
  let s: u32 = (~(w8 >> 16) & 0xffff) + 0xfffe;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  store<u32>(p, ((w8 - 1) & 0xffff) | ((~s & 0xffff) << 16), IPV4_TTL);
}

/**
 * Encap fast path for input `i`: the frame at `f` (`len` bytes) from the pod port `port` whose
 * record is `rec` (0 when the port is not an attached pod's). Returns false, having written
 * nothing, when the packet needs the general path.
 */
@inline export function encapFast(i: i32, f: usize, len: i32, port: i32, rec: usize): bool {
  if (!encapOk || rec == 0 || len < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN) return false;
  if ((load<u32>(rec, POD_FLAGS) & (POD_ATTACHED | POD_HAS_IPV4)) != (POD_ATTACHED | POD_HAS_IPV4)) return false;
  // Ethernet: source = the pod's MAC, destination = the router's (unicast), type IPv4
  if (load<u32>(f, 6) != load<u32>(rec) || load<u16>(f, 10) != load<u16>(rec, 4)) return false;
  if (load<u32>(f) != routerMacLo || <u32>load<u16>(f, 4) != routerMacHi) return false;
  if (load<u16>(f, 12) != ETHERTYPE_IPV4_LE) return false;
  const p = f + ETH_HEADER_LEN;
  const w0 = load<u32>(p);
  if (!header20Ok(p, len - ETH_HEADER_LEN, w0)) return false;
  const tot = <i32>bswap<u16>(<u16>(w0 >> 16));
  const src = load<u32>(p, 12);
  const dst = load<u32>(p, 16);
  if (src != load<u32>(rec, 12)) return false; // POD_IPV4
  if (ipv4IsMulticastOrBroadcast(dst) || ipv4IsMartianSource(src) || ipv4IsMartianDestination(dst)) return false;
  const target = memoRoute4(memoDst, dst);
  if ((target >> TARGET_KIND_SHIFT) != TARGET_PEER) return false;
  const peer = <i32>(target & TARGET_INDEX_MASK);
  const prec = peerRecord(peer);
  if ((load<u32>(prec, PEER_FLAGS) & (PEER_ACTIVE | PEER_IPV6)) != PEER_ACTIVE) return false;
  const w8 = load<u32>(p, IPV4_TTL);
  const ttlProto = w8 & 0xffff;
  if ((ttlProto & 0xff) <= 1 || tot > cfgTunnelMtu4) return false;
  // committed: from here on as route4 → emit → encapsulate
  ttlDecrement(p, w8);
  const hash = flowHashOf(p, tot, ttlProto);
  const o = encapsulate(p, tot, false, peer, prec, hash);
  txPush(o, tot + ENCAP_OVERHEAD4, <i32>PORT_UNDERLAY, peer, i);
  forward(i, peer);
  return true;
}

/**
 * Decap fast path for input `i`: the outer packet at `p` (`len` bytes) from the underlay, with
 * RX flags `rxFlags`. Returns false, having written nothing, when it needs the general path.
 */
@inline export function decapFast(i: i32, p: usize, len: i32, rxFlags: u16): bool {
  if (!decapOk || len < DECAP_MIN_LEN) return false;
  const w0 = load<u32>(p);
  if (!header20Ok(p, len, w0)) return false;
  const tot = <i32>bswap<u16>(<u16>(w0 >> 16));
  // to us, not a fragment, UDP
  if (load<u32>(p, 16) != cfgUnderlay4) return false;
  const fragTtlProto = load<u32>(p, IPV4_FLAGS_FRAG);
  if ((fragTtlProto & FRAG_BITS_LE) != 0 || ((fragTtlProto >> 24) & 0xff) != <u32>IPPROTO_UDP) return false;
  const osrc = load<u32>(p, 12);
  let peer = lastPeer;
  if (osrc != lastSrc || peer < 0) {
    peer = peerByAddr4(osrc);
    if (peer < 0) return false;
    lastSrc = osrc;
    lastPeer = peer;
  }
  // UDP: length within the IP payload, our port, checksum zero or verified by the kernel (a
  // non-zero checksum to verify here takes the general path)
  const u = p + IPV4_MIN_HEADER_LEN;
  const ulen = <i32>bswap<u16>(load<u16>(u, 4));
  if (ulen < UDP_HEADER_LEN || ulen > tot - IPV4_MIN_HEADER_LEN) return false;
  if (load<u16>(u, UDP_DPORT) != cfgTunnelPortLe) return false;
  if (load<u16>(u, UDP_CHECKSUM) != 0 && (rxFlags & RX_FLAG_CSUM_VERIFIED) == 0) return false;
  // VXLAN: I flag, our VNI; then at least an Ethernet header
  const t = u + UDP_HEADER_LEN;
  const innerLen = ulen - UDP_HEADER_LEN - VXLAN_HEADER_LEN;
  if (innerLen < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN) return false;
  if ((load<u8>(t) & VXLAN_FLAG_I) == 0 || (bswap<u32>(load<u32>(t, 4)) >> 8) != cfgVni) return false;
  // inner Ethernet to our VTEP MAC, IPv4
  const e = t + VXLAN_HEADER_LEN;
  if (load<u32>(e) != vtepMacLo || <u32>load<u16>(e, 4) != vtepMacHi || load<u16>(e, 12) != ETHERTYPE_IPV4_LE) return false;
  const ip = e + ETH_HEADER_LEN;
  const v0 = load<u32>(ip);
  if (!header20Ok(ip, innerLen - ETH_HEADER_LEN, v0)) return false;
  const itot = <i32>bswap<u16>(<u16>(v0 >> 16));
  const src = load<u32>(ip, 12);
  const dst = load<u32>(ip, 16);
  // anti-spoofing: the inner source must route back to this peer
  if (memoRoute4(memoSrc, src) != ((TARGET_PEER << TARGET_KIND_SHIFT) | <u32>peer)) return false;
  if (ipv4IsMulticastOrBroadcast(dst) || ipv4IsMartianSource(src) || ipv4IsMartianDestination(dst)) return false;
  const target = memoRoute4(memoDst, dst);
  if ((target >> TARGET_KIND_SHIFT) != TARGET_POD) return false;
  const port = <i32>(target & TARGET_INDEX_MASK);
  const rec = podRecord(port);
  if (rec == 0 || (load<u32>(rec, POD_FLAGS) & POD_ATTACHED) == 0) return false;
  const w8 = load<u32>(ip, IPV4_TTL);
  if ((w8 & 0xff) <= 1 || itot > cfgPodMtu) return false;
  // committed: as underlayIn → ipv4In → route4 → emit
  countPeer(peer, PC_RX_PACKETS, len);
  ttlDecrement(ip, w8);
  const eth = ip - ETH_HEADER_LEN;
  const mac = podMac(rec);
  store<u32>(eth, load<u32>(mac));
  store<u16>(eth, load<u16>(mac, 4), 4);
  store<u32>(eth, routerMacLo, 6);
  store<u16>(eth, <u16>routerMacHi, 10);
  // the ethertype at eth + 12 is already IPv4 (checked above)
  txPush(eth, itot + ETH_HEADER_LEN, port, <i32>NO_PEER, i);
  deliver(i, port);
  return true;
}
