// Fuzz of the offload calls: 100,000 random and mutated inputs (60,000 for tsoSplit, TSO and USO; 40,000
// batches for groCoalesce) must never trap, never write outside the output slots / the output
// bytes they report (guard bytes of 0xa5 everywhere else, inputs unchanged), and agree with the
// slow reference on every case: the same refusal reason or the same bytes.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  OffloadHarness, OffloadReason as R, VNET_LEN, makeSuperPacket, randomSuperSpec, referenceSplit, referenceCoalesce,
} from "./reference/offload.ts";
import { bytesToHex } from "./reference/packet.ts";
import { prng } from "./helpers/prng.ts";

const h = new OffloadHarness(new Uint8Array(readFileSync("build/weft.wasm")));
const GUARD = 0xa5;
const guardBuf = Buffer.alloc(OffloadHarness.GRO_BYTES, GUARD);

/** True when mem[from, to) is all guard bytes. */
function guarded(mem: Uint8Array, from: number, to: number): boolean {
  if (to <= from) return true;
  return Buffer.compare(Buffer.from(mem.buffer, mem.byteOffset + from, to - from), guardBuf.subarray(0, to - from)) === 0;
}

/** A plain check: `expect` per case costs more than the case itself here. */
function check(ok: boolean, c: number, what: string): void {
  if (!ok) throw new Error(`case ${c}: ${what}`);
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);

function mutate(r: Rand, b: Uint8Array): Uint8Array {
  let x = b.slice();
  const kind = int(r, 8);
  const flips = 1 + int(r, 4);
  const le16 = (o: number, v: number) => { if (o + 1 < x.length) { x[o] = v & 0xff; x[o + 1] = (v >> 8) & 0xff; } };
  for (let k = 0; k < flips; k++) {
    if (kind <= 2 && x.length) x[int(r, Math.min(x.length, 130))] ^= 1 << int(r, 8); // headers
    else if (kind === 3 && x.length) x[int(r, x.length)] = int(r, 256);
    else if (kind === 4) le16(2 * (1 + int(r, 4)), r() < 0.5 ? int(r, 65536) : int(r, x.length + 8)); // hdr_len, gso_size, csum_start/offset
    else if (kind === 5) x = x.slice(0, int(r, x.length + 1));
    else if (kind === 6) { x[0] = int(r, 4); x[1] = [0, 1, 3, 4, 5, 0x81, 0x84, int(r, 256)][int(r, 8)]!; }
    else if (kind === 7) {
      // interesting values: gso_size 0 or 1, an IPv6 next header (TUN or TAP offset), an IPv4 protocol
      const v = int(r, 4);
      if (v === 0) le16(4, int(r, 2));
      else if (v === 3 && x.length > 19) x[19] = [6, 17, 1][int(r, 3)]!;
      else { const at = VNET_LEN + (v === 1 ? 0 : 14) + 6; if (at < x.length) x[at] = [0, 6, 17, 43, 44, 51, 59, 60][int(r, 8)]!; }
    }
  }
  return x;
}

