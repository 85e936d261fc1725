// The blocking-wait batch loop of a data-plane worker (`datapath.loop: "epoll"`): the thread
// blocks in ONE native call (epoll_wait over every fd of its ports plus an eventfd the main thread
// signals after posting a control request), drains the ports that are ready, and loops — no libuv
// turn between a wake-up and the batch. Control requests are taken with receiveMessageOnPort
// between batches, so a table change still lands between batches and is answered synchronously.
//
// Contract: while run() is on the stack this thread's event loop does not turn (no timers, no
// 'message' events). run() returns when `onControl` says stop; the caller may then go back to
// the event loop. The wait times out every WAIT_MS so that Worker.terminate() (V8 termination is
// checked only when JS runs) takes effect within that time even when no packet arrives.
import { loadNative, type NativeIo } from "../../native/index.ts";
import type { PacketBatchIO } from "../../io/types.ts";
import type { Datapath, Readiness } from "../datapath.ts";

const WAKE_TOKEN = 0xffffffff;
const WAIT_MS = 200;

interface PolledIO extends PacketBatchIO {
  readFds(): number[];
  /** Underlay with UDP GRO: segments of a coalesced datagram wait for the next read. */
  readonly groPending?: boolean;
}

function polled(io: PacketBatchIO): PolledIO {
  if (typeof (io as Partial<PolledIO>).readFds !== "function") throw new Error("the epoll loop needs Linux devices (fds)");
  return io as PolledIO;
}

export class EpollLoop implements Readiness {
  private readonly n: NativeIo = loadNative();
  private readonly epfd: number;
  private readonly watched = new Map<number, { io: PolledIO; fds: number[] }>();
  private readonly ready = new Uint32Array(64);
  private closed = false;
  /** Wake-ups (epollWait calls that returned at least one token), eventfd wake-ups, and reads that
   *  threw (their fds are dead: no longer watched). */
  readonly stats = { waits: 0, wakeups: 0, controlWakeups: 0, readFailures: 0 };

  /** `wakeFd`: the eventfd the main thread signals (owned by the main thread). */
  constructor(private readonly datapath: Datapath, private readonly wakeFd: number, private readonly spinUs = 0) {
    this.epfd = this.n.epollCreate();
    try { this.n.epollAdd(this.epfd, wakeFd, WAKE_TOKEN); } catch (e) { this.n.closeFd(this.epfd); throw e; }
    datapath.setReadiness(this);
  }

  watch(port: number, io: PacketBatchIO): void {
    const p = polled(io);
    if (this.watched.has(port)) this.unwatch(port);
    const fds = p.readFds();
    const added: number[] = [];
    try {
      for (const fd of fds) { this.n.epollAdd(this.epfd, fd, port); added.push(fd); }
    } catch (e) {
      for (const fd of added) this.n.epollDel(this.epfd, fd);
      throw e;
    }
    this.watched.set(port, { io: p, fds });
  }

  readFailed(): void {
    this.stats.readFailures++;
  }

  unwatch(port: number): void {
    const w = this.watched.get(port);
    if (!w) return;
    this.watched.delete(port);
    if (!this.closed) for (const fd of w.fds) this.n.epollDel(this.epfd, fd);
  }

  /**
   * Waits and drains until `onControl()` returns false. `onControl` runs after every eventfd
   * wake-up (and once before the first wait): it takes and answers the posted requests.
   */
  run(onControl: () => boolean): void {
    const n = this.n, dp = this.datapath, ready = this.ready, s = this.stats;
    if (!onControl()) return;
    for (;;) {
      const gro = this.groPort();
      const k = n.epollWait(this.epfd, ready, gro === undefined ? WAIT_MS : 0, this.spinUs);
      s.waits++;
      if (k > 0) s.wakeups++;
      let control = false;
      for (let i = 0; i < k; i++) {
        const t = ready[i]!;
        if (t === WAKE_TOKEN) { control = true; continue; }
        dp.drain(t);
      }
      if (gro !== undefined) dp.drain(gro);
      if (control) {
        s.controlWakeups++;
        n.eventfdDrain(this.wakeFd);
        if (!onControl()) return;
      }
    }
  }

  /** A port with received segments waiting in a GRO state (read again without waiting). */
  private groPort(): number | undefined {
    for (const [port, w] of this.watched) if (w.io.groPending) return port;
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watched.clear();
    this.n.closeFd(this.epfd);
  }
}
