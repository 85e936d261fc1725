// One batch of the native loop (host/router/workers/native-loop.ts, docs/WORKERS.md): everything
// the host did between reading a batch and writing its results, in one call, so that a cold
// wake-up runs one compact Wasm function instead of a few dozen JS functions and objects.
//
// The host's native engine (host/native/src/engine.cc) reads a batch into the RX slots (or, for
// an offload port, super-packets into the offload buffers), writes the port, the count and a
// millisecond clock into the loop header below, and returns to JS, which calls `loopBatch()`.
// loopBatch splits super-packets (TSO, offload ports), runs the pipeline, coalesces every TX run
// bound for an offload port (GRO) and writes one flush entry per write to make; the engine makes
// them before its next read. Contract with the engine (layout mirrored in engine.cc):
//
//   header (u32 words): 0 entries queued, 1 reserved, 2 port read, 3 slots read, 4 port + 1 whose
//   coalesced write the kernel refused (engine -> host), 5 clock (ms), 6 next super-packet (in/out),
//   7 reserved; then `flushCap` entries of 6 words: port, kind (0 TX slots, 1 coalesced), start,
//   count, pipeline packets carried, result (engine -> host).
//
// Per-port info (u32 per port, the host writes it): PRESENT, rx flags (low 16 bits), the offload
// IP header offset + 1 (bits 16..23, 0: plain port), NO_MERGE (the GRO kill switch).

import { BATCH_MAX, TX_RUN_SIZE } from "./abi";
import * as S from "./state";
import { processBatch } from "./stage/batch";
import { txRunCount } from "./stage/output";
import { tsoSplitBatch, groCoalesce } from "./offload/exports";
import { GRO_NO_MERGE } from "./offload/coalesce";

export const LOOP_PRESENT: u32 = 0x80000000;
export const LOOP_NO_MERGE: u32 = 0x01000000;
const HEADER_BYTES: usize = 32;
const ENTRY_BYTES: usize = 24;

// Loop statistics (f64 each), read by the host.
export const LS_BATCHES = 0;
export const LS_PACKETS_IN = 1;
export const LS_BATCH_SIZES = 2;  // 9 buckets: 1, 2-3, 4-7, ..., 128-255, 256
export const LS_SUPER_IN = 11;
export const LS_SEGMENTS = 12;
export const LS_REFUSED = 13;
export const LS_TX_NO_PORT = 14;
export const LS_TX_DROPPED = 15;
export const LS_COUNT = 16;

let loopBase: usize = 0;
let flushCap: i32 = 0;
let portInfoBase: usize = 0;
let statsBase: usize = 0;
// Offload buffers (loopSetup); 0 until set.
let offInOffsets: usize = 0;
let offInLengths: usize = 0;
let offResults: usize = 0;
let groArea: usize = 0;
let groBytes: i32 = 0;
let groOutOffsets: usize = 0;
let groOutLengths: usize = 0;
let maxPacket: i32 = 0;

/** Carves the loop's region at init: header, one flush entry per port (runs are per port), port info, stats. */
export function loopInit(): void {
  flushCap = S.portCount;
  const bytes = <i32>HEADER_BYTES + flushCap * <i32>ENTRY_BYTES + S.portCount * 4 + LS_COUNT * 8;
  loopBase = S.carve(bytes, 16);
  portInfoBase = loopBase + HEADER_BYTES + <usize>flushCap * ENTRY_BYTES;
  statsBase = (portInfoBase + <usize>(S.portCount * 4) + 7) & ~(<usize>7);
}

/** Where the loop region is: 0 header, 1 port info, 2 stats, 3 flush capacity (entries). */
export function loopLayout(what: i32): i32 {
  switch (what) {
    case 0: return <i32>loopBase;
    case 1: return <i32>portInfoBase;
    case 2: return <i32>statsBase;
    case 3: return flushCap;
  }
  return -1;
}

/**
 * Tells the loop where the host's offload buffers are (the Dataplane's offload limits; call once
 * after offloadAlloc, before offload ports are used). 0 or -1 for bad arguments.
 */
export function loopSetup(inOffsets: i32, inLengths: i32, results: i32, area: i32, bytes: i32, outOffsets: i32, outLengths: i32, maxPacketBytes: i32): i32 {
  if (loopBase == 0 || bytes < 0 || maxPacketBytes <= 0) return -1;
  offInOffsets = <usize>inOffsets; offInLengths = <usize>inLengths; offResults = <usize>results;
  groArea = <usize>area; groBytes = bytes; groOutOffsets = <usize>outOffsets; groOutLengths = <usize>outLengths;
  maxPacket = maxPacketBytes;
  return 0;
}

@inline function stat(i: i32, v: f64): void {
  const p = statsBase + (<usize>i << 3);
  store<f64>(p, load<f64>(p) + v);
}

/**
 * Runs the batch the header describes. Returns 1 when super-packets are left (header word 6 says
 * from which): the host has the engine flush the queued writes (the next split reuses the slots)
 * and calls again; 0 when the batch is done; -1 before init/configure.
 */
