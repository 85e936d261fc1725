// The Wasm pipeline, packet by packet: what each kind of input becomes. Frames are built by
// test/helpers/frames.ts (byte-by-byte checksums), independent of assembly/.
import { describe, it, expect, beforeEach } from "vitest";
import { makeNode, runOne, NODE, POD_A, POD_B, PEER4, PEER6 } from "./helpers/node.ts";
import * as F from "./helpers/frames.ts";
import { PORT_HOST, PORT_UNDERLAY } from "../host/wasm/abi.ts";
import { parseIp, parseMac, formatIp, formatMac } from "../host/net/addr.ts";
import type { Dataplane } from "../host/wasm/dataplane.ts";

const R = NODE.routerMac;
let dp: Dataplane;
beforeEach(() => { dp = makeNode(); });

const fromA4 = (dst: string, proto: number, payload: Uint8Array, o: F.Ip4Opts = {}) =>
  F.eth(R, POD_A.mac, 0x0800, F.ipv4(POD_A.ipv4, dst, proto, payload, o));
const fromA6 = (dst: string, nh: number, payload: Uint8Array, hl = 64) =>
  F.eth(R, POD_A.mac, 0x86dd, F.ipv6(POD_A.ipv6, dst, nh, payload, hl));

function ipv4HeaderValid(ip: Uint8Array): boolean { return F.checksum(ip.subarray(0, (ip[0]! & 15) * 4)) === 0; }

