// The encap/decap fast paths (assembly/stage/fast.ts) inside full batches: packets they take and
// packets just outside them (each failing one of their checks), mixed in one 256-packet batch,
// must come out exactly as when each runs alone, and the near misses must get the general path's
// verdicts. The differential tests compare single packets against the reference model; this file
// covers what only a batch has: the per-batch state (the last-peer cache, the per-batch config
// constants, the route memos) and fast and general packets interleaved, and that a route change
// between batches takes effect in the next batch.
import { describe, it, expect } from "vitest";
import { makeNode, NODE, POD_A, POD_B, PEER4, PEER6 } from "./helpers/node.ts";
import * as F from "./helpers/frames.ts";
import { PORT_UNDERLAY } from "../host/wasm/abi.ts";
import type { Dataplane } from "../host/wasm/dataplane.ts";

const R = NODE.routerMac;
const PEER4B = { idx: 2, vtepMac: "02:00:00:00:00:04", underlay: "192.168.0.4", cidr4: "10.244.4.0/24", cidr6: "fd00:10:244:4::/64" };

function node(): Dataplane {
  const dp = makeNode();
  dp.setPeer(PEER4B.idx, PEER4B);
  dp.addRoute(PEER4B.cidr4, { kind: "peer", peer: PEER4B.idx });
  // more-specific routes inside peer4's /24, so that the fast paths' route memos (one region per
  // lookup: /18, /24, /30 or /32) see neighbouring regions with other targets
  dp.addRoute("10.244.2.128/25", { kind: "peer", peer: PEER4B.idx });
  dp.addRoute("10.244.2.64/30", { kind: "peer", peer: PEER6.idx });
  dp.addRoute("10.244.2.77/32", { kind: "blackhole" });
  dp.addRoute("10.96.0.0/18", { kind: "peer", peer: PEER4B.idx });
  return dp;
}

interface Case { name: string; port: number; bytes: Uint8Array; flags?: number; want: string }

const udp4 = (src: string, dst: string, sport: number, o: F.Ip4Opts = {}, data = new Uint8Array(18)) =>
  F.ipv4(src, dst, 17, F.udp(src, dst, sport, 53, data), o);
const padded = (b: Uint8Array, extra: number) => { const p = new Uint8Array(b.length + extra); p.set(b); return p; };
const fromPod = (ip: Uint8Array, mac = POD_A.mac, dstMac = R, type = 0x0800) => F.eth(dstMac, mac, type, ip);
const inner = (ip: Uint8Array, peerMac = PEER4.vtepMac, dstMac = NODE.vtepMac) => F.eth(dstMac, peerMac, 0x0800, ip);
function outer(innerFrame: Uint8Array, o: { src?: string; dst?: string; vni?: number; port?: number; zero?: boolean; ip?: F.Ip4Opts } = {}) {
  const src = o.src ?? PEER4.underlay, dst = o.dst ?? NODE.underlay4!;
  return F.ipv4(src, dst, 17, F.udp(src, dst, 40000, o.port ?? 8472, F.vxlan(o.vni ?? 1, innerFrame), o.zero ?? true), o.ip ?? {});
}

