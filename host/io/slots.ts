// Validation of batch-call arguments, identical for every implementation (the native addon checks
// the same in C and throws the same error classes).
import type { SlotList } from "./types.ts";

/** Capacity of slot i. */
export function capacityAt(slots: SlotList, i: number): number {
  const c = slots.capacity;
  return typeof c === "number" ? c : c[i]!;
}

/**
 * Throws RangeError unless slots [start, start + count) exist and lie inside `mem`: the whole
 * capacity for reads, the packet for writes.
 */
export function checkSlots(mem: Uint8Array, slots: SlotList, start: number, count: number, forRead: boolean): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0)
    throw new RangeError("start and count must be non-negative integers");
  const end = start + count;
  if (end > slots.offsets.length || end > slots.lengths.length ||
      (forRead && typeof slots.capacity !== "number" && end > slots.capacity.length))
    throw new RangeError("start + count exceeds the slot arrays");
  for (let i = start; i < end; i++) {
    const o = slots.offsets[i]!;
    const n = forRead ? capacityAt(slots, i) : slots.lengths[i]!;
    if (o + n > mem.byteLength)
      throw new RangeError(`slot ${i} [${o}, +${n}) lies outside mem (${mem.byteLength} bytes)`);
  }
}

/** A SlotList of `n` equal slots of `slotSize` bytes starting at `base`, with `headroom` reserved. */
export function uniformSlots(n: number, base: number, slotSize: number, headroom = 0): SlotList {
  const offsets = new Uint32Array(n);
  for (let i = 0; i < n; i++) offsets[i] = base + i * slotSize + headroom;
  return { offsets, lengths: new Uint32Array(n), capacity: slotSize - headroom };
}
