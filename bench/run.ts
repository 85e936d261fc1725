// `npm run bench [-- --json FILE] [--quick]`: every data-plane micro-benchmark in one run, each
// beside its slow reference, printed as tables and optionally written as JSON.
import { writeFileSync } from "node:fs";
import { printTable, type BenchResult } from "./common.ts";
import { runPipelineBench } from "./pipeline.ts";
import { runChecksumBench } from "./checksum.ts";

const args = process.argv.slice(2);
const jsonAt = args.indexOf("--json");
const quick = args.includes("--quick");
const timeMs = quick ? 100 : 400;

const all: Record<string, BenchResult[]> = {};
all.pipeline = await runPipelineBench({ timeMs, reference: await loadReference() });
printTable("Pipeline (one core)", all.pipeline);
all.checksum = await runChecksumBench({ timeMs });
printTable("Checksum", all.checksum);
try {
  const { runLpmBench } = await import("./lpm.ts");
  all.lpm = await runLpmBench({ quick });
  printTable("Longest-prefix match", all.lpm);
} catch (e) {
  console.error(`LPM bench unavailable: ${(e as Error).message}`);
}

try {
  const { runOffloadBench } = await import("./offload.ts");
  all.offload = await runOffloadBench({ quick });
  printTable("TUN/TAP offloads (TSO split, GRO coalescing)", all.offload);
} catch (e) {
  console.error(`offload bench unavailable: ${(e as Error).message}`);
}

if (jsonAt >= 0) {
  const file = args[jsonAt + 1];
  if (!file) throw new Error("--json needs a file name");
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, results: all }, null, 2));
  console.log(`\nwrote ${file}`);
}

async function loadReference() {
  try {
    const m = await import("./reference-pipeline.ts");
    return m.referencePipeline;
  } catch {
    return undefined;
  }
}
