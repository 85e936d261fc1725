// The Linux underlay: UDP sockets receive (headers synthesized by the addon), raw sockets send
// complete IP packets. See docs/NATIVE.md ("Underlay") for why. Optional UDP offloads
// (docs/OFFLOADS.md, "Underlay UDP GSO and GRO"): runs of equal-sized datagrams of one flow go out
// with UDP_SEGMENT through per-source-port UDP sockets; received datagrams coalesced by UDP_GRO are
// split back into one slot per datagram. Both are invisible to callers of the batch calls.
import { constants } from "node:os";
import { loadNative, NATIVE_FN, type NativeCall } from "../../native/index.ts";

const osErrno = constants.errno as Record<string, number>;
import { IoClosedError, IoError } from "../errors.ts";
import { IoStats } from "../stats.ts";
import type { SlotList, Underlay, UdpOffloadState, UdpOffloadStatus } from "../types.ts";
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
  /**
   * UDP GSO on send: runs of consecutive packets to one destination with one source port and equal
   * sizes are sent with one UDP_SEGMENT sendmsg each. Probed at open; off when the kernel refuses
   * (then, and for source ports that cannot be bound, packets go the raw way). Default false.
   */
  udpGso?: boolean;
  /** UDP GRO on the receive sockets (UDP_GRO); coalesced datagrams are split again. Default false. */
  udpGro?: boolean;
  /** Send sockets the GSO sender keeps (one per source address and port in use, LRU). Default 64. */
  gsoSockets?: number;
  /** Tests only: every UDP_SEGMENT send fails with EIO, as on a kernel that refuses GSO. */
  forceGsoRefusal?: boolean;
}

/** How the UDP offloads of an underlay were set up (openUnderlay). */
export interface UdpOffloadSetup {
  /** gsoOpen id, -1 when GSO was not asked for. */
  gsoId: number;
  gsoProbeErrno: number;
  /** Per receive socket: the GRO state, or undefined (GRO off); groErrno: why setsockopt refused. */
  gro4?: Uint8Array;
  gro6?: Uint8Array;
  groRequested: boolean;
  groErrno: number;
  sendFlags: number;
}

