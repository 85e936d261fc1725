// Smoke test of the micro-benchmarks behind `npm run bench`: the harness's rate() and the checksum
// and pipeline benches run briefly and report every row the documentation and the JSON output
// promise, each a positive, finite rate. The numbers themselves are not judged here (speed targets
// live in the benchmarks, not in tests).
import { describe, it, expect } from "vitest";
import { rate } from "../bench/common.ts";
import { runChecksumBench } from "../bench/checksum.ts";
import { runPipelineBench } from "../bench/pipeline.ts";

const positive = (v: number) => Number.isFinite(v) && v > 0;

describe("micro-benchmark harness", () => {
  it("rate() measures units per CPU second and scales with the work per call", async () => {
    let calls = 0;
    let sink = 0;
    const fn = () => { calls++; for (let i = 0; i < 2000; i++) sink += i & 7; };
    const r = await rate("spin", 2000, fn, 30);
    expect(positive(r)).toBe(true);
    expect(calls).toBeGreaterThan(100); // warm-up plus samples of k calls each
    // A loop of 2000 additions cannot run at more than ~1e12 units/s or less than ~1e5 on any machine.
    expect(r).toBeGreaterThan(1e5);
    expect(r).toBeLessThan(1e12);
    expect(sink).toBeGreaterThan(0);
  });
});

describe("micro-benchmarks (short run)", () => {
  it("checksum: every size for the Wasm kernel, the scalar kernel and the JS reference", async () => {
    const rows = await runChecksumBench({ timeMs: 20 });
    for (const len of [64, 1500, 9000]) {
      for (const kind of ["wasm", "wasm scalar", "reference (JS)"]) {
        const row = rows.find((r) => r.name === `checksum ${len} B ${kind}`);
        expect(row, `checksum ${len} B ${kind}`).toBeDefined();
        expect(row!.unit).toBe("GB/s");
        expect(positive(row!.value)).toBe(true);
      }
    }
  }, 60_000);

  it("pipeline: encap and decap at every batch size and frame size, net of the header restore", async () => {
    const rows = await runPipelineBench({ timeMs: 20 });
    for (const dir of ["encap", "decap"]) {
      for (const size of [64, 1400]) {
        for (const batch of [1, 32, 256]) {
          const row = rows.find((r) => r.name === `${dir} ${size} B batch ${batch}`);
          expect(row, `${dir} ${size} B batch ${batch}`).toBeDefined();
          expect(row!.unit).toBe("Mpps");
          expect(positive(row!.value)).toBe(true);
          expect(rows.some((r) => r.name === `${dir} ${size} B batch ${batch} (net of restore)`)).toBe(true);
        }
      }
    }
  }, 120_000);
});
