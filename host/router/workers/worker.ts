// A data-plane worker thread: its own Wasm Dataplane and Datapath over one queue of every port
// (fds borrowed from the main thread). It runs the batch loop from its own libuv event loop, or
// (datapath.loop: "epoll") blocked in one epoll_wait (epoll-loop.ts), and answers the main
// thread's requests (table ops, ports, counters) between batches.
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { EpollLoop } from "./epoll-loop.ts";
import { NativeLoop } from "./native-loop.ts";
import { Dataplane } from "../../wasm/dataplane.ts";
import { applyTableOp } from "../../tables/fanout.ts";
import { Datapath } from "../datapath.ts";
import { PORT_UNDERLAY } from "../../wasm/abi.ts";
import { LinuxTunDevice } from "../../io/linux/tun.ts";
import { borrowUnderlay, type LinuxUnderlay } from "../../io/linux/underlay.ts";
import type { PacketBatchIO } from "../../io/types.ts";
import { SIG_DEAD, SIG_REPLIES, type PortQueue, type WorkerInit, type WorkerReply, type WorkerRequest } from "./messages.ts";

const init = workerData as WorkerInit;
const signal = new Int32Array(init.signal);
const port = init.port;

function die(e: unknown): never {
  Atomics.store(signal, SIG_DEAD, 1);
  Atomics.notify(signal, SIG_REPLIES);
  throw e;
}
process.on("uncaughtException", (e) => { Atomics.store(signal, SIG_DEAD, 1); Atomics.notify(signal, SIG_REPLIES); throw e; });

let dp: Dataplane;
let datapath: Datapath;
let loop: EpollLoop | NativeLoop | undefined;
let stopped = false;
try {
  dp = Dataplane.create(init.limits, undefined, init.loop?.runtime);
  datapath = new Datapath(dp);
  if (init.loop) loop = init.loop.native ? new NativeLoop(datapath, init.loop.wakeFd, init.loop.spinUs) : new EpollLoop(datapath, init.loop.wakeFd, init.loop.spinUs);
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
  die(e);
}

function openQueue(q: PortQueue): PacketBatchIO {
  if (q.kind === "underlay") return borrowUnderlay(q.fds, q.port, q.udp);
  return new LinuxTunDevice(q.fd, q.name, q.kind, false);
}

function handle(req: WorkerRequest): unknown {
  switch (req.type) {
    case "table": return applyTableOp(dp, req.op);
    case "addPort": {
      const io = openQueue(req.queue);
      try { datapath.addPort(req.port, io, req.name, req.rxFlags, req.offload); } catch (e) { io.close(); throw e; }
      return null;
    }
    case "removePort": {
      const io = datapath.removePort(req.port);
      io?.close(); // borrowed: stops watching; the main thread closes the fds after our answer
      return io !== undefined;
    }
    case "start": datapath.start(); return null;
    case "stop": {
      datapath.stop();
      for (const p of [...datapath.portNames().keys()]) datapath.removePort(p)?.close();
      stopped = true;
      return null;
    }
    case "counters": return dp.counters();
    case "stats": return loop instanceof NativeLoop ? loop.datapathStats() : datapath.stats;
    case "offloadCounters": return dp.namedOffloadCounters();
    case "underlayStats": {
      const u = datapath.io(PORT_UNDERLAY) as LinuxUnderlay | undefined;
      if (!u) return null;
      const st = u.stats;
      return { gsoActive: u.udpOffloads().gso.active ? 1 : 0, gsoSends: st.gsoSends, gsoSegments: st.gsoSegments, gsoFallbacks: st.gsoFallbacks, groDatagrams: st.groDatagrams, groSegments: st.groSegments, groInPlace: st.groInPlace };
    }
    case "lookup": return dp.lookup(req.addr) ?? null;
    case "loopStats": return loop ? { ...loop.stats, runtime: dp.aot ? "aot" : "v8" } : null;
    case "ioErrors": return datapath.ioErrors();
  }
}

function answer(req: WorkerRequest & { id: number }): void {
  let reply: WorkerReply;
  try { reply = { id: req.id, ok: true, result: handle(req) }; } catch (e) { reply = { id: req.id, ok: false, error: (e as Error).message }; }
  port.postMessage(reply);
  Atomics.add(signal, SIG_REPLIES, 1);
  Atomics.notify(signal, SIG_REPLIES);
}

if (loop) {
  const epoll = loop;
  // Blocks this thread's event loop until "stop"; a throw from the loop is an uncaught exception
  // (the worker dies and the main thread stops the router).
  setImmediate(() => {
    epoll.run(() => {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) answer(m.message as WorkerRequest & { id: number });
      return !stopped;
    });
    epoll.close();
    port.on("message", answer);
  });
} else {
  port.on("message", answer);
}
parentPort!.postMessage({ ready: true });
