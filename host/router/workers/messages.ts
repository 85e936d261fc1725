// What the main thread and a data-plane worker say to each other (structured clone). Requests go
// over a dedicated MessagePort and are answered in order; the main thread waits for each answer
// synchronously (Atomics.wait on a shared counter + receiveMessageOnPort, see pool.ts), so a
// table change is on every worker before the control request that made it is answered.
import type { MessagePort } from "node:worker_threads";
import type { TableOp } from "../../tables/fanout.ts";
import type { Counters, DataplaneLimits, DataplaneRuntime, RouteTarget } from "../../wasm/dataplane.ts";
import type { DatapathStats, OffloadPort, PortIoErrors } from "../datapath.ts";
import type { BorrowedUdpOffloads } from "../../io/linux/underlay.ts";

/** One queue of a port, as fds the main thread opened and owns (the worker borrows them). */
export type PortQueue =
  | { kind: "tun" | "tap"; fd: number; name: string }
  | { kind: "underlay"; fds: { rx4: number; rx6: number; tx4: number; tx6: number }; port: number; udp?: BorrowedUdpOffloads };

export type WorkerRequest =
  | { type: "table"; op: TableOp }
  | { type: "addPort"; port: number; queue: PortQueue; name: string; rxFlags: number; offload?: OffloadPort }
  | { type: "removePort"; port: number }
  | { type: "start" }
  | { type: "stop" }
  | { type: "counters" }
  | { type: "stats" }
  | { type: "underlayStats" }
  | { type: "offloadCounters" }
  | { type: "lookup"; addr: string }
  | { type: "loopStats" }
  | { type: "ioErrors" };

export type WorkerResult = {
  table: boolean; addPort: null; removePort: boolean; start: null; stop: null;
  counters: Counters; stats: DatapathStats; underlayStats: Record<string, number> | null; offloadCounters: Record<string, number>; lookup: RouteTarget | null;
  /** Per port of this worker: its I/O's per-packet errors, truncated reads and kernel receive-queue drops. */
  ioErrors: PortIoErrors[];
  /** The epoll loop's wake-ups (null: the worker runs the libuv loop). */
  loopStats: { waits: number; wakeups: number; controlWakeups: number; batches?: number; readFailures?: number; spinHits?: number; sleeps?: number; runtime?: DataplaneRuntime } | null;
};

export type WorkerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface WorkerInit {
  index: number;
  limits: DataplaneLimits;
  /** Int32Array view: [0] replies posted (Atomics.notify), [1] non-zero once the worker is dying. */
  signal: SharedArrayBuffer;
  port: MessagePort;
  /**
   * `datapath.loop: "epoll"`: run the blocking-wait loop (epoll-loop.ts). `wakeFd` is an eventfd
   * the main thread owns and signals after each request it posts.
   */
  loop?: { wakeFd: number; spinUs: number; native?: boolean; runtime?: DataplaneRuntime };
}

/** Signal slots. */
export const SIG_REPLIES = 0;
export const SIG_DEAD = 1;
