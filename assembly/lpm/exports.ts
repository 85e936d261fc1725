// LPM exports for tests and benchmarks (re-exported by assembly/index.ts). Only i32/usize
// arguments and results. The pipeline calls assembly/lpm/ipv4.ts and ipv6.ts directly.

export {
  lpm4Init, lpm4InitSized, lpm4Insert, lpm4Delete, lpm4Lookup, lpm4LookupNet, lpm4LookupBatch,
  lpm4Count, lpm4MemoryBytes, lpm4LiveBytes, lpm4Check, lpm4Nodes, lpm4Compact, lpm4Compactions,
} from "./ipv4";
export {
  lpm6Init, lpm6InitSized, lpm6Insert, lpm6Delete, lpm6Lookup, lpm6LookupBatch,
  lpm6Count, lpm6MemoryBytes, lpm6LiveBytes, lpm6Check, lpm6Nodes, lpm6Compact, lpm6Compactions,
} from "./ipv6";

let scratch: usize = 0;
let scratchBytes: i32 = 0;

/**
 * A buffer of at least `bytes` bytes where the host writes addresses and reads results. Allocated
 * on first use (this may grow memory: refresh views after calling); a later call asking for more
 * allocates a new, larger buffer. Not part of the data plane: tables never use it.
 */
export function lpmScratch(bytes: i32): usize {
  if (bytes > scratchBytes) {
    scratch = heap.alloc(<usize>bytes);
    scratchBytes = bytes;
  }
  return scratch;
}

/**
 * Benchmark calibration only (bench/lpm.ts): the memory cost of a DIR-24-8 lookup for routes up
 * to /24, i.e. one random u32 load per address from a 2^24-entry table at `tbl` (64 MiB, filled
 * by the caller so its pages are real). out[i] = tbl[addrs[i] >> 8]. Measured beside the tables
 * in the same run, it makes the LPM numbers comparable across machine load.
 */
export function lpmBenchDir24Proxy(tbl: usize, addrsPtr: usize, outPtr: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>(i << 2);
    store<u32>(outPtr + o, load<u32>(tbl + (<usize>(load<u32>(addrsPtr + o) >> 8) << 2)));
  }
}
