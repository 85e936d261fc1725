// GRO for TUN/TAP writes: what Linux's tcp_gro_receive / inet_gro_receive / ipv6_gro_receive do
// on a NIC's receive path, and wireguard-go's tun/offload_linux.go handleGRO before a TUN
// write: consecutive in-order TCP segments of one flow become one super-packet written with a
// virtio_net_hdr (GSO TCPV4/TCPV6, NEEDS_CSUM), so the kernel takes one skb through its stack
// instead of dozens. Everything else passes unchanged behind a gso_type NONE header.
//
// Candidates (anything else passes through): IPv4 without options, fragmentation or the reserved
// flag, or IPv6 with TCP as the next header; at least one payload byte; flags ACK plus optionally
// PSH, ECE, CWR; valid IPv4 header and TCP checksums (unless the caller trusts them: a super-packet goes
// up as CHECKSUM_PARTIAL, which the kernel never verifies, so a corrupted segment must not hide
// in one). A candidate joins its flow's open group when (Linux's rules, which are stricter than
// wireguard-go's only in comparing the window):
//   same link header (TAP), IPv4 TOS/TTL/DF or IPv6 first word (version, class, flow label) and
//   hop limit; IPv4 ID = previous + 1, or (DF set, RFC 6864 atomic) all equal to the head's;
//   same TCP data offset, reserved bits, option bytes (timestamps included), ACK number, window,
//   ECE; no CWR (only the head may carry it); seq = previous seq + previous payload;
//   payload <= the head's (the head's payload is gso_size); IP length stays <= 65535.
// A group closes after a segment with PSH or a payload shorter than gso_size, and whenever a
// packet of its flow (same addresses and ports, candidate or not) cannot join it: a later
// segment never overtakes an earlier packet of its flow. Outputs are ordered by their first
// input; per flow the order of inputs is kept.
//
// Super-packet: the head's link, IP and TCP headers with IPv4 total length and header checksum
// or IPv6 payload length rewritten, PSH from the last segment, and in the TCP checksum field the
// folded pseudo-header sum over the merged TCP length (what CHECKSUM_PARTIAL expects); vnet
// header: flags NEEDS_CSUM, gso_type TCPV4/TCPV6 (| ECN when the head has CWR), hdr_len = all
// headers, gso_size = the head's payload, csum_start = TCP offset, csum_offset = 16.

import {
  OR_BAD_DESCRIPTOR, OR_OUTPUT_TOO_SMALL, OC_GRO_IN, OC_GRO_SUPER, OC_GRO_MERGED, OC_GRO_PASSED,
  OC_GRO_BAD_CSUM, offloadCount,
} from "./reasons";
import { VNET_LEN, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_ECN, TCP_CSUM_OFFSET, L3_OFF_MAX, vnetEmit, vnetEmitNone } from "./vnet";
import { TCP_FLAG_ACK, TCP_FLAG_PSH, TCP_FLAG_ECE, TCP_FLAG_CWR, tcpPseudoNoLen } from "./segment";
import { inMemory, arrayInMemory } from "./bounds";
import { copyAndSum } from "./copysum";
import { csumPartial, csumPartialScalar, csumFold, csumFinish, csumIpv4Header20, bs16 } from "../csum/checksum";
import { hashMix, hashFinal } from "../stage/encap";
import { IPV4_TOS, IPV4_TOTAL_LEN, IPV4_ID, IPV4_FLAGS_FRAG, IPV4_TTL, IPV4_PROTO, IPV4_CHECKSUM, IPV4_SRC, IPV4_FLAG_DF } from "../wire/ipv4";
import { IPV6_PAYLOAD_LEN, IPV6_NEXT_HEADER, IPV6_HOP_LIMIT, IPV6_SRC } from "../wire/ipv6";
import { TCP_SEQ, TCP_ACK, TCP_DATA_OFFSET, TCP_FLAGS, TCP_WINDOW, TCP_CHECKSUM, TCP_MIN_HEADER_LEN, IPPROTO_TCP } from "../wire/tcp";

