// Host I/O: the ports of the data plane behind small batch interfaces.
//
// Design notes
// - Packets live in fixed slots of ONE memory, the Wasm linear memory (it never grows, so views of
//   it never detach). A batch call names slots by index into typed arrays of offsets and lengths;
//   nothing is allocated and no JS value is created per packet, and there is one JS↔native call
//   per batch and direction.
// - Readiness is an event per port, not per packet: `onReadable` fires (level-triggered) while
//   packets are waiting; the callback reads batches until a read returns fewer than asked.
// - A write that returns fewer than asked means "would block": keep the rest and wait for
//   `onWritable` (one-shot). Packets the port rejects individually (bad packet, no route, too big)
//   are consumed, dropped and counted in `stats.errors`, never thrown.
// - Errors of the port itself (closed, fd gone) throw `IoError` / `IoClosedError`.
// - Every implementation (the Linux one in ./linux and the in-memory fakes in ./fake) passes one
//   compliance suite (./testing/compliance.ts).
import type { IoStats } from "./stats.ts";

/**
 * Where the packets of one batch live inside `mem`. The arrays are indexed by slot; a batch call
 * uses slots [start, start + count). They may be views into the Wasm memory itself.
 */
export interface SlotList {
  /** offsets[i]: byte offset in `mem` where packet i starts (on read: where it is written). */
  readonly offsets: Uint32Array;
  /** lengths[i]: packet length in bytes; written by reads, read by writes. */
  readonly lengths: Uint32Array;
  /** Bytes a read may fill at offsets[i]: one number for all slots, or one per slot. */
  readonly capacity: number | Uint32Array;
}

/** One port's packet I/O. */
export interface PacketBatchIO {
  /**
   * Reads up to `count` packets into slots [start, start + count), filling `slots.lengths`.
   * Returns how many slots were filled, in order from `start`; 0 when nothing is waiting.
   * A received packet larger than its slot's capacity gets length 0 (counted in stats.truncated).
   */
  readBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number;
  /**
   * Writes the packets of slots [start, start + count). Returns how many were consumed (sent, or
   * dropped for a per-packet error and counted); fewer than `count` means the port would block:
   * call again from `start + returned` after `onWritable` fires.
   */
  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number;
  /** Level-triggered: `cb` runs once per event-loop turn while packets wait. null stops watching. */
  onReadable(cb: (() => void) | null): void;
  /** One-shot: `cb` runs once when the port can take packets again. null cancels. */
  onWritable(cb: (() => void) | null): void;
  readonly stats: IoStats;
  readonly closed: boolean;
  /** Idempotent. Afterwards every batch call throws IoClosedError. */
  close(): void;
}

export type TunKind = "tap" | "tun";

/**
 * A TAP (Ethernet frames; one per pod) or TUN (IP packets, no packet-info header; the host port).
 * `name` is the interface name the kernel chose or confirmed.
 */
export interface TunDevice extends PacketBatchIO {
  readonly name: string;
  readonly kind: TunKind;
}

export interface UdpOffloadState {
  requested: boolean;
  active: boolean;
  /** Why it is not active ("" when it is, or was not requested). */
  reason: string;
}
export interface UdpOffloadStatus { gso: UdpOffloadState; gro: UdpOffloadState }

/**
 * The underlay: full outer IP packets (IPv4 or IPv6 header, UDP header, VXLAN/Geneve, inner
 * frame) to and from other nodes, for UDP destination port `port`.
 * Receive: every packet is a complete IP + UDP packet as it arrived, except that IP options, the
 * IPv4 ID/flags and IPv6 extension headers are not preserved; the IPv4 header checksum is valid
 * and the IPv4 UDP checksum is 0 (the kernel already verified it); the IPv6 UDP checksum is valid.
 * Send: each packet goes to the destination address in its own header; the source port, TTL,
 * checksums and all other fields are taken as written (the IPv4 header checksum and total length
 * are filled in by Linux).
 * `recvBatch`/`sendBatch` are `readBatch`/`writeBatch` under their underlay names.
 */
export interface Underlay extends PacketBatchIO {
  /** The local UDP port packets are received on (the tunnel's destination port). */
  readonly port: number;
  /**
   * UDP GSO on send / UDP GRO on receive (Linux only; see docs/OFFLOADS.md): what was asked for,
   * whether it is in use after probing (GSO can also switch itself off at run time when the kernel
   * refuses it), and why not. Neither changes what the batch calls take or deliver.
   */
  udpOffloads?(): UdpOffloadStatus;
  recvBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number;
  sendBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number;
}
