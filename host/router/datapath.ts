// The batch loop: packets from a port's readiness event are read straight into the Wasm slots,
// run through the pipeline in one call, and the TX runs go out port by port in one batch call
// each. No per-packet JS work: native I/O fills the RX length array in Wasm memory, and the
// pipeline groups the TX list by port into arrays the native writes read directly.

import type { PacketBatchIO, SlotList } from "../io/types.ts";
import { Dataplane } from "../wasm/dataplane.ts";
import { BATCH_MAX, PORT_UNDERLAY } from "../wasm/abi.ts";

/** A port's I/O trouble counters (host/io/stats.ts). */
export interface PortIoErrors { port: number; errors: number; lastErrno: number; truncated: number; kernelDrops: number }

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
  /** Offload ports: super-packets read, segments made from them, frames written after coalescing. */
  superPacketsIn: number;
  segmentsOut: number;
  coalescedWrites: number;
  /** Super-packets the splitter refused (counted by reason in the Wasm offload counters). */
  offloadRefused: number;
  /**
   * Offload ports whose kernel refused a coalesced (GSO) write with EINVAL: they were switched to
   * writing every packet on its own (the GRO kill switch; docs/OFFLOADS.md).
   */
  groWritesDisabled: number;
}

/**
 * A port whose device was opened with IFF_VNET_HDR and TUNSETOFFLOAD: reads are super-packets
 * split in Wasm into the RX slots (TSO), writes are coalesced in Wasm (GRO) and carry the vnet
 * header. `l3Off`: 14 for a TAP (Ethernet), 0 for a TUN.
 */
export interface OffloadPort {
  l3Off: number;
  /** Set when the kernel refused a coalesced write on this port: write every packet on its own. */
  noMerge?: boolean;
}

/** groCoalesce flag (assembly/offload/coalesce.ts GRO_NO_MERGE): every input passes unmerged. */
const GRO_NO_MERGE = 2;
const EINVAL = 22;

interface PortEntry {
  io: PacketBatchIO;
  rxFlags: number;
  name: string;
  offload?: OffloadPort;
  /** A read threw: the fd is dead, no longer watched or read (readFailed). */
  dead?: boolean;
}

/** What a loop that does the port I/O itself needs to know about a port (nativePortSpec). */
export interface NativePortSpec {
  io: PacketBatchIO;
  /** Slots reads fill and how many a read may fill (super-packet buffers for an offload port). */
  rxSlots: SlotList;
  readCount: number;
  rxFlags: number;
  /** Slots of kind 0 writes (the pipeline's TX descriptors) and, offload ports, of kind 1 (coalesced frames). */
  txSlots: SlotList;
  groSlots?: SlotList;
  /** Offload port: the IP header offset in its frames (14 TAP, 0 TUN), and whether merging is off. */
  offload?: OffloadPort;
  /** A TAP/TUN port: read it again after writing to it (see drain). */
  reread: boolean;
}

/**
 * Who tells the data path that a port is readable. Default: each port's own `onReadable` (libuv).
 * An external loop (host/router/workers/epoll-loop.ts) watches the ports itself and calls
 * `drain(port)`; the data path tells it which ports to watch while running.
 */
export interface Readiness {
  watch(port: number, io: PacketBatchIO): void;
  unwatch(port: number, io: PacketBatchIO): void;
  /** A read of `port` threw (its fd is dead); the data path has stopped watching it. For counting. */
  readFailed?(port: number): void;
}

export class Datapath {
  private readonly ports = new Map<number, PortEntry>();
  private readonly rxSlots: SlotList;
  private readonly txSlots: SlotList;
  readonly stats: DatapathStats = {
    batches: 0, packetsIn: 0, packetsOut: 0, txDropped: 0, txNoPort: 0, batchSizes: new Array(9).fill(0),
    superPacketsIn: 0, segmentsOut: 0, coalescedWrites: 0, offloadRefused: 0, groWritesDisabled: 0,
  };
  private readonly offRxSlots?: SlotList;
  private readonly groSlots?: SlotList;
  private running = false;
  /** Ports written to by the current drain: read once more before returning (see drain). */
  private readonly written: number[] = [];
  private draining = false;
  private readonly t0 = Date.now();
  private readiness?: Readiness;

