// ICMP errors the router originates: time exceeded, destination unreachable, fragmentation
// needed (IPv4) and Packet Too Big (IPv6). The error is built in place, in the headroom in front
// of the offending packet, which becomes its quoted payload; then it is routed like any packet
// with ORIGIN_ROUTER.
//
// Rules: RFC 1812 §4.3.2.7 and RFC 4443 §2.4(e): no error about an ICMP error, a non-first
// fragment, or a packet whose source is not a unique unicast address; errors are rate-limited
// by a token bucket (Linux icmp_ratelimit / icmp_msgs_per_sec) and their source is our gateway
// address.

import {
  EV_ICMP_ERRORS_SENT, EV_ICMP_RATE_LIMITED, EV_ICMP_SUPPRESSED, CFGF_HAS_GATEWAY4, CFGF_HAS_GATEWAY6,
} from "../abi";
import { cfgFlags, cfgGateway4, cfgGateway6, cfgIcmpRate, cfgIcmpBurst, nowMs, countEvent, nextIpv4Id } from "../state";
import {
  ipv4Src, ipv4Proto, ipv4HeaderLen, ipv4IsLaterFragment, ipv4IsMulticastOrBroadcast, ipv4Emit, IPV4_MIN_HEADER_LEN,
} from "../wire/ipv4";
import { ipv6Emit, ipv6IsLinkLocal, ipv6IsUnspecified, IPV6_HEADER_LEN, IPV6_SRC, IPV6_MIN_MTU, NH_ICMPV6, walkProto, walkOffset, walkIsLaterFragment } from "../wire/ipv6";
import { icmpEmit, icmpIsError, ICMP_HEADER_LEN, ICMP_CHECKSUM, ICMP_ERROR_MAX_LEN, IPPROTO_ICMP } from "../wire/icmp";
import { icmp6Emit, icmp6IsError, ICMP6_CHECKSUM, ICMP6_HEADER_LEN } from "../wire/icmpv6";
import { csumPartial, csumFinish, csumPseudo6 } from "../csum/checksum";
import { route4, route6, ORIGIN_ROUTER, setL4 } from "./forward";

const ICMP_TTL: u8 = 64;

// Token bucket in milli-tokens.
let tokens: u64 = 0;
let lastRefill: u32 = 0;
let bucketPrimed = false;

/** Takes one token; false when the error must not be sent. */
function icmpAllowed(): bool {
  const cap = <u64>cfgIcmpBurst * 1000;
  if (!bucketPrimed) { tokens = cap; lastRefill = nowMs; bucketPrimed = true; }
  const elapsed = nowMs - lastRefill; // wraps correctly
  if (elapsed > 0) {
    const add = <u64>min<u32>(elapsed, 3600000) * <u64>cfgIcmpRate;
    tokens = min<u64>(cap, tokens + add);
    lastRefill = nowMs;
  }
  if (tokens < 1000) return false;
  tokens -= 1000;
  return true;
}

/** Resets the rate limiter (configSet). */
export function icmpResetBucket(): void { bucketPrimed = false; }

/** Sends ICMPv4 `type`/`code` about the packet at `p` (`len` bytes) for input `i`; `rest` = MTU or 0. */
export function icmpError4(i: i32, p: usize, len: i32, type: u8, code: u8, mtu: u32): void {
  const src = ipv4Src(p);
  const hlen = ipv4HeaderLen(p);
  if (!(cfgFlags & CFGF_HAS_GATEWAY4) || ipv4IsLaterFragment(p) || src == 0 || ipv4IsMulticastOrBroadcast(src)
    || (src & 0xff) == 127 || (src & 0xf0) == 0xf0 /* class E, RFC 1812 §4.3.2.7 */ || (ipv4Proto(p) == IPPROTO_ICMP && hlen < len && icmpIsError(load<u8>(p + <usize>hlen)))) {
    countEvent(EV_ICMP_SUPPRESSED);
    return;
  }
  if (!icmpAllowed()) { countEvent(EV_ICMP_RATE_LIMITED); return; }
  const over = IPV4_MIN_HEADER_LEN + ICMP_HEADER_LEN;
  const quote = min(len, ICMP_ERROR_MAX_LEN - over);
  const e = p - <usize>over;
  const total = over + quote;
  // RFC 1812 §4.3.2.5: ICMP errors go with precedence 6 (internetwork control), TOS 0xc0, as Linux.
  ipv4Emit(e, 0xc0, total, nextIpv4Id(), 0, ICMP_TTL, IPPROTO_ICMP, cfgGateway4, src);
  const m = e + IPV4_MIN_HEADER_LEN;
  icmpEmit(m, type, code, mtu & 0xffff);
  store<u16>(m, csumFinish(csumPartial(m, ICMP_HEADER_LEN + quote, 0)), ICMP_CHECKSUM);
  countEvent(EV_ICMP_ERRORS_SENT);
  setL4(IPPROTO_ICMP, -1);
  route4(i, e, total, -1, ORIGIN_ROUTER);
}

/**
 * Sends ICMPv6 `type`/`code` about the packet at `p` (`len` bytes) for input `i`; `rest` = MTU or 0.
 * Uses the extension-header walk of the packet (wire/ipv6 walk* globals), done at ingress.
 */
export function icmpError6(i: i32, p: usize, len: i32, type: u8, code: u8, rest: u32): void {
  const srcp = p + IPV6_SRC;
  if (!(cfgFlags & CFGF_HAS_GATEWAY6) || load<u8>(srcp) == 0xff || ipv6IsUnspecified(srcp) || ipv6IsLinkLocal(srcp)
    || (walkProto == NH_ICMPV6 && !walkIsLaterFragment && walkOffset < len && icmp6IsError(load<u8>(p + <usize>walkOffset)))) {
    countEvent(EV_ICMP_SUPPRESSED);
    return;
  }
  if (!icmpAllowed()) { countEvent(EV_ICMP_RATE_LIMITED); return; }
  const over = IPV6_HEADER_LEN + ICMP6_HEADER_LEN;
  const quote = min(len, IPV6_MIN_MTU - over);
  const e = p - <usize>over;
  const payload = ICMP6_HEADER_LEN + quote;
  // The new header lies entirely in front of p, so the offending source (our destination) stays intact.
  ipv6Emit(e, 0, 0, payload, NH_ICMPV6, ICMP_TTL, cfgGateway6, srcp);
  const m = e + IPV6_HEADER_LEN;
  icmp6Emit(m, type, code, rest);
  const sum = csumPartial(m, payload, csumPseudo6(e + IPV6_SRC, e + 24, NH_ICMPV6, <u32>payload));
  store<u16>(m, csumFinish(sum), ICMP6_CHECKSUM);
  countEvent(EV_ICMP_ERRORS_SENT);
  setL4(NH_ICMPV6, -1);
  route6(i, e, IPV6_HEADER_LEN + payload, -1, ORIGIN_ROUTER);
}
