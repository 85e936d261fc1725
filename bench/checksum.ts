// Checksum throughput: the Wasm kernel (SIMD for long buffers), the Wasm scalar kernel, and the
// slow byte-by-byte reference in the same run, at 64, 1500 and 9000 bytes.
import { Dataplane } from "../host/wasm/dataplane.ts";
import { rate, type BenchResult } from "./common.ts";
import { checksum as referenceChecksum } from "../test/helpers/frames.ts";

export async function runChecksumBench(opts: { timeMs?: number } = {}): Promise<BenchResult[]> {
  const dp = Dataplane.create({ slotSizeLog2: 14, maxPods: 4, maxPeers: 4 });
  const ex = dp.exports;
  const out: BenchResult[] = [];
  const BUFS = 16;
  for (const len of [64, 1500, 9000]) {
    const stride = dp.slotSize;
    for (let k = 0; k < BUFS; k++) for (let j = 0; j < len; j++) dp.u8[dp.slots + k * stride + j] = (k * 31 + j * 7) & 0xff;
    // all three agree before anything is timed
    for (let k = 0; k < BUFS; k++) {
      const view = dp.u8.subarray(dp.slots + k * stride, dp.slots + k * stride + len);
      const ref = referenceChecksum(view);
      const w = ex.checksum!(dp.slots + k * stride, len);
      const wle = ((w & 0xff) << 8) | (w >> 8); // LE word form -> network order
      if (wle !== ref || ex.checksumScalar!(dp.slots + k * stride, len) !== w) throw new Error(`checksum mismatch at ${len} bytes`);
    }
    const bytes = BUFS * len;
    const simd = await rate(`csum-${len}`, bytes, () => { ex.checksumMany!(dp.slots, len, stride, BUFS); }, opts.timeMs);
    const scalarMany = () => { for (let k = 0; k < BUFS; k++) ex.checksumScalar!(dp.slots + k * stride, len); };
    const scalar = await rate(`csum-scalar-${len}`, bytes, scalarMany, opts.timeMs);
    const bufs = Array.from({ length: BUFS }, (_, k) => dp.u8.slice(dp.slots + k * stride, dp.slots + k * stride + len));
    const ref = await rate(`csum-ref-${len}`, bytes, () => { for (const b of bufs) referenceChecksum(b); }, Math.min(opts.timeMs ?? 400, 200));
    out.push({ name: `checksum ${len} B wasm`, value: simd / 1e9, unit: "GB/s" });
    out.push({ name: `checksum ${len} B wasm scalar`, value: scalar / 1e9, unit: "GB/s" });
    out.push({ name: `checksum ${len} B reference (JS)`, value: ref / 1e9, unit: "GB/s" });
  }
  return out;
}