describe("pod ingress", () => {
  it("answers ARP for the gateway with the router MAC", () => {
    const { result, out } = runOne(dp, F.eth("ff:ff:ff:ff:ff:ff", POD_A.mac, 0x0806, F.arpRequest(POD_A.mac, POD_A.ipv4, NODE.gateway4!)), POD_A.port);
    expect(result.verdict).toBe("deliver");
    expect(out).toHaveLength(1);
    const r = out[0]!.bytes;
    expect(out[0]!.port).toBe(POD_A.port);
    expect(formatMac(r.subarray(0, 6))).toBe(POD_A.mac);
    expect(formatMac(r.subarray(6, 12))).toBe(R);
    expect(F.be16(r, 20)).toBe(2); // reply
    expect(formatMac(r.subarray(22, 28))).toBe(R);
    expect(formatIp(r.subarray(28, 32))).toBe(NODE.gateway4);
    expect(formatMac(r.subarray(32, 38))).toBe(POD_A.mac);
    expect(formatIp(r.subarray(38, 42))).toBe(POD_A.ipv4);
    expect(dp.counters().events.arpReplies).toBe(1n);
  });

  it("does not answer ARP for other addresses, nor gratuitous ARP", () => {
    expect(runOne(dp, F.eth("ff:ff:ff:ff:ff:ff", POD_A.mac, 0x0806, F.arpRequest(POD_A.mac, POD_A.ipv4, "10.244.1.3")), POD_A.port).result.reason).toBe("ArpNotForGateway");
    expect(runOne(dp, F.eth("ff:ff:ff:ff:ff:ff", POD_A.mac, 0x0806, F.arpRequest(POD_A.mac, "0.0.0.0", POD_A.ipv4)), POD_A.port).result.reason).toBe("ArpNotForGateway");
  });

  it("answers a neighbour solicitation for the IPv6 gateway, not DAD", () => {
    const sn = "ff02::1:ff00:1";
    const ns = F.icmp6(POD_A.ipv6, sn, 135, 0, F.nsBody(NODE.gateway6!, POD_A.mac));
    const { result, out } = runOne(dp, F.eth("33:33:ff:00:00:01", POD_A.mac, 0x86dd, F.ipv6(POD_A.ipv6, sn, 58, ns, 255)), POD_A.port);
    expect(result.verdict).toBe("deliver");
    const na = out[0]!.bytes;
    expect(formatMac(na.subarray(0, 6))).toBe(POD_A.mac);
    const ip = na.subarray(14);
    expect(ip[6]).toBe(58);
    expect(ip[7]).toBe(255);
    expect(formatIp(ip.subarray(8, 24))).toBe(NODE.gateway6);
    expect(formatIp(ip.subarray(24, 40))).toBe(POD_A.ipv6);
    const icmp = ip.subarray(40);
    expect(icmp[0]).toBe(136);
    expect(icmp[4]! & 0xe0).toBe(0xe0); // R, S, O
    expect(formatIp(icmp.subarray(8, 24))).toBe(NODE.gateway6);
    expect(formatMac(icmp.subarray(26, 32))).toBe(R);
    // checksum over the pseudo-header
    const pseudo = F.concat(ip.subarray(8, 40), Uint8Array.of(0, 0, 0, icmp.length, 0, 0, 0, 58));
    expect(F.checksum(icmp, F.sum16(pseudo))).toBe(0);
    // DAD (source ::) for the pod's own address goes unanswered
    const dad = F.icmp6("::", sn, 135, 0, F.nsBody(POD_A.ipv6));
    expect(runOne(dp, F.eth("33:33:ff:00:00:02", POD_A.mac, 0x86dd, F.ipv6("::", sn, 58, dad, 255)), POD_A.port).result.reason).toBe("NdpIgnored");
  });

  it("drops spoofed source MAC and IP", () => {
    expect(runOne(dp, F.eth(R, "02:aa:00:00:00:99", 0x0800, F.ipv4(POD_A.ipv4, POD_B.ipv4, 17, F.udp(POD_A.ipv4, POD_B.ipv4, 1, 2, new Uint8Array(4)))), POD_A.port).result.reason).toBe("SpoofedMac");
    expect(runOne(dp, F.eth(R, POD_A.mac, 0x0800, F.ipv4(POD_B.ipv4, POD_B.ipv4, 17, F.udp(POD_B.ipv4, POD_B.ipv4, 1, 2, new Uint8Array(4)))), POD_A.port).result.reason).toBe("SpoofedIp");
    expect(runOne(dp, F.eth(R, POD_A.mac, 0x86dd, F.ipv6(POD_B.ipv6, PEER4.cidr6.replace("/64", "5"), 17, new Uint8Array(8))), POD_A.port).result.reason).toBe("SpoofedIp");
    expect(dp.counters().drops.SpoofedIp).toBe(2n);
  });

  it("delivers pod to pod on the same node with rewritten MACs and TTL - 1", () => {
    const { result, out } = runOne(dp, fromA4(POD_B.ipv4, 17, F.udp(POD_A.ipv4, POD_B.ipv4, 1000, 2000, F.concat(new Uint8Array(30)))), POD_A.port);
    expect(result).toMatchObject({ verdict: "deliver", port: POD_B.port });
    const f = out[0]!.bytes;
    expect(out[0]!.port).toBe(POD_B.port);
    expect(formatMac(f.subarray(0, 6))).toBe(POD_B.mac);
    expect(formatMac(f.subarray(6, 12))).toBe(R);
    expect(f[14 + 8]).toBe(63);
    expect(ipv4HeaderValid(f.subarray(14))).toBe(true);
    const pc = dp.counters().ports;
    expect(pc[POD_A.port]).toMatchObject({ rxPackets: 1n, rxBytes: BigInt(f.length), txPackets: 0n });
    expect(pc[POD_B.port]).toMatchObject({ txPackets: 1n, txBytes: BigInt(f.length), rxPackets: 0n });
    const r6 = runOne(dp, fromA6(POD_B.ipv6, 17, F.udp(POD_A.ipv6, POD_B.ipv6, 1, 2, new Uint8Array(10))), POD_A.port);
    expect(r6.result).toMatchObject({ verdict: "deliver", port: POD_B.port });
    expect(r6.out[0]!.bytes[14 + 7]).toBe(63);
  });

  it("delivers traffic for the node's own addresses to the host port without the link header", () => {
    const pkt = F.ipv4(POD_A.ipv4, NODE.gateway4!, 1, F.icmpEcho());
    const { result, out } = runOne(dp, F.eth(R, POD_A.mac, 0x0800, pkt), POD_A.port);
    expect(result).toMatchObject({ verdict: "deliver", port: PORT_HOST });
    expect(out[0]!.bytes).toEqual(pkt); // no TTL decrement for local delivery
  });
});

