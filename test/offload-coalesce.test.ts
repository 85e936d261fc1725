// GRO coalescing (assembly/offload/coalesce.ts) against the slow reference
// (test/reference/offload.ts referenceCoalesce), the split -> coalesce round trip, and the cases
// it must refuse. Deterministic seeds; each randomized test asserts its own case count.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  OffloadHarness, OffloadReason as R, OFFLOAD_REASON_COUNT, OffloadEvent, VnetFlag, GsoType, VNET_LEN, makeSuperPacket,
  randomSuperSpec, referenceSplit, referenceCoalesce, parseVnet, type SuperSpec, type VnetHeader,
} from "./reference/offload.ts";
import { onesAdd, pseudoHeaderSum4, pseudoHeaderSum6 } from "./reference/checksum.ts";
import { build, bytesToHex, concatBytes, parseIpv4, parseIpv6, parseTcp, type Ipv4Repr, type Ipv6Repr, type TcpRepr } from "./reference/packet.ts";
import { prng } from "./helpers/prng.ts";

const wasm = new Uint8Array(readFileSync("build/weft.wasm"));
const h = new OffloadHarness(wasm);
const NONE: VnetHeader = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };

function outputsOf(r: Uint8Array[] | number): Uint8Array[] {
  if (typeof r === "number") throw new Error(`refused with reason ${r}`);
  return r;
}
function splitRef(input: Uint8Array, l3Off: number): Uint8Array[] {
  const r = referenceSplit(input, l3Off);
  if (typeof r === "number") throw new Error(`reference split refused: ${r}`);
  return r;
}
const hex = (bs: Uint8Array[]) => bs.map(bytesToHex);

/** Coalesces with the Wasm and the reference; they must agree byte for byte. */
function both(pkts: Uint8Array[], l3Off: number, trust = false): Uint8Array[] {
  const got = outputsOf(h.coalesce(pkts, l3Off, trust ? 1 : 0));
  const want = referenceCoalesce(pkts, l3Off, { trustChecksums: trust });
  expect(hex(got)).toEqual(hex(want));
  return got;
}

/** Rebuilds a segment after editing its reprs (lengths and checksums recomputed unless set). */
function edit(seg: Uint8Array, l3Off: number, f: (ip: Ipv4Repr | Ipv6Repr, tcp: TcpRepr, payload: { bytes: Uint8Array }) => void): Uint8Array {
  const ipb = seg.subarray(l3Off);
  const v6 = ipb[0]! >> 4 === 6;
  const p4 = v6 ? undefined : parseIpv4(ipb);
  const p6 = v6 ? parseIpv6(ipb) : undefined;
  const ip: Ipv4Repr | Ipv6Repr = v6 ? { ...p6!.repr, payloadLength: undefined } : { ...p4!.repr, totalLength: undefined, checksum: undefined };
  const t = parseTcp(v6 ? ipb.subarray(p6!.upperOffset, 40 + p6!.repr.payloadLength!) : p4!.payload);
  const tcp: TcpRepr = { ...t.repr, checksum: undefined };
  const payload = { bytes: t.payload.slice() };
  f(ip, tcp, payload);
  return concatBytes(seg.subarray(0, l3Off), build([ip, tcp, { kind: "payload", bytes: payload.bytes }]));
}

/** Round-trip spec: what the coalescer may merge (no IP options / IPv6 extension headers, no FIN). */
function mergeableSpec(r: () => number, over: Partial<SuperSpec> = {}): SuperSpec {
  const fl = [0x10, 0x18, 0x90, 0x98, 0x50, 0x58, 0xd0][Math.floor(r() * 7)]!;
  return randomSuperSpec(r, { ipOptions: new Uint8Array(0), ipv6Ext: [], tcpFlags: fl, ecn: (fl & 0x80) !== 0, ...over });
}

