// Counters of one port. The layout is shared with the native addon, which adds to the same
// Float64Array in every batch call (see host/native/src/common.h, enum Stat).

export const Stat = {
  Packets: 0,
  Bytes: 1,
  Calls: 2,
  WouldBlock: 3,
  Errors: 4,
  LastErrno: 5,
  Truncated: 6,
  Syscalls: 7,
  KernelDrops: 8,
  GsoSends: 9,
  GsoSegments: 10,
  GsoFallbacks: 11,
  GroDatagrams: 12,
  GroSegments: 13,
  GroInPlace: 14,
  Count: 15,
} as const;

export class IoStats {
  /** Raw counters, indexed by Stat. Handed to native calls; do not replace. */
  readonly array = new Float64Array(Stat.Count);

  /** Packets moved (read or written). */
  get packets(): number { return this.array[Stat.Packets]!; }
  /** Bytes moved. */
  get bytes(): number { return this.array[Stat.Bytes]!; }
  /** Batch calls made. */
  get calls(): number { return this.array[Stat.Calls]!; }
  /** Calls that ended early because the port would block. */
  get wouldBlock(): number { return this.array[Stat.WouldBlock]!; }
  /** Packets dropped by a per-packet error. */
  get errors(): number { return this.array[Stat.Errors]!; }
  /** errno of the last per-packet error (0: none yet). */
  get lastErrno(): number { return this.array[Stat.LastErrno]!; }
  /** Received packets larger than their slot, delivered with length 0. */
  get truncated(): number { return this.array[Stat.Truncated]!; }
  /** System calls made (0 for fakes). */
  get syscalls(): number { return this.array[Stat.Syscalls]!; }
  /**
   * Datagrams dropped at this port's full receive queue before we read them (underlay:
   * SO_RXQ_OVFL, reported by the kernel with the next datagram queued after the drops).
   */
  get kernelDrops(): number { return this.array[Stat.KernelDrops]!; }
  /** Underlay UDP GSO: sends with UDP_SEGMENT, the packets in them, runs sent packet by packet instead. */
  get gsoSends(): number { return this.array[Stat.GsoSends]!; }
  get gsoSegments(): number { return this.array[Stat.GsoSegments]!; }
  get gsoFallbacks(): number { return this.array[Stat.GsoFallbacks]!; }
  /** Underlay UDP GRO: coalesced datagrams received, and the packets split out of them. */
  get groDatagrams(): number { return this.array[Stat.GroDatagrams]!; }
  get groSegments(): number { return this.array[Stat.GroSegments]!; }
  /** Of groSegments: received by the kernel straight into their slots (scatter receive, no copy). */
  get groInPlace(): number { return this.array[Stat.GroInPlace]!; }

  toJSON(): Record<string, number> {
    return {
      packets: this.packets, bytes: this.bytes, calls: this.calls, wouldBlock: this.wouldBlock,
      errors: this.errors, lastErrno: this.lastErrno, truncated: this.truncated, syscalls: this.syscalls,
      kernelDrops: this.kernelDrops, gsoSends: this.gsoSends, gsoSegments: this.gsoSegments,
      gsoFallbacks: this.gsoFallbacks, groDatagrams: this.groDatagrams, groSegments: this.groSegments, groInPlace: this.groInPlace,
    };
  }
}