describe("encapsulation", () => {
  function checkVxlan4(outer: Uint8Array, innerLen: number) {
    expect(outer[0]).toBe(0x45);
    expect(ipv4HeaderValid(outer)).toBe(true);
    expect(F.be16(outer, 2)).toBe(outer.length);
    expect(F.be16(outer, 6) & 0x4000).toBe(0); // DF clear, as the kernel's VXLAN sends it
    expect(outer[8]).toBe(64);
    expect(outer[9]).toBe(17);
    expect(formatIp(outer.subarray(12, 16))).toBe(NODE.underlay4);
    expect(formatIp(outer.subarray(16, 20))).toBe(PEER4.underlay);
    const udp = outer.subarray(20);
    expect(F.be16(udp, 0)).toBeGreaterThanOrEqual(32768);
    expect(F.be16(udp, 0)).toBeLessThanOrEqual(60999);
    expect(F.be16(udp, 2)).toBe(8472);
    expect(F.be16(udp, 4)).toBe(udp.length);
    expect(F.be16(udp, 6)).toBe(0);
    expect(udp[8]).toBe(0x08);
    expect(F.be32(udp, 12) >>> 8).toBe(1);
    const inner = udp.subarray(16);
    expect(formatMac(inner.subarray(0, 6))).toBe(PEER4.vtepMac);
    expect(formatMac(inner.subarray(6, 12))).toBe(NODE.vtepMac);
    expect(inner.length).toBe(14 + innerLen);
    return inner;
  }

  it("encapsulates pod traffic to a remote pod CIDR in VXLAN over IPv4 (flannel wire format)", () => {
    const payload = F.udp(POD_A.ipv4, "10.244.2.7", 5000, 53, new Uint8Array(20));
    const { result, out } = runOne(dp, fromA4("10.244.2.7", 17, payload), POD_A.port);
    expect(result).toMatchObject({ verdict: "forward", peer: PEER4.idx, port: PORT_UNDERLAY });
    expect(out[0]!.port).toBe(PORT_UNDERLAY);
    const inner = checkVxlan4(out[0]!.bytes, 20 + payload.length);
    expect(F.be16(inner, 12)).toBe(0x0800);
    expect(inner[14 + 8]).toBe(63);
    expect(ipv4HeaderValid(inner.subarray(14))).toBe(true);
  });

  it("keeps one source port per flow and spreads flows", () => {
    const ports = new Set<number>();
    let first = -1;
    for (let sp = 1000; sp < 1064; sp++) {
      const { out } = runOne(dp, fromA4("10.244.2.7", 17, F.udp(POD_A.ipv4, "10.244.2.7", sp, 53, new Uint8Array(4))), POD_A.port);
      const p = F.be16(out[0]!.bytes, 20);
      ports.add(p);
      if (sp === 1000) first = p;
    }
    const again = runOne(dp, fromA4("10.244.2.7", 17, F.udp(POD_A.ipv4, "10.244.2.7", 1000, 53, new Uint8Array(4))), POD_A.port);
    expect(F.be16(again.out[0]!.bytes, 20)).toBe(first);
    expect(ports.size).toBeGreaterThan(50);
  });

  it("computes the outer UDP checksum when configured over IPv4, and always over IPv6", () => {
    dp = makeNode({ udpChecksum4: true });
    const { out } = runOne(dp, fromA4("10.244.2.7", 17, F.udp(POD_A.ipv4, "10.244.2.7", 1, 2, new Uint8Array(33))), POD_A.port);
    const o = out[0]!.bytes;
    const udp = o.subarray(20);
    const pseudo = F.concat(o.subarray(12, 20), Uint8Array.of(0, 17, udp.length >> 8, udp.length & 0xff));
    expect(F.be16(udp, 6)).not.toBe(0);
    expect(F.checksum(udp, F.sum16(pseudo))).toBe(0);

    const r6 = runOne(dp, fromA6("fd00:10:244:3::9", 6, F.tcpSyn(POD_A.ipv6, "fd00:10:244:3::9", 1, 80)), POD_A.port);
    expect(r6.result).toMatchObject({ verdict: "forward", peer: PEER6.idx });
    const o6 = r6.out[0]!.bytes;
    expect(o6[0]! >> 4).toBe(6);
    expect(formatIp(o6.subarray(8, 24))).toBe(NODE.underlay6);
    expect(formatIp(o6.subarray(24, 40))).toBe(PEER6.underlay);
    const u6 = o6.subarray(40);
    expect(F.be16(o6, 4)).toBe(u6.length);
    const pseudo6 = F.concat(o6.subarray(8, 40), Uint8Array.of(0, 0, u6.length >> 8, u6.length & 0xff, 0, 0, 0, 17));
    expect(F.checksum(u6, F.sum16(pseudo6))).toBe(0);
    expect(formatMac(u6.subarray(16, 22))).toBe(PEER6.vtepMac);
  });

  it("uses Geneve when configured", () => {
    dp = makeNode({ encapsulation: "geneve", port: 6081 });
    const { out } = runOne(dp, fromA4("10.244.2.7", 1, F.icmpEcho()), POD_A.port);
    const udp = out[0]!.bytes.subarray(20);
    expect(F.be16(udp, 2)).toBe(6081);
    expect(udp[8]).toBe(0); // version 0, no options
    expect(F.be16(udp, 10)).toBe(0x6558);
    expect(F.be32(udp, 12) >>> 8).toBe(1);
  });
});

