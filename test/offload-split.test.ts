// TSO and USO split and vnet header checks (assembly/offload/segment.ts, vnet.ts) against the slow
// reference (test/reference/offload.ts, which builds every segment with reference/packet.ts),
// plus properties checked on the bytes themselves: every payload byte arrives once and in order,
// every IPv4 header and TCP checksum verifies, Linux's per-segment rules (seq, ID, FIN/PSH/CWR).
// Deterministic seeds; each test asserts its own case count.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  OffloadHarness, OffloadReason as R, OFFLOAD_REASON_COUNT, OffloadEvent, VnetFlag, GsoType, VNET_LEN, emitVnet, makeSuperPacket,
  randomSuperSpec, referenceSplit, checkVnet, buildTcpPacket, type SuperSpec,
} from "./reference/offload.ts";
import { internetChecksum, onesAdd, onesComplementSum, pseudoHeaderSum4, pseudoHeaderSum6, verifyChecksum } from "./reference/checksum.ts";
import { bytesToHex, build, concatBytes, parseIp4 } from "./reference/packet.ts";
import { prng } from "./helpers/prng.ts";

const wasm = new Uint8Array(readFileSync("build/weft.wasm"));
const h = new OffloadHarness(wasm);

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Checks one segment's headers and checksums on its own bytes; returns its TCP payload. */
function checkSegment(seg: Uint8Array, l3Off: number, v6: boolean): { payload: Uint8Array; seq: number; flags: number; id: number } {
  const ip = seg.subarray(l3Off);
  let l4: number;
  let id = -1;
  if (!v6) {
    const ihl = (ip[0]! & 15) * 4;
    expect(be16(ip, 2)).toBe(ip.length);
    expect(internetChecksum(ip, 0, ihl)).toBe(0);
    l4 = ihl;
    id = be16(ip, 4);
  } else {
    expect(40 + be16(ip, 4)).toBe(ip.length);
    // walk HBH / DestOpts
    let nh = ip[6]!;
    l4 = 40;
    while (nh !== 6) {
      nh = ip[l4]!;
      l4 += (ip[l4 + 1]! + 1) * 8;
    }
  }
  const tcp = ip.subarray(l4);
  const ps = v6 ? pseudoHeaderSum6(ip.subarray(8, 24), ip.subarray(24, 40), 6, tcp.length) : pseudoHeaderSum4(ip.subarray(12, 16), ip.subarray(16, 20), 6, tcp.length);
  expect(verifyChecksum(tcp, 0, tcp.length, ps)).toBe(true);
  const thl = (tcp[12]! >> 4) * 4;
  return { payload: tcp.subarray(thl), seq: be32(tcp, 4), flags: tcp[13]!, id };
}

/** Checks one USO segment's headers and checksums on its own bytes; returns its UDP payload. */
function checkUdpSegment(seg: Uint8Array, l3Off: number, v6: boolean): { payload: Uint8Array; id: number; ports: number } {
  const ip = seg.subarray(l3Off);
  let l4: number;
  let id = -1;
  if (!v6) {
    const ihl = (ip[0]! & 15) * 4;
    expect(be16(ip, 2)).toBe(ip.length);
    expect(internetChecksum(ip, 0, ihl)).toBe(0);
    expect(ip[9]).toBe(17);
    l4 = ihl;
    id = be16(ip, 4);
  } else {
    expect(40 + be16(ip, 4)).toBe(ip.length);
    let nh = ip[6]!;
    l4 = 40;
    while (nh !== 17) {
      nh = ip[l4]!;
      l4 += (ip[l4 + 1]! + 1) * 8;
    }
  }
  const udp = ip.subarray(l4);
  expect(be16(udp, 4)).toBe(udp.length);
  expect(be16(udp, 6)).not.toBe(0); // RFC 768: a computed 0 goes out as 0xffff
  const ps = v6 ? pseudoHeaderSum6(ip.subarray(8, 24), ip.subarray(24, 40), 17, udp.length) : pseudoHeaderSum4(ip.subarray(12, 16), ip.subarray(16, 20), 17, udp.length);
  expect(verifyChecksum(udp, 0, udp.length, ps)).toBe(true);
  return { payload: udp.subarray(8), id, ports: be32(udp, 0) };
}

function segmentsOf(r: Uint8Array[] | number): Uint8Array[] {
  if (typeof r === "number") throw new Error(`refused with reason ${r}`);
  return r;
}

