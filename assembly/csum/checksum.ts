// Internet checksum (RFC 1071), pseudo-header sums (RFC 768, RFC 8200 §8.1) and incremental
// update (RFC 1624).
//
// Byte order contract: every sum here is taken over LITTLE-ENDIAN 16-bit words, because Wasm loads
// are little-endian and byte-swapping costs 5 ops. One's-complement addition is byte-order
// independent (RFC 1071 §2(B)), so a folded LE sum stored back with `store<u16>` is exactly the
// network-order checksum field. All values passed to or returned from these functions are in
// that "LE word" form: a 16-bit field read with `load<u16>(p)` can be fed in as is.
//
// Accumulators are u64 "partial sums": add any number of them, fold once at the end.

/** Length from which the SIMD path beats the scalar one (measured: bench/checksum.ts). */
const SIMD_MIN_LEN: i32 = 128;

/** Folds a partial sum to 16 bits (end-around carry), NOT complemented. */
@inline
export function csumFold(acc: u64): u32 {
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  let s = <u32>acc;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return s;
}

/** The checksum field value for a partial sum: ~fold(acc), ready for `store<u16>`. */
@inline
export function csumFinish(acc: u64): u16 {
  return <u16>(~csumFold(acc) & 0xffff);
}

/** Scalar partial sum of `len` bytes at `ptr` (any alignment, any length) added to `acc`. */
export function csumPartialScalar(ptr: usize, len: i32, acc: u64): u64 {
  let a0: u64 = acc;
  let a1: u64 = 0;
  // 64-bit loads, each added as its two 32-bit words: half the loads of 32-bit ones, which counts
  // in the AOT runtime (docs/AOT.md), where every load carries a bounds check.
  while (len >= 32) {
    const x0 = load<u64>(ptr);
    const x1 = load<u64>(ptr, 8);
    const x2 = load<u64>(ptr, 16);
    const x3 = load<u64>(ptr, 24);
    a0 += (x0 & 0xffffffff) + (x0 >> 32) + (x2 & 0xffffffff) + (x2 >> 32);
    a1 += (x1 & 0xffffffff) + (x1 >> 32) + (x3 & 0xffffffff) + (x3 >> 32);
    ptr += 32;
    len -= 32;
  }
  if (len >= 16) {
    const x0 = load<u64>(ptr);
    const x1 = load<u64>(ptr, 8);
    a0 += (x0 & 0xffffffff) + (x0 >> 32);
    a1 += (x1 & 0xffffffff) + (x1 >> 32);
    ptr += 16;
    len -= 16;
  }
  while (len >= 4) {
    a0 += <u64>load<u32>(ptr);
    ptr += 4;
    len -= 4;
  }
  if (len >= 2) {
    a1 += <u64>load<u16>(ptr);
    ptr += 2;
    len -= 2;
  }
  // A trailing odd byte is the high-order byte of a zero-padded network word: in LE form, the low byte.
  if (len) a1 += <u64>load<u8>(ptr);
  return a0 + a1;
}

/**
 * SIMD partial sum; requires len >= 64.
 *
 * Per i32 lane, two accumulators over the loaded 32-bit words w = hi·2^16 + lo: `all` += w
 * (wrapping mod 2^32) and `high` += w >> 16. Then Σlo = all − (high << 16) mod 2^32, exact while
 * Σlo < 2^32, i.e. for fewer than 65537 additions per lane, and the lane's word sum is
 * Σlo + Σhi. That is one shift and two adds per 16 bytes (`i32x4.extadd_pairwise_i16x8_u` plus
 * an add is four ops on x64). Blocks of at most 256 KiB, summed by four accumulator pairs, then
 * the < 64-byte tail, stay below 4·4096 + 4 additions per lane.
 *
 * The tail: 16-byte pieces, then the last even number (< 16) of bytes as one 16-byte load that
 * ends there, with the bytes in front of them (already summed) masked out. It starts an even
 * number of bytes after `ptr`, so its words are the buffer's words; it never reads before the
 * buffer because at least 64 bytes were summed first. An odd last byte is added alone.
 */
function csumPartialSimd(ptr: usize, len: i32, acc: u64): u64 {
  let v = i64x2.splat(0);
  do {
    let block = len & ~63;
    if (block > 262144) block = 262144;
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let a3 = i32x4.splat(0);
    let h0 = i32x4.splat(0);
    let h1 = i32x4.splat(0);
    let h2 = i32x4.splat(0);
    let h3 = i32x4.splat(0);
    const end = ptr + <usize>block;
    while (ptr < end) {
      const x0 = v128.load(ptr);
      const x1 = v128.load(ptr, 16);
      const x2 = v128.load(ptr, 32);
      const x3 = v128.load(ptr, 48);
      a0 = i32x4.add(a0, x0);
      h0 = i32x4.add(h0, i32x4.shr_u(x0, 16));
      a1 = i32x4.add(a1, x1);
      h1 = i32x4.add(h1, i32x4.shr_u(x1, 16));
      a2 = i32x4.add(a2, x2);
      h2 = i32x4.add(h2, i32x4.shr_u(x2, 16));
      a3 = i32x4.add(a3, x3);
      h3 = i32x4.add(h3, i32x4.shr_u(x3, 16));
      ptr += 64;
    }
    len -= block;
    let all = i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3));
    let high = i32x4.add(i32x4.add(h0, h1), i32x4.add(h2, h3));
    if (len < 64) {
      while (len >= 16) {
        const x = v128.load(ptr);
        all = i32x4.add(all, x);
        high = i32x4.add(high, i32x4.shr_u(x, 16));
        ptr += 16;
        len -= 16;
      }
      const even = len & ~1;
      if (even) {
        const skip = 16 - even;
        const x = v128.and(
          v128.load(ptr + <usize>even - 16),
          i8x16.ge_u(v128(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), i8x16.splat(<i8>skip)),
        );
        all = i32x4.add(all, x);
        high = i32x4.add(high, i32x4.shr_u(x, 16));
        ptr += <usize>even;
        len -= even;
      }
    }
    v = i64x2.add(v, widenSum(i32x4.sub(all, i32x4.shl(high, 16)), high));
  } while (len >= 64);
  acc += <u64>i64x2.extract_lane(v, 0) + <u64>i64x2.extract_lane(v, 1);
  // A trailing odd byte is the high-order byte of a zero-padded network word: in LE form, the low byte.
  return len ? acc + <u64>load<u8>(ptr) : acc;
}

