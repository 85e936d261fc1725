// Pipeline throughput, one core: pod -> remote node (route + TTL + VXLAN encap over IPv4) and
// underlay -> pod (decap + validation + route + TTL), at batch sizes 1, 32, 256 with 64- and
// 1400-byte pod frames (the inner Ethernet frame). Every timed call also restores the packet
// headers the pipeline rewrote in place (a memory.copy of 64 bytes per packet inside Wasm), so
// the figures are conservative. 256 distinct flows.
import { makeNode, runOne, NODE, POD_A, PEER4 } from "../test/helpers/node.ts";
import * as F from "../test/helpers/frames.ts";
import { PORT_UNDERLAY } from "../host/wasm/abi.ts";
import type { Dataplane } from "../host/wasm/dataplane.ts";
import { rate, type BenchResult } from "./common.ts";

export interface PipelineBenchOptions { timeMs?: number; reference?: (frames: { port: number; bytes: Uint8Array }[]) => () => void }

function encapFrames(size: number): Uint8Array[] {
  return Array.from({ length: 256 }, (_, i) => {
    const dst = `10.244.2.${1 + (i % 250)}`;
    const data = new Uint8Array(size - 14 - 20 - 8);
    return F.eth(NODE.routerMac, POD_A.mac, 0x0800, F.ipv4(POD_A.ipv4, dst, 17, F.udp(POD_A.ipv4, dst, 1000 + i, 53, data), { ttl: 64 }));
  });
}

function decapFrames(size: number): Uint8Array[] {
  return Array.from({ length: 256 }, (_, i) => {
    const src = `10.244.2.${1 + (i % 250)}`;
    const data = new Uint8Array(size - 14 - 20 - 8);
    const inner = F.eth(NODE.vtepMac, PEER4.vtepMac, 0x0800, F.ipv4(src, POD_A.ipv4, 17, F.udp(src, POD_A.ipv4, 1000 + i, 53, data)));
    return F.ipv4(PEER4.underlay, NODE.underlay4!, 17, F.udp(PEER4.underlay, NODE.underlay4!, 33000 + i, 8472, F.vxlan(1, inner), true));
  });
}

/** Loads frames as pristine copies in the generated slots and as descriptors for slots 0..255. */
function stage(dp: Dataplane, frames: Uint8Array[], port: number): void {
  frames.forEach((f, i) => {
    const g = dp.genSlots + i * dp.slotSize + dp.headroom;
    dp.u8.set(f, g);
    dp.putPacket(i, f, port);
  });
}

export async function runPipelineBench(opts: PipelineBenchOptions = {}): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const dir of ["encap", "decap"] as const) {
    for (const size of [64, 1400]) {
      const dp = makeNode();
      const frames = dir === "encap" ? encapFrames(size) : decapFrames(size);
      const port = dir === "encap" ? POD_A.port : PORT_UNDERLAY;
      const want = dir === "encap" ? "forward" : "deliver";
      for (const f of frames.slice(0, 4)) {
        const r = runOne(dp, f, port).result;
        if (r.verdict !== want) throw new Error(`${dir} ${size}: expected ${want}, got ${JSON.stringify(r)}`);
      }
      stage(dp, frames, port);
      const ex = dp.exports;
      for (const batch of [1, 32, 256]) {
        const calls = 256 / batch;
        // Descriptor i must describe slot i, so each call re-runs slots 0..batch-1: restore them first.
        const fn = () => {
          for (let c = 0; c < calls; c++) { ex.restoreSlotsFromGen!(batch, 64); ex.process!(batch, 0); }
        };
        fn();
        for (let i = 0; i < batch; i++) if (dp.result(i).verdict !== want) throw new Error(`${dir} ${size} batch ${batch}: packet ${i} ${JSON.stringify(dp.result(i))}`);
        const pps = await rate(`${dir}-${size}-b${batch}`, 256, fn, opts.timeMs);
        // The same restores alone, to report the pipeline net of the benchmark's own header copy.
        const restoreOnly = () => { for (let c = 0; c < calls; c++) ex.restoreSlotsFromGen!(batch, 64); };
        const rps = await rate(`${dir}-${size}-b${batch}-restore`, 256, restoreOnly, opts.timeMs);
        // When noise makes the restore alone measure no faster than restore + pipeline, there is no
        // net figure for this run: NaN (null in the JSON), said in the note.
        const perPacketNet = 1 / pps - 1 / rps;
        const net = perPacketNet > 0 ? 1 / perPacketNet : NaN;
        const netNote = Number.isFinite(net) ? `net of the header restore: ${(net / 1e6).toFixed(1)} Mpps` : "net of the header restore: not computable in this run (the restore alone measured no faster)";
        out.push({ name: `${dir} ${size} B batch ${batch}`, value: pps / 1e6, unit: "Mpps", note: netNote });
        out.push({ name: `${dir} ${size} B batch ${batch} (net of restore)`, value: net / 1e6, unit: "Mpps" });
      }
      if (opts.reference) {
        const refFn = opts.reference(frames.slice(0, 32).map((bytes) => ({ port, bytes })));
        const pps = await rate(`${dir}-${size}-ref`, 32, refFn, Math.min(opts.timeMs ?? 400, 200));
        out.push({ name: `${dir} ${size} B reference model (JS)`, value: pps / 1e6, unit: "Mpps" });
      }
    }
  }
  return out;
}