  constructor(readonly dp: Dataplane) {
    this.rxSlots = { offsets: dp.rxOffsets, lengths: dp.rxLengths, capacity: dp.maxPacket };
    this.txSlots = { offsets: dp.txOffsets, lengths: dp.txLengths, capacity: dp.slotSize };
    const o = dp.offload;
    if (o) {
      this.offRxSlots = { offsets: o.rxInOffsetsView, lengths: o.rxInLengthsView, capacity: o.rxBufferBytes };
      this.groSlots = { offsets: o.groOutOffsetsView, lengths: o.groOutLengthsView, capacity: dp.slotSize + 16 };
    }
  }

  addPort(port: number, io: PacketBatchIO, name: string, rxFlags = 0, offload?: OffloadPort): void {
    if (this.ports.has(port)) throw new Error(`data path port ${port} already has I/O`);
    if (offload && !this.dp.offload) throw new Error("offload port on a data plane created without offload buffers");
    this.ports.set(port, { io, rxFlags, name, offload });
    if (this.running) this.watch(port, io);
  }

  /** Replaces the per-port libuv readiness with `r`; only while stopped. */
  setReadiness(r: Readiness): void {
    if (this.running) throw new Error("setReadiness on a running data path");
    this.readiness = r;
  }

  /** The slots and read size of a port, for a loop that does its I/O natively (native-loop.ts). */
  nativePortSpec(port: number): NativePortSpec | undefined {
    const e = this.ports.get(port);
    if (!e) return undefined;
    const reread = port !== PORT_UNDERLAY;
    return e.offload
      ? { io: e.io, rxSlots: this.offRxSlots!, readCount: this.dp.offload!.rxCount, rxFlags: e.rxFlags, txSlots: this.txSlots, groSlots: this.groSlots, offload: e.offload, reread }
      : { io: e.io, rxSlots: this.rxSlots, readCount: BATCH_MAX, rxFlags: e.rxFlags, txSlots: this.txSlots, reread };
  }

  private watch(port: number, io: PacketBatchIO): void {
    if (this.readiness) this.readiness.watch(port, io);
    else io.onReadable(() => this.drain(port));
  }

  private unwatch(port: number, io: PacketBatchIO): void {
    if (this.readiness && this.running) this.readiness.unwatch(port, io);
    io.onReadable(null);
    io.onWritable(null);
  }

  /**
   * A read that threw: the port's fd is dead (its device was deleted under the router: EBADFD).
   * Level-triggered readiness would report it again at once, for ever, so it is no longer watched
   * (the native engine does the same, engine.cc ReadPort); the port stays until the control plane
   * removes it (detachPod), and its writes fail and are counted meanwhile.
   */
  private readFailed(port: number, e: PortEntry): void {
    e.dead = true;
    this.unwatch(port, e.io);
    this.readiness?.readFailed?.(port);
  }

