// A/B comparison of two builds of the data plane in one process, for hot-path changes on a shared,
// noisy machine: every measurement alternates A and B in short reps (A B A B ...), so load swings
// hit both alike, and reports per-variant medians and the median of the per-rep ratios B/A.
//
//   npm run asbuild && cp build/weft.wasm /tmp/new.wasm        (and an older build as /tmp/old.wasm)
//   node --import tsx bench/ab.ts /tmp/old.wasm /tmp/new.wasm [--reps N] [--only encap,decap,csum,lpm4,lpm6]
//
// What is measured (rates per second of this process's CPU time):
//   encap/decap  the pipeline bench's packets (bench/pipeline.ts: 64-byte pod frames, 256 flows,
//                the node of test/helpers/node.ts) at batch 256; each call restores the 64 header
//                bytes first; "net" subtracts the restore, timed alone in the same rep
//   csum         checksumMany over 16 buffers of 1500 and 9000 bytes
//   lpm4/lpm6    batch-256 lookups cycling through 2^16 pre-generated addresses (random and
//                in-prefix, as bench/lpm.ts), IPv4 100k BGP-like and IPv6 10k realistic tables;
//                the address generator is never timed
import { loadavg } from "node:os";
import { Dataplane } from "../host/wasm/dataplane.ts";
import { PORT_UNDERLAY } from "../host/wasm/abi.ts";
import { makeNode, NODE, POD_A, POD_B, PEER4, PEER6 } from "../test/helpers/node.ts";
import * as F from "../test/helpers/frames.ts";
import { loadWeft, LpmWasm, Rng, genBgp4, genMix6, addrIn4, addrIn6 } from "../test/reference/lpm.ts";

const args = process.argv.slice(2);
const paths = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1].startsWith("--")));
if (paths.length !== 2) {
  console.error("usage: bench/ab.ts A.wasm B.wasm [--reps N] [--only encap,decap,csum,lpm4,lpm6]");
  process.exit(2);
}
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const reps = Number(opt("--reps") ?? 11);
const only = new Set((opt("--only") ?? "encap,decap,csum,lpm4,lpm6").split(","));
const REP_MS = 30;

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; }

/** Calls `fn` (doing `work` units per call) for about REP_MS; returns units per CPU second. */
function timeRep(fn: () => void, work: number): number {
  let calls = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  do { fn(); calls++; } while (performance.now() - t0 < REP_MS);
  const c = process.cpuUsage(c0);
  return (calls * work) / ((c.user + c.system) / 1e6);
}

/** Alternates variants (each: a list of functions timed in the same rep) and prints medians. */
function compare(name: string, unit: string, scale: number, variants: Array<Array<{ fn: () => void; work: number }>>,
  combine: (r: number[]) => number = (r) => r[0]): void {
  for (const v of variants) for (const f of v) { const end = performance.now() + 250; while (performance.now() < end) f.fn(); }
  const res: number[][] = variants.map(() => []);
  for (let r = 0; r < reps; r++) {
    const order = r % 2 ? [...variants.keys()].reverse() : [...variants.keys()];
    for (const v of order) res[v].push(combine(variants[v].map((f) => timeRep(f.fn, f.work))));
  }
  const ratios = res[1].map((b, k) => b / res[0][k]);
  const best = (x: number[]) => (Math.max(...x) / scale).toFixed(2);
  console.log(`${name.padEnd(44)} A ${(median(res[0]) / scale).toFixed(2).padStart(8)}  B ${(median(res[1]) / scale).toFixed(2).padStart(8)} ${unit}  B/A ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)}); best rep A ${best(res[0])} B ${best(res[1])}`);
}

// ---- pipeline -------------------------------------------------------------------------------
function node(path: string): Dataplane {
  return makeNode({}, {}, path);
}
function frames(dir: "encap" | "decap", size: number): Uint8Array[] {
  return Array.from({ length: 256 }, (_, i) => {
    const peerPod = `10.244.2.${1 + (i % 250)}`;
    const data = new Uint8Array(size - 14 - 20 - 8);
    if (dir === "encap") return F.eth(NODE.routerMac, POD_A.mac, 0x0800, F.ipv4(POD_A.ipv4, peerPod, 17, F.udp(POD_A.ipv4, peerPod, 1000 + i, 53, data), { ttl: 64 }));
    const inner = F.eth(NODE.vtepMac, PEER4.vtepMac, 0x0800, F.ipv4(peerPod, POD_A.ipv4, 17, F.udp(peerPod, POD_A.ipv4, 1000 + i, 53, data)));
    return F.ipv4(PEER4.underlay, NODE.underlay4!, 17, F.udp(PEER4.underlay, NODE.underlay4!, 33000 + i, 8472, F.vxlan(1, inner), true));
  });
}
function pipelineVariant(path: string, dir: "encap" | "decap") {
  const dp = node(path);
  const fs = frames(dir, 64);
  const port = dir === "encap" ? POD_A.port : PORT_UNDERLAY;
  fs.forEach((f, i) => { dp.u8.set(f, dp.genSlots + i * dp.slotSize + dp.headroom); dp.putPacket(i, f, port); });
  const ex = dp.exports;
  const want = dir === "encap" ? "forward" : "deliver";
  ex.restoreSlotsFromGen!(256, 64); ex.process!(256, 0);
  for (let i = 0; i < 256; i++) if (dp.result(i).verdict !== want) throw new Error(`${path} ${dir}: packet ${i} ${JSON.stringify(dp.result(i))}`);
  return [
    { fn: () => { ex.restoreSlotsFromGen!(256, 64); ex.process!(256, 0); }, work: 256 },
    { fn: () => { ex.restoreSlotsFromGen!(256, 64); }, work: 256 },
  ];
}
const net = (r: number[]) => 1 / (1 / r[0] - 1 / r[1]);

