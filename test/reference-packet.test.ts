import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parsePcap } from "../host/pcap/index.ts";
import {
  ParseError,
  build,
  bytesToHex,
  dissect,
  find,
  formatIp6,
  hexToBytes,
  parseIp4,
  parseIp6,
  parseIpv6,
  parseMac,
  withoutChecksums,
} from "./reference/packet.ts";
import { KERNEL_DIR, loadScapyVectors, scapyVector } from "./vectors/load.ts";

describe("addresses", () => {
  it("IPv6 text form follows RFC 5952 §4", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:0db8:0000:0001:0001:0001:0001:0001", "2001:db8:0:1:1:1:1:1"], // §4.2.2: one 0 group is not "::"
      ["2001:0000:0000:0001:0000:0000:0000:0001", "2001:0:0:1::1"], // §4.2.3: the longest run
      ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"], // §4.2.3: the first of equal runs
      ["0000:0000:0000:0000:0000:0000:0000:0000", "::"],
      ["0000:0000:0000:0000:0000:0000:0000:0001", "::1"],
      ["fe80:0000:0000:0000:0000:0000:0000:0000", "fe80::"],
      ["FD00:0244:0001:0000:0000:0000:0000:0011", "fd00:244:1::11"], // §4.3: lower case
    ];
    for (const [full, text] of cases) {
      const bytes = hexToBytes(full.replaceAll(":", ""));
      expect(formatIp6(bytes)).toBe(text);
      expect(bytesToHex(parseIp6(text))).toBe(bytesToHex(bytes));
    }
  });

  it("rejects malformed addresses", () => {
    for (const s of ["1::2::3", "1:2:3", "12345::", "g::1", "1:2:3:4:5:6:7:8:9"]) expect(() => parseIp6(s), s).toThrow();
    for (const s of ["1.2.3", "1.2.3.256", "a.b.c.d"]) expect(() => parseIp4(s), s).toThrow();
    for (const s of ["02:00:00:00:00", "02:00:00:00:00:zz"]) expect(() => parseMac(s), s).toThrow();
  });
});

describe("parsing refuses what it must", () => {
  it("every truncation of every scapy vector is a ParseError or a shorter valid parse, never another error", () => {
    for (const v of loadScapyVectors()) {
      const b = hexToBytes(v.hex);
      const first = v.link === "ethernet" ? "eth" : v.link;
      for (let n = 0; n < b.length; n++) {
        try {
          dissect(b.subarray(0, n), first);
        } catch (e) {
          expect(e, `${v.name} cut to ${n}`).toBeInstanceOf(ParseError);
        }
      }
    }
  });

  it("IPv6: hop-by-hop must come first (RFC 8200 §4.3)", () => {
    // DestOpt then HBH
    const v = scapyVector("ipv6/dstopts-udp");
    const b = hexToBytes(v.hex);
    b[6] = 60; // fixed header → DestOpt
    b[40] = 0; // DestOpt → HBH (where the UDP header is)
    expect(() => parseIpv6(b)).toThrow(/hop-by-hop header not first/);
  });

  it("IPv6 non-first fragment: no upper-layer header to parse", () => {
    const p = parseIpv6(hexToBytes(scapyVector("ipv6/fragment-nonfirst").hex));
    expect(p.upperHeaderPresent).toBe(false);
    expect(p.upperProtocol).toBe(17);
    expect(p.upperOffset).toBe(48);
  });

  it("NDP: an option of length 0 is malformed (RFC 4861 §4.6)", () => {
    const b = hexToBytes(scapyVector("icmpv6/ndp-ns").hex);
    b[14 + 40 + 24 + 1] = 0;
    expect(() => dissect(b, "eth")).toThrow(/length 0/);
  });

  it("IPv4 total length beyond the buffer, and IHL < 5", () => {
    const b = hexToBytes(scapyVector("ipv4/udp").hex);
    const long = b.slice();
    long[3]! += 1;
    expect(() => dissect(long, "ipv4")).toThrow(/total length/);
    const short = b.slice();
    short[0] = 0x44;
    expect(() => dissect(short, "ipv4")).toThrow(/IHL/);
  });

  it("Ethernet padding after an IPv4 datagram is not payload", () => {
    const arp = hexToBytes(scapyVector("icmp/echo-request").hex);
    const padded = new Uint8Array(arp.length + 10);
    padded.set(arp);
    const ls = dissect(padded, "eth");
    expect(find(ls, "payload")!.bytes.length).toBe(56);
  });
});

describe("every packet the kernel sent in the captures", () => {
  const files = readdirSync(KERNEL_DIR).filter((f) => f.endsWith(".pcap") && !f.startsWith("any"));
  it("dissects and rebuilds to the same bytes, and to the same bytes with checksums recomputed", () => {
    let n = 0;
    for (const f of files) {
      for (const r of parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, f)))).records) {
        const ls = dissect(r.data, "eth");
        expect(bytesToHex(build(ls)), f).toBe(bytesToHex(r.data));
        const fragmented = ls.some((l) => (l.kind === "ipv4" && (l.mf || l.fragOffset)) || (l.kind === "ipv6" && l.extHeaders.some((e) => e.type === 44)));
        const zeroUdp = ls.some((l) => l.kind === "udp" && l.checksum === 0);
        // Fragments' upper-layer lengths and checksums cover the whole datagram; a zero UDP
        // checksum is a choice, not a computation.
        if (!fragmented && !zeroUdp) {
          expect(bytesToHex(build(withoutChecksums(ls))), f).toBe(bytesToHex(r.data));
        }
        n++;
      }
    }
    expect(n).toBeGreaterThan(200);
  });
});
