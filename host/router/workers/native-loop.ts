// The native batch loop of a data-plane worker (`datapath.loop: "native"`, docs/WORKERS.md).
// Like the epoll loop (epoll-loop.ts) the thread blocks in one native call, but that call
// (engineStep, host/native/src/engine.cc) also makes the port I/O: it writes what the previous
// batch queued, reads the next batch (re-reading the TAP/TUN ports it just wrote to, then the
// ports epoll reported) and returns; JS then makes ONE Wasm call (loopBatch, assembly/loop.ts)
// that splits, runs the pipeline, coalesces and queues the writes. Per batch: one native call and
// one Wasm call, no JS objects touched — what a cold wake-up pays for (docs/PERFORMANCE.md, "The
// native loop").
//
// Contract: as the epoll loop's (run() blocks this thread's event loop until onControl says
// stop; control requests are answered between batches). Ports must be Linux devices that can
// describe their batch calls (nativeReads / nativeWrite). The Datapath keeps the ports (attach,
// detach) and tells this loop which to watch; its own batch code is not used here, so its
// statistics are this loop's (stats()).
import { loadNative, type NativeCall, type NativeEngine, type NativeIo } from "../../native/index.ts";
import type { PacketBatchIO, SlotList } from "../../io/types.ts";
import type { Datapath, DatapathStats, Readiness } from "../datapath.ts";

const WAIT_MS = 200;
/** Loop header words (assembly/loop.ts). */
const H_QUEUED = 0, H_REFUSED = 4;
const PRESENT = 0x80000000, NO_MERGE = 0x01000000;
/** Loop statistics (assembly/loop.ts LS_*). */
const LS = { batches: 0, packetsIn: 1, batchSizes: 2, superIn: 11, segments: 12, refused: 13, txNoPort: 14, txDropped: 15 } as const;

interface NativePortIO extends PacketBatchIO {
  readFds(): number[];
  nativeReads(mem: Uint8Array, slots: SlotList): { calls: NativeCall[]; groWords: Uint32Array[] };
  nativeWrite(mem: Uint8Array, slots: SlotList): NativeCall | null;
}

function nativePort(io: PacketBatchIO): NativePortIO {
  const p = io as Partial<NativePortIO>;
  if (typeof p.readFds !== "function" || typeof p.nativeReads !== "function" || typeof p.nativeWrite !== "function")
    throw new Error("the native loop needs Linux devices (fds and native batch calls)");
  return io as NativePortIO;
}

export class NativeLoop implements Readiness {
  private readonly n: NativeIo = loadNative();
  private readonly header: Uint32Array;
  private readonly portInfo: Uint32Array;
  private readonly loopStats: Float64Array;
  private readonly engine: NativeEngine;
  private closed = false;
  private groWritesDisabled = 0;

  /** `wakeFd`: the eventfd the main thread signals (owned by the main thread). */
  /** `spinUs` (datapath.spinUs): poll this long, yielding the CPU, before each sleep. */
  constructor(private readonly datapath: Datapath, private readonly wakeFd: number, spinUs = 0) {
    const r = datapath.dp.loopRegion();
    this.header = r.header;
    this.portInfo = r.portInfo;
    this.loopStats = r.stats;
    this.engine = this.n.engineCreate(wakeFd, this.header, spinUs);
    datapath.setReadiness(this);
  }

  /**
   * epoll waits, wake-ups with something ready, control wake-ups, batches read, reads that failed
   * (fd dead), spin hits (datapath.spinUs: the spin found something, a sleep saved), sleeps.
   */
  get stats(): { waits: number; wakeups: number; controlWakeups: number; batches: number; readFailures: number; spinHits: number; sleeps: number } {
    if (this.closed) return { waits: 0, wakeups: 0, controlWakeups: 0, batches: 0, readFailures: 0, spinHits: 0, sleeps: 0 };
    const s = this.n.engineStats(this.engine);
    return { waits: s[0], wakeups: s[1], controlWakeups: s[2], batches: s[3], readFailures: s[8], spinHits: s[9], sleeps: s[10] };
  }