/**
 * 400 super-packets from `specOf`: the Wasm split equals the reference split byte for byte, every
 * payload byte arrives once and in order, one segment per gso_size (all full but the last), IPv4
 * IDs count up; `check` validates one segment (its protocol's checks) and returns its payload and
 * ID. Returns how many segments were made.
 */
function splitsMatchReference(seed: number, specOf: (r: () => number, c: number) => SuperSpec,
  check: (seg: Uint8Array, spec: SuperSpec, k: number) => { payload: Uint8Array; id: number }): number {
  const r = prng(seed);
  let segments = 0;
  for (let c = 0; c < 400; c++) {
    const spec = specOf(r, c);
    const { input, payload, hdrs } = makeSuperPacket(r, spec);
    const got = segmentsOf(h.split(input, spec.l3Off));
    const want = segmentsOf(referenceSplit(input, spec.l3Off));
    expect(got.length).toBe(want.length);
    for (let k = 0; k < got.length; k++) {
      if (bytesToHex(got[k]!) !== bytesToHex(want[k]!)) throw new Error(`case ${c} segment ${k} differs: ${JSON.stringify(spec, (_, v) => (v instanceof Uint8Array ? bytesToHex(v) : v))}`);
    }
    const facts = got.map((seg, k) => check(seg, spec, k));
    // every payload byte once, in order
    expect(Buffer.concat(facts.map((f) => f.payload)).equals(Buffer.from(payload))).toBe(true);
    expect(got.length).toBe(Math.max(1, Math.ceil(spec.payloadLen / spec.gsoSize)));
    facts.forEach((f, k) => {
      if (!spec.v6) expect(f.id).toBe((spec.id + k) & 0xffff);
      if (k < got.length - 1) expect(got[k]!.length).toBe(hdrs + spec.gsoSize);
    });
    segments += got.length;
  }
  return segments;
}

describe("tsoSplit: a worked example", () => {
  it("splits 3000 bytes of IPv4 TCP at gso_size 1448 into 1448 + 1448 + 104 (seq, ID, lengths, flags, checksums)", () => {
    const r = prng(1);
    const spec = randomSuperSpec(r, { v6: false, l3Off: 0, payloadLen: 3000, gsoSize: 1448, tcpFlags: 0x19 /* FIN PSH ACK */, tcpOptions: new Uint8Array(0), ipOptions: new Uint8Array(0), csum: "needs", id: 0xfffe, seq: 0xfffffc00, df: true });
    const { input, payload } = makeSuperPacket(r, spec);
    const segs = segmentsOf(h.split(input, 0));
    expect(segs.map((s) => s.length)).toEqual([1488, 1488, 144]);
    const facts = segs.map((s) => checkSegment(s, 0, false));
    expect(facts.map((f) => f.seq)).toEqual([0xfffffc00, (0xfffffc00 + 1448) >>> 0, (0xfffffc00 + 2896) >>> 0]);
    expect(facts.map((f) => f.id)).toEqual([0xfffe, 0xffff, 0x0000]); // IDs increment and wrap
    expect(facts.map((f) => f.flags)).toEqual([0x10, 0x10, 0x19]); // FIN and PSH only on the last
    expect(Buffer.concat(facts.map((f) => f.payload))).toEqual(Buffer.from(payload));
    expect(segs).toEqual(segmentsOf(referenceSplit(input, 0)));
  });

  it("keeps CWR on the first segment only, and IPv6 extension headers on every segment", () => {
    const r = prng(2);
    const spec = randomSuperSpec(r, { v6: true, l3Off: 14, payloadLen: 4000, gsoSize: 1000, tcpFlags: 0x98 /* CWR PSH ACK */, csum: "valid", ecn: true,
      ipv6Ext: [{ type: 0, bytes: Uint8Array.from([0, 0, 1, 4, 0, 0, 0, 0]) }, { type: 60, bytes: Uint8Array.from([0, 0, 1, 4, 0, 0, 0, 0]) }] });
    const { input } = makeSuperPacket(r, spec);
    const segs = segmentsOf(h.split(input, 14));
    expect(segs.length).toBe(4);
    expect(segs.map((s) => checkSegment(s, 14, true).flags)).toEqual([0x90, 0x10, 0x10, 0x18]);
    for (const s of segs) expect(bytesToHex(s.subarray(0, 14))).toBe(bytesToHex(input.subarray(VNET_LEN, VNET_LEN + 14)));
    expect(segs).toEqual(segmentsOf(referenceSplit(input, 14)));
  });

  it("a super-packet whose payload fits one segment, and one with no payload, give one segment", () => {
    const r = prng(3);
    for (const payloadLen of [0, 1, 1448]) {
      const { input } = makeSuperPacket(r, randomSuperSpec(r, { payloadLen, gsoSize: 1448 }));
      const segs = segmentsOf(h.split(input, input[VNET_LEN]! >> 4 === 4 || input[VNET_LEN]! >> 4 === 6 ? 0 : 14));
      expect(segs.length).toBe(1);
    }
  });
});