  /** Stops watching the port and forgets it; the caller closes the I/O. */
  removePort(port: number): PacketBatchIO | undefined {
    const e = this.ports.get(port);
    if (!e) return undefined;
    this.unwatch(port, e.io);
    this.ports.delete(port);
    return e.io;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const [port, e] of this.ports) this.watch(port, e.io);
  }

  stop(): void {
    for (const [port, e] of this.ports) this.unwatch(port, e.io);
    this.running = false;
  }

  get isRunning(): boolean { return this.running; }

  /**
   * Reads and processes batches from `port` until it has nothing more (or a budget is spent).
   * Then every TAP/TUN port this wrote to is read once more right away: a pod's or the host's
   * stack answers during our write (ping, TCP ACKs), so its reply is usually already queued and
   * is sent on without waiting for another event-loop wake-up.
   */
  drain(port: number): void {
    if (this.draining) { this.drainPort(port); return; }
    this.draining = true;
    try {
      this.drainPort(port);
      for (let k = 0; k < this.written.length && k < 64; k++) {
        const p = this.written[k]!;
        if (p !== port && p !== PORT_UNDERLAY) this.drainPort(p);
      }
    } finally {
      this.written.length = 0;
      this.draining = false;
    }
  }

  private drainPort(port: number): void {
    const e = this.ports.get(port);
    if (!e || e.io.closed || e.dead) return;
    if (e.offload) { this.drainOffload(port, e); return; }
    const dp = this.dp;
    const u8 = dp.u8;
    for (let round = 0; round < 8; round++) {
      let n: number;
      try { n = e.io.readBatch(u8, this.rxSlots, 0, BATCH_MAX); } catch { this.readFailed(port, e); return; }
      if (n === 0) return;
      dp.rxPorts.fill(port, 0, n);
      dp.rxFlags.fill(e.rxFlags, 0, n);
      this.run(n);
      if (n < BATCH_MAX) return;
    }
  }

  /**
   * An offload port: read up to `rxCount` super-packets into the offload buffers, split them in
   * Wasm straight into the RX slots (every input, GSO or not, comes out as plain packets), and
   * run the pipeline over the segments, as many batches as they fill.
   */
  private drainOffload(port: number, e: PortEntry): void {
    const dp = this.dp;
    const o = dp.offload!;
    const ex = dp.exports;
    const rxOffPtr = ex.layout!(0), rxLenPtr = ex.layout!(17);
    for (let round = 0; round < 8; round++) {
      let k: number;
      try { k = e.io.readBatch(dp.u8, this.offRxSlots!, 0, o.rxCount); } catch { this.readFailed(port, e); return; }
      if (k === 0) return;
      this.stats.superPacketsIn += k;
      let first = 0;
      while (first < k) {
        const used = ex.tsoSplitBatch!(o.rxInOffsets + first * 4, o.rxInLengths + first * 4, k - first, e.offload!.l3Off,
          rxOffPtr, rxLenPtr, BATCH_MAX, dp.maxPacket, o.rxResults + first * 4);
        if (used < 0) return;
        let done = first;
        while (done < k && o.rxResultsView[done]! !== 0) { if (o.rxResultsView[done]! < 0) this.stats.offloadRefused++; done++; }
        if (used > 0) {
          this.stats.segmentsOut += used;
          dp.rxPorts.fill(port, 0, used);
          dp.rxFlags.fill(e.rxFlags, 0, used);
          this.run(used);
        }
        if (done === first && used === 0) { first++; continue; } // cannot happen: one super-packet fits a batch
        first = done;
      }
      if (k < o.rxCount) return;
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
      if (this.draining && !this.written.includes(port)) this.written.push(port);
      if (e.offload) { this.writeCoalesced(e, start, count); continue; }
      let sent = 0;
      try { sent = e.io.writeBatch(dp.u8, this.txSlots, start, count); } catch { sent = 0; }
      s.packetsOut += sent;
      if (sent < count) s.txDropped += count - sent;
    }
  }

  /**
   * GRO in Wasm over one TX run, then one write per coalesced frame (vnet header included).
   * Kill switch: kernels have had regressions that refuse GSO writes to a TUN/TAP with EINVAL
   * (docs/OFFLOADS.md); when a write of merged frames fails so, this port stops merging for good
   * (the frames of that run are lost and counted; TCP sends them again).
   */
  private writeCoalesced(e: PortEntry, start: number, count: number): void {
    const dp = this.dp;
    const o = dp.offload!;
    const s = this.stats;
    const off = e.offload!;
    const m = dp.exports.groCoalesce!(dp.exports.layout!(20) + start * 4, dp.exports.layout!(21) + start * 4, count, off.l3Off,
      o.groArea, o.groBytes, o.groOutOffsets, o.groOutLengths, off.noMerge ? GRO_NO_MERGE : 0);
    if (m < 0) { s.txDropped += count; return; }
    const errors0 = e.io.stats.errors;
    let sent = 0;
    try { sent = e.io.writeBatch(dp.u8, this.groSlots!, 0, m); } catch { sent = 0; }
    const refused = e.io.stats.errors - errors0;
    s.coalescedWrites += sent - refused;
    s.packetsOut += sent === m && refused === 0 ? count : 0;
    if (sent < m || refused > 0) s.txDropped += count;
    if (refused > 0 && !off.noMerge && m < count && e.io.stats.lastErrno === EINVAL) {
      off.noMerge = true;
      s.groWritesDisabled++;
    }
  }

  portNames(): Map<number, string> {
    return new Map([...this.ports].map(([p, e]) => [p, e.name]));
  }

  io(port: number): PacketBatchIO | undefined { return this.ports.get(port)?.io; }

  /** Per port: its I/O's per-packet errors (and the last errno), truncated reads, kernel receive-queue drops. */
  ioErrors(): PortIoErrors[] {
    return [...this.ports].map(([port, e]) => {
      const s = e.io.stats;
      return { port, errors: s.errors, lastErrno: s.lastErrno, truncated: s.truncated, kernelDrops: s.kernelDrops };
    });
  }
}
