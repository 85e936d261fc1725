// The native batch loop of a data-plane worker (`datapath.loop: "native"`): like the epoll loop
// (epoll-loop.ts) the thread blocks in one native call, but that call (engineStep, src/engine.cc)
// also makes the port I/O: it writes the TX runs the previous batch queued, reads the next batch
// (re-reading the TAP/TUN ports it just wrote to, then the ports epoll reported) and returns it.
// JS runs the Wasm pipeline on the batch and queues its writes. One JS -> native call per batch
// instead of one per wait, read, write and re-read: what a cold wake-up pays for
// (docs/PERFORMANCE.md, "The native loop").
//
// Contract: as the epoll loop's (run() blocks this thread's event loop until onControl says
// stop; control requests are answered between batches). Ports must be Linux devices that can
// describe their batch calls (nativeReads / nativeWrite).
import { loadNative, type NativeCall, type NativeEngine, type NativeIo } from "../../native/index.ts";
import type { PacketBatchIO, SlotList } from "../../io/types.ts";
import type { Datapath, DeferredWrites, Readiness } from "../datapath.ts";

const WAIT_MS = 200;
const HEADER = 4;
const ENTRY = 4;
const ENTRIES = 64;
const FAILED = 0xffffffff;

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

export class NativeLoop implements Readiness, DeferredWrites {
  private readonly n: NativeIo = loadNative();
  private readonly flushList = new Uint32Array(HEADER + ENTRY * ENTRIES);
  private readonly engine: NativeEngine;
  private queued = 0;
  private closed = false;
  readonly capacity = ENTRIES;

  /** `wakeFd`: the eventfd the main thread signals (owned by the main thread). */
  constructor(private readonly datapath: Datapath, private readonly wakeFd: number) {
    this.engine = this.n.engineCreate(wakeFd, this.flushList);
    datapath.setReadiness(this);
    datapath.setDeferredWrites(this);
  }

  /** epoll waits, wake-ups with something ready, control wake-ups, batches read. */
  get stats(): { waits: number; wakeups: number; controlWakeups: number; batches: number } {
    if (this.closed) return { waits: 0, wakeups: 0, controlWakeups: 0, batches: 0 };
    const [waits, wakeups, controlWakeups, batches] = this.n.engineStats(this.engine);
    return { waits, wakeups, controlWakeups, batches };
  }

  watch(port: number, io: PacketBatchIO): void {
    const p = nativePort(io);
    const spec = this.datapath.nativePortSpec(port);
    if (!spec) throw new Error(`port ${port} is not on the data path`);
    const mem = this.datapath.dp.u8;
    const reads = p.nativeReads(mem, spec.rxSlots);
    const writes: [NativeCall | null, NativeCall | null] = [p.nativeWrite(mem, spec.txSlots), spec.groSlots ? p.nativeWrite(mem, spec.groSlots) : null];
    this.n.engineAddPort(this.engine, port, p.readFds(), reads.calls, writes, spec.readCount, spec.reread, reads.groWords);
  }

  unwatch(port: number): void {
    if (!this.closed) this.n.engineRemovePort(this.engine, port);
  }

  queue(port: number, kind: 0 | 1, start: number, count: number): void {
    if (this.queued === ENTRIES) throw new Error("native loop flush list is full");
    const o = HEADER + this.queued * ENTRY;
    const f = this.flushList;
    f[o] = port;
    f[o + 1] = kind;
    f[o + 2] = start;
    f[o + 3] = count;
    f[0] = ++this.queued;
  }

  flush(): void {
    this.n.engineFlush(this.engine);
    this.queued = 0;
  }

  result(i: number): number {
    const r = this.flushList[HEADER + i * ENTRY + 3]!;
    return r === FAILED ? -1 : r;
  }

  /** Steps until `onControl()` returns false (it runs once first and after every control wake-up). */
  run(onControl: () => boolean): void {
    const n = this.n, dp = this.datapath, f = this.flushList, e = this.engine;
    if (!onControl()) return;
    for (;;) {
      const r = n.engineStep(e, WAIT_MS);
      this.queued = 0;
      dp.settleWrites();
      if (r === 1) dp.processRead(f[2]!, f[3]!);
      else if (r === 2) {
        n.eventfdDrain(this.wakeFd);
        if (!onControl()) { dp.flushWrites(); return; }
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.n.engineClose(this.engine);
  }
}
