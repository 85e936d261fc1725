// Internet checksum (RFC 1071) for host-side packet building and the fakes; the data plane has
// its own in assembly/csum.

/** One's complement sum of bytes [start, end) added to `acc` (unfolded). */
export function sum16(b: Uint8Array, start: number, end: number, acc = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  return acc;
}

/** Folds and complements a sum into a 16-bit checksum. */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

/** IPv4 header checksum of the header at `off` (field assumed zeroed or ignored: pass zeroed). */
export function ipv4HeaderChecksum(b: Uint8Array, off: number, ihlBytes = 20): number {
  return fold(sum16(b, off, off + ihlBytes));
}

/**
 * UDP checksum of the IPv4/IPv6 packet at `off` whose UDP header starts at `udpOff` and is
 * `udpLen` long, with the checksum field treated as zero. A result of 0 is returned as 0xffff.
 */
export function udpChecksum(b: Uint8Array, off: number, udpOff: number, udpLen: number): number {
  const v6 = b[off]! >> 4 === 6;
  let acc = v6 ? sum16(b, off + 8, off + 40) : sum16(b, off + 12, off + 20);
  acc += 17 + udpLen;
  acc += sum16(b, udpOff, udpOff + 6) + sum16(b, udpOff + 8, udpOff + udpLen);
  const c = fold(acc);
  return c === 0 ? 0xffff : c;
}
