// TSO split (software GSO for TCP), what Linux's tcp_gso_segment + inet_gso_segment /
// ipv6_gso_segment do for a NIC without TSO, and wireguard-go's tun/offload_linux.go gsoSplit:
// a TCP super-packet read from a TUN/TAP with IFF_VNET_HDR becomes MSS-sized packets, each with
// full headers and full checksums, written into output slots the caller provides.
//
// Per segment k of n (payload bytes [k*gso_size, min((k+1)*gso_size, payload)) ):
//   link header, IP header (options / extension headers included) and TCP header copied;
//   IPv4: total length, ID = ID + k (mod 2^16; virtio cannot ask for fixed IDs), header checksum;
//   IPv6: payload length;
//   TCP: seq + k*gso_size; FIN and PSH cleared on all but the last, CWR on all but the first;
//        checksum computed in full over the pseudo-header, header and payload. The checksum
//        field as read is ignored: with NEEDS_CSUM it holds the pseudo-header sum, with
//        DATA_VALID (or no flag) a full checksum of the super-packet; neither is used.
// UDP_L4 (USO, what a socket with UDP_SEGMENT hands a TUN/TAP with TUN_F_USO4/6; Linux's
// __udp_gso_segment + inet_gso_segment / ipv6_gso_segment): the same cut at gso_size, each
// segment a datagram of its own:
//   link and IP headers copied, IPv4 total length, ID + k, header checksum; IPv6 payload length;
//   UDP: ports copied, length = 8 + segment payload, checksum computed in full over the
//        pseudo-header (RFC 768; RFC 8200 §8.1), header and payload, a result of 0 sent as
//        0xffff (RFC 768: 0 would mean "no checksum"; IPv6 forbids it). The field as read is
//        ignored, as for TCP.
// A gso_type NONE packet is copied as one segment; with NEEDS_CSUM its checksum is completed
// (sum from csum_start to the end, stored at csum_start + csum_offset; 0 sent as 0xffff, as
// skb_checksum_help does).
//
// Everything is checked before the first byte is written: on an error no output is touched.

import {
  OFFLOAD_OK, OR_BAD_DESCRIPTOR, OR_TOO_MANY_SEGMENTS, OR_OUTPUT_TOO_SMALL,
  OC_SPLIT_GSO, OC_SPLIT_PLAIN, OC_SPLIT_SEGMENTS, OC_CSUM_COMPLETED, OC_SPLIT_USO, offloadCount,
} from "./reasons";
import {
  vnetCheck, VNET_LEN, VNET_GSO_NONE, VNET_F_NEEDS_CSUM, vnFlags, vnGso, vnGsoSize, vnCsumStart,
  vnCsumOffset, vnFrameLen, vnIsV6, vnIsUdp, vnL4Off, vnL4HdrLen, vnIpLen,
} from "./vnet";
import { inMemory } from "./bounds";
import { copyAndSum } from "./copysum";
import { csumPartial, csumPartialScalar, csumFinish, bs16 } from "../csum/checksum";
import { IPV4_TOTAL_LEN, IPV4_ID, IPV4_CHECKSUM, IPV4_SRC, IPV4_DST, IPV4_MIN_HEADER_LEN } from "../wire/ipv4";
import { IPV6_PAYLOAD_LEN, IPV6_SRC, IPV6_HEADER_LEN } from "../wire/ipv6";
import { TCP_SEQ, TCP_ACK, TCP_DATA_OFFSET, TCP_WINDOW, TCP_CHECKSUM, TCP_MIN_HEADER_LEN, IPPROTO_TCP } from "../wire/tcp";
import { UDP_LENGTH, UDP_CHECKSUM, IPPROTO_UDP } from "../wire/udp";