describe("tsoSplit: differential against the reference", () => {
  it("random IPv4/IPv6 super-packets (options, timestamps, gso_size 500..1460, up to 64 KiB, NEEDS_CSUM / DATA_VALID / none, TUN and TAP)", () => {
    const segments = splitsMatchReference(0x75e1, (r) => randomSuperSpec(r), (seg, spec, k) => {
      const f = checkSegment(seg, spec.l3Off, spec.v6);
      expect(f.seq).toBe((spec.seq + k * spec.gsoSize) >>> 0);
      return f;
    });
    expect(segments).toBeGreaterThan(8000);
  });
});

describe("USO (GSO_UDP_L4) split", () => {
  it("splits a 3000-byte IPv4 datagram at gso_size 1200 into 1200 + 1200 + 600 datagrams (lengths, IDs, checksums)", () => {
    const r = prng(11);
    const spec = randomSuperSpec(r, { udp: true, v6: false, l3Off: 0, payloadLen: 3000, gsoSize: 1200, ipOptions: new Uint8Array(0), csum: "needs", id: 0xffff, df: false });
    const { input, payload } = makeSuperPacket(r, spec);
    expect(input[1]).toBe(GsoType.UdpL4);
    const segs = segmentsOf(h.split(input, 0));
    expect(segs.map((s) => s.length)).toEqual([1228, 1228, 628]);
    const facts = segs.map((s) => checkUdpSegment(s, 0, false));
    expect(facts.map((f) => f.id)).toEqual([0xffff, 0, 1]); // inet_gso_segment: ID + k, wrapping
    expect(new Set(facts.map((f) => f.ports)).size).toBe(1);
    expect(Buffer.concat(facts.map((f) => f.payload))).toEqual(Buffer.from(payload));
    expect(segs).toEqual(segmentsOf(referenceSplit(input, 0)));
  });

  it("IPv6 on a TAP with a Destination Options header; payload within one gso_size gives one datagram", () => {
    const r = prng(12);
    const spec = randomSuperSpec(r, { udp: true, v6: true, l3Off: 14, payloadLen: 2500, gsoSize: 1000, csum: "valid",
      ipv6Ext: [{ type: 60, bytes: Uint8Array.from([0, 0, 1, 4, 0, 0, 0, 0]) }] });
    const { input, payload } = makeSuperPacket(r, spec);
    const segs = segmentsOf(h.split(input, 14));
    expect(segs.length).toBe(3);
    const facts = segs.map((s) => checkUdpSegment(s, 14, true));
    expect(Buffer.concat(facts.map((f) => f.payload))).toEqual(Buffer.from(payload));
    for (const s of segs) expect(bytesToHex(s.subarray(0, 14))).toBe(bytesToHex(input.subarray(VNET_LEN, VNET_LEN + 14)));
    expect(segs).toEqual(segmentsOf(referenceSplit(input, 14)));
    for (const payloadLen of [0, 1, 1000]) {
      const one = makeSuperPacket(r, { ...spec, payloadLen }).input;
      const got = segmentsOf(h.split(one, 14));
      expect(got.length).toBe(1);
      expect(checkUdpSegment(got[0]!, 14, true).payload.length).toBe(payloadLen);
    }
  });

  it("a segment whose UDP checksum computes to 0 carries 0xffff (RFC 768)", () => {
    // IPv4, one 2-byte segment after a first of 2 bytes: tune the second segment's payload word
    // so that its checksum is 0. The sum without the payload word w, then w = ~rest.
    const r = prng(13);
    const spec = randomSuperSpec(r, { udp: true, v6: false, l3Off: 0, payloadLen: 4, gsoSize: 2, ipOptions: new Uint8Array(0), csum: "needs" });
    const base = makeSuperPacket(r, spec);
    const seg1 = segmentsOf(referenceSplit(base.input, 0))[1]!;
    const ps = pseudoHeaderSum4(seg1.subarray(12, 16), seg1.subarray(16, 20), 17, 10);
    const restNoCsum = onesComplementSum(Uint8Array.from([...seg1.subarray(20, 26), 0, 0]), 0, 8, ps);
    const w = ~restNoCsum & 0xffff;
    const payload = Uint8Array.from([base.payload[0]!, base.payload[1]!, w >> 8, w & 0xff]);
    const ipPkt = buildTcpPacket(spec, payload);
    const psFull = pseudoHeaderSum4(ipPkt.subarray(12, 16), ipPkt.subarray(16, 20), 17, 12);
    ipPkt[26] = onesAdd(psFull) >> 8;
    ipPkt[27] = onesAdd(psFull) & 0xff;
    const input = concatBytes(emitVnet({ flags: VnetFlag.NeedsCsum, gsoType: GsoType.UdpL4, hdrLen: 28, gsoSize: 2, csumStart: 20, csumOffset: 6 }), ipPkt);
    const segs = segmentsOf(h.split(input, 0));
    expect(segs.length).toBe(2);
    expect(be16(segs[1]!, 26)).toBe(0xffff);
    expect(internetChecksum(Uint8Array.from([...segs[1]!.subarray(20, 26), 0, 0, ...segs[1]!.subarray(28)]), 0, 10, ps)).toBe(0);
    checkUdpSegment(segs[1]!, 0, false);
    expect(segs).toEqual(segmentsOf(referenceSplit(input, 0)));
  });

  it("random IPv4/IPv6 datagrams (options, extension headers, gso_size 1..1472, up to 64 KiB, NEEDS_CSUM / DATA_VALID / none, TUN and TAP) against the reference", () => {
    const segments = splitsMatchReference(0x0550, (r, c) => {
      const gsoSize = c % 20 === 0 ? 1 + Math.floor(r() * 64) : 500 + Math.floor(r() * 973);
      return randomSuperSpec(r, { udp: true, gsoSize, payloadLen: c % 20 === 0 ? Math.floor(r() * Math.min(4000, 250 * gsoSize)) : undefined });
    }, (seg, spec) => checkUdpSegment(seg, spec.l3Off, spec.v6));
    expect(segments).toBeGreaterThan(8000);
  });
});