/** The vnet header and frame the coalescer should give back for a super-packet it split. */
function expectedMerge(input: Uint8Array, spec: SuperSpec, hdrs: number): { hdr: VnetHeader; frame: Uint8Array } {
  const frame = input.slice(VNET_LEN);
  const ipHl = spec.v6 ? 40 : 20;
  const csumStart = spec.l3Off + ipHl;
  const ip = frame.subarray(spec.l3Off);
  const tcpLen = ip.length - ipHl;
  const ps = spec.v6 ? pseudoHeaderSum6(ip.subarray(8, 24), ip.subarray(24, 40), 6, tcpLen) : pseudoHeaderSum4(ip.subarray(12, 16), ip.subarray(16, 20), 6, tcpLen);
  frame[csumStart + 16] = onesAdd(ps) >> 8;
  frame[csumStart + 17] = onesAdd(ps) & 0xff;
  return {
    hdr: { flags: VnetFlag.NeedsCsum, gsoType: (spec.v6 ? GsoType.TcpV6 : GsoType.TcpV4) | (spec.tcpFlags & 0x80 ? GsoType.Ecn : 0), hdrLen: hdrs, gsoSize: spec.gsoSize, csumStart, csumOffset: 16 },
    frame,
  };
}

describe("groCoalesce: split then coalesce gives the super-packet back", () => {
  it("random IPv4/IPv6 super-packets, TUN and TAP, Wasm split -> Wasm coalesce (and the same through the reference)", () => {
    const r = prng(0x6e0);
    let merged = 0;
    let single = 0;
    for (let c = 0; c < 300; c++) {
      const spec = mergeableSpec(r, { payloadLen: r() < 0.1 ? 1 + Math.floor(r() * 1500) : undefined });
      if (spec.payloadLen === 0) spec.payloadLen = 1;
      const { input, hdrs } = makeSuperPacket(r, spec);
      const segs = h.split(input, spec.l3Off);
      if (typeof segs === "number") throw new Error(`split refused ${segs}`);
      const out = both(segs, spec.l3Off);
      expect(out.length).toBe(1);
      const hdr = parseVnet(out[0]!);
      if (segs.length === 1) {
        expect(hdr).toEqual(NONE);
        expect(bytesToHex(out[0]!.subarray(VNET_LEN))).toBe(bytesToHex(segs[0]!));
        single++;
        continue;
      }
      const want = expectedMerge(input, spec, hdrs);
      expect(hdr).toEqual(want.hdr);
      expect(bytesToHex(out[0]!.subarray(VNET_LEN))).toBe(bytesToHex(want.frame));
      if (spec.csum === "needs") expect(bytesToHex(out[0]!)).toBe(bytesToHex(input)); // identical, vnet header and all, but hdr_len
      // and the super-packet splits again into the same segments
      expect(hex(splitRef(out[0]!, spec.l3Off))).toEqual(hex(segs));
      merged++;
    }
    expect(merged + single).toBe(300);
    expect(merged).toBeGreaterThan(250);
  });
});

