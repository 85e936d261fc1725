// The offload calls of the ABI (docs/OFFLOADS.md): vnet header checks, TSO split and GRO
// coalescing over packets in linear memory. i32 in, i32 out; one call per packet batch (or per
// super-packet, which is up to 44+ packets); no allocation except `offloadAlloc` at start-up.

import {
  OR_BAD_DESCRIPTOR, OR_TOO_MANY_SEGMENTS, OFFLOAD_REASON_COUNT, OFFLOAD_COUNTER_COUNT,
  offloadCountersBase, offloadCount,
} from "./reasons";
import { vnetCheck as check, L3_OFF_MAX, VNET_LEN } from "./vnet";
import { splitOne } from "./segment";
import { coalesce } from "./coalesce";
import { inMemory, arrayInMemory } from "./bounds";

/**
 * Carves `bytes` of zeroed memory (16-byte aligned) for the host's offload buffers (super-packet
 * reads, coalescing output) and returns its offset, or -1. Start-up only, like `init`: memory
 * grows here, never later. May be called before or after `init`.
 */
export function offloadAlloc(bytes: i32): i32 {
  if (bytes <= 0 || bytes > 0x40000000) return -1;
  const p = (heap.alloc(<usize>bytes + 16) + 15) & ~(<usize>15);
  memory.fill(p, 0, <usize>bytes);
  return <i32>p;
}

/** Where the u64 offload counters live (refusals by reason, then events; docs/OFFLOADS.md). */
export function offloadCounters(): i32 { return <i32>offloadCountersBase; }
export function offloadCounterCount(): i32 { return OFFLOAD_COUNTER_COUNT; }
export function offloadReasonCount(): i32 { return OFFLOAD_REASON_COUNT; }
/** sizeof(struct virtio_net_hdr) as these calls read and write it. */
export function vnetHeaderLen(): i32 { return VNET_LEN; }

/**
 * Validates the vnet header at `inOff` against the `inLen - 10` bytes behind it (IP header
 * `l3Off` bytes into them). 0 or a reason negated. Counts nothing.
 */
export function vnetCheck(inOff: i32, inLen: i32, l3Off: i32): i32 {
  if (!inMemory(inOff, inLen) || l3Off < 0 || l3Off > L3_OFF_MAX) return -OR_BAD_DESCRIPTOR;
  return -check(<usize>inOff, inLen, l3Off);
}

/**
 * Splits one vnet-headed packet (`inLen` bytes at `inOff`: 10-byte header, then the frame with
 * its IP header `l3Off` bytes in) into segments: segment k is written at the u32 offset in entry
 * k of `outOffsetsPtr` (up to `outCapacity` bytes there; the pipeline's RX offsets = slot +
 * headroom fit as is), its length goes to entry k of `outLengthsPtr`; at most `maxSegs`.
 * Returns the segment count or a reason negated (nothing written then). Counted.
 */
export function tsoSplit(inOff: i32, inLen: i32, l3Off: i32, outOffsetsPtr: i32, outLengthsPtr: i32, maxSegs: i32, outCapacity: i32): i32 {
  let r: i32;
  if (!inMemory(inOff, inLen) || l3Off < 0 || l3Off > L3_OFF_MAX || outCapacity < 0
    || !arrayInMemory(outOffsetsPtr, maxSegs, 4) || !arrayInMemory(outLengthsPtr, maxSegs, 4)) {
    r = -OR_BAD_DESCRIPTOR;
  } else {
    r = splitOne(<usize>inOff, inLen, l3Off, <usize>outOffsetsPtr, <usize>outLengthsPtr, maxSegs, outCapacity);
  }
  if (r < 0) offloadCount(-r);
  return r;
}

/**
 * Splits `n` vnet-headed packets (u32 offsets / lengths arrays) in order into consecutive
 * entries of the output arrays (at most `maxOut`, each `outCapacity` bytes). Per input, i32
 * entry i of `resultsPtr` gets its segment count, a reason negated (input refused, counted), or
 * 0: not processed because the remaining output entries were too few (resubmit it and the rest).
 * Returns the number of output entries written, or -1 for bad arrays.
 */
export function tsoSplitBatch(inOffsetsPtr: i32, inLengthsPtr: i32, n: i32, l3Off: i32, outOffsetsPtr: i32, outLengthsPtr: i32, maxOut: i32, outCapacity: i32, resultsPtr: i32): i32 {
  if (!arrayInMemory(inOffsetsPtr, n, 4) || !arrayInMemory(inLengthsPtr, n, 4) || !arrayInMemory(resultsPtr, n, 4)
    || !arrayInMemory(outOffsetsPtr, maxOut, 4) || !arrayInMemory(outLengthsPtr, maxOut, 4)
    || l3Off < 0 || l3Off > L3_OFF_MAX || outCapacity < 0) return -OR_BAD_DESCRIPTOR;
  let used = 0;
  for (let i = 0; i < n; i++) {
    const o = <i32>load<u32>(<usize>inOffsetsPtr + (<usize>i << 2));
    const l = <i32>load<u32>(<usize>inLengthsPtr + (<usize>i << 2));
    let r: i32;
    if (!inMemory(o, l)) {
      r = -OR_BAD_DESCRIPTOR;
    } else {
      r = splitOne(<usize>o, l, l3Off, <usize>outOffsetsPtr + (<usize>used << 2), <usize>outLengthsPtr + (<usize>used << 2), maxOut - used, outCapacity);
      if (r == -OR_TOO_MANY_SEGMENTS && used > 0) {
        // may fit a call of its own: leave it and the rest for the next call
        for (let j = i; j < n; j++) store<i32>(<usize>resultsPtr + (<usize>j << 2), 0);
        return used;
      }
    }
    store<i32>(<usize>resultsPtr + (<usize>i << 2), r);
    if (r > 0) used += r;
    else offloadCount(-r);
  }
  return used;
}

/**
 * GRO over `n` frames (u32 offsets / lengths arrays; IP header `l3Off` bytes in, 0 for the host
 * TUN, 14 for a pod TAP): outputs, each a 10-byte vnet header and a frame ready for one write(),
 * go back to back into [outBase, outBase + outBytes); their offsets and lengths into the u32
 * arrays at `outOffsetsPtr` / `outLengthsPtr` (n entries). Needs outBytes >= sum of the input
 * lengths + 10 n (else -14, nothing written). `flags` 1: the inputs' checksums are known good;
 * 2: merge nothing (every input passes with a gso_type NONE header: the kill switch).
 * Returns the output count or a reason negated (-1 bad descriptors). Counted.
 */
export function groCoalesce(inOffsetsPtr: i32, inLengthsPtr: i32, n: i32, l3Off: i32, outBase: i32, outBytes: i32, outOffsetsPtr: i32, outLengthsPtr: i32, flags: i32): i32 {
  const r = coalesce(inOffsetsPtr, inLengthsPtr, n, l3Off, outBase, outBytes, outOffsetsPtr, outLengthsPtr, flags);
  if (r < 0) offloadCount(-r);
  return r;
}
