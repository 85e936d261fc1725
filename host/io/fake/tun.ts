// In-memory TUN/TAP: a pair of ports where what one writes the other reads. `device` plays the
// router's TunDevice; `peer` plays the kernel side (the pod's or the host's stack).
import type { TunDevice, TunKind } from "../types.ts";
import { Delivered, FakePort, WouldBlock, type DeliverResult } from "./port.ts";
import { PacketQueue } from "./queue.ts";

const EMSGSIZE = 90;
const EINVAL = 22;

export interface FakeTunOptions {
  name?: string;
  kind?: TunKind;
  /** Packets each direction holds (Linux: txqueuelen 500 towards the reader). Default 1024. */
  queuePackets?: number;
  /** Largest packet accepted; larger writes are dropped with EMSGSIZE. Default 65535. */
  maxPacketSize?: number;
  /**
   * What a write does when the other side's queue is full: "drop" (as Linux TUN/TAP does; the
   * write succeeds and the packet is lost, counted in `lost`) or "block" (the write stops and
   * onWritable fires when the reader made room; for exercising backpressure). Default "drop".
   */
  whenFull?: "drop" | "block";
}

export class FakeTunDevice extends FakePort implements TunDevice {
  readonly name: string;
  readonly kind: TunKind;
  /** Packets written by this side and lost because the other side's queue was full. */
  lost = 0;
  other!: FakeTunDevice;
  private readonly whenFull: "drop" | "block";

  constructor(name: string, kind: TunKind, inbound: PacketQueue, whenFull: "drop" | "block") {
    super(inbound);
    this.name = name;
    this.kind = kind;
    this.whenFull = whenFull;
  }

  protected describe(): string {
    return `fake ${this.kind} ${this.name}`;
  }

  protected deliver(mem: Uint8Array, offset: number, length: number): DeliverResult {
    if (length > this.other.inbound.maxPacketSize) return EMSGSIZE;
    if (this.kind === "tun" && (length === 0 || (mem[offset]! >> 4 !== 4 && mem[offset]! >> 4 !== 6))) return EINVAL;
    if (this.kind === "tap" && length < 14) return EINVAL;
    if (this.other.closed) return Delivered;  // like writing to a device nobody reads
    if (this.other.inbound.full) {
      if (this.whenFull === "block") return WouldBlock;
      this.lost++;
      return Delivered;
    }
    this.other.inbound.push(mem, offset, length);
    this.other.poke();
    return Delivered;
  }

  protected hasRoom(): boolean {
    return this.whenFull === "drop" || this.other.closed || !this.other.inbound.full;
  }

  protected roomFreed(): void {
    this.other.poke();
  }
}

/** Two connected fake ports: `device` (the router's side) and `peer` (the kernel's side). */
export function createFakeTunPair(opts: FakeTunOptions = {}): { device: FakeTunDevice; peer: FakeTunDevice } {
  const kind = opts.kind ?? "tap";
  const name = opts.name ?? `fake${kind}0`;
  const q = opts.queuePackets ?? 1024;
  const max = opts.maxPacketSize ?? 65535;
  const whenFull = opts.whenFull ?? "drop";
  const device = new FakeTunDevice(name, kind, new PacketQueue(q, max), whenFull);
  const peer = new FakeTunDevice(`${name}-peer`, kind, new PacketQueue(q, max), whenFull);
  device.other = peer;
  peer.other = device;
  return { device, peer };
}