describe("groCoalesce: what it must refuse", () => {
  const r = prng(0xc0a1);
  const spec4 = mergeableSpec(r, { v6: false, l3Off: 0, payloadLen: 8000, gsoSize: 1000, tcpFlags: 0x18, ecn: false, df: true });
  const spec6 = mergeableSpec(r, { v6: true, l3Off: 14, payloadLen: 8000, gsoSize: 1000, tcpFlags: 0x10, ecn: false, src: "fd00:10::9" });
  const s4 = splitRef(makeSuperPacket(r, spec4).input, 0); // 8 segments, PSH on the last
  const s6 = splitRef(makeSuperPacket(r, spec6).input, 14);
  const kinds = (out: Uint8Array[]) => out.map((o) => { const v = parseVnet(o); return v.gsoType === 0 ? "1" : String(segCount(o, v)); });
  function segCount(o: Uint8Array, v: VnetHeader): number {
    const payload = o.length - VNET_LEN - v.hdrLen;
    return Math.ceil(payload / v.gsoSize);
  }

  it("in order: one super-packet per flow; the last segment's PSH is kept", () => {
    const out = both(s4, 0);
    expect(kinds(out)).toEqual(["8"]);
    expect(outputsOf(h.coalesce(s6, 14))).toHaveLength(1);
    const tcpFlags = out[0]![VNET_LEN + 20 + 13];
    expect(tcpFlags).toBe(0x18);
  });
  it("out of order and duplicates: nothing merges across them, and input order is kept", () => {
    expect(kinds(both([s4[0]!, s4[2]!, s4[1]!, s4[3]!], 0))).toEqual(["1", "1", "1", "1"]);
    expect(kinds(both([s4[0]!, s4[1]!, s4[1]!, s4[2]!], 0))).toEqual(["2", "2"]);
  });
  it("gaps split the flow", () => {
    expect(kinds(both([s4[0]!, s4[1]!, s4[3]!, s4[4]!, s4[5]!], 0))).toEqual(["2", "3"]);
  });
  it("SYN, FIN, RST, URG segments pass through and close their flow's group", () => {
    for (const flag of [0x02, 0x01, 0x04, 0x20]) {
      const odd = edit(s4[2]!, 0, (_ip, t) => { t.flags |= flag; });
      const out = both([s4[0]!, s4[1]!, odd, s4[3]!, s4[4]!], 0);
      expect(kinds(out)).toEqual(["2", "1", "2"]);
      expect(bytesToHex(out[1]!.subarray(VNET_LEN))).toBe(bytesToHex(odd));
    }
  });
  it("ACK without payload (pure ACK) and packets without ACK pass through", () => {
    const pure = edit(s4[2]!, 0, (_ip, _t, p) => { p.bytes = new Uint8Array(0); });
    expect(kinds(both([s4[0]!, s4[1]!, pure, s4[2]!, s4[3]!], 0))).toEqual(["2", "1", "2"]);
    const noAck = edit(s4[1]!, 0, (_ip, t) => { t.flags &= ~0x10; });
    expect(kinds(both([s4[0]!, noAck, s4[2]!], 0))).toEqual(["1", "1", "1"]);
  });
  it("a CWR segment only heads a group (gso_type gets ECN); PSH ends one", () => {
    const cwr = edit(s4[2]!, 0, (_ip, t) => { t.flags |= 0x80; });
    const out = both([s4[0]!, s4[1]!, cwr, s4[3]!], 0);
    expect(kinds(out)).toEqual(["2", "2"]);
    expect(parseVnet(out[1]!).gsoType).toBe(GsoType.TcpV4 | GsoType.Ecn);
    const psh = edit(s4[1]!, 0, (_ip, t) => { t.flags |= 0x08; });
    expect(kinds(both([s4[0]!, psh, s4[2]!, s4[3]!], 0))).toEqual(["2", "2"]);
  });
  it("option changes (a timestamp), header length, ACK number, window, ECE refuse", () => {
    const withTs = (seg: Uint8Array, tsval: number) => edit(seg, 0, (_ip, t) => { t.options = Uint8Array.from([1, 1, 8, 10, 0, 0, tsval >> 8, tsval & 0xff, 0, 0, 0, 1]); });
    const a = s4.map((s) => withTs(s, 5));
    expect(kinds(both([a[0]!, a[1]!, withTs(s4[2]!, 6), a[3]!], 0))).toEqual(["2", "1", "1"]);
    expect(kinds(both([a[0]!, a[1]!, withTs(s4[2]!, 6), withTs(s4[3]!, 6)], 0))).toEqual(["2", "2"]);
    expect(kinds(both([a[0]!, a[1]!, s4[2]!], 0))).toEqual(["2", "1"]); // no options at all
    for (const f of [(t: TcpRepr) => { t.ack += 1; }, (t: TcpRepr) => { t.window += 1; }, (t: TcpRepr) => { t.flags |= 0x40; }]) {
      expect(kinds(both([s4[0]!, s4[1]!, edit(s4[2]!, 0, (_ip, t) => f(t))], 0))).toEqual(["2", "1"]);
    }
  });
  it("IP header changes refuse: TTL, TOS, DF; IPv6 flow label, traffic class, hop limit", () => {
    const v4edits: ((ip: Ipv4Repr) => void)[] = [(ip) => { ip.ttl -= 1; }, (ip) => { ip.tos = 4; }, (ip) => { ip.df = !ip.df; }];
    for (const f of v4edits) expect(kinds(both([s4[0]!, s4[1]!, edit(s4[2]!, 0, (ip) => f(ip as Ipv4Repr))], 0))).toEqual(["2", "1"]);
    const v6edits: ((ip: Ipv6Repr) => void)[] = [(ip) => { ip.flowLabel ^= 1; }, (ip) => { ip.trafficClass = 0x20; }, (ip) => { ip.hopLimit -= 1; }];
    for (const f of v6edits) expect(kinds(both([s6[0]!, s6[1]!, edit(s6[2]!, 14, (ip) => f(ip as Ipv6Repr))], 14))).toEqual(["2", "1"]);
    // a different MAC on a TAP
    const mac = s6[2]!.slice();
    mac[0] ^= 2;
    expect(kinds(both([s6[0]!, s6[1]!, mac], 14))).toEqual(["2", "1"]);
  });
  it("IPv4 IDs: +1 each, or all equal with DF (RFC 6864); anything else refuses", () => {
    const id = (seg: Uint8Array, v: number, df = true) => edit(seg, 0, (ip) => { (ip as Ipv4Repr).id = v; (ip as Ipv4Repr).df = df; });
    expect(kinds(both([id(s4[0]!, 0), id(s4[1]!, 0), id(s4[2]!, 0)], 0))).toEqual(["3"]);
    expect(kinds(both([id(s4[0]!, 0, false), id(s4[1]!, 0, false), id(s4[2]!, 0, false)], 0))).toEqual(["1", "1", "1"]);
    expect(kinds(both([id(s4[0]!, 0xffff), id(s4[1]!, 0), id(s4[2]!, 1)], 0))).toEqual(["3"]);
    expect(kinds(both([id(s4[0]!, 7), id(s4[1]!, 8), id(s4[2]!, 8)], 0))).toEqual(["2", "1"]);
    expect(kinds(both([id(s4[0]!, 7), id(s4[1]!, 7), id(s4[2]!, 8)], 0))).toEqual(["2", "1"]);
    expect(kinds(both([id(s4[0]!, 7), id(s4[1]!, 9)], 0))).toEqual(["1", "1"]);
  });
  it("sizes: a bigger segment after the head refuses, a shorter one ends the group", () => {
    const short = edit(s4[1]!, 0, (_ip, _t, p) => { p.bytes = p.bytes.slice(0, 500); });
    const out = both([s4[0]!, short, edit(s4[2]!, 0, (_ip, t) => { t.seq = (t.seq - 500) >>> 0; })], 0);
    expect(kinds(out)).toEqual(["2", "1"]);
    const big = edit(s4[0]!, 0, (_ip, _t, p) => { p.bytes = p.bytes.slice(0, 999); });
    expect(kinds(both([big, edit(s4[1]!, 0, (_ip, t) => { t.seq = (t.seq - 1) >>> 0; })], 0))).toEqual(["1", "1"]);
  });
  it("never more than 65535 bytes of IP packet: a long run is cut", () => {
    // 50 full segments in a row: only 44 fit (40 + 45 * 1460 > 65535)
    const spec = mergeableSpec(r, { v6: false, l3Off: 0, payloadLen: 30 * 1460, gsoSize: 1460, tcpFlags: 0x10, tcpOptions: new Uint8Array(0) });
    const segs = splitRef(makeSuperPacket(r, spec).input, 0);
    const spec2 = { ...spec, seq: (spec.seq + spec.payloadLen) >>> 0, id: (spec.id + segs.length) & 0xffff, payloadLen: 1460 * 20 };
    const more = splitRef(makeSuperPacket(r, spec2).input, 0);
    const out = both([...segs, ...more], 0);
    expect(out.length).toBe(2);
    for (const o of out) expect(o.length - VNET_LEN).toBeLessThanOrEqual(65535);
    expect(out.map((o) => o.length - VNET_LEN)).toEqual([40 + 44 * 1460, 40 + 6 * 1460]);
  });
  it("interleaved flows stay apart, each merged in its own order; outputs ordered by first input", () => {
    const inter: Uint8Array[] = [];
    for (let k = 0; k < 8; k++) inter.push(s4[k]!, s6[k]!);
    expect(both(inter.map((x, i) => (i % 2 ? x : x)), 0).length).toBeGreaterThan(0); // l3Off mismatch for s6: not candidates
    // same link type: two IPv4 flows that differ in the source port only
    const other = splitRef(makeSuperPacket(r, { ...spec4, srcPort: 40001 }).input, 0);
    const mix: Uint8Array[] = [];
    for (let k = 0; k < 8; k++) mix.push(s4[k]!, other[k]!);
    const out = both(mix, 0);
    expect(kinds(out)).toEqual(["8", "8"]);
    expect(bytesToHex(out[0]!.subarray(VNET_LEN + 20, VNET_LEN + 22))).toBe(bytesToHex(s4[0]!.subarray(20, 22)));
    // a non-mergeable packet of flow A between A's segments keeps its place relative to them
    const fin = edit(s4[4]!, 0, (_ip, t) => { t.flags |= 0x01; });
    const mix2 = [s4[0]!, other[0]!, s4[1]!, other[1]!, fin, other[2]!, s4[5]!, other[3]!];
    expect(kinds(both(mix2, 0))).toEqual(["2", "4", "1", "1"]);
  });
  it("wrong checksums are never merged (passed through for the kernel to drop) unless the caller trusts them", () => {
    const bad = s4[2]!.slice();
    bad[bad.length - 1] ^= 1;
    const before = h.counters();
    expect(kinds(both([s4[0]!, s4[1]!, bad, s4[3]!], 0))).toEqual(["2", "1", "1"]);
    const after = h.counters();
    expect(after[OFFLOAD_REASON_COUNT + OffloadEvent.GroBadCsum]! - before[OFFLOAD_REASON_COUNT + OffloadEvent.GroBadCsum]!).toBe(1n);
    expect(kinds(both([s4[0]!, s4[1]!, bad, s4[3]!], 0, true))).toEqual(["4"]);
    const badIp = s4[2]!.slice();
    badIp[10] ^= 1;
    expect(kinds(both([s4[0]!, s4[1]!, badIp, s4[3]!], 0))).toEqual(["2", "1", "1"]);
  });
  it("non-TCP, IPv4 options, IPv6 extension headers, fragments, garbage pass through unchanged", () => {
    const udp = build([{ kind: "ipv4", tos: 0, id: 1, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 17, src: "10.0.0.1", dst: "10.0.0.2" }, { kind: "udp", srcPort: 1, dstPort: 2 }, { kind: "payload", bytes: new Uint8Array(100) }]);
    const opt = splitRef(makeSuperPacket(r, { ...spec4, ipOptions: Uint8Array.from([0x94, 4, 0, 0]) }).input, 0);
    const frag = edit(s4[1]!, 0, (ip) => { (ip as Ipv4Repr).mf = true; });
    const pkts = [udp, opt[0]!, opt[1]!, frag, new Uint8Array([1, 2, 3]), new Uint8Array(0)];
    const out = both(pkts, 0);
    expect(out.map((o) => bytesToHex(o))).toEqual(pkts.map((p) => bytesToHex(concatBytes(new Uint8Array(VNET_LEN), p))));
  });
  it("flag 2 (the kill switch) merges nothing: every input behind a NONE header", () => {
    const out = outputsOf(h.coalesce(s4, 0, 2));
    expect(hex(out)).toEqual(hex(s4.map((p) => concatBytes(new Uint8Array(VNET_LEN), p))));
    expect(hex(out)).toEqual(hex(referenceCoalesce(s4, 0, { noMerge: true })));
  });
  it("refuses an output area that might be too small, and bad descriptors, before writing", () => {
    const need = s4.reduce((a, s) => a + s.length, 0) + VNET_LEN * s4.length;
    expect(h.coalesce(s4, 0, 0, need - 1)).toBe(R.OutputTooSmall);
    expect(outputsOf(h.coalesce(s4, 0, 0, need))).toHaveLength(1);
    expect(h.ex.groCoalesce(h.inOffs, h.inLens, 1, 65, h.groOut, 100000, h.outOffs, h.outLens, 0)).toBe(-R.BadDescriptor);
    const memBytes = h.ex.memory.buffer.byteLength;
    h.u32[h.inOffs >> 2] = memBytes - 4;
    h.u32[h.inLens >> 2] = 8;
    expect(h.ex.groCoalesce(h.inOffs, h.inLens, 1, 0, h.groOut, 100000, h.outOffs, h.outLens, 0)).toBe(-R.BadDescriptor);
    expect(h.ex.groCoalesce(h.inOffs, h.inLens, 1, 0, memBytes - 10, 100, h.outOffs, h.outLens, 0)).toBe(-R.BadDescriptor);
  });
});

