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
  while (len >= 16) {
    a0 += <u64>load<u32>(ptr) + <u64>load<u32>(ptr, 4);
    a1 += <u64>load<u32>(ptr, 8) + <u64>load<u32>(ptr, 12);
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

/** SIMD partial sum; requires len >= 64. Lanes cannot overflow below 2^31 bytes per call. */
function csumPartialSimd(ptr: usize, len: i32, acc: u64): u64 {
  let v0 = i64x2.splat(0);
  let v1 = i64x2.splat(0);
  // Inner blocks of at most 16 KiB keep the i32 lanes far from overflow
  // (each extadd adds <= 2*65535 per lane per 16 bytes).
  while (len >= 64) {
    let block = len & ~63;
    if (block > 16384) block = 16384;
    let w0 = i32x4.splat(0);
    let w1 = i32x4.splat(0);
    let w2 = i32x4.splat(0);
    let w3 = i32x4.splat(0);
    const end = ptr + <usize>block;
    while (ptr < end) {
      w0 = i32x4.add(w0, i32x4.extadd_pairwise_i16x8_u(v128.load(ptr)));
      w1 = i32x4.add(w1, i32x4.extadd_pairwise_i16x8_u(v128.load(ptr, 16)));
      w2 = i32x4.add(w2, i32x4.extadd_pairwise_i16x8_u(v128.load(ptr, 32)));
      w3 = i32x4.add(w3, i32x4.extadd_pairwise_i16x8_u(v128.load(ptr, 48)));
      ptr += 64;
    }
    len -= block;
    const s01 = i32x4.add(w0, w1);
    const s23 = i32x4.add(w2, w3);
    v0 = i64x2.add(v0, i64x2.add(i64x2.extend_low_i32x4_u(s01), i64x2.extend_high_i32x4_u(s01)));
    v1 = i64x2.add(v1, i64x2.add(i64x2.extend_low_i32x4_u(s23), i64x2.extend_high_i32x4_u(s23)));
  }
  const v = i64x2.add(v0, v1);
  acc += <u64>i64x2.extract_lane(v, 0) + <u64>i64x2.extract_lane(v, 1);
  return len ? csumPartialScalar(ptr, len, acc) : acc;
}

/** Partial sum of `len` bytes at `ptr`, added to `acc`. Picks SIMD for long buffers. */
@inline
export function csumPartial(ptr: usize, len: i32, acc: u64): u64 {
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