console.log(`A = ${paths[0]}\nB = ${paths[1]}\n${reps} alternating reps of ${REP_MS} ms, medians (best rep: the least disturbed); load average ${loadavg()[0].toFixed(2)}`);
for (const dir of ["encap", "decap"] as const) {
  if (!only.has(dir)) continue;
  const v = paths.map((p) => pipelineVariant(p, dir));
  compare(`${dir} 64 B batch 256 (incl. restore)`, "Mpps", 1e6, v.map((x) => [x[0]]));
  compare(`${dir} 64 B batch 256 (net of restore)`, "Mpps", 1e6, v, net);
}

// ---- checksum -------------------------------------------------------------------------------
if (only.has("csum")) {
  const dps = paths.map((p) => Dataplane.create({ slotSizeLog2: 14, maxPods: 4, maxPeers: 4 }, p));
  for (const len of [64, 1500, 9000]) {
    const v = dps.map((dp) => {
      for (let k = 0; k < 16; k++) for (let j = 0; j < len; j++) dp.u8[dp.slots + k * dp.slotSize + j] = (k * 31 + j * 7) & 0xff;
      return [{ fn: () => { dp.exports.checksumMany!(dp.slots, len, dp.slotSize, 16); }, work: 16 * len }];
    });
    const x = dps.map((dp) => dp.exports.checksumMany!(dp.slots, len, dp.slotSize, 16));
    if (x[0] !== x[1]) throw new Error(`checksum ${len}: A and B disagree`);
    compare(`checksum ${len} B`, "GB/s", 1e9, v);
  }
}

// ---- LPM --------------------------------------------------------------------------------------
const SMALL = 1 << 16;
if (only.has("lpm4") || only.has("lpm6")) {
  const ws = await Promise.all(paths.map(async (p) => new LpmWasm(await loadWeft(p), 4 << 20)));
  if (only.has("lpm4")) {
    const routes = genBgp4(new Rng(2024 + 100_000), 100_000);
    for (const w of ws) { w.ex.lpm4Init(100_002); for (const r of routes) if (w.insert4(r.prefix, r.len, r.value) !== 0) throw new Error("insert"); }
    console.log(`lpm4 100k bytes reserved A ${ws[0].ex.lpm4MemoryBytes()} B ${ws[1].ex.lpm4MemoryBytes()}; live A ${ws[0].ex.lpm4LiveBytes()} B ${ws[1].ex.lpm4LiveBytes()}`);
    const rng = new Rng(7);
    const gens: Array<[string, () => number]> = [
      ["random", () => ((1 + rng.int(223)) * 0x1000000 + (rng.u32() & 0xffffff)) >>> 0],
      ["in-prefix", () => { const r = routes[rng.int(routes.length)]; return addrIn4(rng, r.prefix, r.len); }],
    ];
    for (const [dname, gen] of gens) {
      const addrs = Uint32Array.from({ length: SMALL }, gen);
      const v = ws.map((w) => {
        w.u32.set(addrs, w.scratch >>> 2);
        const out = w.scratch + 4 * SMALL;
        let i = 0;
        return [{ fn: () => { w.ex.lpm4LookupBatch(w.scratch + (i++ & 255) * 1024, out, 256); }, work: 256 }];
      });
      w4check(ws, SMALL);
      compare(`lpm4 100k ${dname} (batch 256)`, "M/s", 1e6, v);
    }
  }
  if (only.has("lpm6")) {
    const rng = new Rng(6006);
    const routes = genMix6(rng, 10_000);
    for (const w of ws) { w.ex.lpm6Init(10_000); for (const r of routes) if (w.insert6(r.prefix, r.len, r.value) !== 0) throw new Error("insert6"); }
    const gens: Array<[string, () => Uint8Array]> = [
      ["random", () => { const a = new Uint8Array(16); for (let i = 0; i < 16; i++) a[i] = rng.int(256); a[0] = 0x20 | (a[0] & 0x1f); return a; }],
      ["in-prefix", () => { const r = routes[rng.int(routes.length)]; return addrIn6(rng, r.prefix, r.len); }],
    ];
    for (const [dname, gen] of gens) {
      const addrs = new Uint8Array(16 * SMALL);
      for (let i = 0; i < SMALL; i++) addrs.set(gen(), 16 * i);
      const v = ws.map((w) => {
        w.u8.set(addrs, w.scratch);
        const out = w.scratch + 16 * SMALL;
        let i = 0;
        return [{ fn: () => { w.ex.lpm6LookupBatch(w.scratch + (i++ & 255) * 4096, out, 256); }, work: 256 }];
      });
      compare(`lpm6 10k ${dname} (batch 256)`, "M/s", 1e6, v);
    }
  }
}

/** Both builds must give the same answers for the staged IPv4 addresses. */
function w4check(ws: LpmWasm[], n: number): void {
  const res = ws.map((w) => { w.ex.lpm4LookupBatch(w.scratch, w.scratch + 4 * SMALL, n); return w.u32.slice((w.scratch >>> 2) + SMALL, (w.scratch >>> 2) + SMALL + n); });
  for (let k = 0; k < n; k++) if (res[0][k] !== res[1][k]) throw new Error(`lpm4: A and B differ at address ${k}`);
}