const errnoName = (e: number): string => {
  for (const [k, v] of Object.entries(osErrno)) if (v === e) return k;
  return `errno ${e}`;
};

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
  private readonly udp: UdpOffloadSetup;
  /** Words 0/1 of each GRO state: staged messages / next to deliver (segments wait while they differ). */
  private readonly groWords: Uint32Array[];
  private readCb: (() => void) | null = null;
  private pendingKick?: NodeJS.Immediate;

  /** `ownsFds: false` borrows the fds (a data-plane worker's): close() then only stops watching (and closes its own GSO sender). */
  constructor(fds: LinuxUnderlay["fds"], port: number, recvFlags: number, buffers: LinuxUnderlay["buffers"], udp?: UdpOffloadSetup, private readonly ownsFds = true) {
    this.fds = fds;
    this.port = port;
    this.recvFlags = recvFlags;
    this.buffers = buffers;
    this.udp = udp ?? { gsoId: -1, gsoProbeErrno: 0, groRequested: false, groErrno: 0, sendFlags: 0 };
    this.groWords = [this.udp.gro4, this.udp.gro6].filter((g): g is Uint8Array => !!g)
      .map((g) => new Uint32Array(g.buffer, g.byteOffset, 2));
    const rx = [fds.rx4, fds.rx6].filter((fd) => fd >= 0);
    const tx = [fds.tx4, fds.tx6].filter((fd) => fd >= 0);
    this.watch = new FdWatch(rx, tx);
  }

  get closed(): boolean { return this.isClosed; }

  /** The receive fds to wait on for readable (a loop that polls them itself; empty after close). */
  readFds(): number[] { return this.isClosed ? [] : [this.fds.rx4, this.fds.rx6].filter((fd) => fd >= 0); }

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
          this.stats.array, fam, this.port, this.recvFlags, fam === 4 ? this.ovfl4 : this.ovfl6,
          fam === 4 ? this.udp.gro4 : this.udp.gro6);
      }
    } catch (e) {
      if (got > 0) return got;
      throw IoError.from(e, `underlay :${this.port}`);
    }
    return got;
  }

  /**
   * The native loop's reads (src/engine.cc): the recvBatch calls readBatch makes, one per receive
   * socket, with the same arguments; `groWords` tell it when segments wait in a GRO state.
   */
  nativeReads(mem: Uint8Array, slots: SlotList): { calls: NativeCall[]; groWords: Uint32Array[] } {
    const calls: NativeCall[] = [];
    for (const fam of [4, 6] as const) {
      const fd = fam === 4 ? this.fds.rx4 : this.fds.rx6;
      if (fd < 0 || this.isClosed) continue;
      calls.push({ fn: NATIVE_FN.recvBatch, args: [fd, mem, slots.offsets, slots.capacity, slots.lengths, 0, 0, this.stats.array,
        fam, this.port, this.recvFlags, fam === 4 ? this.ovfl4 : this.ovfl6, fam === 4 ? this.udp.gro4 : this.udp.gro6] });
    }
    return { calls, groWords: this.groWords };
  }

  /** The native loop's write: the sendBatch call writeBatch makes. */
  nativeWrite(mem: Uint8Array, slots: SlotList): NativeCall | null {
    if (this.isClosed) return null;
    return { fn: NATIVE_FN.sendBatch, args: [this.fds.tx4, this.fds.tx6, mem, slots.offsets, null, slots.lengths, 0, 0,
      this.stats.array, this.udp.sendFlags, this.udp.gsoId] };
  }

  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.isClosed) throw new IoClosedError(`underlay :${this.port}`);
    try {
      return loadNative().sendBatch(this.fds.tx4, this.fds.tx6, mem, slots.offsets, null, slots.lengths, start, count,
        this.stats.array, this.udp.sendFlags, this.udp.gsoId);
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

  /**
   * Level-triggered on the sockets, plus: while segments of a coalesced datagram wait in a GRO
   * state (the socket itself may be empty), `cb` runs again on the next event-loop turn.
   */
  onReadable(cb: (() => void) | null): void {
    if (this.isClosed && cb) throw new IoClosedError(`underlay :${this.port}`);
    this.readCb = cb;
    if (!cb && this.pendingKick) { clearImmediate(this.pendingKick); this.pendingKick = undefined; }
    this.watch.onReadable(cb && (() => { cb(); this.kickIfPending(); }));
  }

  /** True while received segments wait in a GRO state for the next read. */
  get groPending(): boolean {
    for (const w of this.groWords) if (w[0] !== w[1]) return true;
    return false;
  }

  private kickIfPending(): void {
    if (this.pendingKick || !this.readCb || !this.groPending) return;
    this.pendingKick = setImmediate(() => {
      this.pendingKick = undefined;
      const cb = this.readCb;
      if (!cb || this.isClosed) return;
      cb();
      this.kickIfPending();
    });
  }

  udpOffloads(): UdpOffloadStatus {
    const u = this.udp;
    let gso: UdpOffloadState = { requested: false, active: false, reason: "" };
    if (u.gsoId >= 0 && !this.isClosed) {
      const i = loadNative().gsoInfo(u.gsoId);
      const reason = i.active ? "" : i.probeErrno ? `UDP_SEGMENT probe failed: ${errnoName(i.probeErrno)}`
        : `kernel refused a GSO send (${errnoName(i.disabledErrno)}); sending packet by packet`;
      gso = { requested: true, active: i.active, reason };
    } else if (u.gsoId >= 0) gso = { requested: true, active: false, reason: "closed" };
    const groActive = !!(u.gro4 || u.gro6);
    const gro: UdpOffloadState = {
      requested: u.groRequested, active: groActive,
      reason: u.groRequested && !groActive ? `setsockopt(UDP_GRO) failed: ${errnoName(u.groErrno)}` : "",
    };
    return { gso, gro };
  }

  onWritable(cb: (() => void) | null): void {
    if (this.isClosed && cb) throw new IoClosedError(`underlay :${this.port}`);
    this.watch.onWritable(cb);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.readCb = null;
    if (this.pendingKick) { clearImmediate(this.pendingKick); this.pendingKick = undefined; }
    this.watch.close();
    const n = loadNative();
    if (this.udp.gsoId >= 0) n.gsoClose(this.udp.gsoId);
    if (!this.ownsFds) return;
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
  const udp: UdpOffloadSetup = {
    gsoId: -1, gsoProbeErrno: 0, groRequested: !!opts.udpGro, groErrno: 0,
    sendFlags: opts.forceGsoRefusal ? n.SEND.FORCE_GSO_REFUSAL : 0,
  };
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
    if (opts.udpGro) {
      const err = n.setUdpGro(u.fd, true);
      if (err === 0) udp[family === 4 ? "gro4" : "gro6"] = new Uint8Array(n.GRO_STATE_BYTES);
      else udp.groErrno = err;
    }
    buffers.rcvbuf = u.rcvbuf;
    const t = n.openRawSender(family, sndbuf, opts.mark ?? 0, opts.netns);
    fds[family === 4 ? "tx4" : "tx6"] = t.fd;
    buffers.sndbuf = t.sndbuf;
  };
  try {
    if (want4) open(4, want4, opts.ipv4 === undefined);
    if (want6) open(6, want6, opts.ipv6 === undefined);
    if (fds.rx4 < 0 && fds.rx6 < 0) throw Object.assign(new Error("neither IPv4 nor IPv6 is available"), { code: "EAFNOSUPPORT" });
    if (opts.udpGso) {
      const g = n.gsoOpen(opts.netns ?? "", sndbuf, opts.mark ?? 0, opts.gsoSockets ?? 64);
      udp.gsoId = g.id;
      udp.gsoProbeErrno = g.probeErrno;
    }
  } catch (e) {
    for (const fd of Object.values(fds)) if (fd >= 0) n.closeFd(fd);
    if (udp.gsoId >= 0) n.gsoClose(udp.gsoId);
    throw IoError.from(e, `open underlay :${port}`);
  }
  return new LinuxUnderlay(fds, bound, opts.v6ZeroChecksum ? n.RECV.V6_ZERO_CSUM : 0, buffers, udp);
}

