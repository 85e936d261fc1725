import { describe, expect, it } from "vitest";
import {
  incrementalUpdate16,
  incrementalUpdate32,
  incrementalUpdateBytes,
  internetChecksum,
  onesAdd,
  onesComplementSum,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  udpWireChecksum,
  verifyChecksum,
} from "./reference/checksum.ts";
import { hexToBytes, parseIp4, parseIp6 } from "./reference/packet.ts";
import { loadRfcVectors, scapyVector } from "./vectors/load.ts";

const rfc = loadRfcVectors();
const h16 = (s: string) => parseInt(s, 16);

describe("RFC 1071 checksum", () => {
  for (const v of rfc.checksum) {
    it(v.name, () => {
      const b = hexToBytes(v.hex);
      expect(onesComplementSum(b)).toBe(h16(v.sum));
      expect(internetChecksum(b)).toBe(h16(v.checksum));
    });
  }

  it("odd length pads with a zero octet on the right", () => {
    expect(onesComplementSum(Uint8Array.from([0x12, 0x34, 0x56]))).toBe(0x1234 + 0x5600);
  });

  it("respects offset and length", () => {
    const b = hexToBytes("ffff0001f203f4f5f6f7ffff");
    expect(internetChecksum(b, 2, 8)).toBe(0x220d);
    expect(() => onesComplementSum(b, 8, 8)).toThrow(RangeError);
  });

  it("a header with its checksum filled in verifies, and the sum is 0xffff", () => {
    const v = scapyVector("ipv4/udp");
    const b = hexToBytes(v.hex);
    expect(verifyChecksum(b, 0, 20)).toBe(true);
    expect(internetChecksum(b, 0, 20)).toBe(0);
    b[8]! -= 1;
    expect(verifyChecksum(b, 0, 20)).toBe(false);
  });
});

describe("pseudo-header sums against scapy's checksums", () => {
  it("IPv4 UDP (RFC 768)", () => {
    const v = scapyVector("ipv4/udp");
    const b = hexToBytes(v.hex);
    const seg = b.subarray(20);
    const ps = pseudoHeaderSum4(b.subarray(12, 16), b.subarray(16, 20), 17, seg.length);
    expect(verifyChecksum(seg, 0, seg.length, ps)).toBe(true);
    const zeroed = seg.slice();
    zeroed[6] = zeroed[7] = 0;
    expect(internetChecksum(zeroed, 0, zeroed.length, ps)).toBe(v.fields.udp!.checksum);
  });

  it("IPv4 TCP with options", () => {
    const v = scapyVector("tcp/ipv4-syn-options");
    const b = hexToBytes(v.hex);
    const seg = b.slice(20);
    seg[16] = seg[17] = 0;
    expect(internetChecksum(seg, 0, seg.length, pseudoHeaderSum4(parseIp4("10.244.1.11"), parseIp4("10.244.2.11"), 6, seg.length))).toBe(v.fields.tcp!.checksum);
  });

  it("IPv6 UDP and ICMPv6 (RFC 8200 §8.1)", () => {
    for (const name of ["ipv6/udp", "icmpv6/echo-reply", "icmpv6/packet-too-big-1280"]) {
      const v = scapyVector(name);
      const b = hexToBytes(v.hex);
      const nh = b[6]!;
      const seg = b.subarray(40);
      expect(verifyChecksum(seg, 0, seg.length, pseudoHeaderSum6(b.subarray(8, 24), b.subarray(24, 40), nh, seg.length)), name).toBe(true);
    }
  });

  it("IPv6 TCP after five extension headers: the pseudo-header length is the upper-layer length", () => {
    const v = scapyVector("ipv6/ext-chain-tcp");
    const b = hexToBytes(v.hex);
    const off = v.fields.ipv6!.upperOffset as number;
    const seg = b.subarray(off);
    expect(verifyChecksum(seg, 0, seg.length, pseudoHeaderSum6(parseIp6("fd00:244:1::11"), parseIp6("fd00:244:2::11"), 6, seg.length))).toBe(true);
  });

  it("UDP: a computed 0 goes on the wire as 0xffff (RFC 768)", () => {
    const v = scapyVector("udp/ipv4-checksum-ffff");
    const b = hexToBytes(v.hex);
    const seg = b.slice(20);
    seg[6] = seg[7] = 0;
    const computed = internetChecksum(seg, 0, seg.length, pseudoHeaderSum4(b.subarray(12, 16), b.subarray(16, 20), 17, seg.length));
    expect(computed).toBe(0);
    expect(udpWireChecksum(computed)).toBe(0xffff);
    expect(v.fields.udp!.checksum).toBe(0xffff);
  });
});