  /** The data path's statistics as this loop counted them (the Datapath's own batch code does not run). */
  datapathStats(): DatapathStats {
    const l = this.loopStats;
    const e = this.closed ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : this.n.engineStats(this.engine);
    return {
      batches: l[LS.batches]!, packetsIn: l[LS.packetsIn]!, packetsOut: e[4]!, txDropped: e[5]! + l[LS.txDropped]!, txNoPort: l[LS.txNoPort]!,
      batchSizes: Array.from(l.subarray(LS.batchSizes, LS.batchSizes + 9)),
      superPacketsIn: l[LS.superIn]!, segmentsOut: l[LS.segments]!, coalescedWrites: e[6]!, offloadRefused: l[LS.refused]!,
      groWritesDisabled: this.groWritesDisabled,
    };
  }

  watch(port: number, io: PacketBatchIO): void {
    const p = nativePort(io);
    const spec = this.datapath.nativePortSpec(port);
    if (!spec) throw new Error(`port ${port} is not on the data path`);
    if (port >= this.portInfo.length) throw new Error(`port ${port} is beyond the data plane's ${this.portInfo.length} ports`);
    const mem = this.datapath.dp.u8;
    const reads = p.nativeReads(mem, spec.rxSlots);
    const writes: [NativeCall | null, NativeCall | null] = [p.nativeWrite(mem, spec.txSlots), spec.groSlots ? p.nativeWrite(mem, spec.groSlots) : null];
    this.n.engineAddPort(this.engine, port, p.readFds(), reads.calls, writes, spec.readCount, spec.reread, reads.groWords);
    const o = spec.offload;
    this.portInfo[port] = (PRESENT | (spec.rxFlags & 0xffff) | (o ? ((o.l3Off + 1) << 16) | (o.noMerge ? NO_MERGE : 0) : 0)) >>> 0;
  }

  unwatch(port: number): void {
    if (port < this.portInfo.length) this.portInfo[port] = 0;
    if (!this.closed) this.n.engineRemovePort(this.engine, port);
  }

  /** Steps until `onControl()` returns false (it runs once first and after every control wake-up). */
  run(onControl: () => boolean): void {
    const n = this.n, e = this.engine, h = this.header, ex = this.datapath.dp.exports, aot = this.datapath.dp.aot;
    const loopBatch = ex.loopBatch!;
    if (!onControl()) return;
    for (;;) {
      // datapath.runtime "aot": engineRun runs the batches itself and returns 1 only when a
      // coalesced write was refused; engineStep returns 1 with a batch for loopBatch here.
      const r = aot ? n.engineRun(e, aot, WAIT_MS) : n.engineStep(e, WAIT_MS);
      if (r === 1) {
        // More super-packets than one batch of slots: the queued writes go out before the next split.
        if (!aot) while (loopBatch() === 1) n.engineFlush(e);
        if (h[H_REFUSED] !== 0) this.mergeRefused();
      } else if (r === 2) {
        n.eventfdDrain(this.wakeFd);
        if (!onControl()) {
          if (h[H_QUEUED] !== 0) n.engineFlush(e);
          return;
        }
      }
    }
  }

  /** The GRO kill switch (datapath.ts writeCoalesced): the kernel refused a merged frame on a port. */
  private mergeRefused(): void {
    const port = this.header[H_REFUSED]! - 1;
    this.header[H_REFUSED] = 0;
    const spec = this.datapath.nativePortSpec(port);
    if (!spec?.offload || spec.offload.noMerge) return;
    spec.offload.noMerge = true;
    this.portInfo[port] = (this.portInfo[port]! | NO_MERGE) >>> 0;
    this.groWritesDisabled++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.n.engineClose(this.engine);
  }
}
