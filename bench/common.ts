// Shared plumbing for the micro-benchmarks: result records, printing, warm-up.
import { Bench } from "tinybench";

export interface BenchResult { name: string; value: number; unit: string; note?: string }

/** Runs `fn` (which does `work` units per call) long enough to tier up, then measures units/s. */
export async function rate(name: string, work: number, fn: () => void, timeMs = 400): Promise<number> {
  const warm = performance.now();
  while (performance.now() - warm < 200) fn(); // Liftoff -> TurboFan before measuring
  const b = new Bench({ name, time: timeMs, warmupTime: 50 });
  b.add(name, fn);
  await b.run();
  const t = b.tasks[0]!.result as { throughput?: { mean: number }; hz?: number };
  const hz = t.throughput?.mean ?? t.hz ?? 0;
  return hz * work;
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