describe("RFC 1624 incremental update (Eqn. 3)", () => {
  for (const v of rfc.incremental) {
    it(v.name, () => {
      expect(incrementalUpdate16(h16(v.hc), h16(v.m), h16(v.mNew))).toBe(h16(v.hcNew));
      if (v.otherSum) {
        // The example's own premise: HC is the checksum over (other + m); recomputation agrees.
        expect(~onesAdd(h16(v.otherSum), h16(v.m)) & 0xffff).toBe(h16(v.hc));
        expect(~onesAdd(h16(v.otherSum), h16(v.mNew)) & 0xffff).toBe(h16(v.hcNew));
      }
      if (v.hcNewEqn2) {
        // RFC 1141's Eqn. 2 (HC + m + ~m') gives -0 where the answer is +0: why Eqn. 3 exists.
        expect(onesAdd(h16(v.hc), h16(v.m), ~h16(v.mNew) & 0xffff)).toBe(h16(v.hcNewEqn2));
      }
    });
  }

  it("TTL decrement on a scapy header equals a full recomputation", () => {
    for (const name of ["ipv4/udp", "ipv4/options-rr-ra", "ipv4/tos-ttl1", "icmp/echo-reply"]) {
      const b = hexToBytes(scapyVector(name).hex);
      const ihl = (b[0]! & 0xf) * 4;
      const hc = (b[10]! << 8) | b[11]!;
      const oldWord = (b[8]! << 8) | b[9]!;
      b[8]! -= 1;
      const newWord = (b[8]! << 8) | b[9]!;
      const inc = incrementalUpdate16(hc, oldWord, newWord);
      b[10] = b[11] = 0;
      expect(inc, name).toBe(internetChecksum(b, 0, ihl));
    }
  });

  it("random rewrites of 16- and 32-bit fields agree with recomputation (modulo ±0)", () => {
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(20).map(() => rnd() & 0xff);
      b[10] = b[11] = 0;
      const hc = internetChecksum(b);
      b[10] = hc >> 8;
      b[11] = hc & 0xff;
      // rewrite the source address (a NAT) with Eqn. 3 over 32 bits
      const oldAddr = ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
      const newAddr = rnd();
      const inc = incrementalUpdate32(hc, oldAddr, newAddr);
      const incBytes = incrementalUpdateBytes(hc, b.slice(12, 16), Uint8Array.from([newAddr >>> 24, (newAddr >>> 16) & 0xff, (newAddr >>> 8) & 0xff, newAddr & 0xff]));
      b[12] = newAddr >>> 24;
      b[13] = (newAddr >>> 16) & 0xff;
      b[14] = (newAddr >>> 8) & 0xff;
      b[15] = newAddr & 0xff;
      b[10] = inc >> 8;
      b[11] = inc & 0xff;
      expect(verifyChecksum(b)).toBe(true);
      expect(incBytes).toBe(inc);
      b[10] = b[11] = 0;
      const full = internetChecksum(b);
      // Eqn. 3 yields the same value as recomputation except that it may give 0xffff for 0x0000
      // only when the data sum is 0 (all-zero header), which random headers never are.
      expect(inc).toBe(full);
    }
  });
});
