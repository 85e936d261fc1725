import { parseArgs, one, UsageError } from "./args.ts";
import { runDemo } from "../demo/demo.ts";

export const demoUsage = `weft demo [--encapsulation vxlan|geneve] [--underlay 4|6] [--keep]

Builds 2 nodes x 2 pods in network namespaces, starts a Weft router per node, shows pods reaching
each other across nodes (IPv4, IPv6; ping and a TCP transfer verified by hash), prints the
counters and removes everything (also on Ctrl-C). --keep leaves it up until Ctrl-C.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ["keep"]);
  const enc = one(a, "encapsulation", false) ?? "vxlan";
  if (enc !== "vxlan" && enc !== "geneve") throw new UsageError("--encapsulation takes vxlan or geneve");
  const ul = Number(one(a, "underlay", false) ?? 4);
  if (ul !== 4 && ul !== 6) throw new UsageError("--underlay takes 4 or 6");
  return runDemo({ encapsulation: enc, underlay: ul, keep: a.flags.has("keep") });
}
