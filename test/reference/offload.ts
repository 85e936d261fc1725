// A slow, obvious model of the TUN/TAP offloads (assembly/offload/): the virtio_net_hdr, TSO and
// USO split and GRO coalescing, written from the rules in docs/OFFLOADS.md (Linux tcp_gso_segment /
// __udp_gso_segment / tcp_gro_receive / virtio_net_hdr_to_skb, wireguard-go tun/offload_linux.go behaviour) and
// independent of the Wasm code: packets are parsed into reprs with test/reference/packet.ts and
// emitted again with `build`, which computes lengths and checksums itself.

import { incrementalUpdate16, internetChecksum, onesAdd, onesComplementSum, pseudoHeaderSum4, pseudoHeaderSum6 } from "./checksum.ts";
import {
  build, concatBytes, parseIp4, parseIp6, parseIpv4, parseIpv6, parseTcp, parseUdp,
  type Ipv4Repr, type Ipv6Repr, type Layer, type TcpRepr, type UdpRepr,
} from "./packet.ts";

export const VNET_LEN = 10;
export const VnetFlag = { NeedsCsum: 1, DataValid: 2 } as const;
export const GsoType = { None: 0, TcpV4: 1, Udp: 3, TcpV6: 4, UdpL4: 5, Ecn: 0x80 } as const;

/** The refusal reasons, numbered as assembly/offload/reasons.ts (returned negated by the exports). */
export const OffloadReason = {
  BadDescriptor: 1,
  VnetTruncated: 2,
  VnetBadFlags: 3,
  GsoUnsupported: 4,
  VnetBadHdrLen: 5,
  VnetBadCsum: 6,
  VnetBadGsoSize: 7,
  GsoProtoMismatch: 8,
  IpMalformed: 9,
  IpFragment: 10,
  Ipv6ExtUnsupported: 11,
  TcpMalformed: 12,
  TooManySegments: 13,
  OutputTooSmall: 14,
  UdpMalformed: 15,
} as const;
export const OFFLOAD_REASON_COUNT = 16;
/** Event counters after the reasons (assembly/offload/reasons.ts). */
export const OffloadEvent = { SplitGso: 0, SplitPlain: 1, SplitSegments: 2, CsumCompleted: 3, GroIn: 4, GroSuper: 5, GroMerged: 6, GroPassed: 7, GroBadCsum: 8, SplitUso: 9 } as const;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

const le16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const put16be = (b: Uint8Array, o: number, v: number) => { b[o] = (v >> 8) & 0xff; b[o + 1] = v & 0xff; };

/** struct virtio_net_hdr, little-endian fields. */
export function parseVnet(b: Uint8Array, off = 0): VnetHeader {
  return { flags: b[off]!, gsoType: b[off + 1]!, hdrLen: le16(b, off + 2), gsoSize: le16(b, off + 4), csumStart: le16(b, off + 6), csumOffset: le16(b, off + 8) };
}
export function emitVnet(h: VnetHeader): Uint8Array {
  const b = new Uint8Array(VNET_LEN);
  const put = (o: number, v: number) => { b[o] = v & 0xff; b[o + 1] = (v >> 8) & 0xff; };
  b[0] = h.flags;
  b[1] = h.gsoType;
  put(2, h.hdrLen);
  put(4, h.gsoSize);
  put(6, h.csumStart);
  put(8, h.csumOffset);
  return b;
}

/** What a valid vnet-headed packet is, after `checkVnet`. */
export interface VnetFacts {
  hdr: VnetHeader;
  frame: Uint8Array;
  gso: number;
  v6: boolean;
  /** UDP_L4 (USO) rather than TCP. */
  udp: boolean;
  /** TCP/UDP offset from the IP header, TCP header length (8 for UDP), IP length (GSO types only). */
  l4Off: number;
  l4HdrLen: number;
  ipLen: number;
}