export const TCP_FLAG_FIN: u32 = 0x01;
export const TCP_FLAG_SYN: u32 = 0x02;
export const TCP_FLAG_RST: u32 = 0x04;
export const TCP_FLAG_PSH: u32 = 0x08;
export const TCP_FLAG_ACK: u32 = 0x10;
export const TCP_FLAG_URG: u32 = 0x20;
export const TCP_FLAG_ECE: u32 = 0x40;
export const TCP_FLAG_CWR: u32 = 0x80;

/** IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1) pseudo-header sum for TCP, without the length. */
@inline export function tcpPseudoNoLen(ip: usize, v6: bool): u64 {
  return pseudoNoLen(ip, v6, IPPROTO_TCP);
}

/** Pseudo-header sum (addresses and protocol, LE word form) without the upper-layer length. */
@inline function pseudoNoLen(ip: usize, v6: bool, proto: u8): u64 {
  let s: u64 = <u64>(<u32>proto << 8);
  if (!v6) return s + <u64>load<u32>(ip, IPV4_SRC) + <u64>load<u32>(ip, IPV4_DST);
  const a = ip + <usize>IPV6_SRC;
  s += <u64>load<u32>(a) + <u64>load<u32>(a, 4) + <u64>load<u32>(a, 8) + <u64>load<u32>(a, 12);
  s += <u64>load<u32>(a, 16) + <u64>load<u32>(a, 20) + <u64>load<u32>(a, 24) + <u64>load<u32>(a, 28);
  return s;
}

/** Completes a NEEDS_CSUM checksum of a gso_type NONE frame at `f` (validated by vnetCheck). */
@inline function completeChecksum(f: usize, frameLen: i32): void {
  const start = f + <usize>vnCsumStart;
  const c = csumFinish(csumPartial(start, frameLen - vnCsumStart, 0));
  store<u16>(start + <usize>vnCsumOffset, c == 0 ? <u16>0xffff : c);
}

/**
 * Splits the vnet-headed packet at `h` (`len` bytes, IP header `l3Off` bytes into the frame).
 * Segment k is written at the offset in u32 entry k of `outOffs` (at most `cap` bytes there) and
 * its length stored in entry k of `outLens`; at most `maxSegs` entries. Caller guarantees the
 * input and both arrays (maxSegs entries) are in memory and 0 <= l3Off <= L3_OFF_MAX.
 * Returns the segment count (>= 1) or a reason negated; counts successes only.
 */