describe("gso_type NONE", () => {
  it("copies the packet; completes a NEEDS_CSUM checksum (TCP and UDP, TUN and TAP); leaves DATA_VALID alone", () => {
    const r = prng(4);
    let n = 0;
    for (let c = 0; c < 200; c++) {
      const v6 = c % 2 === 1;
      const l3Off = c % 4 < 2 ? 0 : 14;
      const udp = c % 3 === 0;
      const len = Math.floor(r() * 1400) + 1;
      const payload = Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
      const ipL = v6
        ? { kind: "ipv6" as const, trafficClass: 0, flowLabel: 0, nextHeader: udp ? 17 : 6, hopLimit: 64, src: "fd00::1", dst: "fd00::2", extHeaders: [] }
        : { kind: "ipv4" as const, tos: 0, id: 7, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: udp ? 17 : 6, src: "10.0.0.1", dst: "10.0.0.2" };
      const l4 = udp ? { kind: "udp" as const, srcPort: 1, dstPort: 2 } : { kind: "tcp" as const, srcPort: 1, dstPort: 2, seq: 5, ack: 6, flags: 0x18, window: 100, urgent: 0 };
      const pkt = build([ipL, l4, { kind: "payload", bytes: payload }]);
      const want = concatBytes(new Uint8Array(l3Off), pkt);
      const ipHl = v6 ? 40 : 20;
      const csumOffset = udp ? 6 : 16;
      const partial = want.slice();
      const l4Len = pkt.length - ipHl;
      const ps = v6 ? pseudoHeaderSum6(pkt.subarray(8, 24), pkt.subarray(24, 40), udp ? 17 : 6, l4Len) : pseudoHeaderSum4(pkt.subarray(12, 16), pkt.subarray(16, 20), udp ? 17 : 6, l4Len);
      partial[l3Off + ipHl + csumOffset] = onesAdd(ps) >> 8;
      partial[l3Off + ipHl + csumOffset + 1] = onesAdd(ps) & 0xff;
      const input = concatBytes(emitVnet({ flags: VnetFlag.NeedsCsum, gsoType: 0, hdrLen: l3Off + ipHl + (udp ? 8 : 20), gsoSize: 0, csumStart: l3Off + ipHl, csumOffset }), partial);
      const segs = segmentsOf(h.split(input, l3Off));
      expect(segs.length).toBe(1);
      const c0 = be16(segs[0]!, l3Off + ipHl + csumOffset);
      const wantC = be16(want, l3Off + ipHl + csumOffset);
      // UDP: build() already sends 0 as 0xffff; TCP: 0 and 0xffff verify alike, Linux's rule sends 0xffff
      expect(c0).toBe(wantC === 0 ? 0xffff : wantC);
      expect(segs).toEqual(segmentsOf(referenceSplit(input, l3Off)));
      // DATA_VALID or no flag: copied as is
      const plain = concatBytes(emitVnet({ flags: c % 2 ? VnetFlag.DataValid : 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 }), want);
      expect(segmentsOf(h.split(plain, l3Off))).toEqual([want]);
      n++;
    }
    expect(n).toBe(200);
  });

  it("a completed checksum of 0 is sent as 0xffff (skb_checksum_help)", () => {
    // A TCP packet whose payload is tuned so that the complete checksum is 0.
    const ip = { kind: "ipv4" as const, tos: 0, id: 1, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 6, src: "10.0.0.1", dst: "10.0.0.2" };
    const payload = new Uint8Array(10);
    const tcp = { kind: "tcp" as const, srcPort: 1, dstPort: 2, seq: 5, ack: 6, flags: 0x18, window: 100, urgent: 0, checksum: 0 };
    const pkt = build([ip, tcp, { kind: "payload", bytes: payload }]);
    const ps = pseudoHeaderSum4(parseIp4("10.0.0.1"), parseIp4("10.0.0.2"), 6, 30);
    // sum over everything with the payload's last word w: make it 0xffff (checksum 0)
    const rest = onesComplementSum(pkt, 20, 30, ps);
    const w = ~rest & 0xffff; // rest + w = 0xffff
    pkt[48] = w >> 8;
    pkt[49] = w & 0xff;
    expect(internetChecksum(pkt, 20, 30, ps)).toBe(0);
    pkt[36] = onesAdd(ps) >> 8;
    pkt[37] = onesAdd(ps) & 0xff;
    const input = concatBytes(emitVnet({ flags: VnetFlag.NeedsCsum, gsoType: 0, hdrLen: 40, gsoSize: 0, csumStart: 20, csumOffset: 16 }), pkt);
    const seg = segmentsOf(h.split(input, 0))[0]!;
    expect(be16(seg, 36)).toBe(0xffff);
    expect(verifyChecksum(seg, 20, 30, ps)).toBe(true);
    expect(segmentsOf(referenceSplit(input, 0))[0]).toEqual(seg);
  });
});