describe("decapsulation", () => {
  const innerTo = (dst: string, src = "10.244.2.7") => F.eth(NODE.vtepMac, PEER4.vtepMac, 0x0800, F.ipv4(src, dst, 17, F.udp(src, dst, 53, 5000, new Uint8Array(12))));
  const outer4 = (inner: Uint8Array, o: { src?: string; dst?: string; vni?: number; flags?: number; port?: number; zero?: boolean } = {}) => {
    const src = o.src ?? PEER4.underlay, dst = o.dst ?? NODE.underlay4!;
    return F.ipv4(src, dst, 17, F.udp(src, dst, 40000, o.port ?? 8472, F.vxlan(o.vni ?? 1, inner, o.flags), o.zero ?? false));
  };

  it("delivers a VXLAN packet from a known peer to the local pod", () => {
    const { result, out } = runOne(dp, outer4(innerTo(POD_A.ipv4)), PORT_UNDERLAY);
    expect(result).toMatchObject({ verdict: "deliver", port: POD_A.port });
    const f = out[0]!.bytes;
    expect(formatMac(f.subarray(0, 6))).toBe(POD_A.mac);
    expect(formatMac(f.subarray(6, 12))).toBe(R);
    expect(f[14 + 8]).toBe(63);
    expect(ipv4HeaderValid(f.subarray(14))).toBe(true);
    expect(dp.counters().peers[PEER4.idx]!.rxPackets).toBe(1n);
  });

  it("accepts a zero UDP checksum over IPv4 and rejects a wrong one", () => {
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4), { zero: true }), PORT_UNDERLAY).result.verdict).toBe("deliver");
    const bad = outer4(innerTo(POD_A.ipv4));
    bad[27] ^= 0xff;
    expect(runOne(dp, bad, PORT_UNDERLAY).result.reason).toBe("UnderlayBadChecksum");
  });

  it("drops unknown peers, other VNIs, bad flags, other ports and wrong inner MACs, each with its reason", () => {
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4), { src: "192.168.0.99" }), PORT_UNDERLAY).result.reason).toBe("UnknownPeer");
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4), { vni: 2 }), PORT_UNDERLAY).result.reason).toBe("VniMismatch");
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4), { flags: 0 }), PORT_UNDERLAY).result.reason).toBe("VxlanBadFlags");
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4), { port: 4789 }), PORT_UNDERLAY).result.reason).toBe("NotTunnelPort");
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4), { dst: "192.168.0.9" }), PORT_UNDERLAY).result.reason).toBe("UnderlayNotForUs");
    const wrongMac = F.eth("02:00:00:00:00:77", PEER4.vtepMac, 0x0800, F.ipv4("10.244.2.7", POD_A.ipv4, 1, F.icmpEcho()));
    expect(runOne(dp, outer4(wrongMac), PORT_UNDERLAY).result.reason).toBe("InnerBadDstMac");
    // a peer may only send from its own pod CIDRs
    expect(runOne(dp, outer4(innerTo(POD_A.ipv4, "10.244.3.5")), PORT_UNDERLAY).result.reason).toBe("SpoofedIp");
    // a decapsulated packet for another peer is not relayed
    expect(runOne(dp, outer4(innerTo("10.244.3.5")), PORT_UNDERLAY).result.reason).toBe("UnderlayHairpin");
  });

  it("decapsulates over an IPv6 underlay and requires its UDP checksum", () => {
    const inner = F.eth(NODE.vtepMac, PEER6.vtepMac, 0x86dd, F.ipv6("fd00:10:244:3::9", POD_B.ipv6, 59, new Uint8Array(0)));
    const dgram = F.udp(PEER6.underlay, NODE.underlay6!, 40000, 8472, F.vxlan(1, inner));
    const { result, out } = runOne(dp, F.ipv6(PEER6.underlay, NODE.underlay6!, 17, dgram), PORT_UNDERLAY);
    expect(result).toMatchObject({ verdict: "deliver", port: POD_B.port });
    expect(out[0]!.bytes[14 + 7]).toBe(63);
    const zero = F.udp(PEER6.underlay, NODE.underlay6!, 40000, 8472, F.vxlan(1, inner), true);
    expect(runOne(dp, F.ipv6(PEER6.underlay, NODE.underlay6!, 17, zero), PORT_UNDERLAY).result.reason).toBe("UnderlayBadChecksum");
  });

  it("accepts Geneve with non-critical options and drops critical ones", () => {
    dp = makeNode({ encapsulation: "geneve", port: 6081 });
    const inner = innerTo(POD_A.ipv4);
    const opt = Uint8Array.of(0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4); // class 0x0102, type 3, 4 bytes of data
    const g = (options: Uint8Array, flags = 0) => F.ipv4(PEER4.underlay, NODE.underlay4!, 17, F.udp(PEER4.underlay, NODE.underlay4!, 40000, 6081, F.geneve(1, inner, options, flags)));
    expect(runOne(dp, g(opt), PORT_UNDERLAY).result.verdict).toBe("deliver");
    const crit = opt.slice(); crit[2] = 0x83;
    expect(runOne(dp, g(crit), PORT_UNDERLAY).result.reason).toBe("GeneveCriticalOption");
  });
});