/** The checks of docs/OFFLOADS.md, in order. Returns the facts or a reason number. */
export function checkVnet(input: Uint8Array, l3Off: number): VnetFacts | number {
  const R = OffloadReason;
  if (input.length < VNET_LEN + l3Off) return R.VnetTruncated;
  const hdr = parseVnet(input);
  const frame = input.subarray(VNET_LEN);
  if (![0, VnetFlag.NeedsCsum, VnetFlag.DataValid].includes(hdr.flags)) return R.VnetBadFlags;
  const gso = hdr.gsoType & ~GsoType.Ecn;
  const ecn = (hdr.gsoType & GsoType.Ecn) !== 0;
  if (gso === GsoType.None || gso === GsoType.UdpL4 ? ecn : gso !== GsoType.TcpV4 && gso !== GsoType.TcpV6) return R.GsoUnsupported;
  if (hdr.hdrLen > frame.length) return R.VnetBadHdrLen;
  const needs = hdr.flags === VnetFlag.NeedsCsum;
  if (needs && hdr.csumStart + hdr.csumOffset + 2 > frame.length) return R.VnetBadCsum;
  const udp = gso === GsoType.UdpL4;
  const facts: VnetFacts = { hdr, frame, gso, v6: gso === GsoType.TcpV6, udp, l4Off: 0, l4HdrLen: 0, ipLen: 0 };
  if (gso === GsoType.None) return facts;

  if (hdr.gsoSize === 0) return R.VnetBadGsoSize;
  const ip = frame.subarray(l3Off);
  if (ip.length < 1) return R.IpMalformed;
  if (udp) facts.v6 = ip[0]! >> 4 === 6; // USO names no IP version: the packet's
  const proto = udp ? 17 : 6;
  if (ip[0]! >> 4 !== (facts.v6 ? 6 : 4)) return R.GsoProtoMismatch;
  if (l3Off >= 2 && be16(frame, l3Off - 2) !== (facts.v6 ? 0x86dd : 0x0800)) return R.GsoProtoMismatch;
  if (!facts.v6) {
    if (ip.length < 20) return R.IpMalformed;
    const ihl = (ip[0]! & 15) * 4;
    const tot = be16(ip, 2);
    if (ihl < 20 || tot < ihl || tot > ip.length) return R.IpMalformed;
    if ((be16(ip, 6) & 0x3fff) !== 0) return R.IpFragment;
    if (ip[9] !== proto) return R.GsoProtoMismatch;
    facts.l4Off = ihl;
    facts.ipLen = tot;
  } else {
    if (ip.length < 40) return R.IpMalformed;
    facts.ipLen = 40 + be16(ip, 4);
    if (facts.ipLen > ip.length) return R.IpMalformed;
    // TCP/UDP directly, or after Hop-by-Hop (first) and Destination Options; at most 8 of them.
    let nh = ip[6]!;
    let off = 40;
    let n = 0;
    for (;;) {
      if (nh === proto) break;
      if (n === 8) return R.IpMalformed;
      if (nh === 0 && n !== 0) return R.IpMalformed;
      if (nh === 44) return R.IpFragment;
      if (nh === 43 || nh === 51) return R.Ipv6ExtUnsupported;
      if (nh !== 0 && nh !== 60) return R.GsoProtoMismatch;
      if (off + 8 > facts.ipLen) return R.IpMalformed;
      const len = (ip[off + 1]! + 1) * 8;
      if (off + len > facts.ipLen) return R.IpMalformed;
      nh = ip[off]!;
      off += len;
      n++;
    }
    facts.l4Off = off;
  }
  if (udp) {
    // the UDP length must be the IP payload's
    if (facts.ipLen - facts.l4Off < 8 || be16(ip, facts.l4Off + 4) !== facts.ipLen - facts.l4Off) return R.UdpMalformed;
    if (needs && (hdr.csumStart !== l3Off + facts.l4Off || hdr.csumOffset !== 6)) return R.VnetBadCsum;
    facts.l4HdrLen = 8;
    return facts;
  }
  if (facts.ipLen - facts.l4Off < 20) return R.TcpMalformed;
  facts.l4HdrLen = (ip[facts.l4Off + 12]! >> 4) * 4;
  if (facts.l4HdrLen < 20 || facts.l4HdrLen > facts.ipLen - facts.l4Off) return R.TcpMalformed;
  if (needs && (hdr.csumStart !== l3Off + facts.l4Off || hdr.csumOffset !== 16)) return R.VnetBadCsum;
  return facts;
}

/**
 * Bits the reprs do not model, which segmentation and coalescing copy from the original headers
 * as they are (and the checksums cover): the IPv4 reserved flag and the TCP reserved bits (with
 * AccECN's AE) beside the data offset. `out` is a frame: link header, IP at l3Off, TCP at
 * l3Off + l4Off; the checksums are adjusted (RFC 1624) for the bits put back.
 */
function keepUnmodelledBits(out: Uint8Array, l3Off: number, l4Off: number, ipHeader: Uint8Array, tcpHeader: Uint8Array | undefined): Uint8Array {
  const ip = l3Off;
  const tcp = l3Off + l4Off;
  if (ipHeader[0]! >> 4 === 4 && (ipHeader[6]! & 0x80) !== (out[ip + 6]! & 0x80)) {
    const old = be16(out, ip + 6);
    const now = old ^ 0x8000;
    put16be(out, ip + 6, now);
    put16be(out, ip + 10, incrementalUpdate16(be16(out, ip + 10), old, now));
  }
  if (tcpHeader && (tcpHeader[12]! & 0x0f) !== (out[tcp + 12]! & 0x0f)) {
    const old = be16(out, tcp + 12);
    const now = (old & 0xf0ff) | ((tcpHeader[12]! & 0x0f) << 8);
    put16be(out, tcp + 12, now);
    put16be(out, tcp + 16, incrementalUpdate16(be16(out, tcp + 16), old, now));
  }
  return out;
}