describe("groCoalesce: differential against the reference", () => {
  /** Segments of several flows, interleaved in per-flow order, then damaged at random. */
  function randomBatch(r: () => number): { pkts: Uint8Array[]; l3Off: number } {
    const l3Off = r() < 0.5 ? 0 : 14;
    const flows = 1 + Math.floor(r() * 4);
    const queues: Uint8Array[][] = [];
    for (let f = 0; f < flows; f++) {
      const spec = mergeableSpec(r, { l3Off, payloadLen: 1 + Math.floor(r() * 12000), gsoSize: 500 + Math.floor(r() * 961), srcPort: 1000 + f, df: r() < 0.9 });
      if (r() < 0.3) spec.tcpOptions = new Uint8Array(0);
      queues.push(splitRef(makeSuperPacket(r, spec).input, l3Off));
    }
    const pkts: Uint8Array[] = [];
    while (queues.some((q) => q.length)) {
      const q = queues.filter((x) => x.length)[Math.floor(r() * queues.filter((x) => x.length).length)]!;
      pkts.push(q.shift()!);
    }
    const damage = Math.floor(r() * 4);
    for (let d = 0; d < damage && pkts.length > 1; d++) {
      const i = Math.floor(r() * pkts.length);
      const m = Math.floor(r() * 9);
      const tryEdit = (f: Parameters<typeof edit>[2]) => { try { pkts[i] = edit(pkts[i]!, l3Off, f); } catch { /* damaged beyond parsing: leave it */ } };
      if (m === 0) pkts.splice(i, 1); // loss
      else if (m === 1) pkts.splice(i, 0, pkts[i]!.slice()); // duplicate
      else if (m === 2 && i + 1 < pkts.length) [pkts[i], pkts[i + 1]] = [pkts[i + 1]!, pkts[i]!]; // reorder
      else if (m === 3) { const p = pkts[i]!.slice(); p[Math.floor(r() * p.length)] ^= 1 << Math.floor(r() * 8); pkts[i] = p; } // bit flip
      else if (m === 4) { const flag = [0x01, 0x02, 0x04, 0x08, 0x20, 0x40, 0x80][Math.floor(r() * 7)]!; tryEdit((_ip, t) => { t.flags ^= flag; }); }
      else if (m === 5) { const cut = r(); tryEdit((_ip, _t, p) => { p.bytes = p.bytes.slice(0, Math.floor(cut * p.bytes.length)); }); }
      else if (m === 6) pkts.splice(i, 0, Uint8Array.from({ length: Math.floor(r() * 80) }, () => Math.floor(r() * 256)));
      else if (m === 7) tryEdit((ip) => { if (ip.kind === "ipv4") ip.id = (ip.id + 1) & 0xffff; else ip.hopLimit--; });
      else pkts[i] = pkts[i]!.slice(0, Math.floor(r() * pkts[i]!.length));
    }
    return { pkts, l3Off };
  }

  it("random interleaved flows with loss, duplication, reordering, bit flips, flag and size changes", () => {
    const r = prng(0xd1ff);
    let n = 0;
    let outputs = 0;
    let merged = 0;
    for (let c = 0; c < 600; c++) {
      const { pkts, l3Off } = randomBatch(r);
      const trust = r() < 0.2;
      const out = both(pkts, l3Off, trust);
      // every output is either a pass-through or a super-packet that splits back into valid segments
      for (const o of out) {
        const v = parseVnet(o);
        if (v.gsoType !== 0) {
          merged++;
          const back = splitRef(o, l3Off);
          expect(back.length).toBeGreaterThan(1);
        }
      }
      outputs += out.length;
      n++;
    }
    expect(n).toBe(600);
    expect(merged).toBeGreaterThan(600);
    expect(outputs).toBeGreaterThan(merged);
  });

  it("batches longer than a chunk (1024 inputs) are cut without losing order", () => {
    const r = prng(0xb16);
    const spec = mergeableSpec(r, { v6: false, l3Off: 0, payloadLen: 3 * 1000, gsoSize: 1000, tcpFlags: 0x10, tcpOptions: new Uint8Array(0) });
    const pkts: Uint8Array[] = [];
    for (let k = 0; k < 700; k++) {
      // 700 three-segment super-packets back to back in one flow: 2100 segments
      const s = { ...spec, seq: (spec.seq + k * 3000) >>> 0, id: (spec.id + 3 * k) & 0xffff };
      pkts.push(...splitRef(makeSuperPacket(r, s).input, 0));
    }
    const out = outputsOf(h.coalesce(pkts, 0));
    // 44 segments per super-packet (64 KiB), cut again at input 1024 and 2048
    const payloads = out.map((o) => o.length - VNET_LEN - 40);
    expect(payloads.reduce((a, b) => a + b, 0)).toBe(2100 * 1000);
    expect(out.length).toBe(Math.ceil(1024 / 65) + Math.ceil(1024 / 65) + Math.ceil(52 / 65));
    void R;
  });
});
