// The Internet checksum, written to be obviously right rather than fast. Reference for the Wasm
// checksum code and for building expected packets in tests.
//
// RFC 1071 §1: pair adjacent octets into 16-bit big-endian integers, form their one's complement
// sum (end-around carry), and the checksum is the one's complement of that sum. An odd trailing
// octet is padded with a zero octet on the right. Verifying: the sum over the data including the
// checksum field is 0xffff.

/** 16-bit one's complement sum of `len` bytes at `off` (not complemented). Starts from `initial`. */
export function onesComplementSum(bytes: Uint8Array, off = 0, len = bytes.length - off, initial = 0): number {
  if (off < 0 || len < 0 || off + len > bytes.length) throw new RangeError(`checksum range ${off}+${len} outside ${bytes.length} bytes`);
  let sum = initial;
  for (let i = 0; i < len; i += 2) {
    const hi = bytes[off + i]!;
    const lo = i + 1 < len ? bytes[off + i + 1]! : 0; // RFC 1071 §1: pad an odd octet with zero
    sum += (hi << 8) | lo;
    sum = (sum & 0xffff) + (sum >>> 16); // end-around carry, one word at a time
  }
  return sum;
}

/** Adds 16-bit one's complement values. */
export function onesAdd(...words: number[]): number {
  let sum = 0;
  for (const w of words) {
    sum += w & 0xffff;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

/** The checksum to put in a header: the complement of the sum (RFC 1071 §1 step 2). */
export function internetChecksum(bytes: Uint8Array, off = 0, len = bytes.length - off, initial = 0): number {
  return ~onesComplementSum(bytes, off, len, initial) & 0xffff;
}

/** True when the data, checksum field included, sums to 0xffff (RFC 1071 §1 step 3). */
export function verifyChecksum(bytes: Uint8Array, off = 0, len = bytes.length - off, initial = 0): boolean {
  return onesComplementSum(bytes, off, len, initial) === 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (RFC 768; RFC 9293 §3.1 for TCP):
 * source address, destination address, zero, protocol, upper-layer length.
 */
export function pseudoHeaderSum4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  const ph = new Uint8Array(12);
  ph.set(src.subarray(0, 4), 0);
  ph.set(dst.subarray(0, 4), 4);
  ph[8] = 0;
  ph[9] = protocol;
  ph[10] = (length >> 8) & 0xff;
  ph[11] = length & 0xff;
  return onesComplementSum(ph);
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination (the final destination if a
 * Routing header is present), 32-bit upper-layer length, 3 zero octets, next header.
 */
export function pseudoHeaderSum6(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): number {
  const ph = new Uint8Array(40);
  ph.set(src.subarray(0, 16), 0);
  ph.set(dst.subarray(0, 16), 16);
  ph[32] = (length >>> 24) & 0xff;
  ph[33] = (length >>> 16) & 0xff;
  ph[34] = (length >>> 8) & 0xff;
  ph[35] = length & 0xff;
  ph[39] = nextHeader;
  return onesComplementSum(ph);
}

/**
 * UDP/TCP/ICMPv6 checksum over the pseudo-header and the upper-layer bytes (checksum field must be
 * zero in `l4`, or pass its offset as `checksumAt` to skip it).
 */
export function upperLayerChecksum(pseudoSum: number, l4: Uint8Array, off = 0, len = l4.length - off): number {
  return internetChecksum(l4, off, len, pseudoSum);
}

/**
 * UDP's transmitted checksum: a computed 0 is sent as 0xffff, because 0 means "no checksum"
 * over IPv4 (RFC 768; RFC 8200 §8.1 keeps the rule for IPv6, where 0 is not allowed by default).
 */
export function udpWireChecksum(computed: number): number {
  return computed === 0 ? 0xffff : computed;
}

/**
 * RFC 1624 §3, Eqn. 3: the new checksum after a 16-bit field changes from `m` to `mNew`,
 * HC' = ~(~HC + ~m + m'). Unlike RFC 1141's Eqn. 2 it never produces 0xffff where a full
 * recomputation would give 0 (see the §4 example). A one's complement sum is 0x0000 only when
 * every term is, so the result is 0xffff only for HC = 0xffff, m = 0xffff, m' = 0; an unchanged
 * field leaves HC unchanged (contrary to the arithmetic in reported erratum 4782).
 */
export function incrementalUpdate16(hc: number, m: number, mNew: number): number {
  return ~onesAdd(~hc & 0xffff, ~m & 0xffff, mNew & 0xffff) & 0xffff;
}

/** Eqn. 3 applied to a 32-bit field (an IPv4 address) as two 16-bit words. */
export function incrementalUpdate32(hc: number, m: number, mNew: number): number {
  const a = incrementalUpdate16(hc, (m >>> 16) & 0xffff, (mNew >>> 16) & 0xffff);
  return incrementalUpdate16(a, m & 0xffff, mNew & 0xffff);
}

/** Eqn. 3 over an arbitrary changed byte range (old and new of the same even length, aligned). */
export function incrementalUpdateBytes(hc: number, old: Uint8Array, now: Uint8Array): number {
  if (old.length !== now.length || old.length % 2 !== 0) throw new RangeError("incremental update needs equal, even lengths");
  return ~onesAdd(~hc & 0xffff, ~onesComplementSum(old) & 0xffff, onesComplementSum(now)) & 0xffff;
}
