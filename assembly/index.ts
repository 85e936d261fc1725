// The Wasm module's exports: this file IS the ABI (docs/ABI.md). Only i32 arguments and results.
// Table operations run between batches; `process` runs a batch. No export allocates after `init`.

import {
  ABI_VERSION, BATCH_MAX, DROP_REASON_COUNT, EVENT_COUNT, ERR_NOT_INITIALIZED, ERR_BAD_LAYOUT,
  ERR_BAD_ARGUMENT, TARGET_KIND_SHIFT, TARGET_PEER,
} from "./abi";
import * as S from "./state";
import { podSet, podDel } from "./tables/pods";
import { peerSet, peerDel, peersInit, peerActive, peerRecord } from "./tables/peers";
import { rebuildTemplate } from "./stage/encap";
import { routeSetFromScratch, routeDelFromScratch, routeGetFromScratch } from "./tables/routes";
import { lpm4Init } from "./lpm/ipv4";
import { lpm6Init } from "./lpm/ipv6";
import { processBatch } from "./stage/batch";
import { icmpResetBucket } from "./stage/icmp-error";
import { txRunCount as runs } from "./stage/output";
import { loopInit } from "./loop";

export * from "./lpm/exports";
export * from "./csum/exports";
export * from "./offload/exports";
export { loopLayout, loopSetup, loopBatch } from "./loop";

export function abiVersion(): i32 { return ABI_VERSION; }
export function batchMax(): i32 { return BATCH_MAX; }
export function dropReasonCount(): i32 { return DROP_REASON_COUNT; }
export function eventCount(): i32 { return EVENT_COUNT; }

/**
 * Sizes and allocates everything, once: slots of 2^slotSizeLog2 bytes with `headroom` bytes
 * reserved in front, `genSlots` extra slots for packets the router generates (IPv4 fragments),
 * tables for `maxPods` pods, `maxPeers` peers and up to `maxRoutes4`/`maxRoutes6` routes.
 * Returns 0 or ERR_BAD_LAYOUT.
 */
export function init(slotSizeLog2: i32, headroom: i32, genSlots: i32, maxPods: i32, maxPeers: i32, maxRoutes4: i32, maxRoutes6: i32): i32 {
  if (maxRoutes4 < 1 || maxRoutes6 < 1) return ERR_BAD_LAYOUT;
  if (!S.initState(slotSizeLog2, headroom, genSlots, maxPods, maxPeers)) return ERR_BAD_LAYOUT;
  peersInit();
  lpm4Init(maxRoutes4 + maxPods);
  lpm6Init(maxRoutes6 + maxPods);
  loopInit();
  return 0;
}

/** Where each region lives (byte offsets into memory), for the host wrapper. */
export const LAYOUT_RX_OFFSETS = 0;
export const LAYOUT_RESULTS = 1;
export const LAYOUT_TX_RAW_OFFSETS = 2;
export const LAYOUT_SLOTS = 3;
export const LAYOUT_GEN_SLOTS = 4;
export const LAYOUT_DROP_COUNTERS = 5;
export const LAYOUT_EVENT_COUNTERS = 6;
export const LAYOUT_PORT_COUNTERS = 7;
export const LAYOUT_PEER_COUNTERS = 8;
export const LAYOUT_SCRATCH = 9;
export const LAYOUT_SLOT_SIZE = 10;
export const LAYOUT_HEADROOM = 11;
export const LAYOUT_GEN_SLOT_COUNT = 12;
export const LAYOUT_PORT_COUNT = 13;
export const LAYOUT_MAX_PEERS = 14;
export const LAYOUT_TX_CAPACITY = 15;
export const LAYOUT_MEMORY_BYTES = 16;
export const LAYOUT_RX_LENGTHS = 17;
export const LAYOUT_RX_PORTS = 18;
export const LAYOUT_RX_FLAGS = 19;
export const LAYOUT_TX_OFFSETS = 20;
export const LAYOUT_TX_LENGTHS = 21;
export const LAYOUT_TX_RUNS = 22;
export const LAYOUT_TX_RAW_LENGTHS = 23;
export const LAYOUT_TX_RAW_PORTS = 24;
export const LAYOUT_TX_RAW_PEERS = 25;
export const LAYOUT_TX_RAW_INPUTS = 26;
export function layout(what: i32): i32 {
  switch (what) {
    case 0: return <i32>S.rxOffsetsBase;
    case 1: return <i32>S.resultBase;
    case 2: return <i32>S.txRawOffsetsBase;
    case 3: return <i32>S.slotsBase;
    case 4: return <i32>S.genSlotsBase;
    case 5: return <i32>S.dropCountersBase;
    case 6: return <i32>S.eventCountersBase;
    case 7: return <i32>S.portCountersBase;
    case 8: return <i32>S.peerCountersBase;
    case 9: return <i32>S.scratchBase;
    case 10: return S.slotSize;
    case 11: return S.headroom;
    case 12: return S.genSlotCount;
    case 13: return S.portCount;
    case 14: return S.maxPeers;
    case 15: return S.txCapacity;
    case 16: return <i32>(memory.size() << 16);
    case 17: return <i32>S.rxLengthsBase;
    case 18: return <i32>S.rxPortsBase;
    case 19: return <i32>S.rxFlagsBase;
    case 20: return <i32>S.txOffsetsBase;
    case 21: return <i32>S.txLengthsBase;
    case 22: return <i32>S.txRunsBase;
    case 23: return <i32>S.txRawLengthsBase;
    case 24: return <i32>S.txRawPortsBase;
    case 25: return <i32>S.txRawPeersBase;
    case 26: return <i32>S.txRawInputsBase;
  }
  return -1;
}