/** GRO flag: the inputs' IPv4 header and TCP checksums are known good (skip verification). */
export const GRO_TRUST_CHECKSUMS: i32 = 1;
/** GRO flag: merge nothing, only put a gso_type NONE header in front of every input (kill switch). */
export const GRO_NO_MERGE: i32 = 2;

/** Inputs handled at once; longer batches are cut into chunks (no group spans two). */
export const GRO_CHUNK: i32 = 1024;
const TABLE_BITS: i32 = 11; // 2048 entries, load <= 1/2
const TABLE_MASK: u32 = (1 << TABLE_BITS) - 1;

// Static scratch (data segment; nothing is allocated). Per input: 16 bytes.
const IN_BASE: usize = memory.data(GRO_CHUNK * 16, 16);
const IN_PTR: usize = 0;       // u32 frame address
const IN_PAY_LEN: usize = 4;   // u16 payload bytes (candidates)
const IN_NEXT: usize = 6;      // u16 next member of its group, 0xffff = last
const IN_LEN: usize = 8;       // u32 frame length
const IN_KIND: usize = 12;     // u8 KIND_*
const IN_THL: usize = 13;      // u8 TCP header length in bytes (candidates)
const KIND_SINGLE: u8 = 0;
const KIND_V4: u8 = 4;
const KIND_V6: u8 = 6;
// Per group: 32 bytes.
const GR_BASE: usize = memory.data(GRO_CHUNK * 32, 16);
const GR_HEAD: usize = 0;      // u16 input index
const GR_TAIL: usize = 2;      // u16
const GR_COUNT: usize = 4;     // u16 members
const GR_OPEN: usize = 6;      // u8
const GR_ID_MODE: usize = 7;   // u8 ID_*
const GR_NEXT_SEQ: usize = 8;  // u32 host order
const GR_IP_LEN: usize = 12;   // u32 merged IP length so far
const GR_GSO: usize = 16;      // u32 head payload
const GR_LAST_ID: usize = 20;  // u32 IPv4 ID of the tail
const GR_LAST_FLAGS: usize = 24; // u32 TCP flags of the tail
const ID_UNSET: u8 = 0;
const ID_INC: u8 = 1;
const ID_FIXED: u8 = 2;
// Flow table: open addressing, entry = epoch << TABLE_BITS | (group + 1); stale epochs are empty.
const TABLE_BASE: usize = memory.data(4 << TABLE_BITS, 16);
let epoch: u32 = 0;

@inline function inRec(i: i32): usize { return IN_BASE + (<usize>i << 4); }
@inline function grRec(g: i32): usize { return GR_BASE + (<usize>g << 5); }

// ---- classification of one input (results in globals) -------------------------------------
let cKey = false;     // a TCP header's ports are visible: the packet belongs to a flow
let cCand = false;    // may be coalesced
let cBadCsum = false; // a candidate but for its checksums
let cV6 = false;
let cL4: i32 = 0;     // TCP offset from the IP header
let cThl: i32 = 0;
let cIpLen: i32 = 0;
let cPayLen: i32 = 0;

