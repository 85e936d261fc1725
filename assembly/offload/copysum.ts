// Copy and checksum in one pass: the bytes a segment needs summed are the ones being copied into
// it, so one load feeds both the store and the sum (calibration note §5.4: explicit v128).
// Sums are in the LE word form of csum/checksum.ts, summed from `src` (the parity of the copy's
// start must be even relative to the checksummed region, which it is for TCP payloads).

import { csumPartialScalar } from "../csum/checksum";

/** Copies `len` bytes from `src` to `dst` (no overlap) and returns `acc` plus their partial sum. */
export function copyAndSum(dst: usize, src: usize, len: i32, acc: u64): u64 {
  if (!ASC_FEATURE_SIMD) {
    // The scalar build (docs/AOT.md): copy, then sum what was copied.
    memory.copy(dst, src, <usize>len);
    return csumPartialScalar(src, len, acc);
  }
  let v = i64x2.splat(0);
  while (len >= 64) {
    let block = len & ~63;
    if (block > 16384) block = 16384; // i32 lanes: <= 2 * 65535 per 16 bytes, far from overflow
    let w0 = i32x4.splat(0);
    let w1 = i32x4.splat(0);
    let w2 = i32x4.splat(0);
    let w3 = i32x4.splat(0);
    const end = src + <usize>block;
    while (src < end) {
      const a = v128.load(src);
      const b = v128.load(src, 16);
      const c = v128.load(src, 32);
      const d = v128.load(src, 48);
      v128.store(dst, a);
      v128.store(dst, b, 16);
      v128.store(dst, c, 32);
      v128.store(dst, d, 48);
      w0 = i32x4.add(w0, i32x4.extadd_pairwise_i16x8_u(a));
      w1 = i32x4.add(w1, i32x4.extadd_pairwise_i16x8_u(b));
      w2 = i32x4.add(w2, i32x4.extadd_pairwise_i16x8_u(c));
      w3 = i32x4.add(w3, i32x4.extadd_pairwise_i16x8_u(d));
      src += 64;
      dst += 64;
    }
    len -= block;
    const s01 = i32x4.add(w0, w1);
    const s23 = i32x4.add(w2, w3);
    const s = i32x4.add(s01, s23); // each lane < 2^31 for a 16 KiB block
    v = i64x2.add(v, i64x2.add(i64x2.extend_low_i32x4_u(s), i64x2.extend_high_i32x4_u(s)));
  }
  acc += <u64>i64x2.extract_lane(v, 0) + <u64>i64x2.extract_lane(v, 1);
  if (len > 0) {
    memory.copy(dst, src, <usize>len);
    acc = csumPartialScalar(src, len, acc);
  }
  return acc;
}
