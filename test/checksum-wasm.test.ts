// Differential tests of the Wasm checksum kernels (assembly/csum/, exported for tests as
// `checksum`, `checksumScalar` and `checksumReplace16`) against the slow reference
// (test/reference/checksum.ts, RFC 1071 / RFC 1624 written out byte by byte).
//
// The Wasm works in "LE word form" (assembly/csum/checksum.ts): a 16-bit field as `load<u16>`
// reads it from network-order bytes, i.e. byte-swapped. One's complement sums do not depend on
// byte order (RFC 1071 §2(B)), so the Wasm's result swapped back must equal the reference's.
//
// Buffers are written into the data plane's slot memory at every start offset 0..15 (odd and
// even; the SIMD path loads unaligned), surrounded by random bytes so that reading past either
// end would change the result. Deterministic seeds; each test asserts its own case count, about
// 127,000 in all (28,896 + 12,336 + 5,000 kernel cases; 216 + 60,000 + 20,510 incremental ones).
import { describe, expect, it } from "vitest";
import { Dataplane } from "../host/wasm/dataplane.ts";
import { incrementalUpdate16, internetChecksum, onesComplementSum } from "./reference/checksum.ts";
import { hexToBytes } from "./reference/packet.ts";
import { loadRfcVectors } from "./vectors/load.ts";
import { prng } from "./helpers/prng.ts";

const dp = Dataplane.create();
const ex = dp.exports;
const mem = dp.u8;
/** Room for the largest buffer plus guards, inside the slot area (256 slots of 2 KiB). */
const AREA = 256 * dp.slotSize;
const base = dp.slots;

/** Network-order value ↔ LE word form (the byte swap of a 16-bit value). */
const swap16 = (x: number) => ((x & 0xff) << 8) | ((x >>> 8) & 0xff);

type Rand = () => number;
const byte = (r: Rand) => Math.floor(r() * 256);

/**
 * Places `data` at `base + 64 + off` with random guard bytes on both sides and returns the
 * Wasm results of both kernels, converted to network order.
 */
function wasmChecksums(data: Uint8Array, off: number, r: Rand): { simd: number; scalar: number } {
  const at = base + 64 + off;
  for (let i = base; i < at; i++) mem[i] = byte(r);
  mem.set(data, at);
  for (let i = at + data.length; i < at + data.length + 64; i++) mem[i] = byte(r);
  return { simd: swap16(ex.checksum!(at, data.length)), scalar: swap16(ex.checksumScalar!(at, data.length)) };
}

type Fill = "random" | "ones" | "zeros" | "alternating" | "ascending";
function buffer(r: Rand, len: number, fill: Fill): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    b[i] = fill === "random" ? byte(r) : fill === "ones" ? 0xff : fill === "zeros" ? 0 : fill === "alternating" ? (i & 1 ? 0x00 : 0xff) : i & 0xff;
  }
  return b;
}

/** Runs cases; returns the number run and the first few disagreements, described. */
function compareSums(cases: Iterable<{ data: Uint8Array; off: number; what: string }>, r: Rand): { n: number; bad: string[] } {
  let n = 0;
  const bad: string[] = [];
  for (const c of cases) {
    n++;
    const want = internetChecksum(c.data);
    const got = wasmChecksums(c.data, c.off, r);
    if (got.simd !== want || got.scalar !== want) {
      if (bad.length < 10) bad.push(`${c.what} (length ${c.data.length}, offset ${c.off}): reference ${want.toString(16)}, checksum ${got.simd.toString(16)}, checksumScalar ${got.scalar.toString(16)}`);
    }
  }
  return { n, bad };
}