/**
 * TSO / USO split of one vnet-headed packet into frames (link header included), or a reason number.
 * `maxSegs` / `capacity` as the Wasm call's output entries and their size.
 */
export function referenceSplit(input: Uint8Array, l3Off: number, maxSegs = Infinity, capacity = Infinity): Uint8Array[] | number {
  const f = checkVnet(input, l3Off);
  if (typeof f === "number") return f;
  const frame = f.frame;
  if (f.gso === GsoType.None) {
    if (maxSegs < 1) return OffloadReason.TooManySegments;
    if (frame.length > capacity) return OffloadReason.OutputTooSmall;
    const out = frame.slice();
    if (f.hdr.flags === VnetFlag.NeedsCsum) {
      // the field holds the pseudo-header sum; the checksum covers [csum_start, end) with it in
      const c = internetChecksum(out, f.hdr.csumStart);
      put16be(out, f.hdr.csumStart + f.hdr.csumOffset, c === 0 ? 0xffff : c);
    }
    return [out];
  }
  const link = frame.slice(0, l3Off);
  const ipBytes = frame.subarray(l3Off, l3Off + f.ipLen);
  let ipRepr: Ipv4Repr | Ipv6Repr;
  let tcpBytes: Uint8Array;
  if (!f.v6) {
    const p = parseIpv4(ipBytes);
    ipRepr = p.repr;
    tcpBytes = p.payload;
  } else {
    const p = parseIpv6(ipBytes);
    ipRepr = p.repr;
    tcpBytes = ipBytes.subarray(p.upperOffset);
  }
  const segIp = (k: number): Ipv4Repr | Ipv6Repr =>
    ipRepr.kind === "ipv4"
      ? { ...ipRepr, id: (ipRepr.id + k) & 0xffff, totalLength: undefined, checksum: undefined }
      : { ...ipRepr, payloadLength: undefined };
  if (f.udp) {
    // USO: every segment its own datagram; build() computes length and checksum (0 sent as 0xffff)
    const u = parseUdp(tcpBytes);
    const mss = f.hdr.gsoSize;
    const n = u.payload.length === 0 ? 1 : Math.ceil(u.payload.length / mss);
    if (n > maxSegs) return OffloadReason.TooManySegments;
    if (l3Off + f.l4Off + 8 + Math.min(mss, u.payload.length) > capacity) return OffloadReason.OutputTooSmall;
    const out: Uint8Array[] = [];
    for (let k = 0; k < n; k++) {
      const udp: UdpRepr = { kind: "udp", srcPort: u.repr.srcPort, dstPort: u.repr.dstPort };
      const layers: Layer[] = [segIp(k), udp, { kind: "payload", bytes: u.payload.slice(k * mss, Math.min((k + 1) * mss, u.payload.length)) }];
      out.push(keepUnmodelledBits(concatBytes(link, build(layers)), l3Off, f.l4Off, ipBytes, undefined));
    }
    return out;
  }
  const t = parseTcp(tcpBytes);
  const payload = t.payload;
  const mss = f.hdr.gsoSize;
  const n = payload.length === 0 ? 1 : Math.ceil(payload.length / mss);
  if (n > maxSegs) return OffloadReason.TooManySegments;
  if (l3Off + f.l4Off + f.l4HdrLen + Math.min(mss, payload.length) > capacity) return OffloadReason.OutputTooSmall;
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const last = k === n - 1;
    let flags = t.repr.flags;
    if (!last) flags &= ~(0x01 | 0x08); // FIN, PSH only on the last
    if (k > 0) flags &= ~0x80; // CWR only on the first
    const tcp: TcpRepr = { ...t.repr, seq: (t.repr.seq + k * mss) >>> 0, flags, checksum: undefined };
    const layers: Layer[] = [segIp(k), tcp, { kind: "payload", bytes: payload.slice(k * mss, Math.min((k + 1) * mss, payload.length)) }];
    out.push(keepUnmodelledBits(concatBytes(link, build(layers)), l3Off, f.l4Off, ipBytes, tcpBytes));
  }
  return out;
}

// ---- GRO --------------------------------------------------------------------------------------

export interface CoalesceOptions {
  /** Skip the IPv4 header and TCP checksum verification of candidates (GRO flag 1). */
  trustChecksums?: boolean;
  /** Merge nothing (GRO flag 2). */
  noMerge?: boolean;
}

/** A TCP segment that may be coalesced (docs/OFFLOADS.md "Candidates"). */
interface Candidate {
  link: Uint8Array;
  ip: Ipv4Repr | Ipv6Repr;
  ipHeader: Uint8Array;
  tcp: TcpRepr;
  tcpHeader: Uint8Array;
  payload: Uint8Array;
  key: string;
}