/** What a borrowed underlay queue needs to set up its own UDP offload state (see borrowUnderlay). */
export interface BorrowedUdpOffloads {
  /** Open a GSO sender of its own (GSO senders are per thread) in this namespace ("" = the caller's). */
  gso?: { netns: string; sndbuf: number; mark: number };
  /** UDP_GRO is on for the IPv4 / IPv6 receive socket: keep a GRO state for it. */
  gro4: boolean;
  gro6: boolean;
}

/**
 * An underlay over fds another thread opened and owns (one SO_REUSEPORT queue of a data-plane
 * worker), with UDP offload state of its own: the GSO sender is per thread, and a GRO state holds
 * the segments of one socket's coalesced datagram between reads.
 */
export function borrowUnderlay(fds: LinuxUnderlay["fds"], port: number, offloads?: BorrowedUdpOffloads): LinuxUnderlay {
  const n = loadNative();
  const udp: UdpOffloadSetup = { gsoId: -1, gsoProbeErrno: 0, groRequested: !!(offloads?.gro4 || offloads?.gro6), groErrno: 0, sendFlags: 0 };
  if (offloads?.gro4 && fds.rx4 >= 0) udp.gro4 = new Uint8Array(n.GRO_STATE_BYTES);
  if (offloads?.gro6 && fds.rx6 >= 0) udp.gro6 = new Uint8Array(n.GRO_STATE_BYTES);
  if (offloads?.gso) {
    const g = n.gsoOpen(offloads.gso.netns, offloads.gso.sndbuf, offloads.gso.mark, 64);
    udp.gsoId = g.id;
    udp.gsoProbeErrno = g.probeErrno;
  }
  return new LinuxUnderlay(fds, port, 0, { rcvbuf: 0, sndbuf: 0 }, udp, false);
}
