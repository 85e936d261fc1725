// Checksum kernels exported for tests and benchmarks (the pipeline calls them directly).
import { csumPartial, csumPartialScalar, csumFinish, csumReplace16 } from "./checksum";

/** The RFC 1071 checksum field value (LE word form) over `len` bytes at `ptr`. */
export function checksum(ptr: usize, len: i32): i32 { return <i32>csumFinish(csumPartial(ptr, len, 0)); }
/** Same with the scalar kernel only (for differential tests and the benchmark). */
export function checksumScalar(ptr: usize, len: i32): i32 { return <i32>csumFinish(csumPartialScalar(ptr, len, 0)); }
/** Checksums `count` buffers of `len` bytes laid out `stride` apart; returns their xor (benchmark driver). */
export function checksumMany(ptr: usize, len: i32, stride: i32, count: i32): i32 {
  let x: u32 = 0;
  for (let k = 0; k < count; k++) x ^= csumFinish(csumPartial(ptr + <usize>(k * stride), len, 0));
  return <i32>x;
}
/** RFC 1624 eqn. 3 over LE words. */
export function checksumReplace16(check: i32, oldWord: i32, newWord: i32): i32 { return <i32>csumReplace16(<u32>check, <u32>oldWord, <u32>newWord); }