/** The flow key of any packet with a visible TCP header (candidate or not), else undefined. */
function flowKeyOf(p: Uint8Array, l3Off: number): string | undefined {
  const ip = p.subarray(l3Off);
  if (ip.length < 1) return undefined;
  const v = ip[0]! >> 4;
  if (v === 4) {
    if (ip.length < 20) return undefined;
    const ihl = (ip[0]! & 15) * 4;
    if (ihl < 20 || ip[9] !== 6 || (be16(ip, 6) & 0x1fff) !== 0 || ip.length < ihl + 4) return undefined;
    return `4 ${Buffer.from(ip.subarray(12, 20)).toString("hex")} ${Buffer.from(ip.subarray(ihl, ihl + 4)).toString("hex")}`;
  }
  if (v === 6) {
    if (ip.length < 44 || ip[6] !== 6) return undefined;
    return `6 ${Buffer.from(ip.subarray(8, 40)).toString("hex")} ${Buffer.from(ip.subarray(40, 44)).toString("hex")}`;
  }
  return undefined;
}

/** The candidate rules: TCP over IPv4 without options or fragmentation, or IPv6 with TCP next. */
function candidateOf(p: Uint8Array, l3Off: number, opts: CoalesceOptions): Candidate | "bad-csum" | undefined {
  if (p.length < l3Off + 20) return undefined;
  const ip = p.subarray(l3Off);
  const v = ip[0]! >> 4;
  if (l3Off >= 2 && be16(p, l3Off - 2) !== (v === 4 ? 0x0800 : v === 6 ? 0x86dd : -1)) return undefined;
  let ipLen: number;
  let hl: number;
  if (v === 4) {
    if ((ip[0]! & 15) !== 5 || ip[9] !== 6 || (be16(ip, 6) & 0xbfff) !== 0) return undefined; // flags other than DF: Linux flushes
    ipLen = be16(ip, 2);
    hl = 20;
    if (ipLen < 40 || ipLen > ip.length) return undefined;
  } else if (v === 6) {
    if (ip.length < 40 || ip[6] !== 6) return undefined;
    ipLen = 40 + be16(ip, 4);
    hl = 40;
    if (ipLen < 60 || ipLen > ip.length) return undefined;
  } else return undefined;
  const seg = ip.subarray(hl, ipLen);
  const thl = (seg[12]! >> 4) * 4;
  if (thl < 20 || thl >= seg.length) return undefined; // no payload: not a candidate
  const flags = seg[13]!;
  if ((flags & 0x10) === 0 || (flags & ~(0x10 | 0x08 | 0x40 | 0x80)) !== 0) return undefined;
  if (!opts.trustChecksums) {
    if (v === 4 && internetChecksum(ip, 0, 20) !== 0) return "bad-csum";
    const ps = v === 4 ? pseudoHeaderSum4(ip.subarray(12, 16), ip.subarray(16, 20), 6, seg.length) : pseudoHeaderSum6(ip.subarray(8, 24), ip.subarray(24, 40), 6, seg.length);
    if (onesComplementSum(seg, 0, seg.length, ps) !== 0xffff) return "bad-csum";
  }
  const ipRepr = v === 4 ? parseIpv4(ip.subarray(0, ipLen)).repr : parseIpv6(ip.subarray(0, ipLen)).repr;
  const t = parseTcp(seg);
  return {
    link: p.slice(0, l3Off),
    ip: ipRepr,
    ipHeader: ip.slice(0, hl),
    tcp: t.repr,
    tcpHeader: seg.slice(0, thl),
    payload: t.payload,
    key: flowKeyOf(p, l3Off)!,
  };
}

interface Group {
  members: Candidate[];
  /** Index of the input, for single (pass-through) outputs. */
  raw?: Uint8Array;
  open: boolean;
  idMode?: "inc" | "fixed";
}

