// An AF_PACKET socket bound to one interface as a PacketBatchIO: whole frames as the interface
// sees them (Ethernet on a TAP or veth, bare IP on a TUN). Used as "the other side" of a device
// in tests and benchmarks, and as a building block for capture.
import { loadNative } from "../../native/index.ts";
import { IoClosedError, IoError } from "../errors.ts";
import { IoStats } from "../stats.ts";
import type { PacketBatchIO, SlotList } from "../types.ts";
import { FdWatch } from "./watch.ts";

export class PacketSocket implements PacketBatchIO {
  readonly stats = new IoStats();
  private fd: number;
  private readonly watch: FdWatch;

  readonly ifname: string;

  constructor(fd: number, ifname: string) {
    this.fd = fd;
    this.ifname = ifname;
    this.watch = new FdWatch([fd], [fd]);
  }

  get closed(): boolean { return this.fd < 0; }

  readBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.fd < 0) throw new IoClosedError(`packet socket on ${this.ifname}`);
    try {
      return loadNative().readBatch(this.fd, mem, slots.offsets, slots.capacity, slots.lengths, start, count, this.stats.array);
    } catch (e) {
      throw IoError.from(e, `packet socket on ${this.ifname}`);
    }
  }

  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    if (this.fd < 0) throw new IoClosedError(`packet socket on ${this.ifname}`);
    try {
      return loadNative().writeBatch(this.fd, mem, slots.offsets, null, slots.lengths, start, count, this.stats.array);
    } catch (e) {
      throw IoError.from(e, `packet socket on ${this.ifname}`);
    }
  }

  onReadable(cb: (() => void) | null): void { this.watch.onReadable(cb); }
  onWritable(cb: (() => void) | null): void { this.watch.onWritable(cb); }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.watch.close();
    loadNative().closeFd(fd);
  }
}

/** Opens an AF_PACKET socket on `ifname` (in `netns` when given). */
export function openPacketSocket(ifname: string, opts: { netns?: string; rcvbuf?: number } = {}): PacketSocket {
  try {
    const r = loadNative().openPacket(ifname, opts.rcvbuf ?? 4 << 20, opts.netns);
    return new PacketSocket(r.fd, ifname);
  } catch (e) {
    throw IoError.from(e, `open packet socket on ${ifname}`);
  }
}
