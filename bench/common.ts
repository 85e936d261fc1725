// Shared plumbing for the micro-benchmarks: result records, printing, warm-up.
import { Bench } from "tinybench";

export interface BenchResult { name: string; value: number; unit: string; note?: string }

/** CPU time one tinybench sample should take at least: long enough that the clock reads are noise. */
const MIN_SAMPLE_MS = 0.5;

/** This process's CPU time (user + system) in ms: time it was descheduled does not count. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Runs `fn` (which does `work` units per call) long enough to tier up, then measures units per
 * second of this process's CPU time: the median over tinybench samples, each `k` calls of `fn`.
 * - CPU time, not wall time: on a shared VM other processes take our core away at random; a
 *   sample then gets longer in wall time but not in CPU time (the LPM bench does the same).
 * - `k` calls per sample, chosen after the warm-up so that a sample takes at least MIN_SAMPLE_MS:
 *   tinybench reads the clock around every sample, which would otherwise be part of what is
 *   measured for calls of a few hundred ns (a checksum over 16 short buffers, batch-1 calls).
 * - The median, not the mean: a sample hit by an interrupt storm or a host-side stall is an
 *   outlier, not part of the code's speed.
 */
export async function rate(name: string, work: number, fn: () => void, timeMs = 400): Promise<number> {
  const warm = performance.now();
  let calls = 0;
  while (performance.now() - warm < 200) { fn(); calls++; } // Liftoff -> TurboFan before measuring
  const perCallMs = (performance.now() - warm) / Math.max(1, calls);
  const k = Math.max(1, Math.ceil(MIN_SAMPLE_MS / Math.max(perCallMs, 1e-6)));
  const sample = k === 1 ? fn : () => { for (let i = 0; i < k; i++) fn(); };
  const b = new Bench({ name, time: timeMs, warmupTime: 50, now: cpuMs });
  b.add(name, sample);
  await b.run();
  const r = b.tasks[0]!.result as { latency?: { p50: number } };
  const p50 = r.latency?.p50 ?? 0;
  if (!(p50 > 0)) throw new Error(`bench ${name}: no timed samples`);
  return (work * k * 1000) / p50;
}

export function printTable(title: string, rows: BenchResult[]): void {
  console.log(`\n${title}`);
  const w = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) console.log(`  ${r.name.padEnd(w)}  ${fmt(r.value).padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ""}`);
}

export function fmt(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