describe("vnet header checks", () => {
  const r = prng(5);
  const base: SuperSpec = randomSuperSpec(r, { v6: false, l3Off: 0, payloadLen: 3000, gsoSize: 1448, csum: "needs", tcpOptions: new Uint8Array(0), ipOptions: new Uint8Array(0) });
  const good = makeSuperPacket(r, base).input;
  const good6 = makeSuperPacket(r, { ...base, v6: true, l3Off: 14 }).input;
  const goodU = makeSuperPacket(r, { ...base, udp: true, ecn: false }).input;
  const goodU6 = makeSuperPacket(r, { ...base, udp: true, ecn: false, v6: true, l3Off: 14 }).input;
  const mutate = (b: Uint8Array, f: (x: Uint8Array) => void) => { const x = b.slice(); f(x); return x; };
  const put16le = (b: Uint8Array, o: number, v: number) => { b[o] = v & 0xff; b[o + 1] = v >> 8; };
  const cases: [string, Uint8Array, number, number][] = [
    ["shorter than the header", good.slice(0, 9), 0, R.VnetTruncated],
    ["shorter than header + link header", good.slice(0, 20), 14, R.VnetTruncated],
    ["unknown flag", mutate(good, (b) => { b[0] = 4; }), 0, R.VnetBadFlags],
    ["NEEDS_CSUM and DATA_VALID", mutate(good, (b) => { b[0] = 3; }), 0, R.VnetBadFlags],
    ["legacy UFO", mutate(good, (b) => { b[1] = GsoType.Udp; }), 0, R.GsoUnsupported],
    ["USO on a TCP packet", mutate(good, (b) => { b[1] = GsoType.UdpL4; }), 0, R.GsoProtoMismatch],
    ["USO with ECN", mutate(goodU, (b) => { b[1] = GsoType.UdpL4 | GsoType.Ecn; }), 0, R.GsoUnsupported],
    ["USO gso_size 0", mutate(goodU, (b) => put16le(b, 4, 0)), 0, R.VnetBadGsoSize],
    ["USO on IP version 5", mutate(goodU, (b) => { b[VNET_LEN] = 0x55; }), 0, R.GsoProtoMismatch],
    ["USO IPv6 behind an IPv4 ethertype", mutate(goodU6, (b) => { b[VNET_LEN + 12] = 0x08; b[VNET_LEN + 13] = 0; }), 14, R.GsoProtoMismatch],
    ["USO IPv6 with TCP next", mutate(goodU6, (b) => { b[VNET_LEN + 14 + 6] = 6; }), 14, R.GsoProtoMismatch],
    ["USO IPv6 fragment header", mutate(goodU6, (b) => { b[VNET_LEN + 14 + 6] = 44; }), 14, R.IpFragment],
    ["USO IPv4 fragment", mutate(goodU, (b) => { b[VNET_LEN + 6] |= 0x20; }), 0, R.IpFragment],
    ["USO IPv4 total length beyond the packet", mutate(goodU, (b) => { b[VNET_LEN + 2] = 0xff; }), 0, R.IpMalformed],
    ["USO UDP length short of the IP payload", mutate(goodU, (b) => { b[VNET_LEN + 20 + 5] -= 1; }), 0, R.UdpMalformed],
    ["USO UDP length beyond the IP payload", mutate(goodU, (b) => { b[VNET_LEN + 20 + 4] += 1; }), 0, R.UdpMalformed],
    ["USO UDP header truncated", mutate(goodU, (b) => { b[VNET_LEN + 2] = 0; b[VNET_LEN + 3] = 24; }), 0, R.UdpMalformed],
    ["USO csum_offset 16 (TCP's)", mutate(goodU, (b) => put16le(b, 8, 16)), 0, R.VnetBadCsum],
    ["USO csum_start not at UDP", mutate(goodU6, (b) => put16le(b, 6, 14 + 40 + 8)), 14, R.VnetBadCsum],
    ["ECN without GSO", mutate(good, (b) => { b[1] = GsoType.Ecn; }), 0, R.GsoUnsupported],
    ["hdr_len beyond the packet", mutate(good, (b) => put16le(b, 2, b.length - 9)), 0, R.VnetBadHdrLen],
    ["csum field beyond the packet", mutate(good, (b) => put16le(b, 8, b.length)), 0, R.VnetBadCsum],
    ["gso_size 0", mutate(good, (b) => put16le(b, 4, 0)), 0, R.VnetBadGsoSize],
    ["TCPV6 on IPv4", mutate(good, (b) => { b[1] = GsoType.TcpV6; }), 0, R.GsoProtoMismatch],
    ["TCPV4 on IPv6", mutate(good6, (b) => { b[1] = GsoType.TcpV4; }), 14, R.GsoProtoMismatch],
    ["ethertype IPv4 on IPv6", mutate(good6, (b) => { b[VNET_LEN + 12] = 0x08; b[VNET_LEN + 13] = 0; }), 14, R.GsoProtoMismatch],
    ["UDP in IPv4", mutate(good, (b) => { b[VNET_LEN + 9] = 17; }), 0, R.GsoProtoMismatch],
    ["IPv4 total length beyond the packet", mutate(good, (b) => { b[VNET_LEN + 2] = 0xff; }), 0, R.IpMalformed],
    ["IPv4 total length 0 (BIG TCP)", mutate(good, (b) => { b[VNET_LEN + 2] = 0; b[VNET_LEN + 3] = 0; }), 0, R.IpMalformed],
    ["IPv4 IHL 4", mutate(good, (b) => { b[VNET_LEN] = 0x44; }), 0, R.IpMalformed],
    ["IPv4 fragment", mutate(good, (b) => { b[VNET_LEN + 6] |= 0x20; }), 0, R.IpFragment],
    ["IPv6 payload length beyond the packet", mutate(good6, (b) => { b[VNET_LEN + 14 + 4] = 0xff; }), 14, R.IpMalformed],
    ["IPv6 fragment header", mutate(good6, (b) => { b[VNET_LEN + 14 + 6] = 44; }), 14, R.IpFragment],
    ["IPv6 routing header", mutate(good6, (b) => { b[VNET_LEN + 14 + 6] = 43; }), 14, R.Ipv6ExtUnsupported],
    ["IPv6 AH", mutate(good6, (b) => { b[VNET_LEN + 14 + 6] = 51; }), 14, R.Ipv6ExtUnsupported],
    ["IPv6 UDP", mutate(good6, (b) => { b[VNET_LEN + 14 + 6] = 17; }), 14, R.GsoProtoMismatch],
    ["TCP data offset 4", mutate(good, (b) => { b[VNET_LEN + 20 + 12] = 0x40; }), 0, R.TcpMalformed],
    ["csum_start not at TCP", mutate(good, (b) => put16le(b, 6, 24)), 0, R.VnetBadCsum],
    ["csum_offset not 16", mutate(good, (b) => put16le(b, 8, 6)), 0, R.VnetBadCsum],
  ];
  it.each(cases)("%s", (_name, input, l3Off, reason) => {
    expect(h.ex.vnetCheck(h.inArea, 0, 0)).toBe(-R.VnetTruncated);
    h.u8.set(input, h.inArea);
    expect(-h.ex.vnetCheck(h.inArea, input.length, l3Off)).toBe(reason);
    expect(h.split(input, l3Off)).toBe(reason);
    expect(referenceSplit(input, l3Off)).toBe(reason);
    expect(checkVnet(input, l3Off)).toBe(reason);
  });
  it("the unmutated packets pass", () => {
    h.u8.set(good, h.inArea);
    expect(h.ex.vnetCheck(h.inArea, good.length, 0)).toBe(0);
    h.u8.set(good6, h.inArea);
    expect(h.ex.vnetCheck(h.inArea, good6.length, 14)).toBe(0);
    for (const [u, l3] of [[goodU, 0], [goodU6, 14]] as const) {
      h.u8.set(u, h.inArea);
      expect(h.ex.vnetCheck(h.inArea, u.length, l3)).toBe(0);
      expect(segmentsOf(h.split(u, l3)).length).toBe(3);
    }
  });
  it("too many segments and slots too small are refused before anything is written", () => {
    expect(h.split(good, 0, 2)).toBe(R.TooManySegments);
    expect(referenceSplit(good, 0, 2)).toBe(R.TooManySegments);
    expect(h.split(good, 0, 3, 1487)).toBe(R.OutputTooSmall);
    expect(referenceSplit(good, 0, 3, 1487)).toBe(R.OutputTooSmall);
    expect(segmentsOf(h.split(good, 0, 3, 1488)).length).toBe(3);
  });
  it("descriptors outside memory are refused (-1)", () => {
    const memBytes = h.ex.memory.buffer.byteLength;
    expect(h.ex.tsoSplit(memBytes - 10, 20, 0, h.outOffs, h.outLens, 4, 2048)).toBe(-R.BadDescriptor);
    expect(h.ex.tsoSplit(-5, 20, 0, h.outOffs, h.outLens, 4, 2048)).toBe(-R.BadDescriptor);
    expect(h.ex.tsoSplit(h.inArea, good.length, 0, memBytes - 8, h.outLens, 4, 2048)).toBe(-R.BadDescriptor);
    expect(h.ex.tsoSplit(h.inArea, good.length, 65, h.outOffs, h.outLens, 4, 2048)).toBe(-R.BadDescriptor);
    // an output offset near the end of memory
    h.u8.set(good, h.inArea);
    h.u32[h.outOffs >> 2] = memBytes - 100;
    expect(h.ex.tsoSplit(h.inArea, good.length, 0, h.outOffs, h.outLens, 4, 2048)).toBe(-R.BadDescriptor);
  });
});

