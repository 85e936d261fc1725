// The reference model checked against the Linux kernel (captures of its VXLAN data path, set up
// flannel-style), against scapy-built packets, and against the RFC rules it documents.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parsePcap, ipPacketOf } from "../host/pcap/index.ts";
import {
  MODEL_DROP_REASONS,
  PORT_HOST,
  PORT_UNDERLAY,
  encapsulate,
  flowSourcePort,
  fragment4,
  linkLocalOf,
  normalizeUnderlay,
  referenceProcess,
  underlaySourcePort,
  type ModelTables,
} from "./reference/model.ts";
import { build, bytesToHex, dissect, find, hexToBytes, parseEthernet, type Layer } from "./reference/packet.ts";
import { internetChecksum } from "./reference/checksum.ts";
import { KERNEL_DIR, scapyVector } from "./vectors/load.ts";
import { modelTablesFromConfig } from "./reference/tables.ts";
import { parseNodeConfig } from "../host/config/node-config.ts";
import { DROP_REASONS } from "../host/wasm/abi.ts";
import { comparableOutput, wasmReasonName } from "./reference/differential.ts";

const POD_A = "02:00:00:01:00:11";
const GW_A = "02:00:00:01:00:01";
const POD_PORT = 2;

/** Node A of the kernel captures (test/vectors/kernel/PROVENANCE.md), for one address family. */
function nodeA(family: 4 | 6, extra: Partial<ModelTables["node"]> = {}): ModelTables {
  return {
    node: {
      vtepMac: family === 4 ? "02:aa:00:00:01:04" : "02:aa:00:00:01:06",
      routerMac: GW_A,
      underlay4: "10.99.0.1",
      underlay6: "fd00:99::1",
      encap: "vxlan",
      port: 8472,
      vni: 1,
      mtu: { pod: 1500, host: 1500, tunnel4: 1450, tunnel6: 1430 },
      gateway4: "10.244.1.1",
      gateway6: "fd00:244:1::1",
      ...extra,
    },
    pods: [{ name: "a", port: POD_PORT, mac: POD_A, ipv4: "10.244.1.11", ipv6: "fd00:244:1::11" }],
    peers: [
      family === 4
        ? { name: "b", underlay: "10.99.0.2", vtepMac: "02:bb:00:00:02:04", podCIDRs: ["10.244.2.0/24"] }
        : { name: "b", underlay: "fd00:99::2", vtepMac: "02:bb:00:00:02:06", podCIDRs: ["fd00:244:2::/64"] },
    ],
  };
}

function readCapture(name: string) {
  return parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, name)))).records.map((r) => r.data);
}
const hex = bytesToHex;
const isVxlanTo = (ip: Uint8Array, dst: string) => {
  try {
    const ls = dissect(ip, "ip");
    const outer = ls[0] as Extract<Layer, { kind: "ipv4" | "ipv6" }>;
    return outer.dst === dst && find(ls, "udp")?.dstPort === 8472;
  } catch {
    return false;
  }
};
/** Blanks the IP ID and header checksum of an IPv4 packet inside an Ethernet frame (our ICMP errors use ID 0). */
function blankIpId(frame: Uint8Array): string {
  const b = frame.slice();
  if (((b[12]! << 8) | b[13]!) === 0x0800) {
    b[18] = b[19] = b[24] = b[25] = 0;
  } else if (((b[12]! << 8) | b[13]!) === 0x86dd) {
    b[15] &= 0xf0; // flow label: the kernel labels its own ICMPv6, we send 0
    b[16] = b[17] = 0;
  }
  return hex(b);
}

const VARIANTS = [
  { name: "vxlan4-default", family: 4 as const, extra: {} },
  { name: "vxlan4-udpcsum", family: 4 as const, extra: { udpChecksum4: true } },
  { name: "vxlan4-noudpcsum", family: 4 as const, extra: { udpChecksum4: false } },
  { name: "vxlan6-default", family: 6 as const, extra: {} },
  { name: "vxlan6-zerocsum", family: 6 as const, extra: { acceptZeroChecksum6: true, zeroChecksum6Tx: true } },
];

