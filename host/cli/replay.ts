import { parseArgs, one, UsageError } from "./args.ts";
import { loadNodeConfig } from "../config/node-config.ts";
import { replay, parseInputSpec } from "../replay/replay.ts";

export const replayUsage = `weft replay --config tables.yaml --in <port>=<file.pcap> [--in ...] --out <dir>

Runs captured frames through the Wasm pipeline with the pods, peers and routes of the config.
<port> is host, underlay, pod:NAME or NAME. Writes <dir>/<port>.pcap for every port that emits
packets (pod-NAME.pcap, host.pcap, underlay.pcap) and <dir>/verdicts.jsonl, one line per input.`;

export async function replayCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const cfg = loadNodeConfig(one(a, "config")!);
  const inputs = (a.options.get("in") ?? []).map(parseInputSpec);
  if (inputs.length === 0) throw new UsageError("at least one --in <port>=<file.pcap> is required");
  const out = one(a, "out")!;
  const s = await replay({ config: cfg, inputs, outDir: out });
  console.log(`${s.packets} packets: ${Object.entries(s.verdicts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
  for (const [k, v] of Object.entries(s.drops).sort((x, y) => y[1] - x[1])) console.log(`  drop ${k}: ${v}`);
  for (const f of s.files) console.log(`wrote ${f}`);
  return 0;
}