function classify(p: usize, len: i32, l3Off: i32, trust: bool): void {
  cKey = false;
  cCand = false;
  cBadCsum = false;
  const avail = len - l3Off;
  if (avail < 1) return;
  const ip = p + <usize>l3Off;
  const v = load<u8>(ip) >> 4;
  let ipLen: i32;
  if (v == 4) {
    if (avail < 20) return;
    const ihl = <i32>(load<u8>(ip) & 0x0f) << 2;
    const ff = bswap<u16>(load<u16>(ip, IPV4_FLAGS_FRAG));
    if (ihl < 20 || load<u8>(ip, IPV4_PROTO) != IPPROTO_TCP || (ff & 0x1fff) != 0 || avail < ihl + 4) return;
    cKey = true;
    cV6 = false;
    cL4 = ihl;
    if (ihl != 20 || (ff & ~IPV4_FLAG_DF) != 0) return; // options; MF or the reserved flag (Linux flushes)
    ipLen = <i32>bswap<u16>(load<u16>(ip, IPV4_TOTAL_LEN));
    if (ipLen < 40 || ipLen > avail) return;
    if (l3Off >= 2 && load<u16>(ip - 2) != 0x0008) return;
  } else if (v == 6) {
    if (avail < 44 || load<u8>(ip, IPV6_NEXT_HEADER) != IPPROTO_TCP) return;
    cKey = true;
    cV6 = true;
    cL4 = 40;
    ipLen = 40 + <i32>bswap<u16>(load<u16>(ip, IPV6_PAYLOAD_LEN));
    if (ipLen < 60 || ipLen > avail) return;
    if (l3Off >= 2 && load<u16>(ip - 2) != 0xdd86) return;
  } else {
    return;
  }
  const tcp = ip + <usize>cL4;
  const segLen = ipLen - cL4;
  const thl = <i32>(load<u8>(tcp, TCP_DATA_OFFSET) >> 4) << 2;
  if (thl < TCP_MIN_HEADER_LEN || thl >= segLen) return;
  const flags = <u32>load<u8>(tcp, TCP_FLAGS);
  if ((flags & TCP_FLAG_ACK) == 0 || (flags & ~(TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_ECE | TCP_FLAG_CWR)) != 0) return;
  if (!trust) {
    if (v == 4 && csumFold(csumIpv4Header20(ip)) != 0xffff) { cBadCsum = true; return; }
    const s = tcpPseudoNoLen(ip, v == 6) + <u64>bs16(<u32>segLen) + csumPartial(tcp, segLen, 0);
    if (csumFold(s) != 0xffff) { cBadCsum = true; return; }
  }
  cCand = true;
  cThl = thl;
  cIpLen = ipLen;
  cPayLen = segLen - thl;
}

// ---- flows ---------------------------------------------------------------------------------
@inline function flowHash(ip: usize, tcp: usize, v6: bool): u32 {
  let h: u32;
  if (!v6) {
    h = hashMix(hashMix(0x6a09, load<u32>(ip, IPV4_SRC)), load<u32>(ip, IPV4_SRC + 4));
  } else {
    const a = ip + <usize>IPV6_SRC;
    h = hashMix(hashMix(0x6a0a, load<u32>(a)), load<u32>(a, 4));
    h = hashMix(hashMix(h, load<u32>(a, 8)), load<u32>(a, 12));
    h = hashMix(hashMix(h, load<u32>(a, 16)), load<u32>(a, 20));
    h = hashMix(hashMix(h, load<u32>(a, 24)), load<u32>(a, 28));
  }
  return hashFinal(hashMix(h, load<u32>(tcp)));
}

/** Same IP version, addresses and ports as the (candidate) head of group `g`. */
@inline function sameFlow(ip: usize, tcp: usize, v6: bool, l3Off: i32, g: i32): bool {
  const hr = inRec(<i32>load<u16>(grRec(g), GR_HEAD));
  if ((load<u8>(hr, IN_KIND) == KIND_V6) != v6) return false;
  const hip = <usize>load<u32>(hr, IN_PTR) + <usize>l3Off;
  if (!v6) {
    return load<u64>(hip, IPV4_SRC) == load<u64>(ip, IPV4_SRC) && load<u32>(hip, 20) == load<u32>(tcp);
  }
  const a = hip + <usize>IPV6_SRC;
  const b = ip + <usize>IPV6_SRC;
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8)
    && load<u64>(a, 16) == load<u64>(b, 16) && load<u64>(a, 24) == load<u64>(b, 24)
    && load<u32>(hip, 40) == load<u32>(tcp);
}

// Result of findFlow: the table slot of the flow (found or where it would go) and its group.
let fSlot: u32 = 0;
let fGroup: i32 = -1;

