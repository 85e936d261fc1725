// LPM micro-benchmark: lookups issued from inside Wasm through the batch calls
// (lpm4LookupBatch / lpm6LookupBatch), insert/delete cost, table bytes, and the slow reference's
// rate in the same run. Run: node --import tsx bench/lpm.ts [--json FILE] [--quick]
//
// Address distributions (stated with every result):
//   random     IPv4: uniform in 1.0.0.0-223.255.255.255 (as the calibration note, §3.4);
//              IPv6: uniform in 2000::/3 (where all the routes live)
//   in-prefix  a uniformly chosen route of the table, then a uniform address inside it
// Timing: each variant (batch 2^20, batch 256, the DIR-24-8 proxy) is measured in its own block:
// a warm-up of >= 250 ms (Liftoff -> TurboFan; it also leaves the variant's own working set in
// the caches), then 15 reps of ~40 ms;
// median and best rep are reported, with the host load. The variants are deliberately NOT
// interleaved rep by rep: the proxy writes random lines of a 64 MiB table and the 2^20 batch
// streams 8 MiB of addresses and results, and either one between two reps of batch 256 evicted
// the routing table, so batch 256 measured a cold table (see docs/LPM.md, "Measured").

import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import {
  loadWeft, LpmWasm, Lpm4Ref, Lpm6Ref, Rng, genBgp4, genMix6, addrIn4, addrIn6, type Route4, type Route6,
} from "../test/reference/lpm.ts";

export interface Result { name: string; value: number; unit: string; }
export interface LpmBenchOptions { quick?: boolean; log?: (line: string) => void; }

const LARGE = 1 << 20;   // lookups per large batch (distinct addresses, streamed)
const SMALL = 1 << 16;   // addresses cycled through by the batch-256 runs

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; }

interface Rate { median: number; best: number; wallMedian: number; }

/**
 * Rates of several ways to run the same work, each measured in its own block of reps (warm-up,
 * then `reps` consecutive reps), so that no variant runs between two reps of another and each
 * finds the caches as its own work leaves them. `step(i)` does `perCall[v]` lookups. Rates are
 * per second of this process's CPU time (so time the scheduler gives to other processes is not
 * counted; cache and memory contention from them still is) and, for reference, of wall time.
 * Load swings between blocks are not cancelled out: for A/B comparisons use bench/ab.ts.
 */
function rates(steps: Array<(i: number) => void>, perCall: number[], warmMs: number, reps: number, repMs = 40): Rate[] {
  const out: Rate[] = [];
  for (let v = 0; v < steps.length; v++) {
    let counter = 0;
    const end = performance.now() + warmMs;
    while (performance.now() < end) steps[v](counter++);
    const cpu: number[] = [];
    const wall: number[] = [];
    for (let r = 0; r < reps; r++) {
      let calls = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let t1 = t0;
      do { steps[v](counter++); calls++; t1 = performance.now(); } while (t1 - t0 < repMs);
      const c = process.cpuUsage(c0);
      const work = calls * perCall[v];
      cpu.push(work / ((c.user + c.system) / 1e6));
      wall.push(work / ((t1 - t0) / 1000));
    }
    out.push({ median: median(cpu), best: Math.max(...cpu), wallMedian: median(wall) });
  }
  return out;
}

