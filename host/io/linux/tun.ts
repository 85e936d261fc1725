// Linux TUN/TAP devices through the native addon (/dev/net/tun, IFF_NO_PI, non-blocking).
import { loadNative, NATIVE_FN, type NativeCall } from "../../native/index.ts";
import { IoClosedError, IoError } from "../errors.ts";
import { IoStats } from "../stats.ts";
import type { SlotList, TunDevice, TunKind } from "../types.ts";
import { FdWatch } from "./watch.ts";

export interface TunOptions {
  kind: TunKind;
  /** Interface name (at most 15 bytes); empty or omitted: the kernel picks tapN/tunN. */
  name?: string;
  /** Create the device in this network namespace (/var/run/netns/NAME or /proc/PID/ns/net). */
  netns?: string;
  /** IFF_VNET_HDR: every packet is preceded by a virtio_net_hdr (offloads; not used yet). */
  vnetHdr?: boolean;
  /** IFF_MULTI_QUEUE: open one queue of a multi-queue device (open again with the same name for more). */
  multiQueue?: boolean;
}

export class LinuxTunDevice implements TunDevice {
  readonly name: string;
  readonly kind: TunKind;
  readonly stats = new IoStats();
  private fdOrClosed: number;
  private readonly watch: FdWatch;

  /**
   * `ownsFd: false` borrows `fd` (a data-plane worker's queue; the main thread opened it and
   * closes it): close() then only stops watching it.
   */
  constructor(fd: number, name: string, kind: TunKind, private readonly ownsFd = true) {
    this.fdOrClosed = fd;
    this.name = name;
    this.kind = kind;
    this.watch = new FdWatch([fd], [fd]);
  }

  /** The device fd (-1 after close). */
  get fd(): number { return this.fdOrClosed; }

  /** The fds to wait on for readable (a loop that polls them itself; empty after close). */
  readFds(): number[] { return this.fdOrClosed < 0 ? [] : [this.fdOrClosed]; }
  get closed(): boolean { return this.fdOrClosed < 0; }

  readBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    const fd = this.fdOrClosed;
    if (fd < 0) throw new IoClosedError(`${this.kind} ${this.name}`);
    try {
      return loadNative().readBatch(fd, mem, slots.offsets, slots.capacity, slots.lengths, start, count, this.stats.array);
    } catch (e) {
      throw IoError.from(e, `${this.kind} ${this.name}`);
    }
  }

  /** The native loop's read (src/engine.cc): the readBatch call readBatch makes. */
  nativeReads(mem: Uint8Array, slots: SlotList): { calls: NativeCall[]; groWords: Uint32Array[] } {
    const fd = this.fdOrClosed;
    if (fd < 0) return { calls: [], groWords: [] };
    return { calls: [{ fn: NATIVE_FN.readBatch, args: [fd, mem, slots.offsets, slots.capacity, slots.lengths, 0, 0, this.stats.array] }], groWords: [] };
  }

  /** The native loop's write: the writeBatch call writeBatch makes. */
  nativeWrite(mem: Uint8Array, slots: SlotList): NativeCall | null {
    const fd = this.fdOrClosed;
    if (fd < 0) return null;
    return { fn: NATIVE_FN.writeBatch, args: [fd, mem, slots.offsets, null, slots.lengths, 0, 0, this.stats.array] };
  }

  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    const fd = this.fdOrClosed;
    if (fd < 0) throw new IoClosedError(`${this.kind} ${this.name}`);
    try {
      return loadNative().writeBatch(fd, mem, slots.offsets, null, slots.lengths, start, count, this.stats.array);
    } catch (e) {
      throw IoError.from(e, `${this.kind} ${this.name}`);
    }
  }

  onReadable(cb: (() => void) | null): void {
    if (this.closed && cb) throw new IoClosedError(`${this.kind} ${this.name}`);
    this.watch.onReadable(cb);
  }

  onWritable(cb: (() => void) | null): void {
    if (this.closed && cb) throw new IoClosedError(`${this.kind} ${this.name}`);
    this.watch.onWritable(cb);
  }

  close(): void {
    const fd = this.fdOrClosed;
    if (fd < 0) return;
    this.fdOrClosed = -1;
    this.watch.close();  // stop polling before the fd number can be reused
    if (this.ownsFd) loadNative().closeFd(fd);
  }
}

/** Opens a TAP or TUN device; throws IoError (code EPERM, EBUSY, ENOENT, ...) on failure. */
export function openTun(opts: TunOptions): LinuxTunDevice {
  const n = loadNative();
  let r: { fd: number; name: string };
  try {
    r = n.openTun(opts.name ?? "", opts.kind === "tap", !!opts.vnetHdr, !!opts.multiQueue, opts.netns);
  } catch (e) {
    throw IoError.from(e, `open ${opts.kind} ${opts.name ?? ""}`);
  }
  return new LinuxTunDevice(r.fd, r.name, opts.kind);
}
