// The committed vectors are what they say they are: scapy's decoding of every vector agrees with
// our reference parser, our reference emitter reproduces scapy's bytes (checksums and lengths
// recomputed), and rerunning the generator reproduces the committed file.
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { build, bytesToHex, dissect, find, hexToBytes, withoutChecksums, type Layer } from "./reference/packet.ts";
import { internetChecksum } from "./reference/checksum.ts";
import { VECTORS_DIR, loadScapyVectors, type ScapyVector } from "./vectors/load.ts";
import { describeRequiring } from "./helpers/require.ts";

const vectors = loadScapyVectors();
const first = (v: ScapyVector) => (v.link === "ethernet" ? "eth" : v.link);

/** Our reading of one layer, in the vocabulary gen_scapy.py uses for its `fields`. */
function ourFields(layers: Layer[], key: string): Record<string, unknown> | undefined {
  const [kind, nthStr] = key.split("_");
  const nth = nthStr ? Number(nthStr) - 1 : 0;
  switch (kind) {
    case "eth": {
      const l = find(layers, "eth", nth);
      return l && { dst: l.dst, src: l.src, ethertype: l.ethertype };
    }
    case "arp": {
      const l = find(layers, "arp", nth);
      return l && { op: l.op, senderMac: l.senderMac, senderIp: l.senderIp, targetMac: l.targetMac, targetIp: l.targetIp };
    }
    case "ipv4": {
      const l = find(layers, "ipv4", nth);
      const opts = l?.options ?? new Uint8Array(0);
      return (
        l && {
          headerLength: 20 + opts.length, tos: l.tos, totalLength: l.totalLength, id: l.id, df: l.df, mf: l.mf,
          fragOffset: l.fragOffset, ttl: l.ttl, protocol: l.protocol, checksum: l.checksum, src: l.src, dst: l.dst,
          optionsHex: bytesToHex(opts),
        }
      );
    }
    case "ipv6": {
      const l = find(layers, "ipv6", nth);
      if (!l) return undefined;
      let upperOffset = 40;
      let upper = l.nextHeader;
      for (const e of l.extHeaders) {
        upperOffset += e.type === 44 ? 8 : e.bytes.length;
        upper = e.nextHeader;
      }
      return {
        trafficClass: l.trafficClass, flowLabel: l.flowLabel, payloadLength: l.payloadLength, nextHeader: l.nextHeader,
        hopLimit: l.hopLimit, src: l.src, dst: l.dst, extHeaders: l.extHeaders.map((e) => e.type), upperProtocol: upper, upperOffset,
      };
    }
    case "ipv6frag": {
      const f = find(layers, "ipv6", nth)?.extHeaders.find((e) => e.type === 44);
      return f && f.type === 44 ? { nextHeader: f.nextHeader, fragOffset: f.fragOffset, m: f.more, id: f.id } : undefined;
    }
    case "udp": {
      const l = find(layers, "udp", nth);
      return l && { srcPort: l.srcPort, dstPort: l.dstPort, length: l.length, checksum: l.checksum };
    }
    case "tcp": {
      const l = find(layers, "tcp", nth);
      return (
        l && {
          srcPort: l.srcPort, dstPort: l.dstPort, seq: l.seq, ack: l.ack, dataOffset: 20 + (l.options?.length ?? 0),
          flags: l.flags, window: l.window, checksum: l.checksum, urgent: l.urgent,
        }
      );
    }
    case "icmp": {
      const l = find(layers, "icmp", nth);
      if (!l) return undefined;
      const d: Record<string, unknown> = { type: l.type, code: l.code, checksum: l.checksum };
      if (l.type === 0 || l.type === 8) Object.assign(d, { id: l.rest >>> 16, seq: l.rest & 0xffff });
      if (l.type === 3 && l.code === 4) d.mtu = l.rest & 0xffff;
      return d;
    }
    case "icmpv6": {
      const l = find(layers, "icmpv6", nth);
      if (!l) return undefined;
      const d: Record<string, unknown> = { type: l.type, code: l.code, checksum: l.checksum };
      if (l.type === 128 || l.type === 129) Object.assign(d, { id: l.rest >>> 16, seq: l.rest & 0xffff });
      if (l.type === 2) d.mtu = l.rest;
      if (l.target !== undefined) d.target = l.target;
      if (l.type === 136) Object.assign(d, { router: (l.rest & 0x80000000) !== 0, solicited: (l.rest & 0x40000000) !== 0, override: (l.rest & 0x20000000) !== 0 });
      if (l.options?.length) d.options = l.options.map((o) => ({ type: o.type, length: 8, lladdr: o.lladdr }));
      return d;
    }
    case "vxlan": {
      const l = find(layers, "vxlan", nth);
      return l && { flags: l.flags, vni: l.vni };
    }
    case "geneve": {
      const l = find(layers, "geneve", nth);
      return (
        l && {
          version: l.version, optionsLength: l.options.reduce((n, o) => n + 4 + o.data.length, 0), oam: l.oam, critical: l.critical,
          protocol: l.protocol, vni: l.vni,
          options: l.options.map((o) => ({ class: o.optClass, type: o.type, length: o.data.length, dataHex: bytesToHex(o.data) })),
        }
      );
    }
    case "payload": {
      const l = find(layers, "payload", nth);
      return l && { length: l.bytes.length };
    }
  }
  throw new Error(`unknown field group ${key}`);
}