function findFlow(ip: usize, tcp: usize, v6: bool, l3Off: i32): void {
  let s = flowHash(ip, tcp, v6) & TABLE_MASK;
  const ep = epoch << TABLE_BITS;
  for (;;) {
    const e = load<u32>(TABLE_BASE + (<usize>s << 2));
    if ((e & ~TABLE_MASK) != ep) { // stale epoch: empty
      fSlot = s;
      fGroup = -1;
      return;
    }
    const g = <i32>(e & TABLE_MASK) - 1;
    if (sameFlow(ip, tcp, v6, l3Off, g)) {
      fSlot = s;
      fGroup = g;
      return;
    }
    s = (s + 1) & TABLE_MASK;
  }
}

/** The IPv4 ID mode the group has once canAppend's candidate joins it. */
let aIdMode: u8 = ID_UNSET;

/** Whether candidate input `i` (classified: cV6, cThl, cPayLen) may join open group `g`. */
function canAppend(g: i32, i: i32, ip: usize, l3Off: i32): bool {
  const gr = grRec(g);
  const hr = inRec(<i32>load<u16>(gr, GR_HEAD));
  const hp = <usize>load<u32>(hr, IN_PTR);
  const hip = hp + <usize>l3Off;
  const p = ip - <usize>l3Off;
  for (let k = 0; k < l3Off; k++) if (load<u8>(hp + <usize>k) != load<u8>(p + <usize>k)) return false;
  const htcp = hip + <usize>cL4;
  const tcp = ip + <usize>cL4;
  if (!cV6) {
    if (load<u8>(hip, IPV4_TOS) != load<u8>(ip, IPV4_TOS) || load<u8>(hip, IPV4_TTL) != load<u8>(ip, IPV4_TTL)) return false;
    const df = load<u8>(ip, IPV4_FLAGS_FRAG) & 0x40;
    if ((load<u8>(hip, IPV4_FLAGS_FRAG) & 0x40) != df) return false;
    const id = <u32>bswap<u16>(load<u16>(ip, IPV4_ID));
    const mode = load<u8>(gr, GR_ID_MODE);
    const lastId = load<u32>(gr, GR_LAST_ID);
    if (mode == ID_UNSET) {
      if (id == ((lastId + 1) & 0xffff)) aIdMode = ID_INC;
      else if (id == lastId && df != 0) aIdMode = ID_FIXED;
      else return false;
    } else if (mode == ID_INC ? id != ((lastId + 1) & 0xffff) : id != lastId) {
      return false;
    } else {
      aIdMode = mode;
    }
  } else {
    if (load<u32>(hip) != load<u32>(ip) || load<u8>(hip, IPV6_HOP_LIMIT) != load<u8>(ip, IPV6_HOP_LIMIT)) return false;
  }
  // data offset, reserved bits, flags (PSH may differ, CWR only on the head) and window in one
  // word, as Linux compares tcp_flag_word
  const hw = load<u32>(htcp, TCP_DATA_OFFSET);
  const cw = load<u32>(tcp, TCP_DATA_OFFSET);
  if ((cw & ~(TCP_FLAG_PSH << 8)) != (hw & ~((TCP_FLAG_PSH | TCP_FLAG_CWR) << 8))) return false;
  for (let k = TCP_MIN_HEADER_LEN; k < cThl; k += 4) if (load<u32>(htcp + <usize>k) != load<u32>(tcp + <usize>k)) return false;
  if (load<u32>(htcp, TCP_ACK) != load<u32>(tcp, TCP_ACK)) return false;
  if (<u32>cPayLen > load<u32>(gr, GR_GSO)) return false;
  if (bswap<u32>(load<u32>(tcp, TCP_SEQ)) != load<u32>(gr, GR_NEXT_SEQ)) return false;
  if (load<u32>(gr, GR_IP_LEN) + <u32>cPayLen > 65535) return false;
  return true;
}

/** Groups made by pass 1 of the current chunk. */
let groupCount: i32 = 0;

