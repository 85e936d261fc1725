// Offload micro-benchmark: TSO split of a 64 KiB super-packet into 1448-byte segments and GRO
// coalescing of the 44 segments back, in Wasm (assembly/offload/) and in the slow reference
// (test/reference/offload.ts) in the same run.
// Run: node --import tsx bench/offload.ts [--json FILE] [--quick]
//
// Input: IPv4 or IPv6 TCP with timestamps (32-byte TCP header, as Linux sends), 44 x 1448 bytes
// of payload (63,712 B; the IP packet is 63,764 B for IPv4), NEEDS_CSUM as the kernel hands it
// over, TUN framing (no link header). Split writes into 44 slots of 2 KiB with 192 bytes of
// headroom, like the pipeline's. Coalescing verifies every segment's checksum (the default)
// unless the "trusted" variant says otherwise.
// Also: 256 gso_type NONE packets of 1500 and 64 bytes through tsoSplitBatch (the copy every
// plain TUN/TAP read costs when reads go to offload buffers first).
// Timing: 300 ms warm-up per variant (Liftoff -> TurboFan), then interleaved reps of ~50 ms;
// the median rep is reported, per second of this process's CPU time.

import type { BenchResult } from "./common.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import {
  OffloadHarness, makeSuperPacket, randomSuperSpec, referenceSplit, referenceCoalesce, type SuperSpec,
} from "../test/reference/offload.ts";
import { prng } from "../test/helpers/prng.ts";

export type OffloadBenchResult = BenchResult;

