// The shared body of the in-memory fakes: a port reads from its own inbound queue and hands
// writes to `deliver`. Same argument checks and counters as the native implementations.
import { IoClosedError } from "../errors.ts";
import { capacityAt, checkSlots } from "../slots.ts";
import { IoStats, Stat } from "../stats.ts";
import type { PacketBatchIO, SlotList } from "../types.ts";
import { FakeReadiness, PacketQueue } from "./queue.ts";

/** What `deliver` did with one packet. */
export const Delivered = 0;
export const WouldBlock = -1;
/** Any positive number: dropped for that errno. */
export type DeliverResult = number;

export abstract class FakePort implements PacketBatchIO {
  readonly stats = new IoStats();
  readonly inbound: PacketQueue;
  protected readonly readiness: FakeReadiness;
  private isClosed = false;

  constructor(inbound: PacketQueue) {
    this.inbound = inbound;
    this.readiness = new FakeReadiness(() => this.inbound.length > 0, () => this.hasRoom());
  }

  get closed(): boolean { return this.isClosed; }

  /** Hands one packet to the other side. */
  protected abstract deliver(mem: Uint8Array, offset: number, length: number): DeliverResult;
  /** True when a write would not block. */
  protected abstract hasRoom(): boolean;
  /** Room was freed in our inbound queue: wake whoever writes into it. */
  protected abstract roomFreed(): void;
  /** Copies a queued packet into a slot; returns the length written or -1 if it does not fit. */
  protected copyIn(p: Uint8Array, mem: Uint8Array, offset: number, capacity: number): number {
    if (p.length > capacity) return -1;
    mem.set(p, offset);
    return p.length;
  }
  protected abstract describe(): string;

  readBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.isClosed) throw new IoClosedError(this.describe());
    checkSlots(mem, slots, start, count, true);
    const st = this.stats.array;
    st[Stat.Calls]!++;
    let n = 0;
    while (n < count) {
      const p = this.inbound.peek();
      if (!p) break;
      const i = start + n;
      const len = this.copyIn(p, mem, slots.offsets[i]!, capacityAt(slots, i));
      if (len < 0) {
        slots.lengths[i] = 0;
        st[Stat.Truncated]!++;
      } else {
        slots.lengths[i] = len;
        st[Stat.Packets]!++;
        st[Stat.Bytes]! += len;
      }
      this.inbound.shift();
      n++;
    }
    if (n < count) st[Stat.WouldBlock]!++;
    if (n > 0) this.roomFreed();
    return n;
  }

  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.isClosed) throw new IoClosedError(this.describe());
    checkSlots(mem, slots, start, count, false);
    const st = this.stats.array;
    st[Stat.Calls]!++;
    let n = 0;
    for (; n < count; n++) {
      const i = start + n;
      const len = slots.lengths[i]!;
      const r = this.deliver(mem, slots.offsets[i]!, len);
      if (r === WouldBlock) {
        st[Stat.WouldBlock]!++;
        break;
      }
      if (r === Delivered) {
        st[Stat.Packets]!++;
        st[Stat.Bytes]! += len;
      } else {
        st[Stat.Errors]!++;
        st[Stat.LastErrno] = r;
      }
    }
    return n;
  }

  recvBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    return this.readBatch(mem, slots, start, count);
  }

  sendBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    return this.writeBatch(mem, slots, start, count);
  }

  onReadable(cb: (() => void) | null): void {
    if (this.isClosed && cb) throw new IoClosedError(this.describe());
    this.readiness.onReadable(cb);
  }

  onWritable(cb: (() => void) | null): void {
    if (this.isClosed && cb) throw new IoClosedError(this.describe());
    this.readiness.onWritable(cb);
  }

  /**
   * Test convenience (allocates): hands whole packets to `deliver` as one writeBatch would;
   * returns how many were consumed.
   */
  send(...packets: Uint8Array[]): number {
    let n = 0;
    for (const p of packets) {
      const r = this.deliver(p, 0, p.length);
      if (r === WouldBlock) break;
      n++;
    }
    return n;
  }

  /** Test convenience (allocates): removes and returns everything queued, as readBatch would. */
  receiveAll(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const scratch = new Uint8Array(this.inbound.maxPacketSize + 64);
    for (let p = this.inbound.peek(); p; p = this.inbound.peek()) {
      const len = this.copyIn(p, scratch, 0, scratch.length);
      out.push(scratch.slice(0, len));
      this.inbound.shift();
    }
    if (out.length) this.roomFreed();
    return out;
  }

  /** Input arrived or room appeared: re-evaluate readiness. */
  poke(): void {
    this.readiness.poke();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.readiness.close();
    this.inbound.clear();
  }
}
