// The Linux underlay: UDP sockets receive (headers synthesized by the addon), raw sockets send
// complete IP packets. See docs/NATIVE.md ("Underlay") for why.
import { loadNative } from "../../native/index.ts";
import { IoClosedError, IoError } from "../errors.ts";
import { IoStats } from "../stats.ts";
import type { SlotList, Underlay } from "../types.ts";
import { FdWatch } from "./watch.ts";

export interface UnderlayOptions {
  /** UDP port to receive on (the tunnel's destination port). Default 8472 (Linux VXLAN). */
  port?: number;
  /**
   * IPv4: a local address to bind, true for any (0.0.0.0), false to disable. Default (undefined):
   * any, skipped without error when the namespace has no IPv4 (EAFNOSUPPORT).
   */
  ipv4?: string | boolean;
  /** IPv6: as ipv4, with "::". Default: any, skipped when IPv6 is unavailable (EAFNOSUPPORT). */
  ipv6?: string | boolean;
  /** Create the sockets in this network namespace (path). Default: the caller's. */
  netns?: string;
  /** Socket buffer sizes in bytes (forced above rmem_max/wmem_max when root). Default 8 MiB. */
  rcvbuf?: number;
  sndbuf?: number;
  /** SO_REUSEPORT on the receive sockets (several queues). */
  reusePort?: boolean;
  /** SO_MARK on the send sockets (policy routing), 0 = none. */
  mark?: number;
  /** Leave the synthesized IPv6 UDP checksum 0 (saves one pass over each IPv6 packet). */
  v6ZeroChecksum?: boolean;
}

const DEFAULT_BUF = 8 << 20;

export class LinuxUnderlay implements Underlay {
  readonly port: number;
  readonly stats = new IoStats();
  /** Receive and send fds, -1 when the family is disabled. */
  readonly fds: { rx4: number; rx6: number; tx4: number; tx6: number };
  /** Buffer sizes as the kernel reports them (twice the request). */
  readonly buffers: { rcvbuf: number; sndbuf: number };
  private isClosed = false;
  private flip = false;
  private readonly ovfl4 = new Float64Array(1);
  private readonly ovfl6 = new Float64Array(1);
  private readonly recvFlags: number;
  private readonly watch: FdWatch;

  /** `ownsFds: false` borrows the fds (a data-plane worker's): close() then only stops watching. */
  constructor(fds: LinuxUnderlay["fds"], port: number, recvFlags: number, buffers: LinuxUnderlay["buffers"], private readonly ownsFds = true) {
    this.fds = fds;
    this.port = port;
    this.recvFlags = recvFlags;
    this.buffers = buffers;
    const rx = [fds.rx4, fds.rx6].filter((fd) => fd >= 0);
    const tx = [fds.tx4, fds.tx6].filter((fd) => fd >= 0);
    this.watch = new FdWatch(rx, tx);
  }

  get closed(): boolean { return this.isClosed; }

  /** Drains the IPv4 and IPv6 sockets into consecutive slots; which goes first alternates. */
  readBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.isClosed) throw new IoClosedError(`underlay :${this.port}`);
    const n = loadNative();
    const { rx4, rx6 } = this.fds;
    const first = this.flip ? 6 : 4;
    this.flip = !this.flip;
    let got = 0;
    try {
      for (const fam of first === 4 ? ([4, 6] as const) : ([6, 4] as const)) {
        const fd = fam === 4 ? rx4 : rx6;
        if (fd < 0 || got === count) continue;
        got += n.recvBatch(fd, mem, slots.offsets, slots.capacity, slots.lengths, start + got, count - got,
          this.stats.array, fam, this.port, this.recvFlags, fam === 4 ? this.ovfl4 : this.ovfl6);
      }
    } catch (e) {
      if (got > 0) return got;
      throw IoError.from(e, `underlay :${this.port}`);
    }
    return got;
  }

  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.isClosed) throw new IoClosedError(`underlay :${this.port}`);
    try {
      return loadNative().sendBatch(this.fds.tx4, this.fds.tx6, mem, slots.offsets, null, slots.lengths, start, count,
        this.stats.array, 0);
    } catch (e) {
      throw IoError.from(e, `underlay :${this.port}`);
    }
  }

  recvBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    return this.readBatch(mem, slots, start, count);
  }

  sendBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    return this.writeBatch(mem, slots, start, count);
  }

  onReadable(cb: (() => void) | null): void {
    if (this.isClosed && cb) throw new IoClosedError(`underlay :${this.port}`);
    this.watch.onReadable(cb);
  }

  onWritable(cb: (() => void) | null): void {
    if (this.isClosed && cb) throw new IoClosedError(`underlay :${this.port}`);
    this.watch.onWritable(cb);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.watch.close();
    if (!this.ownsFds) return;
    const n = loadNative();
    for (const fd of Object.values(this.fds)) if (fd >= 0) n.closeFd(fd);
  }
}

/** Opens the underlay sockets; throws IoError (EADDRINUSE, EPERM, ...) and closes what it opened. */
export function openUnderlay(opts: UnderlayOptions = {}): LinuxUnderlay {
  const n = loadNative();
  const port = opts.port ?? 8472;
  const rcvbuf = opts.rcvbuf ?? DEFAULT_BUF;
  const sndbuf = opts.sndbuf ?? DEFAULT_BUF;
  const want4 = opts.ipv4 ?? true;
  const want6 = opts.ipv6 ?? true;
  if (!want4 && !want6) throw new TypeError("underlay needs IPv4 or IPv6");
  if (port === 0 && want4 && want6) throw new RangeError("port 0 (ephemeral) needs a single family");
  const fds = { rx4: -1, rx6: -1, tx4: -1, tx6: -1 };
  const buffers = { rcvbuf: 0, sndbuf: 0 };
  let bound = port;
  const open = (family: 4 | 6, want: string | boolean, optional: boolean): void => {
    let u: ReturnType<typeof n.openUdp>;
    try {
      u = n.openUdp(family, typeof want === "string" ? want : "", port, rcvbuf, 0, !!opts.reusePort, opts.netns);
    } catch (e) {
      if (optional && (e as { code?: string }).code === "EAFNOSUPPORT") return;
      throw e;
    }
    fds[family === 4 ? "rx4" : "rx6"] = u.fd;
    bound = u.port;
    buffers.rcvbuf = u.rcvbuf;
    const t = n.openRawSender(family, sndbuf, opts.mark ?? 0, opts.netns);
    fds[family === 4 ? "tx4" : "tx6"] = t.fd;
    buffers.sndbuf = t.sndbuf;
  };
  try {
    if (want4) open(4, want4, opts.ipv4 === undefined);
    if (want6) open(6, want6, opts.ipv6 === undefined);
    if (fds.rx4 < 0 && fds.rx6 < 0) throw Object.assign(new Error("neither IPv4 nor IPv6 is available"), { code: "EAFNOSUPPORT" });
  } catch (e) {
    for (const fd of Object.values(fds)) if (fd >= 0) n.closeFd(fd);
    throw IoError.from(e, `open underlay :${port}`);
  }
  return new LinuxUnderlay(fds, bound, opts.v6ZeroChecksum ? n.RECV.V6_ZERO_CSUM : 0, buffers);
}