const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** May `c` follow the group's members? (docs/OFFLOADS.md "Merging"). */
function canAppend(g: Group, c: Candidate): { ok: boolean; idMode?: "inc" | "fixed" } {
  const h = g.members[0]!;
  const t = g.members[g.members.length - 1]!;
  if (!eq(h.link, c.link)) return { ok: false };
  let idMode = g.idMode;
  if (h.ip.kind === "ipv4" && c.ip.kind === "ipv4" && t.ip.kind === "ipv4") {
    if (h.ip.tos !== c.ip.tos || h.ip.ttl !== c.ip.ttl || h.ip.df !== c.ip.df) return { ok: false };
    if (g.members.length === 1) {
      if (c.ip.id === ((h.ip.id + 1) & 0xffff)) idMode = "inc";
      else if (c.ip.id === h.ip.id && h.ip.df) idMode = "fixed";
      else return { ok: false };
    } else if (idMode === "inc" ? c.ip.id !== ((t.ip.id + 1) & 0xffff) : c.ip.id !== h.ip.id) return { ok: false };
  } else if (h.ip.kind === "ipv6" && c.ip.kind === "ipv6") {
    // version, traffic class, flow label (the first word) and hop limit
    if (!eq(h.ipHeader.subarray(0, 4), c.ipHeader.subarray(0, 4)) || h.ip.hopLimit !== c.ip.hopLimit) return { ok: false };
  } else return { ok: false };
  if (!eq(h.tcpHeader.subarray(20), c.tcpHeader.subarray(20))) return { ok: false }; // same length and options
  if (h.tcp.ack !== c.tcp.ack || h.tcp.window !== c.tcp.window) return { ok: false };
  if (c.tcpHeader[12] !== h.tcpHeader[12]) return { ok: false }; // data offset and reserved bits
  if ((c.tcp.flags & ~0x08) !== (h.tcp.flags & ~(0x08 | 0x80))) return { ok: false }; // ECE equal, no CWR after the head
  const gsoSize = h.payload.length;
  if (c.payload.length > gsoSize) return { ok: false };
  const nextSeq = (t.tcp.seq + t.payload.length) >>> 0;
  if (c.tcp.seq !== nextSeq) return { ok: false };
  const ipLen = h.ipHeader.length + h.tcpHeader.length + g.members.reduce((s, m) => s + m.payload.length, 0);
  if (ipLen + c.payload.length > 65535) return { ok: false };
  return { ok: true, idMode };
}

/**
 * GRO over a batch of frames (IP header `l3Off` bytes in): returns the outputs in order, each a
 * vnet header followed by a frame. Same-flow in-order segments merge into GSO super-packets
 * (NEEDS_CSUM, the TCP checksum field holding the pseudo-header sum); the rest pass unchanged
 * behind a gso_type NONE header. Output order: by each output's first input.
 */
export function referenceCoalesce(packets: Uint8Array[], l3Off: number, opts: CoalesceOptions = {}): Uint8Array[] {
  const groups: Group[] = [];
  const openByFlow = new Map<string, Group>();
  for (const p of packets) {
    if (opts.noMerge) {
      groups.push({ members: [], raw: p, open: false });
      continue;
    }
    const c = candidateOf(p, l3Off, opts);
    if (c === undefined || c === "bad-csum") {
      // not mergeable: it closes its flow's open group so that nothing later overtakes it
      const key = flowKeyOf(p, l3Off);
      if (key !== undefined) {
        const g = openByFlow.get(key);
        if (g) g.open = false;
      }
      groups.push({ members: [], raw: p, open: false });
      continue;
    }
    const g = openByFlow.get(c.key);
    if (g && g.open) {
      const r = canAppend(g, c);
      if (r.ok) {
        g.members.push(c);
        g.idMode = r.idMode;
        if ((c.tcp.flags & 0x08) !== 0 || c.payload.length < g.members[0]!.payload.length) g.open = false;
        continue;
      }
      g.open = false;
    }
    const ng: Group = { members: [c], raw: p, open: (c.tcp.flags & 0x08) === 0 };
    groups.push(ng);
    openByFlow.set(c.key, ng);
  }
  return groups.map((g) => {
    if (g.members.length <= 1) return concatBytes(emitVnet({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 }), g.raw!);
    const h = g.members[0]!;
    const last = g.members[g.members.length - 1]!;
    const payload = concatBytes(...g.members.map((m) => m.payload));
    const tcpLen = h.tcpHeader.length + payload.length;
    const pseudo =
      h.ip.kind === "ipv4"
        ? pseudoHeaderSum4(parseIp4(h.ip.src), parseIp4(h.ip.dst), 6, tcpLen)
        : pseudoHeaderSum6(parseIp6(h.ip.src), parseIp6(h.ip.dst), 6, tcpLen);
    const tcp: TcpRepr = { ...h.tcp, flags: h.tcp.flags | (last.tcp.flags & 0x08), checksum: onesAdd(pseudo) };
    const ip: Ipv4Repr | Ipv6Repr = h.ip.kind === "ipv4" ? { ...h.ip, totalLength: undefined, checksum: undefined } : { ...h.ip, payloadLength: undefined };
    const frame = keepUnmodelledBits(concatBytes(h.link, build([ip, tcp, { kind: "payload", bytes: payload }])), l3Off, h.ipHeader.length, h.ipHeader, h.tcpHeader);
    const csumStart = l3Off + h.ipHeader.length;
    const vnet = emitVnet({
      flags: VnetFlag.NeedsCsum,
      gsoType: (h.ip.kind === "ipv4" ? GsoType.TcpV4 : GsoType.TcpV6) | (h.tcp.flags & 0x80 ? GsoType.Ecn : 0),
      hdrLen: csumStart + h.tcpHeader.length,
      gsoSize: h.payload.length,
      csumStart,
      csumOffset: 16,
    });
    return concatBytes(vnet, frame);
  });
}

/** Frames and vnet header of a reference output. */
export function splitVnet(b: Uint8Array): { hdr: VnetHeader; frame: Uint8Array } {
  return { hdr: parseVnet(b), frame: b.subarray(VNET_LEN) };
}

