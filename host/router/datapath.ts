// The batch loop: packets from a port's readiness event are read straight into the Wasm slots,
// run through the pipeline in one call, and the TX runs go out port by port in one batch call
// each. No per-packet JS work: native I/O fills the RX length array in Wasm memory, and the
// pipeline groups the TX list by port into arrays the native writes read directly.

import type { PacketBatchIO, SlotList } from "../io/types.ts";
import { Dataplane } from "../wasm/dataplane.ts";
import { BATCH_MAX } from "../wasm/abi.ts";

export interface DatapathStats {
  batches: number;
  packetsIn: number;
  packetsOut: number;
  /** Packets a port could not take (it would block); their slots are reused at once. */
  txDropped: number;
  /** TX packets for a port with no I/O attached (e.g. detached while in flight). */
  txNoPort: number;
  /** Batch-size histogram, buckets of powers of two: [1, 2-3, 4-7, ..., 128-255, 256]. */
  batchSizes: number[];
}

interface PortEntry { io: PacketBatchIO; rxFlags: number; name: string }

export class Datapath {
  private readonly ports = new Map<number, PortEntry>();
  private readonly rxSlots: SlotList;
  private readonly txSlots: SlotList;
  readonly stats: DatapathStats = { batches: 0, packetsIn: 0, packetsOut: 0, txDropped: 0, txNoPort: 0, batchSizes: new Array(9).fill(0) };
  private running = false;
  private readonly t0 = Date.now();

  constructor(readonly dp: Dataplane) {
    this.rxSlots = { offsets: dp.rxOffsets, lengths: dp.rxLengths, capacity: dp.maxPacket };
    this.txSlots = { offsets: dp.txOffsets, lengths: dp.txLengths, capacity: dp.slotSize };
  }

  addPort(port: number, io: PacketBatchIO, name: string, rxFlags = 0): void {
    if (this.ports.has(port)) throw new Error(`data path port ${port} already has I/O`);
    this.ports.set(port, { io, rxFlags, name });
    if (this.running) io.onReadable(() => this.drain(port));
  }

  /** Stops watching the port and forgets it; the caller closes the I/O. */
  removePort(port: number): PacketBatchIO | undefined {
    const e = this.ports.get(port);
    if (!e) return undefined;
    e.io.onReadable(null);
    e.io.onWritable(null);
    this.ports.delete(port);
    return e.io;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const [port, e] of this.ports) e.io.onReadable(() => this.drain(port));
  }

  stop(): void {
    this.running = false;
    for (const e of this.ports.values()) { e.io.onReadable(null); e.io.onWritable(null); }
  }

  /** Reads and processes batches from `port` until it has nothing more (or a budget is spent). */
  drain(port: number): void {
    const e = this.ports.get(port);
    if (!e || e.io.closed) return;
    const dp = this.dp;
    const u8 = dp.u8;
    for (let round = 0; round < 8; round++) {
      let n: number;
      try { n = e.io.readBatch(u8, this.rxSlots, 0, BATCH_MAX); } catch { return; }
      if (n === 0) return;
      dp.rxPorts.fill(port, 0, n);
      dp.rxFlags.fill(e.rxFlags, 0, n);
      this.run(n);
      if (n < BATCH_MAX) return;
    }
  }

  /** Processes descriptors 0..n-1 already in place and sends the results. */
  run(n: number): void {
    const dp = this.dp;
    const s = this.stats;
    s.batches++;
    s.packetsIn += n;
    s.batchSizes[n >= 256 ? 8 : 31 - Math.clz32(n)]!++;
    dp.process(n, Date.now() - this.t0);
    const runs = dp.txRunCount();
    for (let r = 0; r < runs; r++) {
      const port = dp.txRunPort(r), start = dp.txRunStart(r), count = dp.txRunLength(r);
      const e = this.ports.get(port);
      if (!e || e.io.closed) { s.txNoPort += count; continue; }
      let sent = 0;
      try { sent = e.io.writeBatch(dp.u8, this.txSlots, start, count); } catch { sent = 0; }
      s.packetsOut += sent;
      if (sent < count) s.txDropped += count - sent;
    }
  }

  portNames(): Map<number, string> {
    return new Map([...this.ports].map(([p, e]) => [p, e.name]));
  }

  io(port: number): PacketBatchIO | undefined { return this.ports.get(port)?.io; }
}