describe("against the kernel's VXLAN (test/vectors/kernel)", () => {
  for (const v of VARIANTS) {
    describe(v.name, () => {
      const tables = nodeA(v.family, v.extra);
      const podFrames = readCapture(`${v.name}-pod.pcap`);
      const underlay = readCapture(`${v.name}-underlay.pcap`).map((d) => ipPacketOf(1, d)).filter((p) => p !== undefined).map((p) => p!.bytes);
      const ourUnderlay = v.family === 4 ? "10.99.0.1" : "fd00:99::1";
      const peerUnderlay = v.family === 4 ? "10.99.0.2" : "fd00:99::2";
      const sentByA = underlay.filter((p) => isVxlanTo(p, peerUnderlay));
      const receivedByA = underlay.filter((p) => isVxlanTo(p, ourUnderlay));
      const fromPod = podFrames.filter((f) => parseEthernet(f).repr.src === POD_A);
      const toPod = podFrames.filter((f) => parseEthernet(f).repr.src === GW_A);

      it("encap: every frame pod A sent yields exactly the VXLAN packets the kernel sent (less source port, IP ID)", () => {
        const ours: Uint8Array[] = [];
        const ourLocal: Uint8Array[] = [];
        for (const f of fromPod) {
          const r = referenceProcess(tables, POD_PORT, f);
          for (const o of r.outputs) (o.port === PORT_UNDERLAY ? ours : ourLocal).push(o.bytes);
        }
        expect(sentByA.length).toBeGreaterThan(8);
        const norm = (ps: Uint8Array[]) => ps.map((p) => hex(normalizeUnderlay(p))).sort();
        expect(norm(ours)).toEqual(norm(sentByA));
        // Checksum present exactly when the kernel sent one.
        const csumZero = (p: Uint8Array) => {
          const l4 = p[0]! >> 4 === 4 ? 20 : 40;
          return p[l4 + 6] === 0 && p[l4 + 7] === 0;
        };
        expect(ours.map(csumZero)).toEqual(ours.map(() => csumZero(sentByA[0]!)));
        // What we answered locally (ARP/NA, frag-needed/PTB) is what the kernel answered.
        const kernelLocal = new Set(toPod.map(blankIpId));
        for (const o of ourLocal) expect(kernelLocal.has(blankIpId(o)), hex(o).slice(0, 120)).toBe(true);
        expect(ourLocal.length).toBeGreaterThanOrEqual(1); // ARP or NA at least; PTB only where the pod had not yet learned the path MTU
      });

      it("encap: the source port is in 32768..60999 and stable wherever the kernel's is", () => {
        const pairs: { kernel: number; ours: number }[] = [];
        const byNorm = new Map(sentByA.map((p) => [hex(normalizeUnderlay(p)), underlaySourcePort(p)]));
        for (const f of fromPod) {
          for (const o of referenceProcess(tables, POD_PORT, f).outputs) {
            if (o.port !== PORT_UNDERLAY) continue;
            pairs.push({ kernel: byNorm.get(hex(normalizeUnderlay(o.bytes)))!, ours: underlaySourcePort(o.bytes) });
          }
        }
        for (const a of pairs) for (const b of pairs) if (a.kernel === b.kernel) expect(a.ours).toBe(b.ours);
        for (const p of pairs) expect(p.kernel).toBeGreaterThanOrEqual(32768);
        for (const p of pairs) expect(p.kernel).toBeLessThanOrEqual(60999);
      });

      it("decap: every VXLAN packet node A received yields the frame the kernel gave pod A, byte for byte", () => {
        const kernelToPod = new Set(toPod.map(hex));
        expect(receivedByA.length).toBeGreaterThan(5);
        for (const p of receivedByA) {
          const r = referenceProcess(tables, PORT_UNDERLAY, p);
          expect(r.verdict, r.reason).toBe("deliver");
          expect(r.outputs).toHaveLength(1);
          expect(r.outputs[0]!.port).toBe(POD_PORT);
          expect(kernelToPod.has(hex(r.outputs[0]!.bytes)), hex(r.outputs[0]!.bytes).slice(0, 120)).toBe(true);
        }
      });
    });
  }

  it("an IPv6 underlay packet with a zero UDP checksum is refused unless configured (udp6zerocsumrx)", () => {
    const underlay = readCapture("vxlan6-zerocsum-underlay.pcap").map((d) => ipPacketOf(1, d)).filter((p) => p !== undefined).map((p) => p!.bytes);
    const p = underlay.find((x) => isVxlanTo(x, "fd00:99::1"))!;
    expect(referenceProcess(nodeA(6), PORT_UNDERLAY, p)).toMatchObject({ verdict: "drop", reason: "underlay-bad-checksum" });
    expect(referenceProcess(nodeA(6, { acceptZeroChecksum6: true }), PORT_UNDERLAY, p).verdict).toBe("deliver");
  });

  it("encapsulating a captured inner frame reproduces the captured outer headers", () => {
    const underlay = readCapture("vxlan4-default-underlay.pcap").map((d) => ipPacketOf(1, d)!).filter((p) => p && isVxlanTo(p.bytes, "10.99.0.2"));
    for (const { bytes } of underlay) {
      const innerIp = bytes.subarray(20 + 8 + 8 + 14);
      const t = nodeA(4);
      const ours = encapsulate(t.node, t.peers[0]!, innerIp)!;
      expect(hex(normalizeUnderlay(ours))).toBe(hex(normalizeUnderlay(bytes)));
    }
  });
});