export function loopBatch(): i32 {
  if (!S.configured || loopBase == 0) return -1;
  const h = loopBase;
  store<u32>(h, 0);
  const port = load<u32>(h, 8);
  const n = <i32>load<u32>(h, 12);
  const now = load<u32>(h, 20);
  const first = <i32>load<u32>(h, 24);
  if (port >= <u32>S.portCount || n <= 0 || first >= n) { store<u32>(h, <u32>n, 24); return 0; }
  const info = load<u32>(portInfoBase + (<usize>port << 2));
  if ((info & LOOP_PRESENT) == 0) { store<u32>(h, <u32>n, 24); return 0; }
  const l3 = <i32>((info >> 16) & 0xff);
  let count = n, next = n;
  if (l3 != 0) {
    if (offInOffsets == 0) { store<u32>(h, <u32>n, 24); return 0; }
    if (first == 0) stat(LS_SUPER_IN, <f64>n);
    const used = tsoSplitBatch(<i32>(offInOffsets + (<usize>first << 2)), <i32>(offInLengths + (<usize>first << 2)), n - first, l3 - 1,
      <i32>S.rxOffsetsBase, <i32>S.rxLengthsBase, BATCH_MAX, maxPacket, <i32>(offResults + (<usize>first << 2)));
    if (used < 0) { store<u32>(h, <u32>n, 24); return 0; }
    let done = first;
    while (done < n) {
      const r = load<i32>(offResults + (<usize>done << 2));
      if (r == 0) break;
      if (r < 0) stat(LS_REFUSED, 1);
      done++;
    }
    if (done == first && used == 0) done = first + 1;  // cannot happen: one super-packet fits a batch
    stat(LS_SEGMENTS, <f64>used);
    count = used;
    next = done;
  }
  store<u32>(h, <u32>next, 24);
  if (count > 0) runPipeline(port, count, info & 0xffff, now);
  return next < n ? 1 : 0;
}

function runPipeline(port: u32, count: i32, flags: u32, now: u32): void {
  for (let k = 0; k < count; k++) {
    store<u16>(S.rxPortsBase + (<usize>k << 1), <u16>port);
    store<u16>(S.rxFlagsBase + (<usize>k << 1), <u16>flags);
  }
  stat(LS_BATCHES, 1);
  stat(LS_PACKETS_IN, <f64>count);
  stat(LS_BATCH_SIZES + (count >= 256 ? 8 : 31 - clz<i32>(count)), 1);
  processBatch(count, now);
  const runs = txRunCount();
  let q: i32 = 0;
  let groFrames: i32 = 0;
  let groUsed: usize = 0;
  for (let r = 0; r < runs; r++) {
    const run = S.txRunsBase + <usize>(r * TX_RUN_SIZE);
    const p = <u32>load<u16>(run);
    const start = <i32>load<u16>(run, 4);
    const len = <i32>load<u16>(run, 6);
    const pinfo = p < <u32>S.portCount ? load<u32>(portInfoBase + (<usize>p << 2)) : 0;
    if ((pinfo & LOOP_PRESENT) == 0 || q >= flushCap) { stat(LS_TX_NO_PORT, <f64>len); continue; }
    const e = loopBase + HEADER_BYTES + <usize>q * ENTRY_BYTES;
    const pl3 = <i32>((pinfo >> 16) & 0xff);
    if (pl3 != 0) {
      if (groArea == 0) { stat(LS_TX_DROPPED, <f64>len); continue; }
      const outOffs = groOutOffsets + (<usize>groFrames << 2), outLens = groOutLengths + (<usize>groFrames << 2);
      const m = groCoalesce(<i32>(S.txOffsetsBase + (<usize>start << 2)), <i32>(S.txLengthsBase + (<usize>start << 2)), len, pl3 - 1,
        <i32>(groArea + groUsed), groBytes - <i32>groUsed, <i32>outOffs, <i32>outLens, (pinfo & LOOP_NO_MERGE) != 0 ? GRO_NO_MERGE : 0);
      if (m <= 0) { stat(LS_TX_DROPPED, <f64>len); continue; }
      // The outputs lie back to back: the next run's go behind the last one (16-byte aligned).
      let end: usize = 0;
      for (let i = 0; i < m; i++) {
        const x = <usize>load<u32>(outOffs + (<usize>i << 2)) + <usize>load<u32>(outLens + (<usize>i << 2));
        if (x > end) end = x;
      }
      groUsed = (end - groArea + 15) & ~(<usize>15);
      store<u32>(e, p); store<u32>(e, 1, 4); store<u32>(e, <u32>groFrames, 8); store<u32>(e, <u32>m, 12);
      groFrames += m;
    } else {
      store<u32>(e, p); store<u32>(e, 0, 4); store<u32>(e, <u32>start, 8); store<u32>(e, <u32>len, 12);
    }
    store<u32>(e, <u32>len, 16);
    store<u32>(e, 0, 20);
    q++;
  }
  store<u32>(loopBase, <u32>q);
}
