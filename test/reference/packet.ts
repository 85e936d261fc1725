// A slow, obvious packet model: parse bytes into plain objects ("reprs", as smoltcp calls its
// semantic forms) and emit them back. Independent of assembly/ on purpose: it is the reference
// the Wasm wire code is tested against. Addresses are strings (MAC "02:aa:..", IPv4 dotted quad,
// IPv6 RFC 5952 text) so that expectations read like tcpdump output.
//
// A packet is a stack of layers, outermost first: e.g. [eth, ipv4, udp, vxlan, eth, ipv4, icmp,
// payload]. `dissect` builds the stack from bytes; `build` emits a stack, computing lengths and,
// where a layer's `checksum` is undefined, checksums (with the pseudo-header of the nearest IP
// layer outside it).

import {
  internetChecksum,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  udpWireChecksum,
} from "./checksum.ts";

export class ParseError extends Error {
  override readonly name = "ParseError";
  constructor(
    readonly layer: string,
    readonly reason: string,
  ) {
    super(`${layer}: ${reason}`);
  }
}

// ---- addresses ------------------------------------------------------------------------------

export function formatMac(b: Uint8Array, off = 0): string {
  return [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");
}
export function parseMac(s: string): Uint8Array {
  const parts = s.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`bad MAC ${s}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
export function formatIp4(b: Uint8Array, off = 0): string {
  return [...b.subarray(off, off + 4)].join(".");
}
export function parseIp4(s: string): Uint8Array {
  const parts = s.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || +p > 255)) throw new Error(`bad IPv4 address ${s}`);
  return Uint8Array.from(parts.map(Number));
}
/** RFC 5952 §4: lower case, no leading zeros, the longest run (first if tied) of >= 2 zero groups as "::". */
export function formatIp6(b: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}
export function parseIp6(s: string): Uint8Array {
  const out = new Uint8Array(16);
  const halves = s.split("::");
  if (halves.length > 2) throw new Error(`bad IPv6 address ${s}`);
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) throw new Error(`bad IPv6 address ${s}`);
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  all.forEach((h, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(h)) throw new Error(`bad IPv6 address ${s}`);
    const v = parseInt(h, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

// ---- layer reprs ----------------------------------------------------------------------------

export const EtherType = { Ipv4: 0x0800, Arp: 0x0806, Vlan: 0x8100, Ipv6: 0x86dd, TransparentEthernet: 0x6558 } as const;
export const IpProto = { HopByHop: 0, Icmp: 1, Tcp: 6, Udp: 17, Routing: 43, Fragment: 44, Esp: 50, Ah: 51, Icmpv6: 58, NoNext: 59, DestOpts: 60 } as const;

export interface EthernetRepr {
  kind: "eth";
  dst: string;
  src: string;
  ethertype: number;
  /** 802.1Q tag control words, outermost first (rare on pod ports; parsed so they can be refused). */
  vlanTags?: number[];
}
/** ARP for Ethernet/IPv4 only (RFC 826; hardware type 1, protocol 0x0800). */
export interface ArpRepr {
  kind: "arp";
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}
export interface Ipv4Repr {
  kind: "ipv4";
  tos: number;
  /** Emitted from the payload when undefined. */
  totalLength?: number;
  id: number;
  df: boolean;
  mf: boolean;
  /** In bytes (the header field times 8). */
  fragOffset: number;
  ttl: number;
  protocol: number;
  /** Computed when undefined. */
  checksum?: number;
  src: string;
  dst: string;
  /** Raw option bytes, a multiple of 4 long. */
  options?: Uint8Array;
}
export type Ipv6ExtHeader =
  | { type: 0 | 43 | 60 | 51; nextHeader: number; /** whole header incl. next-header/length octets */ bytes: Uint8Array }
  | { type: 44; nextHeader: number; fragOffset: number; more: boolean; id: number };
export interface Ipv6Repr {
  kind: "ipv6";
  trafficClass: number;
  flowLabel: number;
  /** Emitted from the payload when undefined. */
  payloadLength?: number;
  /** Next header of the fixed header (= first extension header's type, or the upper protocol). */
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  extHeaders: Ipv6ExtHeader[];
}
export interface UdpRepr {
  kind: "udp";
  srcPort: number;
  dstPort: number;
  length?: number;
  /** Computed when undefined; 0 means "none" (IPv4 only, or IPv6 per RFC 6935). */
  checksum?: number;
}
export interface TcpRepr {
  kind: "tcp";
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80. */
  flags: number;
  window: number;
  checksum?: number;
  urgent: number;
  options?: Uint8Array;
}
/** ICMP (RFC 792): `rest` is the 4-byte "rest of header" word (echo id/seq, next-hop MTU, pointer). */
export interface IcmpRepr {
  kind: "icmp";
  type: number;
  code: number;
  checksum?: number;
  rest: number;
}
export interface NdpOption {
  type: number;
  /** For source (1) / target (2) link-layer address options. */
  lladdr?: string;
  /** For other options: the bytes after type and length. */
  data?: Uint8Array;
}
/** ICMPv6 (RFC 4443); for NS/NA (RFC 4861 §4.3/4.4) `target` and `options` are parsed out of the body. */
export interface Icmpv6Repr {
  kind: "icmpv6";
  type: number;
  code: number;
  checksum?: number;
  /** The 4 bytes after the checksum (echo id/seq, MTU, pointer, NA flags). */
  rest: number;
  target?: string;
  options?: NdpOption[];
}
export interface VxlanRepr {
  kind: "vxlan";
  flags: number;
  vni: number;
  /** The 24 reserved bits after the flags and the 8 after the VNI, kept so bad headers round-trip. */
  reserved1?: number;
  reserved2?: number;
}
export interface GeneveOption {
  optClass: number;
  /** High bit = critical (RFC 8926 §3.5.1). */
  type: number;
  data: Uint8Array;
}
export interface GeneveRepr {
  kind: "geneve";
  version: number;
  oam: boolean;
  critical: boolean;
  protocol: number;
  vni: number;
  options: GeneveOption[];
}
export interface PayloadRepr {
  kind: "payload";
  bytes: Uint8Array;
}
export type Layer = EthernetRepr | ArpRepr | Ipv4Repr | Ipv6Repr | UdpRepr | TcpRepr | IcmpRepr | Icmpv6Repr | VxlanRepr | GeneveRepr | PayloadRepr;

export const TcpFlag = { Fin: 0x01, Syn: 0x02, Rst: 0x04, Psh: 0x08, Ack: 0x10, Urg: 0x20 } as const;

// ---- small helpers ---------------------------------------------------------------------------
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const put16 = (b: Uint8Array, o: number, v: number) => {
  b[o] = (v >> 8) & 0xff;
  b[o + 1] = v & 0xff;
};
const put32 = (b: Uint8Array, o: number, v: number) => {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
};
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
export const hexToBytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
export const bytesToHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// ---- parsing, one header at a time ----------------------------------------------------------
// Each returns the repr, the header length and the payload it delimits. They throw ParseError
// for anything a receiver must reject as malformed.

export function parseEthernet(b: Uint8Array): { repr: EthernetRepr; payload: Uint8Array } {
  if (b.length < 14) throw new ParseError("eth", "truncated");
  let off = 12;
  let ethertype = u16(b, off);
  const vlanTags: number[] = [];
  while (ethertype === EtherType.Vlan || ethertype === 0x88a8) {
    if (b.length < off + 6) throw new ParseError("eth", "truncated VLAN tag");
    vlanTags.push(u16(b, off + 2));
    off += 4;
    ethertype = u16(b, off);
  }
  const repr: EthernetRepr = { kind: "eth", dst: formatMac(b, 0), src: formatMac(b, 6), ethertype };
  if (vlanTags.length) repr.vlanTags = vlanTags;
  return { repr, payload: b.subarray(off + 2) };
}

export function parseArp(b: Uint8Array): ArpRepr {
  if (b.length < 28) throw new ParseError("arp", "truncated");
  if (u16(b, 0) !== 1 || u16(b, 2) !== EtherType.Ipv4 || b[4] !== 6 || b[5] !== 4) throw new ParseError("arp", "not Ethernet/IPv4");
  return { kind: "arp", op: u16(b, 6), senderMac: formatMac(b, 8), senderIp: formatIp4(b, 14), targetMac: formatMac(b, 18), targetIp: formatIp4(b, 24) };
}

/** RFC 791 §3.1. Validates version, IHL >= 5, total length within the buffer; not the checksum. */
export function parseIpv4(b: Uint8Array): { repr: Ipv4Repr; headerLength: number; payload: Uint8Array } {
  if (b.length < 20) throw new ParseError("ipv4", "truncated");
  if (b[0]! >> 4 !== 4) throw new ParseError("ipv4", "version is not 4");
  const ihl = (b[0]! & 0xf) * 4;
  if (ihl < 20) throw new ParseError("ipv4", "IHL < 5");
  const totalLength = u16(b, 2);
  if (totalLength < ihl || totalLength > b.length) throw new ParseError("ipv4", "bad total length");
  const fl = u16(b, 6);
  const repr: Ipv4Repr = {
    kind: "ipv4",
    tos: b[1]!,
    totalLength,
    id: u16(b, 4),
    df: (fl & 0x4000) !== 0,
    mf: (fl & 0x2000) !== 0,
    fragOffset: (fl & 0x1fff) * 8,
    ttl: b[8]!,
    protocol: b[9]!,
    checksum: u16(b, 10),
    src: formatIp4(b, 12),
    dst: formatIp4(b, 16),
  };
  // The reserved flag bit (0x8000) "must be zero" for senders (RFC 791 §3.1); receivers and
  // routers do not check it (RFC 1812 §5.2.2 lists the header checks), so neither do we.
  if (ihl > 20) repr.options = b.slice(20, ihl);
  // Bytes beyond totalLength (Ethernet padding) are not part of the datagram.
  return { repr, headerLength: ihl, payload: b.subarray(ihl, totalLength) };
}

/** True when the IPv4 header's checksum verifies. */
export function ipv4HeaderChecksumOk(b: Uint8Array): boolean {
  const ihl = (b[0]! & 0xf) * 4;
  return internetChecksum(b, 0, ihl) === 0;
}

const EXT_HEADERS = new Set<number>([IpProto.HopByHop, IpProto.Routing, IpProto.Fragment, IpProto.DestOpts, IpProto.Ah]);

/**
 * RFC 8200 §3 + §4: the fixed header, then the extension-header walk until an upper-layer
 * protocol (or No Next Header, or a non-first fragment, after which there is no upper header).
 */
export function parseIpv6(b: Uint8Array): {
  repr: Ipv6Repr;
  /** The upper-layer protocol and where its header starts (from the start of `b`). */
  upperProtocol: number;
  upperOffset: number;
  /** False for a non-first fragment: bytes at upperOffset are fragment data, not a header. */
  upperHeaderPresent: boolean;
  payload: Uint8Array;
} {
  if (b.length < 40) throw new ParseError("ipv6", "truncated");
  if (b[0]! >> 4 !== 6) throw new ParseError("ipv6", "version is not 6");
  const payloadLength = u16(b, 4);
  if (40 + payloadLength > b.length) throw new ParseError("ipv6", "bad payload length");
  const end = 40 + payloadLength; // jumbograms (RFC 2675) are not supported
  const repr: Ipv6Repr = {
    kind: "ipv6",
    trafficClass: ((b[0]! & 0xf) << 4) | (b[1]! >> 4),
    flowLabel: ((b[1]! & 0xf) << 16) | u16(b, 2),
    payloadLength,
    nextHeader: b[6]!,
    hopLimit: b[7]!,
    src: formatIp6(b, 8),
    dst: formatIp6(b, 24),
    extHeaders: [],
  };
  let nh = repr.nextHeader;
  let off = 40;
  let upperHeaderPresent = true;
  while (EXT_HEADERS.has(nh)) {
    if (nh === IpProto.HopByHop && off !== 40) throw new ParseError("ipv6", "hop-by-hop header not first"); // RFC 8200 §4.3
    if (end - off < 8) throw new ParseError("ipv6", "truncated extension header");
    const next = b[off]!;
    if (nh === IpProto.Fragment) {
      const fo = u16(b, off + 2);
      const frag = { type: 44 as const, nextHeader: next, fragOffset: fo & 0xfff8, more: (fo & 1) === 1, id: u32(b, off + 4) };
      repr.extHeaders.push(frag);
      off += 8;
      nh = next;
      if (frag.fragOffset !== 0) {
        upperHeaderPresent = false;
        break;
      }
      continue;
    }
    // AH counts its length in 4-octet units minus 2 (RFC 4302 §2.2); the others in 8-octet units minus 1.
    const len = nh === IpProto.Ah ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
    if (end - off < len) throw new ParseError("ipv6", "truncated extension header");
    repr.extHeaders.push({ type: nh as 0 | 43 | 60 | 51, nextHeader: next, bytes: b.slice(off, off + len) });
    off += len;
    nh = next;
  }
  if (nh === IpProto.NoNext) upperHeaderPresent = false;
  return { repr, upperProtocol: nh, upperOffset: off, upperHeaderPresent, payload: b.subarray(off, end) };
}

export function parseUdp(b: Uint8Array): { repr: UdpRepr; payload: Uint8Array } {
  if (b.length < 8) throw new ParseError("udp", "truncated");
  const length = u16(b, 4);
  if (length < 8 || length > b.length) throw new ParseError("udp", "bad length");
  return { repr: { kind: "udp", srcPort: u16(b, 0), dstPort: u16(b, 2), length, checksum: u16(b, 6) }, payload: b.subarray(8, length) };
}

export function parseTcp(b: Uint8Array): { repr: TcpRepr; payload: Uint8Array } {
  if (b.length < 20) throw new ParseError("tcp", "truncated");
  const dataOffset = (b[12]! >> 4) * 4;
  if (dataOffset < 20 || dataOffset > b.length) throw new ParseError("tcp", "bad data offset");
  const repr: TcpRepr = {
    kind: "tcp",
    srcPort: u16(b, 0),
    dstPort: u16(b, 2),
    seq: u32(b, 4),
    ack: u32(b, 8),
    flags: b[13]!,
    window: u16(b, 14),
    checksum: u16(b, 16),
    urgent: u16(b, 18),
  };
  if (dataOffset > 20) repr.options = b.slice(20, dataOffset);
  return { repr, payload: b.subarray(dataOffset) };
}

export function parseIcmp(b: Uint8Array): { repr: IcmpRepr; payload: Uint8Array } {
  if (b.length < 8) throw new ParseError("icmp", "truncated");
  return { repr: { kind: "icmp", type: b[0]!, code: b[1]!, checksum: u16(b, 2), rest: u32(b, 4) }, payload: b.subarray(8) };
}

export const Icmpv6Type = { DestUnreachable: 1, PacketTooBig: 2, TimeExceeded: 3, ParamProblem: 4, EchoRequest: 128, EchoReply: 129, RouterSolicit: 133, RouterAdvert: 134, NeighborSolicit: 135, NeighborAdvert: 136 } as const;

export function parseIcmpv6(b: Uint8Array): { repr: Icmpv6Repr; payload: Uint8Array } {
  if (b.length < 8) throw new ParseError("icmpv6", "truncated");
  const repr: Icmpv6Repr = { kind: "icmpv6", type: b[0]!, code: b[1]!, checksum: u16(b, 2), rest: u32(b, 4) };
  if (repr.type === Icmpv6Type.NeighborSolicit || repr.type === Icmpv6Type.NeighborAdvert) {
    if (b.length < 24) throw new ParseError("icmpv6", "truncated neighbor discovery message");
    repr.target = formatIp6(b, 8);
    repr.options = [];
    let off = 24;
    while (off < b.length) {
      if (b.length - off < 2) throw new ParseError("icmpv6", "truncated NDP option");
      const len = b[off + 1]! * 8;
      // RFC 4861 §4.6: a zero-length option must cause the packet to be discarded.
      if (len === 0) throw new ParseError("icmpv6", "NDP option of length 0");
      if (off + len > b.length) throw new ParseError("icmpv6", "truncated NDP option");
      const type = b[off]!;
      if ((type === 1 || type === 2) && len === 8) repr.options.push({ type, lladdr: formatMac(b, off + 2) });
      else repr.options.push({ type, data: b.slice(off + 2, off + len) });
      off += len;
    }
    return { repr, payload: new Uint8Array(0) };
  }
  return { repr, payload: b.subarray(8) };
}

/** RFC 7348 §5. Flags are returned as-is; whether they are acceptable is the receiver's business. */
export function parseVxlan(b: Uint8Array): { repr: VxlanRepr; payload: Uint8Array } {
  if (b.length < 8) throw new ParseError("vxlan", "truncated");
  return {
    repr: { kind: "vxlan", flags: b[0]!, vni: (b[4]! << 16) | (b[5]! << 8) | b[6]!, reserved1: (b[1]! << 16) | (b[2]! << 8) | b[3]!, reserved2: b[7]! },
    payload: b.subarray(8),
  };
}

/** RFC 8926 §3.4/§3.5. */
export function parseGeneve(b: Uint8Array): { repr: GeneveRepr; payload: Uint8Array } {
  if (b.length < 8) throw new ParseError("geneve", "truncated");
  const optLen = (b[0]! & 0x3f) * 4;
  if (b.length < 8 + optLen) throw new ParseError("geneve", "truncated options");
  const repr: GeneveRepr = {
    kind: "geneve",
    version: b[0]! >> 6,
    oam: (b[1]! & 0x80) !== 0,
    critical: (b[1]! & 0x40) !== 0,
    protocol: u16(b, 2),
    vni: (b[4]! << 16) | (b[5]! << 8) | b[6]!,
    options: [],
  };
  let off = 8;
  while (off < 8 + optLen) {
    if (8 + optLen - off < 4) throw new ParseError("geneve", "truncated option header");
    const len = (b[off + 3]! & 0x1f) * 4;
    if (off + 4 + len > 8 + optLen) throw new ParseError("geneve", "option overruns the options length");
    repr.options.push({ optClass: u16(b, off), type: b[off + 2]!, data: b.slice(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return { repr, payload: b.subarray(8 + optLen) };
}

// ---- whole-packet dissection ----------------------------------------------------------------

export interface DissectOptions {
  /** UDP destination ports that carry VXLAN. Default 8472 (Linux) and 4789 (IANA). */
  vxlanPorts?: number[];
  /** UDP destination ports that carry Geneve. Default 6081. */
  genevePorts?: number[];
}

/**
 * Parses a whole packet into layers, outermost first, descending into VXLAN/Geneve payloads.
 * Stops at the first header it does not know (the rest is a `payload` layer), at non-first
 * fragments and at ICMP error bodies. Throws ParseError on malformed headers.
 */
export function dissect(bytes: Uint8Array, first: "eth" | "ip" | "ipv4" | "ipv6", opts: DissectOptions = {}): Layer[] {
  const vxlanPorts = opts.vxlanPorts ?? [8472, 4789];
  const genevePorts = opts.genevePorts ?? [6081];
  const layers: Layer[] = [];
  let cur: string = first === "ip" ? (bytes[0]! >> 4 === 6 ? "ipv6" : "ipv4") : first;
  let b = bytes;
  const rest = () => {
    if (b.length) layers.push({ kind: "payload", bytes: b.slice() });
  };
  for (;;) {
    switch (cur) {
      case "eth": {
        const { repr, payload } = parseEthernet(b);
        layers.push(repr);
        b = payload;
        cur = repr.ethertype === EtherType.Ipv4 ? "ipv4" : repr.ethertype === EtherType.Ipv6 ? "ipv6" : repr.ethertype === EtherType.Arp ? "arp" : "";
        if (!cur) return rest(), layers;
        break;
      }
      case "arp": {
        layers.push(parseArp(b));
        return layers; // trailing Ethernet padding is not a layer
      }
      case "ipv4": {
        const { repr, payload } = parseIpv4(b);
        layers.push(repr);
        b = payload;
        if (repr.fragOffset !== 0) return rest(), layers;
        cur = repr.protocol === IpProto.Udp ? "udp" : repr.protocol === IpProto.Tcp ? "tcp" : repr.protocol === IpProto.Icmp ? "icmp" : "";
        if (!cur) return rest(), layers;
        if (repr.mf) {
          // A first fragment: parse the upper header if it fits, but the payload is partial.
          cur = `${cur}-first-fragment`;
        }
        break;
      }
      case "ipv6": {
        const p = parseIpv6(b);
        layers.push(p.repr);
        b = p.payload;
        if (!p.upperHeaderPresent) return rest(), layers;
        const more = p.repr.extHeaders.some((e) => e.type === 44 && e.more);
        cur = p.upperProtocol === IpProto.Udp ? "udp" : p.upperProtocol === IpProto.Tcp ? "tcp" : p.upperProtocol === IpProto.Icmpv6 ? "icmpv6" : "";
        if (!cur) return rest(), layers;
        if (more) cur = `${cur}-first-fragment`;
        break;
      }
      case "udp-first-fragment": {
        // The UDP length describes the whole datagram, not this fragment: no length check.
        if (b.length < 8) return rest(), layers;
        layers.push({ kind: "udp", srcPort: u16(b, 0), dstPort: u16(b, 2), length: u16(b, 4), checksum: u16(b, 6) });
        b = b.subarray(8);
        return rest(), layers;
      }
      case "tcp-first-fragment":
        cur = "tcp";
        break;
      case "icmp-first-fragment":
        cur = "icmp";
        break;
      case "icmpv6-first-fragment":
        if (b.length < 8) return rest(), layers;
        layers.push({ kind: "icmpv6", type: b[0]!, code: b[1]!, checksum: u16(b, 2), rest: u32(b, 4) });
        b = b.subarray(8);
        return rest(), layers;
      case "udp": {
        const { repr, payload } = parseUdp(b);
        layers.push(repr);
        b = payload;
        cur = vxlanPorts.includes(repr.dstPort) ? "vxlan" : genevePorts.includes(repr.dstPort) ? "geneve" : "";
        if (!cur) return rest(), layers;
        break;
      }
      case "tcp": {
        const { repr, payload } = parseTcp(b);
        layers.push(repr);
        b = payload;
        return rest(), layers;
      }
      case "icmp": {
        const { repr, payload } = parseIcmp(b);
        layers.push(repr);
        b = payload;
        return rest(), layers;
      }
      case "icmpv6": {
        const { repr, payload } = parseIcmpv6(b);
        layers.push(repr);
        b = payload;
        return rest(), layers;
      }
      case "vxlan": {
        const { repr, payload } = parseVxlan(b);
        layers.push(repr);
        b = payload;
        cur = "eth";
        break;
      }
      case "geneve": {
        const { repr, payload } = parseGeneve(b);
        layers.push(repr);
        b = payload;
        cur = repr.protocol === EtherType.TransparentEthernet ? "eth" : repr.protocol === EtherType.Ipv4 ? "ipv4" : repr.protocol === EtherType.Ipv6 ? "ipv6" : "";
        if (!cur) return rest(), layers;
        break;
      }
      default:
        return rest(), layers;
    }
  }
}

// ---- emission -------------------------------------------------------------------------------

/**
 * Emits a layer stack. Lengths left undefined are computed; checksums left undefined are computed
 * (UDP/TCP/ICMPv6 over the pseudo-header of the nearest enclosing IP layer). Given values are
 * written as-is, so `build(dissect(x))` reproduces `x` (less any trailing link-layer padding).
 */
export function build(layers: Layer[]): Uint8Array {
  let inner: Uint8Array = new Uint8Array(0);
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const ip = enclosingIp(layers, i);
    inner = emitLayer(l, inner, ip);
  }
  return inner;
}

function enclosingIp(layers: Layer[], i: number): Ipv4Repr | Ipv6Repr | undefined {
  for (let j = i - 1; j >= 0; j--) {
    const l = layers[j]!;
    if (l.kind === "ipv4" || l.kind === "ipv6") return l;
  }
  return undefined;
}

function l4Checksum(ip: Ipv4Repr | Ipv6Repr | undefined, proto: number, seg: Uint8Array): number {
  if (ip === undefined) throw new Error(`cannot compute the protocol ${proto} checksum without an IP layer`);
  const ps =
    ip.kind === "ipv4"
      ? pseudoHeaderSum4(parseIp4(ip.src), parseIp4(ip.dst), proto, seg.length)
      : pseudoHeaderSum6(parseIp6(ip.src), finalDestination(ip), proto, seg.length);
  return internetChecksum(seg, 0, seg.length, ps);
}

/** RFC 8200 §8.1: with a Routing header, the pseudo-header uses the final destination. */
function finalDestination(ip: Ipv6Repr): Uint8Array {
  for (const e of ip.extHeaders) {
    if (e.type === 43 && e.bytes[2] === 0 && e.bytes[3]! > 0) {
      // Type 0 with segments left: the last address is the final destination.
      const n = (e.bytes.length - 8) / 16;
      return e.bytes.slice(8 + (n - 1) * 16, 8 + n * 16);
    }
  }
  return parseIp6(ip.dst);
}

export function emitLayer(l: Layer, payload: Uint8Array, ip?: Ipv4Repr | Ipv6Repr): Uint8Array {
  switch (l.kind) {
    case "payload":
      return concatBytes(l.bytes, payload);
    case "eth": {
      const tags = l.vlanTags ?? [];
      const h = new Uint8Array(14 + 4 * tags.length);
      h.set(parseMac(l.dst), 0);
      h.set(parseMac(l.src), 6);
      let off = 12;
      for (const t of tags) {
        put16(h, off, EtherType.Vlan);
        put16(h, off + 2, t);
        off += 4;
      }
      put16(h, off, l.ethertype);
      return concatBytes(h, payload);
    }
    case "arp": {
      const h = new Uint8Array(28);
      put16(h, 0, 1);
      put16(h, 2, EtherType.Ipv4);
      h[4] = 6;
      h[5] = 4;
      put16(h, 6, l.op);
      h.set(parseMac(l.senderMac), 8);
      h.set(parseIp4(l.senderIp), 14);
      h.set(parseMac(l.targetMac), 18);
      h.set(parseIp4(l.targetIp), 24);
      return concatBytes(h, payload);
    }
    case "ipv4": {
      const opts = l.options ?? new Uint8Array(0);
      if (opts.length % 4 !== 0) throw new Error("IPv4 options must be padded to 4 bytes");
      const hl = 20 + opts.length;
      const h = new Uint8Array(hl);
      h[0] = 0x40 | (hl / 4);
      h[1] = l.tos;
      put16(h, 2, l.totalLength ?? hl + payload.length);
      put16(h, 4, l.id);
      put16(h, 6, (l.df ? 0x4000 : 0) | (l.mf ? 0x2000 : 0) | (l.fragOffset / 8));
      h[8] = l.ttl;
      h[9] = l.protocol;
      h.set(parseIp4(l.src), 12);
      h.set(parseIp4(l.dst), 16);
      h.set(opts, 20);
      put16(h, 10, l.checksum ?? internetChecksum(h));
      return concatBytes(h, payload);
    }
    case "ipv6": {
      const exts = l.extHeaders.map((e) => {
        if (e.type === 44) {
          const f = new Uint8Array(8);
          f[0] = e.nextHeader;
          put16(f, 2, e.fragOffset | (e.more ? 1 : 0));
          put32(f, 4, e.id);
          return f;
        }
        return e.bytes;
      });
      const ext = concatBytes(...exts);
      const h = new Uint8Array(40);
      put32(h, 0, (6 << 28) | (l.trafficClass << 20) | l.flowLabel);
      put16(h, 4, l.payloadLength ?? ext.length + payload.length);
      h[6] = l.nextHeader;
      h[7] = l.hopLimit;
      h.set(parseIp6(l.src), 8);
      h.set(parseIp6(l.dst), 24);
      return concatBytes(h, ext, payload);
    }
    case "udp": {
      const seg = new Uint8Array(8 + payload.length);
      put16(seg, 0, l.srcPort);
      put16(seg, 2, l.dstPort);
      put16(seg, 4, l.length ?? seg.length);
      seg.set(payload, 8);
      put16(seg, 6, l.checksum ?? udpWireChecksum(l4Checksum(ip, IpProto.Udp, seg)));
      return seg;
    }
    case "tcp": {
      const opts = l.options ?? new Uint8Array(0);
      if (opts.length % 4 !== 0) throw new Error("TCP options must be padded to 4 bytes");
      const hl = 20 + opts.length;
      const seg = new Uint8Array(hl + payload.length);
      put16(seg, 0, l.srcPort);
      put16(seg, 2, l.dstPort);
      put32(seg, 4, l.seq);
      put32(seg, 8, l.ack);
      seg[12] = (hl / 4) << 4;
      seg[13] = l.flags;
      put16(seg, 14, l.window);
      put16(seg, 18, l.urgent);
      seg.set(opts, 20);
      seg.set(payload, hl);
      put16(seg, 16, l.checksum ?? l4Checksum(ip, IpProto.Tcp, seg));
      return seg;
    }
    case "icmp": {
      const m = new Uint8Array(8 + payload.length);
      m[0] = l.type;
      m[1] = l.code;
      put32(m, 4, l.rest);
      m.set(payload, 8);
      put16(m, 2, l.checksum ?? internetChecksum(m)); // RFC 792: no pseudo-header
      return m;
    }
    case "icmpv6": {
      let body = payload;
      if (l.target !== undefined) {
        const opts = (l.options ?? []).map((o) => {
          const data = o.lladdr !== undefined ? parseMac(o.lladdr) : (o.data ?? new Uint8Array(0));
          const len = Math.ceil((2 + data.length) / 8) * 8;
          const ob = new Uint8Array(len);
          ob[0] = o.type;
          ob[1] = len / 8;
          ob.set(data, 2);
          return ob;
        });
        body = concatBytes(parseIp6(l.target), ...opts, payload);
      }
      const m = new Uint8Array(8 + body.length);
      m[0] = l.type;
      m[1] = l.code;
      put32(m, 4, l.rest);
      m.set(body, 8);
      put16(m, 2, l.checksum ?? l4Checksum(ip, IpProto.Icmpv6, m)); // RFC 4443 §2.3: with pseudo-header
      return m;
    }
    case "vxlan": {
      const h = new Uint8Array(8);
      h[0] = l.flags;
      const r1 = l.reserved1 ?? 0;
      h[1] = (r1 >> 16) & 0xff;
      h[2] = (r1 >> 8) & 0xff;
      h[3] = r1 & 0xff;
      h[4] = (l.vni >> 16) & 0xff;
      h[5] = (l.vni >> 8) & 0xff;
      h[6] = l.vni & 0xff;
      h[7] = l.reserved2 ?? 0;
      return concatBytes(h, payload);
    }
    case "geneve": {
      const opts = l.options.map((o) => {
        if (o.data.length % 4 !== 0 || o.data.length > 124) throw new Error("Geneve option data must be a multiple of 4, at most 124 bytes");
        const ob = new Uint8Array(4 + o.data.length);
        put16(ob, 0, o.optClass);
        ob[2] = o.type;
        ob[3] = o.data.length / 4;
        ob.set(o.data, 4);
        return ob;
      });
      const ob = concatBytes(...opts);
      if (ob.length > 252) throw new Error("Geneve options exceed 252 bytes");
      const h = new Uint8Array(8);
      h[0] = (l.version << 6) | (ob.length / 4);
      h[1] = (l.oam ? 0x80 : 0) | (l.critical ? 0x40 : 0);
      put16(h, 2, l.protocol);
      h[4] = (l.vni >> 16) & 0xff;
      h[5] = (l.vni >> 8) & 0xff;
      h[6] = l.vni & 0xff;
      return concatBytes(h, ob, payload);
    }
  }
}

/** The stack with every checksum and length dropped, so that `build` recomputes them. */
export function withoutChecksums(layers: Layer[]): Layer[] {
  return layers.map((l) => {
    const c = { ...l } as Record<string, unknown>;
    delete c.checksum;
    delete c.totalLength;
    delete c.payloadLength;
    delete c.length;
    return c as unknown as Layer;
  });
}

/** The first layer of a kind, typed. */
export function find<K extends Layer["kind"]>(layers: Layer[], kind: K, nth = 0): Extract<Layer, { kind: K }> | undefined {
  let n = 0;
  for (const l of layers) if (l.kind === kind && n++ === nth) return l as Extract<Layer, { kind: K }>;
  return undefined;
}