describe("Wasm checksum / checksumScalar against RFC 1071 (reference)", () => {
  it("the module and the reference agree on the RFC 1071 §3 example", () => {
    for (const v of loadRfcVectors().checksum) {
      const b = hexToBytes(v.hex);
      expect(internetChecksum(b)).toBe(parseInt(v.checksum, 16));
      for (let off = 0; off < 16; off++) expect(wasmChecksums(b, off, prng(off))).toEqual({ simd: parseInt(v.checksum, 16), scalar: parseInt(v.checksum, 16) });
    }
  });

  it("every length 0..300 at every start offset 0..15, random and adversarial bytes", () => {
    const r = prng(0xc5c5);
    function* cases() {
      for (const fill of ["random", "random", "ones", "zeros", "alternating", "ascending"] as Fill[]) {
        for (let len = 0; len <= 300; len++) for (let off = 0; off < 16; off++) yield { data: buffer(r, len, fill), off, what: fill };
      }
    }
    const { n, bad } = compareSums(cases(), r);
    expect(n).toBe(6 * 301 * 16);
    expect(bad).toEqual([]);
  });

  it("random lengths up to 9000 (and the SIMD block boundaries beyond) at random offsets", () => {
    const r = prng(0x9000);
    const edges = [127, 128, 129, 191, 192, 193, 255, 256, 1499, 1500, 1501, 8999, 9000, 16383, 16384, 16385, 16448, 32768, 32769, 65535, 65536, 262143, 262144, 262145, 262208, 262209, 300000];
    function* cases() {
      for (let i = 0; i < 12_000; i++) {
        const len = Math.floor(r() * 9001);
        yield { data: buffer(r, len, i % 10 === 0 ? "ones" : "random"), off: Math.floor(r() * 16), what: i % 10 === 0 ? "ones" : "random" };
      }
      for (const len of edges) {
        if (len + 64 + 16 + 64 > AREA) continue;
        for (const fill of ["random", "ones", "zeros", "alternating"] as Fill[]) for (const off of [0, 1, 7, 15]) yield { data: buffer(r, len, fill), off, what: `${fill} at an edge` };
      }
    }
    const { n, bad } = compareSums(cases(), r);
    expect(n).toBeGreaterThan(12_000);
    expect(bad).toEqual([]);
  });

  it("a buffer with its checksum filled in verifies (the Wasm sum over it is then 0)", () => {
    // RFC 1071 §1 step 3, through the module: put the Wasm's own checksum into the data, at an
    // even position, and the checksum of the whole must come out 0 (all ones before complement).
    const r = prng(0x7e57);
    let n = 0;
    for (let i = 0; i < 5000; i++) {
      const len = 2 + 2 * Math.floor(r() * 700);
      const b = buffer(r, len, i % 7 === 0 ? "ones" : "random");
      const at = 2 * Math.floor(r() * (len / 2));
      b[at] = b[at + 1] = 0;
      const off = Math.floor(r() * 16);
      const c = wasmChecksums(b, off, r).simd;
      b[at] = c >> 8;
      b[at + 1] = c & 0xff;
      expect(onesComplementSum(b), `length ${len}`).toBe(0xffff);
      const again = wasmChecksums(b, off, r);
      expect(again.simd === 0 && again.scalar === 0, `length ${len}, offset ${off}: ${again.simd}/${again.scalar}`).toBe(true);
      n++;
    }
    expect(n).toBe(5000);
  });
});