function newGroup(i: i32, ip: usize, cand: bool): i32 {
  const g = groupCount++;
  const gr = grRec(g);
  store<u16>(gr, <u16>i, GR_HEAD);
  store<u16>(gr, <u16>i, GR_TAIL);
  store<u16>(gr, 1, GR_COUNT);
  store<u8>(gr, ID_UNSET, GR_ID_MODE);
  store<u16>(inRec(i), 0xffff, IN_NEXT);
  if (!cand) {
    store<u8>(gr, 0, GR_OPEN);
    return g;
  }
  const tcp = ip + <usize>cL4;
  const flags = <u32>load<u8>(tcp, TCP_FLAGS);
  store<u8>(gr, (flags & TCP_FLAG_PSH) == 0 ? 1 : 0, GR_OPEN);
  store<u32>(gr, bswap<u32>(load<u32>(tcp, TCP_SEQ)) + <u32>cPayLen, GR_NEXT_SEQ);
  store<u32>(gr, <u32>cIpLen, GR_IP_LEN);
  store<u32>(gr, <u32>cPayLen, GR_GSO);
  store<u32>(gr, cV6 ? 0 : <u32>bswap<u16>(load<u16>(ip, IPV4_ID)), GR_LAST_ID);
  store<u32>(gr, flags, GR_LAST_FLAGS);
  return g;
}

function append(g: i32, i: i32, ip: usize): void {
  const gr = grRec(g);
  const tail = <i32>load<u16>(gr, GR_TAIL);
  store<u16>(inRec(tail), <u16>i, IN_NEXT);
  store<u16>(inRec(i), 0xffff, IN_NEXT);
  store<u16>(gr, <u16>i, GR_TAIL);
  store<u16>(gr, load<u16>(gr, GR_COUNT) + 1, GR_COUNT);
  const tcp = ip + <usize>cL4;
  const flags = <u32>load<u8>(tcp, TCP_FLAGS);
  store<u32>(gr, load<u32>(gr, GR_NEXT_SEQ) + <u32>cPayLen, GR_NEXT_SEQ);
  store<u32>(gr, load<u32>(gr, GR_IP_LEN) + <u32>cPayLen, GR_IP_LEN);
  if (!cV6) {
    store<u32>(gr, <u32>bswap<u16>(load<u16>(ip, IPV4_ID)), GR_LAST_ID);
    store<u8>(gr, aIdMode, GR_ID_MODE);
  }
  store<u32>(gr, flags, GR_LAST_FLAGS);
  if ((flags & TCP_FLAG_PSH) != 0 || <u32>cPayLen < load<u32>(gr, GR_GSO)) store<u8>(gr, 0, GR_OPEN);
}

/** Pass 1 over inputs [0, n) of a chunk: groups in order of their first input. */
function group(inOffs: usize, inLens: usize, n: i32, l3Off: i32, trust: bool, noMerge: bool): void {
  groupCount = 0;
  epoch++;
  if (epoch >= (1 << (32 - TABLE_BITS))) { // wrapped: clear the table once every 2^21 chunks
    memory.fill(TABLE_BASE, 0, 4 << TABLE_BITS);
    epoch = 1;
  }
  for (let i = 0; i < n; i++) {
    const p = <usize>load<u32>(inOffs + (<usize>i << 2));
    const len = <i32>load<u32>(inLens + (<usize>i << 2));
    const r = inRec(i);
    store<u32>(r, <u32>p, IN_PTR);
    store<u32>(r, <u32>len, IN_LEN);
    if (noMerge) {
      store<u8>(r, KIND_SINGLE, IN_KIND);
      newGroup(i, 0, false);
      continue;
    }
    classify(p, len, l3Off, trust);
    if (cBadCsum) offloadCount(OC_GRO_BAD_CSUM);
    if (!cKey) {
      store<u8>(r, KIND_SINGLE, IN_KIND);
      newGroup(i, 0, false);
      continue;
    }
    const ip = p + <usize>l3Off;
    findFlow(ip, ip + <usize>cL4, cV6, l3Off);
    const g = fGroup;
    if (!cCand) {
      store<u8>(r, KIND_SINGLE, IN_KIND);
      if (g >= 0) store<u8>(grRec(g), 0, GR_OPEN);
      newGroup(i, 0, false);
      continue;
    }
    store<u8>(r, cV6 ? KIND_V6 : KIND_V4, IN_KIND);
    store<u8>(r, <u8>cThl, IN_THL);
    store<u16>(r, <u16>cPayLen, IN_PAY_LEN);
    if (g >= 0 && load<u8>(grRec(g), GR_OPEN) != 0) {
      if (canAppend(g, i, ip, l3Off)) {
        append(g, i, ip);
        continue;
      }
      store<u8>(grRec(g), 0, GR_OPEN);
    }
    const ng = newGroup(i, ip, true);
    store<u32>(TABLE_BASE + (<usize>fSlot << 2), (epoch << TABLE_BITS) | <u32>(ng + 1));
  }
}

