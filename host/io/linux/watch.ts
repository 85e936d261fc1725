// Readiness of one or more fds through the addon's libuv poll handles: a level-triggered readable
// callback and a one-shot writable callback, shared by all fds of a port. Callbacks run from the
// event loop and must not throw: a throw surfaces as process 'uncaughtException'.
import { loadNative, type NativePoller } from "../../native/index.ts";

export class FdWatch {
  private readonly pollers: (NativePoller | undefined)[] = [];
  private readonly masks: number[] = [];
  private readable: (() => void) | null = null;
  private writable: (() => void) | null = null;
  private closed = false;
  private readonly readFds: number[];
  private readonly writeFds: number[];

  /** `readFds` are watched for readable, `writeFds` for writable (an fd may be in both). */
  constructor(readFds: number[], writeFds: number[]) {
    this.readFds = readFds;
    this.writeFds = writeFds;
  }

  onReadable(cb: (() => void) | null): void {
    this.readable = cb;
    this.update();
  }

  onWritable(cb: (() => void) | null): void {
    this.writable = cb;
    this.update();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readable = this.writable = null;
    for (const p of this.pollers) p?.close();
  }

  private update(): void {
    if (this.closed) return;
    const n = loadNative();
    const fds = [...new Set([...this.readFds, ...this.writeFds])];
    fds.forEach((fd, k) => {
      const mask = (this.readable && this.readFds.includes(fd) ? n.READABLE : 0) |
        (this.writable && this.writeFds.includes(fd) ? n.WRITABLE : 0);
      if (mask === (this.masks[k] ?? 0)) return;
      this.masks[k] = mask;
      let p = this.pollers[k];
      if (!p) {
        if (mask === 0) return;
        p = this.pollers[k] = new n.Poller(fd, this.dispatch);
      }
      p.start(mask);
    });
  }

  private readonly dispatch = (events: number, status: number): void => {
    const n = loadNative();
    // status < 0 (e.g. the fd went bad): libuv has stopped the handle. Forget the armed masks so a
    // later onReadable/onWritable re-arms it, and wake both callbacks once so that the next batch
    // call throws the real error.
    if (status < 0) this.masks.length = 0;
    if (this.writable && (status < 0 || events & n.WRITABLE)) {
      const cb = this.writable;
      this.writable = null;
      this.update();
      cb();
    }
    if (this.readable && (status < 0 || events & n.READABLE)) this.readable();
  };
}
