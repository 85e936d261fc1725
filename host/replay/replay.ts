// `weft replay`: captured frames through the same Wasm pipeline, with the pods, routes and peers
// of a node config. Inputs from several ports are merged in timestamp order and run in batches;
// every port that emits gets its own pcap (pods: Ethernet, host and underlay: raw IP) and every
// input packet one JSON line in verdicts.jsonl saying what became of it and why.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readPcapFile, encodePcap, LinkType, ipPacketOf, type PcapRecord, type PcapTimestamp } from "../pcap/index.ts";
import { NodeTables } from "../tables/node-tables.ts";
import type { NodeConfig } from "../config/node-config.ts";
import { PORT_HOST, PORT_UNDERLAY, BATCH_MAX } from "../wasm/abi.ts";

export interface ReplayInput { port: string; file: string }
export interface ReplayOptions { config: NodeConfig; inputs: ReplayInput[]; outDir: string; batchSize?: number }
export interface VerdictLine { i: number; in: string; verdict: string; out?: string; reason?: string; tx?: number; note?: string }
export interface ReplaySummary { packets: number; verdicts: Record<string, number>; drops: Record<string, number>; outputs: Record<string, number>; files: string[] }

interface Pending { ts: PcapTimestamp; portName: string; port: number; bytes: Uint8Array | undefined; note?: string }

export class ReplayError extends Error {
  constructor(message: string) { super(message); this.name = "ReplayError"; }
}

/** Parses `--in` values: "<port>=<file>" where port is host, underlay, pod:NAME or NAME. */
export function parseInputSpec(spec: string): ReplayInput {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) throw new ReplayError(`--in expects <port>=<file.pcap>, got ${JSON.stringify(spec)}`);
  return { port: spec.slice(0, eq), file: spec.slice(eq + 1) };
}

/** Bytes the pipeline expects on a port: Ethernet frames for pods, IP packets for host and underlay. */
function framesFor(rec: PcapRecord, port: number): { bytes?: Uint8Array; note?: string } {
  if (port === PORT_HOST || port === PORT_UNDERLAY) {
    const ip = ipPacketOf(rec.linkType, rec.data);
    return ip ? { bytes: ip.bytes } : { note: "not an IP packet (link type " + rec.linkType + ")" };
  }
  if (rec.linkType !== LinkType.Ethernet) return { note: `pod ports take Ethernet captures, this is link type ${rec.linkType}` };
  return { bytes: rec.data };
}

const fileNameOf = (portName: string) => portName.replace(/^pod:/, "pod-").replace(/[^A-Za-z0-9._-]/g, "_") + ".pcap";

export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const tables = NodeTables.create(opts.config);
  const dp = tables.dp;
  const batchSize = Math.max(1, Math.min(opts.batchSize ?? BATCH_MAX, BATCH_MAX));
  const pending: Pending[] = [];
  for (const input of opts.inputs) {
    const port = tables.portOf(input.port);
    const portName = tables.portName(port);
    let recs: PcapRecord[];
    try { recs = (await readPcapFile(input.file)).records; } catch (e) { throw new ReplayError(`${input.file}: ${(e as Error).message}`); }
    for (const r of recs) {
      const f = framesFor(r, port);
      pending.push({ ts: r.ts, portName, port, bytes: f.bytes ? f.bytes.slice() : undefined, note: f.note });
    }
  }
  // Stable merge by timestamp (inputs in command-line order on ties).
  pending.sort((a, b) => a.ts.sec - b.ts.sec || a.ts.nsec - b.ts.nsec);

  mkdirSync(opts.outDir, { recursive: true });
  const outputs = new Map<string, { linkType: number; records: { ts: PcapTimestamp; data: Uint8Array }[] }>();
  const lines: string[] = [];
  const summary: ReplaySummary = { packets: pending.length, verdicts: {}, drops: {}, outputs: {}, files: [] };
  const bump = (m: Record<string, number>, k: string) => { m[k] = (m[k] ?? 0) + 1; };

  for (let start = 0; start < pending.length; start += batchSize) {
    const batch = pending.slice(start, start + batchSize);
    // Inputs the pipeline cannot even take (wrong link type, bigger than a slot) are reported here.
    const slotOf: number[] = [];
    let n = 0;
    for (const p of batch) {
      if (!p.bytes || p.bytes.length > dp.maxPacket) { slotOf.push(-1); continue; }
      dp.putPacket(n, p.bytes, p.port);
      slotOf.push(n++);
    }
    const baseMs = batch[0]!.ts.sec * 1000 + Math.floor(batch[0]!.ts.nsec / 1e6);
    const txn = dp.process(n, baseMs);
    const tsOfSlot = batch.filter((_, k) => slotOf[k]! >= 0).map((p) => p.ts);
    for (let k = 0; k < txn; k++) {
      const t = dp.tx(k);
      const name = tables.portName(t.port);
      let o = outputs.get(name);
      if (!o) outputs.set(name, (o = { linkType: t.port === PORT_HOST || t.port === PORT_UNDERLAY ? LinkType.Raw : LinkType.Ethernet, records: [] }));
      o.records.push({ ts: tsOfSlot[t.input]!, data: dp.txBytes(k) });
      bump(summary.outputs, name);
    }
    batch.forEach((p, k) => {
      const i = start + k;
      const s = slotOf[k]!;
      let line: VerdictLine;
      if (s < 0) {
        line = { i, in: p.portName, verdict: "drop", reason: "NotReplayable", note: p.note ?? `larger than a slot (${dp.maxPacket} bytes)` };
      } else {
        const r = dp.result(s);
        line = { i, in: p.portName, verdict: r.verdict };
        if (r.verdict === "forward") line.out = tables.peerName(r.peer);
        else if (r.verdict === "deliver") line.out = tables.portName(r.port);
        if (r.verdict === "drop") line.reason = r.reason;
        if (r.txCount !== (r.verdict === "drop" ? 0 : 1)) line.tx = r.txCount;
      }
      bump(summary.verdicts, line.verdict);
      if (line.reason) bump(summary.drops, line.reason);
      lines.push(JSON.stringify(line));
    });
  }

  for (const [name, o] of outputs) {
    const file = join(opts.outDir, fileNameOf(name));
    writeFileSync(file, encodePcap(o.linkType, o.records));
    summary.files.push(file);
  }
  const vfile = join(opts.outDir, "verdicts.jsonl");
  writeFileSync(vfile, lines.length ? lines.join("\n") + "\n" : "");
  summary.files.push(vfile);
  return summary;
}