// ---- random inputs for the differential, round-trip and fuzz tests -----------------------------

export interface SuperSpec {
  v6: boolean;
  /** A UDP_L4 (USO) super-packet: a UDP datagram (TCP fields ignored). */
  udp?: boolean;
  /** 0 (TUN: IP first) or 14 (TAP: Ethernet first). */
  l3Off: number;
  payloadLen: number;
  gsoSize: number;
  /** TCP flags (ACK 0x10 at least, usually). */
  tcpFlags: number;
  tcpOptions: Uint8Array;
  /** IPv4 options (a multiple of 4) or IPv6 extension headers (HBH / DestOpts bytes, in order). */
  ipOptions: Uint8Array;
  ipv6Ext: { type: 0 | 60; bytes: Uint8Array }[];
  csum: "needs" | "valid" | "none";
  ecn: boolean;
  df: boolean;
  id: number;
  seq: number;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
}

const TCP_TIMESTAMPS = (r: () => number) => {
  const b = new Uint8Array(12);
  b[0] = 1;
  b[1] = 1;
  b[2] = 8;
  b[3] = 10;
  for (let i = 4; i < 12; i++) b[i] = Math.floor(r() * 256);
  return b;
};

/** Random TCP options as a sender puts them on data segments: none, timestamps, SACK, padding. */
export function randomTcpOptions(r: () => number): Uint8Array {
  const k = Math.floor(r() * 4);
  if (k === 0) return new Uint8Array(0);
  if (k === 1) return TCP_TIMESTAMPS(r);
  if (k === 2) {
    // timestamps + SACK with 1..3 blocks (NOP NOP kind 5)
    const blocks = 1 + Math.floor(r() * 3);
    const s = new Uint8Array(4 + 8 * blocks);
    s[0] = 1;
    s[1] = 1;
    s[2] = 5;
    s[3] = 2 + 8 * blocks;
    for (let i = 4; i < s.length; i++) s[i] = Math.floor(r() * 256);
    return concatBytes(TCP_TIMESTAMPS(r), s);
  }
  return new Uint8Array(4 * (1 + Math.floor(r() * 10))).fill(1); // NOPs, up to 40 bytes
}

export function randomSuperSpec(r: () => number, over: Partial<SuperSpec> = {}): SuperSpec {
  const v6 = over.v6 ?? r() < 0.5;
  const tcpOptions = over.tcpOptions ?? randomTcpOptions(r);
  const ipOptions = over.ipOptions ?? (!v6 && r() < 0.15 ? Uint8Array.from([0x94, 0x04, 0, 0]) : new Uint8Array(0));
  const ipv6Ext = over.ipv6Ext ?? (v6 && r() < 0.15 ? [{ type: 60 as const, bytes: Uint8Array.from([0, 0, 1, 4, 0, 0, 0, 0]) }] : []);
  const gsoSize = over.gsoSize ?? 500 + Math.floor(r() * 961);
  const hdrs = (v6 ? 40 + ipv6Ext.reduce((s, e) => s + e.bytes.length, 0) : 20 + ipOptions.length) + (over.udp ? 8 : 20 + tcpOptions.length);
  const maxPay = 65535 - hdrs; // IP length <= 65535 (Linux: gso_max_size 64 KiB)
  const payloadLen = over.payloadLen ?? Math.min(maxPay, r() < 0.1 ? Math.floor(r() * 3000) : Math.floor(r() * (maxPay + 1)));
  const fl = [0x10, 0x18, 0x10, 0x18, 0x19, 0x11, 0x90, 0x50, 0xd8][Math.floor(r() * 9)]!;
  return {
    v6,
    udp: over.udp,
    l3Off: over.l3Off ?? (r() < 0.5 ? 0 : 14),
    payloadLen,
    gsoSize,
    tcpFlags: over.tcpFlags ?? fl,
    tcpOptions,
    ipOptions,
    ipv6Ext,
    csum: over.csum ?? (["needs", "needs", "valid", "none"] as const)[Math.floor(r() * 4)]!,
    ecn: over.ecn ?? (!over.udp && (fl & 0x80) !== 0),
    df: over.df ?? r() < 0.8,
    id: over.id ?? Math.floor(r() * 65536),
    seq: over.seq ?? Math.floor(r() * 2 ** 32),
    src: over.src,
    dst: over.dst,
    srcPort: over.srcPort,
    dstPort: over.dstPort,
  };
}