/**
 * Pass 2: writes the groups back to back from `out`; returns the bytes written. With `verify`,
 * checks every merged segment's IPv4 header and TCP checksums on the way (the TCP sum is taken
 * while the payload is copied) and returns -1 at the first wrong one.
 */
function emit(l3Off: i32, out: usize, outOffs: usize, outLens: usize, verify: bool): isize {
  const start = out;
  for (let g = 0; g < groupCount; g++) {
    const gr = grRec(g);
    const head = <i32>load<u16>(gr, GR_HEAD);
    const hr = inRec(head);
    const hp = <usize>load<u32>(hr, IN_PTR);
    const count = <i32>load<u16>(gr, GR_COUNT);
    let len: i32;
    if (count == 1) {
      const l = <i32>load<u32>(hr, IN_LEN);
      vnetEmitNone(out);
      memory.copy(out + <usize>VNET_LEN, hp, <usize>l);
      len = VNET_LEN + l;
    } else {
      const v6 = load<u8>(hr, IN_KIND) == KIND_V6;
      const l4 = v6 ? 40 : 20;
      const thl = <i32>load<u8>(hr, IN_THL);
      const hdrs = l3Off + l4 + thl;
      const ipLen = <i32>load<u32>(gr, GR_IP_LEN);
      const f = out + <usize>VNET_LEN;
      memory.copy(f, hp, <usize>hdrs);
      const ip = f + <usize>l3Off;
      const tcp = ip + <usize>l4;
      if (!v6) {
        store<u16>(ip, <u16>bs16(<u32>ipLen), IPV4_TOTAL_LEN);
        store<u16>(ip, 0, IPV4_CHECKSUM);
        store<u16>(ip, csumFinish(csumIpv4Header20(ip)), IPV4_CHECKSUM);
      } else {
        store<u16>(ip, <u16>bs16(<u32>(ipLen - 40)), IPV6_PAYLOAD_LEN);
      }
      const tcpLen = <u32>(ipLen - l4);
      store<u8>(tcp, load<u8>(tcp, TCP_FLAGS) | <u8>(load<u32>(gr, GR_LAST_FLAGS) & TCP_FLAG_PSH), TCP_FLAGS);
      store<u16>(tcp, <u16>csumFold(tcpPseudoNoLen(hp + <usize>l3Off, v6) + <u64>bs16(tcpLen)), TCP_CHECKSUM);
      const pseudo = tcpPseudoNoLen(hp + <usize>l3Off, v6); // the same addresses for every member
      let d = f + <usize>hdrs;
      let i = head;
      while (i != 0xffff) {
        const r = inRec(i);
        const pl = <i32>load<u16>(r, IN_PAY_LEN);
        const mp = <usize>load<u32>(r, IN_PTR);
        const src = mp + <usize>hdrs;
        if (verify) {
          const mip = mp + <usize>l3Off;
          if (!v6 && csumFold(csumIpv4Header20(mip)) != 0xffff) return -1;
          const s = pseudo + <u64>bs16(<u32>(thl + pl)) + csumPartialScalar(mip + <usize>l4, thl, 0);
          if (csumFold(copyAndSum(d, src, pl, s)) != 0xffff) return -1;
        } else {
          memory.copy(d, src, <usize>pl);
        }
        d += <usize>pl;
        i = <i32>load<u16>(r, IN_NEXT);
      }
      const hf = <u32>load<u8>(hp + <usize>(l3Off + l4), TCP_FLAGS);
      vnetEmit(out, VNET_F_NEEDS_CSUM, (v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4) | ((hf & TCP_FLAG_CWR) != 0 ? VNET_GSO_ECN : 0),
        hdrs, <i32>load<u32>(gr, GR_GSO), l3Off + l4, TCP_CSUM_OFFSET);
      len = VNET_LEN + l3Off + ipLen;
    }
    store<u32>(outOffs + (<usize>g << 2), <u32>out);
    store<u32>(outLens + (<usize>g << 2), <u32>len);
    out += <usize>len;
  }
  return <isize>(out - start);
}