/** Applies the config record in scratch (docs/ABI.md). 0 or ERR_BAD_ARGUMENT; nothing changes on error. */
export function configSet(): i32 {
  if (!S.initialized) return ERR_NOT_INITIALIZED;
  if (!S.applyConfig(S.scratchBase)) return ERR_BAD_ARGUMENT;
  icmpResetBucket();
  for (let k = 0; k < S.maxPeers; k++) if (peerActive(peerRecord(k))) rebuildTemplate(k);
  return 0;
}

/** Attaches/replaces the pod on `port` from the pod record in scratch, with its /32 and /128 routes. */
export function podAttach(port: i32): i32 { return S.initialized ? podSet(port, S.scratchBase) : ERR_NOT_INITIALIZED; }
export function podDetach(port: i32): i32 { return S.initialized ? podDel(port) : ERR_NOT_INITIALIZED; }

/** Adds/replaces peer `idx` from the peer record in scratch. */
export function peerAdd(idx: i32): i32 {
  if (!S.initialized) return ERR_NOT_INITIALIZED;
  const r = peerSet(idx, S.scratchBase);
  if (r == 0) rebuildTemplate(idx);
  return r;
}
export function peerRemove(idx: i32): i32 { return S.initialized ? peerDel(idx) : ERR_NOT_INITIALIZED; }

/** Inserts/replaces the route for the prefix in scratch (`family` 4 or 6, `len` bits) to `target`. */
export function routeAdd(family: i32, len: i32, target: i32): i32 {
  if (!S.initialized) return ERR_NOT_INITIALIZED;
  const t = <u32>target;
  if ((t >> TARGET_KIND_SHIFT) == TARGET_PEER && <i32>(t & 0x0fffffff) >= S.maxPeers) return ERR_BAD_ARGUMENT;
  return routeSetFromScratch(family, len, t);
}
export function routeRemove(family: i32, len: i32): i32 { return S.initialized ? routeDelFromScratch(family, len) : ERR_NOT_INITIALIZED; }
/** The target the address in scratch routes to, or -1 (no route). */
export function routeGet(family: i32): i32 { return S.initialized ? <i32>routeGetFromScratch(family) : -1; }

/** Number of per-port TX runs the last `process` produced. */
export function txRunCount(): i32 { return runs(); }

/** Processes descriptors 0..n-1 (see docs/ABI.md); `nowMs` is a millisecond clock for rate limits. Returns the TX count. */
export function process(n: i32, nowMs: i32): i32 {
  if (!S.configured) return ERR_NOT_INITIALIZED;
  return processBatch(n, <u32>nowMs);
}

/**
 * Copies the first `bytes` of the data area (after the headroom) of generated slot k into slot k,
 * for k < n. Benchmarks keep pristine packets in the generated slots and restore the headers the
 * pipeline rewrote in place before re-running them; no pipeline path calls it.
 */
export function restoreSlotsFromGen(n: i32, bytes: i32): i32 {
  if (!S.initialized || n < 0 || n > BATCH_MAX || n > S.genSlotCount || bytes < 0 || bytes > S.slotSize - S.headroom) return ERR_BAD_ARGUMENT;
  const h = <usize>S.headroom;
  const wide = bytes & ~15;
  for (let k = 0; k < n; k++) {
    const d = S.slotStart(k) + h;
    const s = S.genSlotStart(k) + h;
    // 16 bytes at a time: a memory.copy call per packet costs more than the copy itself here
    if (ASC_FEATURE_SIMD) {
      for (let o: usize = 0; o < <usize>wide; o += 16) v128.store(d + o, v128.load(s + o));
    } else {
      for (let o: usize = 0; o < <usize>wide; o += 8) store<u64>(d + o, load<u64>(s + o));
    }
    if (bytes > wide) memory.copy(d + <usize>wide, s + <usize>wide, <usize>(bytes - wide));
  }
  return 0;
}