export function splitOne(h: usize, len: i32, l3Off: i32, outOffs: usize, outLens: usize, maxSegs: i32, cap: i32): i32 {
  const r = vnetCheck(h, len, l3Off);
  if (r != OFFLOAD_OK) return -r;
  const frame = h + <usize>VNET_LEN;
  if (vnGso == VNET_GSO_NONE) {
    const fl = vnFrameLen;
    if (maxSegs < 1) return -OR_TOO_MANY_SEGMENTS;
    if (fl > cap) return -OR_OUTPUT_TOO_SMALL;
    const o = <i32>load<u32>(outOffs);
    if (!inMemory(o, fl)) return -OR_BAD_DESCRIPTOR;
    memory.copy(<usize>o, frame, <usize>fl);
    if ((vnFlags & VNET_F_NEEDS_CSUM) != 0) {
      completeChecksum(<usize>o, fl);
      offloadCount(OC_CSUM_COMPLETED);
    }
    store<u32>(outLens, <u32>fl);
    offloadCount(OC_SPLIT_PLAIN);
    offloadCount(OC_SPLIT_SEGMENTS);
    return 1;
  }

  const l4Off = vnL4Off;               // from the IP header
  const thl = vnL4HdrLen;              // TCP header with options, or the 8-byte UDP header
  const hdrs = l3Off + l4Off + thl;    // from the frame start: where the payload begins
  const payload = vnIpLen - l4Off - thl;
  const mss = vnGsoSize;
  const n = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (n > maxSegs) return -OR_TOO_MANY_SEGMENTS;
  if (hdrs + min(mss, payload) > cap) return -OR_OUTPUT_TOO_SMALL;
  for (let k = 0; k < n; k++) {
    const segPay = k < n - 1 ? mss : payload - k * mss;
    if (!inMemory(<i32>load<u32>(outOffs + (<usize>k << 2)), hdrs + segPay)) return -OR_BAD_DESCRIPTOR;
  }
  if (vnIsUdp) return splitUdp(h + <usize>VNET_LEN, l3Off, l4Off, payload, mss, n, outOffs, outLens);

  const v6 = vnIsV6;
  const ip = frame + <usize>l3Off;
  const tcp = ip + <usize>l4Off;
  // Sums of everything that does not change per segment (LE word form, checksum.ts).
  // IPv4: the sum of every header word that stays the same per segment, and the first ID
  const ipBase: u64 = v6 ? 0 : ipv4InvariantSum(ip, l4Off);
  const id0: u32 = v6 ? 0 : <u32>bswap<u16>(load<u16>(ip, IPV4_ID));
  const pseudo = tcpPseudoNoLen(ip, v6);
  // TCP words other than seq (4..8), offset/flags (12), checksum (16)
  let tcpBase: u64 = <u64>load<u32>(tcp) + <u64>load<u32>(tcp, TCP_ACK) + <u64>load<u16>(tcp, TCP_WINDOW) + <u64>load<u16>(tcp, 18);
  if (thl > TCP_MIN_HEADER_LEN) tcpBase += csumPartialScalar(tcp + <usize>TCP_MIN_HEADER_LEN, thl - TCP_MIN_HEADER_LEN, 0);
  const fixed = pseudo + tcpBase;
  const seq0 = bswap<u32>(load<u32>(tcp, TCP_SEQ));
  const doff = <u32>load<u8>(tcp, TCP_DATA_OFFSET);
  const flags0 = <u32>load<u8>(tcp, TCP_DATA_OFFSET + 1);
  const src = frame + <usize>hdrs;

  for (let k = 0; k < n; k++) {
    const last = k == n - 1;
    const segPay = last ? payload - k * mss : mss;
    const out = <usize>load<u32>(outOffs + (<usize>k << 2));
    memory.copy(out, frame, <usize>hdrs);
    const oip = out + <usize>l3Off;
    const otcp = oip + <usize>l4Off;
    const l4Len = thl + segPay;
    if (!v6) {
      const tot = <u32>(l4Off + l4Len);
      const id = (id0 + <u32>k) & 0xffff;
      store<u16>(oip, <u16>bs16(tot), IPV4_TOTAL_LEN);
      store<u16>(oip, <u16>bs16(id), IPV4_ID);
      store<u16>(oip, csumFinish(ipBase + <u64>bs16(tot) + <u64>bs16(id)), IPV4_CHECKSUM);
    } else {
      store<u16>(oip, <u16>bs16(<u32>(l4Off - IPV6_HEADER_LEN + l4Len)), IPV6_PAYLOAD_LEN);
    }
    const seqLe = bswap<u32>(seq0 + <u32>k * <u32>mss);
    store<u32>(otcp, seqLe, TCP_SEQ);
    let f = flags0;
    if (!last) f &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
    if (k > 0) f &= ~TCP_FLAG_CWR;
    const fw = doff | (f << 8);
    store<u16>(otcp, <u16>fw, TCP_DATA_OFFSET);
    const opay = otcp + <usize>thl;
    const sum = copyAndSum(opay, src + <usize>(k * mss), segPay, fixed + <u64>bs16(<u32>l4Len) + <u64>seqLe + <u64>fw);
    store<u16>(otcp, csumFinish(sum), TCP_CHECKSUM);
    store<u32>(outLens + (<usize>k << 2), <u32>(hdrs + segPay));
  }
  offloadCount(OC_SPLIT_GSO);
  offloadCount(OC_SPLIT_SEGMENTS, <u64>n);
  return n;
}