describe("TTL, unreachable, MTU and fragments", () => {
  it("answers TTL 1 with ICMP time exceeded from the gateway, quoting the packet", () => {
    const pkt = F.ipv4(POD_A.ipv4, "10.244.2.7", 17, F.udp(POD_A.ipv4, "10.244.2.7", 1, 2, new Uint8Array(4)), { ttl: 1 });
    const { result, out } = runOne(dp, F.eth(R, POD_A.mac, 0x0800, pkt), POD_A.port);
    expect(result).toMatchObject({ verdict: "drop", reason: "TtlExceeded" });
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(POD_A.port);
    const ip = out[0]!.bytes.subarray(14);
    expect(ipv4HeaderValid(ip)).toBe(true);
    expect(formatIp(ip.subarray(12, 16))).toBe(NODE.gateway4);
    expect(formatIp(ip.subarray(16, 20))).toBe(POD_A.ipv4);
    const icmp = ip.subarray(20);
    expect([icmp[0], icmp[1]]).toEqual([11, 0]);
    expect(ip[1]).toBe(0xc0); // RFC 1812 §4.3.2.5
    expect(F.checksum(icmp)).toBe(0);
    expect(icmp.subarray(8)).toEqual(pkt);
  });

  it("answers no route with a rate-limited ICMP unreachable", () => {
    dp = makeNode({ icmpRatePerSec: 1, icmpBurst: 3 });
    const mk = () => F.eth(R, POD_A.mac, 0x0800, F.ipv4(POD_A.ipv4, "172.16.0.1", 1, F.icmpEcho()));
    let sent = 0;
    for (let k = 0; k < 10; k++) {
      dp.putPacket(0, mk(), POD_A.port);
      const n = dp.process(1, 1000);
      expect(dp.result(0).reason).toBe("NoRoute");
      sent += n;
    }
    expect(sent).toBe(3);
    const c = dp.counters();
    expect(c.drops.NoRoute).toBe(10n);
    expect(c.events.icmpRateLimited).toBe(7n);
    dp.putPacket(0, mk(), POD_A.port);
    expect(dp.process(1, 3000)).toBe(1); // refilled
  });

  it("answers an IPv4 DF packet over the tunnel MTU with fragmentation needed carrying the MTU", () => {
    const big = F.ipv4(POD_A.ipv4, "10.244.2.7", 17, F.udp(POD_A.ipv4, "10.244.2.7", 1, 2, new Uint8Array(1500)), { df: true });
    dp = makeNode({ podMtu: 1500, tunnelMtu4: 1450 });
    const { result, out } = runOne(dp, F.eth(R, POD_A.mac, 0x0800, big), POD_A.port);
    expect(result.reason).toBe("FragNeeded");
    const icmp = out[0]!.bytes.subarray(34);
    expect([icmp[0], icmp[1]]).toEqual([3, 4]);
    expect(F.be16(icmp, 6)).toBe(1450);
    expect(out[0]!.bytes.length).toBeLessThanOrEqual(14 + 576);
  });

  it("fragments a 2000-byte IPv4 datagram without DF; the fragments reassemble to the original", () => {
    dp = makeNode({ podMtu: 1500 }, { slotSizeLog2: 12 });
    const data = Uint8Array.from({ length: 1972 }, (_, k) => (k * 7) & 0xff);
    const dgram = F.udp(POD_A.ipv4, "10.244.2.7", 1111, 2222, data);
    const pkt = F.ipv4(POD_A.ipv4, "10.244.2.7", 17, dgram, { id: 0x4242 });
    expect(pkt.length).toBe(2000);
    const { result, out } = runOne(dp, F.eth(R, POD_A.mac, 0x0800, pkt), POD_A.port);
    expect(result.verdict).toBe("forward");
    expect(out.length).toBe(2);
    const sports = new Set<number>();
    const pieces: { off: number; mf: boolean; data: Uint8Array }[] = [];
    for (const o of out) {
      expect(o.bytes.length).toBeLessThanOrEqual(1500);
      sports.add(F.be16(o.bytes, 20));
      const ip = o.bytes.subarray(50);
      expect(ipv4HeaderValid(ip)).toBe(true);
      expect(F.be16(ip, 4)).toBe(0x4242);
      expect(ip[8]).toBe(63);
      const ff = F.be16(ip, 6);
      pieces.push({ off: (ff & 0x1fff) * 8, mf: (ff & 0x2000) !== 0, data: ip.subarray(20, F.be16(ip, 2)) });
      expect(F.be16(ip, 2)).toBeLessThanOrEqual(1450);
    }
    expect(sports.size).toBe(1);
    pieces.sort((a, b) => a.off - b.off);
    expect(pieces.map((p) => p.mf)).toEqual([true, false]);
    const re = new Uint8Array(dgram.length);
    for (const p of pieces) re.set(p.data, p.off);
    expect(re).toEqual(dgram);
    expect(dp.counters().events.fragmentsSent).toBe(2n);
  });

  it("answers an IPv6 packet over the MTU with Packet Too Big", () => {
    dp = makeNode({ podMtu: 1500 });
    const { result, out } = runOne(dp, fromA6("fd00:10:244:3::9", 17, F.udp(POD_A.ipv6, "fd00:10:244:3::9", 1, 2, new Uint8Array(1452))), POD_A.port);
    expect(result.reason).toBe("PacketTooBig");
    const ip = out[0]!.bytes.subarray(14);
    const icmp = ip.subarray(40);
    expect(icmp[0]).toBe(2);
    expect(F.be32(icmp, 4)).toBe(1430);
    expect(ip.length).toBeLessThanOrEqual(1280);
    const pseudo = F.concat(ip.subarray(8, 40), Uint8Array.of(0, 0, icmp.length >> 8, icmp.length & 0xff, 0, 0, 0, 58));
    expect(F.checksum(icmp, F.sum16(pseudo))).toBe(0);
  });

  it("forwards received IPv4 fragments; a later fragment's flow hash ignores ports", () => {
    const frag = F.ipv4(POD_A.ipv4, "10.244.2.7", 17, new Uint8Array(64), { mf: false, fragOffset: 1480 });
    const { result } = runOne(dp, F.eth(R, POD_A.mac, 0x0800, frag), POD_A.port);
    expect(result.verdict).toBe("forward");
  });
});