describe("tsoSplitBatch", () => {
  it("splits in order into consecutive entries, reports per-input results, defers what does not fit", () => {
    const r = prng(6);
    const inputs: Uint8Array[] = [];
    const l3s: number[] = [];
    for (let i = 0; i < 6; i++) {
      const spec = randomSuperSpec(r, { l3Off: 0, payloadLen: 5000 + i * 1000, gsoSize: 1000 });
      inputs.push(makeSuperPacket(r, spec).input);
      l3s.push(0);
    }
    inputs[2] = inputs[2]!.slice(0, 5); // refused: truncated
    h.placeInputs(inputs);
    const u32 = h.u32;
    for (let k = 0; k < 20; k++) u32[(h.outOffs >> 2) + k] = h.segOffset(k);
    const before = h.counters();
    // 5 + 6 + (refused) + 8 = 19 entries fit into 20; the 9-segment one is deferred
    const used = h.ex.tsoSplitBatch(h.inOffs, h.inLens, inputs.length, 0, h.outOffs, h.outLens, 20, 4000, h.results);
    expect(used).toBe(19);
    const res = Array.from(h.i32.subarray(h.results >> 2, (h.results >> 2) + 6));
    expect(res).toEqual([5, 6, -R.VnetTruncated, 8, 0, 0]);
    const after = h.counters();
    expect(after[R.VnetTruncated]! - before[R.VnetTruncated]!).toBe(1n);
    expect(after[OFFLOAD_REASON_COUNT + OffloadEvent.SplitSegments]! - before[OFFLOAD_REASON_COUNT + OffloadEvent.SplitSegments]!).toBe(19n);
    // the segments equal the reference's, in order
    const want = [0, 1, 3].flatMap((i) => segmentsOf(referenceSplit(inputs[i]!, 0)));
    for (let k = 0; k < 19; k++) {
      const o = u32[(h.outOffs >> 2) + k]!;
      expect(h.u8.slice(o, o + u32[(h.outLens >> 2) + k]!)).toEqual(want[k]);
    }
    // a single input needing more entries than a whole call has is refused, not deferred
    h.placeInputs([inputs[5]!]);
    expect(h.ex.tsoSplitBatch(h.inOffs, h.inLens, 1, 0, h.outOffs, h.outLens, 5, 4000, h.results)).toBe(0);
    expect(h.i32[h.results >> 2]).toBe(-R.TooManySegments);
  });
});