describe("fuzz: tsoSplit", () => {
  it("60,000 random and mutated inputs: no trap, no write outside the segments, same result as the reference", () => {
    const r = prng(0xf022);
    const SLOTS = 24;
    const SLOT = OffloadHarness.SLOT;
    const region = h.slots;
    const regionEnd = region + SLOTS * SLOT;
    let n = 0;
    let accepted = 0;
    let acceptedUso = 0;
    const reasons = new Map<number, number>();
    for (let c = 0; c < 60000; c++) {
      let input: Uint8Array;
      let l3Off: number;
      if (c % 10 === 0) {
        input = Uint8Array.from({ length: int(r, 300) }, () => int(r, 256));
        l3Off = int(r, 20);
      } else {
        // a third of them USO (UDP_L4) datagrams, the rest TCP super-packets
        const spec = randomSuperSpec(r, { udp: r() < 0.33 || undefined, payloadLen: int(r, 3000), gsoSize: r() < 0.2 ? 1 + int(r, 600) : 200 + int(r, 1300) });
        input = makeSuperPacket(r, spec).input;
        l3Off = spec.l3Off;
        if (r() < 0.05) l3Off = int(r, 80);
        if (r() < 0.8) input = mutate(r, input);
      }
      const maxSegs = r() < 0.1 ? int(r, 4) : r() < 0.5 ? int(r, SLOTS + 1) : SLOTS;
      const headroom = int(r, 200);
      const capacity = r() < 0.2 ? int(r, SLOT) : SLOT - headroom;
      // guard everything, place the input, the offsets, and sentinel lengths
      h.u8.fill(GUARD, region, regionEnd);
      h.u8.set(input, h.inArea);
      const u32 = h.u32;
      for (let k = 0; k < SLOTS; k++) {
        u32[(h.outOffs >> 2) + k] = region + k * SLOT + headroom;
        u32[(h.outLens >> 2) + k] = 0xdeadbeef;
      }
      const got = h.ex.tsoSplit(h.inArea, input.length, l3Off, h.outOffs, h.outLens, maxSegs, Math.min(capacity, SLOT - headroom));
      const mem = h.u8;
      check(Buffer.compare(Buffer.from(mem.buffer, h.inArea, input.length), Buffer.from(input)) === 0, c, "input changed");
      const lens = Array.from(h.u32.subarray(h.outLens >> 2, (h.outLens >> 2) + SLOTS));
      // guard bytes: everything but [offset_k, offset_k + len_k) for k < got
      let at = region;
      for (let k = 0; k < Math.max(got, 0); k++) {
        const o = region + k * SLOT + headroom;
        check(lens[k]! <= Math.min(capacity, SLOT - headroom), c, `segment ${k} over capacity`);
        if (!guarded(mem, at, o)) throw new Error(`case ${c}: write before segment ${k}`);
        at = o + lens[k]!;
      }
      if (!guarded(mem, at, regionEnd)) throw new Error(`case ${c}: write outside the segments`);
      for (let k = Math.max(got, 0); k < SLOTS; k++) check(lens[k] === 0xdeadbeef, c, `length ${k} written`);
      // the reference agrees
      let want: Uint8Array[] | number;
      if (l3Off > 64) want = R.BadDescriptor;
      else want = referenceSplit(input, l3Off, maxSegs, Math.min(capacity, SLOT - headroom));
      if (typeof want === "number") {
        if (-got !== want) throw new Error(`case ${c}: wasm ${got}, reference reason ${want}; input ${bytesToHex(input.subarray(0, 80))} l3Off ${l3Off}`);
        reasons.set(want, (reasons.get(want) ?? 0) + 1);
      } else {
        check(got === want.length, c, `wasm ${got} segments, reference ${want.length}`);
        for (let k = 0; k < got; k++) {
          const o = region + k * SLOT + headroom;
          if (Buffer.compare(Buffer.from(mem.buffer, o, lens[k]!), Buffer.from(want[k]!)) !== 0) throw new Error(`case ${c}: segment ${k} differs`);
        }
        accepted++;
        if (input[1] === 5) acceptedUso++;
      }
      n++;
    }
    expect(n).toBe(60000);
    // the mix reaches both the accepting paths and most refusals
    expect(accepted).toBeGreaterThan(10000);
    expect(acceptedUso).toBeGreaterThan(2000);
    expect(reasons.size).toBeGreaterThanOrEqual(15);
    expect(reasons.get(R.UdpMalformed) ?? 0).toBeGreaterThan(50);
  });
});