describe("host port", () => {
  it("routes host-network traffic to pods and peers without NAT", () => {
    const pkt = F.ipv4(NODE.gateway4!, POD_B.ipv4, 1, F.icmpEcho());
    const { result, out } = runOne(dp, pkt, PORT_HOST);
    expect(result).toMatchObject({ verdict: "deliver", port: POD_B.port });
    expect(formatIp(out[0]!.bytes.subarray(14 + 12, 14 + 16))).toBe(NODE.gateway4);
    const r = runOne(dp, F.ipv6(NODE.gateway6!, "fd00:10:244:2::4", 58, new Uint8Array(8)), PORT_HOST);
    expect(r.result).toMatchObject({ verdict: "forward", peer: PEER4.idx });
    expect(runOne(dp, F.ipv4("10.0.0.1", NODE.gateway4!, 1, F.icmpEcho()), PORT_HOST).result.reason).toBe("HostLoop");
  });
});

describe("tables", () => {
  it("routes change between batches: replace, delete, default route, detach", () => {
    const to = (d: string) => runOne(dp, fromA4(d, 1, F.icmpEcho()), POD_A.port).result;
    expect(to("10.244.2.7")).toMatchObject({ verdict: "forward", peer: 0 });
    dp.addRoute("10.244.2.0/24", { kind: "peer", peer: 1 });
    expect(to("10.244.2.7")).toMatchObject({ verdict: "forward", peer: 1 });
    dp.removeRoute("10.244.2.0/24");
    expect(to("10.244.2.7").reason).toBe("NoRoute");
    dp.addRoute("0.0.0.0/0", { kind: "host" });
    expect(to("8.8.8.8")).toMatchObject({ verdict: "deliver", port: PORT_HOST });
    dp.detachPod(POD_B.port);
    expect(to(POD_B.ipv4)).toMatchObject({ verdict: "deliver", port: PORT_HOST });
    expect(dp.lookup(POD_B.ipv4)).toEqual({ kind: "host" });
    dp.removePeer(0);
    dp.addRoute("10.244.9.0/24", { kind: "peer", peer: 0 });
    expect(to("10.244.9.1").reason).toBe("PeerDown");
  });

  it("rejects bad table input with a clear error and keeps the tables", () => {
    expect(() => dp.addRoute("10.244.2.1/24", { kind: "host" })).toThrow(/host bits/);
    expect(() => dp.attachPod(1, { mac: "02:00:00:00:00:09", ipv4: "10.244.1.9" })).toThrow(/out of range/);
    expect(() => dp.setPeer(2, { vtepMac: "02:00:00:00:00:09", underlay: PEER4.underlay })).toThrow(/bad argument/);
    expect(() => dp.configure({ ...NODE, vni: 1 << 24 })).toThrow(/rejected/);
    expect(dp.lookup("10.244.2.7")).toEqual({ kind: "peer", peer: 0 });
  });
});