export async function runLpmBench(opts: LpmBenchOptions = {}): Promise<Result[]> {
  const log = opts.log ?? (() => {});
  const quick = !!opts.quick;
  const results: Result[] = [];
  const add = (name: string, value: number, unit: string) => {
    results.push({ name, value, unit });
    log(`${name.padEnd(62)} ${value.toFixed(unit === "B" ? 0 : 2).padStart(12)} ${unit}`);
  };
  const report = (what: string, nBig: number, big: Rate, b256: Rate) => {
    for (const [label, r] of [[`batch ${nBig}`, big], ["batch 256", b256]] as const) {
      add(`${what}, ${label} (median, CPU time)`, r.median / 1e6, "Mlookups/s");
      add(`${what}, ${label} (best rep, CPU time)`, r.best / 1e6, "Mlookups/s");
      add(`${what}, ${label} (median, wall clock)`, r.wallMedian / 1e6, "Mlookups/s");
    }
  };
  // the machine may be shared: every number below should be read with the load beside it
  add("host load average (1 min) at start", loadavg()[0], "");
  const ex = await loadWeft();
  // scratch: 24 MiB of addresses and results, then the DIR-24-8 proxy table (2^24 u32, 64 MiB),
  // written so that its pages really exist (calibration, see lpmBenchDir24Proxy in exports.ts)
  const w = new LpmWasm(ex, 88 << 20);
  const dir24 = w.scratch + (24 << 20);
  { const u32 = w.u32; for (let i = 0; i < 1 << 24; i++) u32[(dir24 >>> 2) + i] = i * 2654435761; }
  const scratch = w.scratch;
  const out = scratch + 16 * LARGE;
  const n = quick ? LARGE >> 2 : LARGE;
  let warm = 400;   // the first measurement warms the module; later ones a little each

  // ---- IPv4 ------------------------------------------------------------------------------
  for (const size of (process.env.LPM_BENCH_V4_SIZES ?? "1000,100000").split(",").map(Number)) {
    const rng = new Rng(2024 + size);
    const routes = genBgp4(rng, size);
    ex.lpm4Init(size + 2);   // +2: room for the /0 and /8 of the worst-update case
    let t0 = performance.now();
    for (const r of routes) if (w.insert4(r.prefix, r.len, r.value) !== 0) throw new Error("insert failed");
    const insUs = ((performance.now() - t0) * 1000) / size;
    const tag = `lpm4 ${size / 1000}k`;
    add(`${tag} table bytes reserved (lpm4MemoryBytes)`, ex.lpm4MemoryBytes(), "B");
    add(`${tag} arena bytes live`, ex.lpm4LiveBytes(), "B");
    add(`${tag} trie nodes`, ex.lpm4Nodes(), "nodes");
    add(`${tag} insert (bulk load, empty -> full)`, insUs, "us/op");

    const dists: Array<[string, () => number]> = [
      ["random", () => ((1 + rng.int(223)) * 0x1000000 + (rng.u32() & 0xffffff)) >>> 0],
      ["in-prefix", () => { const r = routes[rng.int(routes.length)]; return addrIn4(rng, r.prefix, r.len); }],
    ];
    for (const [dname, gen] of dists) {
      const u32 = w.u32;
      for (let i = 0; i < n; i++) u32[(scratch >>> 2) + i] = gen();
      const chunks = SMALL / 256;   // batch 256 cycles through the first SMALL addresses (cache-resident, like headers)
      const [big, b256, proxy] = rates([
        () => ex.lpm4LookupBatch(scratch, out, n),
        (i) => ex.lpm4LookupBatch(scratch + (i % chunks) * 1024, out, 256),
        () => ex.lpmBenchDir24Proxy(dir24, scratch, out, n),
      ], [n, 256, n], warm, quick ? 5 : 15);
      warm = 250;
      report(`${tag} lookup ${dname}`, n, big, b256);
      if (size === 100_000) {
        add(`DIR-24-8 proxy (1 random load, 64 MiB) ${dname}, batch ${n} (median, CPU time)`, proxy.median / 1e6, "Mlookups/s");
        add(`${tag} lookup ${dname}, batch ${n}: median relative to the DIR-24-8 proxy`, big.median / proxy.median, "x");
      }
    }
    // churn at full size: delete k random routes, then insert them back
    const k = Math.min(size, quick ? 2000 : 10_000);
    const pick: Route4[] = [];
    for (let i = 0; i < k; i++) pick.push(routes[(i * 7919) % size]);
    const uniq = [...new Map(pick.map((r) => [r.prefix * 64 + r.len, r])).values()];
    t0 = performance.now();
    for (const r of uniq) if (w.delete4(r.prefix, r.len) !== 0) throw new Error("delete failed");
    const delUs = ((performance.now() - t0) * 1000) / uniq.length;
    t0 = performance.now();
    for (const r of uniq) if (w.insert4(r.prefix, r.len, r.value) !== 0) throw new Error("insert failed");
    const reinsUs = ((performance.now() - t0) * 1000) / uniq.length;
    add(`${tag} delete (random routes of the full table)`, delUs, "us/op");
    add(`${tag} insert (the same routes back)`, reinsUs, "us/op");
    if (ex.lpm4Check() !== 0) throw new Error("lpm4 invariant broken");

    if (size === 100_000) {
      // worst update: a default route and a /8 over a full table, then their removal
      t0 = performance.now();
      w.insert4(0, 0, 7); w.insert4(0x0a000000, 8, 8);
      w.delete4(0, 0); w.delete4(0x0a000000, 8);
      add(`${tag} insert+delete of /0 and /8 (repaint direct level)`, ((performance.now() - t0) * 1000) / 4, "us/op");
      // the slow reference, same table, small sample
      const ref = new Lpm4Ref();
      for (const r of routes) ref.insert(r.prefix, r.len, r.value);
      const sample: number[] = [];
      for (let i = 0; i < (quick ? 200 : 1000); i++) sample.push(dists[0][1]());
      ref.lookup(sample[0]);
      t0 = performance.now();
      let x = 0;
      for (const a of sample) x ^= ref.lookup(a);
      const refRate = sample.length / ((performance.now() - t0) / 1000);
      add(`${tag} reference (TS linear scan) lookup, random`, refRate, "lookups/s");
      if (x === 0.5) log("");
    }
  }

  // ---- IPv6 ------------------------------------------------------------------------------
  {
    const size = 10_000;
    const rng = new Rng(6006);
    const routes = genMix6(rng, size);
    ex.lpm6Init(size);
    let t0 = performance.now();
    for (const r of routes) if (w.insert6(r.prefix, r.len, r.value) !== 0) throw new Error("insert6 failed");
    const insUs = ((performance.now() - t0) * 1000) / size;
    const tag = "lpm6 10k";
    add(`${tag} table bytes reserved (lpm6MemoryBytes)`, ex.lpm6MemoryBytes(), "B");
    add(`${tag} arena bytes live`, ex.lpm6LiveBytes(), "B");
    add(`${tag} trie nodes`, ex.lpm6Nodes(), "nodes");
    add(`${tag} insert (bulk load, empty -> full)`, insUs, "us/op");
    const dists: Array<[string, () => Uint8Array]> = [
      ["random", () => { const a = new Uint8Array(16); for (let i = 0; i < 16; i++) a[i] = rng.int(256); a[0] = 0x20 | (a[0] & 0x1f); return a; }],
      ["in-prefix", () => { const r = routes[rng.int(routes.length)]; return addrIn6(rng, r.prefix, r.len); }],
    ];
    const n6 = n;
    // IPv4 random addresses for the proxy, after the IPv6 addresses and results (20..24 MiB)
    const proxyAddrs = scratch + (20 << 20);
    { const u32 = w.u32; for (let i = 0; i < n6; i++) u32[(proxyAddrs >>> 2) + i] = ((1 + rng.int(223)) * 0x1000000 + (rng.u32() & 0xffffff)) >>> 0; }
    for (const [dname, gen] of dists) {
      const u8 = w.u8;
      for (let i = 0; i < n6; i++) u8.set(gen(), scratch + 16 * i);
      const chunks = SMALL / 256;
      const [big, b256, proxy] = rates([
        () => ex.lpm6LookupBatch(scratch, out, n6),
        (i) => ex.lpm6LookupBatch(scratch + (i % chunks) * 4096, out, 256),
        () => ex.lpmBenchDir24Proxy(dir24, proxyAddrs, out, n6),
      ], [n6, 256, n6], 250, quick ? 5 : 15);
      report(`${tag} lookup ${dname}`, n6, big, b256);
      add(`DIR-24-8 proxy (IPv4 random addresses) beside ${tag} ${dname}, batch ${n6} (median, CPU time)`, proxy.median / 1e6, "Mlookups/s");
      add(`${tag} lookup ${dname}, batch ${n6}: median relative to the DIR-24-8 proxy`, big.median / proxy.median, "x");
    }
    const pick: Route6[] = routes.filter((_, i) => i % 5 === 0);
    t0 = performance.now();
    for (const r of pick) if (w.delete6(r.prefix, r.len) !== 0) throw new Error("delete6 failed");
    const delUs = ((performance.now() - t0) * 1000) / pick.length;
    t0 = performance.now();
    for (const r of pick) if (w.insert6(r.prefix, r.len, r.value) !== 0) throw new Error("insert6 failed");
    const reinsUs = ((performance.now() - t0) * 1000) / pick.length;
    add(`${tag} delete (random routes of the full table)`, delUs, "us/op");
    add(`${tag} insert (the same routes back)`, reinsUs, "us/op");
    if (ex.lpm6Check() !== 0) throw new Error("lpm6 invariant broken");
    const ref = new Lpm6Ref();
    for (const r of routes) ref.insert(r.prefix, r.len, r.value);
    const sample: Uint8Array[] = [];
    for (let i = 0; i < (quick ? 200 : 1000); i++) sample.push(dists[1][1]());
    ref.lookup(sample[0]);
    t0 = performance.now();
    for (const a of sample) ref.lookup(a);
    add(`${tag} reference (TS linear scan) lookup, in-prefix`, sample.length / ((performance.now() - t0) / 1000), "lookups/s");
  }
  add("host load average (1 min) at end", loadavg()[0], "");
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const j = args.indexOf("--json");
  const results = await runLpmBench({ quick: args.includes("--quick"), log: (l) => console.log(l) });
  if (j >= 0 && args[j + 1]) writeFileSync(args[j + 1], JSON.stringify(results, null, 2) + "\n");
}
