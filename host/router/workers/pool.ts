// The main thread's side of the data-plane workers: N worker threads, each with its own Wasm
// Dataplane and Datapath over one queue of every port. The main thread owns every fd (it opens the
// N queues of a device and closes them after the workers let go), keeps the control plane, and
// is the single source of truth for the tables: each worker is a TableReplica of NodeTables'
// fan-out (host/tables/fanout.ts), so a table op is on every worker, or on none, before it returns.
//
// Requests are synchronous: post on the worker's port, then Atomics.wait on a shared counter the
// worker bumps after each reply, and take the reply with receiveMessageOnPort. A worker answers
// between batches (a batch takes microseconds to a few milliseconds); one that does not answer
// within the timeout, or that died, is marked failed and the router is told (onFailure).
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { TableOp, TableReplica } from "../../tables/fanout.ts";
import type { Counters, DataplaneLimits, DataplaneRuntime, PortCounters } from "../../wasm/dataplane.ts";
import type { DatapathStats, OffloadPort } from "../datapath.ts";
import { loadNative } from "../../native/index.ts";
import { SIG_DEAD, SIG_REPLIES, type PortQueue, type WorkerInit, type WorkerReply, type WorkerRequest, type WorkerResult } from "./messages.ts";
import { bundled, packageRoot } from "../../package-root.ts";

// The worker thread's module: the bundled worker beside the bundled host, or the sources through tsx.
const ENTRY = bundled ? new URL(`file://${packageRoot}dist/host/worker.mjs`) : new URL("./entry.mjs", import.meta.url);

export class WorkerFailedError extends Error {
  constructor(readonly worker: string, message: string) { super(`${worker}: ${message}`); this.name = "WorkerFailedError"; }
}

export class DataplaneWorker implements TableReplica {
  readonly name: string;
  private seq = 0;
  private failure?: string;
  private stopping = false;

  private wakeClosed = false;

  private constructor(readonly index: number, readonly thread: Worker, private readonly port: MessagePort, private readonly signal: Int32Array,
    private readonly timeoutMs: number, private readonly wakeFd = -1) {
    this.name = `worker ${index}`;
  }

  /** Starts the thread and waits until its Dataplane exists. */
  static async spawn(index: number, limits: DataplaneLimits, timeoutMs: number, onFailure: (w: DataplaneWorker, e: Error) => void,
    epoll?: { spinUs: number; native?: boolean; runtime?: DataplaneRuntime }): Promise<DataplaneWorker> {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(8);
    // The epoll loop's wake-up: ours to signal after each post and to close after the thread ended.
    const wakeFd = epoll ? loadNative().eventfdCreate() : -1;
    const init: WorkerInit = { index, limits, signal, port: port2, loop: epoll && { wakeFd, spinUs: epoll.spinUs, native: epoll.native, runtime: epoll.runtime } };
    let thread: Worker;
    try {
      thread = new Worker(ENTRY, { workerData: init, transferList: [port2 as unknown as Transferable] as never, name: `weft-dataplane-${index}` });
    } catch (e) {
      if (wakeFd >= 0) loadNative().closeFd(wakeFd);
      throw e;
    }
    const w = new DataplaneWorker(index, thread, port1, new Int32Array(signal), timeoutMs, wakeFd);
    port1.unref();
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => {
        void thread.terminate().finally(() => w.closeWake());
        reject(new WorkerFailedError(w.name, `did not start: ${e.message}`));
      };
      thread.once("message", (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : fail(new Error(m.error ?? "no ready message"))));
      thread.once("error", fail);
      thread.once("exit", (code) => fail(new Error(`exited with code ${code}`)));
    });
    thread.removeAllListeners("message").removeAllListeners("error").removeAllListeners("exit");
    thread.on("error", (e) => w.fail(`crashed: ${e.message}`, onFailure));
    thread.on("exit", (code) => w.fail(`exited with code ${code}`, onFailure));
    return w;
  }

  get failed(): boolean { return this.failure !== undefined; }

  private fail(why: string, onFailure?: (w: DataplaneWorker, e: Error) => void): void {
    if (this.stopping) return;
    const first = this.failure === undefined;
    this.failure ??= why;
    if (first && onFailure) onFailure(this, new WorkerFailedError(this.name, why));
  }

  /** Sends `req` and waits for the answer; throws the worker's error or WorkerFailedError. */
  call<T extends WorkerRequest["type"]>(req: Extract<WorkerRequest, { type: T }>): WorkerResult[T] {
    if (this.failure !== undefined) throw new WorkerFailedError(this.name, this.failure);
    const id = ++this.seq;
    this.port.postMessage({ ...req, id });
    if (this.wakeFd >= 0) loadNative().eventfdSignal(this.wakeFd);
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.signal, SIG_REPLIES);
      const m = receiveMessageOnPort(this.port);
      if (m) {
        const r = m.message as WorkerReply;
        if (r.id !== id) continue; // the answer to a request that timed out earlier
        if (!r.ok) throw new Error(r.error);
        return r.result as WorkerResult[T];
      }
      if (Atomics.load(this.signal, SIG_DEAD) !== 0) { this.failure ??= "died"; throw new WorkerFailedError(this.name, "died"); }
      const left = deadline - Date.now();
      if (left <= 0) { this.failure ??= `no answer to ${req.type} within ${this.timeoutMs} ms`; throw new WorkerFailedError(this.name, this.failure); }
      Atomics.wait(this.signal, SIG_REPLIES, seen, Math.min(left, 50));
    }
  }

  apply(op: TableOp): boolean { return this.call({ type: "table", op }); }

  /** Stops the batch loop and the thread; never throws. */
  async stop(): Promise<void> {
    if (!this.failed) { try { this.call({ type: "stop" }); } catch { /* terminate anyway */ } }
    this.stopping = true;
    this.port.close();
    await this.thread.terminate();
    this.closeWake();
  }

  /** Closes the epoll loop's eventfd once the thread has ended. */
  private closeWake(): void {
    if (this.wakeFd >= 0 && !this.wakeClosed) { this.wakeClosed = true; loadNative().closeFd(this.wakeFd); }
  }
}