describe("Wasm checksumReplace16 against RFC 1624 (reference and recomputation)", () => {
  /** The Wasm's RFC 1624 Eqn. 3, fed and read in LE word form, returned in network order. */
  const wasmReplace = (hc: number, m: number, mNew: number) => swap16(ex.checksumReplace16!(swap16(hc), swap16(m), swap16(mNew)) & 0xffff);

  it("the RFC 1624 vectors (§4 example; erratum 4782's unchanged field)", () => {
    for (const v of loadRfcVectors().incremental) {
      const [hc, m, mNew, want] = [v.hc, v.m, v.mNew, v.hcNew].map((x) => parseInt(x, 16)) as [number, number, number, number];
      expect(wasmReplace(hc, m, mNew), v.name).toBe(want);
      expect(ex.checksumReplace16!(hc, m, mNew) & 0xffff, `${v.name}, in host order`).toBe(want); // byte order does not matter
    }
  });

  it("every combination of 0x0000, 0xFFFF, 0x0001, 0xFFFE, 0x8000, 0x7FFF for HC, m and m'", () => {
    const vals = [0x0000, 0xffff, 0x0001, 0xfffe, 0x8000, 0x7fff];
    for (const hc of vals) for (const m of vals) for (const mNew of vals) {
      expect(wasmReplace(hc, m, mNew), `HC ${hc.toString(16)} m ${m.toString(16)} m' ${mNew.toString(16)}`).toBe(incrementalUpdate16(hc, m, mNew));
    }
  });

  it("random HC, m, m': the same bits as the reference Eqn. 3", () => {
    const r = prng(0x1624);
    const w = () => Math.floor(r() * 65536);
    let bad = 0;
    let first = "";
    for (let i = 0; i < 60_000; i++) {
      const [hc, m, mNew] = [w(), w(), w()];
      const got = wasmReplace(hc, m, mNew);
      const want = incrementalUpdate16(hc, m, mNew);
      if (got !== want && bad++ === 0) first = `HC ${hc.toString(16)} m ${m.toString(16)} m' ${mNew.toString(16)}: wasm ${got.toString(16)}, reference ${want.toString(16)}`;
    }
    expect(first).toBe("");
  });

  it("an incremental update equals recomputing the checksum over the changed data, including the 0x0000 / 0xFFFF edges", () => {
    // Data of even length and its checksum; one 16-bit word changes; the Wasm's update of the old
    // checksum must equal the reference's recomputation over the changed data. One's complement
    // has two zeros, and the two methods agree on every value but one: when the new data is all
    // zeros, recomputation gives ~0x0000 = 0xFFFF and Eqn. 3 (whose sum of ~HC, ~m and m' is never
    // 0x0000 for consistent data) gives ~0xFFFF = 0x0000, the same number.
    const r = prng(0xabcd);
    let n = 0;
    const problems: string[] = [];
    const check = (data: Uint8Array, at: number, mNew: number, label: string) => {
      const hc = internetChecksum(data);
      const m = (data[at]! << 8) | data[at + 1]!;
      const changed = data.slice();
      changed[at] = mNew >> 8;
      changed[at + 1] = mNew & 0xff;
      const recomputed = internetChecksum(changed);
      const updated = wasmReplace(hc, m, mNew);
      // Through memory, as the pipeline does it: fields loaded with load<u16>, checksum stored back.
      const le = swap16(ex.checksumReplace16!(swap16(hc), (data[at + 1]! << 8) | data[at]!, ((mNew & 0xff) << 8) | (mNew >> 8)) & 0xffff);
      const allZero = changed.every((x) => x === 0);
      const ok = updated === le && (updated === recomputed || (allZero && updated === 0x0000 && recomputed === 0xffff));
      if (!ok && problems.length < 10) problems.push(`${label}: HC ${hc.toString(16)} m ${m.toString(16)} m' ${mNew.toString(16)}: update ${updated.toString(16)}, recomputed ${recomputed.toString(16)}`);
      n++;
    };
    for (let i = 0; i < 20_000; i++) {
      const len = 2 + 2 * Math.floor(r() * 40);
      const kind = i % 8;
      // 0: random; 1: all 0xff (sum 0xffff, HC 0); 2: all zero (HC 0xffff); 3: one non-zero word; others random
      const data = kind === 1 ? buffer(r, len, "ones") : kind === 2 ? buffer(r, len, "zeros") : buffer(r, len, "random");
      if (kind === 3) {
        data.fill(0);
        const k = 2 * Math.floor(r() * (len / 2));
        data[k] = byte(r);
        data[k + 1] = byte(r);
      }
      const at = 2 * Math.floor(r() * (len / 2));
      const mNew = [0x0000, 0xffff, Math.floor(r() * 65536), (data[at]! << 8) | data[at + 1]!][i % 4]!;
      check(data, at, mNew, ["random", "all ones", "all zeros", "one word"][kind] ?? "random");
    }
    // The TTL decrement of RFC 1624's motivating case, on IPv4 headers whose checksum is 0x0000
    // (the source address chosen to make the header sum 0xFFFF) or anything else.
    for (let ttl = 1; ttl < 256; ttl++) {
      for (const zeroChecksum of [true, false]) {
        const h = Uint8Array.of(0x45, 0, 0, 20, 0, 0, 0, 0, ttl, 17, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1);
        const x = zeroChecksum ? ~onesComplementSum(h) & 0xffff : Math.floor(r() * 65536);
        h[12] = x >> 8;
        h[13] = x & 0xff;
        if (zeroChecksum) expect(internetChecksum(h)).toBe(0);
        check(h, 8, ((ttl - 1) << 8) | 17, `TTL ${ttl} → ${ttl - 1}`);
      }
    }
    expect(problems).toEqual([]);
    expect(n).toBeGreaterThan(20_000);
  });
});