/** The IP packet (no link header) of a spec with `payload`, TCP (or, `udp`, UDP) checksum complete. */
export function buildTcpPacket(s: SuperSpec, payload: Uint8Array, window = 501, ack = 0x01020304): Uint8Array {
  const proto = s.udp ? 17 : 6;
  const l4: TcpRepr | UdpRepr = s.udp ? { kind: "udp", srcPort: s.srcPort ?? 40000, dstPort: s.dstPort ?? 4433 } : { kind: "tcp", srcPort: s.srcPort ?? 40000, dstPort: s.dstPort ?? 5201, seq: s.seq, ack, flags: s.tcpFlags, window, urgent: 0, options: s.tcpOptions };
  const ip: Ipv4Repr | Ipv6Repr = s.v6
    ? {
        kind: "ipv6", trafficClass: 0, flowLabel: 0x12345, nextHeader: s.ipv6Ext.length ? s.ipv6Ext[0]!.type : proto, hopLimit: 64,
        src: s.src ?? "fd00:10::2", dst: s.dst ?? "fd00:20::3",
        extHeaders: s.ipv6Ext.map((e, i) => {
          const bytes = e.bytes.slice();
          bytes[0] = i + 1 < s.ipv6Ext.length ? s.ipv6Ext[i + 1]!.type : proto;
          return { type: e.type, nextHeader: bytes[0]!, bytes };
        }),
      }
    : { kind: "ipv4", tos: 0, id: s.id, df: s.df, mf: false, fragOffset: 0, ttl: 64, protocol: proto, src: s.src ?? "10.244.1.2", dst: s.dst ?? "10.244.2.3", options: s.ipOptions.length ? s.ipOptions : undefined };
  return build([ip, l4, { kind: "payload", bytes: payload }]);
}

export const TAP_LINK = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00]);

/** A vnet-headed super-packet for the spec (a TUN/TAP read with TSO, or USO for `udp`, on), and its payload. */
export function makeSuperPacket(r: () => number, s: SuperSpec): { input: Uint8Array; payload: Uint8Array; hdrs: number } {
  const payload = new Uint8Array(s.payloadLen);
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(r() * 256);
  const ipPkt = buildTcpPacket(s, payload);
  const ipHl = s.v6 ? 40 + s.ipv6Ext.reduce((a, e) => a + e.bytes.length, 0) : 20 + s.ipOptions.length;
  const tcpHl = s.udp ? 8 : 20 + s.tcpOptions.length;
  const link = s.l3Off === 14 ? TAP_LINK.slice() : new Uint8Array(s.l3Off);
  if (s.l3Off === 14 && s.v6) { link[12] = 0x86; link[13] = 0xdd; }
  const frame = concatBytes(link, ipPkt);
  const csumStart = s.l3Off + ipHl;
  if (s.csum === "needs") {
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum (what the kernel leaves there)
    const tcpLen = ipPkt.length - ipHl;
    const ip = ipPkt;
    const proto = s.udp ? 17 : 6;
    const ps = s.v6 ? pseudoHeaderSum6(ip.subarray(8, 24), ip.subarray(24, 40), proto, tcpLen) : pseudoHeaderSum4(ip.subarray(12, 16), ip.subarray(16, 20), proto, tcpLen);
    put16be(frame, csumStart + (s.udp ? 6 : 16), onesAdd(ps));
  }
  const vnet = emitVnet({
    flags: s.csum === "needs" ? VnetFlag.NeedsCsum : s.csum === "valid" ? VnetFlag.DataValid : 0,
    gsoType: s.udp ? GsoType.UdpL4 | (s.ecn ? GsoType.Ecn : 0) : (s.v6 ? GsoType.TcpV6 : GsoType.TcpV4) | (s.ecn ? GsoType.Ecn : 0),
    hdrLen: csumStart + tcpHl,
    gsoSize: s.gsoSize,
    csumStart: s.csum === "needs" ? csumStart : 0,
    csumOffset: s.csum === "needs" ? (s.udp ? 6 : 16) : 0,
  });
  return { input: concatBytes(vnet, frame), payload, hdrs: csumStart + tcpHl };
}

// ---- the Wasm side, for the tests and the bench (the model above does not use it) -------------

export interface OffloadExports {
  memory: WebAssembly.Memory;
  offloadAlloc(bytes: number): number;
  offloadCounters(): number;
  offloadCounterCount(): number;
  offloadReasonCount(): number;
  vnetHeaderLen(): number;
  vnetCheck(inOff: number, inLen: number, l3Off: number): number;
  tsoSplit(inOff: number, inLen: number, l3Off: number, outOffsetsPtr: number, outLengthsPtr: number, maxSegs: number, outCapacity: number): number;
  tsoSplitBatch(inOffsetsPtr: number, inLengthsPtr: number, n: number, l3Off: number, outOffsetsPtr: number, outLengthsPtr: number, maxOut: number, outCapacity: number, resultsPtr: number): number;
  groCoalesce(inOffsetsPtr: number, inLengthsPtr: number, n: number, l3Off: number, outBase: number, outBytes: number, outOffsetsPtr: number, outLengthsPtr: number, flags: number): number;
}

/**
 * A fresh instance of build/weft.wasm (no `init`: the offload calls need none) with one arena
 * from `offloadAlloc`, carved into an input area, descriptor arrays, output slots and a
 * coalescing output area.
 */
