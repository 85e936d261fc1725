// Small, obvious frame builders for pipeline tests (independent of the Wasm code: checksums
// byte by byte). Addresses are text; results are plain Uint8Arrays.
import { parseIp, parseMac } from "../../host/net/addr.ts";

export function sum16(b: Uint8Array, acc = 0): number {
  for (let i = 0; i < b.length; i += 2) acc += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  return acc;
}
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}
export function checksum(b: Uint8Array, acc = 0): number { return ~fold(sum16(b, acc)) & 0xffff; }
const cat = (...parts: Uint8Array[]) => { const o = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let k = 0; for (const p of parts) { o.set(p, k); k += p.length; } return o; };
export { cat as concat };
const u16 = (v: number) => Uint8Array.of(v >> 8, v & 0xff);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);

export function eth(dst: string, src: string, type: number, payload: Uint8Array): Uint8Array {
  return cat(parseMac(dst), parseMac(src), u16(type), payload);
}

export interface Ip4Opts { tos?: number; id?: number; df?: boolean; mf?: boolean; fragOffset?: number; ttl?: number; options?: Uint8Array; badChecksum?: boolean }
export function ipv4(src: string, dst: string, proto: number, payload: Uint8Array, o: Ip4Opts = {}): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const hlen = 20 + opts.length;
  const h = new Uint8Array(hlen);
  h[0] = 0x40 | (hlen >> 2); h[1] = o.tos ?? 0;
  h.set(u16(hlen + payload.length), 2); h.set(u16(o.id ?? 0x1234), 4);
  h.set(u16((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOffset ?? 0) >> 3)), 6);
  h[8] = o.ttl ?? 64; h[9] = proto;
  h.set(parseIp(src), 12); h.set(parseIp(dst), 16); h.set(opts, 20);
  const c = checksum(h);
  h.set(u16(o.badChecksum ? c ^ 1 : c), 10);
  return cat(h, payload);
}

export function ipv6(src: string, dst: string, nextHeader: number, payload: Uint8Array, hopLimit = 64, flow = 0): Uint8Array {
  const h = new Uint8Array(40);
  h.set(u32((6 << 28) | flow), 0); h.set(u16(payload.length), 4); h[6] = nextHeader; h[7] = hopLimit;
  h.set(parseIp(src), 8); h.set(parseIp(dst), 24);
  return cat(h, payload);
}

function pseudo(src: string, dst: string, proto: number, len: number): number {
  const s = parseIp(src), d = parseIp(dst);
  if (s.length === 4) return sum16(cat(s, d, Uint8Array.of(0, proto), u16(len)));
  return sum16(cat(s, d, u32(len), Uint8Array.of(0, 0, 0, proto)));
}

/** UDP datagram with a correct checksum (or zero when `zeroChecksum`). */
export function udp(src: string, dst: string, sport: number, dport: number, data: Uint8Array, zeroChecksum = false): Uint8Array {
  const h = cat(u16(sport), u16(dport), u16(8 + data.length), u16(0), data);
  if (!zeroChecksum) { let c = checksum(h, pseudo(src, dst, 17, h.length)); if (c === 0) c = 0xffff; h.set(u16(c), 6); }
  return h;
}

export function tcpSyn(src: string, dst: string, sport: number, dport: number): Uint8Array {
  const h = new Uint8Array(20);
  h.set(u16(sport), 0); h.set(u16(dport), 2); h.set(u32(1000), 4); h[12] = 0x50; h[13] = 0x02; h.set(u16(65535), 14);
  h.set(u16(checksum(h, pseudo(src, dst, 6, 20))), 16);
  return h;
}

export function icmpEcho(id = 1, seq = 1, data = new Uint8Array(8)): Uint8Array {
  const h = cat(Uint8Array.of(8, 0, 0, 0), u16(id), u16(seq), data);
  h.set(u16(checksum(h)), 2);
  return h;
}

export function icmp6(src: string, dst: string, type: number, code: number, body: Uint8Array): Uint8Array {
  const h = cat(Uint8Array.of(type, code, 0, 0), body);
  h.set(u16(checksum(h, pseudo(src, dst, 58, h.length))), 2);
  return h;
}

export function arpRequest(senderMac: string, senderIp: string, targetIp: string): Uint8Array {
  return cat(u16(1), u16(0x0800), Uint8Array.of(6, 4), u16(1), parseMac(senderMac), parseIp(senderIp), new Uint8Array(6), parseIp(targetIp));
}

/** Neighbor Solicitation body (after the 4-byte ICMPv6 header): reserved, target, source LL option. */
export function nsBody(target: string, srcMac?: string): Uint8Array {
  const opt = srcMac ? cat(Uint8Array.of(1, 1), parseMac(srcMac)) : new Uint8Array(0);
  return cat(new Uint8Array(4), parseIp(target), opt);
}

export function vxlan(vni: number, inner: Uint8Array, flags = 0x08): Uint8Array {
  return cat(Uint8Array.of(flags, 0, 0, 0), u32(vni << 8), inner);
}
export function geneve(vni: number, inner: Uint8Array, options: Uint8Array = new Uint8Array(0), flags = 0, proto = 0x6558): Uint8Array {
  return cat(Uint8Array.of(options.length >> 2, flags), u16(proto), u32(vni << 8), options, inner);
}

export const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
export const be32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
