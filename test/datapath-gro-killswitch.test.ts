// The GRO write kill switch of the batch loop (host/router/datapath.ts writeCoalesced): kernels
// have had regressions that refuse GSO writes to a TUN/TAP with EINVAL. When a coalesced write is
// refused so, the port stops merging and later runs are written one packet per write. Driven with
// in-memory ports: pod B (plain) sends TCP segments of one flow to pod A, an offload port whose
// "kernel" refuses every frame whose virtio-net header has a GSO type.
import { describe, it, expect } from "vitest";
import { Datapath } from "../host/router/datapath.ts";
import { createFakeTunPair } from "../host/io/fake/tun.ts";
import { IoStats, Stat } from "../host/io/stats.ts";
import type { PacketBatchIO, SlotList } from "../host/io/types.ts";
import { build } from "./reference/packet.ts";
import { makeNode, NODE, POD_A, POD_B } from "./helpers/node.ts";
import * as F from "./helpers/frames.ts";

const EINVAL = 22;
const VNET_LEN = 10;
const PAYLOAD = 1000;

/** An offload TAP whose kernel refuses GSO writes (EINVAL) and keeps every frame it accepts. */
class GsoRefusingTap implements PacketBatchIO {
  readonly stats = new IoStats();
  readonly closed = false;
  readonly accepted: Uint8Array[] = [];
  refusedGsoTypes: number[] = [];
  constructor(private readonly refuse: boolean) {}
  readBatch(): number { return 0; }
  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    for (let i = start; i < start + count; i++) {
      const frame = mem.slice(slots.offsets[i]!, slots.offsets[i]! + slots.lengths[i]!);
      const gsoType = frame[1]!;
      if (this.refuse && gsoType !== 0) {
        this.refusedGsoTypes.push(gsoType);
        this.stats.array[Stat.Errors]! += 1;
        this.stats.array[Stat.LastErrno] = EINVAL;
      } else {
        this.accepted.push(frame);
      }
    }
    return count;
  }
  onReadable(): void {}
  onWritable(): void {}
  close(): void {}
}

/** `n` in-order TCP segments of one flow from pod B to pod A, each PAYLOAD bytes, as B's frames. */
function segments(firstSeq: number, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, k) => {
    const payload = Uint8Array.from({ length: PAYLOAD }, (_, i) => (firstSeq + k * PAYLOAD + i) & 0xff);
    const ip = build([
      { kind: "ipv4", tos: 0, id: 100 + k, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 6, src: POD_B.ipv4, dst: POD_A.ipv4 },
      { kind: "tcp", srcPort: 40000, dstPort: 5201, seq: firstSeq + k * PAYLOAD, ack: 1, flags: 0x10, window: 1024, urgent: 0 },
      { kind: "payload", bytes: payload },
    ]);
    return F.eth(NODE.routerMac, POD_B.mac, 0x0800, ip);
  });
}

function setUp(refuse: boolean) {
  const dp = makeNode({}, { offload: {} });
  const datapath = new Datapath(dp);
  const b = createFakeTunPair({ kind: "tap" });
  const a = new GsoRefusingTap(refuse);
  datapath.addPort(POD_B.port, b.device, "pod:b");
  datapath.addPort(POD_A.port, a, "pod:a", 0, { l3Off: 14 });
  const send = (frames: Uint8Array[]) => {
    const mem = new Uint8Array(65536);
    const slots = { offsets: new Uint32Array(frames.length), lengths: new Uint32Array(frames.length), capacity: 65536 };
    let at = 0;
    frames.forEach((f, i) => { mem.set(f, at); slots.offsets[i] = at; slots.lengths[i] = f.length; at += f.length; });
    expect(b.peer.writeBatch(mem, slots, 0, frames.length)).toBe(frames.length);
    datapath.drain(POD_B.port);
  };
  return { datapath, a, send };
}

/** The TCP payload bytes of the accepted frames, in order (vnet header, Ethernet, IPv4, TCP skipped). */
function payloadOf(frames: Uint8Array[]): number[] {
  return frames.flatMap((f) => {
    const ip = VNET_LEN + 14;
    const ihl = (f[ip]! & 0x0f) * 4;
    const thl = (f[ip + ihl + 12]! >> 4) * 4;
    return [...f.subarray(ip + ihl + thl)];
  });
}

describe("GRO write kill switch (a kernel that refuses GSO writes with EINVAL)", () => {
  it("a kernel that takes GSO writes gets the run as one merged frame (the switch stays off)", () => {
    const { datapath, a, send } = setUp(false);
    send(segments(1, 8));
    expect(a.accepted).toHaveLength(1);
    expect(a.accepted[0]![1]).toBe(1);  // VIRTIO_NET_HDR_GSO_TCPV4
    expect(datapath.stats.groWritesDisabled).toBe(0);
  });

  it("after one refused merged write, the port writes every packet on its own, bytes intact", () => {
    const { datapath, a, send } = setUp(true);
    send(segments(1, 8));
    expect(a.refusedGsoTypes).toEqual([1]);
    expect(a.accepted).toHaveLength(0);
    expect(datapath.stats.groWritesDisabled).toBe(1);
    expect(datapath.stats.txDropped).toBe(8);  // the refused run is lost and counted (TCP sends it again)

    send(segments(1 + 8 * PAYLOAD, 8));
    expect(a.refusedGsoTypes).toEqual([1]);
    expect(a.accepted).toHaveLength(8);
    for (const f of a.accepted) expect(f[1]).toBe(0);  // VIRTIO_NET_HDR_GSO_NONE
    const want = Array.from({ length: 8 * PAYLOAD }, (_, i) => (1 + 8 * PAYLOAD + i) & 0xff);
    expect(payloadOf(a.accepted)).toEqual(want);
    expect(datapath.stats.groWritesDisabled).toBe(1);
  });
});