/** Both u32x4 vectors' lanes added as u64 into two u64 lanes (no overflow for any input). */
@inline function widenSum(x: v128, y: v128): v128 {
  return i64x2.add(
    i64x2.add(i64x2.extend_low_i32x4_u(x), i64x2.extend_high_i32x4_u(x)),
    i64x2.add(i64x2.extend_low_i32x4_u(y), i64x2.extend_high_i32x4_u(y)),
  );
}

/** Partial sum of `len` bytes at `ptr`, added to `acc`. Picks SIMD for long buffers. */
@inline
export function csumPartial(ptr: usize, len: i32, acc: u64): u64 {
  if (!ASC_FEATURE_SIMD) return csumPartialScalar(ptr, len, acc); // the scalar build (docs/AOT.md)
  return len >= SIMD_MIN_LEN ? csumPartialSimd(ptr, len, acc) : csumPartialScalar(ptr, len, acc);
}

/** Checksum field value over a whole buffer (RFC 1071). */
@inline
export function csumOf(ptr: usize, len: i32): u16 {
  return csumFinish(csumPartial(ptr, len, 0));
}

/** Partial sum of the 20-byte IPv4 header at `p` (five u32 loads; no options). */
@inline
export function csumIpv4Header20(p: usize): u64 {
  return <u64>load<u32>(p) + <u64>load<u32>(p, 4) + <u64>load<u32>(p, 8) + <u64>load<u32>(p, 12) + <u64>load<u32>(p, 16);
}

/** Byte-swaps a 16-bit value (network <-> LE word form). */
@inline
export function bs16(x: u32): u32 {
  return ((x & 0xff) << 8) | ((x >> 8) & 0xff);
}

/**
 * IPv4 pseudo-header partial sum (RFC 768): source and destination addresses at `src`/`dst`,
 * protocol number and upper-layer length as plain integers.
 */
@inline
export function csumPseudo4(src: usize, dst: usize, proto: u32, upperLen: u32): u64 {
  return <u64>load<u32>(src) + <u64>load<u32>(dst) + <u64>(proto << 8) + <u64>bs16(upperLen);
}

/** IPv6 pseudo-header partial sum (RFC 8200 §8.1). `upperLen` < 2^32, `nextHeader` the upper protocol. */
@inline
export function csumPseudo6(src: usize, dst: usize, nextHeader: u32, upperLen: u32): u64 {
  let s: u64 = <u64>load<u32>(src) + <u64>load<u32>(src, 4) + <u64>load<u32>(src, 8) + <u64>load<u32>(src, 12);
  s += <u64>load<u32>(dst) + <u64>load<u32>(dst, 4) + <u64>load<u32>(dst, 8) + <u64>load<u32>(dst, 12);
  // upper-layer length is a 32-bit big-endian field: two words (hi16, lo16).
  s += <u64>bs16(upperLen >> 16) + <u64>bs16(upperLen & 0xffff) + <u64>(nextHeader << 8);
  return s;
}

/**
 * RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the covered data changed
 * from `oldWord` to `newWord`: HC' = ~(~HC + ~m + m'). Never yields the -0 problem of eqn. 2.
 * All three in LE word form.
 */
@inline
export function csumReplace16(check: u32, oldWord: u32, newWord: u32): u32 {
  let s: u32 = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/** RFC 1624 for a 32-bit word (e.g. an IPv4 address in NAT), as two 16-bit updates. */
@inline
export function csumReplace32(check: u32, oldWord: u32, newWord: u32): u32 {
  let s: u64 = <u64>(~check & 0xffff) + <u64>(~oldWord & 0xffff) + <u64>((~oldWord >> 16) & 0xffff)
    + <u64>(newWord & 0xffff) + <u64>(newWord >> 16);
  return ~csumFold(s) & 0xffff;
}

/**
 * Adjusts a checksum field for a change of a partial sum: new = ~(~check + ~old + new).
 * Use when several covered words change at once (e.g. a pseudo-header length).
 */
@inline
export function csumAdjust(check: u32, oldSum: u64, newSum: u64): u32 {
  const o = csumFold(oldSum);
  const n = csumFold(newSum);
  return csumReplace16(check, o, n);
}