const MSS = 1448;
const SEGS = 44;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Calls per CPU-second of each variant: warm-up, then `reps` interleaved reps of ~repMs. */
function rates(fns: (() => void)[], warmMs: number, reps: number, repMs = 50): number[] {
  for (const f of fns) {
    const end = performance.now() + warmMs;
    while (performance.now() < end) f();
  }
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    fns.forEach((f, v) => {
      let calls = 0;
      const c0 = cpuMs();
      const end = performance.now() + repMs;
      while (performance.now() < end) {
        for (let k = 0; k < 8; k++) f();
        calls += 8;
      }
      samples[v]!.push(calls / ((cpuMs() - c0) / 1000));
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[s.length >> 1]!);
}

export async function runOffloadBench(opts: { quick?: boolean } = {}): Promise<OffloadBenchResult[]> {
  const h = new OffloadHarness(new Uint8Array(readFileSync(new URL("../build/weft.wasm", import.meta.url))));
  const ex = h.ex;
  const r = prng(0xbe4c);
  const timestamps = Uint8Array.from([1, 1, 8, 10, 0, 1, 2, 3, 4, 5, 6, 7]);
  const spec = (v6: boolean): SuperSpec => randomSuperSpec(r, {
    v6, l3Off: 0, payloadLen: SEGS * MSS, gsoSize: MSS, tcpFlags: 0x18, tcpOptions: timestamps, ipOptions: new Uint8Array(0),
    ipv6Ext: [], csum: "needs", ecn: false, df: true,
  });
  const inputs = [spec(false), spec(true)].map((s) => makeSuperPacket(r, s).input);
  const SLOT = 2048;
  const HEADROOM = 192;
  const slots = ex.offloadAlloc(SEGS * SLOT);
  const segOffs = ex.offloadAlloc(4 * SEGS);
  const segLens = ex.offloadAlloc(4 * SEGS);
  for (let k = 0; k < SEGS; k++) h.u32[(segOffs >> 2) + k] = slots + k * SLOT + HEADROOM;
  const inAt = [h.inArea, h.inArea + (1 << 17)];
  inputs.forEach((x, i) => h.u8.set(x, inAt[i]!));
  // USO: a QUIC-like sender's UDP_SEGMENT datagram of 44 x 1200 bytes, IPv4 and IPv6
  const USO_MSS = 1200;
  const usoInputs = [false, true].map((v6) => makeSuperPacket(r, randomSuperSpec(r, {
    udp: true, v6, l3Off: 0, payloadLen: SEGS * USO_MSS, gsoSize: USO_MSS, ipOptions: new Uint8Array(0), ipv6Ext: [], csum: "needs", ecn: false, df: true,
  })).input);
  const usoAt = [h.inArea + (2 << 20), h.inArea + (2 << 20) + (1 << 17)];
  usoInputs.forEach((x, i) => h.u8.set(x, usoAt[i]!));
  // segments of each family, for coalescing; and 4 flows of 11 interleaved
  const segs = inputs.map((x) => referenceSplit(x, 0) as Uint8Array[]);
  for (const s of segs) if (!Array.isArray(s) || s.length !== SEGS) throw new Error("bad setup");
  const fourFlows: Uint8Array[] = [];
  {
    const per: Uint8Array[][] = [];
    for (let f = 0; f < 4; f++) {
      const s = { ...spec(false), payloadLen: 11 * MSS, srcPort: 41000 + f };
      per.push(referenceSplit(makeSuperPacket(r, s).input, 0) as Uint8Array[]);
    }
    for (let k = 0; k < 11; k++) for (let f = 0; f < 4; f++) fourFlows.push(per[f]![k]!);
  }
  const batches = [segs[0]!, segs[1]!, fourFlows];
  // inputs for coalescing live after the super-packets; descriptors per batch
  const groIn = h.inArea + (1 << 18);
  const desc = batches.map((b, i) => {
    const base = groIn + i * (1 << 17);
    let o = base;
    const offs = ex.offloadAlloc(4 * b.length);
    const lens = ex.offloadAlloc(4 * b.length);
    b.forEach((p, k) => {
      h.u8.set(p, o);
      h.u32[(offs >> 2) + k] = o;
      h.u32[(lens >> 2) + k] = p.length;
      o += (p.length + 15) & ~15;
    });
    return { offs, lens, n: b.length, bytes: o - base };
  });
  const outBytes = 1 << 18;
  // 256 plain (gso_type NONE) packets of 1500 and of 64 bytes, as most reads are without bulk TCP
  const plain = [1500, 64].map((size) => {
    const n = 256;
    const buf = ex.offloadAlloc(n * 1536);
    const offs = ex.offloadAlloc(4 * n);
    const lens = ex.offloadAlloc(4 * n);
    const slotArea = ex.offloadAlloc(n * SLOT);
    const outOffs = ex.offloadAlloc(4 * n);
    const outLens = ex.offloadAlloc(4 * n);
    const results = ex.offloadAlloc(4 * n);
    for (let i = 0; i < n; i++) {
      const o = buf + i * 1536;
      h.u8.fill(0, o, o + 10);
      h.u8[o] = 2; // DATA_VALID
      h.u8.set(segs[0]![0]!.subarray(0, size - 10), o + 10);
      h.u32[(offs >> 2) + i] = o;
      h.u32[(lens >> 2) + i] = size;
      h.u32[(outOffs >> 2) + i] = slotArea + i * SLOT + HEADROOM;
    }
    return { size, n, offs, lens, outOffs, outLens, results };
  });
  for (const p of plain) {
    const got = ex.tsoSplitBatch(p.offs, p.lens, p.n, 0, p.outOffs, p.outLens, p.n, SLOT - HEADROOM, p.results);
    if (got !== p.n) throw new Error(`tsoSplitBatch gave ${got}`);
  }

  // all agree before anything is timed
  for (let i = 0; i < 2; i++) {
    const n = ex.tsoSplit(inAt[i]!, inputs[i]!.length, 0, segOffs, segLens, SEGS, SLOT - HEADROOM);
    if (n !== SEGS) throw new Error(`tsoSplit gave ${n}`);
    for (let k = 0; k < SEGS; k++) {
      const o = h.u32[(segOffs >> 2) + k]!;
      if (Buffer.compare(Buffer.from(h.u8.buffer, o, h.u32[(segLens >> 2) + k]!), Buffer.from(segs[i]![k]!)) !== 0) throw new Error("split differs from the reference");
    }
  }
  for (let i = 0; i < 2; i++) {
    const n = ex.tsoSplit(usoAt[i]!, usoInputs[i]!.length, 0, segOffs, segLens, SEGS, SLOT - HEADROOM);
    const want = referenceSplit(usoInputs[i]!, 0) as Uint8Array[];
    if (n !== SEGS || want.length !== SEGS) throw new Error(`USO split gave ${n}`);
    for (let k = 0; k < SEGS; k++) {
      const o = h.u32[(segOffs >> 2) + k]!;
      if (Buffer.compare(Buffer.from(h.u8.buffer, o, h.u32[(segLens >> 2) + k]!), Buffer.from(want[k]!)) !== 0) throw new Error("USO split differs from the reference");
    }
  }
  desc.forEach((d, i) => {
    const n = ex.groCoalesce(d.offs, d.lens, d.n, 0, h.groOut, outBytes, h.outOffs, h.outLens, 0);
    const want = referenceCoalesce(batches[i]!, 0);
    if (n !== want.length) throw new Error(`groCoalesce gave ${n}, reference ${want.length}`);
    for (let k = 0; k < n; k++) {
      const o = h.u32[(h.outOffs >> 2) + k]!;
      if (Buffer.compare(Buffer.from(h.u8.buffer, o, h.u32[(h.outLens >> 2) + k]!), Buffer.from(want[k]!)) !== 0) throw new Error("coalesce differs from the reference");
    }
  });

  const warm = opts.quick ? 150 : 300;
  const reps = opts.quick ? 5 : 15;
  const variants: { name: string; fn: () => void; segments: number; bytes: number }[] = [
    { name: "split IPv4 64 KiB -> 44 x 1448 (wasm)", fn: () => { ex.tsoSplit(inAt[0]!, inputs[0]!.length, 0, segOffs, segLens, SEGS, SLOT - HEADROOM); }, segments: SEGS, bytes: inputs[0]!.length - 10 },
    { name: "split IPv6 64 KiB -> 44 x 1448 (wasm)", fn: () => { ex.tsoSplit(inAt[1]!, inputs[1]!.length, 0, segOffs, segLens, SEGS, SLOT - HEADROOM); }, segments: SEGS, bytes: inputs[1]!.length - 10 },
    { name: "USO split IPv4 UDP 44 x 1200 (wasm)", fn: () => { ex.tsoSplit(usoAt[0]!, usoInputs[0]!.length, 0, segOffs, segLens, SEGS, SLOT - HEADROOM); }, segments: SEGS, bytes: usoInputs[0]!.length - 10 },
    { name: "USO split IPv6 UDP 44 x 1200 (wasm)", fn: () => { ex.tsoSplit(usoAt[1]!, usoInputs[1]!.length, 0, segOffs, segLens, SEGS, SLOT - HEADROOM); }, segments: SEGS, bytes: usoInputs[1]!.length - 10 },
    { name: "coalesce IPv4 44 segments (wasm, checksums verified)", fn: () => { ex.groCoalesce(desc[0]!.offs, desc[0]!.lens, SEGS, 0, h.groOut, outBytes, h.outOffs, h.outLens, 0); }, segments: SEGS, bytes: inputs[0]!.length - 10 },
    { name: "coalesce IPv4 44 segments (wasm, trusted)", fn: () => { ex.groCoalesce(desc[0]!.offs, desc[0]!.lens, SEGS, 0, h.groOut, outBytes, h.outOffs, h.outLens, 1); }, segments: SEGS, bytes: inputs[0]!.length - 10 },
    { name: "coalesce IPv6 44 segments (wasm, checksums verified)", fn: () => { ex.groCoalesce(desc[1]!.offs, desc[1]!.lens, SEGS, 0, h.groOut, outBytes, h.outOffs, h.outLens, 0); }, segments: SEGS, bytes: inputs[1]!.length - 10 },
    { name: "coalesce 4 flows x 11 interleaved (wasm)", fn: () => { ex.groCoalesce(desc[2]!.offs, desc[2]!.lens, SEGS, 0, h.groOut, outBytes, h.outOffs, h.outLens, 0); }, segments: SEGS, bytes: 4 * (52 + 11 * MSS) },
    ...plain.map((p) => ({
      name: `tsoSplitBatch 256 plain ${p.size}-byte packets (wasm)`,
      fn: () => { ex.tsoSplitBatch(p.offs, p.lens, p.n, 0, p.outOffs, p.outLens, p.n, SLOT - HEADROOM, p.results); },
      segments: p.n, bytes: p.n * (p.size - 10),
    })),
  ];
  const wasmRates = rates(variants.map((v) => v.fn), warm, reps);
  const refVariants = [
    { name: "split IPv4 64 KiB (reference JS)", fn: () => { referenceSplit(inputs[0]!, 0); }, segments: SEGS, bytes: inputs[0]!.length - 10 },
    { name: "coalesce IPv4 44 segments (reference JS)", fn: () => { referenceCoalesce(segs[0]!, 0); }, segments: SEGS, bytes: inputs[0]!.length - 10 },
  ];
  const refRates = rates(refVariants.map((v) => v.fn), Math.min(warm, 200), opts.quick ? 3 : 5, 100);
  const out: OffloadBenchResult[] = [];
  [...variants.map((v, i) => ({ ...v, calls: wasmRates[i]! })), ...refVariants.map((v, i) => ({ ...v, calls: refRates[i]! }))].forEach((v) => {
    out.push({ name: `${v.name}`, value: (v.calls * v.bytes) / 1e9, unit: "GB/s", note: `${(v.calls * v.segments / 1e6).toFixed(2)} M segments/s, ${(1e9 / (v.calls * v.segments)).toFixed(1)} ns/segment` });
  });
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const res = await runOffloadBench({ quick });
  console.log(`Offloads (one core; node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")})`);
  const w = Math.max(...res.map((x) => x.name.length));
  for (const x of res) console.log(`  ${x.name.padEnd(w)}  ${x.value.toFixed(2).padStart(7)} ${x.unit}  (${x.note})`);
  const jsonAt = args.indexOf("--json");
  if (jsonAt >= 0) {
    const file = args[jsonAt + 1];
    if (!file) throw new Error("--json needs a file name");
    writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, results: res }, null, 2));
    console.log(`wrote ${file}`);
  }
}