/** Packets the fast paths take, and near misses of each of their checks (with the verdict the general path gives). */
function cases(): Case[] {
  const c: Case[] = [];
  const pod = POD_A.port;
  // encap: taken
  c.push({ name: "encap to peer4", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1000)), want: "forward" });
  c.push({ name: "encap to peer4b", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.4.9", 1001)), want: "forward" });
  c.push({ name: "encap TCP SYN", port: pod, bytes: fromPod(F.ipv4(POD_A.ipv4, "10.244.2.10", 6, F.tcpSyn(POD_A.ipv4, "10.244.2.10", 4000, 80))), want: "forward" });
  c.push({ name: "encap ICMP echo", port: pod, bytes: fromPod(F.ipv4(POD_A.ipv4, "10.244.2.11", 1, F.icmpEcho())), want: "forward" });
  c.push({ name: "encap first fragment", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.12", 1002, { mf: true })), want: "forward" });
  c.push({ name: "encap later fragment", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.12", 1002, { fragOffset: 64 })), want: "forward" });
  c.push({ name: "encap with Ethernet padding", port: pod, bytes: padded(fromPod(udp4(POD_A.ipv4, "10.244.2.13", 1003, {}, new Uint8Array(2))), 6), want: "forward" });
  c.push({ name: "encap into a /25 of peer4b", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.200", 1030)), want: "forward" });
  c.push({ name: "encap into a /30 of peer6", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.66", 1031)), want: "forward" });
  c.push({ name: "encap beside the /30", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.68", 1032)), want: "forward" });
  c.push({ name: "encap to a blackholed /32", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.77", 1033)), want: "drop:Blackhole" });
  c.push({ name: "encap to the /18 of peer4b", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.96.33.1", 1034)), want: "forward" });
  c.push({ name: "encap from pod B", port: POD_B.port, bytes: fromPod(udp4(POD_B.ipv4, "10.244.2.14", 1004), POD_B.mac), want: "forward" });
  // encap: near misses
  c.push({ name: "IPv4 options", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1005, { options: new Uint8Array([1, 1, 1, 0]) })), want: "forward" });
  c.push({ name: "TTL 1", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1006, { ttl: 1 })), want: "drop:TtlExceeded" });
  c.push({ name: "bad header checksum", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1007, { badChecksum: true })), want: "drop:Ipv4BadChecksum" });
  c.push({ name: "spoofed source IP", port: pod, bytes: fromPod(udp4(POD_B.ipv4, "10.244.2.9", 1008)), want: "drop:SpoofedIp" });
  c.push({ name: "spoofed source MAC", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1009), POD_B.mac), want: "drop:SpoofedMac" });
  c.push({ name: "not to the router MAC", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1010), POD_A.mac, "02:00:00:00:00:99"), want: "drop:EthNotForRouter" });
  c.push({ name: "broadcast frame", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1011), POD_A.mac, "ff:ff:ff:ff:ff:ff"), want: "drop:MulticastNotRouted" });
  c.push({ name: "over the tunnel MTU, DF", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1012, { df: true }, new Uint8Array(1430))), want: "drop:FragNeeded" });
  c.push({ name: "over the tunnel MTU, no DF", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1013, {}, new Uint8Array(1430))), want: "forward" });
  c.push({ name: "to an IPv6 peer's IPv4 CIDR", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.3.9", 1014)), want: "forward" });
  c.push({ name: "to the local pod B", port: pod, bytes: fromPod(udp4(POD_A.ipv4, POD_B.ipv4, 1015)), want: "deliver" });
  c.push({ name: "to the host", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.1.1", 1016)), want: "deliver" });
  c.push({ name: "no route", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.9.9.9", 1017)), want: "drop:NoRoute" });
  c.push({ name: "multicast destination", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "224.0.0.5", 1018)), want: "drop:MulticastNotRouted" });
  c.push({ name: "martian destination", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "127.0.0.1", 1019)), want: "drop:MartianDestination" });
  c.push({ name: "truncated IPv4", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1020)).slice(0, 30), want: "drop:Ipv4Malformed" });
  c.push({ name: "total length beyond the frame", port: pod, bytes: fromPod(udp4(POD_A.ipv4, "10.244.2.9", 1021)).slice(0, 50), want: "drop:Ipv4Malformed" });
  c.push({ name: "IPv6 from the pod", port: pod, bytes: F.eth(R, POD_A.mac, 0x86dd, F.ipv6(POD_A.ipv6, "fd00:10:244:2::9", 17, F.udp(POD_A.ipv6, "fd00:10:244:2::9", 1, 2, new Uint8Array(8)))), want: "forward" });
  c.push({ name: "ARP for the gateway", port: pod, bytes: F.eth("ff:ff:ff:ff:ff:ff", POD_A.mac, 0x0806, F.arpRequest(POD_A.mac, POD_A.ipv4, "10.244.1.1")), want: "deliver" });
  // decap: taken
  const in4 = (src: string, dst: string, sport: number, o: F.Ip4Opts = {}) => inner(udp4(src, dst, sport, o));
  c.push({ name: "decap from peer4", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2000)), want: "deliver" });
  c.push({ name: "decap from peer4b", port: PORT_UNDERLAY, bytes: outer(inner(udp4("10.244.4.7", POD_B.ipv4, 2001), PEER4B.vtepMac), { src: PEER4B.underlay }), want: "deliver" });
  c.push({ name: "decap, checksum verified by the kernel", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_B.ipv4, 2002), { zero: false }), flags: 1, want: "deliver" });
  // decap: near misses
  c.push({ name: "decap, UDP checksum to verify", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2003), { zero: false }), want: "deliver" });
  const badSum = outer(in4("10.244.2.7", POD_A.ipv4, 2004), { zero: false });
  badSum[27]! ^= 0xff;
  c.push({ name: "decap, wrong UDP checksum", port: PORT_UNDERLAY, bytes: badSum, want: "drop:UnderlayBadChecksum" });
  c.push({ name: "decap, unknown peer", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2005), { src: "192.168.0.99" }), want: "drop:UnknownPeer" });
  c.push({ name: "decap, inner source of the other peer", port: PORT_UNDERLAY, bytes: outer(in4("10.244.4.7", POD_A.ipv4, 2006)), want: "drop:SpoofedIp" });
  c.push({ name: "decap, source in peer4b's /25", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.200", POD_A.ipv4, 2030)), want: "drop:SpoofedIp" });
  c.push({ name: "decap, source in the /30", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.65", POD_A.ipv4, 2031)), want: "drop:SpoofedIp" });
  c.push({ name: "decap, source beside the /30", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.69", POD_A.ipv4, 2032)), want: "deliver" });
  c.push({ name: "decap, blackholed source", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.77", POD_A.ipv4, 2033)), want: "drop:SpoofedIp" });
  c.push({ name: "decap from peer4b, source in its /25", port: PORT_UNDERLAY, bytes: outer(inner(udp4("10.244.2.129", POD_B.ipv4, 2034), PEER4B.vtepMac), { src: PEER4B.underlay }), want: "deliver" });
  c.push({ name: "decap from peer4b, source in its /18", port: PORT_UNDERLAY, bytes: outer(inner(udp4("10.96.40.3", POD_A.ipv4, 2035), PEER4B.vtepMac), { src: PEER4B.underlay }), want: "deliver" });
  c.push({ name: "decap, other VNI", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2007), { vni: 2 }), want: "drop:VniMismatch" });
  c.push({ name: "decap, other port", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2008), { port: 4789 }), want: "drop:NotTunnelPort" });
  c.push({ name: "decap, not for us", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2009), { dst: "192.168.0.9" }), want: "drop:UnderlayNotForUs" });
  c.push({ name: "decap, outer fragment", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2010), { ip: { mf: true } }), want: "drop:UnderlayFragment" });
  c.push({ name: "decap, outer options", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2011), { ip: { options: new Uint8Array([1, 1, 1, 0]) } }), want: "deliver" });
  c.push({ name: "decap, inner TTL 1", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2012, { ttl: 1 })), want: "drop:TtlExceeded" });
  c.push({ name: "decap, inner options", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2013, { options: new Uint8Array([1, 1, 1, 0]) })), want: "deliver" });
  c.push({ name: "decap, inner bad checksum", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2014, { badChecksum: true })), want: "drop:Ipv4BadChecksum" });
  c.push({ name: "decap, wrong inner MAC", port: PORT_UNDERLAY, bytes: outer(inner(udp4("10.244.2.7", POD_A.ipv4, 2015), PEER4.vtepMac, "02:00:00:00:00:77")), want: "drop:InnerBadDstMac" });
  c.push({ name: "decap, to the host", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", "10.244.1.1", 2016)), want: "deliver" });
  c.push({ name: "decap, hairpin", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", "10.244.4.1", 2017)), want: "drop:UnderlayHairpin" });
  c.push({ name: "decap, detached pod address", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", "10.244.1.77", 2018)), want: "drop:NoRoute" });
  c.push({ name: "decap, over the pod MTU, DF", port: PORT_UNDERLAY, bytes: outer(inner(udp4("10.244.2.7", POD_A.ipv4, 2019, { df: true }, new Uint8Array(1430)))), want: "drop:FragNeeded" });
  c.push({ name: "decap, IPv6 inner", port: PORT_UNDERLAY, bytes: outer(F.eth(NODE.vtepMac, PEER4.vtepMac, 0x86dd, F.ipv6("fd00:10:244:2::7", POD_A.ipv6, 17, F.udp("fd00:10:244:2::7", POD_A.ipv6, 1, 2, new Uint8Array(8))))), want: "deliver" });
  c.push({ name: "decap over IPv6 from peer6", port: PORT_UNDERLAY, bytes: F.ipv6(PEER6.underlay, NODE.underlay6!, 17, F.udp(PEER6.underlay, NODE.underlay6!, 40000, 8472, F.vxlan(1, F.eth(NODE.vtepMac, PEER6.vtepMac, 0x0800, udp4("10.244.3.7", POD_A.ipv4, 2020))))), want: "deliver" });
  c.push({ name: "decap, truncated", port: PORT_UNDERLAY, bytes: outer(in4("10.244.2.7", POD_A.ipv4, 2021)).slice(0, 60), want: "drop:UnderlayMalformed" });
  return c;
}

const outcome = (dp: Dataplane, i: number) => { const r = dp.result(i); return r.verdict === "drop" ? `drop:${r.reason}` : r.verdict; };

/** Each TX entry as (input, port, peer, bytes), with the outer IPv4 ID blanked: its counter runs per encapsulation. */
function txList(dp: Dataplane, n: number, inputOf: (k: number) => number): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const t = dp.tx(k);
    const b = dp.txBytes(k);
    if (t.port === PORT_UNDERLAY && b[0] === 0x45) {
      // ID and header checksum depend on the ID counter; check the checksum, then blank both
      expect(F.checksum(b.subarray(0, 20))).toBe(0);
      b[4] = b[5] = b[10] = b[11] = 0;
    }
    out.push(`${inputOf(k)} ${t.port} ${t.peer} ${Buffer.from(b).toString("hex")}`);
  }
  return out;
}

describe("encap/decap fast paths in full batches", () => {
  it("each case alone gets the verdict of the general path", () => {
    const dp = node();
    for (const c of cases()) {
      dp.putPacket(0, c.bytes, c.port, c.flags ?? 0);
      dp.process(1);
      expect(outcome(dp, 0), c.name).toBe(c.want);
    }
  });

  it("a mixed 256-packet batch gives every input the same verdict, TX packets and counters as one at a time", () => {
    const all = cases();
    // a deterministic interleaving: runs of the same case, single cases, and the peer cache
    // switching between peers and unknown sources
    const order: number[] = [];
    let x = 12345;
    while (order.length < 256) {
      x = (x * 1103515245 + 12345) >>> 0;
      const k = (x >>> 8) % all.length;
      const run = 1 + ((x >>> 4) & 3);
      for (let r = 0; r < run && order.length < 256; r++) order.push(k);
    }
    const batch = node();
    order.forEach((k, i) => batch.putPacket(i, all[k]!.bytes, all[k]!.port, all[k]!.flags ?? 0));
    const nb = batch.process(256, 0);
    const batchTx = txList(batch, nb, (k) => batch.tx(k).input);

    const single = node();
    const singleTx: string[] = [];
    const singleOutcome: string[] = [];
    order.forEach((k, i) => {
      single.putPacket(0, all[k]!.bytes, all[k]!.port, all[k]!.flags ?? 0);
      const n = single.process(1, 0);
      singleOutcome.push(outcome(single, 0));
      singleTx.push(...txList(single, n, () => i));
    });
    const batchOutcome = order.map((_, i) => outcome(batch, i));
    expect(batchOutcome).toEqual(singleOutcome);
    order.forEach((k, i) => expect(batchOutcome[i], all[k]!.name).toBe(all[k]!.want));
    expect(batchTx).toEqual(singleTx);
    // the fast paths were really exercised: forwards and deliveries of both kinds are in the batch
    expect(batchOutcome.filter((o) => o === "forward").length).toBeGreaterThan(20);
    expect(batchOutcome.filter((o) => o === "deliver").length).toBeGreaterThan(20);
    const a = batch.counters(), b = single.counters();
    expect(a.drops).toEqual(b.drops);
    expect(a.peers).toEqual(b.peers);
    expect(a.ports).toEqual(b.ports);
    expect(a.events.packets).toBe(256n);
  });

  it("a route change between batches takes effect in the very next batch (route memos last one batch)", () => {
    const dp = node();
    // one inner source and one destination per direction (flows differ by port), so that every
    // batch starts inside the regions the previous batch's last lookups covered
    const decap = Array.from({ length: 128 }, (_, i) => outer(in4Of("10.244.2.9", POD_A.ipv4, 3000 + i)));
    const encap = Array.from({ length: 128 }, (_, i) => fromPod(udp4(POD_A.ipv4, "10.244.2.9", 4000 + i)));
    const run = () => {
      decap.forEach((b, i) => dp.putPacket(i, b, PORT_UNDERLAY));
      encap.forEach((b, i) => dp.putPacket(128 + i, b, POD_A.port));
      dp.process(256, 0);
      return Array.from({ length: 256 }, (_, i) => { const r = dp.result(i); return r.verdict === "forward" ? `forward:${r.peer}` : outcome(dp, i); });
    };
    const expectAll = (got: string[], decapWant: string, encapWant: string) => {
      expect(new Set(got.slice(0, 128))).toEqual(new Set([decapWant]));
      expect(new Set(got.slice(128))).toEqual(new Set([encapWant]));
    };
    expectAll(run(), "deliver", `forward:${PEER4.idx}`);
    // peer4's addresses now belong to peer4b: its packets are spoofed, ours go to peer4b
    dp.addRoute("10.244.2.0/26", { kind: "peer", peer: PEER4B.idx });
    expectAll(run(), "drop:SpoofedIp", `forward:${PEER4B.idx}`);
    dp.removeRoute("10.244.2.0/26");
    expectAll(run(), "deliver", `forward:${PEER4.idx}`);
    // the destination pod's /32 replaced by a blackhole, then the route restored
    dp.addRoute(`${POD_A.ipv4}/32`, { kind: "blackhole" });
    expectAll(run(), "drop:Blackhole", `forward:${PEER4.idx}`);
    dp.addRoute(`${POD_A.ipv4}/32`, { kind: "pod", port: POD_A.port });
    expectAll(run(), "deliver", `forward:${PEER4.idx}`);
    // peer4's /24 gone: its sources no longer route back to it, and our packets have no route
    dp.removeRoute("10.244.2.0/24");
    expectAll(run(), "drop:SpoofedIp", "drop:NoRoute");
  });
});

const in4Of = (src: string, dst: string, sport: number) => inner(udp4(src, dst, sport));
