// A bounded FIFO of packets in one preallocated buffer: the "wire" between two fake ports.

export class PacketQueue {
  readonly maxPackets: number;
  readonly maxPacketSize: number;
  private readonly data: Uint8Array;
  private readonly lens: Uint32Array;
  private head = 0;
  private size = 0;

  constructor(maxPackets = 1024, maxPacketSize = 65535) {
    this.maxPackets = maxPackets;
    this.maxPacketSize = maxPacketSize;
    this.data = new Uint8Array(maxPackets * maxPacketSize);
    this.lens = new Uint32Array(maxPackets);
  }

  get length(): number { return this.size; }
  get full(): boolean { return this.size === this.maxPackets; }

  /** Copies a packet in; false when full or larger than maxPacketSize (caller counts a drop). */
  push(src: Uint8Array, offset: number, length: number): boolean {
    if (this.size === this.maxPackets || length > this.maxPacketSize) return false;
    const slot = (this.head + this.size) % this.maxPackets;
    this.data.set(src.subarray(offset, offset + length), slot * this.maxPacketSize);
    this.lens[slot] = length;
    this.size++;
    return true;
  }

  /** The oldest packet without removing it (a view valid until the next push/shift). */
  peek(): Uint8Array | undefined {
    if (this.size === 0) return undefined;
    const at = this.head * this.maxPacketSize;
    return this.data.subarray(at, at + this.lens[this.head]!);
  }

  /** Drops the oldest packet. */
  shift(): void {
    if (this.size === 0) return;
    this.head = (this.head + 1) % this.maxPackets;
    this.size--;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }
}

/**
 * Level-triggered readable and one-shot writable callbacks for a fake port, delivered from the
 * event loop (setImmediate), never synchronously inside a batch call.
 */
export class FakeReadiness {
  private readable: (() => void) | null = null;
  private writable: (() => void) | null = null;
  private scheduled = false;
  private closed = false;

  private readonly hasInput: () => boolean;
  private readonly hasRoom: () => boolean;

  constructor(hasInput: () => boolean, hasRoom: () => boolean) {
    this.hasInput = hasInput;
    this.hasRoom = hasRoom;
  }

  onReadable(cb: (() => void) | null): void {
    this.readable = cb;
    this.poke();
  }

  onWritable(cb: (() => void) | null): void {
    this.writable = cb;
    this.poke();
  }

  /** Something changed (input arrived, room freed): schedule callbacks if due. */
  poke(): void {
    if (this.scheduled || this.closed) return;
    if ((this.readable && this.hasInput()) || (this.writable && this.hasRoom())) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  close(): void {
    this.closed = true;
    this.readable = null;
    this.writable = null;
  }

  private readonly run = (): void => {
    this.scheduled = false;
    if (this.closed) return;
    if (this.writable && this.hasRoom()) {
      const cb = this.writable;
      this.writable = null;
      cb();
    }
    if (this.readable && this.hasInput()) this.readable();
    this.poke();  // level-triggered: again next turn while input remains
  };
}