export interface WorkerPoolOptions {
  count: number;
  limits: DataplaneLimits;
  /** Table ops that build the current state (NodeTables' fanout.mirror.snapshot()). */
  snapshot: () => TableOp[];
  /** A worker died or stopped answering (not called during close()). */
  onFailure: (worker: string, e: Error) => void;
  /** Per-request timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Run the blocking-wait loop (datapath.loop: "epoll", or "native": native-loop.ts) in every worker. */
  epoll?: { spinUs: number; native?: boolean; runtime?: DataplaneRuntime };
}

export class WorkerPool {
  private constructor(readonly workers: DataplaneWorker[]) {}

  /** Spawns `count` workers and seeds each with the tables; on failure none is left running. */
  static async start(o: WorkerPoolOptions): Promise<WorkerPool> {
    const settled = await Promise.allSettled(Array.from({ length: o.count }, (_, i) =>
      DataplaneWorker.spawn(i, o.limits, o.timeoutMs ?? 5000, (w, e) => o.onFailure(w.name, e), o.epoll)));
    const workers = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const pool = new WorkerPool(workers);
    try {
      const bad = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
      if (bad) throw bad.reason;
      const ops = o.snapshot(); // taken after the awaits: nothing can change it until we return
      for (const w of workers) for (const op of ops) w.apply(op);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number { return this.workers.length; }

  /** Gives queue i of `port` to worker i; all or none. `queues.length` must equal the pool size. */
  addPort(port: number, queues: PortQueue[], name: string, rxFlags = 0, offload?: OffloadPort): void {
    if (queues.length !== this.workers.length) throw new Error(`port ${name}: ${queues.length} queues for ${this.workers.length} workers`);
    const done: DataplaneWorker[] = [];
    try {
      this.workers.forEach((w, i) => { w.call({ type: "addPort", port, queue: queues[i]!, name, rxFlags, offload }); done.push(w); });
    } catch (e) {
      for (const w of done) { try { w.call({ type: "removePort", port }); } catch { /* failed worker: its fds are closed by the caller */ } }
      throw e;
    }
  }

  /** Every live worker stops using `port` before this returns; then its fds may be closed. */
  removePort(port: number): void {
    for (const w of this.workers) { if (!w.failed) { try { w.call({ type: "removePort", port }); } catch { /* reported through onFailure */ } } }
  }

  startAll(): void { for (const w of this.workers) w.call({ type: "start" }); }

  /** Counters of every live worker, summed. */
  counters(): Counters {
    return sumCounters(this.perWorker((w) => w.call({ type: "counters" })));
  }

  stats(): DatapathStats {
    return sumStats(this.perWorker((w) => w.call({ type: "stats" })));
  }

  /** `f(worker)` for every live worker (failed ones are skipped: their counts are lost). */
  perWorker<T>(f: (w: DataplaneWorker) => T): T[] {
    const out: T[] = [];
    for (const w of this.workers) { if (!w.failed) { try { out.push(f(w)); } catch { /* reported through onFailure */ } } }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

export function sumCounters(list: Counters[]): Counters {
  const [first, ...rest] = list;
  if (!first) throw new Error("no worker answered");
  const out: Counters = structuredClone(first);
  const addBlock = (a: PortCounters, b: PortCounters) => { a.rxPackets += b.rxPackets; a.rxBytes += b.rxBytes; a.txPackets += b.txPackets; a.txBytes += b.txBytes; };
  for (const c of rest) {
    for (const k of Object.keys(c.drops) as (keyof Counters["drops"])[]) out.drops[k] += c.drops[k];
    for (const k of Object.keys(c.events) as (keyof Counters["events"])[]) out.events[k] += c.events[k];
    c.ports.forEach((p, i) => addBlock(out.ports[i]!, p));
    c.peers.forEach((p, i) => addBlock(out.peers[i]!, p));
  }
  return out;
}

export function sumStats(list: DatapathStats[]): DatapathStats {
  const [first, ...rest] = list;
  if (!first) throw new Error("no worker answered");
  const out: DatapathStats = structuredClone(first);
  for (const s of rest) {
    for (const k of Object.keys(s) as (keyof DatapathStats)[]) {
      if (k === "batchSizes") s.batchSizes.forEach((v, i) => { out.batchSizes[i]! += v; });
      else (out[k] as number) += s[k] as number;
    }
  }
  return out;
}