export class OffloadHarness {
  readonly ex: OffloadExports;
  readonly arena: number;
  /** Inputs: super-packets (split) or segments (coalesce), packed. */
  readonly inArea: number;
  static readonly IN_BYTES = 4 << 20;
  readonly inOffs: number;
  readonly inLens: number;
  readonly outOffs: number;
  readonly outLens: number;
  readonly results: number;
  static readonly MAX_DESC = 4096;
  /** Output slots for split: SLOT bytes each, the segment HEADROOM bytes in. */
  readonly slots: number;
  static readonly SLOT = 4096;
  static readonly SLOTS = 256;
  static readonly HEADROOM = 192;
  /** Output area for coalesce. */
  readonly groOut: number;
  static readonly GRO_BYTES = 4 << 20;

  constructor(wasm: Uint8Array<ArrayBuffer>) {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { abort() { throw new Error("abort"); } } });
    this.ex = inst.exports as unknown as OffloadExports;
    const H = OffloadHarness;
    const total = H.IN_BYTES + 5 * 4 * H.MAX_DESC + H.SLOT * H.SLOTS + H.GRO_BYTES + 4096;
    this.arena = this.ex.offloadAlloc(total);
    if (this.arena <= 0) throw new Error("offloadAlloc failed");
    this.inArea = this.arena;
    this.inOffs = this.inArea + H.IN_BYTES;
    this.inLens = this.inOffs + 4 * H.MAX_DESC;
    this.outOffs = this.inLens + 4 * H.MAX_DESC;
    this.outLens = this.outOffs + 4 * H.MAX_DESC;
    this.results = this.outLens + 4 * H.MAX_DESC;
    this.slots = (this.results + 4 * H.MAX_DESC + 4095) & ~4095;
    this.groOut = this.slots + H.SLOT * H.SLOTS;
  }
  get u8(): Uint8Array { return new Uint8Array(this.ex.memory.buffer); }
  get u32(): Uint32Array { return new Uint32Array(this.ex.memory.buffer); }
  get i32(): Int32Array { return new Int32Array(this.ex.memory.buffer); }
  counters(): bigint[] {
    const v = new BigUint64Array(this.ex.memory.buffer, this.ex.offloadCounters(), this.ex.offloadCounterCount());
    return [...v];
  }
  /** Slot k's segment offset (slot start + HEADROOM), written into the output offsets array. */
  segOffset(k: number): number { return this.slots + k * OffloadHarness.SLOT + OffloadHarness.HEADROOM; }
  /** Puts packets into the input area (packed, 8-aligned) and their descriptors into the input arrays. */
  placeInputs(pkts: Uint8Array[], at = this.inArea): void {
    const u8 = this.u8;
    const u32 = this.u32;
    let o = at;
    pkts.forEach((p, i) => {
      u8.set(p, o);
      u32[(this.inOffs >> 2) + i] = o;
      u32[(this.inLens >> 2) + i] = p.length;
      o = (o + p.length + 7) & ~7;
    });
  }
  /** tsoSplit of one input into slots 0.. (maxSegs, capacity as given): segments, or a reason. */
  split(input: Uint8Array, l3Off: number, maxSegs = OffloadHarness.SLOTS, capacity = OffloadHarness.SLOT - OffloadHarness.HEADROOM): Uint8Array[] | number {
    this.u8.set(input, this.inArea);
    const u32 = this.u32;
    for (let k = 0; k < Math.min(maxSegs, OffloadHarness.SLOTS); k++) u32[(this.outOffs >> 2) + k] = this.segOffset(k);
    const r = this.ex.tsoSplit(this.inArea, input.length, l3Off, this.outOffs, this.outLens, maxSegs, capacity);
    if (r < 0) return -r;
    const u8 = this.u8;
    const out: Uint8Array[] = [];
    for (let k = 0; k < r; k++) out.push(u8.slice(u32[(this.outOffs >> 2) + k]!, u32[(this.outOffs >> 2) + k]! + u32[(this.outLens >> 2) + k]!));
    return out;
  }
  /** groCoalesce of frames: the outputs (vnet header + frame each), or a reason. */
  coalesce(pkts: Uint8Array[], l3Off: number, flags = 0, outBytes = OffloadHarness.GRO_BYTES): Uint8Array[] | number {
    this.placeInputs(pkts);
    const r = this.ex.groCoalesce(this.inOffs, this.inLens, pkts.length, l3Off, this.groOut, outBytes, this.outOffs, this.outLens, flags);
    if (r < 0) return -r;
    const u8 = this.u8;
    const u32 = this.u32;
    const out: Uint8Array[] = [];
    for (let k = 0; k < r; k++) out.push(u8.slice(u32[(this.outOffs >> 2) + k]!, u32[(this.outOffs >> 2) + k]! + u32[(this.outLens >> 2) + k]!));
    return out;
  }
}