/**
 * The UDP_L4 half of `splitOne`, after every check passed: `n` segments of the datagram in
 * `frame` (UDP header `l4Off` bytes after the IP header, `payload` bytes after it) at `mss`
 * payload bytes each, into the output entries (all known to fit).
 */
function splitUdp(frame: usize, l3Off: i32, l4Off: i32, payload: i32, mss: i32, n: i32, outOffs: usize, outLens: usize): i32 {
  const v6 = vnIsV6;
  const ip = frame + <usize>l3Off;
  const udp = ip + <usize>l4Off;
  const hdrs = l3Off + l4Off + 8;
  // IPv4: the sum of every header word that stays the same per segment, and the first ID
  const ipBase: u64 = v6 ? 0 : ipv4InvariantSum(ip, l4Off);
  const id0: u32 = v6 ? 0 : <u32>bswap<u16>(load<u16>(ip, IPV4_ID));
  // pseudo-header without length + the ports; the UDP length counts twice (pseudo-header and header)
  const fixed = pseudoNoLen(ip, v6, IPPROTO_UDP) + <u64>load<u32>(udp);
  const src = frame + <usize>hdrs;
  for (let k = 0; k < n; k++) {
    const segPay = k < n - 1 ? mss : payload - k * mss;
    const out = <usize>load<u32>(outOffs + (<usize>k << 2));
    memory.copy(out, frame, <usize>hdrs);
    const oip = out + <usize>l3Off;
    const oudp = oip + <usize>l4Off;
    const ulen = <u32>(8 + segPay);
    if (!v6) {
      const tot = <u32>l4Off + ulen;
      const id = (id0 + <u32>k) & 0xffff; // inet_gso_segment: ID + k (no fixed IDs for UDP_L4 via virtio)
      store<u16>(oip, <u16>bs16(tot), IPV4_TOTAL_LEN);
      store<u16>(oip, <u16>bs16(id), IPV4_ID);
      store<u16>(oip, csumFinish(ipBase + <u64>bs16(tot) + <u64>bs16(id)), IPV4_CHECKSUM);
    } else {
      store<u16>(oip, <u16>bs16(<u32>(l4Off - IPV6_HEADER_LEN) + ulen), IPV6_PAYLOAD_LEN);
    }
    store<u16>(oudp, <u16>bs16(ulen), UDP_LENGTH);
    const sum = copyAndSum(oudp + 8, src + <usize>(k * mss), segPay, fixed + (<u64>bs16(ulen) << 1));
    const c = csumFinish(sum);
    store<u16>(oudp, c == 0 ? <u16>0xffff : c, UDP_CHECKSUM); // RFC 768: 0 is "no checksum"
    store<u32>(outLens + (<usize>k << 2), <u32>(hdrs + segPay));
  }
  offloadCount(OC_SPLIT_GSO);
  offloadCount(OC_SPLIT_USO);
  offloadCount(OC_SPLIT_SEGMENTS, <u64>n);
  return n;
}

/**
 * LE-word-form sum (csum/checksum.ts) of the IPv4 header words every segment keeps: words 0
 * (version/IHL/TOS), 6 (flags/fragment), 8 (TTL/protocol), the addresses and the options; not the
 * total length, the ID or the checksum, which change per segment.
 */
@inline function ipv4InvariantSum(ip: usize, ihlBytes: i32): u64 {
  let sum = <u64>(load<u32>(ip) & 0xffff) + <u64>(load<u32>(ip, IPV4_ID) >> 16) + <u64>(load<u32>(ip, 8) & 0xffff)
    + <u64>load<u32>(ip, IPV4_SRC) + <u64>load<u32>(ip, IPV4_DST);
  if (ihlBytes > IPV4_MIN_HEADER_LEN) sum += csumPartialScalar(ip + <usize>IPV4_MIN_HEADER_LEN, ihlBytes - IPV4_MIN_HEADER_LEN, 0);
  return sum;
}