describe("against scapy-built packets", () => {
  const t = nodeA(4);
  const frame = (name: string) => hexToBytes(scapyVector(name).hex);

  it("ARP who-has gateway → the reply scapy built", () => {
    const r = referenceProcess(t, POD_PORT, frame("arp/request-gateway"));
    expect(r.verdict).toBe("deliver");
    expect(r.outputs.map((o) => [o.port, hex(o.bytes)])).toEqual([[POD_PORT, scapyVector("arp/reply-gateway").hex]]);
  });

  it("NDP NS for the gateway → the NA scapy built (RFC 4861 §7.2.4)", () => {
    const r = referenceProcess(t, POD_PORT, frame("icmpv6/ndp-ns"));
    expect(r.outputs.map((o) => hex(o.bytes))).toEqual([scapyVector("icmpv6/ndp-na").hex]);
  });

  it("NDP NS for the gateway's EUI-64 link-local address is answered too", () => {
    const ll = linkLocalOf(GW_A);
    expect(ll).toBe("fe80::ff:fe01:1");
    const ns = build([
      { kind: "eth", dst: "33:33:ff:01:00:01", src: POD_A, ethertype: 0x86dd },
      { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: 58, hopLimit: 255, src: "fe80::ff:fe01:11", dst: "ff02::1:ff01:1", extHeaders: [] },
      { kind: "icmpv6", type: 135, code: 0, rest: 0, target: ll, options: [{ type: 1, lladdr: POD_A }] },
    ]);
    const r = referenceProcess(t, POD_PORT, ns);
    expect(r.verdict).toBe("deliver");
    const na = dissect(r.outputs[0]!.bytes, "eth");
    expect(find(na, "icmpv6")).toMatchObject({ type: 136, target: ll });
    expect(find(na, "ipv6")).toMatchObject({ src: ll, dst: "fe80::ff:fe01:11", hopLimit: 255 });
  });

  it("DAD NS for the pod's own address is not ours to answer", () => {
    expect(referenceProcess(t, POD_PORT, frame("icmpv6/ndp-ns-dad"))).toMatchObject({ verdict: "drop", reason: "ndp-ignored" });
  });

  it("DF packet over the tunnel MTU → frag-needed with MTU 1450, as scapy built it (RFC 1191 §4, RFC 1812 §4.3.2.3)", () => {
    // The same 1458-byte DF ping scapy quoted, from pod A
    const big = build([
      { kind: "eth", dst: GW_A, src: POD_A, ethertype: 0x0800 },
      { kind: "ipv4", tos: 0, id: 0, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 1, src: "10.244.1.11", dst: "10.244.2.11" },
      { kind: "icmp", type: 8, code: 0, rest: (0x5e0d << 16) | 1 },
      { kind: "payload", bytes: new Uint8Array(1430) },
    ]);
    const r = referenceProcess(t, POD_PORT, big);
    expect(r).toMatchObject({ verdict: "drop", reason: "frag-needed" });
    const ip = r.outputs[0]!.bytes.subarray(14);
    const want = hexToBytes(scapyVector("icmp/frag-needed-1450").hex);
    // scapy used IP ID 5; ours is 0: compare with ID and header checksum blanked
    const blank = (b: Uint8Array) => {
      const c = b.slice();
      c[4] = c[5] = c[10] = c[11] = 0;
      return hex(c);
    };
    expect(blank(ip)).toBe(blank(want));
    expect(internetChecksum(ip, 0, 20)).toBe(0);
  });

  it("IPv6 over the tunnel MTU → Packet Too Big 1430 quoting up to 1280 bytes, exactly as scapy built it (RFC 4443 §3.2)", () => {
    const big = build([
      { kind: "eth", dst: GW_A, src: POD_A, ethertype: 0x86dd },
      { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: 58, hopLimit: 64, src: "fd00:244:1::11", dst: "fd00:244:2::11", extHeaders: [] },
      { kind: "icmpv6", type: 128, code: 0, rest: (7 << 16) | 1 },
      { kind: "payload", bytes: new Uint8Array(1410) },
    ]);
    const r = referenceProcess(nodeA(6), POD_PORT, big);
    expect(r).toMatchObject({ verdict: "drop", reason: "packet-too-big" });
    expect(hex(r.outputs[0]!.bytes.subarray(14))).toBe(scapyVector("icmpv6/packet-too-big-1430").hex);
  });

  it("TTL 1 → time exceeded quoting the whole datagram (RFC 1812 §5.3.1, §4.3.2.3)", () => {
    const orig = hexToBytes(scapyVector("icmp/time-exceeded-full").hex).subarray(28); // the quoted datagram
    const f = build([{ kind: "eth", dst: GW_A, src: POD_A, ethertype: 0x0800 }, { kind: "payload", bytes: orig }]);
    const r = referenceProcess(t, POD_PORT, f);
    expect(r).toMatchObject({ verdict: "drop", reason: "ttl-exceeded" });
    const ip = r.outputs[0]!.bytes.subarray(14);
    const want = hexToBytes(scapyVector("icmp/time-exceeded-full").hex);
    expect(hex(ip.subarray(20))).toBe(hex(want.subarray(20))); // the ICMP message, checksum included
    expect(find(dissect(ip, "ipv4"), "ipv4")).toMatchObject({ tos: 0xc0, ttl: 64, src: "10.244.1.1", dst: "10.244.1.11" });
  });

  it("hop limit 1 → ICMPv6 time exceeded, exactly as scapy built it (RFC 4443 §3.3)", () => {
    const orig = hexToBytes(scapyVector("icmpv6/time-exceeded").hex).subarray(48);
    const f = build([{ kind: "eth", dst: GW_A, src: POD_A, ethertype: 0x86dd }, { kind: "payload", bytes: orig }]);
    const r = referenceProcess(nodeA(6), POD_PORT, f);
    expect(r).toMatchObject({ verdict: "drop", reason: "ttl-exceeded" });
    expect(hex(r.outputs[0]!.bytes.subarray(14))).toBe(scapyVector("icmpv6/time-exceeded").hex);
  });

  it("IPv4 fragmentation reproduces scapy's fragments (RFC 791 §3.2)", () => {
    const whole = hexToBytes(scapyVector("ipv4-fragment/whole").hex);
    const frags = fragment4(whole, 820);
    expect(frags.map(hex)).toEqual(["first", "middle", "last"].map((p) => scapyVector(`ipv4-fragment/${p}`).hex));
  });

  it("a non-DF datagram over the pod MTU is fragmented on delivery, TTL decremented in each fragment", () => {
    const t2: ModelTables = { ...t, node: { ...t.node, mtu: { pod: 820, host: 1500, tunnel4: 1450, tunnel6: 1430 } } };
    // from the host port to pod A
    const whole = hexToBytes(scapyVector("ipv4-fragment/whole").hex);
    const swapped = build(dissect(whole, "ipv4").map((l) => (l.kind === "ipv4" ? { ...l, src: "10.0.0.1", dst: "10.244.1.11", checksum: undefined } : l.kind === "udp" ? { ...l, checksum: undefined } : l)));
    const r = referenceProcess(t2, PORT_HOST, swapped);
    expect(r.verdict).toBe("deliver");
    expect(r.outputs).toHaveLength(3);
    for (const o of r.outputs) {
      expect(o.port).toBe(POD_PORT);
      const ip = o.bytes.subarray(14);
      expect(ip[8]).toBe(63);
      expect(internetChecksum(ip, 0, 20)).toBe(0);
      expect(ip.length).toBeLessThanOrEqual(820);
    }
  });

  it("VXLAN with reserved flag bits → vxlan-bad-flags; a good one decaps (node B's view)", () => {
    const nodeB: ModelTables = {
      node: { vtepMac: "02:bb:00:00:02:04", routerMac: "02:00:00:02:00:01", underlay4: "10.99.0.2", encap: "vxlan", mtu: 1500, gateway4: "10.244.2.1" },
      pods: [{ name: "b", port: 2, mac: "02:00:00:02:00:11", ipv4: "10.244.2.11" }],
      peers: [{ name: "a", underlay: "10.99.0.1", vtepMac: "02:aa:00:00:01:04", podCIDRs: ["10.244.1.0/24"] }],
    };
    expect(referenceProcess(nodeB, PORT_UNDERLAY, hexToBytes(scapyVector("vxlan/bad-flags").hex))).toMatchObject({ verdict: "drop", reason: "vxlan-bad-flags" });
    const good = referenceProcess(nodeB, PORT_UNDERLAY, hexToBytes(scapyVector("vxlan/ipv4-underlay-nocsum").hex));
    expect(good.verdict).toBe("deliver");
    expect(find(dissect(good.outputs[0]!.bytes, "eth"), "ipv4")!.ttl).toBe(62);
    // wrong VNI
    const t4096 = { ...nodeB, node: { ...nodeB.node, vni: 1 } };
    const vni4096 = hexToBytes(scapyVector("vxlan/vni-4096-port-4789").hex);
    expect(referenceProcess({ ...t4096, node: { ...t4096.node, port: 4789 } }, PORT_UNDERLAY, vni4096).reason).toBe("vni-mismatch");
    expect(referenceProcess(t4096, PORT_UNDERLAY, vni4096).reason).toBe("not-tunnel-port");
    // an unknown underlay source is refused
    const stranger = { ...nodeB, peers: [{ ...nodeB.peers[0]!, underlay: "10.99.0.9" }] };
    expect(referenceProcess(stranger, PORT_UNDERLAY, hexToBytes(scapyVector("vxlan/ipv4-underlay-nocsum").hex)).reason).toBe("unknown-peer");
  });

  it("Geneve (RFC 8926): decaps without options and with non-critical ones; drops a critical option", () => {
    const nodeB: ModelTables = {
      node: { vtepMac: "02:bb:00:00:02:04", routerMac: "02:00:00:02:00:01", underlay4: "10.99.0.2", encap: "geneve", mtu: 1500, gateway4: "10.244.2.1" },
      pods: [{ name: "b", port: 2, mac: "02:00:00:02:00:11", ipv4: "10.244.2.11" }],
      peers: [{ name: "a", underlay: "10.99.0.1", vtepMac: "02:aa:00:00:01:04", podCIDRs: ["10.244.1.0/24"] }],
    };
    expect(referenceProcess(nodeB, PORT_UNDERLAY, hexToBytes(scapyVector("geneve/ipv4-no-options").hex)).verdict).toBe("deliver");
    const withOpts = { ...nodeB, node: { ...nodeB.node, vni: 0x123456 } };
    expect(referenceProcess(withOpts, PORT_UNDERLAY, hexToBytes(scapyVector("geneve/ipv4-options").hex)).verdict).toBe("deliver");
    expect(referenceProcess(nodeB, PORT_UNDERLAY, hexToBytes(scapyVector("geneve/ipv4-critical-option").hex))).toMatchObject({ verdict: "drop", reason: "geneve-critical-option" });
  });

  it("Geneve encap: port 6081, protocol 0x6558, VNI, inner Ethernet VTEP to VTEP", () => {
    const tg: ModelTables = { ...t, node: { ...t.node, encap: "geneve", port: undefined, vni: 7 } };
    const r = referenceProcess(tg, POD_PORT, frame("icmp/echo-request"));
    expect(r.verdict).toBe("forward");
    const ls = dissect(r.outputs[0]!.bytes, "ipv4");
    expect(find(ls, "udp")).toMatchObject({ dstPort: 6081 });
    expect(find(ls, "geneve")).toMatchObject({ version: 0, protocol: 0x6558, vni: 7, options: [], critical: false, oam: false });
    expect(find(ls, "eth")).toMatchObject({ dst: "02:bb:00:00:02:04", src: "02:aa:00:00:01:04" });
    expect(find(ls, "ipv4", 1)!.ttl).toBe(63);
    normalizeUnderlay(r.outputs[0]!.bytes); // valid checksums, port in range
  });
});

