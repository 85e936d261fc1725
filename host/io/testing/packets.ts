// Builders and parsers of test packets (Ethernet, IPv4, IPv6, UDP) written straight into a
// memory at an offset, as the data plane would. Test support only.
import { formatIp, parseIp } from "../../net/addr.ts";
import { ipv4HeaderChecksum, sum16, udpChecksum } from "../checksum.ts";

export interface UdpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Uint8Array;
  /** TTL / hop limit. Default 64. */
  ttl?: number;
  /** TOS / traffic class. Default 0. */
  tos?: number;
  /** IPv6 flow label. Default 0. */
  flowLabel?: number;
  /** Compute the UDP checksum (IPv4 default false: 0; IPv6 always). */
  udpChecksum?: boolean;
  /** IPv4 identification. Default 0. */
  id?: number;
}

/** Writes an IPv4 or IPv6 UDP packet at mem[off]; returns its length. */
export function writeUdp(mem: Uint8Array, off: number, s: UdpSpec): number {
  const src = parseIp(s.src);
  const dst = parseIp(s.dst);
  const v6 = src.length === 16;
  const ipLen = v6 ? 40 : 20;
  const ulen = 8 + s.payload.length;
  const total = ipLen + ulen;
  const u = off + ipLen;
  if (v6) {
    const tc = s.tos ?? 0;
    const fl = s.flowLabel ?? 0;
    mem[off] = 0x60 | (tc >> 4);
    mem[off + 1] = ((tc & 0x0f) << 4) | ((fl >> 16) & 0x0f);
    mem[off + 2] = (fl >> 8) & 0xff;
    mem[off + 3] = fl & 0xff;
    mem[off + 4] = ulen >> 8;
    mem[off + 5] = ulen & 0xff;
    mem[off + 6] = 17;
    mem[off + 7] = s.ttl ?? 64;
    mem.set(src, off + 8);
    mem.set(dst, off + 24);
  } else {
    mem[off] = 0x45;
    mem[off + 1] = s.tos ?? 0;
    mem[off + 2] = total >> 8;
    mem[off + 3] = total & 0xff;
    mem[off + 4] = ((s.id ?? 0) >> 8) & 0xff;
    mem[off + 5] = (s.id ?? 0) & 0xff;
    mem[off + 6] = 0;
    mem[off + 7] = 0;
    mem[off + 8] = s.ttl ?? 64;
    mem[off + 9] = 17;
    mem[off + 10] = mem[off + 11] = 0;
    mem.set(src, off + 12);
    mem.set(dst, off + 16);
    const c = ipv4HeaderChecksum(mem, off);
    mem[off + 10] = c >> 8;
    mem[off + 11] = c & 0xff;
  }
  mem[u] = s.sport >> 8;
  mem[u + 1] = s.sport & 0xff;
  mem[u + 2] = s.dport >> 8;
  mem[u + 3] = s.dport & 0xff;
  mem[u + 4] = ulen >> 8;
  mem[u + 5] = ulen & 0xff;
  mem[u + 6] = mem[u + 7] = 0;
  mem.set(s.payload, u + 8);
  if (v6 || s.udpChecksum) {
    const c = udpChecksum(mem, off, u, ulen);
    mem[u + 6] = c >> 8;
    mem[u + 7] = c & 0xff;
  }
  return total;
}

/** Writes an Ethernet header at mem[off]; returns 14. */
export function writeEthernet(mem: Uint8Array, off: number, dst: string, src: string, ethertype: number): number {
  const d = dst.split(":").map((h) => parseInt(h, 16));
  const s = src.split(":").map((h) => parseInt(h, 16));
  mem.set(d, off);
  mem.set(s, off + 6);
  mem[off + 12] = ethertype >> 8;
  mem[off + 13] = ethertype & 0xff;
  return 14;
}

export interface ParsedUdp {
  version: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  ttl: number;
  tos: number;
  flowLabel: number;
  ipTotalLength: number;
  /** IPv4 header checksum verifies (always true for IPv6). */
  ipChecksumOk: boolean;
  udpLength: number;
  udpChecksum: number;
  /** The UDP checksum is 0 (IPv4 only) or verifies. */
  udpChecksumOk: boolean;
  payload: Uint8Array;
}

/** Parses an IPv4/IPv6 UDP packet at mem[off, off + len); throws on anything else. */
export function parseUdp(mem: Uint8Array, off: number, len: number): ParsedUdp {
  const v = mem[off]! >> 4;
  if (v !== 4 && v !== 6) throw new Error(`not IP: version ${v}`);
  const v6 = v === 6;
  const ihl = v6 ? 40 : (mem[off]! & 0x0f) * 4;
  const proto = v6 ? mem[off + 6] : mem[off + 9];
  if (proto !== 17) throw new Error(`not UDP: protocol ${proto}`);
  const u = off + ihl;
  const udpLength = (mem[u + 4]! << 8) | mem[u + 5]!;
  const csum = (mem[u + 6]! << 8) | mem[u + 7]!;
  const ipTotalLength = v6 ? 40 + ((mem[off + 4]! << 8) | mem[off + 5]!) : (mem[off + 2]! << 8) | mem[off + 3]!;
  let udpOk = csum === 0 && !v6;
  if (csum !== 0) {
    const acc = (v6 ? sum16(mem, off + 8, off + 40) : sum16(mem, off + 12, off + 20)) + 17 + udpLength + sum16(mem, u, u + udpLength);
    let a = acc;
    while (a > 0xffff) a = (a & 0xffff) + Math.floor(a / 0x10000);
    udpOk = a === 0xffff;
  }
  return {
    version: v6 ? 6 : 4,
    src: formatIp(mem.slice(off + (v6 ? 8 : 12), off + (v6 ? 24 : 16))),
    dst: formatIp(mem.slice(off + (v6 ? 24 : 16), off + (v6 ? 40 : 20))),
    sport: (mem[u]! << 8) | mem[u + 1]!,
    dport: (mem[u + 2]! << 8) | mem[u + 3]!,
    ttl: v6 ? mem[off + 7]! : mem[off + 8]!,
    tos: v6 ? ((mem[off]! & 0x0f) << 4) | (mem[off + 1]! >> 4) : mem[off + 1]!,
    flowLabel: v6 ? ((mem[off + 1]! & 0x0f) << 16) | (mem[off + 2]! << 8) | mem[off + 3]! : 0,
    ipTotalLength,
    ipChecksumOk: v6 || ipv4HeaderChecksum(mem, off, ihl) === 0,
    udpLength,
    udpChecksum: csum,
    udpChecksumOk: udpOk,
    payload: mem.slice(u + 8, u + udpLength),
  };
}

/** A payload of `n` bytes whose first 4 bytes carry `seq` and the rest a pattern derived from it. */
export function seqPayload(seq: number, n: number): Uint8Array {
  const p = new Uint8Array(n);
  p[0] = seq >>> 24;
  p[1] = (seq >>> 16) & 0xff;
  p[2] = (seq >>> 8) & 0xff;
  p[3] = seq & 0xff;
  for (let i = 4; i < n; i++) p[i] = (seq * 31 + i) & 0xff;
  return p;
}

export function payloadSeq(p: Uint8Array): number {
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}