describe("fuzz: groCoalesce", () => {
  it("40,000 random and mutated batches: no trap, outputs packed inside the area, same bytes as the reference", () => {
    const r = prng(0xf0c0);
    let n = 0;
    let merged = 0;
    for (let c = 0; c < 40000; c++) {
      const l3Off = r() < 0.45 ? 0 : r() < 0.9 ? 14 : int(r, 70);
      const pkts: Uint8Array[] = [];
      const flows = 1 + int(r, 3);
      for (let f = 0; f < flows; f++) {
        const spec = randomSuperSpec(r, { l3Off: l3Off === 14 ? 14 : 0, payloadLen: 1 + int(r, 3000), gsoSize: 100 + int(r, 1000), srcPort: 1000 + f, ipOptions: new Uint8Array(0), ipv6Ext: [], tcpFlags: r() < 0.8 ? 0x10 : 0x18 });
        if (r() < 0.5) spec.tcpOptions = new Uint8Array(0);
        const segs = referenceSplit(makeSuperPacket(r, spec).input, spec.l3Off);
        if (typeof segs !== "number") pkts.push(...segs);
      }
      // shuffle a little, mutate some, add random packets
      for (let k = 0; k < pkts.length; k++) {
        const x = r();
        if (x < 0.05 && k + 1 < pkts.length) [pkts[k], pkts[k + 1]] = [pkts[k + 1]!, pkts[k]!];
        else if (x < 0.12) pkts[k] = mutate(r, concatVnet(pkts[k]!)).subarray(VNET_LEN);
        else if (x < 0.14) pkts.splice(k, 0, Uint8Array.from({ length: int(r, 120) }, () => int(r, 256)));
      }
      const trust = r() < 0.2 ? 1 : r() < 0.03 ? 2 : 0;
      const need = pkts.reduce((a, p) => a + p.length, 0) + VNET_LEN * pkts.length;
      const outBytes = r() < 0.05 ? int(r, need + 1) : need + int(r, 64);
      const base = h.groOut + 64;
      h.u8.fill(GUARD, h.groOut, Math.min(h.groOut + OffloadHarness.GRO_BYTES, base + outBytes + 4096));
      h.placeInputs(pkts);
      const inputsBefore = Buffer.from(h.u8.slice(h.inArea, h.inArea + need));
      const got = h.ex.groCoalesce(h.inOffs, h.inLens, pkts.length, l3Off, base, outBytes, h.outOffs, h.outLens, trust);
      const mem = h.u8;
      check(Buffer.compare(Buffer.from(mem.buffer, h.inArea, need), inputsBefore) === 0, c, "inputs changed");
      if (!guarded(mem, h.groOut, base)) throw new Error(`case ${c}: write before the output area`);
      let end = base;
      if (got > 0) {
        const u32 = h.u32;
        for (let k = 0; k < got; k++) {
          check(u32[(h.outOffs >> 2) + k] === end, c, "outputs not packed back to back");
          end += u32[(h.outLens >> 2) + k]!;
        }
        check(end - base <= outBytes, c, "outputs beyond the area");
      }
      if (!guarded(mem, end, base + outBytes + 4096)) throw new Error(`case ${c}: write after the outputs`);
      if (l3Off > 64) {
        check(got === -R.BadDescriptor, c, `l3Off ${l3Off}: ${got}`);
      } else if (outBytes < need) {
        check(got === -R.OutputTooSmall, c, `small area: ${got}`);
      } else {
        const want = referenceCoalesce(pkts, l3Off, { trustChecksums: trust === 1, noMerge: trust === 2 });
        check(got === want.length, c, `wasm ${got} outputs, reference ${want.length}`);
        const u32 = h.u32;
        for (let k = 0; k < got; k++) {
          const o = u32[(h.outOffs >> 2) + k]!;
          if (Buffer.compare(Buffer.from(mem.buffer, o, u32[(h.outLens >> 2) + k]!), Buffer.from(want[k]!)) !== 0) throw new Error(`case ${c}: output ${k} differs`);
          if (mem[o + 1] !== 0) merged++;
        }
      }
      n++;
    }
    expect(n).toBe(40000);
    expect(merged).toBeGreaterThan(20000);
  });
});

function concatVnet(p: Uint8Array): Uint8Array {
  const b = new Uint8Array(VNET_LEN + p.length);
  b.set(p, VNET_LEN);
  return b;
}