describe("scapy vectors", () => {
  it("cover every header the brief asks for", () => {
    const names = vectors.map((v) => v.name);
    for (const prefix of ["ethernet/", "arp/", "ipv4/", "ipv6/", "udp/", "tcp/", "icmp/", "icmpv6/", "vxlan/", "geneve/", "ipv4-fragment/"]) {
      expect(names.some((n) => n.startsWith(prefix)), prefix).toBe(true);
    }
    for (const n of ["ipv6/hbh-udp", "ipv6/routing-udp", "ipv6/fragment-udp", "ipv6/dstopts-udp", "icmp/frag-needed-1450", "icmpv6/packet-too-big-1280",
      "icmpv6/ndp-ns", "icmpv6/ndp-na", "icmpv6/time-exceeded", "icmp/time-exceeded-8", "geneve/ipv4-critical-option", "geneve/ipv4-options",
      "ipv4-fragment/first", "ipv4-fragment/middle", "ipv4-fragment/last"]) {
      expect(names).toContain(n);
    }
    for (const v of vectors) expect(v.provenance).toMatch(/^scapy \d/);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const bytes = hexToBytes(v.hex);
      const layers = dissect(bytes, first(v));

      it("our parser agrees with scapy's decoding", () => {
        for (const key of Object.keys(v.fields)) {
          expect(ourFields(layers, key), `${v.name} ${key}`).toEqual(v.fields[key]);
        }
      });

      it("emits the same bytes back", () => {
        expect(bytesToHex(build(layers))).toBe(v.hex);
      });

      it("emits the same bytes with lengths and checksums recomputed", () => {
        // Vectors that deliberately carry a non-computed checksum keep it.
        const keep = v.name.includes("zero-checksum") || v.name.includes("nocsum");
        const stripped = withoutChecksums(layers).map((l, i) => (keep && l.kind === "udp" ? { ...l, checksum: (layers[i] as { checksum?: number }).checksum } : l));
        // A fragment's lengths describe the datagram, not the bytes present: keep them.
        const isFrag = layers.some((l) => (l.kind === "ipv4" && (l.mf || l.fragOffset > 0)) || (l.kind === "ipv6" && l.extHeaders.some((e) => e.type === 44 && (e.more || e.fragOffset > 0))));
        const rebuilt = isFrag ? build(layers.map((l, i) => (l.kind === "ipv4" ? { ...l, checksum: undefined } : layers[i]!))) : build(stripped);
        expect(bytesToHex(rebuilt)).toBe(v.hex);
      });
    });
  }

  it("IPv4 header checksums verify over the header", () => {
    for (const v of vectors) {
      const bytes = hexToBytes(v.hex);
      const off = v.link === "ethernet" ? 14 : 0;
      if ((bytes[off]! >> 4) !== 4) continue;
      const ihl = (bytes[off]! & 0xf) * 4;
      expect(internetChecksum(bytes, off, ihl), v.name).toBe(0);
    }
  });

  it("the three fragments carry exactly the datagram's payload (RFC 791 §3.2)", () => {
    const byName = (n: string) => dissect(hexToBytes(vectors.find((v) => v.name === n)!.hex), "ipv4");
    const whole = byName("ipv4-fragment/whole");
    const wholeIp = hexToBytes(vectors.find((v) => v.name === "ipv4-fragment/whole")!.hex).subarray(20);
    const parts = ["first", "middle", "last"].map((p) => hexToBytes(vectors.find((v) => v.name === `ipv4-fragment/${p}`)!.hex));
    const joined = new Uint8Array(wholeIp.length);
    for (const p of parts) {
      const off = (((p[6]! << 8) | p[7]!) & 0x1fff) * 8;
      joined.set(p.subarray(20), off);
    }
    expect(bytesToHex(joined)).toBe(bytesToHex(wholeIp));
    expect(find(whole, "udp")!.length).toBe(2008);
  });
});

const haveScapy = spawnSync("/usr/bin/python3", ["-c", "import scapy"], { stdio: "ignore" }).status === 0;

describeRequiring(!haveScapy)("the generator reproduces the committed file", () => {
  it("gen_scapy.py output equals scapy.json", () => {
    const out = execFileSync("/usr/bin/python3", [join(VECTORS_DIR, "gen_scapy.py")], { maxBuffer: 64 << 20 }).toString();
    expect(out).toBe(readFileSync(join(VECTORS_DIR, "scapy.json"), "utf8"));
  }, 60000);
});