describe("counters", () => {
  it("count refusals by reason and split events", () => {
    expect(h.ex.offloadReasonCount()).toBe(OFFLOAD_REASON_COUNT);
    expect(h.ex.vnetHeaderLen()).toBe(VNET_LEN);
    const r = prng(7);
    const before = h.counters();
    const { input } = makeSuperPacket(r, randomSuperSpec(r, { l3Off: 0, payloadLen: 2000, gsoSize: 1000 }));
    segmentsOf(h.split(input, 0));
    h.split(input.slice(0, 3), 0);
    const after = h.counters();
    const d = (i: number) => Number(after[i]! - before[i]!);
    expect(d(OFFLOAD_REASON_COUNT + OffloadEvent.SplitGso)).toBe(1);
    expect(d(OFFLOAD_REASON_COUNT + OffloadEvent.SplitSegments)).toBe(2);
    expect(d(R.VnetTruncated)).toBe(1);
    expect(d(OFFLOAD_REASON_COUNT + OffloadEvent.SplitUso)).toBe(0);
    const uso = makeSuperPacket(r, randomSuperSpec(r, { udp: true, l3Off: 0, payloadLen: 2500, gsoSize: 1000 })).input;
    segmentsOf(h.split(uso, 0));
    const mutated = uso.slice();
    mutated[VNET_LEN + (mutated[VNET_LEN]! >> 4 === 4 ? 20 + ((mutated[VNET_LEN]! & 15) * 4 - 20) : 40) + 5]! ^= 1; // UDP length
    expect(h.split(mutated, 0)).toBe(R.UdpMalformed);
    const after2 = h.counters();
    const d2 = (i: number) => Number(after2[i]! - after[i]!);
    expect(d2(OFFLOAD_REASON_COUNT + OffloadEvent.SplitUso)).toBe(1);
    expect(d2(OFFLOAD_REASON_COUNT + OffloadEvent.SplitGso)).toBe(1);
    expect(d2(OFFLOAD_REASON_COUNT + OffloadEvent.SplitSegments)).toBe(3);
    expect(d2(R.UdpMalformed)).toBe(1);
  });
});