/** Counts the outputs of the chunk just emitted. */
function countGroups(): void {
  for (let g = 0; g < groupCount; g++) {
    const count = <u64>load<u16>(grRec(g), GR_COUNT);
    if (count == 1) {
      offloadCount(OC_GRO_PASSED);
    } else {
      offloadCount(OC_GRO_SUPER);
      offloadCount(OC_GRO_MERGED, count);
    }
  }
}

/**
 * GRO over `n` frames (u32 offset / length arrays; IP header `l3Off` bytes in): outputs
 * (vnet header + frame each) are written back to back into [outBase, outBase + outBytes), their
 * offsets and lengths into entries of `outOffs` / `outLens` (n entries suffice). Needs
 * outBytes >= sum of input lengths + 10 * n, checked first (-OR_OUTPUT_TOO_SMALL, nothing
 * written). `flags`: GRO_TRUST_CHECKSUMS, GRO_NO_MERGE. Returns the output count or a reason negated.
 */
export function coalesce(inOffs: i32, inLens: i32, n: i32, l3Off: i32, outBase: i32, outBytes: i32, outOffs: i32, outLens: i32, flags: i32): i32 {
  if (!arrayInMemory(inOffs, n, 4) || !arrayInMemory(inLens, n, 4) || !arrayInMemory(outOffs, n, 4) || !arrayInMemory(outLens, n, 4)
    || l3Off < 0 || l3Off > L3_OFF_MAX || !inMemory(outBase, outBytes)) return -OR_BAD_DESCRIPTOR;
  let need: u64 = <u64>n * <u64>VNET_LEN;
  for (let i = 0; i < n; i++) {
    const o = <i32>load<u32>(<usize>inOffs + (<usize>i << 2));
    const l = <i32>load<u32>(<usize>inLens + (<usize>i << 2));
    if (!inMemory(o, l)) return -OR_BAD_DESCRIPTOR;
    need += <u64>l;
  }
  if (need > <u64>outBytes) return -OR_OUTPUT_TOO_SMALL;
  offloadCount(OC_GRO_IN, <u64>n);
  const trust = (flags & GRO_TRUST_CHECKSUMS) != 0;
  const noMerge = (flags & GRO_NO_MERGE) != 0;
  let out = <usize>outBase;
  let outputs = 0;
  for (let c = 0; c < n; c += GRO_CHUNK) {
    const m = min(GRO_CHUNK, n - c);
    const io = <usize>inOffs + (<usize>c << 2);
    const il = <usize>inLens + (<usize>c << 2);
    const oo = <usize>outOffs + (<usize>outputs << 2);
    const ol = <usize>outLens + (<usize>outputs << 2);
    // Optimistic: group as if every checksum were right and verify only the merged segments,
    // while copying them. Packets with wrong checksums that end up alone pass through either
    // way, so the grouping is the verified one unless a merged segment fails; then group again,
    // verifying every candidate first (rare: corruption the outer checksums did not catch).
    group(io, il, m, l3Off, true, noMerge);
    let w = emit(l3Off, out, oo, ol, !trust);
    if (w < 0) {
      group(io, il, m, l3Off, trust, noMerge);
      w = emit(l3Off, out, oo, ol, false);
    }
    countGroups();
    out += <usize>w;
    outputs += groupCount;
  }
  return outputs;
}