describe("rules", () => {
  const t = nodeA(4);
  const ping = (over: Partial<Extract<Layer, { kind: "ipv4" }>> = {}, ethOver: Partial<Extract<Layer, { kind: "eth" }>> = {}) =>
    build([
      { kind: "eth", dst: GW_A, src: POD_A, ethertype: 0x0800, ...ethOver },
      { kind: "ipv4", tos: 0, id: 1, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 1, src: "10.244.1.11", dst: "10.244.2.11", ...over },
      { kind: "icmp", type: 8, code: 0, rest: 0x10001 },
      { kind: "payload", bytes: new Uint8Array(8) },
    ]);

  it("anti-spoofing on pod ports", () => {
    expect(referenceProcess(t, POD_PORT, ping({ src: "10.244.1.12" })).reason).toBe("spoofed-ip");
    expect(referenceProcess(t, POD_PORT, ping({}, { src: "02:00:00:01:00:12" })).reason).toBe("spoofed-mac");
    expect(referenceProcess(t, POD_PORT, ping({}, { dst: "02:00:00:00:00:99" })).reason).toBe("eth-not-for-router");
    expect(referenceProcess(t, 9, ping()).reason).toBe("unknown-port");
  });

  it("no route → ICMP net unreachable to the source (RFC 1812 §5.2.7.1)", () => {
    const r = referenceProcess(t, POD_PORT, ping({ dst: "192.0.2.1" }));
    expect(r.reason).toBe("no-route");
    expect(find(dissect(r.outputs[0]!.bytes, "eth"), "icmp")).toMatchObject({ type: 3, code: 0 });
  });

  it("no ICMP error about an ICMP error (RFC 1812 §4.3.2.7)", () => {
    const err = build([
      { kind: "eth", dst: GW_A, src: POD_A, ethertype: 0x0800 },
      { kind: "ipv4", tos: 0, id: 1, df: false, mf: false, fragOffset: 0, ttl: 1, protocol: 1, src: "10.244.1.11", dst: "10.244.2.11" },
      { kind: "icmp", type: 3, code: 3, rest: 0 },
      { kind: "payload", bytes: new Uint8Array(28) },
    ]);
    expect(referenceProcess(t, POD_PORT, err)).toEqual({ verdict: "drop", reason: "ttl-exceeded", outputs: [] });
  });

  it("a bad IPv4 header checksum is dropped", () => {
    const f = ping();
    f[24]! ^= 0xff;
    expect(referenceProcess(t, POD_PORT, f).reason).toBe("ipv4-bad-checksum");
  });

  it("pod to pod on the same node: delivered, TTL decremented, MACs rewritten", () => {
    const t2: ModelTables = { ...t, pods: [...t.pods, { name: "c", port: 3, mac: "02:00:00:01:00:12", ipv4: "10.244.1.12" }] };
    const r = referenceProcess(t2, POD_PORT, ping({ dst: "10.244.1.12" }));
    expect(r.verdict).toBe("deliver");
    expect(r.outputs[0]!.port).toBe(3);
    const ls = dissect(r.outputs[0]!.bytes, "eth");
    expect(find(ls, "eth")).toMatchObject({ dst: "02:00:00:01:00:12", src: GW_A });
    expect(find(ls, "ipv4")!.ttl).toBe(63);
  });

  it("host port: routes to pods and peers, refuses loops; gateway goes to the host", () => {
    const pkt = ping({ src: "10.0.0.5", dst: "10.244.2.11" }).subarray(14);
    expect(referenceProcess(t, PORT_HOST, pkt).verdict).toBe("forward");
    expect(referenceProcess(t, PORT_HOST, ping({ src: "10.0.0.5", dst: "10.244.1.1" }).subarray(14)).reason).toBe("host-loop");
    expect(referenceProcess(t, POD_PORT, ping({ dst: "10.244.1.1" })).outputs[0]!.port).toBe(PORT_HOST);
  });

  it("a decapsulated packet whose TTL runs out: time exceeded goes back through the tunnel", () => {
    const inner = build([
      { kind: "ipv4", tos: 0, id: 9, df: false, mf: false, fragOffset: 0, ttl: 1, protocol: 17, src: "10.244.2.11", dst: "10.244.1.11" },
      { kind: "udp", srcPort: 1000, dstPort: 2000 },
      { kind: "payload", bytes: new Uint8Array(4) },
    ]);
    const outer = build([
      { kind: "ipv4", tos: 0, id: 1, df: false, mf: false, fragOffset: 0, ttl: 64, protocol: 17, src: "10.99.0.2", dst: "10.99.0.1" },
      { kind: "udp", srcPort: 40000, dstPort: 8472 },
      { kind: "vxlan", flags: 8, vni: 1 },
      { kind: "eth", dst: "02:aa:00:00:01:04", src: "02:bb:00:00:02:04", ethertype: 0x0800 },
      { kind: "payload", bytes: inner },
    ]);
    const r = referenceProcess(t, PORT_UNDERLAY, outer);
    expect(r).toMatchObject({ verdict: "drop", reason: "ttl-exceeded" });
    expect(r.outputs).toHaveLength(1);
    expect(r.outputs[0]).toMatchObject({ port: PORT_UNDERLAY, peer: "b" });
    const ls = dissect(r.outputs[0]!.bytes, "ipv4");
    expect(find(ls, "ipv4")).toMatchObject({ src: "10.99.0.1", dst: "10.99.0.2", ttl: 64, df: false, tos: 0 });
    expect(find(ls, "ipv4", 1)).toMatchObject({ src: "10.244.1.1", dst: "10.244.2.11", ttl: 64 });
    expect(find(ls, "icmp")).toMatchObject({ type: 11, code: 0 });
    expect(bytesToHex(find(ls, "payload")!.bytes)).toBe(bytesToHex(inner));
    // an inner source outside the peer's pod CIDRs is refused
    const spoofed = outer.slice();
    spoofed.set([10, 244, 9, 9], 20 + 8 + 8 + 14 + 12);
    const ip = spoofed.subarray(50);
    ip[10] = ip[11] = 0;
    const c = internetChecksum(ip, 0, 20);
    ip[10] = c >> 8;
    ip[11] = c & 0xff;
    expect(referenceProcess(t, PORT_UNDERLAY, spoofed).reason).toBe("spoofed-ip");
  });

  it("tables built from the router's own node configuration", () => {
    const cfg = parseNodeConfig({
      name: "a", vtepMac: "02:aa:00:00:01:04", routerMac: GW_A,
      underlay: { ipv4: "10.99.0.1", mtu: 1500 }, podCIDRs: ["10.244.1.0/24"],
      peers: [{ name: "b", underlay: "10.99.0.2", vtepMac: "02:bb:00:00:02:04", podCIDRs: ["10.244.2.0/24"] }],
      pods: [{ name: "a", mac: POD_A, ipv4: "10.244.1.11" }],
    });
    const mt = modelTablesFromConfig(cfg);
    expect(mt.pods).toEqual([{ name: "a", port: 2, mac: POD_A, ipv4: "10.244.1.11", ipv6: undefined }]);
    expect(mt.node).toMatchObject({ port: 8472, vni: 1, gateway4: "10.244.1.1", udpChecksum4: false });
    const r = referenceProcess(mt, 2, ping());
    expect(r.verdict).toBe("forward");
    const ls = dissect(r.outputs[0]!.bytes, "ipv4");
    expect(find(ls, "udp")!.checksum).toBe(0); // the config's default: no outer checksum over IPv4
  });

  it("the flow hash is symmetric and stable, and in range", () => {
    const a = ping({ src: "10.244.1.11", dst: "10.244.2.11" }).subarray(14);
    const b = ping({ src: "10.244.2.11", dst: "10.244.1.11" }).subarray(14);
    expect(flowSourcePort(t.node, a)).toBe(flowSourcePort(t.node, b));
    expect(flowSourcePort(t.node, a)).toBeGreaterThanOrEqual(32768);
    expect(flowSourcePort({ ...t.node, sourcePortRange: [1000, 1000] }, a)).toBe(1000);
  });

  it("every model drop reason names a reason of the Wasm drop list", () => {
    for (const r of MODEL_DROP_REASONS) expect(DROP_REASONS as readonly string[], r).toContain(wasmReasonName(r));
  });

  it("comparable outputs ignore our ICMP errors' IP ID and the underlay's implementation-defined fields", () => {
    const r1 = referenceProcess(t, POD_PORT, ping({ ttl: 1 }));
    const other = r1.outputs[0]!.bytes.slice();
    other[18] = 0x12; // IP ID
    expect(comparableOutput(POD_PORT, other)).toBe(comparableOutput(POD_PORT, r1.outputs[0]!.bytes));
    const fwd = referenceProcess(t, POD_PORT, ping()).outputs[0]!.bytes;
    const moved = fwd.slice();
    moved[20] ^= 1; // UDP source port, still in range
    moved[26] = moved[27] = 0; // UDP checksum now stale: zero it, which IPv4 allows
    expect(comparableOutput(PORT_UNDERLAY, moved)).toBe(comparableOutput(PORT_UNDERLAY, fwd));
  });

  it("random bytes on every port never throw and always give one verdict with a known reason", () => {
    let seed = 99;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    const seeds = ["vxlan/ipv4-underlay-nocsum", "icmp/echo-request", "icmpv6/ndp-ns", "arp/request-gateway", "ipv4/udp", "ipv6/ext-chain-tcp"].map((n) => hexToBytes(scapyVector(n).hex));
    const tables = [nodeA(4), nodeA(6), { ...nodeA(4), node: { ...nodeA(4).node, encap: "geneve" as const } }];
    for (let i = 0; i < 4000; i++) {
      const base = seeds[i % seeds.length]!;
      const b = i % 5 === 0 ? Uint8Array.from({ length: rnd() }, rnd) : base.slice(0, Math.max(1, base.length - (rnd() % 8)));
      for (let k = 0; k < 3; k++) if (b.length) b[(rnd() << 8 | rnd()) % b.length] = rnd();
      for (const port of [PORT_HOST, PORT_UNDERLAY, POD_PORT]) {
        const r = referenceProcess(tables[i % 3]!, port, b);
        expect(["deliver", "forward", "drop"]).toContain(r.verdict);
        if (r.verdict === "drop") expect(MODEL_DROP_REASONS).toContain(r.reason);
        else expect(r.reason).toBeUndefined();
      }
    }
  });
});
